"""The process that talks to a Ray cluster for the studio: Ray's "driver".

Started by `studio.jobs.ray_backend` as `python -m studio.jobs.ray_bridge FD`.  It is a
process of its own because Ray ends its driver's process, silently, when the cluster's
head or this machine's Ray node stops (measured: exit code 0 mid-`ray.get`): that must
be this helper, never the window.  The studio sees the pipe close and fails the running
candidates with a message; everything already received is in the session.

Over the pipe it takes ("connect", Cluster dict), ("submit", job id, Job),
("cancel", job id), ("shutdown",), and sends back ("connected", ClusterInfo dict) or
("refused", message), the jobs' events (`studio.jobs.messages`), and ("lost", message).

What it does with a job:
- its files (model, data, the float baseline) are read here, on the user's machine, and
  put in the object store once per content, however many tasks read them;
- a sweep group is split (`kinds.split_group`): the shared fine-tunes are a task of their
  own whose result (the prefix's weights) each candidate's task takes by object
  reference, so it is computed once in the whole cluster (and reused by later groups with
  the same model, data, pruning, clustering and seed); the candidates then run at once,
  each sending its files back as soon as it is measured;
- every task asks Ray for CPUs and memory (`cluster.task_memory`), and is retried a
  bounded number of times if its worker or node dies (`Cluster.retries`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import queue
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from studio.jobs import kinds, ray_tasks
from studio.jobs.execute import ship
from studio.jobs.messages import (
    Artifacts,
    Cancelled,
    Failed,
    FileContent,
    FileInput,
    Finished,
    Job,
    Started,
)
from studio.jobs.worker import die_with_parent
from studio.values import splits
from studio.values.cluster import Cluster, ClusterInfo, mismatch, task_memory
from studio.values.recipe import Recipe
from studio.values.resources import DEMO, DEMO_DATA, DEMO_MODEL
from studio.values.results import Result

POLL_S = 0.1


@dataclass
class _Running:
    """One job of the studio's, as the tasks it became."""

    parts: dict[Any, str] = field(default_factory=dict)  # task ref -> candidate name ("" plain)
    entries: list[tuple[str, dict]] = field(default_factory=list)  # a group's, in order
    results: dict[str, dict] = field(default_factory=dict)  # a group's finished candidates
    prefix_key: str | None = None
    prefix_ref: Any = None  # the shared prefix's task (this job's, or an earlier one's)
    started: bool = False


