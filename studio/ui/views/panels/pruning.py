"""The pruning panel: target sparsity, schedule, fine-tune and which layers."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox
from superqt import QLabeledSlider

from studio.ui.views.panels.widgets import (
    LayerPicker,
    TechniquePanel,
    combo,
    rate,
    select_value,
    spin,
)
from studio.values.recipe import AUTO_STEPS, Pruning
from studio.values.sparse_speed import LIMITS


class PruningPanel(TechniquePanel):
    def __init__(self) -> None:
        super().__init__(
            "Pruning",
            "Set the smallest weights to zero during a short fine-tune. The file only "
            "shrinks once compressed (zip, app store), but it shrinks a lot.",
        )
        self.sparsity = QLabeledSlider(Qt.Orientation.Horizontal)
        self.sparsity.setRange(5, 95)
        self.sparsity.setValue(50)
        self.sparsity.setToolTip(
            "Share of weights set to zero, in percent. 50 to 80 % usually keeps accuracy."
        )
        self.add_row("Target sparsity (%)", self.sparsity)
        self.schedule = self.add_row(
            "Schedule",
            combo(
                [("polynomial", "Gradual (polynomial)"), ("constant", "Constant")],
                "Gradual raises sparsity from the initial value to the target over the "
                "fine-tune, which is gentler; constant prunes to the target at once.",
            ),
        )
        self.initial = self.add_row(
            "Initial sparsity (%)",
            spin(0, 94, 0, "Where the gradual schedule starts, in percent.", " %"),
        )
        self.structure = self.add_row(
            "Structure",
            combo(
                [(None, "Unstructured"), ("2:4", "2:4 structured")],
                "2:4 zeroes 2 of every 4 weights in a fixed pattern that some hardware "
                "accelerates; it always means 50 % sparsity. " + LIMITS["2:4"],
            ),
        )
        self.sparse_format = self.add_row("Storage", QCheckBox("sparse (non-zeros only)"))
        # Rich text, so the tooltip wraps (plain text shows as one line per paragraph).
        self.sparse_format.setToolTip(
            "<p>Store the pruned weights as their non-zeros and positions: the raw .tflite "
            "shrinks, not only the gzip. The candidate is also measured stored dense, side "
            "by side (size, memory, latency). Faster only for float MobileNet-like models "
            "on phone CPUs (see the candidate's speed advice); a sparse int8 file runs "
            "only with LiteRT's built-in kernels, which is said and measured. Not with "
            "int4.</p>" + "".join(f"<p>{LIMITS[k]}</p>" for k in ("int8", "dense", "avx"))
        )
        self.layers = self.add_row(
            "Layers",
            LayerPicker(
                "Which layers to prune. Untick small or sensitive layers (the first "
                "convolution, the last dense layer) if accuracy drops too much.",
                default_checked=True,
            ),
        )
        self.epochs = self.add_row(
            "Fine-tune epochs",
            spin(
                0,
                1000,
                0,
                "Passes over the fine-tune data while pruning. Auto: enough passes for "
                f"about {AUTO_STEPS} training steps (at least 2), which a network needs to "
                "recover from its zeros; on a few hundred samples that is 10 or more.",
            ),
        )
        self.epochs.setSpecialValueText("auto")
        self.learning_rate = self.add_row(
            "Learning rate",
            rate(1e-3, "Step size of the pruning fine-tune. Smaller values cannot recover."),
        )
        self.schedule.currentIndexChanged.connect(
            lambda: self.initial.setEnabled(self.schedule.currentData() == "polynomial")
        )

    def set_layers(self, names: Iterable[str]) -> None:
        self.layers.set_layers(names)

    def value(self) -> Pruning | None:
        if not self.isChecked():
            return None
        return Pruning(
            target_sparsity=self.sparsity.value() / 100,
            schedule=self.schedule.currentData(),
            initial_sparsity=self.initial.value() / 100,
            structure=self.structure.currentData(),
            layers=self.layers.chosen(),
            epochs=self.epochs.value() or None,
            learning_rate=self.learning_rate.value(),
            sparse_format=self.sparse_format.isChecked(),
        )

    def set_value(self, p: Pruning | None) -> None:
        self.setChecked(p is not None)
        if p is None:
            return
        self.sparsity.setValue(round(p.target_sparsity * 100))
        select_value(self.schedule, p.schedule)
        self.initial.setValue(round(p.initial_sparsity * 100))
        select_value(self.structure, p.structure)
        self.layers.set_checked(p.layers)
        self.epochs.setValue(p.epochs or 0)  # 0 shows as "auto"
        self.learning_rate.setValue(p.learning_rate)
        self.sparse_format.setChecked(p.sparse_format)
