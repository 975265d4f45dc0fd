"""Driving a sweep: one job per group, and every candidate's outcome however a job ends.

The orchestrator (`studio.orchestrator`, for the CLI and the window alike) drives
sweeps and single candidates with `SweepRun`, so a group that returns short, fails,
crashes or is cancelled is recorded the same way everywhere: each of its candidates
gets a `Result`, none is dropped.  Planning (which candidates share a group) is
`studio.values.sweep.plan`; running a group in a worker is `studio.engine.sweep_run`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from studio.jobs import kinds
from studio.jobs.messages import Job
from studio.values.metrics import Metrics
from studio.values.results import Result
from studio.values.sweep import Group


class SweepRun:
    """The groups of one sweep as jobs, and the results gathered as they end."""

    def __init__(
        self,
        groups: list[Group],
        *,
        model: str,
        data: str,
        baseline_tflite: Path,
        threads: int,
        trust: bool,
    ) -> None:
        self.groups = list(groups)
        self._job = {
            "model": model,
            "data": data,
            "threads": threads,
            "trust": trust,
            "baseline_tflite": Path(baseline_tflite),
        }
        self._running: dict[int, Group] = {}
        self._labels: dict[int, str] = {}
        self.results: list[Result] = []

    def start(self, submit: Callable[[Job], int], baseline: Metrics | None) -> list[int]:
        """Submit every group (call once the float baseline exists); returns the job ids."""
        return [self.submit(group, submit, baseline) for group in self.groups]

    def submit(self, group: Group, submit: Callable[[Job], int], baseline: Metrics | None) -> int:
        """Submit one group, measured against the float model's figures `baseline`."""
        names = [name for name, _ in group.entries]
        label = names[0] + (f" (+{len(names) - 1} sharing its fine-tunes)" if names[1:] else "")
        job = kinds.sweep_group(
            entries=list(group.entries), label=label, baseline=baseline, **self._job
        )
        job_id = submit(job)
        self._running[job_id] = group
        self._labels[job_id] = label
        return job_id

    def label(self, job_id: int) -> str:
        """Which candidates a job runs, for progress lines ("c001 (+3 sharing …)")."""
        return self._labels.get(job_id, str(job_id))

    def group(self, job_id: int) -> Group | None:
        return self._running.get(job_id)

    @property
    def running(self) -> bool:
        return bool(self._running)

    def finished(self, job_id: int, returned: list[Result]) -> list[Result]:
        """A group's job returned: its results, and a failure for any candidate missing."""
        group = self._running.pop(job_id)
        by_name = {r.name: r for r in returned}
        out = [
            by_name.get(name) or Result.failed(name, recipe, "the sweep group did not return it")
            for name, recipe in group.entries
        ]
        self.results += out
        return out

    def ended(self, job_id: int, message: str, status: str = "failed") -> list[Result]:
        """A group's job failed, crashed or was cancelled: each of its candidates, so."""
        group = self._running.pop(job_id)
        out = [
            Result(name, recipe, None, message or None, status) for name, recipe in group.entries
        ]
        self.results += out
        return out
