"""The window's side of the orchestrator: its hooks as Qt signals, its events on the GUI
thread.

Everything the studio does with a session and its jobs is `studio.orchestrator`'s, and
the CLI uses the same.  This adapter only (1) turns each orchestrator hook into the Qt
signal of the same name, so views connect as Qt views do, (2) pumps the backend's events
to the orchestrator on the GUI thread, one per event-loop turn (`studio.ui.runner`), and
(3) saves sessions on a background thread and defers the layer check a turn.  Views call
the orchestrator's methods through it (`workbench.run(recipe)`, `workbench.session`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from superqt.utils import create_worker, qdebounced

from studio.jobs.pool import Backend
from studio.orchestrator.autotune import Search
from studio.orchestrator.orchestrator import HOOKS, Orchestrator
from studio.ui.runner import JobPump
from studio.values import atomic
from studio.values.autotune import Settings
from studio.values.cluster import Cluster
from studio.values.errors import StudioError
from studio.values.grid import Grid
from studio.values.recipe import Recipe

# Hooks the window handles itself rather than passing on to views.
_OWN = ("layers_wanted", "job_progress")


class Workbench(QObject):
    # One signal per orchestrator hook (see `studio.orchestrator.orchestrator.HOOKS`).
    session_changed = Signal()
    baseline_changed = Signal()
    budget_changed = Signal()
    setup_failed = Signal(str, str)
    candidate_added = Signal(int)
    candidate_changed = Signal(int)
    candidate_removed = Signal(int)
    candidate_progress = Signal(int, object)
    diagnosis_ready = Signal(object)
    diagnosis_failed = Signal(str)
    sensitivity_ready = Signal(object)
    sensitivity_failed = Signal(str)
    script_ready = Signal(int, str)
    script_failed = Signal(int, str)
    activity_changed = Signal()
    search_changed = Signal()
    log = Signal(str)

    def __init__(
        self,
        backend: Backend,
        sessions_root: Path | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        # Session saves wait for the disk; on this thread they were the window's stalls.
        self.saver = atomic.Saver()
        self.orchestrator = Orchestrator(backend, sessions_root, saver=self.saver)
        for name in HOOKS:
            if name not in _OWN:
                getattr(self.orchestrator, name).connect(getattr(self, name).emit)
        # Next turn: the views take the baseline (a 150-layer table) in this one.
        self._layers_check = qdebounced(self.orchestrator.check_layers, timeout=0, parent=self)
        self.orchestrator.layers_wanted.connect(self._layers_check)
        self._pump = JobPump(backend, self.orchestrator.handle, parent=self)
        # Time-based work (a search's time limit, its "time left") once a second.
        self._ticks = QTimer(self)
        self._ticks.setInterval(1000)
        self._ticks.timeout.connect(self.orchestrator.tick)
        self._ticks.start()
        self._workers: set = set()  # background calls running (kept alive until done)

    def __getattr__(self, name: str) -> Any:
        """Everything else is the orchestrator's (`session`, `activity`, `open_model`,
        `cancel`, `export`, ...)."""
        if name.startswith("__") or name == "orchestrator":
            raise AttributeError(name)
        return getattr(self.orchestrator, name)

    @property
    def threads(self) -> int:
        """LiteRT threads candidates are measured with (Preferences)."""
        return self.orchestrator.threads

    @threads.setter
    def threads(self, value: int) -> None:
        self.orchestrator.threads = value

    def run(self, recipe: Recipe) -> int:
        """Queue a candidate; returns its id."""
        return self.orchestrator.run(recipe).candidate_ids[0]

    def run_sweep(self, grid: Grid) -> list[int]:
        """Queue a grid's candidates; returns their ids."""
        return list(self.orchestrator.run_sweep(grid).candidate_ids)

    def autotune(
        self, model: str, data: str, settings: Settings, *, trust: bool, keep_running: bool
    ) -> Search:
        """Start an automatic search in a new session (see studio.orchestrator.autotune)."""
        search = Search(self.orchestrator, settings)
        search.start(model, data, trust=trust, keep_running=keep_running)
        return search

    # -- where candidates run --------------------------------------------------------

    def run_on(
        self,
        cluster: Cluster | None,
        then: Callable[[], None],
        failed: Callable[[str], None],
    ) -> None:
        """Run the next candidates on `cluster` (None: this machine), then call `then`
        on the GUI thread; connecting takes seconds and happens on a worker thread, a
        connected cluster is reused.  `failed(message)` if it cannot be reached."""
        current = self.orchestrator.remote
        if cluster is None:
            self.orchestrator.run_on = "local"
            then()
            return
        if current is not None and getattr(current, "cluster", None) == cluster and not getattr(
            current, "lost", None
        ):
            self.orchestrator.run_on = "ray"
            then()
            return
        self.log.emit(f"connecting to the Ray cluster at {cluster.address} …")

        def connected(remote) -> None:
            self.orchestrator.use_cluster(remote)
            then()

        self._in_background(self.orchestrator.connect_cluster, cluster, connected, failed)

    def probe_cluster(self, address: str, answer: Callable[[str, bool], None]) -> None:
        """"Test connection": the cluster's nodes, CPUs and versions, or what failed
        (`answer(text, ok)` on the GUI thread)."""
        from studio.orchestrator.backends import cluster_info

        try:
            cluster = Cluster(address=address)
        except StudioError as err:
            answer(str(err), False)
            return
        self._in_background(
            cluster_info,
            cluster,
            lambda info: answer(f"Connected: {info.describe()}", True),
            lambda message: answer(message, False),
        )

    def explore(
        self, candidate_ids: list[int], done: Callable[[str], None], failed: Callable[[str], None]
    ) -> None:
        """Model Explorer's page for these candidates (`Orchestrator.explore`: its server
        starts the first time, overlays are written once), made off the GUI thread."""
        self._in_background(self.orchestrator.explore, list(candidate_ids), done, failed)

    def _in_background(self, call, argument, done, failed) -> None:
        """`call(argument)` on a worker thread; `done(result)` or `failed(message)` on
        this one (a StudioError's message; anything else named as unexpected)."""

        def errored(err: Exception) -> None:
            failed(str(err) if isinstance(err, StudioError) else f"unexpected: {err!r}")

        worker = create_worker(
            call, argument, _start_thread=False, _connect={"returned": done, "errored": errored}
        )
        self._workers.add(worker)
        worker.finished.connect(lambda: self._workers.discard(worker))
        worker.start()

    def shutdown(self) -> None:
        self._ticks.stop()
        self._layers_check.cancel()
        self.orchestrator.shutdown()
        self._pump.stop()
        self.saver.flush()
