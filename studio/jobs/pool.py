"""A pool of long-lived worker processes behind a small backend interface.

The interface (`submit`, `next_event`, `cancel`, `shutdown`) is all the window and the
CLI use, so another backend (a cluster, later) can take the same jobs.

How a job ends, and what the caller sees:
- it returns -> `Finished`; it raises -> `Failed`;
- the caller cancels it -> `Cancelled` (queued: dropped; running: the worker is killed
  at once, because a converter call cannot be interrupted, and replaced);
- its worker dies (abort, segfault, killed, out of memory) -> `Failed(crashed=True)` with
  what happened, and a replacement worker starts.  Other jobs are untouched.

Each idle worker holds about 1 GB (TensorFlow), so a worker idle for `idle_timeout_s`
is released, and started again when a job needs it (it then imports TensorFlow again,
a few seconds).
"""

from __future__ import annotations

import itertools
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Protocol

import platformdirs

from studio.jobs.execute import ship
from studio.jobs.messages import Cancelled, Failed, Finished, Job, JobEvent, Started
from studio.values.processes import NICENESS, command, threads_per_worker, worker_environment

GIB = 2**30
MEMORY_PER_WORKER = 3 * GIB  # TensorFlow plus a fine-tune of a small model
IDLE_TIMEOUT_S = 600.0  # release a worker idle this long (None: never)


class Backend(Protocol):
    """Where jobs run.  `size`: how many run at once.  Events of every job come out of
    `next_event` in order (see `studio.jobs.messages`)."""

    size: int

    def submit(self, job: Job) -> int: ...
    def next_event(self, timeout: float | None = None) -> JobEvent | None: ...
    def cancel(self, job_id: int) -> None: ...
    def shutdown(self) -> None: ...


