"""The quantization panel: mode, I/O type, calibration, QAT, layers kept in float, and
int4's block size and per-op rules."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
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
from studio.values.recipe import BLOCK_SIZES, PRECISIONS, OpRule, Quantization


class OpRulesTable(QWidget):
    """int4's per-op rules as an editable table: a layer-name pattern and what its weights
    are kept in, applied top to bottom (a later row wins)."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Layer name pattern", "Keep in"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setMaximumHeight(96)
        self.table.itemChanged.connect(lambda *_: self.changed.emit())
        self.table.setToolTip(
            "Per-op rules (int4 only): the weights of layers whose name matches the pattern "
            "(a regular expression: 'dense' matches dense_1, '^dense$' only dense) stay in "
            "float, int8 or int4. Keep a fragile first or last layer in float or int8; "
            "later rows win. Saved in the recipe."
        )
        add, remove = QPushButton("Add rule"), QPushButton("Remove")
        add.clicked.connect(lambda: self.add_rule(OpRule(".*", "float"), edit=True))
        remove.clicked.connect(self._remove)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)

    def add_rule(self, rule: OpRule, *, edit: bool = False) -> None:
        row = self.table.rowCount()
        keep = combo([(p, p) for p in PRECISIONS], "What the matched layers' weights are kept in.")
        select_value(keep, rule.precision)
        keep.currentIndexChanged.connect(lambda *_: self.changed.emit())
        self.table.blockSignals(True)  # the row is read only once both cells exist
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(rule.pattern))
        self.table.setCellWidget(row, 1, keep)
        self.table.blockSignals(False)
        if edit:
            self.table.editItem(self.table.item(row, 0))
        self.changed.emit()

    def _remove(self) -> None:
        row = self.table.currentRow()
        if row >= 0:
            self.table.removeRow(row)
            self.changed.emit()

    def rules(self) -> tuple[OpRule, ...]:
        """The table's rules; RecipeError names the field for a pattern that is not one."""
        return tuple(
            OpRule(self.table.item(r, 0).text().strip(), self.table.cellWidget(r, 1).currentData())
            for r in range(self.table.rowCount())
        )

    def set_rules(self, rules: Iterable[OpRule]) -> None:
        self.table.setRowCount(0)
        for rule in rules:
            self.add_rule(rule)


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
        # A mode whose optional extra is missing is shown, disabled, with the command.
        missing = []
        for m in modes.offered():
            if text := modes.missing(m.name):
                item = self.mode.model().item(self.mode.findData(m.name))
                item.setEnabled(False)
                item.setToolTip(text)
                missing.append(text)
        self.missing = QLabel("\n".join(missing))
        self.missing.setWordWrap(True)
        self.missing.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.missing.setVisible(bool(missing))
        self.form.addRow(self.missing)
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
        self.block_size = self.add_row(
            "Int4 scales",
            combo(
                [(0, "one per output channel")]
                + [(b, f"one per block of {b} weights") for b in BLOCK_SIZES if b],
                "Int4 only: how many weights share one scale in Dense and Embedding layers. "
                "Per channel is the smallest file; blocks of 32 follow the weights more "
                "closely (often more accurate) for a few percent more size. Convolutions "
                "always use one scale per channel.",
            ),
        )
        self.op_rules = self.add_row("Per-op rules", OpRulesTable())
        self.mode.currentIndexChanged.connect(self._sync_enabled)
        self.qat.toggled.connect(self._sync_enabled)
        self._sync_enabled()

    def _sync_enabled(self) -> None:
        integer = modes.calibrated(self.mode.currentData())
        self.calibration.setEnabled(integer)
        self.epochs.setEnabled(self.qat.isChecked())
        self.learning_rate.setEnabled(self.qat.isChecked())
        int4 = self.mode.currentData() == "int4"
        self.block_size.setEnabled(int4)
        self.op_rules.setEnabled(int4)

    def set_layers(self, names: Iterable[str]) -> None:
        self.float_layers.set_layers(names)

    def value(self) -> Quantization:
        if not self.isChecked():
            return Quantization()
        int4 = self.mode.currentData() == "int4"
        return Quantization(
            mode=self.mode.currentData(),
            qat=self.qat.isChecked(),
            epochs=self.epochs.value(),
            learning_rate=self.learning_rate.value(),
            calibration_samples=self.calibration.value(),
            io_type=self.io_type.currentData(),
            float_layers=self.float_layers.checked(),
            select_tf_ops=self.select_tf_ops.isChecked(),
            # Shown for int4 only; other modes take neither.
            block_size=self.block_size.currentData() if int4 else 0,
            op_rules=self.op_rules.rules() if int4 else (),
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
        select_value(self.block_size, q.block_size)
        self.op_rules.set_rules(q.op_rules)
