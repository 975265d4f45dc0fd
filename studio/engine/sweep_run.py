"""Running a sweep group in one process: the TensorFlow side of `studio.values.sweep`."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio.engine.measure import predict
from studio.engine.pipeline import check_fits, fine_tune_prefix, finish, prepare
from studio.values.errors import StudioError
from studio.values.metrics import Metrics
from studio.values.progress import Event, Report, ignore
from studio.values.recipe import Recipe
from studio.values.results import Result


def run_group(
    model_source: str | os.PathLike,
    data_source: str | os.PathLike,
    out_dir: str | os.PathLike,
    entries: list[tuple[str, dict]],
    *,
    threads: int = 1,
    trust: bool = False,
    baseline_tflite: str | os.PathLike | None = None,
    baseline: dict | None = None,
    report: Report = ignore,
    on_result: Callable[[str, bool], None] | None = None,
) -> list[dict[str, Any]]:
    """Run one group's candidates (names and recipe dicts) after the baseline exists
    (`out_dir/baseline.tflite` unless given; its figures `baseline`, else the
    `baseline.json` beside it).  Each candidate's files go to `out_dir/<name>/`; one
    that fails is recorded with its error, the others go on; `on_result(name, ok)` is
    called as each ends.  Returns `studio.values.results.Result.to_dict()` of each.

    The float model is not converted again: its `.tflite` gives the reference outputs
    every candidate's agreement is measured against.
    """

    out = Path(out_dir)
    recipes = [(name, Recipe.from_dict(r)) for name, r in entries]
    t = time.perf_counter()
    report(Event("load", "loading the model and data", 0.0))
    prep = prepare(model_source, data_source, trust=trust, seed=recipes[0][1].seed)
    baseline_path = Path(baseline_tflite) if baseline_tflite else out / "baseline.tflite"
    data = prep.data
    reference = predict(
        baseline_path.read_bytes(), data.x_eval, inputs=data.inputs, outputs=data.outputs
    )
    figures = _metrics(baseline) if baseline else _figures(baseline_path.with_suffix(".json"))
    load_seconds = time.perf_counter() - t
    results = []
    try:
        check_fits(prep, recipes[0][1])
        prefix = fine_tune_prefix(prep, recipes[0][1], report)
    except StudioError as err:
        for name, _ in recipes:
            if on_result:
                on_result(name, False)
        return [_failed(name, recipe, err) for name, recipe in recipes]
    for name, recipe in recipes:
        try:
            check_fits(prep, recipe)
            metrics = finish(
                prep,
                prefix,
                recipe,
                out / name,
                reference=reference,
                baseline=figures,
                seconds={"load": load_seconds},
                threads=threads,
                report=report,
            )
        except StudioError as err:
            results.append(_failed(name, recipe, err))
            if on_result:
                on_result(name, False)
            continue
        results.append(Result(name, recipe, metrics).to_dict())
        if on_result:
            on_result(name, True)
    return results


def _metrics(raw: dict) -> Metrics | None:
    try:
        return Metrics.from_dict(raw)
    except StudioError:
        return None


def _figures(path: Path) -> Metrics | None:
    """The float model's figures, which the candidates' warnings compare with; a missing
    or unreadable file only means those warnings are not compared."""
    try:
        return Metrics.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, StudioError):
        return None


def _failed(name: str, recipe: Recipe, err: Exception) -> dict[str, Any]:
    return Result.failed(name, recipe, str(err)).to_dict()