def default_size() -> int:
    """As many workers as cores, but no more than memory allows."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        memory = 4 * GIB
    return max(1, min(os.cpu_count() or 1, memory // MEMORY_PER_WORKER))


WORKER_LOG_LIMIT = 5 * 1024 * 1024


def worker_log() -> Path:
    """Where workers write what TensorFlow and LiteRT print (CUDA probes, deprecation
    notes, a fatal error's last words): not the user's terminal, where it read as the
    studio's errors; a crash's message points here."""
    return Path(platformdirs.user_log_dir("tflite-studio", appauthor=False)) / "workers.log"


def open_worker_log():
    """The shared worker log, appended to; started afresh once it passes 5 MB."""
    path = worker_log()
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.exists() and path.stat().st_size > WORKER_LOG_LIMIT
    return path.open("wb" if fresh else "ab")


def describe_death(returncode: int | None) -> str:
    if returncode is None or returncode >= 0:
        return f"the worker process exited unexpectedly (code {returncode})"
    sig = -returncode
    reasons = {
        signal.SIGKILL: "was killed (SIGKILL); the system may have run out of memory",
        signal.SIGABRT: "aborted (SIGABRT): TensorFlow or LiteRT hit a fatal error on this model",
        signal.SIGSEGV: "crashed (segmentation fault): TensorFlow or LiteRT failed on this model",
        signal.SIGBUS: "crashed (bus error)",
        signal.SIGTERM: "was terminated (SIGTERM)",
    }
    reason = reasons.get(sig, f"died from signal {signal.Signals(sig).name}")
    return f"the worker process {reason} (its last messages: {worker_log()})"


@dataclass
class _Worker:
    process: subprocess.Popen
    conn: Connection
    job_id: int | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    idle_since: float | None = None  # monotonic time it last became idle
    retired: bool = False  # released for being idle: not replaced


class JobQueue:
    """What every backend keeps: the events for the caller, and the jobs waiting to run
    (cancelling one of those drops it).  Subclasses hold `_lock` around both."""

    size = 1  # jobs run at once

    def __init__(
        self,
        *,
        ship_inputs: bool = False,
        events: queue.Queue[JobEvent] | None = None,
        first_id: int = 1,
    ) -> None:
        """`events`, `first_id`: a second backend beside another (a cluster beside this
        machine's pool) puts its events into the other's queue, under ids of its own."""
        self.ship_inputs = ship_inputs
        self._events: queue.Queue[JobEvent] = queue.Queue() if events is None else events
        self._pending: deque[tuple[int, Job]] = deque()
        self._cancelled: set[int] = set()  # running jobs asked to stop
        self._ids = itertools.count(first_id)
        self._closed = False

    @property
    def event_queue(self) -> queue.Queue[JobEvent]:
        """Where its events wait (a cluster backend attached beside it puts its own in
        the same queue, so the window's and the CLI's one reader sees both)."""
        return self._events

    def next_event(self, timeout: float | None = None) -> JobEvent | None:
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    def _outgoing(self, job: Job) -> Job:
        """The job as its worker receives it: file inputs by path, or by value when the
        workers are not to see this disk (see `studio.jobs.execute.ship`)."""
        return ship(job) if self.ship_inputs else job

    def _drop_pending(self, job_id: int) -> bool:
        """Cancel a job that has not started; False if it is not waiting."""
        for item in list(self._pending):
            if item[0] == job_id:
                self._pending.remove(item)
                self._events.put(Cancelled(job_id))
                return True
        return False

    def _drop_all_pending(self) -> None:
        self._closed = True
        for job_id, _ in self._pending:
            self._events.put(Cancelled(job_id))
        self._pending.clear()


class ProcessPool(JobQueue):
    """The default backend: `size` worker processes on this machine.

    Its workers see this disk, so file inputs go as paths unless `ship_inputs`.

    Each worker runs at `niceness` below the studio and with a budget of `threads`
    (default: the cores shared out among the workers; 0: no budget, every worker sizes
    TensorFlow to every core), so a busy pool neither starves the window nor
    oversubscribes the machine.
    """

    def __init__(
        self,
        size: int | None = None,
        idle_timeout_s: float | None = IDLE_TIMEOUT_S,
        *,
        threads: int | None = None,
        niceness: int = NICENESS,
        ship_inputs: bool = False,
    ) -> None:
        super().__init__(ship_inputs=ship_inputs)
        self.size = size or default_size()
        self.idle_timeout_s = idle_timeout_s
        self.threads = threads_per_worker(self.size) if threads is None else threads
        self._environment = {**os.environ, **worker_environment(self.threads, niceness)}
        self._lock = threading.RLock()
        self._workers: list[_Worker] = []
        for _ in range(self.size):
            self._start_worker()
        if idle_timeout_s:
            threading.Thread(target=self._release_idle, daemon=True, name="pool-idle").start()

    # -- the backend interface ---------------------------------------------------------

    def submit(self, job: Job) -> int:
        with self._lock:
            if self._closed:
                raise RuntimeError("the job pool is shut down")
            job_id = next(self._ids)
            self._pending.append((job_id, self._outgoing(job)))
            while sum(not w.retired for w in self._workers) < self.size:  # released idle ones
                self._start_worker()
            self._dispatch()
            return job_id

    def cancel(self, job_id: int) -> None:
        with self._lock:
            if self._drop_pending(job_id):
                return
            for worker in self._workers:
                if worker.job_id == job_id:
                    self._cancelled.add(job_id)
                    worker.process.kill()  # the reader thread sees it die and replaces it
                    return

    def shutdown(self) -> None:
        """Stop every worker now (running jobs are cancelled) and wait for them."""
        with self._lock:
            self._drop_all_pending()
            workers = list(self._workers)
            for worker in workers:
                if worker.job_id is not None:
                    self._cancelled.add(worker.job_id)
                worker.process.kill()
        for worker in workers:
            worker.process.wait()

    def wait_ready(self, timeout: float) -> bool:
        """Wait until every worker has imported TensorFlow (benchmarks time work, not
        start-up); False if that took longer than `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                workers = list(self._workers)
            if len(workers) >= self.size and all(w.ready.is_set() for w in workers):
                return True
            time.sleep(0.05)
        return False

    @property
    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._workers]

    # -- internals ---------------------------------------------------------------------

    def _start_worker(self) -> None:
        ours, theirs = socket.socketpair()
        with open_worker_log() as log:
            process = subprocess.Popen(
                command("studio.jobs.worker", str(theirs.fileno())),
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self._environment,
            )
        theirs.close()
        worker = _Worker(process, Connection(ours.detach()))
        self._workers.append(worker)
        threading.Thread(
            target=self._read, args=(worker,), daemon=True, name=f"worker-{process.pid}"
        ).start()

    def _dispatch(self) -> None:
        for worker in self._workers:
            if not self._pending:
                return
            if worker.job_id is None and worker.ready.is_set() and not worker.retired:
                job_id, job = self._pending.popleft()
                worker.job_id, worker.idle_since = job_id, None
                # Started first: the worker's first progress can arrive before send returns.
                self._events.put(Started(job_id, worker.process.pid))
                worker.conn.send((job_id, job))

    def _read(self, worker: _Worker) -> None:
        """One thread per worker: forward its events; on EOF, account for its death."""
        while True:
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                break
            if isinstance(message, tuple) and message[0] == "ready":
                worker.ready.set()
                with self._lock:
                    worker.idle_since = time.monotonic()
                    self._dispatch()
                continue
            if isinstance(message, Finished | Failed):
                with self._lock:
                    worker.job_id, worker.idle_since = None, time.monotonic()
                    self._events.put(message)
                    self._dispatch()
            else:
                self._events.put(message)
        returncode = worker.process.wait()
        worker.conn.close()
        with self._lock:
            self._workers.remove(worker)
            job_id = worker.job_id
            if job_id is not None:
                if job_id in self._cancelled:
                    self._cancelled.discard(job_id)
                    self._events.put(Cancelled(job_id))
                else:
                    self._events.put(Failed(job_id, describe_death(returncode), crashed=True))
            if not self._closed and not worker.retired:
                self._start_worker()
                self._dispatch()

    def _release_idle(self) -> None:
        """Stop workers that have had nothing to do for `idle_timeout_s`."""
        timeout = float(self.idle_timeout_s or 0)
        while True:
            time.sleep(min(5.0, timeout / 4))
            with self._lock:
                if self._closed:
                    return
                now = time.monotonic()
                for worker in self._workers:
                    idle = worker.idle_since
                    if worker.job_id is None and idle is not None and now - idle > timeout:
                        worker.retired = True
                        worker.idle_since = None
                        worker.process.kill()  # idle: nothing is lost
