"""Sweeps: a grid of recipes run as one batch, sharing what candidates have in common.

Candidates that differ only in quantization share their pruning and clustering
fine-tunes: they form a *group*, and the group's pruned/clustered model is computed once.
The float baseline is converted and measured once for the whole sweep.  A group runs in
one process (`sweep_run.run_group`); groups are independent, so the CLI and the window
spread them over worker processes, and a crash takes down one group's candidates only.
This module plans and judges (no TensorFlow: the window uses it); `sweep_run` runs.

Files (the same per candidate as `optimize`):
    DIR/baseline.tflite, DIR/baseline.json
    DIR/<name>/model.tflite, recipe.json, metrics.json
    DIR/results.json   a list of {"name", "recipe", "metrics", "pareto", "pareto_latency",
                       "recommended", "error"}
    DIR/sweep.json     budget, recommendation, and how much was shared
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.values import atomic
from studio.values.grid import Grid
from studio.values.metrics import Metrics
from studio.values.recipe import Recipe
from studio.values.results import Result, judge


@dataclass(frozen=True)
class Group:
    """Candidates with the same pruning, clustering and seed: one shared prefix."""

    entries: tuple[tuple[str, Recipe], ...]

    @property
    def fine_tunes(self) -> int:
        recipe = self.entries[0][1]
        return int(bool(recipe.pruning)) + int(bool(recipe.clustering))


def plan(grid: Grid) -> list[Group]:
    return plan_entries(grid.expand())


def plan_entries(entries: list[tuple[str, Recipe]]) -> list[Group]:
    """Named recipes grouped by what they can share: pruning, clustering and seed."""
    groups: dict[tuple, list[tuple[str, Recipe]]] = {}
    for name, recipe in entries:
        groups.setdefault(recipe.fine_tune_key(), []).append((name, recipe))
    return [Group(tuple(entries)) for entries in groups.values()]


def sharing(groups: list[Group]) -> dict[str, dict[str, int]]:
    """What the sweep runs against what the same candidates one by one would run."""
    candidates = sum(len(g.entries) for g in groups)
    return {
        "fine_tunes": {
            "run": sum(g.fine_tunes for g in groups),
            "one_by_one": sum(g.fine_tunes * len(g.entries) for g in groups),
        },
        "baselines": {"run": 1, "one_by_one": candidates},
        "model_loads": {"run": 1 + len(groups), "one_by_one": candidates},
    }


def write_results(
    out_dir: str | os.PathLike,
    results: list[Result],
    baseline: Metrics,
    *,
    budget: float,
    groups: list[Group],
    seconds: float,
) -> dict[str, Any]:
    """results.json (every candidate, judged) and sweep.json (the summary, returned)."""
    out = Path(out_dir)
    flagged, chosen = judge(sorted(results, key=lambda r: r.name), baseline, budget)
    atomic.write_json(out / "results.json", [r.to_dict() for r in flagged])
    summary = {
        "candidates": sum(len(g.entries) for g in groups),
        "failed": [r.name for r in flagged if r.error],
        "budget": budget,
        "recommended": chosen.to_dict(),
        "shared": sharing(groups),
        "seconds": round(seconds, 2),
        "baseline": baseline.to_dict(),
    }
    atomic.write_json(out / "sweep.json", summary)
    return summary


def write_autotune_results(
    out_dir: str | os.PathLike, results: list[Result], baseline: Metrics, report: Any
) -> None:
    """An automatic search's results.json: the sweep's format, its one answer marked
    "best" (none when the float model is the answer: nothing fit the budget)."""
    flagged, _ = judge(sorted(results, key=lambda r: r.name), baseline, report.settings.budget)
    best = report.winner
    rows = [
        dataclasses.replace(r, recommended=("best",) if r.name == best else ())
        for r in flagged
    ]
    atomic.write_json(Path(out_dir) / "results.json", [r.to_dict() for r in rows])
