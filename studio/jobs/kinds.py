"""Every kind of job, as one typed builder each: the only place that names a task.

The window and the CLI build jobs here instead of writing `"module:function"` strings and
keyword dicts by hand, so a task's arguments are checked by the type checker and a
renamed task is one edit.  The functions named run in a worker (`studio.jobs.tasks`) and
return plain data; `decode` rebuilds the typed values from it the moment a result
arrives, so nothing above this layer reads a result as a dictionary.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.jobs.messages import FileInput, Job
from studio.values import splits
from studio.values.metrics import Latency, LayerError, Metrics, ModelSummary
from studio.values.recipe import Recipe
from studio.values.resources import DEMO
from studio.values.results import Result
from studio.values.sensitivity import LayerSensitivity

TASKS = "studio.jobs.tasks"
BASELINE = f"{TASKS}:baseline"
SWEEP_GROUP = f"{TASKS}:sweep_group"
DIAGNOSE = f"{TASKS}:diagnose"
SCRIPT = f"{TASKS}:script"
SENSITIVITY = f"{TASKS}:sensitivity"
SUMMARIZE = f"{TASKS}:summarize"
TIME_TOGETHER = f"{TASKS}:time_together"
SCORE = f"{TASKS}:score"
SWEEP_PREFIX = f"{TASKS}:sweep_prefix"
SWEEP_FINISH = f"{TASKS}:sweep_finish"


@dataclass(frozen=True)
class Baseline:
    """What a baseline job gives: the model as the panels see it, and its float figures."""

    summary: ModelSummary
    metrics: Metrics


_DECODERS: dict[str, Callable[[Any], Any]] = {
    BASELINE: lambda r: Baseline(
        ModelSummary.from_dict(r["summary"]), Metrics.from_dict(r["metrics"])
    ),
    SWEEP_GROUP: lambda r: [Result.from_dict(x) for x in r],
    SWEEP_FINISH: Result.from_dict,
    SUMMARIZE: ModelSummary.from_dict,
    DIAGNOSE: lambda r: [LayerError.from_dict(x) for x in r],
    SENSITIVITY: lambda r: [LayerSensitivity.from_dict(x) for x in r],
    TIME_TOGETHER: lambda r: [Latency.from_dict(x) for x in r],
    SCORE: lambda r: [Metrics.from_dict(x) for x in r],
}


def decode(target: str, result: Any) -> Any:
    """The typed value of a finished job's plain-data result: `Baseline`, `Metrics`,
    a list of `Result`, `LayerError` or `LayerSensitivity`, a `ModelSummary`; a script (str) passes as
    it is.  Raises `studio.values.metrics.MetricsError` for damaged figures."""
    read = _DECODERS.get(target)
    return read(result) if read else result


def source(path: str | os.PathLike) -> str | FileInput:
    """A model or data argument: the bundled demo by its name, anything else a file the
    backend passes or ships (a part of a data set, "D::search", keeps its part)."""
    whole, part = splits.parse(str(path))
    if whole == DEMO:
        return str(path)
    return FileInput(whole, f"{splits.SEPARATOR}{part}" if part else "")


def summarize(model: str, *, trust: bool) -> Job:
    """Load a model and describe it (no conversion)."""
    return Job(SUMMARIZE, {"model": source(model), "trust": trust}, label="summary")


def baseline(model: str, data: str, *, threads: int, trust: bool) -> Job:
    """Convert and measure the float model (the star on the plots); its artifacts are
    `baseline.tflite` and `baseline.json`."""
    kwargs = {"model": source(model), "data": source(data), "threads": threads, "trust": trust}
    return Job(BASELINE, kwargs, label="baseline")


def sweep_group(
    model: str,
    data: str,
    entries: list[tuple[str, Recipe]],
    *,
    baseline_tflite: Path,
    baseline: Metrics | None,
    threads: int,
    trust: bool,
    label: str = "",
) -> Job:
    """Candidates sharing their fine-tunes (one candidate is a group of one), measured
    against the float baseline already converted; artifacts `<name>/model.tflite`,
    `<name>/recipe.json`, `<name>/metrics.json` for each."""
    kwargs = {
        "model": source(model),
        "data": source(data),
        "entries": [(name, recipe.to_dict()) for name, recipe in entries],
        "baseline_tflite": FileInput(str(baseline_tflite)),
        "baseline": None if baseline is None else baseline.to_dict(),
        "threads": threads,
        "trust": trust,
    }
    return Job(SWEEP_GROUP, kwargs, label=label or f"sweep group of {len(entries)}")


PREFIX = "<the group's shared prefix>"  # a finish job's `prefix` until it is computed


@dataclass(frozen=True)
class SplitGroup:
    """A sweep group as separate jobs, for a backend that runs them apart (a cluster):
    the shared fine-tunes once (`prefix`; None when the group has none), then one job per
    candidate whose `prefix` argument is `PREFIX` until the backend passes the prefix
    job's result in its place.  Each candidate's files come back under `<name>/`."""

    prefix: Job | None
    candidates: tuple[tuple[str, Job], ...]


def split_group(job: Job) -> SplitGroup:
    """A `sweep_group` job as a `SplitGroup` (same arguments, same results)."""
    kw = dict(job.kwargs)
    entries = kw.pop("entries")
    common = {k: kw[k] for k in ("model", "data", "trust")}
    recipe = Recipe.from_dict(entries[0][1])
    fine_tunes = bool(recipe.pruning or recipe.clustering)
    prefix = (
        Job(SWEEP_PREFIX, {**common, "recipe": entries[0][1]}, label=f"{job.label}: fine-tunes")
        if fine_tunes
        else None
    )
    candidates = tuple(
        (
            name,
            Job(
                SWEEP_FINISH,
                {**kw, "name": name, "recipe": raw, "prefix": PREFIX if fine_tunes else None},
                label=name,
            ),
        )
        for name, raw in entries
    )
    return SplitGroup(prefix, candidates)


def diagnose(model: str, data: str, *, samples: int, trust: bool) -> Job:
    """The int8 error each layer adds."""
    kwargs = {"model": source(model), "data": source(data), "samples": samples, "trust": trust}
    return Job(DIAGNOSE, kwargs, label="diagnosis")


def sensitivity(model: str, data: str, *, sparsity: float, clusters: int, trust: bool) -> Job:
    """Each layer pruned (and clustered) alone: what breaks the model."""
    kwargs = {
        "model": source(model),
        "data": source(data),
        "sparsity": sparsity,
        "clusters": clusters,
        "trust": trust,
    }
    return Job(SENSITIVITY, kwargs, label="layer sensitivity")


def time_together(
    model: str, data: str, tflites: list[Path], *, threads: int, trust: bool
) -> Job:
    """The files' latencies timed interleaved in one process, sharing its noise."""
    kwargs = {
        "model": source(model),
        "data": source(data),
        "tflites": [FileInput(str(path)) for path in tflites],
        "threads": threads,
        "trust": trust,
    }
    return Job(TIME_TOGETHER, kwargs, label=f"latency of {len(tflites)} files, together")


def score(
    model: str, data: str, baseline_tflite: Path, tflites: list[Path], *, threads: int, trust: bool
) -> Job:
    """The float file and these files measured again on `data` (a held-out part): a
    list of `Metrics`, the float file's first."""
    kwargs = {
        "model": source(model),
        "data": source(data),
        "baseline_tflite": FileInput(str(baseline_tflite)),
        "tflites": [FileInput(str(path)) for path in tflites],
        "threads": threads,
        "trust": trust,
    }
    return Job(SCORE, kwargs, label=f"{len(tflites) + 1} files on held-out data")


def script(model: str, data: str, recipe: Recipe, *, trust: bool) -> Job:
    """The standalone script that reproduces a candidate (naming the user's files, not
    the worker's copies)."""
    kwargs = {
        "model": source(model),
        "data": source(data),
        "recipe": recipe.to_dict(),
        "trust": trust,
        "shown_as": (str(model), str(data)),
    }
    return Job(SCRIPT, kwargs, label="script")
