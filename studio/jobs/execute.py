"""Running one job where it lands: the same steps in a worker process, on the in-process
backend and on a cluster node.

Every job runs in a private temporary folder: shipped inputs are written there, the
function's `out_dir` is an empty folder there, and what it leaves in `out_dir` comes back
as the job's artifacts (bytes), which the caller stores.  The folder is removed when the
job ends, so a worker keeps nothing between jobs and never writes into the caller's
folders; the same contract holds whether or not the worker can see the caller's disk.
"""

from __future__ import annotations

import importlib
import inspect
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from studio.jobs.messages import (
    Artifacts,
    Failed,
    FileContent,
    FileInput,
    Finished,
    Job,
    JobEvent,
    Progress,
)

PROGRESS_INTERVAL_S = 0.1  # fraction-only updates are rate-limited; new stages are not


class Crash(Exception):
    """Raised by a test's stand-in to play a worker process that died (abort, OOM kill)."""


def resolve(target: str) -> Callable[..., Any]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


# -- inputs: by path or by value ------------------------------------------------------


def ship(job: Job) -> Job:
    """The job with each `FileInput` replaced by its content, for workers that cannot
    see this disk.  A path that does not exist is left as it is: the worker then says
    so in the engine's own words."""
    kwargs = {key: _content(value) for key, value in job.kwargs.items()}
    return Job(job.target, kwargs, job.args, job.label)


def _content(value: Any) -> Any:
    if isinstance(value, list):  # several files (a list of FileInput)
        return [_content(v) for v in value]
    if not isinstance(value, FileInput):
        return value
    path = Path(value.path)
    if path.is_file():
        return FileContent(path.name, {"": path.read_bytes()}, value.suffix)
    if path.is_dir():
        files = {
            f.relative_to(path).as_posix(): f.read_bytes()
            for f in sorted(path.rglob("*"))
            if f.is_file()
        }
        return FileContent(path.name, files, value.suffix)
    return value


def _local(value: Any, folder: Path, index: int | str) -> Any:
    """A job argument as the function takes it: a `FileInput` becomes its path, a
    `FileContent` a path to a private copy (its own name kept: loaders read suffixes)."""
    if isinstance(value, list):
        return [_local(v, folder, f"{index}-{j}") for j, v in enumerate(value)]
    if isinstance(value, FileInput):
        return value.path + value.suffix
    if not isinstance(value, FileContent):
        return value
    root = folder / str(index) / value.name
    for rel, data in value.files.items():
        target = root / rel if rel else root
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    if not value.files:
        root.mkdir(parents=True, exist_ok=True)
    return str(root) + value.suffix


# -- outputs: artifacts ---------------------------------------------------------------


def harvest(out: Path, under: str = "") -> dict[str, bytes]:
    """The files below `out/under`, by path relative to `out`, removed once read (each
    is sent once)."""
    base = out / under if under else out
    files = {}
    for path in sorted(base.rglob("*")) if base.is_dir() else []:
        if path.is_file() and not path.name.startswith(".tmp"):
            files[path.relative_to(out).as_posix()] = path.read_bytes()
            path.unlink()
    return files


# -- one job --------------------------------------------------------------------------


def execute(
    job_id: int,
    job: Job,
    send: Callable[[JobEvent], None],
    *,
    on_report: Callable[[], None] | None = None,
    function: Callable[..., Any] | None = None,
) -> JobEvent:
    """Run `job`, sending its progress and early artifacts through `send`; returns the
    final event (`Finished` or `Failed`) for the caller to send.

    `on_report` runs before each progress report (the in-process backend stops a
    cancelled job there); `function` stands in for the job's target (tests).
    """
    from studio.values.errors import StudioError

    last = {"stage": None, "time": 0.0}

    def report(event) -> None:
        if on_report is not None:
            on_report()
        now = time.monotonic()
        new_stage = event.stage != last["stage"] or event.metrics
        if not new_stage and now - last["time"] < PROGRESS_INTERVAL_S:
            return
        last.update(stage=event.stage, time=now)
        send(Progress(job_id, event.stage, event.message, event.fraction, dict(event.metrics)))

    with tempfile.TemporaryDirectory(prefix="studio-job-") as scratch:
        out = Path(scratch) / "out"
        out.mkdir()
        try:
            function = function or resolve(job.target)
            kwargs = {
                key: _local(value, Path(scratch) / "in", i)
                for i, (key, value) in enumerate(job.kwargs.items())
            }
            wanted = _parameters(function)
            if "report" in wanted:
                kwargs["report"] = report
            if "out_dir" in wanted:
                kwargs["out_dir"] = str(out)
            if "deliver" in wanted:
                kwargs["deliver"] = lambda under: send(Artifacts(job_id, harvest(out, under)))
            result = function(*job.args, **kwargs)
            return Finished(job_id, result, harvest(out))
        except Crash as err:
            return Failed(job_id, f"the worker process {err}", crashed=True)
        except StudioError as err:
            return Failed(job_id, str(err), kind=type(err).__name__)
        except Exception as err:  # a bug, not the user's fault: keep the traceback for the log
            detail = traceback.format_exc(limit=8)
            return Failed(
                job_id,
                f"internal error in {job.label or job.target}: "
                f"{type(err).__name__}: {err}\n{detail}",
            )


def _parameters(function: Callable[..., Any]) -> Mapping[str, Any]:
    try:
        return inspect.signature(function).parameters
    except (TypeError, ValueError):
        return {}  # builtins without a signature take none of ours
