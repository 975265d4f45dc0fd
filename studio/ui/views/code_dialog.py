"""'Show code': the standalone script that reproduces the selected candidate.

The text comes from a worker (generating it loads the model); the dialog shows it with
Copy and Save buttons.  Saving is atomic, like every file the studio writes.
"""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.ui.style import set_role
from studio.values import atomic
from studio.values.errors import StudioError


class CodeDialog(QDialog):
    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Code — {title}")
        self.resize(820, 640)
        self.note = QLabel(
            "Generating the script… It reproduces this candidate with TensorFlow, tf_keras "
            "and tfmot alone, one commented step at a time."
        )
        self.note.setWordWrap(True)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the whole script to the clipboard")
        self.copy_button.clicked.connect(self.copy)
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save the script as a .py file")
        self.save_button.clicked.connect(self._ask_save)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        for button in (self.copy_button, self.save_button):
            button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.copy_button, self.save_button, close):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.text, 1)
        layout.addLayout(buttons)

    def show_script(self, text: str) -> None:
        self.text.setPlainText(text)
        self.note.setText(
            "Run it with: python reproduce.py [OUT.tflite] (the name you save it under). "
            "It needs no part of the studio."
        )
        self.copy_button.setEnabled(True)
        self.save_button.setEnabled(True)

    def failed(self, message: str) -> None:
        self.note.setText(f"Cannot write a script for this candidate: {message}")
        set_role(self.note, "error")

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text.toPlainText())

    def save(self, path: str) -> bool:
        try:
            atomic.write_text(path, self.text.toPlainText())
        except StudioError as err:
            self.failed(str(err))
            return False
        self.note.setText(f"Saved {path}.")
        return True

    def _ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save script", "reproduce.py", "Python (*.py)")
        if path:
            self.save(path)
