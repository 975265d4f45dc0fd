"""Future-like handles for what the orchestrator was asked to do.

A handle covers one request, which may be several jobs (a sweep's groups), or none
yet (candidates wait for the float baseline before their jobs are submitted).  In the
spirit of `concurrent.futures.Future` (and Orange3's futures watched by Qt): `done`,
`result`, `cancel` and done-callbacks; progress arrives through the orchestrator's
`candidate_progress` and `job_progress` hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from studio.values.errors import StudioError


class JobFailed(StudioError):
    """A request that ended without its value (the baseline failed, a diagnosis was
    cancelled); `kind` is the engine's error class when it said one."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


class Handle:
    def __init__(
        self,
        title: str,
        candidate_ids: tuple[int, ...] = (),
        cancel: Callable[[Handle], None] | None = None,
    ) -> None:
        self.title = title
        self.candidate_ids = candidate_ids
        self._cancel = cancel
        self._open: set[int] = set()  # job ids (or waiting placeholders) not ended yet
        self._value: Any = None
        self._error: JobFailed | None = None
        self._done = False
        self._callbacks: list[Callable[[Handle], None]] = []
        # Called once when its last job ends, before it settles: it may open more jobs
        # (a sweep's candidates timed together at its end).
        self.before_settling: Callable[[Handle], None] | None = None

    # -- what callers use ---------------------------------------------------------

    def done(self) -> bool:
        return self._done

    def result(self) -> Any:
        """The value (raises `JobFailed` if the request failed or was cancelled)."""
        if not self._done:
            raise RuntimeError(f"{self.title} has not finished")
        if self._error is not None:
            raise self._error
        return self._value

    def cancel(self) -> None:
        if self._cancel is not None and not self._done:
            self._cancel(self)

    def add_done_callback(self, callback: Callable[[Handle], None]) -> None:
        if self._done:
            callback(self)
        else:
            self._callbacks.append(callback)

    # -- what the orchestrator uses -----------------------------------------------

    @property
    def jobs(self) -> frozenset[int]:
        return frozenset(self._open)

    def opened(self, job_id: int) -> None:
        self._open.add(job_id)

    def replaced(self, old: int, new: int) -> None:
        self._open.discard(old)
        self._open.add(new)

    def ended(self, job_id: int, value: Any = None, error: JobFailed | None = None) -> None:
        """One of its jobs ended; the last one settles the handle (`value` or `error`
        of the last job, unless an earlier job set an error)."""
        self._open.discard(job_id)
        if error is not None and self._error is None:
            self._error = error
        if value is not None:
            self._value = value
        if not self._open and self.before_settling is not None:
            last, self.before_settling = self.before_settling, None
            last(self)
        if not self._open:
            self.settle(self._value, self._error)

    def settle(self, value: Any = None, error: JobFailed | None = None) -> None:
        if self._done:
            return
        self._done, self._value, self._error = True, value, error
        for callback in self._callbacks:
            callback(self)
        self._callbacks.clear()
