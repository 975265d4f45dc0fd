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

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.values import atomic
from studio.values.grid import Grid
from studio.values.pareto import front
from studio.values.recipe import Recipe


@dataclass(frozen=True)
class Group:
    """Candidates with the same pruning, clustering and seed: one shared prefix."""

    entries: tuple[tuple[str, Recipe], ...]

    @property
    def fine_tunes(self) -> int:
        recipe = self.entries[0][1]
        return int(bool(recipe.pruning)) + int(bool(recipe.clustering))


def plan(grid: Grid) -> list[Group]:
    groups: dict[tuple, list[tuple[str, Recipe]]] = {}
    for name, recipe in grid.expand():
        groups.setdefault((recipe.pruning, recipe.clustering, recipe.seed), []).append(
            (name, recipe)
        )
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


def recommend(
    results: list[dict[str, Any]], baseline: dict[str, Any], budget: float
) -> dict[str, str | None]:
    """Under an accuracy-drop budget (points of top-1, or MAE units), the smallest
    (gzip) and the fastest (median latency) candidate."""
    ok = [r for r in results if r["metrics"] and _within(r["metrics"], baseline, budget)]
    smallest = min(ok, key=lambda r: r["metrics"]["gzip_bytes"], default=None)
    fastest = min(ok, key=lambda r: r["metrics"]["latency_ms"]["median"], default=None)
    return {
        "smallest": smallest["name"] if smallest else None,
        "fastest": fastest["name"] if fastest else None,
    }


def _within(m: dict[str, Any], baseline: dict[str, Any], budget: float) -> bool:
    if m.get("accuracy") is None or baseline.get("accuracy") is None:
        # unlabeled data: judge by agreement with the float model instead
        return m.get("agreement") is not None and 100 * (1 - m["agreement"]) <= budget
    if m["metric"] == "mae":
        return m["accuracy"] - baseline["accuracy"] <= budget
    return 100 * (baseline["accuracy"] - m["accuracy"]) <= budget


def flag(
    results: list[dict[str, Any]], baseline: dict[str, Any], budget: float
) -> tuple[list[dict[str, Any]], dict[str, str | None]]:
    """Add the Pareto flags and the recommendation to each result."""
    done = [r for r in results if r["metrics"] and r["metrics"].get("accuracy") is not None]
    higher_better = not done or done[0]["metrics"]["metric"] != "mae"

    def on_front(x: Callable[[dict], float]) -> set[str]:
        points = [(x(r["metrics"]), r["metrics"]["accuracy"]) for r in done]
        return {done[i]["name"] for i in front(points, maximize_y=higher_better)}

    by_size = on_front(lambda m: m["gzip_bytes"])
    by_latency = on_front(lambda m: m["latency_ms"]["median"])
    chosen = recommend(results, baseline, budget)
    flagged = []
    for r in results:
        picks = [what for what, name in chosen.items() if name == r["name"]]
        flagged.append(
            {
                **r,
                "pareto": r["name"] in by_size,
                "pareto_latency": r["name"] in by_latency,
                "recommended": picks,
            }
        )
    return flagged, chosen


def write_results(
    out_dir: str | os.PathLike,
    results: list[dict[str, Any]],
    baseline: dict[str, Any],
    *,
    budget: float,
    groups: list[Group],
    seconds: float,
) -> dict[str, Any]:
    out = Path(out_dir)
    flagged, chosen = flag(sorted(results, key=lambda r: r["name"]), baseline, budget)
    atomic.write_json(out / "results.json", flagged)
    summary = {
        "candidates": sum(len(g.entries) for g in groups),
        "failed": [r["name"] for r in flagged if r["error"]],
        "budget": budget,
        "recommended": chosen,
        "shared": sharing(groups),
        "seconds": round(seconds, 2),
        "baseline": baseline,
    }
    atomic.write_json(out / "sweep.json", summary)
    return summary
