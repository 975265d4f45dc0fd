"""Preferences: how many worker processes (and when idle ones are released), how many
threads each of them uses, and how many LiteRT threads to measure with.

Workers take effect at the next start (each one holds its own TensorFlow, so resizing a
running pool would cancel jobs); threads apply to the next candidate queued.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox, QWidget

from studio.ui.style import set_role
from studio.values import processes


class PreferencesDialog(QDialog):
    """Shows the current choices; the caller reads the spin boxes after `exec()`."""

    def __init__(
        self,
        *,
        workers: int,
        threads: int,
        idle_minutes: int,
        default_workers: int,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        cores = processes.cores()
        self.workers = QSpinBox()
        self.workers.setRange(1, max(1, 2 * cores))
        self.workers.setValue(workers)
        self.workers.setToolTip(
            f"How many candidates run at the same time. Each worker holds its own "
            f"TensorFlow (about 1-3 GB). Default for this machine: {default_workers}. "
            f"Takes effect at the next start."
        )
        # Shown, not chosen: more threads than cores per busy worker only slows them all.
        self.worker_threads = QLabel()
        self.worker_threads.setToolTip(
            "TensorFlow (fine-tunes, conversion) and LiteRT (scoring) in each worker use "
            "this many threads, so that every worker busy in a sweep still adds up to no "
            "more than the machine's cores. Workers also run at a lower priority than this "
            "window, which stays smooth while they work."
        )
        self.workers.valueChanged.connect(self._show_worker_threads)
        self._show_worker_threads(workers)
        self.threads = QSpinBox()
        self.threads.setRange(1, max(1, cores))
        self.threads.setValue(threads)
        self.threads.setToolTip(
            "CPU threads LiteRT uses when measuring latency. Phones often run models on "
            "1 to 4 threads; 1 is the LiteRT default. Applies to candidates queued from now on."
        )
        self.idle = QSpinBox()
        self.idle.setRange(0, 24 * 60)
        self.idle.setSuffix(" min")
        self.idle.setSpecialValueText("never")
        self.idle.setValue(idle_minutes)
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
        form.addRow("Threads per worker", self.worker_threads)
        form.addRow("LiteRT threads for latency", self.threads)
        form.addRow("Release idle workers after", self.idle)
        form.addRow(note)
        form.addRow(buttons)

    def _show_worker_threads(self, workers: int) -> None:
        n, cores = processes.threads_per_worker(workers), processes.cores()
        share = "its share of" if n * workers <= cores else "at least one of"
        self.worker_threads.setText(
            f"{n} ({share} {cores} core{'s' * (cores != 1)}, at a lower priority)"
        )
