"""Int8 error per layer, worst first, with the layers to keep in float ticked by the user.

The bars are the error each layer *adds* (studio.engine.diagnosis); the list also shows
TensorFlow's QuantizationDebugger figure (RMSE / scale: ~0.29 is plain rounding).
"Keep ticked in float and run" queues a selective-quantization candidate, so its
accuracy, size and latency land next to plain int8 in the table and plots.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.values.metrics import LayerError

WORST_TICKED = 1  # the worst layer is ticked when results arrive (a suggestion, not a run)
# Added error (as a share of the output's spread) above which a layer is worth keeping in
# float: the dashed line on the plot, and the worst layer is ticked only above it.
NOTICEABLE = 0.05
BARS_SHOWN = 6  # the worst layers on the plot; the list beside shows every layer
NAME_CHARS = 14  # a layer name on the plot's axis, shortened beyond this (full in the list)


def _short(name: str) -> str:
    """A layer name that fits the axis: its end kept (where names differ)."""
    return name if len(name) <= NAME_CHARS else "…" + name[-(NAME_CHARS - 1) :]


class DiagnosisView(QWidget):
    diagnose_requested = Signal()
    run_requested = Signal(tuple)  # layer names to keep in float

    def __init__(self) -> None:
        super().__init__()
        self.plot = pg.PlotWidget(background="w")
        # Horizontal bars, worst on top: the layer names read along the left axis (under
        # vertical bars they ran together at 1366x768, "conv1digitconv3pool2conv2pc").
        self.plot.setLabel("bottom", "added error")
        # Plain numbers: pyqtgraph's SI scaling wrote "×0.001" beside the axis title.
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.plot.getAxis("left").setWidth(8 * NAME_CHARS)
        self.plot.getAxis("bottom").setToolTip(
            "How much further the int8 model's output moves from the float model's when "
            f"this layer is quantized, as a share of the output's spread. Above {NOTICEABLE} "
            "(the dashed line) the layer costs accuracy: keep it in float."
        )
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.layers = QListWidget()
        self.layers.setMinimumHeight(60)
        self.layers.setToolTip(
            "Tick the layers to keep in float (selective quantization). The worst layers "
            "usually buy back most of the accuracy for little size."
        )
        self.status = QLabel("Run a diagnosis to see where full int8 loses accuracy.")
        self.status.setWordWrap(True)
        self.diagnose_button = QPushButton("Diagnose int8")
        self.diagnose_button.setToolTip(
            "Convert the float model to full int8 and compare every layer's output with "
            "the float model on calibration samples"
        )
        self.diagnose_button.clicked.connect(self.diagnose_requested)
        self.run_button = QPushButton("Keep ticked in float and run")
        self.run_button.setEnabled(False)
        self.run_button.clicked.connect(lambda: self.run_requested.emit(self.ticked()))
        side = QVBoxLayout()
        side.addWidget(self.layers, 1)
        side.addWidget(self.diagnose_button)
        side.addWidget(self.run_button)
        # The status spans the width above plot and list: beside them, in a 400-pixel
        # column at 1366x768, its lines ran over the list.
        row = QHBoxLayout()
        row.addWidget(self.plot, 3)
        row.addLayout(side, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.status)
        layout.addLayout(row, 1)
        self.plot.setMinimumSize(160, 120)

    def reset(self) -> None:
        """Another model was opened: nothing of the previous model's diagnosis stays."""
        self.plot.clear()
        self.plot.getAxis("left").setTicks(None)
        self.layers.clear()
        self.run_button.setEnabled(False)
        self.diagnose_button.setEnabled(True)
        self.status.setText("Run a diagnosis to see where full int8 loses accuracy.")

    def busy(self) -> None:
        self.status.setText("Diagnosing… (an int8 conversion and a layer-by-layer comparison)")
        self.diagnose_button.setEnabled(False)

    def failed(self, message: str) -> None:
        self.status.setText(f"Diagnosis failed: {message}")
        self.diagnose_button.setEnabled(True)

    def show_errors(self, errors: list[LayerError]) -> None:
        self.diagnose_button.setEnabled(True)
        self.plot.clear()
        self.layers.clear()
        if not errors:
            self.status.setText("No quantized layers were found.")
            return
        worst = errors[:BARS_SHOWN]
        rows = list(range(len(worst)))[::-1]  # the worst at the top
        self.plot.addItem(
            pg.BarGraphItem(
                x0=0, y=rows, height=0.6, width=[e.added_error for e in worst], brush=(200, 80, 40)
            )
        )
        self.plot.getAxis("left").setTicks(
            [[(r, _short(e.layer)) for r, e in zip(rows, worst, strict=True)]]
        )
        self.plot.setYRange(-0.6, len(worst) - 0.4, padding=0)
        self.plot.addItem(
            pg.InfiniteLine(
                NOTICEABLE,
                angle=90,
                pen=pg.mkPen((120, 120, 120), style=Qt.PenStyle.DashLine),
            )
        )
        # No plot title (the tab names it): at 1366x768 its row cost a bar's height.
        shown = (
            f" (the worst {len(worst)} of {len(errors)} on the plot)"
            if errors[len(worst) :]
            else ""
        )
        for i, e in enumerate(errors):
            rmse = e.rmse_over_scale
            item = QListWidgetItem(f"{e.layer}  +{e.added_error:.3f}")
            item.setToolTip(
                f"{e.layer} ({e.op}): adds {e.added_error:.4f} to the output error "
                f"(now {e.output_error:.4f})"
                + (
                    f"; TF debugger RMSE/scale {rmse:.2f} (0.29 is plain rounding)"
                    if rmse is not None
                    else ""
                )
            )
            item.setData(Qt.ItemDataRole.UserRole, e.layer)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            ticked = i < WORST_TICKED and e.added_error > NOTICEABLE
            item.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
            self.layers.addItem(item)
        self.status.setText(
            f"Worst: {errors[0].layer} (+{errors[0].added_error:.3f}){shown}. Tick layers "
            f"to keep in float, then run; the table then compares it with the same recipe "
            f"with no layer in float."
        )
        self.run_button.setEnabled(True)

    def ticked(self) -> tuple[str, ...]:
        return tuple(
            self.layers.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.layers.count())
            if self.layers.item(i).checkState() == Qt.CheckState.Checked
        )
