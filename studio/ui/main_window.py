"""The studio window: it lays out the parts and wires them; it decides nothing itself.

Technique panels on the left (`views.panels`), trade-off plots in the middle
(`plots_area`), candidates below (`candidates_area`).  The session and its jobs are the
workbench's, the selection and the recommendation the view state's, settings keys
`settings`', commands `actions`', questions `dialogs`'.  Every command that asks for a
path has a plain method taking that path (`open_model`, `export_candidate`,
`load_recipe`, …), which the menus call after their file dialog and tests call directly.
Errors are shown, logged and survived.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6.QtCore import QEvent, QPoint, QRect, QSettings, QSize, Qt, QUrl
from PySide6.QtGui import (
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QDoubleSpinBox,
    QLabel,
    QMainWindow,
    QMenu,
    QScrollArea,
    QTabWidget,
)

from studio.orchestrator.orchestrator import RERUNNABLE
from studio.ui import dialogs
from studio.ui.actions import Actions
from studio.ui.candidates_area import CandidatesArea
from studio.ui.plots_area import PlotsArea
from studio.ui.progress_bar import ProgressBar
from studio.ui.settings import Settings
from studio.ui.state import ViewState
from studio.ui.views.code_dialog import CodeDialog
from studio.ui.views.compare_dialog import CompareDialog
from studio.ui.views.model_panel import ModelPanel, shown_source
from studio.ui.views.panels import RecipeEditor
from studio.ui.wheel import guard_wheel
from studio.ui.workbench import Workbench
from studio.values import atomic, selective, splits
from studio.values.autotune import Settings as SearchSettings
from studio.values.errors import StudioError
from studio.values.grid import Grid
from studio.values.recipe import Recipe
from studio.values.report import write as write_report
from studio.values.resources import DEMO, is_demo_model
from studio.values.session import FILE as SESSION_FILE
from studio.values.session import default_root, list_sessions

PREFERRED = QSize(1440, 900)  # the size the layout was designed at
FRAME = QSize(16, 48)  # room left for a window manager's borders and title bar


def first_geometry(available: QRect) -> QRect:
    """The first window: the preferred size where the screen has room, else the
    screen's room less a frame; centred.  (A fixed 1440x900 cut off the status bar and
    the Jobs panel on a 1366x768 laptop.)"""
    size = PREFERRED.boundedTo(available.size() - FRAME)
    rect = QRect(QPoint(0, 0), size)
    rect.moveCenter(available.center())
    return rect


def clamped(geometry: QRect, available: QRect) -> QRect:
    """A remembered geometry that fits the screen it opens on now (saved on a larger
    screen, or a screen that is gone)."""
    size = geometry.size().boundedTo(available.size() - FRAME)
    rect = QRect(geometry.topLeft(), size)
    room = available.adjusted(0, 0, -FRAME.width(), -FRAME.height())
    x = min(max(rect.left(), room.left()), room.right() - size.width() + 1)
    y = min(max(rect.top(), room.top()), room.bottom() - size.height() + 1)
    rect.moveTopLeft(QPoint(max(x, available.left()), max(y, available.top())))
    return rect


class MainWindow(QMainWindow):
    def __init__(self, workbench: Workbench, settings: QSettings) -> None:
        super().__init__()
        self.workbench = workbench
        self.settings = Settings(settings)
        self.state = ViewState(workbench, self)
        self.error_box = None
        self.code_dialogs: dict[int, CodeDialog] = {}
        self.setWindowTitle("TFLite Optimization Studio")
        self.setAcceptDrops(True)

        self.editor = RecipeEditor()
        self.default_recipe = self.editor.recipe()  # where a new session's panels start
        self._loading_session = False  # the panels are being set from a session
        self.model_panel = ModelPanel()
        self.center = PlotsArea(workbench, self.state, self.settings)
        self.bottom = CandidatesArea(workbench, self.state)
        self.budget = QDoubleSpinBox()
        self.overall = ProgressBar()
        self.recommend_label = QLabel()
        self.status_text = QLabel()
        self._build_layout()
        self.commands = Actions(self)
        self.commands.build_menus()
        self._connect()
        guard_wheel(self)
        self._restore_settings()

    # views the tests and the self-test reach for
    plots = property(lambda self: self.center.plots)
    diagnosis = property(lambda self: self.center.diagnosis)
    welcome = property(lambda self: self.center.welcome)
    table = property(lambda self: self.bottom.table)
    jobs = property(lambda self: self.bottom.jobs)
    selected = property(lambda self: self.state.selected)
    recommended = property(lambda self: self.state.recommended_ids)

    # -- building ------------------------------------------------------------------

    def _build_layout(self) -> None:
        self.setCentralWidget(self.center)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.editor)
        self.setup_tabs = QTabWidget()
        # Model & data first: where the README's walkthrough starts, and what a user
        # checks before choosing techniques.
        self.setup_tabs.addTab(self.model_panel, "Model && data")
        self.setup_tabs.addTab(scroll, "Techniques")
        self.setup_tabs.setMinimumWidth(380)
        left = QDockWidget("Setup", self)
        left.setObjectName("setup-dock")
        left.setWidget(self.setup_tabs)
        left.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, left)
        bottom = QDockWidget("Candidates", self)
        bottom.setObjectName("results-dock")
        bottom.setWidget(self.bottom)
        bottom.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, bottom)
        self.candidates_dock = bottom

        self.budget.setRange(0.0, 50.0)
        self.budget.setSingleStep(0.5)
        self.budget.setDecimals(1)
        self.budget.setSuffix(" pt")
        self.budget.setValue(1.0)
        self.budget.setToolTip(
            "How many points of top-1 accuracy you accept to lose against the float "
            "model. The green band on the accuracy plots shows it."
        )
        self.recommend_label.setToolTip(
            "The smallest (gzip) and the fastest candidate whose accuracy is within the "
            "budget set in the toolbar; circled on the plots, bold in the table"
        )
        self.overall.setFixedWidth(180)
        self.overall.setRange(0, 1000)
        self.overall.hide()
        self.statusBar().addWidget(self.status_text, 1)
        self.statusBar().addPermanentWidget(self.recommend_label)
        self.statusBar().addPermanentWidget(self.overall)

    def _connect(self) -> None:
        wb, state = self.workbench, self.state
        wb.session_changed.connect(self._on_session)
        wb.baseline_changed.connect(self._on_baseline)
        wb.setup_failed.connect(self._on_setup_failed)
        wb.candidate_changed.connect(self._on_candidate_changed)
        wb.candidate_removed.connect(self._on_candidate_removed)
        self.table.menu_requested.connect(self._candidate_menu)
        wb.activity_changed.connect(self._on_activity)
        wb.script_ready.connect(lambda cid, text: self._code(cid, "show_script", text))
        wb.sensitivity_ready.connect(self._on_sensitivity)
        wb.script_failed.connect(lambda cid, message: self._code(cid, "failed", message))
        self.center.diagnosis.diagnose_requested.connect(self.diagnose)
        self.center.diagnosis.run_requested.connect(self.run_selective)
        self.center.search.start_requested.connect(self.commands.ask_autotune)
        self.editor.run_requested.connect(self._run)
        self.editor.changed.connect(self._keep_draft)
        self.model_panel.open_model_requested.connect(self.commands.ask_model)
        self.model_panel.data_chosen.connect(self.set_data)
        self.model_panel.output_chosen.connect(wb.set_output)
        self.budget.valueChanged.connect(wb.set_budget)
        wb.budget_changed.connect(state.update_recommendation)
        state.selection_changed.connect(self._on_selection)
        state.recommendation_changed.connect(self._on_recommendation)

    def _restore_settings(self) -> None:
        geometry, dock_state = self.settings.window()
        if geometry is None or not self.restoreGeometry(geometry):
            self.setGeometry(first_geometry(self._available()))
        else:
            self.setGeometry(clamped(self.geometry(), self._available()))
        if dock_state is not None:
            self.restoreState(dock_state)
        else:
            # First launch: the candidates get a share of the screen the window opens
            # on, so a 768-pixel-high laptop still has room for two rows of plots.
            screen = self.screen().availableGeometry().height() if self.screen() else 900
            self.resizeDocks(
                [self.candidates_dock], [max(190, int(screen * 0.28))], Qt.Orientation.Vertical
            )

    def _available(self) -> QRect:
        """The screen's room for windows (panels and docks of the desktop excluded)."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.availableGeometry() if screen else QRect(0, 0, 1440, 900)

    # -- what the user does --------------------------------------------------------

    def start(self, model: str | None = None, data: str | None = None) -> None:
        """First view: the given model, else the last session, else the bundled demo."""
        if model is not None:
            self.open_model(model, data)
            return
        last = self.settings.last_session
        if last and (Path(last) / SESSION_FILE).is_file() and self.open_session(last):
            return
        self.open_model(DEMO, data or DEMO)

    def open_model(self, model: str, data: str | None = None) -> None:
        """Open `model` with `data`; without data: the demo's own digits for the demo,
        else what the model was used with before (its sessions, its last data), else
        ask.  Never the data of another model (that gave a shape error, or figures that
        meant nothing)."""
        model = str(model)
        if model != DEMO and not Path(model).exists():
            self.show_error("Cannot open model", f"{model} does not exist.")
            return
        if is_demo_model(model) and data is None:
            data = DEMO  # the demo model with its own digits, not the user's data
        elif data is None:
            start = self.ask_model_start(model)
            if start is None:
                return
            kind, value = start
            if kind == "session":
                self.open_session(value)
                return
            data = value
        go_on, keep = self._switch_ok()
        opened = go_on and self._try(
            "Cannot open model", self.workbench.open_model, model, data, keep_running=keep
        )
        if opened:
            self.settings.remember_model(model)

    def set_data(self, data: str) -> None:
        go_on, keep = self._switch_ok()
        if go_on:
            self._try("Cannot use this data", self.workbench.set_data, data, keep_running=keep)

    def open_session(self, folder: str) -> bool:
        go_on, keep = self._switch_ok()
        if not go_on or not self._try(
            "Cannot open session", self.workbench.open_session, folder, keep_running=keep
        ):
            return False
        if self.workbench.session.notes:
            self.show_error("Session repaired", "\n".join(self.workbench.session.notes))
        return True

    def load_recipe(self, path: str) -> bool:
        if not self._try("Cannot load recipe", lambda: self.editor.set_recipe(Recipe.load(path))):
            return False
        self.bottom.log(f"recipe loaded from {path}")
        return True

    def save_recipe(self, path: str) -> bool:
        saved = self._try(
            "Cannot save recipe", lambda: atomic.write_text(path, self.editor.recipe().to_json())
        )
        if saved:
            self.settings.remember_export(path)
        return saved

    def export_candidate(self, path: str) -> bool:
        """Write the selected candidate's .tflite to `path` and its recipe beside it."""
        if self.selected is None:
            return False
        try:
            target = self.workbench.export(self.selected, Path(path))
        except StudioError as err:
            self.show_error("Cannot export", str(err))
            return False
        self.statusBar().showMessage(f"Exported to {target}", 8000)
        self.settings.remember_export(str(target))
        return True

    def export_report(self, path: str) -> bool:
        """The session's HTML report at `path` and its CSV beside it."""
        try:
            html_path, csv_path = write_report(self.workbench.session.folder, path)
        except StudioError as err:
            self.show_error("Cannot export the report", str(err))
            return False
        self.bottom.log(f"report written: {html_path} and {csv_path}")
        self.settings.remember_export(str(html_path))
        self.statusBar().showMessage(f"Report written to {html_path}", 8000)
        return True

    def show_code(self) -> CodeDialog | None:
        """Open the script of the selected candidate (generated in a worker)."""
        candidate = self.state.candidate()
        if candidate is None:
            return None
        dialog = CodeDialog(f"{candidate.name} {candidate.label}", self)
        self.code_dialogs[candidate.id] = dialog
        dialog.show()
        self.workbench.script(candidate.id)
        return dialog

    def run_sweep(self, grid: Grid) -> list[int]:
        session = self.workbench.session
        if session is None or session.baseline is None:
            self.show_error("Cannot run a sweep yet", "Wait until the float baseline is measured.")
            return []
        ids = self.workbench.run_sweep(grid)
        self.state.follow = ids[0] if ids else None
        return ids

    def run_on(self, choice, then, title: str) -> None:
        """Candidates on the place chosen in a dialog's "Run on" row (remembered), then
        `then()`; a cluster that cannot be reached is an error box, nothing runs."""
        try:
            cluster = choice.cluster()
        except StudioError as err:
            self.show_error(title, str(err))
            return
        self.settings.remember_run_on(choice.place(), choice.address.text())
        if cluster is not None:
            self.statusBar().showMessage(f"Connecting to the Ray cluster at {cluster.address} …")

        def connected() -> None:
            where = self.workbench.orchestrator.candidates_place()
            self.statusBar().showMessage(f"Candidates run on {where}", 15000)
            then()

        def failed(message: str) -> None:
            self.statusBar().clearMessage()
            self.show_error(title, message)

        self.workbench.run_on(cluster, connected, failed)

    def find_best(self, settings: SearchSettings, threads: int) -> bool:
        """An automatic search on the current model and data, in a new session; its
        trials land on the plots, its progress in the Jobs list, its answer in the
        Search tab."""
        session = self.workbench.session
        if session is None:
            return False
        go_on, keep = self._switch_ok()
        if not go_on:
            return False
        self.workbench.threads = threads
        model, data = session.model, splits.whole(session.data)
        started = self._try(
            "Cannot start the search",
            self.workbench.autotune,
            model,
            data,
            settings,
            trust=session.trust,
            keep_running=keep,
        )
        if started:
            self.center.layer_bars.setCurrentWidget(self.center.search)
        return started

    def load_into_panels(self, candidate_id: int) -> None:
        """A candidate's recipe in the technique panels, to change and run again."""
        candidate = self.workbench.candidate(candidate_id)
        self.editor.set_recipe(candidate.recipe)
        self.setup_tabs.setCurrentIndex(1)
        self.statusBar().showMessage(
            f"{candidate.name}'s recipe is in the panels: change it and press Run", 8000
        )

    def time_together(self) -> bool:
        """Re-measure the finished candidates' latencies side by side."""
        session = self.workbench.session
        if session is None or len(session.finished()) < 2:
            self.show_error(
                "Nothing to compare yet", "Timing together needs two finished candidates."
            )
            return False
        return self._try("Cannot time the candidates", self.workbench.time_together)

    def explore(self, candidate_ids: list[int] | None = None) -> None:
        """The selected candidate (or these, side by side) in Model Explorer, in the
        system browser; the page's address goes to the log too."""
        if not candidate_ids:
            candidate = self.state.candidate()
            if candidate is None:
                return
            candidate_ids = [candidate.id]
        names = " and ".join(self.workbench.candidate(c).name for c in candidate_ids)
        self.statusBar().showMessage(f"Opening {names} in Model Explorer…", 10000)

        def opened(url: str) -> None:
            self.bottom.log(f"Model Explorer: {names} at {url}")
            self.statusBar().showMessage(f"{names} opened in Model Explorer", 10000)
            self.open_url(url)

        self.workbench.explore(
            candidate_ids, opened, lambda message: self.show_error("Cannot open Model Explorer", message)
        )

    def open_url(self, url: str) -> None:
        """The system browser (tests replace it)."""
        QDesktopServices.openUrl(QUrl(url))

    def diagnose(self) -> None:
        self.center.show_diagnosis()
        self.workbench.diagnose()

    def run_selective(self, layers: tuple[str, ...]) -> None:
        """The panels' recipe as full int8 with these layers kept in float, queued."""
        try:
            recipe = self.editor.recipe()
        except StudioError:
            recipe = Recipe()
        self.editor.set_recipe(selective.keep_in_float(recipe, layers))
        self.editor.request_run()

    def select(self, candidate_id: int | None) -> None:
        self.state.select(candidate_id)

    def show_error(self, title: str, text: str) -> None:
        """A non-blocking dialog, and the log: the window stays usable."""
        self.bottom.log(f"{title}: {text}")
        self.error_box = dialogs.show_error(self, title, text)

    def _try(self, title: str, call, *args, **kwargs) -> bool:
        """Run `call`; a StudioError becomes an error box titled `title`."""
        try:
            call(*args, **kwargs)
        except StudioError as err:
            self.show_error(title, str(err))
            return False
        return True

    def ask_model_start(self, model: str) -> tuple[str, str] | None:
        """How to open a model given without data: ("session", folder) to go back to
        its work, ("data", path) for a new session, or None (don't open)."""
        sessions = list_sessions(self.sessions_root, model=model)
        last = self.settings.data_for(model)
        if sessions:
            return self.ask_session_or_data(model, sessions, last)
        if last:
            return "data", last
        data = self.ask_for_data(model)
        return None if data is None else ("data", data)

    def ask_session_or_data(
        self, model: str, sessions: list, last: str | None
    ) -> tuple[str, str] | None:
        """The model's sessions (newest first) or a new one.  Tests replace this."""
        return dialogs.choose_start(self, model, sessions, last, lambda: self.ask_for_data(model))

    def ask_for_data(self, model: str) -> str | None:
        """A path, "demo", or None (don't open).  Tests replace it, like the one below."""
        return dialogs.ask_for_data(self, model, str(Path(model).parent))

    def ask_about_running(self) -> str | None:
        """ "keep", "cancel" or None (don't open).  Tests replace this."""
        return dialogs.ask_about_running(self, self.workbench.pending())

    def ask_quit(self) -> bool:
        """Quit although jobs run?  Tests replace this, like `ask_about_running`."""
        return dialogs.confirm_quit(self, self.workbench.pending())

    def _switch_ok(self) -> tuple[bool, bool]:
        """Whether to go on opening something else, and whether running jobs go on."""
        if not self.workbench.busy():
            return True, False
        answer = self.ask_about_running()
        return answer is not None, answer == "keep"

    def recent_files(self) -> list[str]:
        return self.settings.recent_models()

    @property
    def sessions_root(self) -> Path:
        return self.workbench.sessions_root or default_root()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            path = urls[0]
            (self.load_recipe if path.endswith(".json") else self.open_model)(path)
            event.acceptProposedAction()

    # -- workbench and state events ------------------------------------------------

    def _run(self, recipe: Recipe) -> None:
        try:
            candidate_id = self.workbench.run(recipe)
        except StudioError as err:
            self.show_error("Cannot run", str(err))
            return
        self.state.follow = candidate_id  # curves follow the newest run unless one is selected
        self.bottom.show_curves()

    def _on_session(self) -> None:
        session = self.workbench.session
        self.setWindowTitle(f"{shown_source(session.model)} — TFLite Optimization Studio")
        self.settings.last_session = str(session.folder)  # at once, not at a clean close
        self.settings.remember_data(session.model, session.data)
        # The panels are the session's: a new session starts from the defaults, a
        # reopened one from where it was left (another model's ticks are not carried).
        self._loading_session = True
        try:
            self.editor.set_blocked("")
            self.editor.set_recipe(session.draft or self.default_recipe)
        finally:
            self._loading_session = False
        self.model_panel.show_setup(session.model, session.data)
        self.budget.blockSignals(True)
        self.budget.setValue(session.budget)
        self.budget.blockSignals(False)
        self.editor.set_layers(session.summary)
        self.recommend_label.clear()

    def _keep_draft(self) -> None:
        """The panels' settings, kept with the session they were made in."""
        session = self.workbench.session
        if session is None or self._loading_session:
            return
        with contextlib.suppress(StudioError):
            recipe = self.editor.recipe()
            if recipe != (session.draft or self.default_recipe):  # saved only when changed
                session.set_draft(recipe)

    def _on_baseline(self) -> None:
        session = self.workbench.session
        if session.summary and session.baseline:
            self.model_panel.show_summary(session.summary, session.baseline)
            self.editor.set_layers(session.summary)
        self.state.update_recommendation()

    def _on_sensitivity(self, results: list) -> None:
        self.workbench.log.emit(self.editor.show_sensitivity(results))

    def _on_setup_failed(self, kind: str, message: str) -> None:
        self.model_panel.show_status(message, error=True)
        self.setup_tabs.setCurrentWidget(self.model_panel)
        if kind != "DataError":
            self.editor.set_blocked(
                "the model has no float baseline yet (see Model & data); open it again "
                "or open another model"
            )
        if kind == "Cancelled":
            self.bottom.log(message)
        elif kind == "UntrustedModelError":
            s = self.workbench.session
            self.error_box = dialogs.ask_trust(
                self, message, lambda: self.workbench.open_model(s.model, s.data, trust=True)
            )
        elif kind != "DataError":
            self.show_error("Cannot load the model", message)
        else:
            self.bottom.log(f"data problem: {message}")

    def _candidate_menu(self, candidate_id: int, position) -> QMenu:
        """Right click on a row: hide or show, delete, compare with another candidate."""
        session = self.workbench.session
        candidate = session.candidates[candidate_id]
        menu = QMenu(self)
        hide = menu.addAction("Show on the plots" if candidate.hidden else "Hide from the plots")
        hide.setToolTip(
            "Hidden candidates stay in the table but leave the plots and the recommendation"
        )
        hide.triggered.connect(lambda: self.workbench.hide(candidate_id, not candidate.hidden))
        again = menu.addAction("Run again")
        again.setToolTip("Run this recipe again in this row (it failed or was stopped)")
        again.setEnabled(candidate.status in RERUNNABLE)
        again.triggered.connect(lambda: self.rerun(candidate_id))
        delete = menu.addAction("Delete…")
        delete.setEnabled(candidate.status not in ("queued", "running"))
        delete.triggered.connect(lambda: self.delete_candidate(candidate_id))
        others = [c for c in session.candidates.values() if c.id != candidate_id and c.metrics]
        compare = menu.addMenu("Compare with")
        compare.setEnabled(bool(others) and candidate.metrics is not None)
        for other in others:
            action = compare.addAction(f"{other.name}  {other.label}")
            action.triggered.connect(lambda _=False, o=other.id: self.compare(candidate_id, o))
        load = menu.addAction("Load into panels")
        load.setToolTip("Put this candidate's recipe into the technique panels to tweak it")
        load.triggered.connect(lambda: self.load_into_panels(candidate_id))
        menu.addSeparator()
        menu.addAction(self.commands.export)
        menu.addAction(self.commands.code)
        menu.addAction(self.commands.explore)
        self.state.select(candidate_id)
        menu.popup(position)
        return menu

    def rerun(self, candidate_id: int) -> bool:
        """A failed, cancelled or interrupted candidate, run again in its row."""
        if not self._try("Cannot run again", self.workbench.rerun, candidate_id):
            return False
        self.state.follow = candidate_id
        return True

    def ask_delete(self, name: str) -> bool:
        """Tests replace this question, like `ask_about_running`."""
        return dialogs.confirm(
            self,
            f"Delete {name}?",
            f"{name} and its files (.tflite, figures) are deleted. Its number is not used again.",
        )

    def delete_candidate(self, candidate_id: int) -> bool:
        name = self.workbench.candidate(candidate_id).name
        if not self.ask_delete(name):
            return False
        return self._try("Cannot delete", self.workbench.delete, candidate_id)

    def compare(self, a: int, b: int) -> CompareDialog:
        session = self.workbench.session
        dialog = CompareDialog(session.candidates[a], session.candidates[b], session.baseline, self)
        dialog.explore_requested.connect(lambda: self.explore([a, b]))
        self.compare_dialog = dialog
        dialog.show()
        return dialog

    def _on_candidate_removed(self, candidate_id: int) -> None:
        if self.selected == candidate_id:
            self.state.select(None)
        self.state.update_recommendation()

    def _on_candidate_changed(self, candidate_id: int) -> None:
        candidate = self.workbench.candidate(candidate_id)
        if candidate.status == "done":
            self.state.update_recommendation()  # and so the plots redraw
            note = self.workbench.selective_note(candidate_id)
            if note:
                self.center.diagnosis.status.setText(note)
            if candidate_id == self.selected:
                self.state.select(candidate_id)
        else:
            if candidate.status in ("failed", "broken", "missing"):
                self.statusBar().showMessage(
                    f"{candidate.name} {candidate.status}: {candidate.message}", 15000
                )
            if candidate_id in self.state.recommended_ids.values():
                self.state.update_recommendation()  # never a stale one (a deleted file)

    def _on_selection(self, _candidate_id: int | None) -> None:
        candidate = self.state.candidate()
        self.commands.export.setEnabled(candidate is not None and candidate.status == "done")
        self.commands.code.setEnabled(candidate is not None)
        self.commands.explore.setEnabled(candidate is not None and candidate.status == "done")

    def _on_recommendation(self) -> None:
        session = self.workbench.session
        if session is None or not session.finished():
            self.recommend_label.clear()
            return
        chosen = self.state.recommendation
        tie = f" (a tie with {len(chosen.tied)} more)" if chosen.tied else ""
        fastest = f"not ranked, {chosen.unranked}" if chosen.unranked else chosen.fastest
        self.recommend_label.setText(
            f"Within {session.budget:g} pt of float: smallest {chosen.smallest or 'none'}, "
            f"fastest {fastest or 'none'}{tie}"
        )
        if chosen.unranked:
            tip = (
                "Every candidate runs in a few microseconds: that is mostly the call into "
                "LiteRT, not the model, so no candidate is called fastest."
            )
        elif chosen.tied:
            tip = (
                f"{', '.join(chosen.tied)} ran within the latency spread of {chosen.fastest} "
                f"(their round medians overlap): of those, the smallest, then full-integer "
                f"one is named. Run → Re-measure latency together times them side by side."
            )
        else:
            tip = (
                "Collapsed candidates (accuracy at chance) and files that contradict their "
                "recipe are never recommended."
            )
        self.recommend_label.setToolTip(tip)

    def _on_activity(self) -> None:
        count, fraction = self.workbench.activity.overall()
        self.overall.setVisible(bool(count))
        if count:
            self.overall.setValue(round(1000 * fraction))
            self.status_text.setText(f"{count} candidate(s) running or queued")
        elif self.workbench.baseline_running:
            self.status_text.setText("Measuring the float baseline…")
        else:
            self.status_text.setText("Ready")

    def _code(self, candidate_id: int, method: str, text: str) -> None:
        if candidate_id in self.code_dialogs:
            getattr(self.code_dialogs[candidate_id], method)(text)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        """Back to the window: files deleted or changed meanwhile are noticed at once."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self.workbench.check_files()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.workbench.busy() and not self.ask_quit():
            event.ignore()
            return
        self._keep_draft()
        self.settings.save_window(self.saveGeometry(), self.saveState())
        if self.workbench.session is not None:
            self.settings.last_session = str(self.workbench.session.folder)
        self.workbench.shutdown()
        event.accept()
