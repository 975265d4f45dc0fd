"""What a worker measures and reads, as typed values on both sides of the process boundary.

A worker builds these, sends `to_dict()` (plain JSON-able data: `metrics.json`,
`session.json`, job results) and the window, the CLI and the report rebuild them with
`from_dict` at once, so nothing above the engine digs in dictionaries.  Adding a figure
is one field here, its line in `to_dict`/`from_dict`, and the views that show it.

`from_dict` accepts files written before a field existed (it gets its default) and
ignores keys it does not know (a newer studio's extra figures), so old sessions reopen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from studio.values.data_summary import DataSummary
from studio.values.errors import StudioError
from studio.values.sparse_speed import SparseAdvice

TOP1 = "top1"
MAE = "mae"
TOLERANCE = 1e-9  # budgets compare figures that went through float arithmetic


class MetricsError(StudioError):
    """Figures that are not what a worker writes (a damaged or foreign metrics file)."""


def _need(data: Mapping[str, Any], key: str, what: str) -> Any:
    try:
        return data[key]
    except (KeyError, TypeError):
        raise MetricsError(f"{what} without '{key}'") from None


# Below this, one invoke is mostly the Python call into LiteRT (about 1 µs here), not the
# model: such latencies are reported, never ranked.  (The demo's int8 runs in ~4 µs and
# its float16 in ~10 µs: a real difference, ranked.)
RESOLUTION_MS = 0.002


@dataclass(frozen=True)
class Latency:
    """Milliseconds per single-sample `invoke()`, after warm-up, on `threads` threads.

    Timed in `rounds` rounds (each long enough to repeat a fast model thousands of
    times); `low` and `high` are the lowest and highest round medians: the spread two
    latencies must clear to be told apart.  Files measured before rounds existed have
    none (`spread` then falls back to median..p90)."""

    median: float
    p90: float
    threads: int
    low: float | None = None
    high: float | None = None
    rounds: int = 1
    together: bool = False  # re-measured interleaved with the candidates it is compared to

    @property
    def spread(self) -> tuple[float, float]:
        if self.low is not None and self.high is not None:
            return self.low, self.high
        return self.median, self.p90

    def overlaps(self, other: Latency) -> bool:
        """Within each other's spread: neither is measurably faster."""
        (a_lo, a_hi), (b_lo, b_hi) = self.spread, other.spread
        return a_lo <= b_hi and b_lo <= a_hi

    @property
    def below_resolution(self) -> bool:
        return self.median < RESOLUTION_MS

    def to_dict(self) -> dict[str, Any]:
        # 6 decimals of a millisecond: a nanosecond (4 read 0.001 ms for every tiny model).
        out: dict[str, Any] = {
            "median": round(self.median, 6),
            "p90": round(self.p90, 6),
            "threads": self.threads,
        }
        if self.low is not None and self.high is not None:
            out |= {"low": round(self.low, 6), "high": round(self.high, 6)}
        out["rounds"] = self.rounds
        if self.together:
            out["together"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Latency:
        low, high = data.get("low"), data.get("high")
        return cls(
            float(_need(data, "median", "latency")),
            float(data.get("p90", data["median"])),
            int(data.get("threads", 1)),
            None if low is None else float(low),
            None if high is None else float(high),
            int(data.get("rounds", 1)),
            bool(data.get("together", False)),
        )


@dataclass(frozen=True)
class LayerFigures:
    """One weight tensor of a .tflite, read back from the file: did a technique act?"""

    name: str  # the Keras layer it belongs to
    tensor: str
    op: str
    dtype: str
    count: int
    sparsity: float  # share of exact zeros
    unique_values: int
    # The first operator that reads it (its index in subgraph 0; -1: not known, e.g. figures
    # read before it was recorded): where it sits in the graph Model Explorer draws.
    op_index: int = -1

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tensor": self.tensor,
            "op": self.op,
            "dtype": self.dtype,
            "count": self.count,
            "sparsity": round(self.sparsity, 6),
            "unique_values": self.unique_values,
            "op_index": self.op_index,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerFigures:
        return cls(
            name=str(_need(data, "name", "layer figures")),
            tensor=str(data.get("tensor", data["name"])),
            op=str(data.get("op", "")),
            dtype=str(data.get("dtype", "")),
            count=int(data.get("count", 0)),
            sparsity=float(data.get("sparsity", 0.0)),
            unique_values=int(data.get("unique_values", 0)),
            op_index=int(data.get("op_index", -1)),
        )


@dataclass(frozen=True)
class OutputScore:
    """One output's figures, for a model with several (a class head and a score head):
    top-1 or MAE on its labels, and its fidelity to the float model's same output."""

    name: str
    accuracy: float | None
    metric: str
    agreement: float | None
    output_rmse: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "accuracy": self.accuracy,
            "metric": self.metric,
            "agreement": self.agreement,
            "output_rmse": self.output_rmse,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutputScore:
        return cls(
            name=str(_need(data, "name", "an output's figures")),
            accuracy=_optional(data.get("accuracy")),
            metric=str(data.get("metric", TOP1)),
            agreement=_optional(data.get("agreement")),
            output_rmse=_optional(data.get("output_rmse")),
        )


@dataclass(frozen=True)
class Flag:
    """Something wrong with a candidate, said with its likely cause and a next step.

    `broken` flags mean the file contradicts its recipe (weights not in the mode's
    type, sparsity or clustering missing): such a candidate is not a result at all, and
    is never plotted, ranked or recommended as one.  The others (accuracy at chance, a
    fine-tune whose loss rose, outputs that no longer agree with the float model) are
    warnings shown beside the figures.
    """

    code: str
    message: str
    broken: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "broken": self.broken}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Flag:
        return cls(
            code=str(_need(data, "code", "a flag")),
            message=str(data.get("message", "")),
            broken=bool(data.get("broken", False)),
        )


