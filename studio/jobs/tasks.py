"""The engine calls a worker runs, with plain-data arguments and results.

Jobs are built by `studio.jobs.kinds` (one builder per function here), which also
rebuilds the typed values from what these return (`to_dict()` of `studio.values`
dataclasses); only worker processes import this module (and with it TensorFlow).
Files are written only to the `out_dir` the worker gives (see `studio.jobs.execute`):
they travel back to the caller as artifacts.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio.engine import pipeline, sweep_run
from studio.engine.models import load
from studio.engine.models import summarize as summarize_model
from studio.values.progress import Report, ignore
from studio.values.recipe import Recipe


def summarize(model: str, trust: bool = False) -> dict[str, Any]:
    loaded = load(model, trust=trust)
    return summarize_model(
        loaded.model, origin=loaded.origin, limitation=loaded.limitation
    ).to_dict()


def baseline(
    model: str,
    data: str,
    out_dir: str,
    threads: int = 1,
    trust: bool = False,
    report: Report = ignore,
) -> dict[str, Any]:
    summary, metrics = pipeline.baseline(
        model, data, out_dir, threads=threads, trust=trust, report=report
    )
    return {"summary": summary.to_dict(), "metrics": metrics.to_dict()}


def evaluate(
    tflite: str, data: str, baseline: str | None = None, threads: int = 1, trust: bool = False
) -> dict[str, Any]:
    return pipeline.evaluate(
        tflite, data, baseline_model=baseline, threads=threads, trust=trust
    ).to_dict()


def sweep_group(
    model: str,
    data: str,
    entries: list,
    baseline_tflite: str,
    baseline: dict | None = None,
    threads: int = 1,
    trust: bool = False,
    out_dir: str = ".",
    report: Report = ignore,
    deliver: Callable[[str], None] = lambda _: None,
) -> list[dict[str, Any]]:
    """Candidates sharing their fine-tunes; each measured one's files are delivered
    at once (`<name>/model.tflite`, ...), a failed one's partial files are dropped."""

    def ended(name: str, ok: bool) -> None:
        if ok:
            deliver(name)
        else:
            shutil.rmtree(Path(out_dir) / name, ignore_errors=True)

    return sweep_run.run_group(
        model,
        data,
        out_dir,
        entries,
        threads=threads,
        trust=trust,
        baseline_tflite=baseline_tflite,
        baseline=baseline,
        report=report,
        on_result=ended,
    )


def diagnose(
    model: str, data: str, samples: int = 100, trust: bool = False, report: Report = ignore
) -> list[dict[str, Any]]:
    return pipeline.diagnose(model, data, samples=samples, trust=trust, report=report)


def sensitivity(
    model: str,
    data: str,
    sparsity: float = 0.5,
    clusters: int = 16,
    trust: bool = False,
    report: Report = ignore,
) -> list[dict[str, Any]]:
    return pipeline.sensitivity(
        model, data, sparsity=sparsity, clusters=clusters, trust=trust, report=report
    )


def time_together(
    model: str,
    data: str,
    tflites: list,
    threads: int = 1,
    trust: bool = False,
    report: Report = ignore,
) -> list[dict[str, Any]]:
    latencies = pipeline.time_together(
        model, data, list(tflites), threads=threads, trust=trust, report=report
    )
    return [lat.to_dict() for lat in latencies]


def score(
    model: str,
    data: str,
    baseline_tflite: str,
    tflites: list,
    threads: int = 1,
    trust: bool = False,
    report: Report = ignore,
) -> list[dict[str, Any]]:
    measured = pipeline.score(
        model, data, baseline_tflite, list(tflites), threads=threads, trust=trust, report=report
    )
    return [m.to_dict() for m in measured]


def script(
    model: str, data: str, recipe: dict, trust: bool = False, shown_as: tuple | None = None
) -> str:
    from studio.engine.codegen import script_for

    shown = tuple(shown_as) if shown_as else None
    return script_for(model, data, Recipe.from_dict(recipe), trust=trust, shown_as=shown)


def sweep_prefix(
    model: str, data: str, recipe: dict, trust: bool = False, report: Report = ignore
) -> dict[str, Any]:
    """A group's shared fine-tunes as weights, for its candidates' `sweep_finish` jobs
    (a cluster runs them as separate tasks)."""
    return sweep_run.shared_prefix(model, data, recipe, trust=trust, report=report)


def sweep_finish(
    model: str,
    data: str,
    name: str,
    recipe: dict,
    prefix: dict | None,
    baseline_tflite: str,
    baseline: dict | None = None,
    threads: int = 1,
    trust: bool = False,
    out_dir: str = ".",
    report: Report = ignore,
) -> dict[str, Any]:
    """One candidate of a group from its shared prefix; its files in `<name>/`."""
    return sweep_run.finish_one(
        model,
        data,
        out_dir,
        name,
        recipe,
        prefix,
        threads=threads,
        trust=trust,
        baseline_tflite=baseline_tflite,
        baseline=baseline,
        report=report,
    )
