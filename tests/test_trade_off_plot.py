"""The trade-off plots: what is drawn on top, and in which units."""

from __future__ import annotations

from fakes import figures
from studio.ui.views.trade_off_plot import LATENCY, SIZE, TradeOffPlot, accuracy_axis
from studio.values.recipe import Recipe
from studio.values.session import Candidate


def _candidates() -> list[Candidate]:
    # c1 dominates c2..c5 (smaller and more accurate); c1 and c6 make the front.
    rows = [(100, 0.95), (200, 0.90), (210, 0.90), (220, 0.89), (230, 0.88), (50, 0.80)]
    return [
        Candidate(i + 1, Recipe(), "done", figures(gzip=g, accuracy=a, latency=0.2 + i))
        for i, (g, a) in enumerate(rows)
    ]


def test_pareto_points_are_drawn_above_ordinary_ones(qtbot):
    """Issue 18: front points were hidden under ordinary points queued after them."""
    plot = TradeOffPlot(SIZE, accuracy_axis("top1"), "size")
    qtbot.addWidget(plot)
    plot.selected = 3
    plot.show_data(figures(gzip=400, accuracy=0.96), _candidates(), budget=1.0)
    order = [int(d) for d in plot.points.data["data"]]
    assert set(order) == {1, 2, 3, 4, 5, 6}
    # ordinary first, then the front (1, 6), the selected one last: later spots paint over
    assert set(order[:3]) == {2, 4, 5} and set(order[3:5]) == {1, 6} and order[-1] == 3


def test_axes_name_the_unit_the_table_uses(qtbot):
    """KB of 1024 bytes and µs/ms/s by magnitude, never pyqtgraph's "kB" or "ns"."""
    plot = TradeOffPlot(LATENCY, accuracy_axis("top1"), "latency")
    qtbot.addWidget(plot)
    plot.show_data(figures(gzip=400, accuracy=0.96, latency=0.9), _candidates()[:1], None)
    assert plot.getAxis("bottom").labelText == "median latency (µs)"
    assert plot.points.data["x"][0] == 200.0  # 0.2 ms drawn as 200 µs
    size = TradeOffPlot(SIZE, accuracy_axis("top1"), "size")
    qtbot.addWidget(size)
    big = figures(gzip=3 * 1024 * 1024, accuracy=0.96)
    size.show_data(big, _candidates()[:1], None)
    assert size.getAxis("bottom").labelText == "gzip size (MB)"
    assert abs(size.baseline.data["x"][0] - 3.0) < 1e-9
