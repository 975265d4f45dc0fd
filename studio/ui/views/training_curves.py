"""Live training curves (loss and accuracy per epoch) of one candidate's fine-tunes.

The figures come from the workbench's per-epoch progress events; each fine-tune stage
(prune, cluster, qat) continues the epoch count, so a whole recipe reads left to right.
Loss and accuracy have different scales (a loss of 2.3 and a top-1 of 0.98 on one axis
flattened the accuracy), so each has its own plot, one above the other, on one epoch axis.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from studio.ui.style import light_grid, set_role

COLORS = {"loss": (200, 60, 40), "accuracy": (40, 110, 200), "mae": (40, 110, 200)}
# Short axis titles: the side panel is ~320 pixels wide at 1366x768, where "accuracy
# (higher is better)" overran the plot.  The arrows are explained in the tooltip.
TITLES = {"loss": "loss ↓", "accuracy": "accuracy ↑", "mae": "MAE ↓"}
TIP = (
    "Per fine-tune epoch of the selected candidate: the training loss (lower is better) "
    "and the accuracy or MAE on the fine-tune data (↑ higher / ↓ lower is better). "
    "Dotted lines mark where a stage (prune, cluster, QAT) starts."
)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


class TrainingCurves(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        self.view.setToolTip(TIP)
        # A wrapping label, not a pyqtgraph title: a candidate's label is long.
        self.title = QLabel()
        self.title.setWordWrap(True)
        set_role(self.title, "hint")
        self.loss = self.view.addPlot(row=0, col=0)
        self.score = self.view.addPlot(row=1, col=0)
        self.score.setXLink(self.loss)
        # No rotated axis titles: in ~90-pixel-high plots they ran over the tick labels.
        # The title line names the curves by colour instead.
        self.score.setLabel("bottom", "epoch")
        self.loss.getAxis("bottom").setStyle(showValues=False)  # the epochs are below
        for plot in (self.loss, self.score):
            light_grid(plot)
            plot.getAxis("left").setWidth(44)
            plot.getAxis("left").enableAutoSIPrefix(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.view, 1)
        self.show_curves(None, [])

    def show_curves(self, name: str | None, epochs: list[tuple[str, dict]]) -> None:
        """`epochs`: (stage, {"loss": …, "accuracy": …}) per finished epoch, in order."""
        self.loss.clear()
        self.score.clear()
        if not epochs:
            what = f"{name}: no fine-tune epochs yet" if name else "select a fine-tuning candidate"
            self.title.setText(what[0].upper() + what[1:] + ".")
            return
        score_key = "mae" if any("mae" in m for _, m in epochs) else "accuracy"
        self.title.setText(
            f"Fine-tune epochs of {name}: "
            f'<span style="color:{_hex(COLORS["loss"])}">{TITLES["loss"]}</span> above, '
            f'<span style="color:{_hex(COLORS[score_key])}">{TITLES[score_key]}</span> below'
        )
        # Whole epochs only (pyqtgraph ticked 0.5, 1, 1.5, ...).
        ticks = [[(i, str(i)) for i in range(1, len(epochs) + 1)]]
        for plot in (self.loss, self.score):
            plot.getAxis("bottom").setTicks(ticks)
        for plot, key in ((self.loss, "loss"), (self.score, score_key)):
            xs = [i + 1 for i, (_, m) in enumerate(epochs) if key in m]
            ys = [m[key] for _, m in epochs if key in m]
            plot.plot(
                xs,
                ys,
                pen=pg.mkPen(COLORS[key], width=2),
                symbol="o",
                symbolSize=6,
                symbolBrush=COLORS[key],
            )
        stages = [
            (i + 1, stage)
            for i, (stage, _) in enumerate(epochs)
            if i == 0 or epochs[i - 1][0] != stage
        ]
        for x, stage in stages:
            for plot, label in ((self.loss, stage), (self.score, None)):
                line = pg.InfiniteLine(
                    x - 0.5,
                    angle=90,
                    pen=pg.mkPen((150, 150, 150), style=pg.QtCore.Qt.PenStyle.DotLine),
                    label=label,
                    labelOpts={"position": 0.92, "color": "#555", "anchors": [(0, 0), (0, 0)]},
                )
                plot.addItem(line)
