"""Sweeps: a grid of recipes run as one batch, sharing what candidates have in common.

Candidates that differ only in quantization share their pruning and clustering
fine-tunes: they form a *group*, and the group's pruned/clustered model is computed once.
The float baseline is converted and measured once for the whole sweep.  A group runs in
one process (`run_group`); groups are independent, so the CLI can spread them over
worker processes, and a crash takes down one group's candidates only.

Files (the same per candidate as `optimize`):
    DIR/baseline.tflite, DIR/baseline.json
    DIR/<name>/model.tflite, recipe.json, metrics.json
    DIR/results.json   a list of {"name", "recipe", "metrics", "pareto", "pareto_latency",
                       "recommended", "error"}
    DIR/sweep.json     budget, recommendation, and how much was shared
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core import atomic
from studio.core.errors import StudioError
from studio.core.grid import Grid
from studio.core.pareto import front
from studio.core.progress import Event, Report, ignore
from studio.core.recipe import Recipe


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


def write_baseline(
    model_source: str | os.PathLike,
    data_source: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    threads: int = 1,
    trust: bool = False,
    report: Report = ignore,
) -> dict[str, Any]:
    from studio.core.pipeline import baseline

    _, metrics = baseline(
        model_source, data_source, out_dir, threads=threads, trust=trust, report=report
    )
    return metrics.to_dict()


def run_group(
    model_source: str | os.PathLike,
    data_source: str | os.PathLike,
    out_dir: str | os.PathLike,
    entries: list[tuple[str, dict]],
    *,
    threads: int = 1,
    trust: bool = False,
    report: Report = ignore,
) -> list[dict[str, Any]]:
    """Run one group's candidates (names and recipe dicts) after the baseline exists.

    A candidate that fails is recorded with its error; the others go on.
    """
    from studio.core.measure import predict
    from studio.core.pipeline import check_fits, fine_tune_prefix, finish, prepare

    out = Path(out_dir)
    recipes = [(name, Recipe.from_dict(r)) for name, r in entries]
    t = time.perf_counter()
    report(Event("load", "loading the model and data", 0.0))
    prep = prepare(model_source, data_source, trust=trust, seed=recipes[0][1].seed)
    reference = predict((out / "baseline.tflite").read_bytes(), prep.data.x_eval, threads=threads)
    load_seconds = time.perf_counter() - t
    results = []
    try:
        check_fits(prep, recipes[0][1])
        prefix = fine_tune_prefix(prep, recipes[0][1], report)
    except StudioError as err:
        return [_failed(name, recipe, err) for name, recipe in recipes]
    for name, recipe in recipes:
        try:
            check_fits(prep, recipe)
            metrics, scheme = finish(
                prep,
                prefix,
                recipe,
                out / name,
                reference=reference,
                seconds={"load": load_seconds},
                threads=threads,
                report=report,
            )
        except StudioError as err:
            results.append(_failed(name, recipe, err))
            continue
        results.append(
            {
                "name": name,
                "recipe": recipe.to_dict(),
                "metrics": {**metrics.to_dict(), "qat_scheme": scheme},
                "error": None,
            }
        )
    return results


def _failed(name: str, recipe: Recipe, err: Exception) -> dict[str, Any]:
    return {"name": name, "recipe": recipe.to_dict(), "metrics": None, "error": str(err)}


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
