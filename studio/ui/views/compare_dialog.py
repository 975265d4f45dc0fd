"""Two candidates side by side (right click a row → Compare with): every recipe field,
every figure, every layer's weights as read back from the files.  Rows that differ are
bold and tinted; "Only differences" hides the rest.  The rows come from
`studio.values.compare`, so this view only lays them out.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.values.compare import compare
from studio.values.metrics import Metrics
from studio.values.session import Candidate

SECTIONS = {"recipe": "Recipe", "figures": "Figures", "layers": "Layers (from the .tflite)"}
DIFFERS = QBrush(QColor("#fff3d6"))
SECTION = QBrush(QColor("#e8eef6"))


class CompareDialog(QDialog):
    explore_requested = Signal()  # "Open both in Model Explorer"

    def __init__(
        self, a: Candidate, b: Candidate, baseline: Metrics | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Compare {a.name} and {b.name}")
        self.rows = compare(a, b, baseline)
        differing = sum(r.differs for r in self.rows if r.section != "recipe" or r.name != "label")
        intro = QLabel(
            f"<b>{a.name}</b> {a.label} &nbsp;vs&nbsp; <b>{b.name}</b> {b.label}<br>"
            f"{differing} rows differ (bold). Layer rows list each weight tensor: its type, "
            "its share of zeros and how many distinct values it holds."
        )
        intro.setWordWrap(True)
        self.only_differences = QCheckBox("Only differences")
        self.only_differences.toggled.connect(self._filter)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["", a.name, b.name])
        self.table.verticalHeader().hide()
        # Rows as tall as their wrapped text: the speed advice and the dense-vs-sparse
        # row are sentences, not figures.
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self._fill()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        self.explore = buttons.addButton(
            "Open both in Model Explorer", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.explore.setToolTip(
            "Both graphs side by side in Google's Model Explorer (a local web page, its "
            "split view), each with its own figures on its operators"
        )
        self.explore.setEnabled(a.status == "done" and b.status == "done")
        self.explore.clicked.connect(self.explore_requested)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.only_differences)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(900, 640)

    def _fill(self) -> None:
        bold = QFont()
        bold.setBold(True)
        section = None
        self._row_of: list[object] = []  # per table row: a compare Row, or a section title
        for row in self.rows:
            if row.section != section:
                section = row.section
                r = self.table.rowCount()
                self.table.insertRow(r)
                title = QTableWidgetItem(SECTIONS[section])
                title.setFont(bold)
                for c in range(3):
                    item = title if c == 0 else QTableWidgetItem("")
                    item.setBackground(SECTION)
                    self.table.setItem(r, c, item)
                self._row_of.append(section)
            r = self.table.rowCount()
            self.table.insertRow(r)
            for c, text in enumerate((row.name, row.a, row.b)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if row.differs:
                    item.setFont(bold)
                    item.setBackground(DIFFERS)
                self.table.setItem(r, c, item)
            self._row_of.append(row)

    def _filter(self, only: bool) -> None:
        for r, row in enumerate(self._row_of):
            hide = only and not isinstance(row, str) and not row.differs
            self.table.setRowHidden(r, hide)

    def shown(self) -> list[tuple[str, str, str]]:
        """The visible rows as text (what a user reads; for tests)."""
        return [
            tuple(self.table.item(r, c).text() for c in range(3))
            for r in range(self.table.rowCount())
            if not self.table.isRowHidden(r)
        ]
