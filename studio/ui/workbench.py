"""The window's model: the current session, and the jobs that fill it.

Views never talk to the job pool; they call `open_model`, `set_data`, `run`, `cancel`
here and listen to the signals.  Every job result is written into the session (and so
autosaved) before any view hears of it, so nothing a user computed is lost if the
window goes away.  Results of a session that is no longer current are dropped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from superqt.utils import qdebounced

from studio.jobs import kinds
from studio.jobs.messages import Progress
from studio.jobs.sweeps import SweepRun
from studio.ui.activity import Activity
from studio.ui.runner import JobRunner
from studio.values import atomic, selective
from studio.values.errors import StudioError
from studio.values.grid import Grid
from studio.values.recipe import Recipe
from studio.values.results import Recommendation, from_session, recommend
from studio.values.session import Candidate, Session
from studio.values.sweep import Group, plan


@dataclass
class _Track:
    """What a running job belongs to: the baseline, a diagnosis, one candidate, or a
    sweep group (several candidates sharing their fine-tunes, run in order)."""

    session: Session
    kind: str  # "baseline", "diagnose", "sensitivity", "script", "candidate", "group"
    candidate_ids: tuple[int, ...] = ()
    done_in_group: int = 0  # a group: how many of its candidates are measured
    subject: int | None = None  # a script job: the candidate it is for
    sweep: SweepRun | None = None  # a group: the sweep it belongs to


# The session's own jobs, as the job list names them while they run.
TASK_TITLES = {
    "baseline": "Float baseline: loading the model, converting and measuring it",
    "diagnose": "Int8 diagnosis: the error each layer adds",
    "sensitivity": "Layer sensitivity: each layer pruned or clustered alone",
    "script": "Writing a reproduction script",
}


class Workbench(QObject):
    session_changed = Signal()  # a new model or data: views start over
    baseline_changed = Signal()  # summary and baseline figures arrived (or were cleared)
    budget_changed = Signal()  # the accepted accuracy loss changed
    setup_failed = Signal(str, str)  # error kind ("ModelError", "DataError", ...), message
    candidate_added = Signal(int)
    candidate_changed = Signal(int)
    candidate_removed = Signal(int)  # deleted by the user
    candidate_progress = Signal(int, object)  # candidate id, jobs.messages.Progress
    diagnosis_ready = Signal(object)  # list of per-layer error dicts, worst first
    diagnosis_failed = Signal(str)
    sensitivity_ready = Signal(object)  # list of LayerSensitivity
    sensitivity_failed = Signal(str)
    script_ready = Signal(int, str)  # candidate id, the script's text
    script_failed = Signal(int, str)
    activity_changed = Signal()  # running/queued jobs or their progress changed
    log = Signal(str)

    def __init__(
        self,
        runner: JobRunner,
        sessions_root: Path | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.sessions_root = sessions_root
        self.session: Session | None = None
        self.threads = 1
        self._tracks: dict[int, _Track] = {}
        self.activity = Activity()  # progress of the current session's candidates
        self.baseline_running = False
        # Session saves wait for the disk; on this thread they were the window's stalls.
        self.saver = atomic.Saver()
        self._layers_check = qdebounced(self._check_layers, timeout=0, parent=self)
        runner.started.connect(self._on_started)
        runner.progress.connect(self._on_progress)
        runner.finished.connect(self._on_finished)
        runner.failed.connect(self._on_failed)
        runner.cancelled.connect(self._on_cancelled)

    # -- what views call -------------------------------------------------------------

    def open_model(
        self,
        model: str | os.PathLike,
        data: str | None = None,
        trust: bool = False,
        *,
        keep_running: bool = False,
    ):
        """Start a session on `model` (keeping the current data unless given).

        Running jobs are cancelled, unless `keep_running`: then they finish and their
        results are saved in the session they belong to (reopen it to see them)."""
        data = data or (self.session.data if self.session else "demo")
        session = Session.create(str(model), str(data), root=self.sessions_root, trust=trust)
        self._start(session, keep_running=keep_running)

    def set_data(self, data: str | os.PathLike, *, keep_running: bool = False) -> None:
        model = self.session.model if self.session else "demo"
        trust = self.session.trust if self.session else False
        session = Session.create(model, str(data), root=self.sessions_root, trust=trust)
        self._start(session, keep_running=keep_running)

    def open_session(self, folder: str | os.PathLike, *, keep_running: bool = False) -> None:
        """Reopen a saved session (raises SessionError for a folder that is not one);
        its `notes` say what was repaired or recovered on the way."""
        self.saver.flush()  # it may be a session this window is still writing
        session = Session.open(folder)
        for note in session.notes:
            self.log.emit(note)
        self._start(session, measure=session.baseline is None, keep_running=keep_running)

    @property
    def workers(self) -> int:
        """How many jobs run at once (the pool's size)."""
        return getattr(self.runner.backend, "size", 1)

    def busy(self) -> int:
        """How many jobs of the current session are queued or running."""
        return sum(1 for t in self._tracks.values() if t.session is self.session)

    def check_files(self) -> list[str]:
        """Notice finished candidates whose files were deleted or changed (marked
        "missing", never recommended or exported); one line per change."""
        if self.session is None:
            return []
        changed = self.session.check_files(recover=False)
        if changed:
            self.session.save()
        for cid, note in changed.items():
            self.log.emit(note)
            self.candidate_changed.emit(cid)
        return list(changed.values())

    def run(self, recipe: Recipe) -> int:
        """Queue a candidate; returns its id."""
        session = self._require_session()
        candidate = session.add(recipe)
        out = session.candidate_dir(candidate.id)
        job_id = self.runner.submit(
            kinds.optimize(
                session.model,
                session.data,
                recipe,
                out,
                threads=self.threads,
                trust=session.trust,
                label=f"{candidate.name} {candidate.label}",
            )
        )
        self._track(job_id, _Track(session, "candidate", (candidate.id,)))
        self.log.emit(f"{candidate.name} queued: {candidate.label}")
        self.activity_changed.emit()
        return candidate.id

    def run_sweep(self, grid: Grid) -> list[int]:
        """Queue a grid's candidates, one job per group sharing its fine-tunes."""
        session = self._require_session()
        groups = []  # each candidate named as the session names it (c001, ...)
        for group in plan(grid):
            candidates = session.add_all([recipe for _, recipe in group.entries])
            groups.append(Group(tuple((c.name, c.recipe) for c in candidates)))
        sweep = SweepRun(
            groups,
            model=session.model,
            data=session.data,
            out_dir=session.folder,
            threads=self.threads,
            trust=session.trust,
            baseline_tflite=session.baseline_dir / "baseline.tflite",
        )
        by_name = {c.name: c.id for c in session.candidates.values()}
        ids = []
        for job_id in sweep.start(self.runner.submit):
            group_ids = tuple(by_name[name] for name, _ in sweep.group(job_id).entries)
            self._track(job_id, _Track(session, "group", group_ids, sweep=sweep))
            ids += group_ids
        self.log.emit(f"sweep queued: {len(ids)} candidates")
        self.activity_changed.emit()
        return ids

    def diagnose(self, samples: int = 100) -> None:
        """Measure the int8 error each layer adds (see studio.engine.diagnosis)."""
        session = self._require_session()
        job = kinds.diagnose(session.model, session.data, samples=samples, trust=session.trust)
        self._tracks[self.runner.submit(job)] = _Track(session, "diagnose")
        self.log.emit("diagnosing int8 error per layer")
        self.activity_changed.emit()

    def sensitivity(self, sparsity: float = 0.5, clusters: int = 16) -> None:
        """Prune / cluster each layer alone (see studio.engine.sensitivity)."""
        session = self._require_session()
        job = kinds.sensitivity(
            session.model, session.data, sparsity=sparsity, clusters=clusters, trust=session.trust
        )
        self._tracks[self.runner.submit(job)] = _Track(session, "sensitivity")
        self.log.emit("measuring each layer's sensitivity to pruning and clustering")
        self.activity_changed.emit()

    def _check_layers(self) -> None:
        """The sensitivity pass, once per measured baseline, when there are layers to
        prune or cluster and labels to measure them with."""
        session = self.session
        summary = session.summary if session is not None else None
        if summary is None or summary.limitation or session.baseline is None:
            return
        if session.baseline.accuracy is None:  # no labels to measure with
            return
        if summary.names("prunable") or summary.names("clusterable"):
            self.sensitivity()

    def script(self, candidate_id: int) -> None:
        """Generate the standalone script that reproduces a candidate (in a worker)."""
        session = self._require_session()
        recipe = session.candidates[candidate_id].recipe
        job = kinds.script(session.model, session.data, recipe, trust=session.trust)
        self._tracks[self.runner.submit(job)] = _Track(session, "script", subject=candidate_id)
        self.activity_changed.emit()

    def running_tasks(self) -> dict[int, str]:
        """The current session's jobs that are not candidates: job id -> title."""
        return {
            job_id: TASK_TITLES[t.kind]
            for job_id, t in self._tracks.items()
            if t.session is self.session and t.kind in TASK_TITLES
        }

    def _track(self, job_id: int, track: _Track) -> None:
        self._tracks[job_id] = track
        for cid in track.candidate_ids:
            self.activity.queued(cid, job_id)
            self.candidate_added.emit(cid)

    def hide(self, candidate_id: int, hidden: bool = True) -> None:
        """Off the plots and the recommendation (or back on them); kept in the table."""
        candidate = self._require_session().set_hidden(candidate_id, hidden)
        self.log.emit(f"{candidate.name} {'hidden' if hidden else 'shown again'}")
        self.candidate_changed.emit(candidate_id)

    def delete(self, candidate_id: int) -> None:
        """Forget a finished candidate and delete its files (raises SessionError if it is
        still queued or running)."""
        session = self._require_session()
        name = session.candidates[candidate_id].name
        session.delete(candidate_id)
        self.log.emit(f"{name} deleted with its files")
        self.candidate_removed.emit(candidate_id)

    def cancel(self, candidate_id: int) -> None:
        job_id = self.activity.job_of.get(candidate_id)
        if job_id is not None:
            self.runner.cancel(job_id)

    def cancel_all(self) -> None:
        """Every job of the current session: candidates, the baseline, a diagnosis."""
        for job_id, track in list(self._tracks.items()):
            if track.session is self.session:
                self.runner.cancel(job_id)

    def set_budget(self, budget: float) -> None:
        if self.session is not None and budget != self.session.budget:
            self.session.set_budget(budget)
            self.budget_changed.emit()

    def set_output(self, name: str) -> None:
        """Judge candidates by another output of a multi-output model (see Session)."""
        if self.session is not None and name and name != self.session.output:
            self.session.set_output(name)
            self.baseline_changed.emit()  # every view reloads the figures

    def recommendation(self) -> Recommendation:
        """The smallest and the fastest candidate within the budget, by candidate name;
        candidates whose files went away are marked missing first, never recommended."""
        session = self.session
        if session is None or session.baseline is None:
            return Recommendation()
        self.check_files()
        return recommend(from_session(session), session.baseline, session.budget)

    def export(self, candidate_id: int, target: Path) -> Path:
        """`Session.export`, noticing a candidate whose file went away."""
        try:
            target = self._require_session().export(candidate_id, target)
        except StudioError:
            self.check_files()
            raise
        self.log.emit(f"exported c{candidate_id:03d} to {target}")
        return target

    def selective_note(self, candidate_id: int) -> str:
        """What keeping layers in float bought this candidate ('' if it keeps none)."""
        session = self._require_session()
        candidate = session.candidates[candidate_id]
        if not candidate.recipe.quantization.float_layers:
            return ""
        return selective.comparison(candidate, session.finished())

    def candidate(self, candidate_id: int) -> Candidate:
        return self._require_session().candidates[candidate_id]

    def shutdown(self) -> None:
        self._layers_check.cancel()
        self.runner.shutdown()
        self.saver.flush()

    # -- internals -------------------------------------------------------------------

    def _require_session(self) -> Session:
        if self.session is None:
            raise RuntimeError("no session is open")
        return self.session

    def _start(self, session: Session, *, measure: bool = True, keep_running: bool = False) -> None:
        if not keep_running:
            self.cancel_all()
        self._layers_check.cancel()  # the previous session's
        session.saver = self.saver
        self.session = session
        self.activity.clear()
        self.session_changed.emit()
        self.baseline_changed.emit()
        self.log.emit(f"session {session.folder}: model {session.model}, data {session.data}")
        if not measure and session.baseline is not None:
            self._check_layers()  # not kept on disk: measured again, seconds
        if measure:
            job_id = self.runner.submit(
                kinds.baseline(
                    session.model,
                    session.data,
                    session.baseline_dir,
                    threads=self.threads,
                    trust=session.trust,
                )
            )
            self._tracks[job_id] = _Track(session, "baseline")
            self.baseline_running = True
        self.activity_changed.emit()

    def _current(self, job_id: int) -> _Track | None:
        track = self._tracks.get(job_id)
        if track is None or track.session is not self.session:
            return None
        return track

    def _on_started(self, job_id: int) -> None:
        track = self._current(job_id)
        if track is None or not track.candidate_ids:
            return
        for cid in track.candidate_ids:
            self.session.update(cid, status="running")
            self.activity.started(cid)
            self.candidate_changed.emit(cid)
        self.activity_changed.emit()

    def _on_progress(self, job_id: int, event: Progress) -> None:
        track = self._current(job_id)
        if track is None or not track.candidate_ids:
            return
        if track.kind == "group":
            self._group_progress(track, event)
            return
        cid = track.candidate_ids[0]
        self._show_progress(cid, event)

    def _show_progress(self, cid: int, event: Progress) -> None:
        recipe = self.session.candidates[cid].recipe
        self.activity.progressed(
            cid, recipe, event.stage, event.fraction, event.message, event.metrics
        )
        if event.metrics:
            self.log.emit(f"c{cid:03d} {event.stage}: {event.message}")
        self.candidate_progress.emit(cid, event)
        self.activity_changed.emit()

    def _group_progress(self, track: _Track, event: Progress) -> None:
        """A group runs its shared fine-tunes once, then each candidate in turn."""
        ids = track.candidate_ids
        shared = event.stage in ("load", "prune", "cluster")
        current = ids[min(track.done_in_group, len(ids) - 1)]
        for cid in ids if shared else (current,):
            self._show_progress(cid, event)
        if event.stage == "done":
            track.done_in_group += 1
            # Saved the moment it is measured: a kill or a cancel of the rest of the
            # group must not throw away what is on disk already.  (Every candidate is
            # checked: one that failed sends no "done", so counting alone can be off.)
            for cid in self._unfinished(track):
                metrics = self.session.measured(cid)
                if metrics is not None:
                    self.activity.ended(cid)
                    self._record(track, cid, True, status="done", metrics=metrics, message="")

    def _on_finished(self, job_id: int, result) -> None:
        track, current = self._end(job_id)
        if track is None:
            return
        if track.kind == "baseline":
            track.session.set_baseline(result.summary, result.metrics)
            if current:
                self.log.emit("float baseline measured")
                self.baseline_changed.emit()
                # Next turn: the views take the baseline (a 150-layer table) in this one.
                self._layers_check()
        elif track.kind == "diagnose":
            if current:
                self.log.emit("diagnosis ready")
                self.diagnosis_ready.emit(result)
        elif track.kind == "sensitivity":
            if current:
                self.sensitivity_ready.emit(result)
        elif track.kind == "script":
            if current:
                self.script_ready.emit(track.subject, result)
        elif track.kind == "group":
            outcomes = dict(
                zip(track.candidate_ids, track.sweep.finished(job_id, result), strict=True)
            )
            for cid in self._unfinished(track):
                r = outcomes[cid]
                self._record(
                    track, cid, current, status=r.status, metrics=r.metrics, message=r.error or ""
                )
        else:
            self._record(
                track, track.candidate_ids[0], current, status="done", metrics=result, message=""
            )

    def _on_failed(self, job_id: int, message: str, kind: str) -> None:
        track, current = self._end(job_id)
        if track is None:
            return
        if track.sweep is not None:
            track.sweep.ended(job_id, message)
        if track.kind == "baseline" and not current:
            return
        if track.kind == "baseline" and current:
            self.log.emit(f"baseline failed: {message}")
            self.setup_failed.emit(kind, message)
        elif track.kind == "diagnose" and current:
            self.log.emit(f"diagnosis failed: {message}")
            self.diagnosis_failed.emit(message)
        elif track.kind == "sensitivity" and current:
            self.log.emit(f"layer sensitivity failed: {message}")
            self.sensitivity_failed.emit(message)
        elif track.kind == "script" and current:
            self.log.emit(f"script failed: {message}")
            self.script_failed.emit(track.subject, message)
        for cid in self._unfinished(track):
            self._record(track, cid, current, status="failed", message=message)

    def _on_cancelled(self, job_id: int) -> None:
        track, current = self._end(job_id)
        if track is None:
            return
        if track.sweep is not None:
            track.sweep.ended(job_id, "", status="cancelled")
        if track.kind == "baseline" and current:
            self.log.emit("float baseline cancelled")
            self.setup_failed.emit("Cancelled", "measuring the float baseline was cancelled")
        for cid in self._unfinished(track):
            self._record(track, cid, current, status="cancelled", message="")

    def _unfinished(self, track: _Track) -> list[int]:
        """A group's candidates not measured yet (the measured ones are saved already)."""
        return [
            cid
            for cid in track.candidate_ids
            if track.session.candidates[cid].status not in ("done", "broken")
        ]

    def _record(self, track: _Track, cid: int, current: bool, **changes) -> None:
        """Write a candidate's outcome into its session (current or not), then tell views."""
        candidate = track.session.update(cid, **changes)
        if not current:
            return
        detail = f": {candidate.message}" if candidate.message else f": {candidate.label}"
        self.log.emit(f"{candidate.name} {candidate.status}{detail}")
        self.candidate_changed.emit(candidate.id)
        self.activity_changed.emit()

    def _end(self, job_id: int) -> tuple[_Track | None, bool]:
        track = self._tracks.pop(job_id, None)
        if track is None:
            return None, False
        current = track.session is self.session
        if current and track.kind == "baseline":
            self.baseline_running = False
        if current and track.kind in TASK_TITLES:
            self.activity_changed.emit()
        elif current:
            for cid in track.candidate_ids:
                self.activity.ended(cid)
        return track, current
