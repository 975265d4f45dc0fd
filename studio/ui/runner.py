"""The Qt side of the job layer: pool events delivered as signals on the GUI thread.

A QThread waits on the backend's event queue and emits one signal per event; Qt queues
them to the receiver's (GUI) thread.  Signal names follow superqt's worker
(started, yielded-like `progress`, returned-like `finished`, errored-like `failed`,
aborted-like `cancelled`).  The window never blocks on a job.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QThread, Signal

from studio.jobs import kinds
from studio.jobs.messages import Cancelled, Failed, Finished, Job, Progress, Started
from studio.jobs.pool import Backend, ProcessPool
from studio.values.errors import StudioError


class _Pump(QThread):
    event = Signal(object)

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self._backend = backend

    def run(self) -> None:
        while not self.isInterruptionRequested():
            event = self._backend.next_event(timeout=0.05)
            if event is not None:
                self.event.emit(event)


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
        self._pump = _Pump(self.backend)
        self._pump.event.connect(self._route)
        self._pump.start()

    def submit(self, job: Job) -> int:
        job_id = self.backend.submit(job)
        self._targets[job_id] = job.target
        return job_id

    def cancel(self, job_id: int) -> None:
        self.backend.cancel(job_id)

    def shutdown(self) -> None:
        """Stop the workers (cancelling what runs) and the pump; call when the window closes."""
        self.backend.shutdown()
        self._pump.requestInterruption()
        self._pump.wait()

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
