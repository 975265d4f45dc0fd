"""The results table: one row per candidate, sortable by any figure.

Cells show rounded figures, while the sort role holds raw numbers, so sorting by size
or accuracy is numeric.  Rows are candidates in the order they were queued; the view
sorts through a proxy, and selection is exchanged by candidate id, never by row.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from studio.values import figures, units
from studio.values.metrics import Metrics
from studio.values.session import Candidate

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ID_ROLE = Qt.ItemDataRole.UserRole + 2
Index = QModelIndex | QPersistentModelIndex


# (header, tooltip, value from (candidate, baseline), text of the value)
Column = tuple[str, str, Callable[[Candidate, Metrics | None], object], Callable[[object], str]]


def _warnings(c: Candidate) -> list[str]:
    return [f.message for f in c.metrics.flags] if c.metrics else []


def _tooltip(c: Candidate) -> str:
    if c.message:
        return c.message
    said = [f"⚠ {w}" for w in _warnings(c)]
    notes = units.speed_notes(c.metrics) if c.metrics else []
    said += [textwrap.fill(f"ℹ {n}", 100, subsequent_indent="   ") for n in notes]
    return "\n".join(said) + f"\n\n{c.recipe.to_json()}" if said else c.recipe.to_json()


def _fig(read: Callable[[Metrics, Metrics | None], float | None]):
    def value(c: Candidate, base: Metrics | None) -> float | None:
        return read(c.metrics, base) if c.metrics else None

    return value


COLUMNS: list[Column] = [
    ("#", "Candidate number", lambda c, b: c.id, lambda v: f"c{v:03d}"),
    ("Recipe", "The techniques of this candidate", lambda c, b: c.label, str),
    (
        "Status",
        "queued, running, done (⚠: warnings, see the tooltip), broken (the file is not what "
        "the recipe asked), failed or cancelled",
        lambda c, b: (
            c.status
            + (" ⚠" if c.status == "done" and _warnings(c) else "")
            + (" (hidden)" if c.hidden else "")
        ),
        str,
    ),
    # Then every figure the table shows (studio/values/figures.py).
    *((f.title, f.tooltip, _fig(f.read), f.text) for f in figures.shown_in(figures.TABLE)),
]

# The widest text each column shows (units' formats are bounded), so widths are set once
# from font metrics.  ResizeToContents re-measured every cell of every row on each
# change: ~1,000 `data` calls per result in a 12-candidate sweep, and columns that
# jumped as results arrived.  The recipe column takes the rest of the width.
WIDEST = {
    "#": "c000",
    "Status": "interrupted",  # " (hidden)" may elide: a hidden row is greyed out anyway
    **{f.title: f.widest for f in figures.shown_in(figures.TABLE) if f.widest},
}
CELL_PADDING = 12  # the style's margins around a cell's text, both sides together

ROLES = {
    int(role)
    for role in (
        Qt.ItemDataRole.DisplayRole,
        Qt.ItemDataRole.ToolTipRole,
        Qt.ItemDataRole.ForegroundRole,
        Qt.ItemDataRole.TextAlignmentRole,
        Qt.ItemDataRole.FontRole,
        SORT_ROLE,
        ID_ROLE,
    )
}
HIDDEN_COLOR = QColor("#999")
STATUS_COLORS = {
    "failed": QColor("#b00020"),
    "broken": QColor("#b00020"),
    "cancelled": QColor("#777"),
    "interrupted": QColor("#777"),
    "missing": QColor("#b00020"),
}


class ResultsModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self._rows: list[Candidate] = []
        self._cells: list[list[tuple[str, object]]] = []  # (text, sort value) per column
        self._baseline: Metrics | None = None
        self.recommended: set[int] = set()

    def _cells_of(self, candidate: Candidate) -> list[tuple[str, object]]:
        """A row's texts and sort values, worked out once per change of the row: a view
        asks for them on every paint and every sort comparison."""
        cells = []
        for _, _, read, show in COLUMNS:
            value = read(candidate, self._baseline)
            cells.append(("", float("inf")) if value is None else (show(value), value))
        return cells

    def set_data(self, candidates: list[Candidate], baseline: Metrics | None) -> None:
        self.beginResetModel()
        self._rows, self._baseline = list(candidates), baseline
        self._cells = [self._cells_of(c) for c in self._rows]
        self.endResetModel()

    def upsert(self, candidate: Candidate) -> None:
        for row, old in enumerate(self._rows):
            if old.id == candidate.id:
                self._rows[row] = candidate
                self._cells[row] = self._cells_of(candidate)
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
                return
        self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows))
        self._rows.append(candidate)
        self._cells.append(self._cells_of(candidate))
        self.endInsertRows()

    def remove(self, candidate_id: int) -> None:
        row = self.row_of(candidate_id)
        if row is not None:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            del self._cells[row]
            self.endRemoveRows()

    def row_of(self, candidate_id: int) -> int | None:
        return next((r for r, c in enumerate(self._rows) if c.id == candidate_id), None)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return COLUMNS[section][1]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if role not in ROLES:  # a view asks ~10 roles per cell per paint; most are unused
            return None
        candidate = self._rows[index.row()]
        if role == ID_ROLE:
            return candidate.id
        text, sort_value = self._cells[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return text
        if role == SORT_ROLE:
            return sort_value
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(candidate)
        if role == Qt.ItemDataRole.ForegroundRole:
            return HIDDEN_COLOR if candidate.hidden else STATUS_COLORS.get(candidate.status)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() >= 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and candidate.id in self.recommended:
            font = QFont()
            font.setBold(True)
            return font
        return None


class ResultsTable(QTableView):
    menu_requested = Signal(int, object)  # candidate id, global position: right click
    candidate_selected = Signal(object)  # candidate id, or None

    def __init__(self) -> None:
        super().__init__()
        self.results = ResultsModel()
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.results)
        self.proxy.setSortRole(SORT_ROLE)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setAlternatingRowColors(True)
        self.verticalHeader().hide()
        self.setWordWrap(False)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.horizontalHeader()
        header.setMinimumSectionSize(48)
        metrics = self.fontMetrics()
        for column, (title, *_) in enumerate(COLUMNS):
            if title in WIDEST:
                text = metrics.horizontalAdvance(WIDEST[title]) + CELL_PADDING
                header.resizeSection(column, max(text, header.sectionSizeHint(column)))
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.setMinimumWidth(600)
        self.selectionModel().selectionChanged.connect(self._on_selection)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._on_menu)

    def selected_id(self) -> int | None:
        rows = self.selectionModel().selectedRows()
        return rows[0].data(ID_ROLE) if rows else None

    def select(self, candidate_id: int | None) -> None:
        if candidate_id == self.selected_id():
            return
        row = None if candidate_id is None else self.results.row_of(candidate_id)
        if row is None:
            self.clearSelection()
            return
        index = self.proxy.mapFromSource(self.results.index(row, 0))
        self.selectionModel().select(
            index,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )
        self.scrollTo(index)

    def reveal(self, candidate_id: int) -> None:
        """Scroll a candidate's row into view, without selecting it."""
        row = self.results.row_of(candidate_id)
        if row is not None:
            self.scrollTo(self.proxy.mapFromSource(self.results.index(row, 0)))

    def _on_selection(self, *_args) -> None:
        self.candidate_selected.emit(self.selected_id())

    def _on_menu(self, pos) -> None:
        index = self.indexAt(pos)
        if index.isValid():
            self.menu_requested.emit(index.data(ID_ROLE), self.viewport().mapToGlobal(pos))
