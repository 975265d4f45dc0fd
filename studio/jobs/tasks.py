"""The engine calls a worker runs, with plain-data arguments and results.

Jobs are built by `studio.jobs.kinds` (one builder per function here), which also
rebuilds the typed values from what these return (`to_dict()` of `studio.values`
dataclasses); only worker processes import this module (and with it TensorFlow).
"""

from __future__ import annotations

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


def optimize(
    model: str,
    data: str,
    recipe: dict,
    out_dir: str,
    threads: int = 1,
    trust: bool = False,
    report: Report = ignore,
) -> dict[str, Any]:
    result = pipeline.optimize(
        model, data, Recipe.from_dict(recipe), out_dir, threads=threads, trust=trust, report=report
    )
    return {
        "out_dir": str(result.out_dir),
        "metrics": result.metrics.to_dict(),
        "baseline": result.baseline.to_dict(),
        "qat_scheme": result.qat_scheme,
    }


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
    out_dir: str,
    entries: list,
    threads: int = 1,
    trust: bool = False,
    baseline_tflite: str | None = None,
    report: Report = ignore,
) -> list[dict[str, Any]]:
    return sweep_run.run_group(
        model,
        data,
        out_dir,
        entries,
        threads=threads,
        trust=trust,
        baseline_tflite=baseline_tflite,
        report=report,
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


def script(model: str, data: str, recipe: dict, trust: bool = False) -> str:
    from studio.engine.codegen import script_for

    return script_for(model, data, Recipe.from_dict(recipe), trust=trust)