class Bridge:
    def __init__(self, cluster: Cluster, send) -> None:
        self.cluster = cluster
        self.send = send
        self.jobs: dict[int, _Running] = {}
        self.owner: dict[Any, int] = {}  # task ref -> job id
        self.inputs: dict[str, Any] = {}  # content digest -> object ref
        self.prefixes: dict[str, Any] = {}  # prefix key -> the prefix task's ref

    # -- connecting ----------------------------------------------------------------

    def connect(self) -> ClusterInfo:
        import ray
        from ray.util.queue import Queue

        from studio.values.processes import worker_environment

        runtime_env: dict[str, Any] = {
            "env_vars": {
                "TF_USE_LEGACY_KERAS": "1",
                "TF_CPP_MIN_LOG_LEVEL": "2",
                **worker_environment(self.cluster.cpus, niceness=0),
                **{k: v for k, v in os.environ.items() if k == ray_tasks.CRASH_ENV},
            }
        }
        if self.cluster.ship_code:
            import studio

            runtime_env["py_modules"] = [str(Path(studio.__file__).parent)]
            runtime_env["excludes"] = ["__pycache__", "*.pyc"]
        try:
            ray.init(
                address=self.cluster.address,
                runtime_env=runtime_env,
                logging_level="ERROR",
                log_to_driver=False,
                configure_logging=False,
            )
        except Exception as err:  # Ray's own words: version mismatch, no cluster there
            raise ConnectionError(_connect_error(self.cluster.address, err)) from err
        here = ray_tasks.versions()
        probe = ray.remote(ray_tasks.versions).options(num_cpus=0, max_retries=0)
        try:
            there = ray.get(probe.remote(), timeout=self.cluster.connect_timeout_s)
        except Exception as err:
            raise ConnectionError(
                f"the Ray cluster at {self.cluster.address} cannot run the studio's code: "
                f"{_short(err)}. Install tflite-studio's dependencies on its nodes "
                f"(docs/cluster.md)"
            ) from err
        if problem := mismatch(here, there):
            raise ConnectionError(problem)
        self.events = Queue(actor_options={"num_cpus": 0})
        self.task = ray.remote(ray_tasks.run)
        resources = ray.cluster_resources()
        # Workers import TensorFlow while this machine measures the float baseline.
        slots = int(resources.get("CPU", 0) // self.cluster.cpus)
        warm = ray.remote(ray_tasks.warm).options(num_cpus=self.cluster.cpus, max_retries=0)
        self.warming = [warm.remote() for _ in range(slots)]
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        return ClusterInfo(
            address=self.cluster.address,
            nodes=len(nodes),
            cpus=float(resources.get("CPU", 0)),
            memory_bytes=float(resources.get("memory", 0)),
            versions=there,
        )

    # -- jobs ----------------------------------------------------------------------

    def submit(self, job_id: int, job: Job) -> None:
        job, sizes = self._stored(job)
        running = _Running()
        self.jobs[job_id] = running
        options = {
            "num_cpus": self.cluster.cpus,
            "memory": task_memory(*sizes),
            "max_retries": self.cluster.retries,
        }
        if job.target != kinds.SWEEP_GROUP:
            self._launch(job_id, job, "", None, options)
            return
        split = kinds.split_group(job)
        running.entries = list(job.kwargs["entries"])
        if split.prefix is not None:
            key = _prefix_key(split.prefix)
            running.prefix_key = key
            running.prefix_ref = self.prefixes.get(key)
            if running.prefix_ref is None:
                running.prefix_ref = self._launch(job_id, split.prefix, "", None, options)
                self.prefixes[key] = running.prefix_ref
                _bound(self.prefixes)
        for name, finish in split.candidates:
            self._launch(job_id, finish, name, running.prefix_ref, options)

    def _launch(self, job_id: int, job: Job, part: str, prefix: Any, options: dict) -> Any:
        kwargs, inputs = ray_tasks.slotted(dict(job.kwargs))
        job = dataclasses.replace(job, kwargs=kwargs)
        ref = self.task.options(**options).remote(
            job_id, job, self.events, part, prefix, *inputs
        )
        self.owner[ref] = job_id
        self.jobs[job_id].parts[ref] = part
        return ref

    def cancel(self, job_id: int) -> None:
        """Every task of the job is cancelled (its worker killed), except a shared
        prefix another group still waits for."""
        import ray

        running = self.jobs.pop(job_id, None)
        if running is None:
            return
        waited_for = {j.prefix_ref for j in self.jobs.values()}
        for ref in running.parts:
            self.owner.pop(ref, None)
            if ref == running.prefix_ref:
                if ref in waited_for:
                    continue
                self.prefixes.pop(running.prefix_key, None)
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        self.send(Cancelled(job_id))

    def cancel_all(self) -> None:
        for job_id in list(self.jobs):
            self.cancel(job_id)

    # -- what comes back -----------------------------------------------------------

    def pump(self) -> None:
        """Forward progress, and account for every task that ended."""
        import ray

        refs = list(self.owner)
        done = []
        if refs:
            done, _ = ray.wait(refs, num_returns=len(refs), timeout=POLL_S, fetch_local=True)
        else:
            time.sleep(POLL_S)
        # After the wait: a task's events were queued before its result was ready.
        for item in self.events.get_nowait_batch(self.events.qsize()):
            self._forward(item)
        for ref in done:
            job_id = self.owner.pop(ref, None)
            running = self.jobs.get(job_id)
            if running is None or ref not in running.parts:
                continue
            try:
                outcome = ray.get(ref)
            except ray.exceptions.TaskCancelledError:
                continue
            except (ray.exceptions.RayError, ConnectionError) as err:
                if _lost(err):
                    raise
                outcome = Failed(job_id, self._died(err), crashed=True)
            self._started(running, job_id, 0)  # a task that never said it started
            self._ended(job_id, running, ref, outcome)

    def _forward(self, item: Any) -> None:
        if isinstance(item, tuple) and item and item[0] == ray_tasks.STARTED:
            _, job_id, _part, pid = item
            if (running := self.jobs.get(job_id)) is not None:
                self._started(running, job_id, pid)
            return
        if getattr(item, "job_id", None) in self.jobs:
            self.send(item)

    def _started(self, running: _Running, job_id: int, pid: int) -> None:
        """A job's Started, once: with the pid of its first task's worker."""
        if not running.started:
            running.started = True
            self.send(Started(job_id, pid))

    def _ended(self, job_id: int, running: _Running, ref: Any, outcome: Any) -> None:
        part = running.parts.pop(ref)
        if not running.entries:  # a plain job: its one task's event is the job's
            del self.jobs[job_id]
            self.send(outcome)
            return
        if part == "":  # the group's prefix: its candidates' tasks take it from here
            if not isinstance(outcome, Finished) and running.prefix_key:
                self.prefixes.pop(running.prefix_key, None)  # not shared if it failed
            if not running.parts:
                self._group_done(job_id, running)
            return
        recipe = dict(running.entries)[part]
        if isinstance(outcome, Finished):
            if outcome.artifacts:
                self.send(Artifacts(job_id, outcome.artifacts))
            running.results[part] = outcome.result
        else:
            failed = Result.failed(part, Recipe.from_dict(recipe), outcome.message)
            running.results[part] = failed.to_dict()
        if not any(p for p in running.parts.values()):
            self._group_done(job_id, running)

    def _group_done(self, job_id: int, running: _Running) -> None:
        for ref in running.parts:
            self.owner.pop(ref, None)
        del self.jobs[job_id]
        results = [running.results[name] for name, _ in running.entries if name in running.results]
        self.send(Finished(job_id, results))

    def _died(self, err: Exception) -> str:
        tries = self.cluster.retries + 1
        return (
            f"its Ray task's worker died {tries} time(s) ({_short(err)}); "
            f"the worker logs on the cluster's nodes (ray logs) say why"
        )

    # -- inputs --------------------------------------------------------------------

    def _stored(self, job: Job) -> tuple[Job, tuple[int, int]]:
        """The job with its files read here and put in the object store, once each;
        and the model's and data's sizes in bytes (for the tasks' memory request)."""
        import ray

        shipped = ship(
            dataclasses.replace(job, kwargs={k: _demo_file(k, v) for k, v in job.kwargs.items()})
        )

        def put(value: Any) -> Any:
            if isinstance(value, list):
                return [put(v) for v in value]
            if not isinstance(value, FileContent):
                return value
            key = _digest(value)
            if key not in self.inputs:
                self.inputs[key] = ray.put(value)
                _bound(self.inputs)
            return self.inputs[key]

        sizes = [
            sum(map(len, v.files.values())) if isinstance(v, FileContent) else 0
            for v in (shipped.kwargs.get("model"), shipped.kwargs.get("data"))
        ]
        kwargs = {k: put(v) for k, v in shipped.kwargs.items()}
        return dataclasses.replace(job, kwargs=kwargs), (sizes[0], sizes[1])


KEPT = 16  # files and prefixes kept in the object store for later jobs (per kind)


def _bound(cache: dict) -> None:
    """Forget the oldest entries past `KEPT` (a task still holding one keeps it alive
    in the object store until it ends)."""
    while len(cache) > KEPT:
        del cache[next(iter(cache))]


def _demo_file(key: str, value: Any) -> Any:
    """The bundled demo named by its word is a file here, shipped like any other: the
    cluster's nodes have the studio's code, not necessarily its resources."""
    if not isinstance(value, str) or key not in ("model", "data"):
        return value
    whole, part = splits.parse(value)
    if whole != DEMO:
        return value
    path = DEMO_MODEL if key == "model" else DEMO_DATA
    return FileInput(str(path), f"{splits.SEPARATOR}{part}" if part else "")


def _digest(content: FileContent) -> str:
    h = hashlib.sha1(f"{content.name}|{content.suffix}".encode())
    for rel in sorted(content.files):
        h.update(rel.encode())
        h.update(content.files[rel])
    return h.hexdigest()


def _prefix_key(job: Job) -> str:
    what = Recipe.from_dict(job.kwargs["recipe"]).fine_tune_key()
    refs = [str(job.kwargs[k]) for k in ("model", "data")]
    return json.dumps([refs, job.kwargs.get("trust"), what], sort_keys=True, default=str)


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:300]


