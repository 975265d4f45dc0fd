"""What a running job belongs to, and what its end means: one class per kind of job.

The orchestrator keeps a `Track` for every job it submitted and hands each of the job's
events to it; each kind says what its result, failure or cancel does to the session and
which hook tells the views.  Adding a kind of job is one class here (plus its task in
`studio.jobs.tasks` and its builder in `studio.jobs.kinds`), not a branch in a switch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from studio.jobs import kinds
from studio.jobs.messages import Progress
from studio.jobs.sweeps import SweepRun
from studio.orchestrator.handles import Handle, JobFailed
from studio.values import sensitivity
from studio.values.session import Session
from studio.values.sweep import Group

if TYPE_CHECKING:
    from studio.orchestrator.orchestrator import Orchestrator


@dataclass
class Track:
    """A job of `session`'s, whose artifacts are stored under `dest` and whose end
    settles `handle`.  `title`: how the job list names it while it runs ("" for a
    candidate's job, which the list shows as its candidates)."""

    session: Session
    handle: Handle
    target: str = ""  # the task, to decode its result (`kinds.decode`)
    dest: Path | None = None
    title: str = ""
    candidate_ids: tuple[int, ...] = ()
    label: str = ""  # the job's label, for progress lines ("c001 (+3 sharing …)")
    backend: Any = None  # where its job was submitted (None: the orchestrator's own)

    def started(self, orch: Orchestrator, current: bool) -> None:
        """The job left the queue."""

    def progress(self, orch: Orchestrator, event: Progress) -> None:
        """A progress event of the current session's job."""

    def stored(self, orch: Orchestrator, current: bool) -> None:
        """Some of its artifacts are now in the session's folder."""

    def finished(self, orch: Orchestrator, job_id: int, result: Any, current: bool) -> None:
        self.handle.ended(job_id, result)

    def failed(
        self, orch: Orchestrator, job_id: int, message: str, kind: str, current: bool
    ) -> None:
        self.handle.ended(job_id, error=JobFailed(message, kind))

    def cancelled(self, orch: Orchestrator, job_id: int, current: bool) -> None:
        self.handle.ended(
            job_id, error=JobFailed(f"{self.handle.title} was cancelled", "Cancelled")
        )


@dataclass
class BaselineTrack(Track):
    """The float model converted and measured: the reference of every candidate."""

    title: str = "Float baseline: loading the model, converting and measuring it"
    again: bool = False  # measured again at another thread count (no new layer check)

    def finished(self, orch, job_id, result, current):
        self.session.set_baseline(result.summary, result.metrics)
        if current:
            threads = result.metrics.latency_ms.threads
            orch.log.emit(f"float baseline measured on {threads} thread(s)")
            orch.baseline_changed.emit()
            if not self.again:
                orch.layers_wanted.emit()  # the window runs the sensitivity pass a turn later
        super().finished(orch, job_id, result, current)
        orch.release_waiting(self.session)

    def failed(self, orch, job_id, message, kind, current):
        if current:
            orch.log.emit(f"baseline failed: {message}")
            orch.setup_failed.emit(kind, message)
        super().failed(orch, job_id, message, kind, current)
        orch.release_waiting(self.session, failure=f"the float baseline failed: {message}")

    def cancelled(self, orch, job_id, current):
        if current:
            orch.log.emit("float baseline cancelled")
            orch.setup_failed.emit("Cancelled", "measuring the float baseline was cancelled")
        super().cancelled(orch, job_id, current)
        orch.release_waiting(self.session, failure="", status="cancelled")


@dataclass
class ViewTrack(Track):
    """A job whose value one view shows: `ready` and `failure` name the hooks that
    carry its value and its failure's message (see `orchestrator.HOOKS`)."""

    ready: ClassVar[str] = ""
    failure: ClassVar[str] = ""
    what: ClassVar[str] = ""  # "diagnosis failed: ..." in the log
    done_line: ClassVar[str] = ""  # in the log when it is ready ("" for none)

    def shown(self, value: Any) -> tuple:
        """What the hooks carry."""
        return (value,)

    def finished(self, orch, job_id, result, current):
        if current:
            if self.done_line:
                orch.log.emit(self.done_line)
            getattr(orch, self.ready).emit(*self.shown(result))
        super().finished(orch, job_id, result, current)

    def failed(self, orch, job_id, message, kind, current):
        if current:
            orch.log.emit(f"{self.what} failed: {message}")
            getattr(orch, self.failure).emit(*self.shown(message))
        super().failed(orch, job_id, message, kind, current)


@dataclass
class DiagnosisTrack(ViewTrack):
    title: str = "Int8 diagnosis: the error each layer adds"
    ready: ClassVar[str] = "diagnosis_ready"
    failure: ClassVar[str] = "diagnosis_failed"
    what: ClassVar[str] = "diagnosis"
    done_line: ClassVar[str] = "diagnosis ready"


@dataclass
class SensitivityTrack(ViewTrack):
    title: str = "Layer sensitivity: each layer pruned or clustered alone"
    ready: ClassVar[str] = "sensitivity_ready"
    failure: ClassVar[str] = "sensitivity_failed"
    what: ClassVar[str] = "layer sensitivity"

    def finished(self, orch, job_id, result, current):
        try:  # kept with its session, whichever is current now
            sensitivity.save(self.session.folder, result)
        except OSError as err:
            orch.log.emit(f"layer sensitivity not saved in {self.session.folder}: {err}")
        super().finished(orch, job_id, result, current)


@dataclass
class ScriptTrack(ViewTrack):
    title: str = "Writing a reproduction script"
    subject: int = 0  # the candidate the script is for
    ready: ClassVar[str] = "script_ready"
    failure: ClassVar[str] = "script_failed"
    what: ClassVar[str] = "script"

    def shown(self, value: Any) -> tuple:
        return (self.subject, value)


@dataclass
class ScoreTrack(Track):
    """Finished files measured again on other data (the search's held-out check): the
    handle's value is their `Metrics`, the float file's first."""

    title: str = "Held-out check: the finalists measured on samples the search never saw"
    target: str = kinds.SCORE


@dataclass
class TimingTrack(Track):
    """Finished candidates (and the float baseline) timed together in one process: their
    latencies replace the ones each got alone, so they can be ranked."""

    title: str = "Latency: timing the candidates together, round by round"
    target: str = kinds.TIME_TOGETHER
    timed: tuple[int, ...] = ()  # the candidates, in the job's order; 0: the baseline

    def finished(self, orch, job_id, result, current):
        for cid, latency in zip(self.timed, result, strict=True):
            orch.retime(self.session, cid, latency, current)
        if current:
            orch.log.emit(f"latency of {len(self.timed)} files timed together")
        super().finished(orch, job_id, None, current)

    def failed(self, orch, job_id, message, kind, current):
        if current:
            orch.log.emit(f"timing together failed: {message}")
        super().failed(orch, job_id, message, kind, current)


@dataclass
class GroupTrack(Track):
    """Candidates sharing their fine-tunes, run in order in one job (a single candidate
    is a group of one).  Each is saved the moment its files arrive."""

    sweep: SweepRun | None = None
    group: Group | None = None
    waiting: bool = False  # held until the session's float baseline is measured
    done_in_group: int = 0  # how many of its candidates are measured
    target: str = kinds.SWEEP_GROUP

    def started(self, orch, current):
        if not current:
            return
        for cid in self.candidate_ids:
            self.session.update(cid, status="running")
            orch.activity.started(cid)
            orch.candidate_changed.emit(cid)
        orch.activity_changed.emit()

    def progress(self, orch, event):
        """A group runs its shared fine-tunes once, then each candidate in turn; or (a
        cluster) each candidate at once, its progress naming it (`part`)."""
        ids = self.candidate_ids
        if event.part:
            names = {name: cid for (name, _), cid in zip(self.group.entries, ids, strict=True)}
            if event.part in names:
                orch.show_progress(names[event.part], event)
            return
        shared = event.stage in ("load", "prune", "cluster")
        current = ids[min(self.done_in_group, len(ids) - 1)]
        for cid in ids if shared else (current,):
            orch.show_progress(cid, event)
        if event.stage == "done":
            self.done_in_group += 1

    def stored(self, orch, current):
        # Saved the moment it is measured: a kill or a cancel of the rest of the group
        # must not throw away what is on disk already.  (Every candidate is checked: one
        # that failed sends nothing, so counting alone can be off.)
        for cid in self.unfinished():
            metrics = self.session.measured(cid)
            if metrics is not None:
                if current:
                    orch.activity.ended(cid)
                orch.record(self, cid, current, status="done", metrics=metrics, message="")

    def finished(self, orch, job_id, result, current):
        outcomes = dict(zip(self.candidate_ids, self.sweep.finished(job_id, result), strict=True))
        for cid in self.unfinished():
            r = outcomes[cid]
            orch.record(
                self, cid, current, status=r.status, metrics=r.metrics, message=r.error or ""
            )
        self.handle.ended(job_id)

    def failed(self, orch, job_id, message, kind, current):
        if self.sweep is not None and self.sweep.group(job_id) is not None:
            self.sweep.ended(job_id, message)
        for cid in self.unfinished():
            orch.record(self, cid, current, status="failed", message=message)
        self.handle.ended(job_id)

    def cancelled(self, orch, job_id, current):
        if self.sweep is not None and self.sweep.group(job_id) is not None:
            self.sweep.ended(job_id, "", status="cancelled")
        for cid in self.unfinished():
            orch.record(self, cid, current, status="cancelled", message="")
        self.handle.ended(job_id)

    def unfinished(self) -> list[int]:
        """Its candidates not measured yet (the measured ones are saved already)."""
        return [
            cid
            for cid in self.candidate_ids
            if cid in self.session.candidates
            and self.session.candidates[cid].status not in ("done", "broken")
        ]
