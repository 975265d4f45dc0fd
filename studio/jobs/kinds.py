"""Every kind of job, as one typed builder each: the only place that names a task.

The window and the CLI build jobs here instead of writing `"module:function"` strings and
keyword dicts by hand, so a task's arguments are checked by the type checker and a
renamed task is one edit.  The functions named run in a worker (`studio.jobs.tasks`).
"""

from __future__ import annotations

from pathlib import Path

from studio.jobs.messages import Job
from studio.values.recipe import Recipe

TASKS = "studio.jobs.tasks"
BASELINE = f"{TASKS}:baseline"
OPTIMIZE = f"{TASKS}:optimize"
SWEEP_GROUP = f"{TASKS}:sweep_group"
DIAGNOSE = f"{TASKS}:diagnose"
SCRIPT = f"{TASKS}:script"


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


def script(model: str, data: str, recipe: Recipe, *, trust: bool) -> Job:
    """The standalone script that reproduces a candidate."""
    kwargs = {"model": model, "data": data, "recipe": recipe.to_dict(), "trust": trust}
    return Job(SCRIPT, kwargs, label="script")
