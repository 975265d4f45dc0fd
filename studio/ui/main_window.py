"""The studio window: panels on the left, trade-off plots in the middle, results below.

The window binds widgets to the workbench (the session and its jobs) and holds no
engine logic.  Every action that asks for a path has a plain method taking that path
(`open_model`, `export_candidate`, `load_recipe`, ...), which the menus call after their
file dialog and tests call directly.  Errors are shown, logged and survived.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QToolBar,
    QWidget,
)

from studio.ui.code_dialog import CodeDialog
from studio.ui.diagnosis_view import DiagnosisView
from studio.ui.job_list import JobList
from studio.ui.layer_bars import LayerBars
from studio.ui.model_panel import ModelPanel, shown_source
from studio.ui.panels import RecipeEditor
from studio.ui.preferences import PreferencesDialog
from studio.ui.results_table import ResultsTable
from studio.ui.sweep_dialog import SweepDialog
from studio.ui.trade_off_plot import LATENCY, LEGEND, SIZE, TradeOffPlot, accuracy_axis
from studio.ui.training_curves import TrainingCurves
from studio.ui.welcome import WelcomePanel
from studio.ui.workbench import Workbench
from studio.values import atomic, units
from studio.values.errors import StudioError
from studio.values.grid import Grid
from studio.values.recipe import Quantization, Recipe
from studio.values.report import write as write_report
from studio.values.resources import DEMO
from studio.values.results import from_session, recommend
from studio.values.session import FILE as SESSION_FILE
from studio.values.session import default_root, list_sessions

MAX_RECENT = 8
ABOUT_PACKAGES = [
    ("TensorFlow", "tensorflow"),
    ("tf_keras", "tf-keras"),
    ("TensorFlow Model Optimization", "tensorflow-model-optimization"),
    ("LiteRT", "ai-edge-litert"),
    ("pyqtgraph", "pyqtgraph"),
]


def about_text() -> str:
    """What the studio is, and the versions it runs on (read from package metadata, so
    the window's process still never imports TensorFlow)."""
    from importlib import metadata

    import PySide6
    from PySide6.QtCore import qVersion

    lines = []
    for shown, name in ABOUT_PACKAGES:
        try:
            lines.append(f"{shown} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            lines.append(f"{shown}: not installed")
    lines.append(f"Qt {qVersion()} (PySide6 {PySide6.__version__})")
    return (
        "<p><b>TFLite Optimization Studio</b></p>"
        "<p>Quantize, prune and cluster Keras models for LiteRT, and see what each "
        "technique does to size, accuracy and latency.</p><p>" + "<br>".join(lines) + "</p>"
    )


PLOT_STAGGER_MS = 30
MODEL_FILTER = "Keras models (*.keras *.h5 *.hdf5);;All files (*)"


class MainWindow(QMainWindow):
    def __init__(self, workbench: Workbench, settings: QSettings) -> None:
        super().__init__()
        self.workbench = workbench
        self.settings = settings
        self.selected: int | None = None
        self._curves_for: int | None = None
        self.error_box: QMessageBox | None = None
        self.code_dialogs: dict[int, CodeDialog] = {}
        self.setWindowTitle("TFLite Optimization Studio")
        self.setAcceptDrops(True)
        self.resize(1440, 900)

        self.editor = RecipeEditor()
        self.model_panel = ModelPanel()
        self.plots = self._make_plots()
        self.layer_bars = LayerBars()
        self.diagnosis = DiagnosisView()
        self.layer_bars.addTab(self.diagnosis, "Int8 error per layer")
        self.layer_bars.setTabToolTip(
            2, "Which layers lose accuracy in full int8; keep them in float"
        )
        self.recommended: dict[str, int | None] = {"smallest": None, "fastest": None}
        self.table = ResultsTable()
        self.jobs = JobList()
        self.curves = TrainingCurves()
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.budget = QDoubleSpinBox()
        self.overall = QProgressBar()
        self.recommend_label = QLabel()
        self.recommend_label.setToolTip(
            "The smallest (gzip) and the fastest candidate whose accuracy is within the "
            "budget set in the toolbar; circled on the plots, bold in the table"
        )
        self.status_text = QLabel()

        self._plots_to_refresh: list[TradeOffPlot] = []
        self._plot_timer = QTimer(self)
        self._plot_timer.setInterval(PLOT_STAGGER_MS)
        self._plot_timer.timeout.connect(self._refresh_next_plot)

        self._build_layout()
        self._build_actions()
        self._connect()
        self._restore_settings()

    # -- building ------------------------------------------------------------------

    def _make_plots(self) -> list[TradeOffPlot]:
        acc = accuracy_axis("top1")
        return [
            TradeOffPlot(SIZE, acc, "Size vs accuracy"),
            TradeOffPlot(LATENCY, acc, "Latency vs accuracy"),
            TradeOffPlot(SIZE, LATENCY, "Size vs latency"),
        ]

    def _build_layout(self) -> None:
        center = QWidget()
        grid = QGridLayout(center)
        grid.setContentsMargins(4, 4, 4, 4)
        self.welcome = WelcomePanel()
        self.welcome.dismissed.connect(lambda: self.settings.setValue("welcome/dismissed", True))
        self.welcome.setVisible(self.settings.value("welcome/dismissed") not in (True, "true"))
        grid.addWidget(self.welcome, 0, 0, 1, 2)
        legend = QLabel(LEGEND)
        legend.setWordWrap(True)
        grid.addWidget(legend, 3, 0, 1, 2)
        grid.addWidget(self.plots[0], 1, 0)
        grid.addWidget(self.plots[1], 1, 1)
        grid.addWidget(self.plots[2], 2, 0)
        grid.addWidget(self.layer_bars, 2, 1)
        grid.setRowStretch(1, 1)
        grid.setRowStretch(2, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        for plot in self.plots:
            plot.setMinimumHeight(200)
        self.setCentralWidget(center)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.editor)
        setup = QTabWidget()
        setup.addTab(scroll, "Techniques")
        setup.addTab(self.model_panel, "Model && data")
        setup.setMinimumWidth(380)
        self.setup_tabs = setup
        left = QDockWidget("Setup", self)
        left.setObjectName("setup-dock")
        left.setWidget(setup)
        left.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, left)

        side = QTabWidget()
        side.addTab(self.jobs, "Jobs")
        side.addTab(self.curves, "Training curves")
        side.addTab(self.log_view, "Log")
        self.side_tabs = side
        bottom_split = QSplitter()
        bottom_split.addWidget(self.table)
        bottom_split.addWidget(side)
        bottom_split.setSizes([1020, 380])
        bottom = QDockWidget("Candidates", self)
        bottom.setObjectName("results-dock")
        bottom.setWidget(bottom_split)
        bottom.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, bottom)
        self.resizeDocks([bottom], [300], Qt.Orientation.Vertical)

        self.budget.setRange(0.0, 50.0)
        self.budget.setSingleStep(0.5)
        self.budget.setDecimals(1)
        self.budget.setSuffix(" pt")
        self.budget.setValue(1.0)
        self.budget.setToolTip(
            "How many points of top-1 accuracy you accept to lose against the float "
            "model. The green band on the accuracy plots shows it."
        )
        self.overall.setFixedWidth(180)
        self.overall.setRange(0, 1000)
        self.overall.hide()
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().addPermanentWidget(self.recommend_label)
        self.statusBar().addPermanentWidget(self.overall)

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(tip or text)
        action.setStatusTip(tip or text)
        action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        self.open_action = self._action(
            "&Open model…",
            self._ask_model,
            QKeySequence.StandardKey.Open,
            "Open a .keras or .h5 model file",
        )
        self.open_folder_action = self._action(
            "Open &SavedModel folder…", self._ask_savedmodel, tip="Open a SavedModel folder"
        )
        self.demo_action = self._action(
            "Open the &demo", lambda: self.open_model(DEMO), tip="The bundled digits model and data"
        )
        self.session_action = self._action(
            "Open s&ession…", self._ask_session, tip="Reopen a session folder with its candidates"
        )
        self.load_recipe_action = self._action(
            "&Load recipe…", self._ask_recipe, tip="Put a recipe JSON file into the panels"
        )
        self.save_recipe_action = self._action(
            "Save &recipe…", self._ask_save_recipe, tip="Save the panels' settings as recipe JSON"
        )
        self.export_action = self._action(
            "&Export candidate…",
            self._ask_export,
            "Ctrl+E",
            "Save the selected candidate's .tflite and its recipe JSON",
        )
        self.code_action = self._action(
            "Show &code…",
            self.show_code,
            "Ctrl+Shift+C",
            "A standalone Python script that reproduces the selected candidate",
        )
        self.report_action = self._action(
            "Export re&port…",
            self._ask_report,
            "Ctrl+Shift+E",
            "An HTML report (plots, table, recipes, recommendation) and a CSV of all figures",
        )
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.run_action = self._action(
            "&Run candidate", self.editor.request_run, "Ctrl+R", "Queue the panels' recipe"
        )
        self.sweep_action = self._action(
            "S&weep…",
            self._ask_sweep,
            "Ctrl+Shift+R",
            "Run a grid of sparsities, clusters and quantization modes",
        )
        self.diagnose_action = self._action(
            "&Diagnose int8 per layer",
            self.diagnose,
            "Ctrl+D",
            "Find the layers that lose the most accuracy in full int8",
        )
        self.cancel_all_action = self._action(
            "&Cancel all",
            self.workbench.cancel_all,
            tip="Cancel every queued and running candidate",
        )
        self.about_action = self._action("&About", self._about)
        self.preferences_action = self._action(
            "&Preferences…",
            self._preferences,
            "Ctrl+,",
            "Worker processes and LiteRT threads",
        )

        menu = self.menuBar().addMenu("&File")
        for action in (self.open_action, self.open_folder_action, self.demo_action):
            menu.addAction(action)
        self.recent_menu = menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        menu.addAction(self.session_action)
        self.recent_sessions_menu = menu.addMenu("Recent &sessions")
        self.recent_sessions_menu.setToolTipsVisible(True)
        self.recent_sessions_menu.aboutToShow.connect(self._fill_recent_sessions)
        menu.addSeparator()
        menu.addAction(self.load_recipe_action)
        menu.addAction(self.save_recipe_action)
        menu.addAction(self.export_action)
        menu.addAction(self.code_action)
        menu.addAction(self.report_action)
        menu.addSeparator()
        menu.addAction(self.preferences_action)
        menu.addAction(self.quit_action)
        run = self.menuBar().addMenu("&Run")
        run.addAction(self.run_action)
        run.addAction(self.sweep_action)
        run.addAction(self.diagnose_action)
        run.addSeparator()
        run.addAction(self.cancel_all_action)
        self.menuBar().addMenu("&Help").addAction(self.about_action)

        bar = QToolBar("Main")
        bar.setObjectName("main-toolbar")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        bar.addAction(self.open_action)
        bar.addAction(self.run_action)
        bar.addAction(self.sweep_action)
        bar.addAction(self.export_action)
        bar.addSeparator()
        bar.addWidget(QLabel(" Accuracy budget: "))
        bar.addWidget(self.budget)
        self.addToolBar(bar)
        self.export_action.setEnabled(False)
        self.code_action.setEnabled(False)

    def _connect(self) -> None:
        wb = self.workbench
        wb.session_changed.connect(self._on_session)
        wb.baseline_changed.connect(self._on_baseline)
        wb.setup_failed.connect(self._on_setup_failed)
        wb.candidate_added.connect(self._on_candidate_added)
        wb.candidate_changed.connect(self._on_candidate_changed)
        wb.candidate_progress.connect(self._on_progress)
        wb.activity_changed.connect(self._on_activity)
        wb.log.connect(self._log)
        wb.diagnosis_ready.connect(self.diagnosis.show_errors)
        wb.diagnosis_failed.connect(self.diagnosis.failed)
        wb.script_ready.connect(self._on_script)
        wb.script_failed.connect(self._on_script_failed)
        self.diagnosis.diagnose_requested.connect(self.diagnose)
        self.diagnosis.run_requested.connect(self.run_selective)
        self.editor.run_requested.connect(self._run)
        self.model_panel.open_model_requested.connect(self._ask_model)
        self.model_panel.data_chosen.connect(self.set_data)
        self.jobs.cancel_requested.connect(wb.cancel)
        self.jobs.row_clicked.connect(self.select)
        self.table.candidate_selected.connect(self.select)
        for plot in self.plots:
            plot.candidate_clicked.connect(self.select)
        self.budget.valueChanged.connect(self._on_budget)

    # -- settings ------------------------------------------------------------------

    def _restore_settings(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = s.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        text = s.value("panels/recipe")
        if isinstance(text, str):
            with contextlib.suppress(StudioError):
                self.editor.set_recipe(Recipe.from_json(text))

    def _save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        with contextlib.suppress(StudioError):
            s.setValue("panels/recipe", self.editor.recipe().to_json())
        if self.workbench.session is not None:
            s.setValue("session/last", str(self.workbench.session.folder))
        s.sync()

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent/models", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in value or []]

    def _remember(self, model: str) -> None:
        if model == DEMO:
            return
        recent = [model] + [m for m in self.recent_files() if m != model]
        self.settings.setValue("recent/models", recent[:MAX_RECENT])

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_model(p))
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    @property
    def sessions_root(self) -> Path:
        return self.workbench.sessions_root or default_root()

    def _fill_recent_sessions(self) -> None:
        """Sessions newest first, each with its model, date and candidate count."""
        menu = self.recent_sessions_menu
        menu.clear()
        current = self.workbench.session.folder if self.workbench.session else None
        sessions = list_sessions(self.sessions_root)
        for info in sessions:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.modified))
            mark = "  (open)" if info.folder == current else ""
            action = menu.addAction(
                f"{shown_source(info.model)} — {when} — {info.candidates} candidate(s){mark}"
            )
            action.setToolTip(f"{info.folder}\ndata: {shown_source(info.data)}")
            action.triggered.connect(lambda _=False, f=str(info.folder): self.open_session(f))
        if not sessions:
            menu.addAction("(none yet)").setEnabled(False)

    def ask_about_running(self) -> str | None:
        """Jobs are running and the user opens something else: "keep" (they finish in
        their own session), "cancel", or None (don't open).  Tests replace this."""
        count = self.workbench.busy()
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Jobs are still running",
            f"{count} job(s) of this session are still running or queued.",
            parent=self,
        )
        box.setInformativeText(
            "Let them finish: their results are saved in this session (File → Recent "
            "sessions reopens it). Cancel them: their work so far is lost."
        )
        keep = box.addButton("Let them finish", QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton("Cancel them", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Don't open", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.exec()
        return {keep: "keep", cancel: "cancel"}.get(box.clickedButton())

    def _switch_ok(self) -> tuple[bool, bool]:
        """Whether to go on opening something else, and whether running jobs go on."""
        if not self.workbench.busy():
            return True, False
        answer = self.ask_about_running()
        return answer is not None, answer == "keep"

    # -- what the user does --------------------------------------------------------

    def start(self, model: str | None = None, data: str | None = None) -> None:
        """First view: the given model, else the last session, else the bundled demo."""
        if model is not None:
            self.open_model(model, data)
            return
        last = self.settings.value("session/last")
        if (
            isinstance(last, str)
            and (Path(last) / SESSION_FILE).is_file()
            and self.open_session(last)
        ):
            return
        self.open_model(DEMO, data or DEMO)

    def open_model(self, model: str, data: str | None = None) -> None:
        model = str(model)
        if model != DEMO and not Path(model).exists():
            self.show_error("Cannot open model", f"{model} does not exist.")
            return
        go_on, keep = self._switch_ok()
        if not go_on:
            return
        try:
            self.workbench.open_model(model, data, keep_running=keep)
        except StudioError as err:
            self.show_error("Cannot open model", str(err))
            return
        self._remember(model)

    def set_data(self, data: str) -> None:
        go_on, keep = self._switch_ok()
        if not go_on:
            return
        try:
            self.workbench.set_data(data, keep_running=keep)
        except StudioError as err:
            self.show_error("Cannot use this data", str(err))

    def open_session(self, folder: str) -> bool:
        go_on, keep = self._switch_ok()
        if not go_on:
            return False
        try:
            self.workbench.open_session(folder, keep_running=keep)
        except StudioError as err:
            self.show_error("Cannot open session", str(err))
            return False
        notes = self.workbench.session.notes
        if notes:
            self.show_error("Session repaired", "\n".join(notes))
        return True

    def load_recipe(self, path: str) -> bool:
        try:
            self.editor.set_recipe(Recipe.load(path))
        except StudioError as err:
            self.show_error("Cannot load recipe", str(err))
            return False
        self._log(f"recipe loaded from {path}")
        return True

    def save_recipe(self, path: str) -> bool:
        try:
            atomic.write_text(path, self.editor.recipe().to_json())
        except StudioError as err:
            self.show_error("Cannot save recipe", str(err))
            return False
        return True

    def export_candidate(self, path: str) -> bool:
        """Write the selected candidate's .tflite to `path` and its recipe beside it."""
        if self.selected is None:
            return False
        session = self.workbench.session
        candidate = session.candidates[self.selected]
        target = Path(path)
        if target.suffix != ".tflite":
            target = target.with_name(target.name + ".tflite")
        problem = session.file_problem(candidate.id)
        if problem:
            self.workbench.check_files()
            self.show_error("Cannot export", f"{candidate.name} cannot be exported: {problem}.")
            return False
        try:
            blob = session.tflite(candidate.id).read_bytes()
        except OSError as err:
            self.show_error("Cannot export", f"{session.tflite(candidate.id)}: {err.strerror}")
            return False
        try:  # both files or neither
            atomic.write_all(
                {
                    target: blob,
                    target.with_suffix(".recipe.json"): candidate.recipe.to_json().encode(),
                }
            )
        except StudioError as err:
            self.show_error("Cannot export", str(err))
            return False
        self._log(f"exported {candidate.name} to {target}")
        self.statusBar().showMessage(f"Exported {candidate.name} to {target}", 8000)
        return True

    def show_code(self) -> CodeDialog | None:
        """Open the script of the selected candidate (generated in a worker)."""
        if self.selected is None:
            return None
        candidate = self.workbench.candidate(self.selected)
        dialog = CodeDialog(f"{candidate.name} {candidate.label}", self)
        self.code_dialogs[candidate.id] = dialog
        dialog.show()
        self.workbench.script(candidate.id)
        return dialog

    def _on_script(self, candidate_id: int, text: str) -> None:
        if candidate_id in self.code_dialogs:
            self.code_dialogs[candidate_id].show_script(text)

    def _on_script_failed(self, candidate_id: int, message: str) -> None:
        if candidate_id in self.code_dialogs:
            self.code_dialogs[candidate_id].failed(message)

    def export_report(self, path: str) -> bool:
        """The session's HTML report at `path` and its CSV beside it."""
        session = self.workbench.session
        try:
            html_path, csv_path = write_report(session.folder, path)
        except StudioError as err:
            self.show_error("Cannot export the report", str(err))
            return False
        self._log(f"report written: {html_path} and {csv_path}")
        self.statusBar().showMessage(f"Report written to {html_path}", 8000)
        return True

    def _ask_report(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export report", str(Path(self._start_dir()) / "report.html"), "HTML (*.html)"
        )
        if path:
            self.export_report(path)

    def run_sweep(self, grid: Grid) -> list[int]:
        session = self.workbench.session
        if session is None or session.baseline is None:
            self.show_error("Cannot run a sweep yet", "Wait until the float baseline is measured.")
            return []
        ids = self.workbench.run_sweep(grid)
        self._curves_for = ids[0] if ids else None
        return ids

    def diagnose(self) -> None:
        self.layer_bars.setCurrentWidget(self.diagnosis)
        self.diagnosis.busy()
        self.workbench.diagnose()

    def run_selective(self, layers: tuple[str, ...]) -> None:
        """The panels' recipe as full int8 with these layers kept in float, queued."""
        try:
            recipe = self.editor.recipe()
        except StudioError:
            recipe = Recipe()
        q = (
            dataclasses.replace(
                recipe.quantization, mode="int8", qat=False, float_layers=layers, io_type="float32"
            )
            if recipe.quantization.mode != "none"
            else Quantization(mode="int8", float_layers=layers)
        )
        self.editor.set_recipe(dataclasses.replace(recipe, quantization=q))
        self.editor.request_run()

    def select(self, candidate_id: int | None) -> None:
        self.selected = candidate_id
        session = self.workbench.session
        candidate = session.candidates.get(candidate_id) if session and candidate_id else None
        self.table.select(candidate_id)
        for plot in self.plots:
            plot.select(candidate_id)
        done = candidate is not None and candidate.status == "done"
        self.export_action.setEnabled(done)
        self.code_action.setEnabled(candidate is not None)
        layers = list(candidate.metrics.layers) if done else []
        self.layer_bars.show_layers(candidate.name if candidate else None, layers)
        self._show_curves()

    def show_error(self, title: str, text: str) -> None:
        """A non-blocking dialog, and the log: the window stays usable."""
        self._log(f"{title}: {text}")
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.error_box = box

    # -- dialogs -------------------------------------------------------------------

    def _start_dir(self) -> str:
        recent = self.recent_files()
        return str(Path(recent[0]).parent) if recent else str(Path.home())

    def _ask_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", self._start_dir(), MODEL_FILTER)
        if path:
            self.open_model(path)

    def _ask_savedmodel(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open SavedModel folder", self._start_dir())
        if path:
            self.open_model(path)

    def _ask_session(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Open session folder", str(self.sessions_root)
        )
        if folder:
            self.open_session(folder)

    def _ask_recipe(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load recipe", "", "Recipe (*.json)")
        if path:
            self.load_recipe(path)

    def _ask_save_recipe(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save recipe", "recipe.json", "Recipe (*.json)")
        if path:
            self.save_recipe(path)

    def _ask_export(self) -> None:
        if self.selected is None:
            return
        session = self.workbench.session
        stem = "demo" if session.model == DEMO else Path(session.model).stem
        name = f"{stem}_{session.candidates[self.selected].name}.tflite"
        path, _ = QFileDialog.getSaveFileName(
            self, "Export candidate", str(Path(self._start_dir()) / name), "LiteRT model (*.tflite)"
        )
        if path:
            self.export_candidate(path)

    def _preferences(self) -> None:
        dialog = PreferencesDialog(self.settings, self)
        if dialog.exec():
            self.workbench.threads = dialog.threads.value()

    def _ask_sweep(self) -> None:
        try:
            base = self.editor.recipe()
        except StudioError:
            base = Recipe()
        session = self.workbench.session
        history = session.finished() if session else []
        workers = getattr(self.workbench.runner.backend, "size", 1)
        dialog = SweepDialog(base, history, workers, self)
        if dialog.exec() and dialog.grid is not None:
            self.run_sweep(dialog.grid)

    def _about(self) -> None:
        QMessageBox.about(self, "About TFLite Optimization Studio", about_text())

    # -- drag and drop -------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            path = urls[0]
            if path.endswith(".json"):
                self.load_recipe(path)
            else:
                self.open_model(path)
            event.acceptProposedAction()

    # -- workbench events ----------------------------------------------------------

    def _run(self, recipe: Recipe) -> None:
        try:
            candidate_id = self.workbench.run(recipe)
        except StudioError as err:
            self.show_error("Cannot run", str(err))
            return
        self._curves_for = candidate_id  # curves follow the newest run unless one is selected
        self._show_curves()

    def _on_session(self) -> None:
        session = self.workbench.session
        self.selected = None
        self._curves_for = None
        self.setWindowTitle(f"{shown_source(session.model)} — TFLite Optimization Studio")
        # Remembered at once, not at a clean close: after a crash the studio reopens it.
        self.settings.setValue("session/last", str(session.folder))
        self.settings.sync()
        self.editor.set_blocked("")
        self.model_panel.show_setup(session.model, session.data)
        self.jobs.clear()
        self.budget.blockSignals(True)
        self.budget.setValue(session.budget)
        self.budget.blockSignals(False)
        self.table.results.set_data(list(session.candidates.values()), session.baseline)
        self.editor.set_layers(session.summary)
        self.select(None)
        self._refresh_plots()

    def _on_baseline(self) -> None:
        session = self.workbench.session
        if session.summary and session.baseline:
            self.model_panel.show_summary(session.summary, session.baseline)
            self.editor.set_layers(session.summary)
            metric = session.baseline.metric
            for plot in self.plots[:2]:
                plot.y_axis = accuracy_axis(metric)
                plot.setLabel("left", plot.y_axis.title)
        self.table.results.set_data(list(session.candidates.values()), session.baseline)
        self._refresh_plots()

    def _on_setup_failed(self, kind: str, message: str) -> None:
        self.model_panel.show_status(message, error=True)
        self.setup_tabs.setCurrentWidget(self.model_panel)
        if kind != "DataError":
            self.editor.set_blocked(
                "the model has no float baseline yet (see Model & data); open it again "
                "or open another model"
            )
        if kind == "Cancelled":
            self._log(message)
        elif kind == "UntrustedModelError":
            self._ask_trust(message)
        elif kind != "DataError":
            self.show_error("Cannot load the model", message)
        else:
            self._log(f"data problem: {message}")

    def _ask_trust(self, message: str) -> None:
        """The file would run code when loaded: open it only if the user says so."""
        session = self.workbench.session
        box = QMessageBox(
            QMessageBox.Icon.Warning, "This model file contains code", "", parent=self
        )
        box.setText(
            f"{message}.\n\nTrust it only if you wrote it or got it from someone you "
            "trust: its code runs with your permissions."
        )
        box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
        trust = box.addButton("Trust and open", QMessageBox.ButtonRole.AcceptRole)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(
            lambda button: (
                self.workbench.open_model(session.model, session.data, trust=True)
                if button is trust
                else None
            )
        )
        box.open()
        self.error_box = box

    def _on_candidate_added(self, candidate_id: int) -> None:
        candidate = self.workbench.candidate(candidate_id)
        self.table.results.upsert(candidate)
        self.jobs.add(candidate_id, candidate.label)
        self.side_tabs.setCurrentWidget(self.jobs)

    def _on_candidate_changed(self, candidate_id: int) -> None:
        candidate = self.workbench.candidate(candidate_id)
        self.table.results.upsert(candidate)
        if candidate.status not in ("queued", "running"):
            self.jobs.remove(candidate_id)
        if candidate.status == "done":
            self._refresh_plots()
            if candidate.recipe.quantization.float_layers:
                self._compare_selective(candidate)
            if candidate_id == self.selected:
                self.select(candidate_id)
        elif candidate.status == "failed":
            self.statusBar().showMessage(f"{candidate.name} failed: {candidate.message}", 15000)

    def _compare_selective(self, candidate) -> None:
        """What keeping layers in float bought, against the same recipe in plain int8."""
        plain_recipe = dataclasses.replace(
            candidate.recipe,
            quantization=dataclasses.replace(candidate.recipe.quantization, float_layers=()),
        )
        plain = [c for c in self.workbench.session.finished() if c.recipe == plain_recipe]
        kept = ", ".join(candidate.recipe.quantization.float_layers)
        if not plain:
            self.diagnosis.status.setText(
                f"{candidate.name} keeps {kept} in float. Run the same recipe in plain int8 "
                f"to see what that buys."
            )
            return
        m, p = candidate.metrics, plain[-1].metrics
        accuracy = units.change_text(m, p)
        self.diagnosis.status.setText(
            f"{candidate.name} (keeps {kept} in float) vs {plain[-1].name} (plain int8): "
            f"{accuracy + ' accuracy, ' if accuracy else ''}"
            f"{units.kb(m.gzip_bytes - p.gzip_bytes):+.1f} KB gzipped, "
            f"{m.latency_ms.median - p.latency_ms.median:+.4f} ms."
        )

    def _on_progress(self, candidate_id: int, event) -> None:
        self.jobs.update_row(
            candidate_id,
            self.workbench.fraction(candidate_id),
            self.workbench.stage_text(candidate_id),
        )
        if event.metrics and candidate_id == self._curves_candidate():
            self._show_curves()

    def _on_activity(self) -> None:
        count, fraction = self.workbench.overall()
        for candidate_id in self.jobs.rows:
            self.jobs.update_row(
                candidate_id,
                self.workbench.fraction(candidate_id),
                self.workbench.stage_text(candidate_id),
            )
        if count:
            self.overall.setValue(round(1000 * fraction))
            self.overall.setFormat("%p%")
            self.overall.show()
            self.status_text.setText(f"{count} candidate(s) running or queued")
        elif self.workbench.baseline_running:
            self.overall.hide()
            self.status_text.setText("Measuring the float baseline…")
        else:
            self.overall.hide()
            self.status_text.setText("Ready")

    def _on_budget(self, value: float) -> None:
        self.workbench.set_budget(value)
        self._refresh_plots()

    # -- views ---------------------------------------------------------------------

    def _refresh_plots(self) -> None:
        """Redraw the plots one per event-loop turn: drawing all three in one turn would
        hold the loop for ~50-100 ms on a busy 2-core machine (benchmarks/ui_responsiveness.py)."""
        self._update_recommendation()
        self._plots_to_refresh = list(self.plots)
        self._plot_timer.start()

    def _update_recommendation(self) -> None:
        """The smallest and the fastest candidate within the accuracy budget."""
        session = self.workbench.session
        if session is None or session.baseline is None:
            return
        self.workbench.check_files()  # never recommend a candidate whose file is gone
        done = {c.name: c for c in session.finished()}
        results = from_session(session)
        chosen = recommend(results, session.baseline, session.budget).to_dict()
        self.recommended = {k: done[v].id if v else None for k, v in chosen.items()}
        self.table.results.recommended = {i for i in self.recommended.values() if i}
        self.table.viewport().update()
        if results:
            shown = {k: f"c{v:03d}" if v else "none" for k, v in self.recommended.items()}
            self.recommend_label.setText(
                f"Within {session.budget:g} pt of float: smallest {shown['smallest']}, "
                f"fastest {shown['fastest']}"
            )

    def _refresh_next_plot(self) -> None:
        session = self.workbench.session
        if session is None or not self._plots_to_refresh:
            self._plot_timer.stop()
            return
        plot = self._plots_to_refresh.pop(0)
        plot.selected = self.selected
        plot.show_data(
            session.baseline,
            session.finished(),
            session.budget,
            {i for i in self.recommended.values() if i},
        )
        if not self._plots_to_refresh:
            self._plot_timer.stop()

    def _curves_candidate(self) -> int | None:
        return self.selected if self.selected is not None else self._curves_for

    def _show_curves(self) -> None:
        candidate_id = self._curves_candidate()
        session = self.workbench.session
        if candidate_id is None or session is None or candidate_id not in session.candidates:
            self.curves.show_curves(None, [])
            return
        candidate = session.candidates[candidate_id]
        self.curves.show_curves(
            f"{candidate.name} {candidate.label}", self.workbench.curves.get(candidate_id, [])
        )

    def _log(self, text: str) -> None:
        self.log_view.appendPlainText(text)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self._save_settings()
        self.workbench.shutdown()
        event.accept()
