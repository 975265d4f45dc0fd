"""Every kind of job, as one typed builder each: the only place that names a task.

The window and the CLI build jobs here instead of writing `"module:function"` strings and
keyword dicts by hand, so a task's arguments are checked by the type checker and a
renamed task is one edit.  The functions named run in a worker (`studio.jobs.tasks`) and
return plain data; `decode` rebuilds the typed values from it the moment a result
arrives, so nothing above this layer reads a result as a dictionary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.jobs.messages import Job
from studio.values.metrics import LayerError, Metrics, ModelSummary
from studio.values.recipe import Recipe
from studio.values.results import Result
from studio.values.sensitivity import LayerSensitivity

TASKS = "studio.jobs.tasks"
BASELINE = f"{TASKS}:baseline"
OPTIMIZE = f"{TASKS}:optimize"
SWEEP_GROUP = f"{TASKS}:sweep_group"
DIAGNOSE = f"{TASKS}:diagnose"
SCRIPT = f"{TASKS}:script"
SENSITIVITY = f"{TASKS}:sensitivity"
SUMMARIZE = f"{TASKS}:summarize"


@dataclass(frozen=True)
class Baseline:
    """What a baseline job gives: the model as the panels see it, and its float figures."""

    summary: ModelSummary
    metrics: Metrics


_DECODERS: dict[str, Callable[[Any], Any]] = {
    BASELINE: lambda r: Baseline(
        ModelSummary.from_dict(r["summary"]), Metrics.from_dict(r["metrics"])
    ),
    OPTIMIZE: lambda r: Metrics.from_dict(r["metrics"]),
    SWEEP_GROUP: lambda r: [Result.from_dict(x) for x in r],
    SUMMARIZE: ModelSummary.from_dict,
    DIAGNOSE: lambda r: [LayerError.from_dict(x) for x in r],
    SENSITIVITY: lambda r: [LayerSensitivity.from_dict(x) for x in r],
}


def decode(target: str, result: Any) -> Any:
    """The typed value of a finished job's plain-data result: `Baseline`, `Metrics`,
    a list of `Result`, `LayerError` or `LayerSensitivity`, a `ModelSummary`; a script (str) passes as
    it is.  Raises `studio.values.metrics.MetricsError` for damaged figures."""
    read = _DECODERS.get(target)
    return read(result) if read else result


def summarize(model: str, *, trust: bool) -> Job:
    """Load a model and describe it (no conversion)."""
    return Job(SUMMARIZE, {"model": model, "trust": trust}, label="summary")


def baseline(model: str, data: str, out_dir: Path, *, threads: int, trust: bool) -> Job:
    """Convert and measure the float model (the star on the plots)."""
    kwargs = {
        "model": model,
        "data": data,
        "out_dir": str(out_dir),
        "threads": threads,
        "trust": trust,
    }
    return Job(BASELINE, kwargs, label="baseline")


def optimize(
    model: str,
    data: str,
    recipe: Recipe,
    out_dir: Path,
    *,
    threads: int,
    trust: bool,
    label: str = "",
) -> Job:
    """One candidate: fine-tunes, conversion and measurement, files in `out_dir`."""
    kwargs = {
        "model": model,
        "data": data,
        "recipe": recipe.to_dict(),
        "out_dir": str(out_dir),
        "threads": threads,
        "trust": trust,
    }
    return Job(OPTIMIZE, kwargs, label=label)


def sweep_group(
    model: str,
    data: str,
    out_dir: Path,
    entries: list[tuple[str, Recipe]],
    *,
    threads: int,
    trust: bool,
    baseline_tflite: Path | None = None,
    label: str = "",
) -> Job:
    """Candidates sharing their fine-tunes, each written to `out_dir/<name>/`."""
    kwargs = {
        "model": model,
        "data": data,
        "out_dir": str(out_dir),
        "entries": [(name, recipe.to_dict()) for name, recipe in entries],
        "threads": threads,
        "trust": trust,
    }
    if baseline_tflite is not None:
        kwargs["baseline_tflite"] = str(baseline_tflite)
    return Job(SWEEP_GROUP, kwargs, label=label or f"sweep group of {len(entries)}")


def diagnose(model: str, data: str, *, samples: int, trust: bool) -> Job:
    """The int8 error each layer adds."""
    kwargs = {"model": model, "data": data, "samples": samples, "trust": trust}
    return Job(DIAGNOSE, kwargs, label="diagnosis")


def sensitivity(model: str, data: str, *, sparsity: float, clusters: int, trust: bool) -> Job:
    """Each layer pruned (and clustered) alone: what breaks the model."""
    kwargs = {
        "model": model,
        "data": data,
        "sparsity": sparsity,
        "clusters": clusters,
        "trust": trust,
    }
    return Job(SENSITIVITY, kwargs, label="layer sensitivity")


def script(model: str, data: str, recipe: Recipe, *, trust: bool) -> Job:
    """The standalone script that reproduces a candidate."""
    kwargs = {"model": model, "data": data, "recipe": recipe.to_dict(), "trust": trust}
    return Job(SCRIPT, kwargs, label="script")
