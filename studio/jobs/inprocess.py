"""An in-process backend: the same interface and events as the worker pool, no processes.

For fast tests of everything above the job layer (the workbench's bookkeeping, sweeps,
cancels and crashes as the window sees them): jobs run one at a time on a thread of this
process.  A target is resolved like a worker resolves it, unless `handlers` maps it to a
stand-in (a plain function taking the same keyword arguments, without TensorFlow).  A
handler that raises `Crash` looks like a worker process that died.

Cancelling a running job takes effect at its next progress report (a real worker is
killed at once; a stand-in has no converter call to interrupt).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

from studio.jobs.execute import Crash, execute
from studio.jobs.messages import Cancelled, Job, Started
from studio.jobs.pool import JobQueue

__all__ = ["Crash", "InProcessBackend"]


class _Stop(BaseException):
    """Unwinds a cancelled job from its report call."""


class InProcessBackend(JobQueue):
    """`ship_inputs`: the jobs' files travel by value into each job's private folder, as
    for workers on another machine (the tests' "no shared disk" backend)."""

    def __init__(
        self,
        handlers: Mapping[str, Callable[..., Any]] | None = None,
        *,
        ship_inputs: bool = False,
        events: queue.Queue | None = None,
        first_id: int = 1,
    ) -> None:
        super().__init__(ship_inputs=ship_inputs, events=events, first_id=first_id)
        self.handlers = dict(handlers or {})
        self.submitted: list[tuple[int, Job]] = []  # every job, for tests to inspect
        self._running: int | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="inprocess-jobs")
        self._thread.start()

    # -- the backend interface -----------------------------------------------------------

    def submit(self, job: Job) -> int:
        with self._lock:
            if self._closed:
                raise RuntimeError("the job backend is shut down")
            job_id = next(self._ids)
            job = self._outgoing(job)
            self._pending.append((job_id, job))
            self.submitted.append((job_id, job))
        self._wake.set()
        return job_id

    def cancel(self, job_id: int) -> None:
        with self._lock:
            if self._drop_pending(job_id):
                return
            if self._running == job_id:
                self._cancelled.add(job_id)

    def shutdown(self) -> None:
        with self._lock:
            self._drop_all_pending()
            if self._running is not None:
                self._cancelled.add(self._running)
        self._wake.set()
        self._thread.join(timeout=10)

    # -- internals -----------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            with self._lock:
                if self._closed and not self._pending:
                    return
                if not self._pending:
                    self._wake.clear()
                    continue
                job_id, job = self._pending.popleft()
                self._running = job_id
            self._run(job_id, job)
            with self._lock:
                self._running = None

    def _run(self, job_id: int, job: Job) -> None:
        def stop_if_cancelled() -> None:
            if job_id in self._cancelled:
                raise _Stop

        self._events.put(Started(job_id, 0))
        try:
            final = execute(
                job_id,
                job,
                self._events.put,
                on_report=stop_if_cancelled,
                function=self.handlers.get(job.target),
            )
        except _Stop:
            final = Cancelled(job_id)
        if job_id in self._cancelled:
            self._cancelled.discard(job_id)
            final = Cancelled(job_id)
        self._events.put(final)
