"""Preferences: how many worker processes, and how many LiteRT threads to measure with.

Workers take effect at the next start (each one holds its own TensorFlow, so resizing a
running pool would cancel jobs); threads apply to the next candidate queued.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox, QWidget

from studio.jobs.pool import default_size
from studio.ui.style import set_role

WORKERS_KEY = "jobs/workers"
THREADS_KEY = "measure/threads"


def workers(settings: QSettings) -> int:
    """The chosen pool size, or what the machine's cores and memory allow."""
    return int(settings.value(WORKERS_KEY, 0) or 0) or default_size()


def threads(settings: QSettings) -> int:
    return max(1, int(settings.value(THREADS_KEY, 1) or 1))


class PreferencesDialog(QDialog):
    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.settings = settings
        cores = os.cpu_count() or 1
        self.workers = QSpinBox()
        self.workers.setRange(1, max(1, 2 * cores))
        self.workers.setValue(workers(settings))
        self.workers.setToolTip(
            f"How many candidates run at the same time. Each worker holds its own "
            f"TensorFlow (about 1-3 GB). Default for this machine: {default_size()}. "
            f"Takes effect at the next start."
        )
        self.threads = QSpinBox()
        self.threads.setRange(1, max(1, cores))
        self.threads.setValue(threads(settings))
        self.threads.setToolTip(
            "CPU threads LiteRT uses when measuring latency. Phones often run models on "
            "1 to 4 threads; 1 is the LiteRT default. Applies to candidates queued from now on."
        )
        note = QLabel("Worker processes change at the next start of the studio.")
        set_role(note, "hint")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Worker processes", self.workers)
        form.addRow("LiteRT threads for latency", self.threads)
        form.addRow(note)
        form.addRow(buttons)

    def accept(self) -> None:
        self.settings.setValue(WORKERS_KEY, self.workers.value())
        self.settings.setValue(THREADS_KEY, self.threads.value())
        super().accept()