def _lost(err: Exception) -> bool:
    """The cluster itself is gone (not one task's worker)."""
    import ray

    return isinstance(err, ConnectionError | ray.exceptions.RaySystemError)


def _connect_error(address: str, err: Exception) -> str:
    text = str(err)
    if "version" in text.lower() and "mismatch" in text.lower():
        return (
            f"the Ray cluster at {address} runs another Ray or Python version than this "
            f"studio ({_short(err)}); install the cluster's Ray version here, or this "
            f"studio's on the cluster"
        )
    return (
        f"no Ray cluster answered at {address}: is its head running and reachable from "
        f"here? (`ray status --address {address}` on this machine tells; Ray said: "
        f"{_short(err)})"
    )


# -- the process --------------------------------------------------------------------


def main(fd: int) -> None:
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C goes to the studio, which cancels
    conn = Connection(socket.socket(fileno=fd).detach())
    commands: queue.Queue = queue.Queue()
    try:
        _, raw = conn.recv()
        bridge = Bridge(Cluster.from_dict(raw), conn.send)
        info = bridge.connect()
    except Exception as err:  # anything: said in the studio, never a hang
        with contextlib.suppress(OSError):
            conn.send(("refused", str(err) if isinstance(err, ConnectionError) else _short(err)))
        return
    conn.send(("connected", info.to_dict()))

    def read() -> None:
        while True:
            try:
                commands.put(conn.recv())
            except (EOFError, OSError):
                commands.put(("shutdown",))
                return

    threading.Thread(target=read, daemon=True, name="bridge-commands").start()
    try:
        while True:
            while not commands.empty():
                command = commands.get()
                if command[0] == "submit":
                    bridge.submit(command[1], command[2])
                elif command[0] == "cancel":
                    bridge.cancel(command[1])
                elif command[0] == "shutdown":
                    bridge.cancel_all()
                    return
            bridge.pump()
    except Exception as err:  # the cluster went away (or a bug): the studio is told
        with contextlib.suppress(OSError):
            conn.send(("lost", _short(err)))
    finally:
        import ray

        with contextlib.suppress(Exception):
            ray.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]))
