"""Per-layer bars for the selected candidate: did pruning and clustering really happen?

Read from the candidate's metrics (`layers`: sparsity and unique values per weight
tensor, read back from the .tflite file), so a technique that did nothing shows as an
empty bar rather than a promise.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QTabWidget

from studio.values.metrics import LayerFigures
from studio.values.tensor_fidelity import Fidelity


class LayerBars(QTabWidget):
    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt's name)
        """No: the diagnosis tab's wrapping status label made the whole tab report a
        height for its width, which the plots' grid then gave it in full (the row
        beside it took 527 of 690 pixels at 1920x1080, the top plots 160)."""
        return False

    def __init__(self) -> None:
        super().__init__()
        self.sparsity = self._plot("Zero weights per layer (%)", "sparsity (%)")
        self.unique = self._plot("Distinct weight values per layer", "unique values")
        self.snr = self._plot("Signal-to-noise per layer (dB)", "SNR (dB)")
        self.sparsity.setYRange(0, 100)
        # Short tab names (the plots' titles and the tooltips say the rest): with the
        # int8 error and the search beside them, five tabs fit a 1366-pixel screen.
        self.addTab(self.sparsity, "Zeros")
        self.addTab(self.unique, "Unique values")
        self.addTab(self.snr, "SNR")
        self.setTabToolTip(
            0, "Share of zero weights in each layer: pruning's effect, read from the file"
        )
        self.setTabToolTip(1, "Distinct weight values in each layer: clustering's effect")
        self.setTabToolTip(
            2,
            "How close each layer's outputs stay to the float model's in the selected "
            "quantized candidate (signal-to-noise ratio, dB; higher is closer, below ~20 dB "
            "is a layer to look at), on your evaluation samples",
        )
        self.show_layers(None, [])

    @staticmethod
    def _plot(title: str, y_label: str) -> pg.PlotWidget:
        plot = pg.PlotWidget(background="w")
        plot.setTitle(title, color="#222", size="10pt")
        plot.setLabel("left", y_label)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        return plot

    def show_layers(
        self, name: str | None, layers: list[LayerFigures], fidelity: Fidelity | None = None
    ) -> None:
        suffix = f" — {name}" if name else " — select a finished candidate"
        self._show_snr(name, fidelity)
        self.sparsity.setTitle(f"Zero weights (%){suffix}", color="#222", size="10pt")
        self.unique.setTitle(f"Distinct weight values{suffix}", color="#222", size="10pt")
        for plot in (self.sparsity, self.unique):
            plot.clear()
            plot.getAxis("bottom").setTicks(None)  # no layer names of another model
        if not layers:
            return
        xs = list(range(len(layers)))
        ticks = [[(i, layer.name) for i, layer in enumerate(layers)]]
        sparsity = [100 * layer.sparsity for layer in layers]
        unique = [layer.unique_values for layer in layers]
        self.sparsity.addItem(
            pg.BarGraphItem(x=xs, height=sparsity, width=0.6, brush=(40, 110, 200))
        )
        self.unique.addItem(pg.BarGraphItem(x=xs, height=unique, width=0.6, brush=(20, 160, 90)))
        for plot in (self.sparsity, self.unique):
            plot.getAxis("bottom").setTicks(ticks)

    def _show_snr(self, name: str | None, fidelity: Fidelity | None) -> None:
        """Each layer's lowest SNR, worst first; the title says where it was measured,
        or why there is none (a float candidate, QAT, the extra not installed)."""
        self.snr.clear()
        self.snr.getAxis("bottom").setTicks(None)
        if fidelity is None or fidelity.skipped or not fidelity.by_layer():
            why = "select a quantized candidate" if name else "select a finished candidate"
            if fidelity is not None and fidelity.skipped:
                why = f"not measured: {fidelity.skipped}"
            self.snr.setTitle(f"Signal-to-noise (dB) — {why}", color="#222", size="9pt")
            self.snr.setToolTip("")
            return
        per_layer = fidelity.by_layer()
        out = fidelity.output_snr()
        out_text = f"outputs {out:.0f} dB" if out is not None else "outputs as float"
        title = f"SNR (dB), worst first — {name}: {out_text}"
        if fidelity.note or fidelity.kernels_differ():  # a second, short line
            title += "<br>bars: built-in kernels, not XNNPACK (tooltip)"
        self.snr.setTitle(title, color="#222", size="9pt")
        self.snr.setToolTip(fidelity.summary())
        xs = list(range(len(per_layer)))
        self.snr.addItem(
            pg.BarGraphItem(x=xs, height=list(per_layer.values()), width=0.6, brush=(200, 120, 30))
        )
        self.snr.getAxis("bottom").setTicks([list(enumerate(per_layer))])
