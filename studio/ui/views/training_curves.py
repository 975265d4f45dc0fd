"""Live training curves (loss and accuracy per epoch) of one candidate's fine-tunes.

The figures come from the workbench's per-epoch progress events; each fine-tune stage
(prune, cluster, qat) continues the epoch count, so a whole recipe reads left to right.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

COLORS = {"loss": (200, 60, 40), "accuracy": (40, 110, 200), "mae": (40, 110, 200)}


class TrainingCurves(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.plot = pg.PlotWidget(background="w")
        self.plot.setLabel("bottom", "epoch")
        self.plot.setLabel("left", "loss / accuracy")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.addLegend(offset=(-10, 10))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.show_curves(None, [])

    def show_curves(self, name: str | None, epochs: list[tuple[str, dict]]) -> None:
        """`epochs`: (stage, {"loss": …, "accuracy": …}) per finished epoch, in order."""
        self.plot.clear()
        if not epochs:
            what = f"{name}: no fine-tune epochs yet" if name else "select a fine-tuning candidate"
            self.plot.setTitle(f"Training curves — {what}", color="#222", size="10pt")
            return
        self.plot.setTitle(f"Training curves — {name}", color="#222", size="10pt")
        keys = [k for k in ("loss", "accuracy", "mae") if any(k in m for _, m in epochs)]
        for key in keys:
            xs = [i + 1 for i, (_, m) in enumerate(epochs) if key in m]
            ys = [m[key] for _, m in epochs if key in m]
            self.plot.plot(
                xs,
                ys,
                pen=pg.mkPen(COLORS[key], width=2),
                symbol="o",
                symbolSize=6,
                symbolBrush=COLORS[key],
                name=key,
            )
        stages = [
            (i + 1, stage)
            for i, (stage, _) in enumerate(epochs)
            if i == 0 or epochs[i - 1][0] != stage
        ]
        for x, stage in stages:
            line = pg.InfiniteLine(
                x - 0.5,
                angle=90,
                pen=pg.mkPen((150, 150, 150), style=pg.QtCore.Qt.PenStyle.DotLine),
                label=stage,
                labelOpts={"position": 0.95, "color": "#555"},
            )
            self.plot.addItem(line)
