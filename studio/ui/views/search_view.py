"""The Search tab: how far the search is, then why its answer won, in the
words of `studio.values.autotune.explain` (the same as autotune.json and the CLI)."""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QPushButton, QTextBrowser, QVBoxLayout, QWidget

from studio.ui.style import set_role

EMPTY = (
    "No automatic search in this session. Run → Find the best within budget… "
    "(Ctrl+Shift+B) searches pruning, clustering and quantization for the smallest "
    "model within your accuracy budget and explains its choice here."
)


class SearchView(QWidget):
    start_requested = Signal()
    winner_requested = Signal(str)  # the answer's candidate name: select it

    def __init__(self) -> None:
        super().__init__()
        self.status = QLabel(EMPTY)
        self.status.setWordWrap(True)
        set_role(self.status, "hint")
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        self.text.anchorClicked.connect(lambda url: self.winner_requested.emit(url.toString()))
        self.start = QPushButton("Find the best within budget…")
        self.start.setToolTip("Start an automatic search on this model (a new session)")
        self.start.clicked.connect(self.start_requested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.status)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.start)
        self.show_lines("", [])

    def show_lines(self, status: str, lines: list[str], winner: str | None = None) -> None:
        """`status` above (or the empty text), the explanation's lines as a list; the
        winner's name is a link that selects it."""
        self.status.setText(status or (EMPTY if not lines else ""))
        self.status.setVisible(bool(status) or not lines)
        self.text.setVisible(bool(lines))
        self.start.setVisible(not lines)  # then the room is the explanation's (Run menu)
        items = []
        for line in lines:
            shown = html.escape(line)
            if winner:
                link = f'<a href="{html.escape(winner)}">{html.escape(winner)}</a>'
                shown = shown.replace(html.escape(winner), link, 1)
            items.append(f"<li>{shown}</li>")
        self.text.setHtml(f"<ul style='margin-left:-20px'>{''.join(items)}</ul>")
