"""The figures a candidate is judged by, as one table every view reads: the results
table's columns, the trade-off plots' axes, the report's CSV and HTML table, and the
side-by-side comparison.

Adding a figure is one entry here (plus, for a new measurement, its field in
`studio.values.metrics.Metrics` and the engine code that measures it); see
docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from studio.values import units
from studio.values.metrics import Metrics

Read = Callable[[Metrics, "Metrics | None"], Any]  # a candidate's metrics, the float's

TABLE = "table"  # a column of the results table
CSV = "csv"  # a column of the report's CSV
HTML = "html"  # a column of the report's HTML table
COMPARE = "compare"  # a row of the side-by-side comparison
AXIS = "axis"  # a trade-off plot can put it on an axis


@dataclass(frozen=True)
class Figure:
    key: str  # stable name: the CSV column
    title: str  # the table's header, the comparison's row, the plot's axis
    tooltip: str
    read: Read  # the value shown and sorted by (None: not measured)
    text: Callable[[Any], str] = str  # the value, as shown
    widest: str = ""  # the widest text it shows (the table sizes its column once)
    raw: Read | None = None  # what the CSV stores, when not `read` (full precision)
    detail: Callable[[Metrics, Metrics | None], str] | None = None  # the comparison's words
    lower_is_better: bool | None = None  # None: not a quality to rank by
    unit: Callable[[float], tuple[str, float]] | None = None  # an axis' (unit, factor)
    views: frozenset[str] = frozenset({TABLE, CSV, HTML, COMPARE})

    def value(self, m: Metrics | None, baseline: Metrics | None) -> Any:
        return None if m is None else self.read(m, baseline)

    def csv(self, m: Metrics | None, baseline: Metrics | None) -> Any:
        if m is None:
            return ""
        value = (self.raw or self.read)(m, baseline)
        return "" if value is None else value

    def words(self, m: Metrics, baseline: Metrics | None) -> str:
        if self.detail is not None:
            return self.detail(m, baseline)
        value = self.read(m, baseline)
        return "" if value is None else self.text(value)


def _ratio(m: Metrics, b: Metrics | None) -> float | None:
    return units.times_smaller(b, m)


def _agreement(m: Metrics, b: Metrics | None) -> float | None:
    return None if m.agreement is None else 100 * m.agreement


FIGURES: tuple[Figure, ...] = (
    Figure(
        "gzip_bytes",
        "gzip size",
        "Size after gzip: what an app download really costs (KB = 1024 bytes)",
        lambda m, b: m.gzip_bytes,
        units.size,
        widest="999.9 KB",
        lower_is_better=True,
        unit=units.size_unit,
        views=frozenset({TABLE, CSV, HTML, COMPARE, AXIS}),
    ),
    Figure(
        "times_smaller_gzip",
        "× smaller",
        "gzip size of the float baseline divided by this candidate's",
        _ratio,
        lambda v: f"{v:.1f}x",
        widest="99.9x",
        raw=lambda m, b: None if _ratio(m, b) is None else round(_ratio(m, b), 2),
    ),
    Figure(
        "size_bytes",
        "File size",
        "The .tflite file's size on disk (KB = 1024 bytes)",
        lambda m, b: m.size_bytes,
        units.size,
        widest="999.9 KB",
        lower_is_better=True,
        views=frozenset({TABLE, CSV, COMPARE}),
    ),
    Figure(
        "metric",
        "metric",
        "What the accuracy column measures: top-1 (%) or MAE",
        lambda m, b: m.metric,
        views=frozenset({CSV}),
    ),
    Figure(
        "accuracy",
        "Accuracy",
        "top-1 (%) on the evaluation split, or MAE",
        lambda m, b: m.score,
        lambda v: f"{v:.2f}",
        widest="100.00",
        raw=lambda m, b: m.accuracy,
        detail=lambda m, b: units.score(m),
    ),
    Figure(
        "change_vs_float",
        "Δ vs float",
        "Accuracy change against the float baseline, in points",
        lambda m, b: units.change(m, b),
        lambda v: f"{v:+.2f}",
        widest="-100.00",
        raw=lambda m, b: None if units.change(m, b) is None else round(units.change(m, b), 6),
        detail=units.change_text,
    ),
    Figure(
        "agreement",
        "Agree %",
        "How often the candidate's top class equals the float model's",
        _agreement,
        lambda v: f"{v:.1f}",
        widest="100.0",
        raw=lambda m, b: m.agreement,
        detail=lambda m, b: units.percent(m.agreement),
        lower_is_better=False,
    ),
    Figure(
        "output_rmse",
        "output RMSE",
        "Root-mean-square difference of the outputs from the float model's",
        lambda m, b: m.output_rmse,
        lambda v: f"{v:.4g}",
        lower_is_better=True,
        views=frozenset({CSV}),
    ),
    Figure(
        "latency_median_ms",
        "Latency",
        "Median single-sample latency after warm-up (threads: Preferences)",
        lambda m, b: m.latency_ms.median,
        units.duration,
        widest="999 ms",
        detail=lambda m, b: units.latency(m),
        lower_is_better=True,
        unit=units.time_unit,
        views=frozenset({TABLE, CSV, HTML, COMPARE, AXIS}),
    ),
    Figure(
        "latency_spread_ms",
        "±",
        "Half the spread of the latency's round medians: latencies closer than their "
        "spreads are not told apart (Run → Re-measure latency together)",
        lambda m, b: units.spread(m),
        units.plus_minus,
        widest="±0.088 µs",
        raw=lambda m, b: round(units.spread(m), 6),
        views=frozenset({TABLE, CSV}),
    ),
    Figure(
        "latency_p90_ms",
        "latency p90",
        "90th percentile of the single-sample latency",
        lambda m, b: m.latency_ms.p90,
        units.duration,
        lower_is_better=True,
        views=frozenset({CSV}),
    ),
    Figure(
        "threads",
        "threads",
        "LiteRT threads the latency was measured with",
        lambda m, b: m.latency_ms.threads,
        views=frozenset({CSV}),
    ),
    Figure(
        "peak_memory_bytes",
        "Memory",
        "Peak memory of loading and running the model, measured in a separate process",
        lambda m, b: m.peak_memory_bytes,
        units.size,
        widest="999.9 MB",
        lower_is_better=True,
    ),
)

_SPARSE_VIEWS = frozenset({CSV, HTML, COMPARE})

SPARSE_FIGURES: tuple[Figure, ...] = (
    Figure(
        "dense_size_bytes",
        "Dense file size",
        "A sparse-stored candidate's file with the same weights stored dense: what the "
        "sparse format saves in the raw .tflite",
        lambda m, b: None if m.dense is None else m.dense.size_bytes,
        units.size,
        lower_is_better=True,
        views=frozenset({CSV, COMPARE}),
    ),
    Figure(
        "sparse_speedup",
        "Sparse speed-up",
        "Dense latency over sparse latency of the same candidate, timed together at the "
        "same threads (above 1: sparse is faster; within noise when their spreads overlap)",
        lambda m, b: None if m.dense is None else m.dense.speedup,
        lambda v: f"{v:.2f}x",
        raw=lambda m, b: None if m.dense is None else round(m.dense.speedup, 4),
        detail=lambda m, b: units.dense_vs_sparse(m),
        views=_SPARSE_VIEWS,
    ),
    Figure(
        "kernels",
        "LiteRT kernels",
        "Which kernels ran the file: default (XNNPACK first) or built-in (a sparse int8 "
        "file the default XNNPACK delegate cannot prepare)",
        lambda m, b: m.kernels,
        views=frozenset({CSV, COMPARE}),
    ),
    Figure(
        "sparse_speed",
        "Sparse kernels",
        "Pruned candidates: whether XNNPACK's sparse inference applies to this graph on "
        "phone CPUs, and if not the first rule that fails (the speed advice)",
        lambda m, b: (
            None if m.sparse_advice is None else ("apply" if m.sparse_advice.applies else "no")
        ),
        detail=lambda m, b: "" if m.sparse_advice is None else m.sparse_advice.summary(),
        views=_SPARSE_VIEWS,
    ),
)
FIGURES = FIGURES + SPARSE_FIGURES

BY_KEY: dict[str, Figure] = {f.key: f for f in FIGURES}


def shown_in(view: str) -> list[Figure]:
    """The figures a view shows, in the table's order."""
    return [f for f in FIGURES if view in f.views]
