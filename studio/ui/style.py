"""The studio's style sheet (package data) and the one way a widget picks a look from it.

Colours used to be scattered as inline style sheets; one file keeps them consistent and
lets a packager or a user theme the studio without touching code.
"""

from __future__ import annotations

from PySide6.QtWidgets import QApplication, QWidget

from studio.values.resources import STYLE


def apply(app: QApplication) -> None:
    app.setStyleSheet(STYLE.read_text(encoding="utf-8"))


def set_role(widget: QWidget, role: str) -> None:
    """Give `widget` the look of `role` in studio.qss ("error", "warning", "hint", "quiet", "status")."""
    widget.setProperty("role", role)
    widget.style().unpolish(widget)  # Qt re-reads property selectors only on a re-polish
    widget.style().polish(widget)
