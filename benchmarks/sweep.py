"""Sweep: the 12-candidate demo sweep against the same 12 recipes run one by one.

Both through the command line, both in this run: `tflite-studio sweep --jobs N` (shared
fine-tunes, one baseline, long-lived workers) against twelve `tflite-studio optimize`
processes, one after the other (each loads TensorFlow, the model, and measures its own
baseline).  Target (issue 8): sweep <= 0.6x of one by one.

    python benchmarks/sweep.py [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = "demo_sweep_grid"  # the bundled grid, by name


def cli(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "studio", *args], capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode != 0:
        raise SystemExit(f"tflite-studio {' '.join(args)} failed:\n{done.stderr[-2000:]}")


QUICK_GRID = {
    "base": {"pruning": {"epochs": 2}},
    "pruning.target_sparsity": [0.5, 0.8],
    "quantization.mode": ["dynamic", "int8"],
}


def measure(jobs: int, quick: bool = False) -> dict:
    sys.path.insert(0, str(ROOT))
    from studio.values.grid import Grid
    from studio.values.resources import json_file

    grid_file = json_file(GRID)  # the bundled grid's path
    if quick:
        grid_file = Path(tempfile.mkdtemp()) / "quick_grid.json"
        grid_file.write_text(json.dumps(QUICK_GRID))
    recipes = Grid.load(grid_file).expand()
    with tempfile.TemporaryDirectory(prefix="studio-sweep-bench-") as tmp:
        scratch = Path(tmp)
        t = time.perf_counter()
        cli(
            "sweep",
            "--model",
            "demo",
            "--data",
            "demo",
            "--grid",
            str(grid_file),
            "--out",
            str(scratch / "sweep"),
            "--jobs",
            str(jobs),
            "--quiet",
        )
        sweep_s = time.perf_counter() - t
        shared = json.loads((scratch / "sweep" / "sweep.json").read_text())["shared"]
        t = time.perf_counter()
        for name, recipe in recipes:
            path = scratch / f"{name}.json"
            path.write_text(recipe.to_json())
            cli(
                "optimize",
                "--model",
                "demo",
                "--data",
                "demo",
                "--recipe",
                str(path),
                "--out",
                str(scratch / "one" / name),
                "--quiet",
            )
        one_s = time.perf_counter() - t
    return {
        "sweep_s": sweep_s,
        "one_by_one_s": one_s,
        "ratio": sweep_s / one_s,
        "candidates": len(recipes),
        "jobs": jobs,
        "shared": shared,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a 4-candidate grid")
    args = parser.parse_args()
    r = measure(args.jobs, args.quick)
    f = r["shared"]["fine_tunes"]
    print(
        f"{r['candidates']}-candidate demo sweep: {r['sweep_s']:.0f} s with {r['jobs']} "
        f"worker(s); one by one through optimize: {r['one_by_one_s']:.0f} s; ratio "
        f"{r['ratio']:.2f} (target <= 0.6). Fine-tunes run {f['run']} instead of "
        f"{f['one_by_one']}, baselines 1 instead of {r['candidates']}."
    )
    print("RESULT " + json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
