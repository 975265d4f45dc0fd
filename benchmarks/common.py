"""Shared by the benchmark scripts: the repository on sys.path, test models, medians."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TF_USE_LEGACY_KERAS"] = "1"
# Smoke mode (tests/test_benchmarks.py, in CI): every benchmark runs end to end on tiny
# models with one repeat, judges no target and writes no results, so a refactor cannot
# break one unseen.
SMOKE = os.environ.get("STUDIO_BENCH_SMOKE") == "1"


def median_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median wall time of `fn` over `repeats` runs, and its last result."""
    times, result = [], None
    for _ in range(1 if SMOKE else repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def mobilenet_v2(size: int, classes: int = 10):
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    size = 32 if SMOKE else size  # the smallest input MobileNetV2 takes
    return keras.applications.MobileNetV2(
        input_shape=(size, size, 3), weights=None, classes=classes
    )


def emit(result: dict) -> None:
    """The last line of stdout is the result, for benchmarks/run.py."""
    print("RESULT " + json.dumps(result), flush=True)


RESULTS = ROOT / "benchmarks" / "RESULTS.md"


def write_section(name: str, script: str, body: str) -> Path:
    """Put `body` into RESULTS.md between `<!-- name: written by script -->` and
    `<!-- /name -->`, replacing what a previous run wrote there (or appending it).

    Benchmarks that take long or that are run on their own keep their figures in such a
    section; `run.py` rewrites the table above and keeps every section as it is."""
    from studio.values import atomic

    if SMOKE:
        return RESULTS
    begin, end = f"<!-- {name}: written by {script} -->", f"<!-- /{name} -->"
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    section = f"{begin}\n{body.strip()}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    return atomic.write_text(RESULTS, text)
