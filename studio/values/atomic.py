"""Atomic writes: a file the studio wrote is either complete or absent.

The bytes go to a temporary file in the same folder, are flushed to disk, and then
renamed over the target (rename is atomic within one file system).  A full disk or a
read-only folder becomes a StudioError that names the path.  Files get the usual
permissions (0666 less the umask), not the temporary file's 0600: exported models must
be readable by the app's build.  `write_all` does the same for several files at once:
all of them, or none.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from studio.values.errors import StudioError

PART = ".part"


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once: os.umask can only be read by setting it, which would race other threads.
FILE_MODE = 0o666 & ~_read_umask()


def _stage(path: Path, data: bytes) -> Path:
    """`data` in a complete, flushed temporary file beside `path` (not yet in place)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PART, dir=path.parent)
    except OSError as err:
        raise StudioError(f"cannot write {path}: {err.strerror}; choose another folder") from err
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), FILE_MODE)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise StudioError(
            f"cannot write {path}: {err.strerror}; free some disk space or choose another folder"
        ) from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return write_all({Path(path): data})[0]


def write_all(files: dict[Path, bytes]) -> list[Path]:
    """Write every file or none: all are staged first, and only when every one is
    complete on disk are they renamed into place (renames need no space).  A failure
    removes whatever was staged and names the file it happened to."""
    staged: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for path, data in files.items():
            staged.append((_stage(Path(path), data), Path(path)))
        for tmp, path in staged:
            try:
                os.replace(tmp, path)
            except OSError as err:
                raise StudioError(f"cannot write {path}: {err.strerror}") from err
            placed.append(path)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        if len(placed) < len(staged):  # none, rather than some
            for path in placed:
                path.unlink(missing_ok=True)
        raise
    return [path for _, path in staged]


def clean_leftovers(folder: str | os.PathLike, older_than_s: float = 60.0) -> int:
    """Remove temporary files a killed process left mid-write under `folder` (the ones
    a live writer could still be using, younger than `older_than_s`, stay)."""
    removed = 0
    cutoff = time.time() - older_than_s
    for tmp in Path(folder).rglob(f".*{PART}"):
        try:
            if tmp.is_file() and tmp.stat().st_mtime < cutoff:
                tmp.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


class Saver:
    """Writes files atomically on one background thread; for each path the newest bytes win.

    The window saves its session after every change, and an atomic write waits for the
    disk (fsync): tens of milliseconds on a busy laptop, each one a stall of the window
    if it happened on its thread.  Here the caller hands over the bytes and goes on.  A
    write that fails (disk full, folder gone) is raised, as the StudioError naming the
    file it always was, by the next `write` or `flush` call; `flush` also waits until
    everything handed over is on disk (the window calls it before it closes).
    """

    def __init__(self) -> None:
        self._pending: dict[Path, bytes] = {}
        self._writing = False
        self._error: StudioError | None = None
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def write(self, files: dict[Path, bytes]) -> None:
        """Queue `files` (written in this order); raises an earlier write's failure."""
        with self._changed:
            self._raise_error()
            self._pending.update(files)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="saver")
                self._thread.start()
            self._changed.notify_all()

    def flush(self, timeout: float | None = 30.0) -> None:
        """Wait until every file handed over is written; raises a write's failure."""
        with self._changed:
            self._changed.wait_for(lambda: not self._pending and not self._writing, timeout)
            self._raise_error()

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._pending))
                files, self._pending, self._writing = self._pending, {}, True
            try:
                for path, data in files.items():
                    write_bytes(path, data)
            except StudioError as err:
                with self._changed:
                    self._error = err
            finally:
                with self._changed:
                    self._writing = False
                    self._changed.notify_all()
