"""Preferences: how many worker processes (and when idle ones are released), and how
many LiteRT threads to measure with.

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
IDLE_KEY = "jobs/idle_minutes"
DEFAULT_IDLE_MINUTES = 10


def workers(settings: QSettings) -> int:
    """The chosen pool size, or what the machine's cores and memory allow."""
    return int(settings.value(WORKERS_KEY, 0) or 0) or default_size()


def idle_timeout_s(settings: QSettings) -> float | None:
    """Seconds after which an idle worker is released (None: never)."""
    minutes = int(settings.value(IDLE_KEY, DEFAULT_IDLE_MINUTES) or 0)
    return 60.0 * minutes if minutes > 0 else None


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
        self.idle = QSpinBox()
        self.idle.setRange(0, 24 * 60)
        self.idle.setSuffix(" min")
        self.idle.setSpecialValueText("never")
        minutes = idle_timeout_s(settings)
        self.idle.setValue(int(minutes // 60) if minutes else 0)
        self.idle.setToolTip(
            "An idle worker still holds about 1 GB of memory (its TensorFlow). After this "
            "many minutes without work it is stopped, and started again (a few seconds) "
            "when a job needs it. 0 = never."
        )
        note = QLabel("Worker processes and their release change at the next start.")
        set_role(note, "hint")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Worker processes", self.workers)
        form.addRow("LiteRT threads for latency", self.threads)
        form.addRow("Release idle workers after", self.idle)
        form.addRow(note)
        form.addRow(buttons)

    def accept(self) -> None:
        self.settings.setValue(WORKERS_KEY, self.workers.value())
        self.settings.setValue(THREADS_KEY, self.threads.value())
        self.settings.setValue(IDLE_KEY, self.idle.value())
        super().accept()
