"""Scatter plots of two figures of every finished candidate, with the baseline marked.

Each point carries its candidate id as `data` (as in pyqtgraph's ScatterPlot example), so
hover can show that candidate's recipe and figures and a click selects it.  The Pareto
front is the dashed line; the green band is the accuracy the user accepts (baseline
minus the budget); the star is the float baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import Signal

from studio.ui.style import light_grid
from studio.values import figures, units
from studio.values.figures import Figure
from studio.values.metrics import MAE, Metrics
from studio.values.pareto import front
from studio.values.session import Candidate

SELECTED = pg.mkBrush(230, 120, 20)
NORMAL = pg.mkBrush(40, 110, 200, 200)
FRONT = pg.mkBrush(20, 160, 90, 230)
BUDGET = pg.mkBrush(60, 180, 90, 40)

LEGEND = (
    '<span style="color:#c82828">★</span> float &nbsp; '
    '<span style="color:#286ec8">●</span> candidate &nbsp; '
    '<span style="color:#14a05a">●</span> Pareto front &nbsp; '
    '<span style="color:#e67814">●</span> selected &nbsp; <b>◯</b> recommended &nbsp; '
    '<span style="background:#d8eedd">&nbsp;&nbsp;&nbsp;</span> within the budget '
    "&nbsp; — hover for figures, click to select"
)
# The legend is one line (at 1366 pixels wide); what each mark means in full is here.
LEGEND_TIP = (
    "★ the float model as loaded: every candidate is compared with it\n"
    "● a measured candidate; green ones are on the Pareto front (dashed line): no other "
    "candidate is both smaller (or faster) and more accurate\n"
    "● orange: the selected candidate (its layers in the tabs below, its row in the table)\n"
    "◯ recommended: the smallest and the fastest candidate within the accuracy budget\n"
    "Green band: within the accuracy budget of the toolbar"
)


@dataclass(frozen=True)
class Axis:
    """One figure of a candidate: how to read it from its metrics and how to show it."""

    key: str
    title: str
    read: Callable[[Metrics], float | None]
    cost: bool  # lower is better
    # (unit, factor) for the largest value shown: the axis reads "(KB)" or "(ms)" like
    # the table, chosen per magnitude by `units` (pyqtgraph's own SI prefixes said
    # "kB", "µs", "ns" and disagreed with the table).
    unit: Callable[[float], tuple[str, float]] | None = None

    def label(self, largest: float | None) -> str:
        if self.unit is None:
            return self.title
        return f"{self.title} ({self.unit(largest or 0.0)[0]})"

    def factor(self, largest: float | None) -> float:
        return 1.0 if self.unit is None else self.unit(largest or 0.0)[1]


def accuracy_axis(metric: str) -> Axis:
    return Axis(metric, units.score_title(metric), lambda m: m.score, cost=metric == MAE)


def figure_axis(figure: Figure, title: str = "") -> Axis:
    """An axis for a figure of the table (studio/values/figures.py)."""
    return Axis(
        figure.key,
        title or figure.title,
        lambda m: figure.read(m, None),
        cost=bool(figure.lower_is_better),
        unit=figure.unit,
    )


SIZE = figure_axis(figures.BY_KEY["gzip_bytes"])
LATENCY = figure_axis(figures.BY_KEY["latency_median_ms"], "median latency")


def describe(candidate: Candidate, baseline: Metrics | None) -> str:
    """The hover text: what the candidate is and what it measured."""
    lines = [f"{candidate.name}: {candidate.label}"]
    if candidate.metrics is not None:
        lines += units.figures(candidate.metrics, baseline)
    return "\n".join(lines)


class TradeOffPlot(pg.PlotWidget):
    candidate_clicked = Signal(int)

    def __init__(self, x: Axis, y: Axis, title: str) -> None:
        super().__init__()
        self.x_axis, self.y_axis = x, y
        self.setBackground("w")
        self.setTitle(title, color="#222", size="9pt")
        # A 20-pixel title row, not pyqtgraph's 30: at 1366x768 the other 10 cut the
        # bottom axis' title in half.
        self.plotItem.titleLabel.setMaximumHeight(20)
        self.plotItem.layout.setRowFixedHeight(0, 20)
        self.setLabel("bottom", x.label(None))
        self.setLabel("left", y.label(None))
        light_grid(self)
        # Fixed axis sizes: new data then never changes the layout of the whole window.
        self.getAxis("left").setWidth(64)
        self.getAxis("bottom").setHeight(40)
        self.band = pg.LinearRegionItem(
            orientation="horizontal", movable=False, brush=BUDGET, pen=pg.mkPen(None)
        )
        self.band.setZValue(-10)
        self.band.hide()
        self.addItem(self.band)
        self.front_line = self.plot(
            [], [], pen=pg.mkPen((20, 160, 90), width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine)
        )
        self.points = pg.ScatterPlotItem(size=11, hoverable=True, hoverSize=14, tip=self._tip)
        self.points.sigClicked.connect(self._clicked)
        self.addItem(self.points)
        self.baseline = pg.ScatterPlotItem(
            size=16,
            symbol="star",
            brush=pg.mkBrush(200, 40, 40),
            pen=pg.mkPen("k"),
            hoverable=True,
            tip=lambda **_: "float baseline (the unoptimized model)",
        )
        self.addItem(self.baseline)
        self._candidates: dict[int, Candidate] = {}
        self._baseline: Metrics | None = None
        self._budget: float | None = None
        self._recommended: set[int] = set()
        self.selected: int | None = None

    def show_data(
        self,
        baseline: Metrics | None,
        candidates: Sequence[Candidate],
        budget: float | None,
        recommended: set[int] = frozenset(),
    ) -> None:
        self._baseline, self._budget, self._recommended = baseline, budget, set(recommended)
        self._candidates = {c.id: c for c in candidates if c.metrics}
        raw = [
            (self.x_axis.read(c.metrics), self.y_axis.read(c.metrics), c.id)
            for c in self._candidates.values()
        ]
        raw = [(x, y, cid) for x, y, cid in raw if x is not None and y is not None]
        bx = self.x_axis.read(baseline) if baseline else None
        by = self.y_axis.read(baseline) if baseline else None
        fx, fy = self._scale([r[0] for r in raw] + [bx], [r[1] for r in raw] + [by])
        xs = [x / fx for x, _, _ in raw]
        ys = [y / fy for _, y, _ in raw]
        ids = [cid for _, _, cid in raw]
        on_front = {
            ids[i] for i in front(list(zip(xs, ys, strict=True)), maximize_y=not self.y_axis.cost)
        }

        # Drawn in this order, so a front point is never hidden under an ordinary one,
        # and the recommended and selected ones are on top of all.
        def layer(cid: int) -> int:
            return (cid in on_front) + 2 * (cid in self._recommended) + 4 * (cid == self.selected)

        spots = [
            {
                "pos": (x, y),
                "data": cid,
                "brush": SELECTED if cid == self.selected else FRONT if cid in on_front else NORMAL,
                "size": 15 if cid == self.selected or cid in self._recommended else 11,
                "pen": pg.mkPen("k", width=2.5) if cid in self._recommended else None,
                "symbol": "o",
            }
            for x, y, cid in sorted(zip(xs, ys, ids, strict=True), key=lambda p: layer(p[2]))
        ]
        self.points.setData(spots)
        chain = sorted((x, y) for x, y, cid in zip(xs, ys, ids, strict=True) if cid in on_front)
        self.front_line.setData([p[0] for p in chain], [p[1] for p in chain])
        if bx is not None and by is not None:
            bx, by = bx / fx, by / fy
            self.baseline.setData([{"pos": (bx, by), "data": -1}])
        else:
            self.baseline.setData([])
        self._show_band(by, budget)
        self._fit_ranges(
            xs + ([bx] if bx is not None else []), ys + ([by] if by is not None else [])
        )

    def _scale(self, xs: list, ys: list) -> tuple[float, float]:
        """Each axis' unit for its largest value, set in its label; the factors to divide by."""
        largest_x = max((abs(v) for v in xs if v is not None), default=None)
        largest_y = max((abs(v) for v in ys if v is not None), default=None)
        self.setLabel("bottom", self.x_axis.label(largest_x))
        self.setLabel("left", self.y_axis.label(largest_y))
        return self.x_axis.factor(largest_x), self.y_axis.factor(largest_y)

    def _fit_ranges(self, xs: list[float], ys: list[float]) -> None:
        """Costs (size, latency) start at zero, so distances read as ratios; a lone point
        (the baseline before any candidate) gets a sensible window, not a zoom on noise;
        nothing to show (a model just opened) gets the empty default window, not the
        previous model's."""
        if not xs:
            self.setXRange(0, 1, padding=0)
            self.setYRange(0, 1, padding=0)
            return
        self.setXRange(0, max(xs) * 1.08 or 1.0, padding=0)
        if self.y_axis.cost:
            self.setYRange(0, max(ys) * 1.08 or 1.0, padding=0)
        elif len(set(ys)) == 1:
            span = 2.0 if self.y_axis.key == "top1" else abs(ys[0]) * 0.2 or 1.0
            self.setYRange(ys[0] - span, ys[0] + span / 2, padding=0)
        else:
            self.enableAutoRange(axis="y")

    def _show_band(self, base_y: float | None, budget: float | None) -> None:
        """Accuracy plots only: the band from (baseline - budget) up to the baseline."""
        if self.y_axis.key != "top1" or base_y is None or budget is None:
            self.band.hide()
            return
        self.band.setRegion((base_y - budget, base_y + 0.05))
        self.band.show()

    def set_y_axis(self, axis: Axis) -> None:
        """Top-1 or MAE, once the baseline says which (redrawn at the next `show_data`)."""
        self.y_axis = axis
        self.setLabel("left", axis.label(None))

    def _tip(self, x: float, y: float, data: int) -> str:
        candidate = self._candidates.get(data)
        return describe(candidate, self._baseline) if candidate else ""

    def _clicked(self, _item, points, _event) -> None:
        if len(points):
            self.candidate_clicked.emit(int(points[0].data()))
