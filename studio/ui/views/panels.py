"""The three technique panels and the recipe editor that holds them.

Each panel is a checkable group box whose widgets map one-to-one onto a section of the
recipe (`studio.values.recipe`).  A panel builds its section through the recipe's own
constructor, so the window validates exactly like the CLI: an impossible combination
is explained with the recipe's message, never silently fixed.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledSlider

from studio.ui.style import set_role
from studio.values.errors import RecipeError
from studio.values.metrics import ModelSummary
from studio.values.recipe import Clustering, Pruning, Quantization, Recipe

QUANT_MODES = [
    ("dynamic", "Dynamic range (int8 weights)"),
    ("float16", "Float16 weights"),
    ("int8", "Full integer int8"),
    ("int16x8", "16x8 (int16 activations)"),
]
INITS = [
    ("kmeans++", "k-means++"),
    ("linear", "Linear"),
    ("density", "Density based"),
    ("random", "Random"),
]


def _combo(items: list[tuple[str, str]], tip: str) -> QComboBox:
    box = QComboBox()
    for value, text in items:
        box.addItem(text, value)
    box.setToolTip(tip)
    return box


def _spin(lo: int, hi: int, value: int, tip: str, suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    box.setSuffix(suffix)
    box.setToolTip(tip)
    return box


def _rate(value: float, tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setDecimals(6)
    box.setRange(0.000001, 1.0)
    box.setSingleStep(0.00001)
    box.setValue(value)
    box.setToolTip(tip)
    return box


def _select(box: QComboBox, value: object) -> None:
    index = box.findData(value)
    if index >= 0:
        box.setCurrentIndex(index)


class LayerPicker(QListWidget):
    """A checklist of the model's layers that a technique can apply to.

    `default_checked` decides what a fresh list means: all layers (pruning,
    clustering) or none (layers kept in float).
    """

    changed = Signal()

    def __init__(self, tip: str, default_checked: bool) -> None:
        super().__init__()
        self.default_checked = default_checked
        self._wanted: set[str] | None = None  # a recipe's choice, kept until layers arrive
        self.setToolTip(tip)
        self.setMaximumHeight(96)
        self.itemChanged.connect(self._on_item_changed)

    def set_layers(self, names: Iterable[str]) -> None:
        self.blockSignals(True)
        self.clear()
        for name in names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            on = self.default_checked if self._wanted is None else name in self._wanted
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            self.addItem(item)
        self.blockSignals(False)
        self.changed.emit()

    def _on_item_changed(self, _item: QListWidgetItem) -> None:
        everything = self.default_checked and len(self.checked()) == self.count()
        self._wanted = None if everything else set(self.checked())
        self.changed.emit()

    def checked(self) -> tuple[str, ...]:
        if not self.count():  # no model summary yet: what a loaded recipe asked for
            return tuple(sorted(self._wanted or ()))
        return tuple(
            self.item(i).text()
            for i in range(self.count())
            if self.item(i).checkState() == Qt.CheckState.Checked
        )

    def chosen(self) -> tuple[str, ...] | None:
        """The recipe's `layers`: None when every layer is ticked."""
        if not self.count():
            return None if self._wanted is None else tuple(sorted(self._wanted))
        picked = self.checked()
        return None if len(picked) == self.count() else picked

    def set_checked(self, names: Iterable[str] | None) -> None:
        """None means every layer (or, for layers kept in float, none)."""
        wanted = None if names is None else set(names)
        self._wanted = wanted
        for i in range(self.count()):
            item = self.item(i)
            on = self.default_checked if wanted is None else item.text() in wanted
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)


class TechniquePanel(QGroupBox):
    """A checkable box: off means the technique is not in the recipe."""

    changed = Signal()

    def __init__(self, title: str, tip: str) -> None:
        super().__init__(title)
        self.setCheckable(True)
        self.setChecked(False)
        self.setToolTip(tip)
        self.form = QFormLayout(self)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.toggled.connect(lambda _on: self.changed.emit())

    def add_row(self, label: str, widget: QWidget) -> QWidget:
        self.form.addRow(label, widget)
        for signal in ("currentIndexChanged", "valueChanged", "toggled", "changed"):
            if hasattr(widget, signal):
                getattr(widget, signal).connect(lambda *_: self.changed.emit())
                break
        return widget

    def set_layers(self, names: Iterable[str]) -> None:
        """Offer these layers (the ones the technique supports) for selection."""