SPEEDUP_FLOOR = 0.05  # a dense/sparse ratio within 5 % of 1 is not a speed-up (or a loss)


@dataclass(frozen=True)
class DenseTwin:
    """A sparse-stored candidate's dense twin (the same weights, stored dense), measured
    beside it: what the sparse format buys in size and memory, and what it does to speed,
    timed together at the same threads (`latency_ms` and `sparse_latency_ms` share their
    rounds), so a speed-up is a measured ratio with its spread, not a promise."""

    size_bytes: int
    gzip_bytes: int
    peak_memory_bytes: int
    accuracy: float | None
    max_output_diff: float  # the largest difference of any output, dense vs sparse file
    latency_ms: Latency  # the dense file's
    sparse_latency_ms: Latency  # the sparse file's, in the same rounds
    kernels: str = "default"  # which kernels ran the sparse file

    @property
    def speedup(self) -> float:
        """Dense latency over sparse latency (above 1: the sparse file is faster)."""
        return self.latency_ms.median / max(self.sparse_latency_ms.median, 1e-12)

    @property
    def measurable(self) -> bool:
        """Whether the two latencies are told apart: their spreads do not overlap and
        they differ by at least SPEEDUP_FLOOR.  (Measured: on a CPU where XNNPACK runs
        both files with the same dense kernels, a MobileNetV2's two files timed together
        came out 1.01x apart with spreads that did not overlap.)"""
        apart = abs(self.speedup - 1) >= SPEEDUP_FLOOR
        return apart and not self.latency_ms.overlaps(self.sparse_latency_ms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "size_bytes": self.size_bytes,
            "gzip_bytes": self.gzip_bytes,
            "peak_memory_bytes": self.peak_memory_bytes,
            "accuracy": self.accuracy,
            "max_output_diff": self.max_output_diff,
            "latency_ms": self.latency_ms.to_dict(),
            "sparse_latency_ms": self.sparse_latency_ms.to_dict(),
            "kernels": self.kernels,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DenseTwin:
        return cls(
            size_bytes=int(_need(data, "size_bytes", "the dense twin")),
            gzip_bytes=int(data.get("gzip_bytes", 0)),
            peak_memory_bytes=int(data.get("peak_memory_bytes", 0)),
            accuracy=_optional(data.get("accuracy")),
            max_output_diff=float(data.get("max_output_diff", 0.0)),
            latency_ms=Latency.from_dict(_need(data, "latency_ms", "the dense twin")),
            sparse_latency_ms=Latency.from_dict(
                _need(data, "sparse_latency_ms", "the dense twin")
            ),
            kernels=str(data.get("kernels", "default")),
        )


@dataclass(frozen=True)
class Metrics:
    """Figures of one .tflite; `to_dict` is the metrics.json contract of the CLI.

    `accuracy` is top-1 (a fraction) for classifiers and MAE for everything else
    (`metric` says which), None without labels; `agreement` and `output_rmse` compare
    the outputs with the float model's (None for the float model itself).
    """

    size_bytes: int
    gzip_bytes: int
    accuracy: float | None
    metric: str  # TOP1 or MAE
    agreement: float | None
    output_rmse: float | None
    latency_ms: Latency
    peak_memory_bytes: int
    layers: tuple[LayerFigures, ...] = ()
    seconds: Mapping[str, float] = field(default_factory=dict)
    samples: int = 0
    qat_scheme: str | None = None  # which QAT scheme ran, when QAT did
    notes: tuple[str, ...] = ()  # how the file differs from what one might assume
    outputs: tuple[OutputScore, ...] = ()  # per output, when the model has several
    output: str = ""  # which of `outputs` the main figures above are from
    flags: tuple[Flag, ...] = ()  # what is wrong with it (see Flag)
    # Which LiteRT kernels ran it: "default" (XNNPACK first) or "built-in" (a sparse int8
    # file the default delegate cannot prepare; `notes` says so in words).
    kernels: str = "default"
    # Pruned candidates: will the zeros run faster on a phone's CPU (sparse_speed.advise)?
    sparse_advice: SparseAdvice | None = None
    # Sparse-stored candidates: the same weights stored dense, measured beside it.
    dense: DenseTwin | None = None

    def for_output(self, name: str) -> Metrics:
        """The same figures with the main ones taken from output `name` (the user picks
        which output the plots, the budget and the recommendation judge by)."""
        chosen = next((o for o in self.outputs if o.name == name), None)
        if chosen is None:
            return self
        return replace(
            self,
            accuracy=chosen.accuracy,
            metric=chosen.metric,
            agreement=chosen.agreement,
            output_rmse=chosen.output_rmse,
            output=chosen.name,
        )

    @property
    def broken(self) -> bool:
        """Whether the file contradicts its recipe (see Flag)."""
        return any(f.broken for f in self.flags)

    @property
    def higher_better(self) -> bool:
        return self.metric != MAE

    @property
    def score(self) -> float | None:
        """Accuracy as shown: percent for top-1, MAE as is."""
        if self.accuracy is None:
            return None
        return 100 * self.accuracy if self.metric == TOP1 else self.accuracy

    def to_dict(self) -> dict[str, Any]:
        return {
            "size_bytes": self.size_bytes,
            "gzip_bytes": self.gzip_bytes,
            "accuracy": self.accuracy,
            "metric": self.metric,
            "agreement": self.agreement,
            "output_rmse": self.output_rmse,
            "latency_ms": self.latency_ms.to_dict(),
            "peak_memory_bytes": self.peak_memory_bytes,
            "layers": [layer.to_dict() for layer in self.layers],
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "samples": self.samples,
            "qat_scheme": self.qat_scheme,
            "notes": list(self.notes),
            "outputs": [o.to_dict() for o in self.outputs],
            "output": self.output,
            "flags": [f.to_dict() for f in self.flags],
            "kernels": self.kernels,
            "sparse_advice": None if self.sparse_advice is None else self.sparse_advice.to_dict(),
            "dense": None if self.dense is None else self.dense.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metrics:
        if not isinstance(data, Mapping):
            raise MetricsError(f"figures must be a JSON object, not {type(data).__name__}")
        try:
            return cls(
                size_bytes=int(_need(data, "size_bytes", "figures")),
                gzip_bytes=int(_need(data, "gzip_bytes", "figures")),
                accuracy=_optional(data.get("accuracy")),
                metric=str(data.get("metric", TOP1)),
                agreement=_optional(data.get("agreement")),
                output_rmse=_optional(data.get("output_rmse")),
                latency_ms=Latency.from_dict(_need(data, "latency_ms", "figures")),
                peak_memory_bytes=int(data.get("peak_memory_bytes", 0)),
                layers=tuple(LayerFigures.from_dict(x) for x in data.get("layers", ())),
                seconds={str(k): float(v) for k, v in dict(data.get("seconds", {})).items()},
                samples=int(data.get("samples", 0)),
                qat_scheme=data.get("qat_scheme"),
                notes=tuple(str(n) for n in data.get("notes", ())),
                outputs=tuple(OutputScore.from_dict(o) for o in data.get("outputs", ())),
                output=str(data.get("output", "")),
                flags=tuple(Flag.from_dict(f) for f in data.get("flags", ())),
                kernels=str(data.get("kernels", "default")),
                sparse_advice=(
                    None
                    if data.get("sparse_advice") is None
                    else SparseAdvice.from_dict(data["sparse_advice"])
                ),
                dense=None if data.get("dense") is None else DenseTwin.from_dict(data["dense"]),
            )
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            raise MetricsError(f"figures are damaged ({err})") from err


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


def within_budget(m: Metrics, baseline: Metrics, budget: float) -> bool:
    """Whether a candidate loses at most `budget` points of top-1 (or MAE units) against
    the float model; without labels, whether it disagrees on at most `budget` % of
    samples.  (A loss of exactly the budget is within it: 0.99 - 0.98 is 1.0000000000000009
    points in floating point, hence the tolerance.)"""
    if m.accuracy is None or baseline.accuracy is None:
        return m.agreement is not None and 100 * (1 - m.agreement) <= budget + TOLERANCE
    if m.metric == MAE:
        return m.accuracy - baseline.accuracy <= budget + TOLERANCE
    return 100 * (baseline.accuracy - m.accuracy) <= budget + TOLERANCE


@dataclass(frozen=True)
class LayerError:
    """How much error one layer adds when the model runs in full int8 (the diagnosis)."""

    layer: str
    op: str
    added_error: float
    output_error: float
    rmse_over_scale: float | None  # TF's quantization debugger figure, 0.29 = rounding
    activation_error: float | None

    def to_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 5)

        return {
            "layer": self.layer,
            "op": self.op,
            "added_error": r(self.added_error),
            "output_error": r(self.output_error),
            "rmse_over_scale": r(self.rmse_over_scale),
            "activation_error": r(self.activation_error),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerError:
        return cls(
            layer=str(data["layer"]),
            op=str(data.get("op", "")),
            added_error=float(data["added_error"]),
            output_error=float(data.get("output_error", 0.0)),
            rmse_over_scale=_optional(data.get("rmse_over_scale")),
            activation_error=_optional(data.get("activation_error")),
        )


# -- the model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InputSpec:
    """What the model takes or gives, as plain data (no TensorFlow types)."""

    name: str
    shape: tuple[int | None, ...]  # without the batch axis
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputSpec:
        shape = tuple(None if d is None else int(d) for d in data["shape"])
        return cls(str(data["name"]), shape, str(data["dtype"]))


@dataclass(frozen=True)
class LayerInfo:
    """One layer and which techniques apply to it; `why_not` says, per technique that
    does not apply ("pruning", "clustering", "qat"), why not, in a user's words."""

    name: str
    class_name: str
    params: int
    prunable: bool
    clusterable: bool
    quantizable: bool
    why_not: Mapping[str, str] = field(default_factory=dict)
    # Per output of the layer, its shape without the batch axis (None: any size).
    output_shapes: tuple[tuple[int | None, ...], ...] = ()

    def shape_text(self) -> str:
        """`12×12×32`, several outputs joined by commas; `?` for a free dimension."""
        return ", ".join(
            "×".join("?" if d is None else str(d) for d in shape) or "scalar"
            for shape in self.output_shapes
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "class_name": self.class_name,
            "output_shapes": [list(shape) for shape in self.output_shapes],
            "params": self.params,
            "prunable": self.prunable,
            "clusterable": self.clusterable,
            "quantizable": self.quantizable,
            "why_not": dict(self.why_not),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerInfo:
        return cls(
            name=str(data["name"]),
            class_name=str(data.get("class_name", "")),
            params=int(data.get("params", 0)),
            prunable=bool(data.get("prunable", False)),
            clusterable=bool(data.get("clusterable", False)),
            quantizable=bool(data.get("quantizable", False)),
            why_not={str(k): str(v) for k, v in dict(data.get("why_not", {})).items()},
            output_shapes=tuple(
                tuple(None if d is None else int(d) for d in shape)
                for shape in data.get("output_shapes", ())
            ),
        )


@dataclass(frozen=True)
class ModelSummary:
    """The model as the panels and the CLI see it."""

    name: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[InputSpec, ...]
    layers: tuple[LayerInfo, ...]
    params: int
    sequential: bool
    origin: str = ""  # e.g. "Keras 3.15.1 file, rebuilt in tf_keras (outputs match …)"
    limitation: str = ""  # why only post-training quantization applies, if so
    data: DataSummary | None = None  # the data it was loaded with

    @property
    def input(self) -> InputSpec:
        return self.inputs[0]

    @property
    def output(self) -> InputSpec:
        return self.outputs[0]

    @property
    def classifier(self) -> bool:
        """A classifier has several output units (top-1 accuracy); otherwise MAE is used."""
        return (self.output.shape[-1] or 1) > 1 if self.output.shape else False

    def names(self, capability: str) -> list[str]:
        """The layers a technique applies to: "prunable", "clusterable" or "quantizable"."""
        return [layer.name for layer in self.layers if getattr(layer, capability)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
            "layers": [layer.to_dict() for layer in self.layers],
            "params": self.params,
            "sequential": self.sequential,
            "origin": self.origin,
            "limitation": self.limitation,
            "data": None if self.data is None else self.data.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSummary:
        try:
            return cls(
                name=str(data["name"]),
                inputs=tuple(InputSpec.from_dict(s) for s in data["inputs"]),
                outputs=tuple(InputSpec.from_dict(s) for s in data["outputs"]),
                layers=tuple(LayerInfo.from_dict(x) for x in data.get("layers", ())),
                params=int(data.get("params", 0)),
                sequential=bool(data.get("sequential", False)),
                origin=str(data.get("origin", "")),
                limitation=str(data.get("limitation", "")),
                data=DataSummary.from_dict(data["data"]) if data.get("data") else None,
            )
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            raise MetricsError(f"the model summary is damaged ({err})") from err
