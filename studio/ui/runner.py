"""The Qt side of the job layer: backend events handed to the GUI thread.

A QThread waits on the backend's event queue and hands events to the GUI thread, which
takes them one per event-loop turn: a sweep's workers often finish together, and
handling every waiting event in one turn (each updates the session, the table, the
plots) stalled the window for as long as all of them took.  Progress that only moves a
bar is merged with newer progress of the same stage that is already waiting.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from studio.jobs.messages import Progress
from studio.jobs.pool import Backend


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


class JobPump(QObject):
    """Hands the backend's events to `deliver` (the orchestrator's `handle`) on the GUI
    thread, one per event-loop turn.  The window never blocks on a job."""

    def __init__(
        self,
        backend: Backend,
        deliver: Callable[[object], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._deliver = deliver
        self._closed = False
        self._pump = _Pump(backend)
        self._pump.arrived.connect(self._next)
        self._pump.start()

    def stop(self) -> None:
        """Stop reading events (call after the backend is shut down, as the window
        closes: events still waiting are for a window that is closing)."""
        self._closed = True
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
            self._deliver(event)
