"""The studio's style sheet (package data) and the one way a widget picks a look from it.

Colours used to be scattered as inline style sheets; one file keeps them consistent and
lets a packager or a user theme the studio without touching code.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

from studio.values.resources import STYLE


def apply(app: QApplication) -> None:
    app.setStyleSheet(STYLE.read_text(encoding="utf-8"))


def set_role(widget: QWidget, role: str) -> None:
    """Give `widget` the look of `role` in studio.qss ("error", "warning", "hint", "quiet", "status")."""
    widget.setProperty("role", role)
    if not widget.testAttribute(Qt.WidgetAttribute.WA_WState_Polished):
        return  # polished when first shown, with the role: a sweep's new job rows skip ~5 ms
    widget.style().unpolish(widget)  # Qt re-reads property selectors only on a re-polish
    widget.style().polish(widget)


def light_grid(plot) -> None:
    """A faint grid on a pyqtgraph plot, at the labelled ticks only.

    pyqtgraph's grid also draws the unlabelled sub-minor level, about four times the
    lines: a repaint of one trade-off plot took 11 ms instead of 2.6 ms (660x330,
    offscreen), and the plots repaint on every result of a sweep.
    """
    plot.showGrid(x=True, y=True, alpha=0.2)
    for side in ("left", "bottom"):
        plot.getAxis(side).setStyle(maxTickLevel=1)
