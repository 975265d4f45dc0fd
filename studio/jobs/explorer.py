"""Google's Model Explorer, run as a local server in a child process.

Its Python `visualize*` calls block, so the studio starts its server with the same
Python (`python -m studio.jobs.explorer PORT`): on 127.0.0.1 only, without opening a
browser, and with Model Explorer's online version check switched off (nothing leaves
the machine).  One server shows any number of models: a model and its overlays travel
in the page's URL (`?data=`, as Model Explorer's own config encodes it), so the next
candidate reuses the running server.  `stop()` ends it (the window does on close, the
CLI on Ctrl+C).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from studio.values import tensor_fidelity
from studio.values.errors import StudioError
from studio.values.extras import importable, install_command
from studio.values.overlays import OVERLAYS, SNR
from studio.values.processes import command

HOST = "127.0.0.1"
START_TIMEOUT_S = 60
INSTALL = install_command("explorer")


class ExplorerError(StudioError):
    """Model Explorer is missing, or its server did not start."""


def missing() -> str:
    """Why Model Explorer cannot run here, in one line ('' when it can)."""
    if importable("model_explorer"):
        return ""
    return f"Model Explorer (ai-edge-model-explorer) is an optional extra: {INSTALL}"


def overlays(model: Path, out: Path) -> list[Path]:
    """The overlay files of `model` in `out` (values/overlays.OVERLAYS order, then the SNR
    per layer when the candidate has figures for it), written by a helper process when
    missing or older than the model (reading the file needs LiteRT's schema, which the
    window's process does not load)."""
    paths = [out / f"{o.key}.json" for o in OVERLAYS]
    if (model.parent / tensor_fidelity.FILE).is_file():
        paths.append(out / f"{SNR.key}.json")
    made = model.stat().st_mtime
    if all(p.is_file() and p.stat().st_mtime >= made for p in paths):
        return paths
    done = subprocess.run(
        command("studio.engine.overlays", str(model), str(out)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0 or not all(p.is_file() for p in paths):
        last = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise ExplorerError(f"cannot read the overlays of {model}: {last[:300]}")
    return paths


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def page(port: int, models: Sequence[Path], node_data: Sequence[Path] = ()) -> str:
    """The URL that opens `models` (two: side by side) with `node_data` overlays."""
    data = {
        "models": [{"url": str(Path(m).resolve())} for m in models],
        "nodeData": [str(Path(n).resolve()) for n in node_data],
        "nodeDataTargets": ["" for _ in node_data],
    }
    return f"http://{HOST}:{port}/?data={quote(json.dumps(data))}"


class Explorer:
    """A Model Explorer server on 127.0.0.1, started on first use and reused."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port
        self.process: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def show(self, models: Sequence[Path], node_data: Sequence[Path] = ()) -> str:
        """The page showing `models` with `node_data`; the server is started if needed."""
        if not self.running:
            self.start()
        assert self.port is not None
        return page(self.port, models, node_data)

    def start(self) -> None:
        if why := missing():
            raise ExplorerError(why)
        self.port = self.port or free_port()
        self.process = subprocess.Popen(
            command("studio.jobs.explorer", str(self.port)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.process.stderr.read() if self.process.stderr else "")[-400:]
                raise ExplorerError(f"Model Explorer's server ended at start: {tail.strip()}")
            if self.healthy():
                return
            time.sleep(0.2)
        self.stop()
        raise ExplorerError(
            f"Model Explorer's server did not answer on {HOST}:{self.port} within "
            f"{START_TIMEOUT_S} s"
        )

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.port}/check_health", timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def _serve(port: int) -> None:
    """The child: Model Explorer's own server, offline."""
    sys.argv = ["model-explorer", "--host", HOST, "--port", str(port), "--no_open_in_browser"]
    from model_explorer import cmdline, server

    def no_new_version(*args, **kwargs) -> dict:  # Model Explorer asks PyPI and GitHub
        from importlib import metadata

        running = metadata.version("ai-edge-model-explorer")
        return {"version": "", "runningVersion": running, "releaseUrl": "", "desktopAppUrl": ""}

    server._check_new_version = no_new_version
    cmdline.main()


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
