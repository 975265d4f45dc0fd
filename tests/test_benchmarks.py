"""Every benchmark runs end to end in smoke mode (tiny models, one repeat, no targets
judged, nothing written), so a refactor cannot break one unseen (issue 33:
`eval_speed.py` imported a function that no longer existed, and nobody noticed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from run import BENCHMARKS  # noqa: E402

pytestmark = pytest.mark.slow

ARGS = {name: ["--quick"] for name in BENCHMARKS}
ARGS["zoo"] = ["--models", "small_cnn", "--flavours", "tf_keras"]
ARGS["autotune"] = []  # the demo only, in smoke mode
ARGS["int4"] = []  # the demo only, in smoke mode
ARGS["cluster"] = []  # a 2-candidate grid on a local Ray head, in smoke mode
ARGS["sparse"] = []  # the MobileNetV2-style model at 32 px, in smoke mode


@pytest.mark.parametrize("name", [*BENCHMARKS, "zoo", "autotune", "int4", "cluster", "sparse"])
def test_the_benchmark_runs_in_smoke_mode(name):
    results = ROOT / "benchmarks" / "RESULTS.md"
    rows = ROOT / "benchmarks" / "zoo_rows.json"
    before = (results.read_bytes(), rows.read_bytes())
    env = {**os.environ, "STUDIO_BENCH_SMOKE": "1", "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), *ARGS[name]],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    if name != "zoo":
        [line] = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")][-1:]
        assert json.loads(line[len("RESULT ") :])
    else:
        assert "small_cnn" in done.stdout
    assert (results.read_bytes(), rows.read_bytes()) == before  # smoke writes nothing
