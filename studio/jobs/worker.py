"""The worker process: takes jobs from its connection and runs them one at a time.

Started by `studio.jobs.pool` as `python -m studio.jobs.worker FD` (or its bundle form, see
`studio.values.processes`).  It imports the engine (and so TensorFlow) once, at start, so
jobs do not pay for it.  It asks the kernel to kill it when the studio's process dies, so
no worker outlives the studio.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
from multiprocessing.connection import Connection

from studio.jobs.execute import execute
from studio.jobs.messages import Job
from studio.values.processes import NICENESS, NICENESS_ENV


def _lower_priority() -> None:
    """Run at the niceness the pool asked for (see `studio.values.processes.NICENESS`)."""
    try:
        niceness = int(os.environ.get(NICENESS_ENV, NICENESS))
    except ValueError:
        niceness = NICENESS
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no os.nice
        os.nice(niceness)


def die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the worker still exits when its connection closes


def run(conn: Connection, job_id: int, job: Job) -> None:
    conn.send(execute(job_id, job, conn.send))


def main(fd: int) -> None:
    die_with_parent()
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
