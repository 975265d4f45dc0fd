"""The middle of the window: the trade-off plots, the per-layer bars and the diagnosis.

Bound to the workbench (the session's figures) and the view state (selection and
recommendation).  Every reason to redraw — a candidate measured, the baseline, the
budget, a selection — goes through `refresh`, one path throttled with superqt's
`qthrottled`, which then draws one plot per event-loop turn: drawing all three in one
turn holds the loop ~50-100 ms on a busy 2-core machine
(benchmarks/ui_responsiveness.py), and a sweep finishing twelve candidates in a burst
should redraw once, not twelve times.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget
from superqt.utils import qthrottled

from studio.ui.settings import Settings
from studio.ui.state import ViewState
from studio.ui.views.diagnosis_view import DiagnosisView
from studio.ui.views.layer_bars import LayerBars
from studio.ui.views.search_view import SearchView
from studio.ui.views.trade_off_plot import (
    LATENCY,
    LEGEND,
    LEGEND_TIP,
    SIZE,
    TradeOffPlot,
    accuracy_axis,
)
from studio.ui.views.welcome import WelcomePanel
from studio.ui.workbench import Workbench
from studio.values import tensor_fidelity
from studio.values.resources import DEMO

REFRESH_MS = 100  # at most one redraw of the plots per this many milliseconds
PLOT_STAGGER_MS = 30


class PlotsArea(QWidget):
    def __init__(self, workbench: Workbench, state: ViewState, settings: Settings) -> None:
        super().__init__()
        self.workbench, self.state = workbench, state
        self.welcome = WelcomePanel()
        self.welcome.dismissed.connect(settings.dismiss_welcome)
        self.welcome.setVisible(not settings.welcome_dismissed)
        acc = accuracy_axis("top1")
        self.plots = [
            TradeOffPlot(SIZE, acc, "Size vs accuracy"),
            TradeOffPlot(LATENCY, acc, "Latency vs accuracy"),
            TradeOffPlot(SIZE, LATENCY, "Size vs latency"),
        ]
        self.layer_bars = LayerBars()
        self.diagnosis = DiagnosisView()
        self.layer_bars.addTab(self.diagnosis, "Int8 error")
        self.layer_bars.setTabToolTip(
            self.layer_bars.indexOf(self.diagnosis),
            "Which layers lose accuracy in full int8; keep them in float",
        )
        self.search = SearchView()
        self.layer_bars.addTab(self.search, "Search")
        self.layer_bars.setTabToolTip(
            self.layer_bars.indexOf(self.search),
            "How far an automatic search is, and why its answer won",
        )
        self.search.winner_requested.connect(self._select_named)
        workbench.search_changed.connect(self.show_search)
        workbench.session_changed.connect(self.show_search)
        legend = QLabel(LEGEND)
        legend.setWordWrap(True)
        legend.setToolTip(LEGEND_TIP)
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.addWidget(self.welcome, 0, 0, 1, 2)
        grid.addWidget(self.plots[0], 1, 0)
        grid.addWidget(self.plots[1], 1, 1)
        grid.addWidget(self.plots[2], 2, 0)
        grid.addWidget(self.layer_bars, 2, 1)
        grid.addWidget(legend, 3, 0, 1, 2)
        for row_or_column in (1, 2):
            grid.setRowStretch(row_or_column, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        # The two rows share the height by their stretch alone (see LayerBars'
        # hasHeightForWidth); 160 px keeps axis titles readable at 1366x768.
        self.layer_bars.setMinimumHeight(160)
        for plot in self.plots:
            plot.setMinimumHeight(160)
            plot.candidate_clicked.connect(state.select)

        self._pending: list[TradeOffPlot] = []
        self._stagger = QTimer(self)
        self._stagger.setInterval(PLOT_STAGGER_MS)
        self._stagger.timeout.connect(self._draw_next)
        # Trailing only: the change that asks for a redraw (a result: its table row, its
        # job row) is painted first, the plots on later turns, never all in one pass.
        self.refresh = qthrottled(self._start_drawing, timeout=REFRESH_MS, leading=False)

        workbench.session_changed.connect(self._on_session)
        workbench.setup_failed.connect(self._on_setup_failed)
        workbench.baseline_changed.connect(self._on_baseline)
        workbench.budget_changed.connect(self.refresh)
        workbench.diagnosis_ready.connect(self.diagnosis.show_errors)
        workbench.diagnosis_failed.connect(self.diagnosis.failed)
        state.selection_changed.connect(self._on_selection)
        state.recommendation_changed.connect(self.refresh)
        self._on_selection(state.selected)

    def _on_session(self) -> None:
        """Nothing of the previous model stays: the welcome names this one, the
        per-layer views are empty until this model's figures arrive."""
        model = self.workbench.session.model
        self.welcome.set_model(None if model == DEMO else Path(model).name)
        self.diagnosis.reset()
        self.layer_bars.show_layers(None, [])
        self.refresh()  # empty plots, with empty ranges

    def _on_setup_failed(self, kind: str, _message: str) -> None:
        model = self.workbench.session.model
        if kind not in ("DataError", "Cancelled"):
            self.welcome.set_refused("the demo" if model == DEMO else Path(model).name)

    def _on_baseline(self) -> None:
        session = self.workbench.session
        if session is not None and session.baseline is not None:
            for plot in self.plots[:2]:
                plot.set_y_axis(accuracy_axis(session.baseline.metric))
        self.refresh()

    def _on_selection(self, candidate_id: int | None) -> None:
        for plot in self.plots:
            plot.selected = candidate_id  # at once; the points are redrawn by `refresh`
        candidate = self.state.candidate()
        done = candidate is not None and candidate.status == "done" and candidate.metrics
        session = self.workbench.session
        fidelity = (
            tensor_fidelity.read(session.candidate_dir(candidate.id))
            if done and session is not None
            else None
        )
        self.layer_bars.show_layers(
            candidate.name if candidate else None,
            list(candidate.metrics.layers) if done else [],
            fidelity,
        )
        self.refresh()

    def show_search(self) -> None:
        status, lines, winner = self.workbench.search_summary()
        self.search.show_lines(status, lines, winner)
        self.search.start.setEnabled(self.workbench.search is None)

    def _select_named(self, name: str) -> None:
        session = self.workbench.session
        found = [c.id for c in session.candidates.values() if c.name == name] if session else []
        if found:
            self.state.select(found[0])

    def show_diagnosis(self) -> None:
        self.layer_bars.setCurrentWidget(self.diagnosis)
        self.diagnosis.busy()

    # -- the one redraw path ---------------------------------------------------------------

    def _start_drawing(self) -> None:
        self._pending = list(self.plots)
        self._draw_next()
        if self._pending:
            self._stagger.start()

    def _draw_next(self) -> None:
        session = self.workbench.session
        if session is None or not self._pending:
            self._stagger.stop()
            return
        plot = self._pending.pop(0)
        recommended = {i for i in self.state.recommended_ids.values() if i}
        plot.show_data(session.baseline, session.finished(), session.budget, recommended)
        if not self._pending:
            self._stagger.stop()
