"""What a Ray worker runs: one job, the same way a local worker runs it.

`run` is the body of every Ray task the studio submits (see `studio.jobs.ray_bridge`):
it resolves the job's inputs from the object store, runs `studio.jobs.execute.execute`
in the task's private folder, and sends the job's progress back through a Ray queue;
its return value (the final `Finished` or `Failed`, artifacts included) travels back
by object reference.  Nothing here touches the caller's disk: nodes share none.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from importlib import metadata
from typing import Any

import ray

from studio.jobs.execute import execute
from studio.jobs.messages import Failed, Finished, Job, JobEvent, Progress
from studio.values.cluster import MATCHED

STARTED = "started"  # (STARTED, job_id, part, pid): a task began on a worker
# A fault drill: the candidate of this name aborts its worker every time, as a converter
# crash would (tests, and checking a cluster's retries; forwarded by the bridge).
CRASH_ENV = "STUDIO_CRASH_CANDIDATE"


def versions() -> dict[str, str | None]:
    """This process's versions of the packages a candidate's figures depend on (read
    from the installed metadata: no TensorFlow import), and of Python and Ray."""
    import studio

    found: dict[str, str | None] = {"python": sys.version.split()[0], "ray": ray.__version__}
    for name in MATCHED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    # The studio's code may be shipped (runtime_env py_modules) rather than installed.
    found["tflite-studio"] = studio.__version__
    return found


def warm() -> int:
    """Import TensorFlow and the engine in a new worker before the first job needs them
    (seconds per worker; Ray keeps the worker for the tasks that follow)."""
    import studio.jobs.tasks  # noqa: F401

    return os.getpid()


@dataclasses.dataclass(frozen=True)
class Slot:
    """Where a job argument's file goes: the task's `inputs[index]`.  Files are passed
    as top-level task arguments so Ray fetches them before the task starts; a task that
    fetched them itself (`ray.get`) would give its CPU back while waiting, and Ray would
    start another task on it: two busy tasks per CPU."""

    index: int


def run(
    job_id: int, job: Job, events: Any, part: str = "", prefix: Any = None, *inputs: Any
) -> JobEvent:
    """Run `job` here; `events` is the sweep's `ray.util.queue.Queue`.  `part` names the
    candidate of a split group (its progress says so); `prefix` is the group's prefix
    job's final event, `inputs` the job's files (Ray resolved every reference before
    this task started)."""

    def send(event: JobEvent) -> None:
        if isinstance(event, Progress) and part:
            event = dataclasses.replace(event, part=part)
        # Not waited for, for the same reason as `Slot`; one caller's calls stay in order.
        events.actor.put_nowait.remote(event)

    events.actor.put_nowait.remote((STARTED, job_id, part, os.getpid()))
    if part and os.environ.get(CRASH_ENV) == part:  # a fault drill: see docs/cluster.md
        os.abort()
    kwargs = {key: _filled(value, inputs) for key, value in job.kwargs.items()}
    if "prefix" in kwargs and prefix is not None:
        if not isinstance(prefix, Finished):
            message = getattr(prefix, "message", "the shared fine-tunes failed")
            return Failed(job_id, message, kind=getattr(prefix, "kind", ""))
        kwargs["prefix"] = prefix.result
    return execute(job_id, dataclasses.replace(job, kwargs=kwargs), send)


def slotted(kwargs: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """A job's arguments with each object reference replaced by a `Slot`, and the
    references in slot order (the task's `inputs`)."""
    refs: list[Any] = []

    def slot(value: Any) -> Any:
        if isinstance(value, ray.ObjectRef):
            refs.append(value)
            return Slot(len(refs) - 1)
        if isinstance(value, list):
            return [slot(v) for v in value]
        return value

    return {key: slot(value) for key, value in kwargs.items()}, refs


def _filled(value: Any, inputs: tuple) -> Any:
    if isinstance(value, Slot):
        return inputs[value.index]
    if isinstance(value, list):
        return [_filled(v, inputs) for v in value]
    return value
