"""How far each queued or running candidate of the current session is: the job list's
progress bars, the status bar's overall figure, and the training curves.

Plain bookkeeping (no Qt, no jobs), kept by the workbench, which clears it when the
session changes: a result of another session never moves these bars.
"""

from __future__ import annotations

from collections.abc import Mapping

from studio.values.recipe import Recipe


class Activity:
    def __init__(self) -> None:
        self.job_of: dict[int, int] = {}  # candidate id -> job id
        self._fraction: dict[int, float] = {}  # candidate id -> overall fraction done
        self._stage: dict[int, str] = {}  # candidate id -> what it is doing, for people
        self.curves: dict[int, list[tuple[str, dict]]] = {}  # per-epoch training figures

    def queued(self, candidate_id: int, job_id: int) -> None:
        self.job_of[candidate_id] = job_id
        self._fraction[candidate_id] = 0.0
        self._stage[candidate_id] = "waiting for a worker"

    def started(self, candidate_id: int) -> None:
        self._stage[candidate_id] = "starting"

    def progressed(
        self,
        candidate_id: int,
        recipe: Recipe,
        stage: str,
        fraction: float | None,
        message: str,
        metrics: Mapping[str, float],
    ) -> None:
        """A stage's progress, turned into the candidate's overall fraction (the recipe
        knows how its stages weigh); per-epoch figures extend the training curves."""
        self._fraction[candidate_id] = recipe.progress(stage, fraction)
        self._stage[candidate_id] = message or stage
        if metrics:
            self.curves.setdefault(candidate_id, []).append((stage, dict(metrics)))

    def ended(self, candidate_id: int) -> None:
        self.job_of.pop(candidate_id, None)
        self._fraction.pop(candidate_id, None)
        self._stage.pop(candidate_id, None)

    def clear(self) -> None:
        self.job_of.clear()
        self._fraction.clear()
        self._stage.clear()
        self.curves.clear()

    def stage_text(self, candidate_id: int) -> str:
        return self._stage.get(candidate_id, "")

    def fraction(self, candidate_id: int) -> float:
        return self._fraction.get(candidate_id, 0.0)

    def overall(self) -> tuple[int, float]:
        """How many candidates are queued or running, and their mean fraction done."""
        active = list(self.job_of)
        if not active:
            return 0, 1.0
        return len(active), sum(self.fraction(c) for c in active) / len(active)
