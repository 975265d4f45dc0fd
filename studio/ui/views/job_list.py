"""The job list: everything the workers are doing for this session.

Candidates (queued or running) each have a row with progress, time spent and time left,
and a cancel button; the session's own tasks (the float baseline, a diagnosis, the
per-layer sensitivity pass, a script) have a row while they run, so the list never says
"nothing running" while a worker is busy.  A row goes away when its job ends (outcomes
are in the results table and the log).  The header counts a batch (a sweep, or runs
queued while others were still going): "7 of 12 done".
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qdebounced

from studio.ui.progress_bar import ProgressBar
from studio.ui.style import set_role
from studio.values import units

WAITING = "waiting for a worker"


def _drop(row: QWidget) -> None:
    """Hidden at once (a deferred delete waits for the event loop, and the list must not
    show a finished job beside "Nothing running"), deleted later."""
    row.hide()
    row.deleteLater()


class JobRow(QWidget):
    def __init__(self, title: str, *, cancellable: bool = True) -> None:
        super().__init__()
        self.title = QLabel(title)
        self.title.setWordWrap(True)
        self.stage = QLabel(WAITING)
        self.stage.setWordWrap(True)  # the Jobs tab is ~320 pixels wide at 1366x768
        set_role(self.stage, "hint")
        self.time = QLabel("")
        set_role(self.time, "hint")
        self.bar = ProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.bar.setFormat("%p%")
        self.cancel = QToolButton()
        self.cancel.setText("Cancel")
        self.cancel.setToolTip("Stop this candidate now (its worker is restarted)")
        self.cancel.setVisible(cancellable)
        self.started_at: float | None = None
        self.fraction = 0.0
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.addWidget(self.title, 0, 0)
        grid.addWidget(self.cancel, 0, 1, 2, 1)
        grid.addWidget(self.bar, 1, 0)
        grid.addWidget(self.stage, 2, 0)
        grid.addWidget(self.time, 2, 1)

    @property
    def running(self) -> bool:
        return self.started_at is not None

    def show_progress(self, fraction: float, stage: str) -> None:
        if self.started_at is None and stage and stage != WAITING:
            self.started_at = time.monotonic()
        self.fraction = fraction
        self.bar.setValue(round(1000 * fraction))
        _set_text(self.stage, stage)
        self.tick()

    def busy(self) -> None:
        """A task with no fraction to show: a moving bar and the time spent."""
        self.bar.setRange(0, 0)
        self.started_at = time.monotonic()
        self.stage.setText("running")
        self.tick()

    def tick(self) -> None:
        """Time spent, and left once enough is done to estimate it from the fraction."""
        if self.started_at is None:
            _set_text(self.time, "")
            return
        spent = time.monotonic() - self.started_at
        text = units.clock(spent)
        if 0.05 <= self.fraction < 1:
            text += f" · about {units.clock(spent * (1 - self.fraction) / self.fraction)} left"
        _set_text(self.time, text)


def _set_text(label: QLabel, text: str) -> None:
    """Every row is refreshed on every progress event: a label whose text did not change
    is left alone, because a new text lays out the whole (word-wrapping) list again."""
    if label.text() != text:
        label.setText(text)


class JobList(QScrollArea):
    cancel_requested = Signal(int)
    row_clicked = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.setWidgetResizable(True)
        # Rows wrap their text instead of scrolling sideways in a narrow Jobs tab.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        inner = QWidget()
        self._layout = QVBoxLayout(inner)
        self._layout.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.header = QLabel("")
        self._layout.addWidget(self.header)
        self.empty = QLabel("Nothing running. Set the panels and press Run (Ctrl+R).")
        self.empty.setWordWrap(True)
        set_role(self.empty, "quiet")
        self._layout.addWidget(self.empty)
        self.setWidget(inner)
        self.rows: dict[int, JobRow] = {}  # candidates
        self.tasks: dict[int, JobRow] = {}  # the session's own jobs, by job id
        self.batch_total = self.batch_done = 0
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self._tick)
        self._newest: JobRow | None = None
        self._reveal = qdebounced(self._show_newest, timeout=0, parent=self)
        self._sync()

    def _show_newest(self) -> None:
        row, self._newest = self._newest, None
        # A row removed meanwhile (its job ended) may already be deleted: only live ones.
        if row is not None and any(row is live for live in self.rows.values()):
            self.ensureWidgetVisible(row)

    def add(self, candidate_id: int, title: str) -> None:
        row = JobRow(f"<b>c{candidate_id:03d}</b> {title}")
        row.cancel.clicked.connect(lambda: self.cancel_requested.emit(candidate_id))
        row.mousePressEvent = lambda _e: self.row_clicked.emit(candidate_id)
        self.rows[candidate_id] = row
        self._layout.addWidget(row)
        self.batch_total += 1
        self._sync()
        # A new row is often below the fold: show it, once per event-loop turn (a sweep
        # adds twelve at once, and scrolling to each in turn was a visible stall).
        self._newest = row
        self._reveal()

    def update_row(self, candidate_id: int, fraction: float, stage: str) -> None:
        if candidate_id in self.rows:
            self.rows[candidate_id].show_progress(fraction, stage)
            self._sync()

    def remove(self, candidate_id: int) -> None:
        row = self.rows.pop(candidate_id, None)
        if row is not None:
            _drop(row)
            self.batch_done += 1
        self._sync()

    def set_tasks(self, tasks: dict[int, str]) -> None:
        """The session's running tasks (job id -> title): rows come and go to match."""
        for job_id in set(self.tasks) - set(tasks):
            _drop(self.tasks.pop(job_id))
        for job_id, title in tasks.items():
            if job_id in self.tasks:  # a title that says how far it is (the search)
                _set_text(self.tasks[job_id].title, f"<b>{title}</b>")
            else:
                row = JobRow(f"<b>{title}</b>", cancellable=False)
                row.busy()
                self.tasks[job_id] = row
                self._layout.insertWidget(2, row)
        self._sync()

    def clear(self) -> None:
        for candidate_id in list(self.rows):
            self.remove(candidate_id)
        self.set_tasks({})
        self.batch_total = self.batch_done = 0
        self._sync()

    def _sync(self) -> None:
        if not self.rows:
            self.batch_total = self.batch_done = 0
        running = sum(r.running for r in self.rows.values())
        queued = len(self.rows) - running
        parts = [f"{running} running"] if running else []
        if queued:
            parts.append(f"{queued} queued")
        if self.batch_total > 1:
            parts.append(f"{self.batch_done} of {self.batch_total} done")
        if self.tasks:
            parts.append(f"{len(self.tasks)} session task{'s' if len(self.tasks) > 1 else ''}")
        self.header.setText(" · ".join(parts))
        self.header.setVisible(bool(parts))
        self.empty.setVisible(not self.rows and not self.tasks)
        if self.rows or self.tasks:
            self.timer.start()
        else:
            self.timer.stop()

    def _tick(self) -> None:
        for row in (*self.rows.values(), *self.tasks.values()):
            row.tick()
