"""Fast tests' stand-ins: typed values made by hand, and task stand-ins for the
in-process job backend that write what the real tasks write (no TensorFlow)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from studio.jobs import kinds
from studio.jobs.inprocess import Crash
from studio.values import atomic
from studio.values.metrics import (
    InputSpec,
    Latency,
    LayerInfo,
    Metrics,
    ModelSummary,
    OutputScore,
)
from studio.values.progress import Event
from studio.values.recipe import Recipe
from studio.values.results import Result
from studio.values.sensitivity import LayerSensitivity


def figures(
    gzip: int = 100,
    accuracy: float | None = 0.9,
    latency: float = 1.0,
    *,
    size: int | None = None,
    metric: str = "top1",
    agreement: float | None = 1.0,
    **more,
) -> Metrics:
    """Metrics as a worker would send them; `size` defaults to twice `gzip`."""
    return Metrics(
        size_bytes=2 * gzip if size is None else size,
        gzip_bytes=gzip,
        accuracy=accuracy,
        metric=metric,
        agreement=agreement,
        output_rmse=0.01,
        latency_ms=Latency(latency, latency * 1.1, 1),
        peak_memory_bytes=3_000_000,
        **more,
    )


def summary(name: str = "m", layers: tuple[str, ...] = ("dense",)) -> ModelSummary:
    """A small classifier's summary: every layer prunable, clusterable and quantizable."""
    return ModelSummary(
        name=name,
        inputs=(InputSpec("x", (8,), "float32"),),
        outputs=(InputSpec("y", (3,), "float32"),),
        layers=tuple(LayerInfo(n, "Dense", 10, True, True, True) for n in layers),
        params=10 * len(layers),
        sequential=False,
    )


def two_heads(level: float, score: float) -> dict:
    """A two-output model's figures: a class head (judged by default) and a score head."""
    outputs = (
        OutputScore("level", level, "top1", 1.0, 0.01),
        OutputScore("score", score, "mae", None, 0.02),
    )
    return {"outputs": outputs, "output": "level"}


def layer_error(layer: str, added: float) -> dict:
    """A diagnosis row as the worker sends it: `added` is the error int8 adds there."""
    return {
        "layer": layer,
        "op": "FULLY_CONNECTED",
        "added_error": added,
        "output_error": added,
        "rmse_over_scale": None,
        "activation_error": None,
    }


def _write_candidate(folder: Path, recipe: dict, accuracy: float, **more) -> dict:
    metrics = figures(5, accuracy, size=10, **more).to_dict()
    atomic.write_bytes(folder / "model.tflite", b"0123456789")
    atomic.write_text(folder / "recipe.json", Recipe.from_dict(recipe).to_json())
    atomic.write_json(folder / "metrics.json", {**metrics, "label": "x"})
    return metrics


