"""How figures are written for people: one place for units, rounding and wording.

The table, the plots' hover text, the model panel, the report and the CLI all show the
same figures; writing them here keeps "KB" meaning one thing (1024 bytes, as phones'
file managers count) and accuracy always "top-1 %" or "MAE", never a bare fraction.
"""

from __future__ import annotations

from studio.values.metrics import MAE, TOP1, Metrics

KB = 1024
MB = 1024 * 1024


def kb(n_bytes: float) -> float:
    return n_bytes / KB


def mb(n_bytes: float) -> float:
    return n_bytes / MB


def size_unit(n_bytes: float) -> tuple[str, float]:
    """The unit sizes around `n_bytes` are written in, and its bytes: KB below a
    megabyte, MB from there (never pyqtgraph's "kB", which means 1000)."""
    return ("MB", MB) if abs(n_bytes) >= MB else ("KB", KB)


def size(n_bytes: float, *, sign: bool = False) -> str:
    """'12.3 KB', or '1.2 MB' from a megabyte up; `sign`: '+1.5 KB' for a change."""
    unit, factor = size_unit(n_bytes)
    return f"{n_bytes / factor:{'+' if sign else ''}.1f} {unit}"


def clock(seconds: float) -> str:
    """Time spent or left, as a clock reads: '0:07', '12:30', '1:02:03'."""
    s = int(seconds)
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def time_unit(ms: float) -> tuple[str, float]:
    """The unit durations around `ms` milliseconds are written in, and its milliseconds:
    µs below 1 ms, ms below 1 s, else s."""
    ms = abs(ms)
    if ms and ms < 1:
        return "µs", 1e-3
    return ("s", 1000.0) if ms >= 1000 else ("ms", 1.0)


def duration(ms: float, *, sign: bool = False) -> str:
    """'850 µs', '12.3 ms', '1.20 s': three significant digits in the unit of its size."""
    unit, factor = time_unit(ms)
    value = ms / factor
    text = f"{value:.3g}"
    if sign and value >= 0:
        text = "+" + text
    return f"{text} {unit}"


def times_smaller(baseline: Metrics | None, m: Metrics) -> float | None:
    """How many times smaller (gzip) than the float model."""
    if baseline is None or not m.gzip_bytes:
        return None
    return baseline.gzip_bytes / m.gzip_bytes


def score_title(metric: str) -> str:
    """The accuracy axis' and column's name."""
    return "MAE (lower is better)" if metric == MAE else "top-1 accuracy (%)"


def score(m: Metrics) -> str:
    """'98.12 %' for top-1, '0.0123 MAE', or 'no labels'."""
    if m.score is None:
        return "no labels"
    return f"{m.score:.2f} %" if m.metric == TOP1 else f"{m.score:.4f} MAE"


def change(m: Metrics, baseline: Metrics | None) -> float | None:
    """Accuracy against the float model: points of top-1, or MAE units."""
    if baseline is None or m.score is None or baseline.score is None:
        return None
    return m.score - baseline.score


def change_text(m: Metrics, baseline: Metrics | None) -> str:
    delta = change(m, baseline)
    if delta is None:
        return ""
    return f"{delta:+.2f} pt" if m.metric == TOP1 else f"{delta:+.4f} MAE"


def percent(fraction: float | None, digits: int = 1) -> str:
    return "" if fraction is None else f"{100 * fraction:.{digits}f} %"


def latency(m: Metrics) -> str:
    """'123 µs median (118–131 µs over 5 rounds) on 1 thread(s)': the spread and the
    thread count are always said."""
    lat = m.latency_ms
    low, high = lat.spread
    spread = (
        f" ({duration(low)}–{duration(high)} over {lat.rounds} rounds)" if lat.rounds > 1 else ""
    )
    together = ", timed together with the others" if lat.together else ""
    below = ", below the timer's resolution" if lat.below_resolution else ""
    return f"{duration(lat.median)} median{spread} on {lat.threads} thread(s){together}{below}"


def spread(m: Metrics) -> float:
    """Half the latency spread (ms): '±' in the table."""
    low, high = m.latency_ms.spread
    return (high - low) / 2


def plus_minus(ms: float) -> str:
    """'±0.08 µs', '±1.2 ms': two significant digits, in the unit of its size."""
    unit, factor = time_unit(ms)
    return f"±{ms / factor:.2g} {unit}"


def figures(m: Metrics, baseline: Metrics | None = None) -> list[str]:
    """A candidate's figures as lines (hover text, status lines)."""
    ratio = times_smaller(baseline, m)
    lines = [
        f"size {size(m.size_bytes)}, gzip {size(m.gzip_bytes)}"
        + (f" ({ratio:.1f}x smaller)" if ratio else ""),
    ]
    if m.score is not None:
        lines.append(f"accuracy {score(m)}")
    if m.agreement is not None:
        lines.append(f"agrees with float on {percent(m.agreement)}")
    lines.append(f"latency {latency(m)}")
    return lines


def dense_vs_sparse(m: Metrics) -> str:
    """A sparse-stored candidate against its dense twin, in one line ('' for others):
    'sparse 470 µs vs dense 473 µs on 1 thread(s), timed together: 1.01x, within noise;
    raw file 71.4 KB vs 247.1 KB'."""
    t = m.dense
    if t is None:
        return ""
    verdict = "within noise"
    if t.measurable:
        verdict = "sparse faster" if t.speedup > 1 else "sparse slower"
    kernels = " (LiteRT's built-in kernels)" if t.kernels != "default" else ""
    return (
        f"sparse {duration(t.sparse_latency_ms.median)}{kernels} vs dense "
        f"{duration(t.latency_ms.median)} on {t.latency_ms.threads} thread(s), timed "
        f"together: {t.speedup:.2f}x, {verdict}; raw file {size(m.size_bytes)} vs "
        f"{size(t.size_bytes)} dense, gzip {size(m.gzip_bytes)} vs {size(t.gzip_bytes)}, "
        f"memory {size(m.peak_memory_bytes)} vs {size(t.peak_memory_bytes)}"
    )


def speed_notes(m: Metrics) -> list[str]:
    """What a candidate's figures need said beside them: how it was measured (notes), and
    for pruned candidates whether its zeros can run faster on a phone, and the measured
    dense-vs-sparse comparison."""
    lines = list(m.notes)
    if m.sparse_advice is not None:
        lines.append(m.sparse_advice.summary())
        lines.extend(m.sparse_advice.notes)
    if m.dense is not None:
        lines.append(dense_vs_sparse(m))
    return lines
