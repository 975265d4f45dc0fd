"""A short welcome on the first run: what the demo is and what to try first.

Shown above the plots until the user dismisses it (remembered in QSettings), so the first
launch says where to start without a wizard in the way.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

TEXT = (
    "<b>Welcome!</b> This is the bundled demo: a small handwritten-digits model and its "
    "data. Try first: with <b>Quantization</b> on (full integer int8), press <b>Run</b> "
    "(Ctrl+R); then add <b>Pruning</b> at 80 % and <b>Clustering</b> with 16 clusters and "
    "run again, and watch the points move on the plots. <b>Run → Sweep…</b> tries a whole "
    "grid at once. Open your own model with Ctrl+O or by dropping a file here."
)


REFUSED_TEXT = (
    "<b>{name}</b> was not opened (Model &amp; data says why). Open another model with "
    "Ctrl+O, or the bundled demo with File → Open the demo."
)

MODEL_TEXT = (
    "<b>Welcome!</b> <b>{name}</b> is open. Once its float baseline is measured (Model "
    "&amp; data), try first: <b>Quantization</b> on (full integer int8) and <b>Run</b> "
    "(Ctrl+R); then <b>Pruning</b> and <b>Clustering</b> — the layer lists show which "
    "layers break your model on their own, and leave them out. <b>Run → Sweep…</b> tries "
    "a whole grid at once."
)


class WelcomePanel(QFrame):
    dismissed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("welcome")  # its frame is drawn by studio.qss
        self.text = text = QLabel(TEXT)
        text.setWordWrap(True)
        close = QPushButton("Got it")
        close.setToolTip("Hide this welcome; it will not come back")
        close.clicked.connect(self._dismiss)
        layout = QHBoxLayout(self)
        layout.addWidget(text, 1)
        layout.addWidget(close)

    def set_model(self, name: str | None) -> None:
        """What the welcome talks about: the bundled demo (None) or the user's model."""
        self.text.setText(TEXT if name is None else MODEL_TEXT.format(name=escape(name)))

    def set_refused(self, name: str) -> None:
        """The model was not opened (refused, or it failed to load): say so, not that
        it is open."""
        self.text.setText(REFUSED_TEXT.format(name=escape(name)))

    def _dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()
