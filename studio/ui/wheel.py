"""Spin boxes, combo boxes and sliders take the mouse wheel only when focused.

Qt gives the wheel to whatever value widget is under the cursor, so scrolling a panel
past one changes it: a user scrolling the Techniques panel moved Calibration samples from
100 to 95 without noticing.  Guarded widgets take focus by click or Tab (not by wheel)
and pass an unfocused wheel on to the scroll area around them.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QScrollBar,
    QWidget,
)

GUARDED = (QAbstractSpinBox, QComboBox, QAbstractSlider)


class _WheelGuard(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.Wheel and not watched.hasFocus():
            # Qt does not pass a filtered event on to the parent: hand it to the scroll
            # area around the widget ourselves.
            area = watched.parent()
            while area is not None and not isinstance(area, QAbstractScrollArea):
                area = area.parent()
            if area is not None:
                QCoreApplication.sendEvent(area.viewport(), event)
            return True
        return False


_GUARD = _WheelGuard()


def guard_wheel(root: QWidget) -> None:
    """Guard every value widget under `root` (call once its children exist)."""
    for widget in root.findChildren(QWidget):
        if isinstance(widget, GUARDED) and not isinstance(widget, QScrollBar):
            widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            widget.installEventFilter(_GUARD)
