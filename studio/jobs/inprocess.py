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

import importlib
import inspect
import threading
from collections.abc import Callable, Mapping
from typing import Any

from studio.jobs.messages import Cancelled, Failed, Finished, Job, Progress, Started
from studio.jobs.pool import JobQueue


class Crash(Exception):
    """Raised by a stand-in to play a worker process that died (abort, OOM kill)."""


class _Stop(BaseException):
    """Unwinds a cancelled job from its report call."""


class InProcessBackend(JobQueue):
    def __init__(self, handlers: Mapping[str, Callable[..., Any]] | None = None) -> None:
        super().__init__()
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
        from studio.values.errors import StudioError

        def report(event) -> None:
            if job_id in self._cancelled:
                raise _Stop
            self._events.put(
                Progress(job_id, event.stage, event.message, event.fraction, dict(event.metrics))
            )

        self._events.put(Started(job_id, 0))
        function = self.handlers.get(job.target) or _resolve(job.target)
        kwargs = dict(job.kwargs)
        try:
            if "report" in inspect.signature(function).parameters:
                kwargs["report"] = report
        except (TypeError, ValueError):
            pass
        try:
            result = function(*job.args, **kwargs)
        except _Stop:
            self._cancelled.discard(job_id)
            self._events.put(Cancelled(job_id))
            return
        except Crash as err:
            self._events.put(Failed(job_id, f"the worker process {err}", crashed=True))
            return
        except StudioError as err:
            self._events.put(Failed(job_id, str(err), kind=type(err).__name__))
            return
        except Exception as err:  # a bug in the job, as the worker reports it
            self._events.put(Failed(job_id, f"internal error: {type(err).__name__}: {err}"))
            return
        if job_id in self._cancelled:
            self._cancelled.discard(job_id)
            self._events.put(Cancelled(job_id))
        else:
            self._events.put(Finished(job_id, result))


def _resolve(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)
