"""What several views show at once, owned in one place: the selection and the
recommendation (the session, its baseline and budget are the workbench's).

Views never keep their own copy to push to each other: a click in the table or on a
plot calls `select`, and every view subscribed to `selection_changed` syncs from here
(napari's layer controls work the same way: connect in `__init__`, sync once, write
back on user input).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from studio.ui.workbench import Workbench
from studio.values.results import Recommendation
from studio.values.session import Candidate


class ViewState(QObject):
    selection_changed = Signal(object)  # candidate id, or None
    recommendation_changed = Signal()

    def __init__(self, workbench: Workbench, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.workbench = workbench
        self.selected: int | None = None
        self.recommendation = Recommendation()
        self.follow: int | None = None  # the newest run: its training curves show
        workbench.session_changed.connect(self._on_session)

    def select(self, candidate_id: int | None) -> None:
        """Select a candidate everywhere (None: nothing); re-selecting refreshes views."""
        self.selected = candidate_id
        self.selection_changed.emit(candidate_id)

    def candidate(self) -> Candidate | None:
        """The selected candidate, if it is one of the current session's."""
        session = self.workbench.session
        if session is None or self.selected is None:
            return None
        return session.candidates.get(self.selected)

    def curves_candidate(self) -> int | None:
        """Whose training curves to show: the selected candidate, else the newest run."""
        return self.selected if self.selected is not None else self.follow

    @property
    def recommended_ids(self) -> dict[str, int | None]:
        """The recommendation by candidate id ("smallest"/"fastest" -> id or None)."""
        session = self.workbench.session
        by_name = {c.name: c.id for c in session.candidates.values()} if session else {}
        return {k: by_name.get(v) if v else None for k, v in self.recommendation.to_dict().items()}

    def update_recommendation(self) -> None:
        """Judge again (a candidate finished, the budget or the baseline changed); views
        redraw through their throttled paths, so calling this often is cheap."""
        self.recommendation = self.workbench.recommendation()
        self.recommendation_changed.emit()

    def _on_session(self) -> None:
        self.follow = None
        self.recommendation = Recommendation()
        self.select(None)
        self.recommendation_changed.emit()
