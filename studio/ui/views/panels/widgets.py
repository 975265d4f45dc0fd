"""What the technique panels share: small input widgets, the layer picker and the
checkable panel they all are."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QWidget,
)

from studio.values.sensitivity import LayerSensitivity

NAME = Qt.ItemDataRole.UserRole  # the layer's name; the text may carry its sensitivity

INITS = [
    ("kmeans++", "k-means++"),
    ("linear", "Linear"),
    ("density", "Density based"),
    ("random", "Random"),
]


def combo(items: list[tuple[str, str]], tip: str) -> QComboBox:
    box = QComboBox()
    for value, text in items:
        box.addItem(text, value)
    box.setToolTip(tip)
    return box


def spin(lo: int, hi: int, value: int, tip: str, suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    box.setSuffix(suffix)
    box.setToolTip(tip)
    return box


def rate(value: float, tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setDecimals(6)
    box.setRange(0.000001, 1.0)
    box.setSingleStep(0.00001)
    box.setValue(value)
    box.setToolTip(tip)
    return box


def select_value(box: QComboBox, value: object) -> None:
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
            item.setData(NAME, name)
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
            self.item(i).data(NAME)
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
            on = self.default_checked if wanted is None else item.data(NAME) in wanted
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def show_sensitivity(self, results: Iterable[LayerSensitivity]) -> tuple[str, ...]:
        """Each layer's drop when treated alone, next to its name; while the choice is
        still the default (every layer), the fragile ones are left out.  Returns the
        layers left out."""
        by_layer = {r.layer: r for r in results}
        left_out = []
        names = [self.item(i).data(NAME) for i in range(self.count())]
        # Leaving every layer out would leave nothing to treat: then the drops are only shown.
        untouched = self._wanted is None and not all(
            name in by_layer and by_layer[name].fragile for name in names
        )
        self.blockSignals(True)
        for i in range(self.count()):
            item = self.item(i)
            r = by_layer.get(item.data(NAME))
            if r is None:
                continue
            mark = "  ⚠" if r.fragile else ""
            item.setText(f"{r.layer}   {r.shown}{mark}")
            alone = (
                f"pruned to {r.setting:.0%}"
                if r.technique == "prune"
                else (f"clustered to {r.setting:.0f} values")
            )
            tip = f"{r.layer} {alone} on its own, without fine-tune: {r.shown}."
            if r.fragile:
                tip += (
                    " That alone breaks the model, so it is left out by default; a "
                    "fine-tune may recover it — tick it to include it anyway."
                )
            item.setToolTip(tip)
            if r.fragile and untouched and self.default_checked:
                item.setCheckState(Qt.CheckState.Unchecked)
                left_out.append(r.layer)
        self.blockSignals(False)
        if left_out:
            self._wanted = set(self.checked())
            self.changed.emit()
        return tuple(left_out)


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
