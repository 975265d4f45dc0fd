"""A Ray cluster behind the same backend interface as the local pool.

Jobs go to the bridge process (`studio.jobs.ray_bridge`, Ray's driver), which runs them
as Ray tasks and sends their events back; they come out of `next_event` exactly as the
pool's do.  If the bridge ends without being asked (the cluster's head stopped, the
network went, Ray ended its driver), every job still running is marked failed with a
message saying so; everything that arrived before is kept by the orchestrator, and later
jobs fail at once with the same message.

Ray itself is imported only in the bridge and on the cluster, so the window stays as
light as before and a missing Ray is one line (`studio.values.cluster.missing`).
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import subprocess
import threading
import time
from multiprocessing.connection import Connection

from studio.jobs.messages import Cancelled, Failed, Finished, Job, JobEvent
from studio.jobs.pool import JobQueue, open_worker_log, worker_log
from studio.values.cluster import Cluster, ClusterInfo, missing
from studio.values.errors import StudioError
from studio.values.processes import command

REMOTE_FIRST_ID = 1_000_001  # its job ids, apart from a local pool's sharing its queue


class RayBackend(JobQueue):
    """Jobs as Ray tasks on `cluster`.  Connecting (in the constructor) takes seconds;
    raises `StudioError` naming what failed: Ray not installed, no cluster at the
    address, other versions there.  `events`: put events into this queue (the local
    pool's, so one reader sees both)."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        events: queue.Queue | None = None,
        first_id: int = REMOTE_FIRST_ID,
    ) -> None:
        # Files are not shipped from here: the bridge reads them (on this machine) and
        # puts each in the object store once.
        super().__init__(events=events, first_id=first_id)
        if problem := missing("ray"):
            raise StudioError(problem)
        self.cluster = cluster
        self._lock = threading.Lock()
        self._running: set[int] = set()
        self._lost: str | None = None
        self._stopping = False
        ours, theirs = socket.socketpair()
        with open_worker_log() as log:
            self._process = subprocess.Popen(
                command("studio.jobs.ray_bridge", str(theirs.fileno())),
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=os.environ.copy(),
            )
        theirs.close()
        self._conn = Connection(ours.detach())
        self.info = self._connect()
        self.size = max(1, int(self.info.cpus // cluster.cpus))
        threading.Thread(target=self._read, daemon=True, name="ray-bridge").start()

    @property
    def lost(self) -> str | None:
        """Why the connection to the cluster ended (None while it holds)."""
        return self._lost

    # -- the backend interface ---------------------------------------------------------

    def submit(self, job: Job) -> int:
        with self._lock:
            if self._closed:
                raise RuntimeError("the Ray backend is shut down")
            job_id = next(self._ids)
            if self._lost is not None:
                self._events.put(Failed(job_id, self._lost, crashed=True))
                return job_id
            self._running.add(job_id)
            self._conn.send(("submit", job_id, job))
            return job_id

    def cancel(self, job_id: int) -> None:
        with self._lock:
            if job_id in self._running and self._lost is None:
                self._conn.send(("cancel", job_id))

    def shutdown(self) -> None:
        """Cancel every task on the cluster and end the bridge (the cluster stays)."""
        with self._lock:
            self._closed = self._stopping = True
            if self._lost is None:
                with contextlib.suppress(OSError):
                    self._conn.send(("shutdown",))
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    # -- internals ---------------------------------------------------------------------

    def _connect(self) -> ClusterInfo:
        self._conn.send(("connect", self.cluster.to_dict()))
        deadline = time.monotonic() + self.cluster.connect_timeout_s + 30
        while time.monotonic() < deadline:
            if self._conn.poll(0.2):
                try:
                    kind, payload = self._conn.recv()
                except (EOFError, OSError):
                    break
                if kind == "connected":
                    return ClusterInfo.from_dict(payload)
                self._stop_process()
                raise StudioError(payload)
            if self._process.poll() is not None:
                break
        self._stop_process()
        raise StudioError(
            f"no Ray cluster answered at {self.cluster.address} within "
            f"{self.cluster.connect_timeout_s:.0f} s (Ray's messages: {worker_log()})"
        )

    def _stop_process(self) -> None:
        self._process.kill()
        self._process.wait()
        self._conn.close()

    def _read(self) -> None:
        why = "the Ray bridge process ended"
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                break
            if isinstance(message, tuple) and message[0] == "lost":
                why = message[1]
                continue
            self._deliver(message)
        returncode = self._process.wait()
        with self._lock:
            if self._stopping:
                for job_id in sorted(self._running):
                    self._events.put(Cancelled(job_id))
                self._running.clear()
                return
            if returncode not in (0, None):
                why = f"{why} (code {returncode})"
            self._lost = (
                f"lost the connection to the Ray cluster at {self.cluster.address}: {why}; "
                f"the candidates it had finished are kept, run the others again when it "
                f"is back, or on this machine"
            )
            for job_id in sorted(self._running):
                self._events.put(Failed(job_id, self._lost, crashed=True))
            self._running.clear()

    def _deliver(self, event: JobEvent) -> None:
        with self._lock:
            if isinstance(event, Finished | Failed | Cancelled):
                if event.job_id not in self._running:
                    return
                self._running.discard(event.job_id)
            self._events.put(event)

