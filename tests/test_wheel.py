"""Value widgets take the wheel only when focused (studio.ui.wheel)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QScrollArea, QSpinBox, QVBoxLayout, QWidget

from studio.ui.wheel import guard_wheel


def _wheel(widget: QWidget) -> None:
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(
        centre,
        QPointF(widget.mapToGlobal(widget.rect().center())),
        QPoint(0, 0),
        QPoint(0, -120),  # one notch towards the user: scroll down / value down
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_an_unfocused_spin_box_lets_the_panel_scroll_and_keeps_its_value(qtbot):
    area = QScrollArea()
    inner = QWidget()
    column = QVBoxLayout(inner)
    spins = [QSpinBox() for _ in range(40)]
    for spin in spins:
        spin.setRange(0, 1000)
        spin.setValue(100)
        column.addWidget(spin)
    area.setWidget(inner)
    area.resize(200, 200)
    qtbot.addWidget(area)
    guard_wheel(area)
    area.show()
    qtbot.waitExposed(area)

    _wheel(spins[2])
    assert spins[2].value() == 100  # the value under the cursor did not move
    assert area.verticalScrollBar().value() > 0  # the panel scrolled instead

    spins[2].setFocus()
    qtbot.waitUntil(spins[2].hasFocus)
    _wheel(spins[2])
    assert spins[2].value() == 99  # focused: the wheel is the user's intent


def test_the_window_guards_its_panels(qtbot, tmp_path):
    from studio.ui.views.panels import RecipeEditor

    editor = RecipeEditor()
    qtbot.addWidget(editor)
    guard_wheel(editor)
    spin = editor.quantization.findChild(QSpinBox)
    before = spin.value()
    _wheel(spin)
    assert spin.value() == before
    assert spin.focusPolicy() == Qt.FocusPolicy.StrongFocus
