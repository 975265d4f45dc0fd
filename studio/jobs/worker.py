"""The worker process: takes jobs from its connection and runs them one at a time.

Started by `studio.jobs.pool` as `python -m studio.jobs.worker FD` (or its bundle form, see
`studio.values.processes`).  It imports the engine (and so TensorFlow) once, at start, so
jobs do not pay for it.  It asks the kernel to kill it when the studio's process dies, so
no worker outlives the studio.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import inspect
import os
import signal
import socket
import sys
import time
import traceback
from multiprocessing.connection import Connection

from studio.jobs.messages import Failed, Finished, Job, Progress
from studio.values.processes import NICENESS, NICENESS_ENV

PROGRESS_INTERVAL_S = 0.1  # fraction-only updates are rate-limited; new stages are not


def _lower_priority() -> None:
    """Run at the niceness the pool asked for (see `studio.values.processes.NICENESS`)."""
    try:
        niceness = int(os.environ.get(NICENESS_ENV, NICENESS))
    except ValueError:
        niceness = NICENESS
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no os.nice
        os.nice(niceness)


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the worker still exits when its connection closes


def _resolve(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def run(conn: Connection, job_id: int, job: Job) -> None:
    from studio.values.errors import StudioError

    last = {"stage": None, "time": 0.0}

    def report(event) -> None:
        now = time.monotonic()
        new_stage = event.stage != last["stage"] or event.metrics
        if not new_stage and now - last["time"] < PROGRESS_INTERVAL_S:
            return
        last.update(stage=event.stage, time=now)
        conn.send(Progress(job_id, event.stage, event.message, event.fraction, dict(event.metrics)))

    try:
        function = _resolve(job.target)
        kwargs = dict(job.kwargs)
        try:
            if "report" in inspect.signature(function).parameters:
                kwargs["report"] = report
        except (TypeError, ValueError):
            pass  # builtins without a signature take no reporter
        conn.send(Finished(job_id, function(*job.args, **kwargs)))
    except StudioError as err:
        conn.send(Failed(job_id, str(err), kind=type(err).__name__))
    except Exception as err:  # a bug, not the user's fault: keep the traceback for the log
        detail = traceback.format_exc(limit=8)
        conn.send(
            Failed(
                job_id,
                f"internal error in {job.label or job.target}: "
                f"{type(err).__name__}: {err}\n{detail}",
            )
        )


def main(fd: int) -> None:
    _die_with_parent()
    _lower_priority()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C goes to the studio, which cancels
    conn = Connection(socket.socket(fileno=fd).detach())
    # Load TensorFlow once, before the first job; if that fails, the job reports why.
    with contextlib.suppress(Exception):
        import studio.jobs.tasks  # noqa: F401
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job_id, job = conn.recv()
        except (EOFError, OSError):
            return
        run(conn, job_id, job)


if __name__ == "__main__":
    main(int(sys.argv[1]))