class StandIns:
    """Task stand-ins; `gate` holds a sweep group after each measured candidate."""

    def __init__(self) -> None:
        self.gate = threading.Semaphore(100)
        self.fail_names: set[str] = set()
        self.crash_after: int | None = None
        self.baseline_gate = threading.Event()
        self.baseline_gate.set()
        self.two_heads = False  # figures of a model with two outputs
        self.paths: list[str] = []  # every path a job was given (inputs and out_dir)

    def handlers(self) -> dict:
        return {
            kinds.BASELINE: self.baseline,
            kinds.SWEEP_GROUP: self.sweep_group,
            kinds.DIAGNOSE: self.diagnose,
            kinds.SCRIPT: self.script,
            kinds.SENSITIVITY: self.sensitivity,
            kinds.TIME_TOGETHER: self.time_together,
        }

    def time_together(self, model, data, tflites, threads=1, trust=False, report=None):
        """Each file 1 ms slower than the one before, with tight spreads: rankable."""
        self.paths += [model, data, *tflites]
        return [
            Latency(1.0 + i, 1.1 + i, threads, 0.95 + i, 1.05 + i, 5, True).to_dict()
            for i, _ in enumerate(tflites)
        ]

    def sensitivity(self, model, data, sparsity=0.5, clusters=16, trust=False, report=None):
        """ "dense" breaks the model when pruned alone; clustering harms nothing."""

        def one(layer, technique, value):
            setting = sparsity if technique == "prune" else clusters
            return LayerSensitivity(layer, technique, setting, value, 0.99, "top1").to_dict()

        return [one("dense", "prune", 0.5), one("dense", "cluster", 0.99)]

    def diagnose(self, model, data, samples=100, trust=False, report=None):
        return [layer_error("dense", 0.4), layer_error("conv", 0.01)]

    def script(self, model, data, recipe, trust=False, shown_as=None):
        return f"# reproduces {Recipe.from_dict(recipe).describe()}\nimport tensorflow_model_optimization as tfmot\n"

    def baseline(self, model, data, out_dir, threads=1, trust=False, report=None):
        self.paths += [model, data, out_dir]
        while not self.baseline_gate.wait(0.01):
            report(Event("baseline", "waiting", 0.5))
        more = two_heads(0.99, 0.1) if self.two_heads else {}
        metrics = figures(20, 0.99, **more).to_dict()
        atomic.write_bytes(Path(out_dir) / "baseline.tflite", b"float model")
        atomic.write_json(Path(out_dir) / "baseline.json", metrics)
        return {"summary": summary().to_dict(), "metrics": metrics}

    def sweep_group(
        self, model, data, entries, baseline_tflite, out_dir, report=None, deliver=None, **_
    ):
        self.paths += [model, data, baseline_tflite, out_dir]
        assert Path(baseline_tflite).read_bytes() == b"float model"
        results = []
        for i, (name, recipe) in enumerate(entries):
            if self.crash_after is not None and i == self.crash_after:
                raise Crash("was killed (SIGKILL)")
            report(Event("convert", f"converting {name}", 0.0))
            if name in self.fail_names:
                results.append(Result.failed(name, Recipe(), "converter said no").to_dict())
                continue
            more = two_heads(0.98, 0.3) if self.two_heads else {}
            # a single candidate scores within the budget; a sweep's 0.90, 0.91, ...
            accuracy = 0.98 if len(entries) == 1 else 0.9 + i / 100
            metrics = _write_candidate(Path(out_dir) / name, recipe, accuracy, **more)
            report(Event("done", f"wrote {name}", 1.0))
            deliver(name)
            results.append({**Result(name, Recipe()).to_dict(), "metrics": metrics})
            self.gate.acquire()
        return results