class QuantizationPanel(TechniquePanel):
    def __init__(self) -> None:
        super().__init__(
            "Quantization",
            "Store weights (and, for full integer, activations) in fewer bits. "
            "Smaller and usually faster on phones, at a small cost in accuracy.",
        )
        self.mode = self.add_row(
            "Mode",
            _combo(
                QUANT_MODES,
                "Dynamic range: int8 weights, float maths (no data needed).\n"
                "Float16: half-size weights, best accuracy.\n"
                "Full integer int8: everything in int8, fastest on phone CPUs and NPUs.\n"
                "16x8: int16 activations with int8 weights, for accuracy-sensitive models.",
            ),
        )
        _select(self.mode, "int8")
        self.calibration = self.add_row(
            "Calibration samples",
            _spin(
                1,
                100000,
                100,
                "How many samples are run through the model to find the range of each "
                "activation (full integer and 16x8 only). 100 to 500 is usually enough.",
            ),
        )
        self.io_type = self.add_row(
            "Model input/output",
            _combo(
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
            "QAT epochs", _spin(1, 1000, 1, "Passes over the fine-tune data during QAT.")
        )
        self.learning_rate = self.add_row(
            "QAT learning rate",
            _rate(
                1e-5, "Step size of the QAT fine-tune; keep it small (1e-5) to nudge, not retrain."
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
        self.mode.currentIndexChanged.connect(self._sync_enabled)
        self.qat.toggled.connect(self._sync_enabled)
        self._sync_enabled()

    def _sync_enabled(self) -> None:
        integer = self.mode.currentData() in ("int8", "int16x8")
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
        )

    def set_value(self, q: Quantization) -> None:
        self.setChecked(q.mode != "none")
        if q.mode != "none":
            _select(self.mode, q.mode)
        self.qat.setChecked(q.qat)
        self.epochs.setValue(q.epochs)
        self.learning_rate.setValue(q.learning_rate)
        self.calibration.setValue(q.calibration_samples)
        _select(self.io_type, q.io_type)
        self.float_layers.set_checked(q.float_layers)


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
            _combo(
                [("polynomial", "Gradual (polynomial)"), ("constant", "Constant")],
                "Gradual raises sparsity from the initial value to the target over the "
                "fine-tune, which is gentler; constant prunes to the target at once.",
            ),
        )
        self.initial = self.add_row(
            "Initial sparsity (%)",
            _spin(0, 94, 0, "Where the gradual schedule starts, in percent.", " %"),
        )
        self.structure = self.add_row(
            "Structure",
            _combo(
                [(None, "Unstructured"), ("2:4", "2:4 structured")],
                "2:4 zeroes 2 of every 4 weights in a fixed pattern that some hardware "
                "accelerates; it always means 50 % sparsity.",
            ),
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
            _spin(1, 1000, 2, "Passes over the fine-tune data while pruning. 2 to 5 is typical."),
        )
        self.learning_rate = self.add_row(
            "Learning rate", _rate(1e-4, "Step size of the pruning fine-tune.")
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
            epochs=self.epochs.value(),
            learning_rate=self.learning_rate.value(),
        )

    def set_value(self, p: Pruning | None) -> None:
        self.setChecked(p is not None)
        if p is None:
            return
        self.sparsity.setValue(round(p.target_sparsity * 100))
        _select(self.schedule, p.schedule)
        self.initial.setValue(round(p.initial_sparsity * 100))
        _select(self.structure, p.structure)
        self.layers.set_checked(p.layers)
        self.epochs.setValue(p.epochs)
        self.learning_rate.setValue(p.learning_rate)


class ClusteringPanel(TechniquePanel):
    def __init__(self) -> None:
        super().__init__(
            "Clustering",
            "Let each layer use only a few distinct weight values. Like pruning, it pays "
            "off once the file is compressed.",
        )
        self.clusters = self.add_row(
            "Clusters",
            _spin(
                2,
                256,
                16,
                "How many distinct values each layer may keep. 16 or 32 usually keeps "
                "accuracy; fewer is smaller but riskier.",
            ),
        )
        self.init = self.add_row(
            "Centroid start",
            _combo(
                INITS,
                "How the initial values are placed. k-means++ is a good default; linear "
                "spreads them evenly; density follows where weights are dense.",
            ),
        )
        self.per_channel = self.add_row("Per channel", QCheckBox("cluster each channel apart"))
        self.per_channel.setToolTip(
            "For convolutions: each output channel gets its own values. More accurate, "
            "slightly larger. Cannot be combined with QAT."
        )
        self.preserve = self.add_row("Keep pruned zeros", QCheckBox("preserve sparsity"))
        self.preserve.setChecked(True)
        self.preserve.setToolTip(
            "When pruning ran first, keep its zeros as zeros while clustering."
        )
        self.layers = self.add_row(
            "Layers",
            LayerPicker("Which layers to cluster.", default_checked=True),
        )
        self.epochs = self.add_row(
            "Fine-tune epochs",
            _spin(0, 1000, 1, "Passes over the fine-tune data after clustering (0: none)."),
        )
        self.learning_rate = self.add_row(
            "Learning rate", _rate(1e-5, "Step size of the clustering fine-tune.")
        )

    def set_layers(self, names: Iterable[str]) -> None:
        self.layers.set_layers(names)

    def value(self) -> Clustering | None:
        if not self.isChecked():
            return None
        return Clustering(
            clusters=self.clusters.value(),
            init=self.init.currentData(),
            per_channel=self.per_channel.isChecked(),
            preserve_sparsity=self.preserve.isChecked(),
            layers=self.layers.chosen(),
            epochs=self.epochs.value(),
            learning_rate=self.learning_rate.value(),
        )

    def set_value(self, c: Clustering | None) -> None:
        self.setChecked(c is not None)
        if c is None:
            return
        self.clusters.setValue(c.clusters)
        _select(self.init, c.init)
        self.per_channel.setChecked(c.per_channel)
        self.preserve.setChecked(c.preserve_sparsity)
        self.layers.set_checked(c.layers)
        self.epochs.setValue(c.epochs)
        self.learning_rate.setValue(c.learning_rate)


class RecipeEditor(QWidget):
    """The three panels, the problem (if any) with their combination, and Run."""

    run_requested = Signal(object)  # Recipe

    def __init__(self) -> None:
        super().__init__()
        self.quantization = QuantizationPanel()
        self.pruning = PruningPanel()
        self.clustering = ClusteringPanel()
        self.limitation = ""  # why this model takes post-training quantization only
        self.blocked = ""  # why nothing can run now (the model did not load), or ""
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        set_role(self.problem, "error")
        self.run_button = QPushButton("Run candidate")
        self.run_button.setToolTip("Queue these settings as a new candidate (Ctrl+R)")
        self.run_button.clicked.connect(self.request_run)
        layout = QVBoxLayout(self)
        for panel in (self.pruning, self.clustering, self.quantization):
            layout.addWidget(panel)
            panel.changed.connect(self.validate)
        layout.addWidget(self.problem)
        layout.addWidget(self.run_button)
        layout.addStretch(1)
        self.quantization.setChecked(True)
        self.validate()

    def set_blocked(self, reason: str) -> None:
        """Disable Run with `reason` shown (e.g. the model failed to load); '' enables."""
        self.blocked = reason
        self.validate()

    def set_layers(self, summary: ModelSummary | None) -> None:
        self.limitation = summary.limitation if summary else ""
        self.pruning.set_layers(summary.names("prunable") if summary else [])
        self.clustering.set_layers(summary.names("clusterable") if summary else [])
        self.quantization.set_layers(summary.names("quantizable") if summary else [])
        self.validate()

    def recipe(self) -> Recipe:
        """The panels' recipe; RecipeError names the field when they do not combine."""
        return Recipe(
            pruning=self.pruning.value(),
            clustering=self.clustering.value(),
            quantization=self.quantization.value(),
        )

    def set_recipe(self, recipe: Recipe) -> None:
        self.pruning.set_value(recipe.pruning)
        self.clustering.set_value(recipe.clustering)
        self.quantization.set_value(recipe.quantization)
        self.validate()

    def validate(self) -> Recipe | None:
        try:
            if self.blocked:
                raise RecipeError(self.blocked)
            recipe = self.recipe()
            needs_keras = recipe.pruning or recipe.clustering or recipe.quantization.qat
            if needs_keras and self.limitation:
                raise RecipeError(
                    f"this model takes post-training quantization only "
                    f"(switch off pruning, clustering and QAT): {self.limitation}"
                )
        except RecipeError as err:
            self.problem.setText(f"Cannot run: {err}")
            self.problem.show()
            self.run_button.setEnabled(False)
            return None
        self.problem.hide()
        self.run_button.setEnabled(True)
        self.run_button.setText(f"Run: {recipe.describe()}")
        return recipe

    def request_run(self) -> None:
        recipe = self.validate()
        if recipe is not None:
            self.run_requested.emit(recipe)
