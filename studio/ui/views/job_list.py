"""The job list: every queued or running candidate with its progress and a cancel button.

A row appears when a candidate is queued and goes away when it ends (its outcome is in
the results table and the log).  Rows are keyed by candidate id.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QProgressBar,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.ui.style import set_role


class JobRow(QWidget):
    def __init__(self, candidate_id: int, title: str) -> None:
        super().__init__()
        self.candidate_id = candidate_id
        self.title = QLabel(f"<b>c{candidate_id:03d}</b> {title}")
        self.stage = QLabel("waiting for a worker")
        set_role(self.stage, "hint")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.bar.setFormat("%p%")
        self.cancel = QToolButton()
        self.cancel.setText("Cancel")
        self.cancel.setToolTip("Stop this candidate now (its worker is restarted)")
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.addWidget(self.title, 0, 0)
        grid.addWidget(self.cancel, 0, 1, 2, 1)
        grid.addWidget(self.bar, 1, 0)
        grid.addWidget(self.stage, 2, 0, 1, 2)

    def show_progress(self, fraction: float, stage: str) -> None:
        self.bar.setValue(round(1000 * fraction))
        self.stage.setText(stage)


class JobList(QScrollArea):
    cancel_requested = Signal(int)
    row_clicked = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.setWidgetResizable(True)
        inner = QWidget()
        self._layout = QVBoxLayout(inner)
        self._layout.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.empty = QLabel("No candidates running. Set the panels and press Run (Ctrl+R).")
        set_role(self.empty, "quiet")
        self._layout.addWidget(self.empty)
        self.setWidget(inner)
        self.rows: dict[int, JobRow] = {}

    def add(self, candidate_id: int, title: str) -> None:
        row = JobRow(candidate_id, title)
        row.cancel.clicked.connect(lambda: self.cancel_requested.emit(candidate_id))
        row.mousePressEvent = lambda _e: self.row_clicked.emit(candidate_id)
        self.rows[candidate_id] = row
        self._layout.addWidget(row)
        self.empty.hide()

    def update_row(self, candidate_id: int, fraction: float, stage: str) -> None:
        if candidate_id in self.rows:
            self.rows[candidate_id].show_progress(fraction, stage)

    def remove(self, candidate_id: int) -> None:
        row = self.rows.pop(candidate_id, None)
        if row is not None:
            row.deleteLater()
        self.empty.setVisible(not self.rows)

    def clear(self) -> None:
        for candidate_id in list(self.rows):
            self.remove(candidate_id)
