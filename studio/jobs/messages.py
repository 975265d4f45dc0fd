"""What crosses the process boundary: job requests and the events they produce.

All frozen plain data (picklable, no TensorFlow types), so the window, the CLI and a
cluster backend see exactly the same values.

A job is self-contained: its inputs are values, or files named by `FileInput` that a
backend either passes as paths (its workers see the caller's disk) or ships as
`FileContent` (they do not).  Its outputs are a value and named artifacts (bytes, by
path relative to the job's private output folder) that the *caller* stores; no worker
writes into the caller's folders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FileInput:
    """A file or folder on the caller's disk that a job reads (a model, data, a baseline
    `.tflite`).  The worker receives a path to it, or to a private copy of it, with
    `suffix` appended (a part of a data set, "::search": see `studio.values.splits`)."""

    path: str
    suffix: str = ""


@dataclass(frozen=True)
class FileContent:
    """A `FileInput` shipped by value, for workers that cannot see the caller's disk:
    the file's (or folder's) name and its files' bytes by relative path ("" for a file)."""

    name: str
    files: Mapping[str, bytes]
    suffix: str = ""


@dataclass(frozen=True)
class Job:
    """A call of `target` ("module:function") with these arguments, in a worker.

    Keyword arguments that are `FileInput`s reach the function as local paths.  A
    function with a `report` parameter receives a callable taking
    `studio.values.progress.Event`s, which arrive at the caller as `Progress` events; one
    with an `out_dir` parameter gets a private, empty folder whose files come back as the
    job's artifacts; one with a `deliver` parameter can send the files under a subfolder
    of `out_dir` early (`deliver("c001")`), so a long job's finished parts are kept even
    if the rest is cancelled or crashes.
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
    # Which candidate of a group, when its candidates run at once (a cluster runs
    # them as separate tasks); "" when they run one after another in one worker.
    part: str = ""


@dataclass(frozen=True)
class Artifacts:
    """Files a running job finished early, by path relative to its output folder."""

    job_id: int
    files: Mapping[str, bytes]


@dataclass(frozen=True)
class Finished:
    job_id: int
    result: Any
    artifacts: Mapping[str, bytes] = field(default_factory=dict)  # the rest of its files


@dataclass(frozen=True)
class Failed:
    job_id: int
    message: str
    crashed: bool = False  # the worker process died, rather than the job raising
    kind: str = ""  # the engine's error class ("DataError", "ModelError", ...), if any


@dataclass(frozen=True)
class Cancelled:
    job_id: int


JobEvent = Started | Progress | Artifacts | Finished | Failed | Cancelled
