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

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from superqt.utils import qdebounced

from studio.jobs.pool import Backend
from studio.orchestrator.autotune import Search
from studio.orchestrator.orchestrator import HOOKS, Orchestrator
from studio.ui.runner import JobPump
from studio.values import atomic
from studio.values.autotune import Settings
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

    def shutdown(self) -> None:
        self._ticks.stop()
        self._layers_check.cancel()
        self.orchestrator.shutdown()
        self._pump.stop()
        self.saver.flush()
