"""What crosses the process boundary: job requests and the events they produce.

All frozen plain data (picklable, no TensorFlow types), so the window, the CLI and a
future cluster backend see exactly the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Job:
    """A call of `target` ("module:function") with these arguments, in a worker.

    A function that has a `report` parameter receives a callable taking
    `studio.values.progress.Event`s, which arrive at the caller as `Progress` events.
    """

    target: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    args: tuple = ()
    label: str = ""


@dataclass(frozen=True)
class Started:
    job_id: int
    worker_pid: int


@dataclass(frozen=True)
class Progress:
    job_id: int
    stage: str
    message: str
    fraction: float | None
    metrics: Mapping[str, float]


@dataclass(frozen=True)
class Finished:
    job_id: int
    result: Any


@dataclass(frozen=True)
class Failed:
    job_id: int
    message: str
    crashed: bool = False  # the worker process died, rather than the job raising
    kind: str = ""  # the engine's error class ("DataError", "ModelError", ...), if any


@dataclass(frozen=True)
class Cancelled:
    job_id: int


JobEvent = Started | Progress | Finished | Failed | Cancelled
