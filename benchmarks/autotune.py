"""The automatic search against a 12-candidate grid, on models we did not tune it for.

For each model, in one run: the grid a user would guess (dynamic / float16 / int8, each
alone, with 50 % pruning, with 16 clusters, with both) on the search half of the
evaluation samples, timed; then `autotune` with that wall time as its time limit.
Both answers are the smallest candidate within the budget on the search half that is
still within it on the held-out half (the best three of each are checked there).
Writes the autotune section of benchmarks/RESULTS.md:

    python benchmarks/autotune.py                          # demo, regressor, transformer, mobilenet_v2 at 96 px
    python benchmarks/autotune.py --models demo,regressor
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, SMOKE, emit, write_section

sys.path.insert(0, str(ROOT / "tests"))

BUDGET = {"regressor": 5.0}  # percent more MAE; classifiers: 1 top-1 point
MODELS = ("demo", "regressor", "transformer", "mobilenet_v2_96")
GRID = {
    "quantization.mode": ["dynamic", "float16", "int8"],
    "pruning.target_sparsity": [None, 0.5],
    "clustering.clusters": [None, 16],
}
ROWS = Path(tempfile.gettempdir()) / "studio-autotune-rows.json"


def sources(name: str, folder: Path) -> tuple[str, str]:
    if name == "demo":
        return "demo", "demo"
    import zoo

    if name == "mobilenet_v2_96":  # a MobileNet-class CNN at 96 px
        size = 32 if SMOKE else 96
        zoo.IMAGE = size
        entry = dataclasses.replace(
            zoo.ZOO["mobilenet_v2"], data=functools.partial(zoo.digits, 600, 300, size)
        )
        zoo.ZOO["mobilenet_v2_96"] = entry
    model, data = zoo.saved(name, "tf_keras", folder)
    return str(model), str(data)


def finalists(orch, session, ranked_names, budget):
    """As the search checks its own: the first of the best three (by size) still within
    the budget on held-out data, else of the next three, up to nine."""
    from studio.orchestrator.autotune import CHECK_ROUNDS, FINALISTS
    from studio.values import splits
    from studio.values.autotune import fits, loss

    by_name = {c.name: c.id for c in session.candidates.values()}
    first = None
    for start in range(0, FINALISTS * CHECK_ROUNDS, FINALISTS):
        names = ranked_names[start : start + FINALISTS]
        if not names:
            break
        data = splits.with_part(session.data, "holdout")
        handle = orch.score([by_name[n] for n in names], data)
        orch.wait(handle, poll_s=0.2)
        base, *files = handle.result()
        for name, m in zip(names, files, strict=True):
            first = loss(m, base) if first is None else first
            if fits(loss(m, base), budget):
                return name, loss(m, base)
    return None, first


def grid_run(model: str, data: str, budget: float, jobs: int) -> dict:
    from studio.orchestrator.backends import make_backend
    from studio.orchestrator.orchestrator import Orchestrator
    from studio.values import splits
    from studio.values.autotune import fits, loss
    from studio.values.grid import Grid
    from studio.values.session import Session

    grid = Grid.from_dict(GRID if not SMOKE else {"quantization.mode": ["dynamic", "int8"]})
    orch = Orchestrator(make_backend(jobs, idle_timeout_s=None))
    t = time.perf_counter()
    try:
        session = Session.create(
            model,
            splits.with_part(data, "search"),
            root=Path(tempfile.mkdtemp()),
            baseline_folder="",
        )
        baseline = orch.start(session)
        sweep = orch.run_sweep(grid)
        orch.wait(baseline, sweep, poll_s=0.2)
        seconds = time.perf_counter() - t
        base = session.baseline
        done = [c for c in session.candidates.values() if c.metrics is not None]
        within = sorted(
            (c for c in done if fits(loss(c.metrics, base), budget)),
            key=lambda c: c.metrics.gzip_bytes,
        )
        name, held = finalists(orch, session, [c.name for c in within], budget)
        chosen = next((c for c in within if c.name == name), None)
        return {
            "seconds": seconds,
            "candidates": len(done),
            "float_gzip": base.gzip_bytes,
            "best": chosen.label if chosen else None,
            "gzip": chosen.metrics.gzip_bytes if chosen else None,
            "loss": loss(chosen.metrics, base) if chosen else None,
            "held_out_loss": held,
        }
    finally:
        orch.shutdown()


def search_run(model: str, data: str, budget: float, jobs: int, limit_s: float) -> dict:
    from studio.orchestrator.autotune import Search
    from studio.orchestrator.backends import make_backend
    from studio.orchestrator.orchestrator import Orchestrator
    from studio.values.autotune import Settings

    orch = Orchestrator(make_backend(jobs, idle_timeout_s=None), Path(tempfile.mkdtemp()))
    settings = Settings(budget=budget, time_limit_s=limit_s, max_trials=6 if SMOKE else 60)
    search = Search(orch, settings)
    t = time.perf_counter()
    try:
        handle = search.start(model, data)
        orch.wait(handle, poll_s=0.2)
        report = handle.result()
    finally:
        orch.shutdown()
    winner = report.trial(report.winner) if report.winner else None
    return {
        "seconds": time.perf_counter() - t,
        "trials": sum(1 for t in report.trials if t.status in ("done", "failed")),
        "best": winner.recipe.describe() if winner else None,
        "gzip": winner.gzip_bytes if winner else None,
        "loss": winner.loss if winner else None,
        "held_out_loss": report.holdout.losses.get(report.winner)
        if report.holdout and winner
        else None,
        "stopped": report.stopped,
        "why": report.to_dict()["why"],
    }


def one(name: str, jobs: int, longer: float) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"autotune-{name}-"))
    model, data = sources(name, folder)
    budget = BUDGET.get(name, 1.0)
    grid = grid_run(model, data, budget, jobs)
    search = search_run(model, data, budget, jobs, grid["seconds"])
    row = {"model": name, "budget": budget, "grid": grid, "search": search}
    if longer > 1:  # what more time buys (not the comparison: that is `search`)
        row["longer"] = search_run(model, data, budget, jobs, longer * grid["seconds"])
        row["longer"]["factor"] = longer
    return row


def longer(row: dict) -> str:
    more, g = row.get("longer"), row["grid"]
    if not more:
        return "—"
    ratio = f"{g['gzip'] / more['gzip']:.2f}x" if g["gzip"] and more["gzip"] else "—"
    size = f"{more['gzip'] / 1024:.1f} KB" if more["gzip"] else "—"
    return f"{more['best'] or 'float'}, {size}, {ratio} ({more['trials']} trials)"


def table(rows: list[dict]) -> str:
    def kb(n):
        return "—" if n is None else f"{n / 1024:.1f} KB"

    def pts(v, name):
        """A loss as the search's explanation writes it (a gain reads "+")."""
        if v is None:
            return "—"
        if name == "regressor":
            return f"{v:+.1f} % MAE"
        return "±0 pt" if abs(v) < 0.005 else (f"−{v:.2f} pt" if v > 0 else f"+{-v:.2f} pt")

    lines = [
        "| model | budget | grid's best (12 candidates) | its size | search's answer | its size "
        "| grid / search size | held-out loss (grid, search) | wall time (grid, search) "
        "| trials | with 3x the time: answer, size, grid / it |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        g, s = r["grid"], r["search"]
        ratio = f"{g['gzip'] / s['gzip']:.2f}x" if g["gzip"] and s["gzip"] else "—"
        unit = "% MAE" if r["model"] == "regressor" else "pt"
        lines.append(
            f"| {r['model']} | {r['budget']:g} {unit} | {g['best'] or 'none'} | {kb(g['gzip'])} "
            f"| {s['best'] or 'float (nothing fits)'} | {kb(s['gzip'])} | {ratio} "
            f"| {pts(g['held_out_loss'], r['model'])}, {pts(s['held_out_loss'], r['model'])} "
            f"| {g['seconds']:.0f} s, {s['seconds']:.0f} s | {s['trials']} | {longer(r)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--longer", type=float, default=3.0, help="also search this many times the grid's time"
    )
    args = parser.parse_args()
    models = ["demo"] if SMOKE else args.models.split(",")
    rows = json.loads(ROWS.read_text()) if ROWS.exists() and not SMOKE else []
    rows = [r for r in rows if r["model"] not in models]
    for name in models:
        row = one(name, args.jobs, 0.0 if SMOKE else args.longer)
        print(json.dumps(row, indent=1), flush=True)
        rows.append(row)
        if not SMOKE:
            ROWS.write_text(json.dumps(rows))
    body = table(rows)
    print(body)
    write_section("autotune", "benchmarks/autotune.py", body)
    emit({"models": len(rows)})


if __name__ == "__main__":
    main()
