"""The window's commands: one `QAction` each (text, shortcut, tooltip), the menus, the
toolbar, and what a command asks before it calls the window's plain method (a file
dialog, the sweep or preferences dialog).  Nothing here decides anything.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QToolBar

from studio.ui import dialogs
from studio.ui.views.autotune_dialog import AutotuneDialog
from studio.ui.views.model_panel import shown_source
from studio.ui.views.preferences import PreferencesDialog
from studio.ui.views.sweep_dialog import SweepDialog
from studio.values.errors import StudioError
from studio.values.metrics import MAE
from studio.values.recipe import Recipe
from studio.values.resources import DEMO
from studio.values.session import list_sessions

if TYPE_CHECKING:
    from studio.ui.main_window import MainWindow


class Actions:
    """Every command of the window, by name (window.actions.export, …)."""

    def __init__(self, w: MainWindow) -> None:
        self._w = w
        self.open = self._make(
            "&Open model…",
            self.ask_model,
            QKeySequence.StandardKey.Open,
            "Open a .keras or .h5 model file",
        )
        self.open_folder = self._make(
            "Open &SavedModel folder…", self.ask_savedmodel, tip="Open a SavedModel folder"
        )
        self.demo = self._make(
            "Open the &demo", lambda: w.open_model(DEMO), tip="The bundled digits model and data"
        )
        self.session = self._make(
            "Open s&ession…", self.ask_session, tip="Reopen a session folder with its candidates"
        )
        self.load_recipe = self._make(
            "&Load recipe…", self.ask_recipe, tip="Put a recipe JSON file into the panels"
        )
        self.save_recipe = self._make(
            "Save &recipe…", self.ask_save_recipe, tip="Save the panels' settings as recipe JSON"
        )
        self.export = self._make(
            "&Export candidate…",
            self.ask_export,
            "Ctrl+E",
            "Save the selected candidate's .tflite and its recipe JSON",
        )
        self.code = self._make(
            "Show &code…",
            w.show_code,
            "Ctrl+Shift+C",
            "A standalone Python script that reproduces the selected candidate",
        )
        self.explore = self._make(
            "Open in &Model Explorer",
            w.explore,
            "Ctrl+M",
            "The selected candidate's graph in Google's Model Explorer (a local web page), "
            "its figures on the operators: zeros, distinct values, weight types, the "
            "quantization SNR, and what pruning or clustering each layer alone costs",
        )
        self.report = self._make(
            "Export re&port…",
            self.ask_report,
            "Ctrl+Shift+E",
            "An HTML report (plots, table, recipes, recommendation) and a CSV of all figures",
        )
        self.quit = self._make("&Quit", w.close, QKeySequence.StandardKey.Quit)
        self.run = self._make(
            "&Run candidate", w.editor.request_run, "Ctrl+R", "Queue the panels' recipe"
        )
        self.sweep = self._make(
            "S&weep…",
            self.ask_sweep,
            "Ctrl+Shift+R",
            "Run a grid of sparsities, clusters and quantization modes",
        )
        self.find_best = self._make(
            "Find the &best within budget…",
            self.ask_autotune,
            "Ctrl+Shift+B",
            "Search pruning, clustering and quantization (per layer too) for the smallest "
            "or fastest model within the accuracy budget, and explain the choice",
        )
        self.diagnose = self._make(
            "&Diagnose int8 per layer",
            w.diagnose,
            "Ctrl+D",
            "Find the layers that lose the most accuracy in full int8",
        )
        self.time_together = self._make(
            "Re-measure &latency together",
            w.time_together,
            "Ctrl+L",
            "Time the float model and every finished candidate interleaved in one process, "
            "so they share the machine's noise and their latencies can be ranked",
        )
        self.cancel_all = self._make(
            "&Cancel all",
            w.workbench.cancel_all,
            tip="Cancel every queued and running candidate",
        )
        self.about = self._make("&About", self.about, tip="The studio's version and its libraries'")
        self.walkthrough = self._make(
            "&Walkthrough",
            self.show_walkthrough,
            QKeySequence.StandardKey.HelpContents,
            "Five minutes on the demo, then the window part by part, with pictures",
        )
        self.shortcuts = self._make(
            "&Keyboard shortcuts", self.show_shortcuts, "Ctrl+/", "Every command with a key"
        )
        self.preferences = self._make(
            "&Preferences…", self.ask_preferences, "Ctrl+,", "Worker processes and LiteRT threads"
        )
        self.export.setEnabled(False)
        self.code.setEnabled(False)
        self.explore.setEnabled(False)

    def _make(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self._w)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        plain = text.replace("&&", "\0").replace("&", "").replace("\0", "&")  # no mnemonic
        action.setToolTip(tip or plain)
        action.setStatusTip(tip or plain)
        action.triggered.connect(slot)
        return action

    def build_menus(self) -> None:
        w = self._w
        menu = w.menuBar().addMenu("&File")
        for action in (self.open, self.open_folder, self.demo):
            menu.addAction(action)
        self.recent_menu = menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self.fill_recent)
        menu.addAction(self.session)
        self.recent_sessions_menu = menu.addMenu("Recent &sessions")
        self.recent_sessions_menu.setToolTipsVisible(True)
        self.recent_sessions_menu.aboutToShow.connect(self.fill_recent_sessions)
        menu.addSeparator()
        for action in (
            self.load_recipe,
            self.save_recipe,
            self.export,
            self.code,
            self.explore,
            self.report,
        ):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.preferences)
        menu.addAction(self.quit)
        run = w.menuBar().addMenu("&Run")
        for action in (self.run, self.sweep, self.find_best, self.diagnose, self.time_together):
            run.addAction(action)
        run.addSeparator()
        run.addAction(self.cancel_all)
        help_menu = w.menuBar().addMenu("&Help")
        for action in (self.walkthrough, self.shortcuts, self.about):
            help_menu.addAction(action)

        bar = QToolBar("Main")
        bar.setObjectName("main-toolbar")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for action in (self.open, self.run, self.sweep, self.find_best, self.export, self.explore):
            bar.addAction(action)
        bar.addSeparator()
        bar.addWidget(QLabel(" Accuracy budget: "))
        bar.addWidget(w.budget)
        w.addToolBar(bar)

    # -- what a command does before calling the window's plain method ------------------

    def ask_model(self) -> None:
        w = self._w
        start = w.settings.start_dir()
        if path := dialogs.open_file(w, "Open model", start, dialogs.MODEL_FILTER):
            w.open_model(path)

    def ask_savedmodel(self) -> None:
        w = self._w
        if path := dialogs.open_folder(w, "Open SavedModel folder", w.settings.start_dir()):
            w.open_model(path)

    def ask_session(self) -> None:
        w = self._w
        if folder := dialogs.open_folder(w, "Open session folder", str(w.sessions_root)):
            w.open_session(folder)

    def ask_recipe(self) -> None:
        w = self._w
        if path := dialogs.open_file(w, "Load recipe", w.settings.export_dir(), "Recipe (*.json)"):
            w.load_recipe(path)

    def ask_save_recipe(self) -> None:
        w = self._w
        start = str(Path(w.settings.export_dir()) / "recipe.json")
        if path := dialogs.save_file(w, "Save recipe", start, "Recipe (*.json)"):
            w.save_recipe(path)

    def ask_export(self) -> None:
        w = self._w
        candidate = w.state.candidate()
        if candidate is None:
            return
        model = w.workbench.session.model
        name = f"{'demo' if model == DEMO else Path(model).stem}_{candidate.name}.tflite"
        start = str(Path(w.settings.export_dir()) / name)
        if path := dialogs.save_file(w, "Export candidate", start, "LiteRT model (*.tflite)"):
            w.export_candidate(path)

    def ask_report(self) -> None:
        w = self._w
        start = str(Path(w.settings.export_dir()) / "report.html")
        if path := dialogs.save_file(w, "Export report", start, "HTML (*.html)"):
            w.export_report(path)

    def ask_sweep(self) -> None:
        w = self._w
        try:
            base = w.editor.recipe()
        except StudioError:
            base = Recipe()
        session = w.workbench.session
        history = session.finished() if session else []
        dialog = SweepDialog(
            base,
            history,
            w.workbench.workers,
            w,
            w.settings.sweep_modes(),
            session.baseline if session else None,
            run_on=w.settings.run_on(),
        )
        dialog.run_on.test_requested.connect(
            lambda address: w.workbench.probe_cluster(address, dialog.run_on.show_result)
        )
        if dialog.exec() and dialog.grid is not None:
            w.settings.remember_sweep_modes(dialog.ticked())
            grid = dialog.grid
            w.run_on(dialog.run_on, lambda: w.run_sweep(grid), "Cannot run the sweep")

    def ask_autotune(self) -> None:
        w = self._w
        session = w.workbench.session
        if session is None:
            return
        remembered = w.settings.autotune()
        if session.baseline is not None and session.baseline.metric == MAE:
            unit = "% MAE"
        else:
            unit = "pt"
            remembered = dataclasses.replace(remembered, budget=w.budget.value())
        dialog = AutotuneDialog(
            remembered,
            threads=w.workbench.threads,
            unit=unit,
            parent=w,
            run_on=w.settings.run_on(),
        )
        dialog.run_on.test_requested.connect(
            lambda address: w.workbench.probe_cluster(address, dialog.run_on.show_result)
        )
        if dialog.exec():
            w.settings.remember_autotune(dialog.settings())
            chosen, threads = dialog.settings(), dialog.threads.value()
            w.run_on(
                dialog.run_on, lambda: w.find_best(chosen, threads), "Cannot start the search"
            )

    def ask_preferences(self) -> None:
        w = self._w
        s = w.settings
        dialog = PreferencesDialog(
            workers=s.workers(),
            threads=s.threads(),
            idle_minutes=s.idle_minutes(),
            default_workers=s.default_workers(),
            parent=w,
        )
        if dialog.exec():
            s.set_preferences(
                workers=dialog.workers.value(),
                threads=dialog.threads.value(),
                idle_minutes=dialog.idle.value(),
            )
            w.workbench.threads = dialog.threads.value()

    def about(self) -> None:
        dialogs.about(self._w)

    def show_walkthrough(self) -> None:
        self.help_window = dialogs.show_text(
            self._w,
            "Walkthrough",
            markdown=dialogs.walkthrough_markdown(dialogs.readme_markdown()),
        )

    def show_shortcuts(self) -> None:
        actions = [a for a in vars(self).values() if isinstance(a, QAction)]
        self.help_window = dialogs.show_text(
            self._w, "Keyboard shortcuts", html=dialogs.shortcuts_html(actions)
        )

    def fill_recent(self) -> None:
        w = self._w
        self.recent_menu.clear()
        for path in w.recent_files():
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: w.open_model(p))
        if not w.recent_files():
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    def fill_recent_sessions(self) -> None:
        """Sessions newest first, each with its model, date and candidate count."""
        w = self._w
        menu = self.recent_sessions_menu
        menu.clear()
        current = w.workbench.session.folder if w.workbench.session else None
        sessions = list_sessions(w.sessions_root)
        if current is not None and current not in [s.folder for s in sessions]:
            # The open session, even before its first candidate.
            opened = [s for s in list_sessions(w.sessions_root, empty=True) if s.folder == current]
            sessions = opened + sessions
        for info in sessions:
            mark = "  (open)" if info.folder == current else ""
            action = menu.addAction(info.title() + mark)
            action.setToolTip(
                f"{info.folder}\nmodel: {info.model}\ndata: {shown_source(info.data)}"
            )
            action.triggered.connect(lambda _=False, f=str(info.folder): w.open_session(f))
        if not sessions:
            menu.addAction("(none yet)").setEnabled(False)