class SearchStandIns(StandIns):
    """A model whose figures follow from the recipe, for the automatic search.

    Three layers: pruning "conv" breaks the model, "dense" costs a little, "head" is
    free; int8 hurts "head" most (keeping it in float wins most of int8's loss back).
    A short pruning fine-tune loses one point more than the full one.  Files are 10
    bytes; the figures are read back from `metrics.json` by the held-out stand-in,
    which loses `holdout_extra` points more than the search part."""

    LAYERS = ("conv", "dense", "head")
    SIZE = {"none": 1.0, "dynamic": 0.27, "float16": 0.5, "int8": 0.25, "int16x8": 0.3, "int4": 0.15}
    LOSS = {"none": 0.0, "dynamic": 0.3, "float16": 0.0, "int8": 0.6, "int16x8": 0.2, "int4": 0.9}
    LATENCY = {"none": 2.0, "dynamic": 1.8, "float16": 2.0, "int8": 0.6, "int16x8": 1.2, "int4": 1.9}
    CLUSTER_LOSS = 8.0  # points lost at 1 cluster; 16 clusters lose half a point

    def __init__(self) -> None:
        super().__init__()
        self.holdout_extra = 0.0
        self.seconds = 0.0  # each candidate takes this long
        self.recipes: list[Recipe] = []  # every candidate run, in order
        self.failing_modes: set[str] = set()  # conversions that fail in these modes

    def handlers(self) -> dict:
        return {**super().handlers(), kinds.SCORE: self.score}

    def baseline(self, model, data, out_dir, threads=1, trust=False, report=None):
        from studio.values.data_summary import DataSummary

        metrics = figures(100_000, 0.9).to_dict()
        atomic.write_bytes(Path(out_dir) / "baseline.tflite", b"float model")
        atomic.write_json(Path(out_dir) / "baseline.json", metrics)
        layers = tuple(LayerInfo(n, "Dense", 1000, True, True, True) for n in self.LAYERS)
        s = summary(layers=self.LAYERS)
        data_summary = DataSummary(str(data), 600, 200, False, True)
        s = ModelSummary(**{**s.__dict__, "layers": layers, "data": data_summary})
        return {"summary": s.to_dict(), "metrics": metrics}

    def sensitivity(self, model, data, sparsity=0.5, clusters=16, trust=False, report=None):
        drops = {"conv": (25.0, 0.0), "dense": (2.0, 0.5), "head": (0.0, 0.0)}
        out = []
        for layer, (prune, cluster) in drops.items():
            for technique, drop in (("prune", prune), ("cluster", cluster)):
                value = 0.9 - drop / 100
                out.append(LayerSensitivity(layer, technique, 0.5, value, 0.9, "top1").to_dict())
        return out

    def diagnose(self, model, data, samples=100, trust=False, report=None):
        return [layer_error("head", 0.5), layer_error("dense", 0.05), layer_error("conv", 0.01)]

    def judge(self, recipe: Recipe) -> tuple[int, float]:
        """(gzip bytes, top-1) of a recipe on this imaginary model."""
        q = recipe.quantization
        size, loss = self.SIZE[q.mode], self.LOSS[q.mode]
        if q.qat:
            loss = 0.1
        if q.float_layers:
            size *= 1.05
            loss -= 0.4 if "head" in q.float_layers else 0.0
        if p := recipe.pruning:
            layers = p.layers or self.LAYERS
            s = p.target_sparsity
            size *= 1 - 0.9 * s * len(layers) / 3
            loss += 4 * s**2 + (25 * s if "conv" in layers else 0.0)
            loss += 1.0 if p.epochs is not None else 0.0
        if c := recipe.clustering:
            size *= 0.6 + c.clusters / 160
            loss += self.CLUSTER_LOSS / c.clusters
        return max(1, int(100_000 * size)), 0.9 - max(0.0, loss) / 100

    def sweep_group(
        self, model, data, entries, baseline_tflite, out_dir, report=None, deliver=None, **_
    ):
        import time

        results = []
        for name, raw in entries:
            recipe = Recipe.from_dict(raw)
            self.recipes.append(recipe)
            time.sleep(self.seconds)
            if recipe.quantization.mode in self.failing_modes:
                results.append(Result.failed(name, recipe, "the converter said no").to_dict())
                continue
            gzip, top1 = self.judge(recipe)
            latency = self.LATENCY[recipe.quantization.mode]
            metrics = figures(gzip, top1, latency, size=10).to_dict()  # the file's length
            folder = Path(out_dir) / name
            atomic.write_bytes(folder / "model.tflite", b"0123456789")
            atomic.write_text(folder / "recipe.json", recipe.to_json())
            atomic.write_json(folder / "metrics.json", {**metrics, "label": "x"})
            report(Event("done", f"wrote {name}", 1.0))
            deliver(name)
            results.append({**Result(name, recipe).to_dict(), "metrics": metrics})
        return results

    def score(self, model, data, baseline_tflite, tflites, threads=1, trust=False, report=None):
        assert str(data).endswith("::holdout"), data
        out = [figures(100_000, 0.9).to_dict()]
        for path in tflites:
            measured = Metrics.from_dict(
                json.loads((Path(path).parent / "metrics.json").read_text())
            )
            top1 = measured.accuracy - self.holdout_extra / 100
            latency = measured.latency_ms.median
            out.append(figures(measured.gzip_bytes, top1, latency).to_dict())
        return out
