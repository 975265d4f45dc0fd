"""The bottom of the window: the results table, and beside it the jobs, the training
curves of the followed candidate, and the log.

Bound to the workbench (candidates, progress, log lines) and the view state (the table
selects and follows the selection).
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QPlainTextEdit, QSplitter, QTabWidget

from studio.jobs.messages import Progress
from studio.ui.state import ViewState
from studio.ui.views.job_list import JobList
from studio.ui.views.results_table import ResultsTable
from studio.ui.views.training_curves import TrainingCurves
from studio.ui.workbench import Workbench

ROWS_PER_TURN = 4  # new candidates shown per event-loop turn (see `_on_added`)


class CandidatesArea(QSplitter):
    def __init__(self, workbench: Workbench, state: ViewState) -> None:
        super().__init__()
        self.workbench, self.state = workbench, state
        self.table = ResultsTable()
        self.jobs = JobList()
        self.curves = TrainingCurves()
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.side_tabs = QTabWidget()
        self.side_tabs.addTab(self.jobs, "Jobs")
        self.side_tabs.addTab(self.curves, "Training curves")
        self.side_tabs.addTab(self.log_view, "Log")
        self.addWidget(self.table)
        self.addWidget(self.side_tabs)
        self.setSizes([1060, 320])  # the recipe column needs the width more than the jobs
        self._arriving: list[int] = []  # queued candidates not shown yet
        self._arrivals = QTimer(self)
        self._arrivals.setSingleShot(True)
        self._arrivals.setInterval(0)
        self._arrivals.timeout.connect(self._show_arrivals)

        workbench.session_changed.connect(self._on_session)
        workbench.baseline_changed.connect(self._reload)
        workbench.candidate_added.connect(self._on_added)
        workbench.candidate_changed.connect(self._on_changed)
        workbench.candidate_removed.connect(self.table.results.remove)
        workbench.candidate_progress.connect(self._on_progress)
        workbench.activity_changed.connect(self._on_activity)
        workbench.log.connect(self.log)
        self.jobs.cancel_requested.connect(workbench.cancel)
        self.jobs.row_clicked.connect(state.select)
        self.table.candidate_selected.connect(state.select)
        state.selection_changed.connect(self._on_selection)
        state.recommendation_changed.connect(self._on_recommendation)

    def log(self, text: str) -> None:
        self.log_view.appendPlainText(text)

    def _on_session(self) -> None:
        self._arriving.clear()
        self.jobs.clear()
        self._reload()

    def _reload(self) -> None:
        session = self.workbench.session
        self.table.results.set_data(list(session.candidates.values()), session.baseline)

    def _on_added(self, candidate_id: int) -> None:
        """Shown a few per event-loop turn: a sweep queues dozens in one click, and their
        table rows and job rows, laid out and painted in one pass, held the window for
        ~40 ms with other programs busy (benchmarks/ui_responsiveness.py).  The first of
        a burst is shown at once: a single Run is listed before any worker starts."""
        self._arriving.append(candidate_id)
        if not self._arrivals.isActive():
            self._show_arrivals()
            self._arrivals.start()  # the rest of this turn's burst waits for the next

    def _show_arrivals(self) -> None:
        batch, self._arriving = self._arriving[:ROWS_PER_TURN], self._arriving[ROWS_PER_TURN:]
        session = self.workbench.session
        for candidate_id in batch:
            candidate = session.candidates.get(candidate_id) if session else None
            if candidate is None:  # deleted meanwhile
                continue
            self.table.results.upsert(candidate)
            if candidate.status in ("queued", "running"):
                self.jobs.add(candidate_id, candidate.label)
                self._update_row(candidate_id)
        if batch:
            self.side_tabs.setCurrentWidget(self.jobs)
        if self._arriving:
            self._arrivals.start()

    def _on_changed(self, candidate_id: int) -> None:
        if candidate_id in self._arriving:
            return  # shown with its state of then, soon
        candidate = self.workbench.candidate(candidate_id)
        self.table.results.upsert(candidate)
        if candidate.status not in ("queued", "running"):
            self.jobs.remove(candidate_id)

    def _on_progress(self, candidate_id: int, event: Progress) -> None:
        self._update_row(candidate_id)
        if event.metrics and candidate_id == self.state.curves_candidate():
            self.show_curves()

    def _on_activity(self) -> None:
        for candidate_id in self.jobs.rows:
            self._update_row(candidate_id)
        self.jobs.set_tasks(self.workbench.running_tasks())

    def _update_row(self, candidate_id: int) -> None:
        wb = self.workbench.activity
        self.jobs.update_row(candidate_id, wb.fraction(candidate_id), wb.stage_text(candidate_id))

    def _on_selection(self, candidate_id: int | None) -> None:
        self.table.select(candidate_id)
        self.show_curves()

    def _on_recommendation(self) -> None:
        recommended = {i for i in self.state.recommended_ids.values() if i}
        # A new recommendation: its row in sight (the table shows ~8 rows at 1366x768),
        # unless the user is looking at a selected row.
        if recommended - self.table.results.recommended and self.state.selected is None:
            self.table.reveal(self.state.recommended_ids.get("smallest") or min(recommended))
        self.table.results.recommended = recommended
        self.table.viewport().update()

    def show_curves(self) -> None:
        """The followed candidate's per-epoch figures (the selected one, else the newest)."""
        candidate_id = self.state.curves_candidate()
        session = self.workbench.session
        if candidate_id is None or session is None or candidate_id not in session.candidates:
            self.curves.show_curves(None, [])
            return
        candidate = session.candidates[candidate_id]
        self.curves.show_curves(
            f"{candidate.name} {candidate.label}",
            self.workbench.activity.curves.get(candidate_id, []),
        )
