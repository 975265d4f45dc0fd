"""Live training curves (loss and accuracy per epoch) of one candidate's fine-tunes.

The figures come from the workbench's per-epoch progress events; each fine-tune stage
(prune, cluster, qat) continues the epoch count, so a whole recipe reads left to right.
Loss and accuracy have different scales (a loss of 2.3 and a top-1 of 0.98 on one axis
flattened the accuracy), so each has its own plot, one above the other, on one epoch axis.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

COLORS = {"loss": (200, 60, 40), "accuracy": (40, 110, 200), "mae": (40, 110, 200)}
TITLES = {
    "loss": "loss (lower is better)",
    "accuracy": "accuracy (higher is better)",
    "mae": "MAE (lower is better)",
}


class TrainingCurves(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        self.title = self.view.addLabel("", row=0, col=0, color="#222", size="10pt")
        self.loss = self.view.addPlot(row=1, col=0)
        self.score = self.view.addPlot(row=2, col=0)
        self.score.setXLink(self.loss)
        self.loss.setLabel("left", TITLES["loss"])
        self.score.setLabel("left", TITLES["accuracy"])
        self.score.setLabel("bottom", "epoch")
        for plot in (self.loss, self.score):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.getAxis("left").setWidth(56)
            plot.getAxis("left").enableAutoSIPrefix(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.show_curves(None, [])

    def show_curves(self, name: str | None, epochs: list[tuple[str, dict]]) -> None:
        """`epochs`: (stage, {"loss": …, "accuracy": …}) per finished epoch, in order."""
        self.loss.clear()
        self.score.clear()
        if not epochs:
            what = f"{name}: no fine-tune epochs yet" if name else "select a fine-tuning candidate"
            self.title.setText(f"Training curves — {what}")
            return
        self.title.setText(f"Training curves — {name}")
        score_key = "mae" if any("mae" in m for _, m in epochs) else "accuracy"
        self.score.setLabel("left", TITLES[score_key])
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
                    labelOpts={"position": 0.9, "color": "#555"},
                )
                plot.addItem(line)
