"""The quantization panel: mode, I/O type, calibration, QAT and layers kept in float."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtWidgets import (
    QCheckBox,
)

from studio.ui.views.panels.widgets import (
    LayerPicker,
    TechniquePanel,
    combo,
    rate,
    select_value,
    spin,
)
from studio.values import modes
from studio.values.recipe import Quantization


class QuantizationPanel(TechniquePanel):
    def __init__(self) -> None:
        super().__init__(
            "Quantization",
            "Store weights (and, for full integer, activations) in fewer bits. "
            "Smaller and usually faster on phones, at a small cost in accuracy.",
        )
        self.mode = self.add_row(
            "Mode",
            combo(
                [(m.name, m.label) for m in modes.offered()],
                "\n".join(m.tooltip for m in modes.offered()),
            ),
        )
        select_value(self.mode, "int8")
        self.calibration = self.add_row(
            "Calibration samples",
            spin(
                1,
                100000,
                100,
                "How many samples are run through the model to find the range of each "
                "activation (full integer and 16x8 only). 100 to 500 is usually enough.",
            ),
        )
        self.io_type = self.add_row(
            "Model input/output",
            combo(
                [("float32", "float32"), ("int8", "int8"), ("uint8", "uint8"), ("int16", "int16")],
                "The type the app passes in and gets out. Integer input/output saves a "
                "conversion on integer-only hardware; int8/uint8 need full integer mode, "
                "int16 needs 16x8.",
            ),
        )
        self.qat = self.add_row(
            "Quantization-aware training",
            QCheckBox("fine-tune with simulated int8"),
        )
        self.qat.setToolTip(
            "Train briefly while simulating int8 rounding, so the model learns to live "
            "with it. Recovers accuracy that plain int8 loses; needs labeled data."
        )
        self.epochs = self.add_row(
            "QAT epochs", spin(1, 1000, 1, "Passes over the fine-tune data during QAT.")
        )
        self.learning_rate = self.add_row(
            "QAT learning rate",
            rate(
                1e-4,
                "Step size of the QAT fine-tune: small (1e-4) to adapt the weights to int8, "
                "not retrain them; 1e-5 left EfficientNet below plain int8.",
            ),
        )
        self.float_layers = self.add_row(
            "Keep in float",
            LayerPicker(
                "Layers to leave in float (selective quantization): tick the layers that "
                "lose the most accuracy when quantized. Full integer mode only.",
                default_checked=False,
            ),
        )
        self.select_tf_ops = self.add_row(
            "Allow TensorFlow ops",
            QCheckBox("select TF ops (Flex)"),
        )
        self.select_tf_ops.setToolTip(
            "For models with operations TFLite's builtin set cannot express: the converter "
            "uses TensorFlow's own kernels for those. The cost: the app must ship the "
            "select-TF-ops runtime, several MB larger, and the studio cannot run such "
            "operations here to measure the file. Leave off unless the conversion "
            "fails and says so."
        )
        self.mode.currentIndexChanged.connect(self._sync_enabled)
        self.qat.toggled.connect(self._sync_enabled)
        self._sync_enabled()

    def _sync_enabled(self) -> None:
        integer = modes.calibrated(self.mode.currentData())
        self.calibration.setEnabled(integer)
        self.epochs.setEnabled(self.qat.isChecked())
        self.learning_rate.setEnabled(self.qat.isChecked())

    def set_layers(self, names: Iterable[str]) -> None:
        self.float_layers.set_layers(names)

    def value(self) -> Quantization:
        if not self.isChecked():
            return Quantization()
        return Quantization(
            mode=self.mode.currentData(),
            qat=self.qat.isChecked(),
            epochs=self.epochs.value(),
            learning_rate=self.learning_rate.value(),
            calibration_samples=self.calibration.value(),
            io_type=self.io_type.currentData(),
            float_layers=self.float_layers.checked(),
            select_tf_ops=self.select_tf_ops.isChecked(),
        )

    def set_value(self, q: Quantization) -> None:
        self.setChecked(q.mode != "none")
        if q.mode != "none":
            select_value(self.mode, q.mode)
        self.qat.setChecked(q.qat)
        self.epochs.setValue(q.epochs)
        self.learning_rate.setValue(q.learning_rate)
        self.calibration.setValue(q.calibration_samples)
        select_value(self.io_type, q.io_type)
        self.float_layers.set_checked(q.float_layers)
        self.select_tf_ops.setChecked(q.select_tf_ops)
