"""The Qt side of the job layer: pool events delivered as signals on the GUI thread.

A QThread waits on the backend's event queue and hands events to the GUI thread, which
takes them one per event-loop turn: a sweep's workers often finish together, and
handling every waiting event in one turn (each updates the session, the table, the
plots) stalled the window for as long as all of them took.  Progress that only moves a
bar is merged with newer progress of the same stage that is already waiting.  Signal
names follow superqt's worker
(started, yielded-like `progress`, returned-like `finished`, errored-like `failed`,
aborted-like `cancelled`).  The window never blocks on a job.
"""

from __future__ import annotations

import threading
from collections import deque

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from studio.jobs import kinds
from studio.jobs.messages import Cancelled, Failed, Finished, Job, Progress, Started
from studio.jobs.pool import Backend, ProcessPool
from studio.values.errors import StudioError


class _Pump(QThread):
    """Moves the backend's events into `waiting`; signals `arrived` when it was empty."""

    arrived = Signal()

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self._backend = backend
        self._lock = threading.Lock()
        self._waiting: deque[object] = deque()

    def run(self) -> None:
        while not self.isInterruptionRequested():
            event = self._backend.next_event(timeout=0.05)
            if event is None:
                continue
            with self._lock:
                was_empty = not self._waiting
                last = self._waiting[-1] if self._waiting else None
                if _bar_only(event) and _bar_only(last) and _same_stage(event, last):
                    self._waiting[-1] = event  # the bar jumps to the newer fraction
                else:
                    self._waiting.append(event)
            if was_empty:
                self.arrived.emit()

    def take(self) -> tuple[object | None, bool]:
        """The oldest waiting event, and whether more are waiting."""
        with self._lock:
            event = self._waiting.popleft() if self._waiting else None
            return event, bool(self._waiting)


def _bar_only(event: object) -> bool:
    """Progress that only moves a bar (no training figures; "done" is counted by a
    sweep group, so each one is kept)."""
    return isinstance(event, Progress) and not event.metrics and event.stage != "done"


def _same_stage(a: object, b: object) -> bool:
    return a.job_id == b.job_id and a.stage == b.stage  # type: ignore[attr-defined]


class JobRunner(QObject):
    """Submit jobs and receive their events as Qt signals (all carry the job id)."""

    started = Signal(int)
    progress = Signal(int, object)  # job id, Progress
    finished = Signal(int, object)  # job id, result as typed values (`kinds.decode`)
    failed = Signal(int, str, str)  # job id, message for the user, error kind
    cancelled = Signal(int)

    def __init__(self, backend: Backend | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.backend = backend or ProcessPool()
        self._targets: dict[int, str] = {}  # job id -> task, to decode its result
        self._closed = False
        self._pump = _Pump(self.backend)
        self._pump.arrived.connect(self._next)
        self._pump.start()

    def submit(self, job: Job) -> int:
        job_id = self.backend.submit(job)
        self._targets[job_id] = job.target
        return job_id

    def cancel(self, job_id: int) -> None:
        self.backend.cancel(job_id)

    def shutdown(self) -> None:
        """Stop the workers (cancelling what runs) and the pump; call when the window closes."""
        self._closed = True  # events still waiting are for a window that is closing
        self.backend.shutdown()
        self._pump.requestInterruption()
        self._pump.wait()

    def _next(self) -> None:
        """Handle one waiting event; the rest wait for the next event-loop turn."""
        if self._closed:
            return
        event, more = self._pump.take()
        if more:
            QTimer.singleShot(0, self._next)
        if event is not None:
            self._route(event)

    def _route(self, event: object) -> None:
        if isinstance(event, Started):
            self.started.emit(event.job_id)
        elif isinstance(event, Progress):
            self.progress.emit(event.job_id, event)
        elif isinstance(event, Finished):
            target = self._targets.pop(event.job_id, "")
            try:
                result = kinds.decode(target, event.result)
            except StudioError as err:  # a worker wrote figures this studio cannot read
                self.failed.emit(event.job_id, str(err), type(err).__name__)
                return
            self.finished.emit(event.job_id, result)
        elif isinstance(event, Failed):
            self._targets.pop(event.job_id, None)
            self.failed.emit(event.job_id, event.message, event.kind)
        elif isinstance(event, Cancelled):
            self._targets.pop(event.job_id, None)
            self.cancelled.emit(event.job_id)
