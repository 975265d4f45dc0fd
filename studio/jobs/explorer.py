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

from studio.values.errors import StudioError
from studio.values.extras import importable, install_command
from studio.values.overlays import KEYS, OVERLAYS, sources
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


def overlays(model: Path, out: Path, graph: str = "") -> list[Path]:
    """The overlay files of `model` in `out` (values/overlays.KEYS order: those read from
    the file, then those of the candidate's and the session's figures it has), written
    by a helper process when missing or older than the model or those figures (reading
    the file needs LiteRT's schema, which the window's process does not load).  With
    `graph`, for a page of several models: the model's copy `out/GRAPH.tflite`, its
    graph named `graph`, is what the page shows (`engine.overlays.write`)."""
    needed = [out / f"{o.key}.json" for o in OVERLAYS] + (
        [out / f"{graph}.tflite"] if graph else []
    )
    inputs = [model, *(p for p in sources(model) if p.is_file())]
    made = max(p.stat().st_mtime for p in inputs)
    fresh = (out / "mapping.txt").is_file() and (out / "mapping.txt").stat().st_mtime >= made
    if not fresh or not all(p.is_file() for p in needed):
        done = subprocess.run(
            command("studio.engine.overlays", str(model), str(out), graph),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0 or not all(p.is_file() for p in needed):
            last = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
            raise ExplorerError(f"cannot read the overlays of {model}: {last[:300]}")
    return [p for key in KEYS if (p := out / f"{key}.json").is_file()]


def prepare(model: Path, out: Path, graph: str = "") -> tuple[Path, list[Path]]:
    """What a page shows of `model`: the file (its copy `out/GRAPH.tflite` when `graph`
    is given, for a page of several) and its overlay files in `out` (`overlays`)."""
    files = overlays(model, out, graph)
    return (out / f"{graph}.tflite" if graph else model), files


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


Shown = Sequence[tuple[Path, Sequence[Path]]]  # models, each with its overlay files


def page(port: int, models: Shown) -> str:
    """The URL that opens `models` with their overlays, each graph with its layers
    flattened (every operator drawn, so the overlays colour them at once); two models
    side by side in Model Explorer's split view.  Model Explorer gives an overlay to a
    model by its file's name and finds a graph by file name and graph id, so several
    models need files of different names and graphs of different ids
    (`overlays(..., graph=)`)."""
    names = [Path(model).name for model, _ in models]
    if len(set(names)) != len(names):
        raise ExplorerError(f"Model Explorer tells models apart by file name: {names}")
    several = len(models) > 1
    panes = [
        {
            "deepestExpandedGroupNodeIds": [],
            "selectedNodeId": "",
            "selectedGraphId": _graph_of(files),
            "selectedCollectionLabel": name,
            "widthFraction": 1 / len(models[:2]),
            "selected": i == 0,
            "flattenLayers": True,
        }
        for i, (name, (_, files)) in enumerate(zip(names[:2], models[:2], strict=True))
    ]
    data = {
        "models": [{"url": str(Path(model).absolute())} for model, _ in models],
        "nodeData": [str(Path(n).absolute()) for _, files in models for n in files],
        "nodeDataTargets": [
            Path(model).name if several else "" for model, files in models for _ in files
        ],
        "uiState": {"paneStates": panes},
    }
    return f"http://{HOST}:{port}/?data={quote(json.dumps(data))}"


def _graph_of(files: Sequence[Path]) -> str:
    """The graph id an overlay file is keyed by (every overlay of a model has the same);
    "" (Model Explorer then picks the first graph) when there is none to read."""
    try:
        return next(iter(json.loads(Path(files[0]).read_text(encoding="utf-8"))))
    except (IndexError, OSError, ValueError, StopIteration):
        return ""


class Explorer:
    """A Model Explorer server on 127.0.0.1, started on first use and reused."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port
        self.process: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def show(self, models: Shown) -> str:
        """The page showing `models` with their overlays; the server is started if
        needed."""
        if not self.running:
            self.start()
        assert self.port is not None
        return page(self.port, models)

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
