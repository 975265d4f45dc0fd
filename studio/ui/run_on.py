"""The "Run on" row of the sweep and search dialogs: this machine or a Ray cluster.

The choices come from `studio.values.cluster.PLACES`.  "Test connection" only asks
(signal `test_requested`); whoever owns the dialog connects in the background and shows
the answer with `show_result`, so the dialog stays responsive while Ray answers.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.ui.style import set_role
from studio.values.cluster import PLACES, Cluster, missing
from studio.values.errors import StudioError


class RunOn(QWidget):
    test_requested = Signal(str)  # the address to try

    def __init__(
        self, place: str = "local", address: str = "auto", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.where = QComboBox()
        for name, p in PLACES.items():
            self.where.addItem(p.label, name)
            index = self.where.count() - 1
            problem = missing(name)
            self.where.setItemData(index, problem or p.tooltip, Qt.ItemDataRole.ToolTipRole)
            if problem:  # shown, not choosable, saying how to install
                self.where.model().item(index).setEnabled(False)
        self.where.setToolTip("Where the candidates run; the choice is remembered.")
        self.address = QLineEdit(address or "auto")
        self.address.setPlaceholderText("auto, HOST:6379 or ray://HOST:10001")
        self.address.setToolTip(
            "The Ray cluster: auto (this machine is one of its nodes), the head's "
            "HOST:PORT, or ray://HOST:10001 from a machine outside it. Keep the cluster "
            "on a private network: anyone who reaches its head can run code on it."
        )
        self.test = QPushButton("Test connection")
        self.test.setToolTip("Connect, and show the cluster's nodes, CPUs and versions")
        self.test.clicked.connect(self._ask)
        self.status = QLabel()
        self.status.setWordWrap(True)
        set_role(self.status, "hint")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.where)
        row.addWidget(self.address, 1)
        row.addWidget(self.test)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(row)
        column.addWidget(self.status)
        chosen = self.where.findData(place)
        if chosen >= 0 and not missing(place):
            self.where.setCurrentIndex(chosen)
        self.where.currentIndexChanged.connect(self._update)
        self._update()

    def place(self) -> str:
        return str(self.where.currentData())

    def cluster(self) -> Cluster | None:
        """The cluster chosen (None: this machine); raises StudioError for a bad address."""
        if self.place() == "local":
            return None
        return Cluster(address=self.address.text())

    def show_result(self, text: str, ok: bool) -> None:
        self.test.setEnabled(self.place() != "local")
        set_role(self.status, "status" if ok else "error")
        self.status.setText(text)

    def _ask(self) -> None:
        try:
            cluster = self.cluster()
        except StudioError as err:
            self.show_result(str(err), False)
            return
        if cluster is None:
            return
        self.test.setEnabled(False)
        set_role(self.status, "hint")
        self.status.setText(f"Connecting to {cluster.address} …")
        self.test_requested.emit(cluster.address)

    def _update(self) -> None:
        remote = self.place() != "local"
        self.address.setEnabled(remote)
        self.test.setEnabled(remote)
        self.status.setVisible(remote)
        if remote and not self.status.text():
            self.status.setText(
                "Candidates run on the cluster and their files come back here; the float "
                "baseline and the final timing run on this machine."
            )

