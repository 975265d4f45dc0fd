"""Cluster: the 12-candidate demo sweep on a local Ray head against the local pool.

Both through the command line, both in this run, alternating (local, Ray, local, Ray):
`tflite-studio sweep --jobs 2` (this machine's pool of 2 workers) against
`tflite-studio sweep --backend ray --address 127.0.0.1:P` on a Ray head started here
with 2 CPUs, so both have the same 2 cores.  What is measured is the cost of going
through Ray (its driver, the object store, a task per shared fine-tune and per
candidate, files coming back): goal (issue 36) at most 1.3x the local pool's time.

It also checks both runs give the same candidates, sizes and accuracies, and derives
docs/cluster.md's estimate of a sweep's time on M nodes from the figures measured.

    python benchmarks/cluster.py
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, SMOKE, emit, write_section

from studio.values.cluster import sweep_seconds

GRID = "demo_sweep_grid"  # the bundled 12-candidate grid
SMOKE_GRID = {"quantization.mode": ["dynamic", "int8"]}
GOAL = 1.3


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sweep(grid: str, out: Path, *placement: str) -> tuple[float, float, dict]:
    """Seconds in all, seconds until the first candidate's progress (connecting and the
    float baseline), and the results by name."""
    command = [sys.executable, "-m", "studio", "sweep", "--model", "demo", "--data", "demo"]
    command += ["--grid", grid, "--out", str(out), *placement]
    t = time.perf_counter()
    first = None
    with subprocess.Popen(
        command, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    ) as process:
        tail = []
        for line in process.stderr:
            tail = [*tail[-30:], line]
            if first is None and line.startswith("[01-"):
                first = time.perf_counter() - t
        code = process.wait()
    seconds = time.perf_counter() - t
    if code != 0:
        raise SystemExit(f"sweep {' '.join(placement)} failed:\n{''.join(tail)}")
    rows = json.loads((out / "results.json").read_text())
    return seconds, first or 0.0, {r["name"]: r for r in rows}


def _task_seconds(rows: dict) -> tuple[float, float, int]:
    """Seconds per shared fine-tune and per candidate, and the number of groups, from
    the candidates' own figures (their metrics.json `seconds`)."""
    prefixes, candidates = {}, []
    for row in rows.values():
        seconds = row["metrics"]["seconds"]
        shared = seconds.get("prune", 0.0) + seconds.get("cluster", 0.0)
        recipe = row["recipe"]
        key = json.dumps([recipe.get("pruning"), recipe.get("clustering")], sort_keys=True)
        if shared:
            prefixes[key] = shared
        own = ("load", "qat", "convert", "evaluate")
        candidates.append(sum(seconds.get(k, 0.0) for k in own))
    prefix_s = statistics.mean(prefixes.values()) if prefixes else 0.0
    return prefix_s, statistics.mean(candidates), len(prefixes)


def main() -> None:
    ray = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # loopback only
    os.environ.update(env)
    port = _port()
    scratch = Path(tempfile.mkdtemp(prefix="studio-cluster-bench-"))
    grid = GRID
    if SMOKE:
        grid = str(scratch / "grid.json")
        Path(grid).write_text(json.dumps(SMOKE_GRID))
    start = [ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port)]
    start += ["--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats"]
    start += ["--ray-client-server-port", str(_port()), "--temp-dir", str(scratch / "ray")]
    subprocess.run(start, check=True, env=env, capture_output=True)
    times: dict[str, list[float]] = {"local": [], "ray": []}
    firsts: dict[str, list[float]] = {"local": [], "ray": []}
    results = {}
    placements = {
        "local": ["--jobs", "2"],
        "ray": ["--backend", "ray", "--address", f"127.0.0.1:{port}"],
    }
    try:
        for round_ in range(1 if SMOKE else 2):
            for name, placement in placements.items():
                out = scratch / f"{name}-{round_}"
                seconds, first, rows = _sweep(grid, out, *placement)
                times[name].append(seconds)
                firsts[name].append(first)
                results[name] = rows
                print(f"{name} round {round_ + 1}: {seconds:.1f} s", flush=True)
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)

    same = sorted(results["local"]) == sorted(results["ray"]) and all(
        (a["metrics"]["size_bytes"], a["metrics"]["accuracy"])
        == (results["ray"][n]["metrics"]["size_bytes"], results["ray"][n]["metrics"]["accuracy"])
        for n, a in results["local"].items()
    )
    local, remote = statistics.median(times["local"]), statistics.median(times["ray"])
    ratio = remote / local
    candidates = len(results["ray"])
    overhead = statistics.median(firsts["ray"])
    prefix_s, candidate_s, groups = _task_seconds(results["ray"])
    predicted = sweep_seconds(candidates, groups, 2, candidate_s, prefix_s, overhead_s=overhead)
    result = {
        "candidates": candidates,
        "local_s": round(local, 1),
        "ray_s": round(remote, 1),
        "ratio": round(ratio, 2),
        "goal": GOAL,
        "met": ratio <= GOAL,
        "same_figures": same,
        "overhead_s": round(overhead, 1),
        "prefix_s": round(prefix_s, 1),
        "candidate_s": round(candidate_s, 1),
        "predicted_s": round(predicted, 1),
    }
    emit(result)
    if SMOKE:
        return
    per_group = candidates / max(1, groups)
    estimate = "\n".join(
        f"| {n} | "
        + " | ".join(
            f"{sweep_seconds(n, round(n / per_group), 2 * m, candidate_s, prefix_s, overhead_s=overhead) / 60:.1f}"
            for m in (1, 2, 4, 8)
        )
        + " |"
        for n in (12, 48, 96)
    )
    body = f"""### Cluster: the demo sweep on a local Ray head against the local pool

`python benchmarks/cluster.py` — the 12-candidate demo sweep (`demo_sweep_grid`) through
the command line, twice each, alternating: `sweep --jobs 2` against `sweep --backend ray`
on a Ray head started on 127.0.0.1 with 2 CPUs (the same 2 cores).

| | local pool (2 workers) | Ray head (2 CPUs) | ratio | goal |
|---|---|---|---|---|
| 12 candidates | {local:.1f} s | {remote:.1f} s | **{ratio:.2f}x** | ≤ {GOAL}x — {"met" if ratio <= GOAL else "missed"} |

Runs: local {", ".join(f"{t:.1f}" for t in times["local"])} s; Ray {", ".join(f"{t:.1f}" for t in times["ray"])} s.
Same candidates, sizes and accuracies from both: {"yes" if same else "**no**"}.

What Ray adds here: its driver (a process of its own), connecting and checking versions
(about a second), the model and data put in the object store once, a task per shared
fine-tune whose weights each candidate's task takes by reference, and every file sent
back. What it removes: nothing on one machine — its gain is more nodes.

**Estimate for N candidates on M nodes of 2 CPUs** (minutes; `values.cluster.sweep_seconds`),
from this run's own figures: {overhead:.0f} s before the first candidate (connecting, the
float baseline here), {prefix_s:.1f} s per shared fine-tune and {candidate_s:.1f} s per
candidate (their `seconds` in metrics.json), one task per CPU at a time, a candidate after
its group's fine-tune. The same arithmetic predicts this run's 12 candidates on 1 node at
{predicted:.0f} s (measured: {remote:.0f} s, which adds the final timing here). Groups as in
the demo grid (3 candidates each). A real model's tasks take what its fine-tunes take:
measure one sweep on one node, then scale.

| N \\ M | 1 | 2 | 4 | 8 |
|---|---|---|---|---|
{estimate}
"""
    write_section("cluster", "benchmarks/cluster.py", body)


if __name__ == "__main__":
    main()
