"""The studio's application model: the current session, and the jobs that fill it.

The window (through `studio.ui.workbench`, a thin Qt adapter) and the CLI both call
`open_model`, `run`, `run_sweep`, `cancel` here.  Every job's result and artifacts are
written into the session (and so saved) before any listener hears of it, so nothing a
user computed is lost if the window goes away.  Results of a session that is no longer
current are still saved into that session, but not shown.

Events reach `handle` one at a time on the caller's thread: the window's job pump hands
them over one per event-loop turn, the CLI's `wait` reads them from the backend itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from studio.jobs import explorer, kinds
from studio.jobs.explorer import Explorer
from studio.jobs.messages import (
    Artifacts,
    Cancelled,
    Failed,
    Finished,
    Job,
    JobEvent,
    Progress,
    Started,
)
from studio.jobs.pool import Backend
from studio.jobs.sweeps import SweepRun
from studio.orchestrator.activity import Activity
from studio.orchestrator.handles import Handle
from studio.orchestrator.hooks import Hook
from studio.orchestrator.tracks import (
    BaselineTrack,
    DiagnosisTrack,
    GroupTrack,
    ScoreTrack,
    ScriptTrack,
    SensitivityTrack,
    TimingTrack,
    Track,
)
from studio.values import atomic, selective
from studio.values import autotune as autotune_values
from studio.values import sensitivity as layer_sensitivity
from studio.values.cluster import Cluster
from studio.values.errors import StudioError
from studio.values.grid import Grid
from studio.values.metrics import Latency
from studio.values.recipe import Recipe
from studio.values.results import Recommendation, from_session, recommend
from studio.values.session import Candidate, Session
from studio.values.sweep import Group, plan_entries

SEARCH_ROW = -(10**9)  # the automatic search's row among `running_tasks` (no job id)
RERUNNABLE = ("failed", "cancelled", "interrupted", "broken", "missing")

# What the orchestrator tells its listeners (the window turns each into a Qt signal of
# the same name): hook name -> what it carries.
HOOKS = {
    "session_changed": "a new model or data: views start over",
    "baseline_changed": "summary and baseline figures arrived (or were cleared)",
    "budget_changed": "the accepted accuracy loss changed",
    "setup_failed": "error kind ('ModelError', 'DataError', ...), message",
    "candidate_added": "candidate id",
    "candidate_changed": "candidate id",
    "candidate_removed": "candidate id (deleted by the user)",
    "candidate_progress": "candidate id, jobs.messages.Progress",
    "diagnosis_ready": "list of per-layer LayerError, worst first",
    "diagnosis_failed": "message",
    "sensitivity_ready": "list of LayerSensitivity",
    "sensitivity_failed": "message",
    "script_ready": "candidate id, the script's text",
    "script_failed": "candidate id, message",
    "activity_changed": "running/queued jobs or their progress changed",
    "layers_wanted": "a baseline was measured: time for the layer sensitivity check",
    "job_progress": "the job's label, jobs.messages.Progress (every job, for the CLI)",
    "search_changed": "the automatic search's progress or answer changed",
    "log": "a line for the log",
}


class Orchestrator:
    def __init__(
        self,
        backend: Backend,
        sessions_root: str | os.PathLike | None = None,
        *,
        saver: atomic.Saver | None = None,
    ) -> None:
        self.backend = backend  # this machine's workers: every job but candidates on a cluster
        self.remote: Backend | None = None  # a cluster, once connected (see `use_cluster`)
        self.run_on = "local"  # where candidates run: a name of `studio.values.cluster.PLACES`
        self.sessions_root = Path(sessions_root) if sessions_root else None
        self.saver = saver  # sessions save on its thread (the window); None: at once
        self.session: Session | None = None
        self.threads = 1
        self.activity = Activity()  # progress of the current session's candidates
        self.baseline_running = False
        self._tracks: dict[int, Track] = {}
        self._next_waiting = -1  # placeholder ids of jobs waiting for a baseline
        self._tickers: list[Callable[[], None]] = []  # called about once a second
        self.search = None  # the automatic search running, if any (orchestrator.autotune)
        self.explorer: Explorer | None = None  # Model Explorer's server, once asked for
        for name in HOOKS:
            setattr(self, name, Hook(name))

    # -- sessions -------------------------------------------------------------------

    def open_model(
        self,
        model: str | os.PathLike,
        data: str | None = None,
        trust: bool = False,
        *,
        keep_running: bool = False,
    ) -> Handle:
        """Start a session on `model` (keeping the current data unless given); returns
        the float baseline's handle.

        Running jobs are cancelled, unless `keep_running`: then they finish and their
        results are saved in the session they belong to (reopen it to see them)."""
        data = data or (self.session.data if self.session else "demo")
        session = Session.create(str(model), str(data), root=self.sessions_root, trust=trust)
        return self.start(session, keep_running=keep_running)

    def set_data(self, data: str | os.PathLike, *, keep_running: bool = False) -> Handle:
        model = self.session.model if self.session else "demo"
        trust = self.session.trust if self.session else False
        session = Session.create(model, str(data), root=self.sessions_root, trust=trust)
        return self.start(session, keep_running=keep_running)

    def open_session(self, folder: str | os.PathLike, *, keep_running: bool = False) -> Handle:
        """Reopen a saved session (raises SessionError for a folder that is not one);
        its `notes` say what was repaired or recovered on the way."""
        if self.saver is not None:
            self.saver.flush()  # it may be a session this window is still writing
        session = Session.open(folder)
        for note in session.notes:
            self.log.emit(note)
        return self.start(session, measure=session.baseline is None, keep_running=keep_running)

    def start(
        self, session: Session, *, measure: bool = True, keep_running: bool = False
    ) -> Handle:
        """Make `session` the current one; measure its float baseline unless told not
        to (a reopened session that has one).  Returns the baseline's handle."""
        if not keep_running:
            self.cancel_all()
        session.saver = self.saver
        self.session = session
        self.activity.clear()
        self.session_changed.emit()
        self.baseline_changed.emit()
        self.log.emit(f"session {session.folder}: model {session.model}, data {session.data}")
        if measure:
            handle = self._measure_baseline(session)
        else:
            handle = Handle("the float baseline")
            handle.settle(kinds.Baseline(session.summary, session.baseline))
            if session.baseline is not None:
                self.layers_wanted.emit()  # the saved sensitivity pass, or a new one
        self.activity_changed.emit()
        return handle

    def _measure_baseline(self, session: Session, *, again: bool = False) -> Handle:
        handle = Handle("the float baseline", cancel=self._cancel_handle)
        job = kinds.baseline(session.model, session.data, threads=self.threads, trust=session.trust)
        track = BaselineTrack(session, handle, kinds.BASELINE, session.baseline_dir, again=again)
        self._submit(job, track)
        self.baseline_running = True
        return handle

    # -- candidates -----------------------------------------------------------------

    def run(self, recipe: Recipe) -> Handle:
        """Queue one candidate (a group of one); the handle's `candidate_ids` has its id."""
        session = self._require_session()
        candidate = session.add(recipe)
        handle = self._run_groups(session, [Group(((candidate.name, candidate.recipe),))])
        self.log.emit(f"{candidate.name} queued: {candidate.label}")
        return handle

    def rerun(self, candidate_id: int) -> Handle:
        """Run a failed, cancelled, interrupted, broken or missing candidate again, in
        its own row and folder (raises StudioError for one that is queued, running or
        done)."""
        session = self._require_session()
        candidate = session.candidates[candidate_id]
        if candidate.status not in RERUNNABLE:
            raise StudioError(f"{candidate.name} is {candidate.status}: nothing to run again")
        session.update(candidate_id, status="queued", metrics=None, message="")
        handle = self._run_groups(session, [Group(((candidate.name, candidate.recipe),))])
        self.candidate_changed.emit(candidate_id)
        self.log.emit(f"{candidate.name} queued again: {candidate.label}")
        return handle

    def run_sweep(self, grid: Grid, *, grid_names: bool = False) -> Handle:
        """Queue a grid's candidates, one job per group sharing its fine-tunes; each
        named as the session names it (c001, ...), or as the grid does (`grid_names`:
        "01-prune-50-int8", the CLI's sweep folders).  Recipes the session has measured
        already are not run again (the handle's candidates are the new ones)."""
        session = self._require_session()
        measured = {c.recipe.effective() for c in session.finished()}
        # A recipe measured already in this session is reused, not run again.
        entries = [(n, r) for n, r in grid.expand() if r.effective() not in measured]
        names = [name for name, _ in entries] if grid_names else None
        handle = self.run_all([recipe for _, recipe in entries], names)
        handle.before_settling = self._time_sweep
        self.log.emit(f"sweep queued: {len(handle.candidate_ids)} candidates")
        return handle

    def run_all(self, recipes: list[Recipe], names: list[str] | None = None) -> Handle:
        """Queue candidates, those with the same pruning and clustering sharing one job
        (their fine-tunes run once), named as the session names them or by `names`."""
        session = self._require_session()
        candidates = session.add_all(recipes, names)
        groups = plan_entries([(c.name, c.recipe) for c in candidates])
        handle = self._run_groups(session, groups)
        handle.candidate_ids = tuple(c.id for c in candidates)  # in the order given
        return handle

    def _time_sweep(self, handle: Handle) -> None:
        """The end of a sweep: its measured candidates timed together (a cancelled
        sweep is left as it is)."""
        session = self.session
        if session is None or not all(c in session.candidates for c in handle.candidate_ids):
            return
        statuses = [session.candidates[c].status for c in handle.candidate_ids]
        done = [c for c, s in zip(handle.candidate_ids, statuses, strict=True) if s == "done"]
        if "cancelled" not in statuses and len(done) >= 2:
            self.time_together(done, handle)

    def time_together(
        self, candidate_ids: list[int] | None = None, handle: Handle | None = None
    ) -> Handle:
        """Time the float baseline and these finished candidates (default: every one not
        hidden) interleaved in one process, at the current threads, and keep those
        latencies: two runs of one recipe measured apart differ by the machine's noise."""
        session = self._require_session()
        ids = candidate_ids or [c.id for c in session.finished()]
        ids = [c for c in ids if session.candidates[c].status == "done"]
        files = [session.tflite(c) for c in ids]
        timed = tuple(ids)
        if session.baseline is not None and (session.baseline_dir / "baseline.tflite").is_file():
            files.insert(0, session.baseline_dir / "baseline.tflite")
            timed = (0, *timed)
        handle = handle or Handle("timing together", cancel=self._cancel_handle)
        job = kinds.time_together(
            session.model, session.data, files, threads=self.threads, trust=session.trust
        )
        self._submit(job, TimingTrack(session, handle, timed=timed))
        self.log.emit(f"timing {len(files)} files together")
        self.activity_changed.emit()
        return handle

    def retime(self, session: Session, cid: int, latency: Latency, current: bool) -> None:
        """A latency timed together replaces the one measured alone (0: the baseline),
        in the session and in the candidate's metrics.json."""
        if cid == 0:
            base = dataclasses.replace(session.baseline, latency_ms=latency)
            session.set_baseline(session.summary, base)
            if current:
                self.baseline_changed.emit()
            return
        candidate = session.candidates.get(cid)
        if candidate is None or candidate.metrics is None:
            return
        metrics = dataclasses.replace(candidate.metrics, latency_ms=latency)
        figures = session.candidate_dir(cid) / "metrics.json"
        with contextlib.suppress(OSError):
            atomic.write_json(figures, {**metrics.to_dict(), "label": candidate.label})
        session.update(cid, metrics=metrics)
        if current:
            self.candidate_changed.emit(cid)

    def _run_groups(self, session: Session, groups: list[Group]) -> Handle:
        """Each group's job, now if the float baseline is measured, else once it is.

        The float model is converted and measured once per session (its model and data)
        and thread count: candidates measured at other threads than its latency get it
        measured again at theirs, so latencies compare like with like."""
        baseline = session.baseline
        other_threads = baseline is not None and baseline.latency_ms.threads != self.threads
        if other_threads and not self.baseline_running:
            self._measure_baseline(session, again=True)
        sweep = SweepRun(
            groups,
            model=session.model,
            data=session.data,
            baseline_tflite=session.baseline_dir / "baseline.tflite",
            threads=self.threads,
            trust=session.trust,
        )
        by_name = {c.name: c.id for c in session.candidates.values()}
        ids = tuple(by_name[name] for group in groups for name, _ in group.entries)
        handle = Handle("candidates", ids, cancel=self._cancel_handle)
        waiting = session.baseline is None
        backend = self.candidates_backend
        for group in groups:
            cids = tuple(by_name[name] for name, _ in group.entries)
            track = GroupTrack(
                session,
                handle,
                dest=session.folder,
                candidate_ids=cids,
                sweep=sweep,
                group=group,
                waiting=waiting,
                backend=backend,
            )
            if waiting:
                job_id = self._next_waiting
                self._next_waiting -= 1
                track.label = ", ".join(name for name, _ in group.entries)
            else:
                job_id = sweep.submit(group, backend.submit, session.baseline)
                track.label = sweep.label(job_id)
            self._register(job_id, track)
        self.activity_changed.emit()
        return handle

    def release_waiting(
        self, session: Session, *, failure: str | None = None, status: str = "failed"
    ) -> None:
        """The session's baseline ended: submit the groups that waited for it, or (it
        failed or was cancelled) record their candidates so."""
        for key, track in list(self._tracks.items()):
            if not (isinstance(track, GroupTrack) and track.waiting and track.session is session):
                continue
            current = session is self.session
            if failure is not None:
                del self._tracks[key]
                if current:
                    for cid in track.candidate_ids:
                        self.activity.ended(cid)
                for cid in track.unfinished():
                    self.record(track, cid, current, status=status, message=failure)
                track.handle.ended(key)
                continue
            job_id = track.sweep.submit(track.group, track.backend.submit, session.baseline)
            track.waiting = False
            self._tracks[job_id] = self._tracks.pop(key)
            track.label = track.sweep.label(job_id)
            track.handle.replaced(key, job_id)
            if current:
                for cid in track.candidate_ids:
                    self.activity.queued(cid, job_id)
        self.activity_changed.emit()

    # -- the session's own jobs -----------------------------------------------------

    def diagnose(self, samples: int = 100) -> Handle:
        """Measure the int8 error each layer adds (see studio.engine.diagnosis)."""
        session = self._require_session()
        job = kinds.diagnose(session.model, session.data, samples=samples, trust=session.trust)
        handle = Handle("the int8 diagnosis", cancel=self._cancel_handle)
        self._submit(job, DiagnosisTrack(session, handle, kinds.DIAGNOSE))
        self.log.emit("diagnosing int8 error per layer")
        self.activity_changed.emit()
        return handle

    def sensitivity(
        self, sparsity: float = 0.5, clusters: int = 16, *, reuse: bool = False
    ) -> Handle:
        """Prune / cluster each layer alone (see studio.engine.sensitivity); with `reuse`,
        the session's saved pass at the same settings, when it has one (a reopened
        session, the automatic search after the window's pass)."""
        session = self._require_session()
        saved = layer_sensitivity.read(session.folder) if reuse else None
        wanted = {"prune": sparsity, "cluster": clusters}
        if saved and all(r.setting == wanted.get(r.technique) for r in saved):
            self.log.emit("layer sensitivity: the session's last pass")
            self.sensitivity_ready.emit(saved)
            handle = Handle("the layer sensitivity pass")
            handle.settle(saved)
            return handle
        job = kinds.sensitivity(
            session.model, session.data, sparsity=sparsity, clusters=clusters, trust=session.trust
        )
        handle = Handle("the layer sensitivity pass", cancel=self._cancel_handle)
        self._submit(job, SensitivityTrack(session, handle, kinds.SENSITIVITY))
        self.log.emit("measuring each layer's sensitivity to pruning and clustering")
        self.activity_changed.emit()
        return handle

    def check_layers(self) -> None:
        """The sensitivity pass, once per measured baseline, when there are layers to
        prune or cluster and labels to measure them with."""
        session = self.session
        summary = session.summary if session is not None else None
        if summary is None or summary.limitation or session.baseline is None:
            return
        if session.baseline.accuracy is None:  # no labels to measure with
            return
        if summary.names("prunable") or summary.names("clusterable"):
            self.sensitivity(reuse=True)

    def score(self, candidate_ids: list[int], data: str) -> Handle:
        """Measure the float baseline's file and these candidates' files again on
        `data` (the search's held-out part); the value is their `Metrics`, the float
        file's first."""
        session = self._require_session()
        job = kinds.score(
            session.model,
            data,
            session.baseline_dir / "baseline.tflite",
            [session.tflite(c) for c in candidate_ids],
            threads=self.threads,
            trust=session.trust,
        )
        handle = Handle("the held-out check", cancel=self._cancel_handle)
        self._submit(job, ScoreTrack(session, handle))
        self.activity_changed.emit()
        return handle

    def script(self, candidate_id: int) -> Handle:
        """Generate the standalone script that reproduces a candidate (in a worker)."""
        session = self._require_session()
        recipe = session.candidates[candidate_id].recipe
        job = kinds.script(session.model, session.data, recipe, trust=session.trust)
        handle = Handle("the reproduction script", cancel=self._cancel_handle)
        self._submit(job, ScriptTrack(session, handle, kinds.SCRIPT, subject=candidate_id))
        self.activity_changed.emit()
        return handle

    # -- what the views ask ---------------------------------------------------------

    @property
    def workers(self) -> int:
        """How many candidates' jobs run at once (where candidates run)."""
        return self.candidates_backend.size

    @property
    def candidates_backend(self) -> Backend:
        """Where candidates' jobs go: the cluster when chosen and connected."""
        if self.run_on != "local" and self.remote is not None:
            return self.remote
        return self.backend

    def use_cluster(self, remote: Backend | None) -> None:
        """Run the next candidates on `remote` (connected, sharing this backend's event
        queue: `connect_cluster`), or on this machine again (None).  A cluster replaced
        is shut down: its running candidates end cancelled."""
        if self.remote is not None and self.remote is not remote:
            self.remote.shutdown()
        self.remote = remote
        self.run_on = "local" if remote is None else "ray"
        if remote is not None:
            self.log.emit(f"candidates run on {self.candidates_place()}")

    def candidates_place(self) -> str:
        """Where candidates run, in a user's words (the log, the status bar)."""
        if self.candidates_backend is self.backend:
            return "this machine"
        info = getattr(self.remote, "info", None)
        return f"the Ray cluster: {info.describe()}" if info else "the Ray cluster"

    def connect_cluster(self, cluster: Cluster) -> Backend:
        """Connect to a Ray cluster (seconds; raises `StudioError` saying what failed);
        nothing changes until `use_cluster` is given the result.  Safe on any thread."""
        from studio.orchestrator.backends import cluster_backend

        return cluster_backend(cluster, self.backend.event_queue)

    def busy(self) -> int:
        """How many jobs of the current session are queued or running."""
        return sum(1 for t in self._tracks.values() if t.session is self.session)

    def pending(self) -> str:
        """What of the current session is queued or running, in a user's words:
        candidates counted one by one (a sweep group is several), then other jobs."""
        mine = [t for t in self._tracks.values() if t.session is self.session]
        candidates = sum(len(t.candidate_ids) for t in mine)
        tasks = sum(1 for t in mine if t.title)
        parts = [f"{candidates} candidate(s)"] if candidates else []
        if tasks:
            parts.append(
                f"{tasks} other job(s) ({', '.join(t.title.split(':')[0] for t in mine if t.title)})"
            )
        return " and ".join(parts) or "nothing"

    def running_tasks(self) -> dict[int, str]:
        """The current session's jobs that are not candidates: job id -> title (an
        automatic search is one, under SEARCH_ROW, saying how far it is)."""
        tasks = {
            job_id: t.title
            for job_id, t in self._tracks.items()
            if t.session is self.session and t.title
        }
        if self.search is not None and self.search.session is self.session:
            tasks[SEARCH_ROW] = f"Automatic search, {self.search.status()}"
        return tasks

    def search_summary(self) -> tuple[str, list[str], str | None]:
        """The current session's automatic search: running, or finished (its saved
        autotune.json): a status line, the explanation's lines, the answer's name."""
        if self.search is not None and self.search.session is self.session:
            return self.search.summary()
        if self.session is None:
            return "", [], None
        return autotune_values.saved(self.session.folder)

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
            self._cancel_job(job_id)

    def cancel_all(self) -> None:
        """Every job of the current session: candidates, the baseline, a diagnosis, an
        automatic search (its finished trials are kept)."""
        if self.search is not None and self.search.session is self.session:
            self.search.cancel()
        for job_id, track in list(self._tracks.items()):
            if track.session is self.session:
                self._cancel_job(job_id)

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

    def explore(self, candidate_ids: list[int]) -> str:
        """The page of Model Explorer showing these candidates' files (two: both loaded,
        for its split view) with their overlays (written once into each candidate's
        `overlays/`).  Its server is started on first use and reused; the first call
        takes seconds, so a window runs it off its GUI thread."""
        session = self._require_session()
        if why := explorer.missing():
            raise StudioError(why)
        shown = []
        for cid in candidate_ids:
            candidate = session.candidates[cid]
            model = session.tflite(cid)
            if candidate.status != "done" or not model.is_file():
                raise StudioError(f"{candidate.name} has no measured file to show yet")
            folder = session.candidate_dir(cid) / "overlays"
            if len(candidate_ids) > 1:  # told apart by file name and graph (explorer.page)
                shown.append(explorer.prepare(model, folder / "beside", candidate.name))
            else:
                shown.append(explorer.prepare(model, folder))
        if self.explorer is None:
            self.explorer = explorer.Explorer()
        return self.explorer.show(shown)

    def shutdown(self) -> None:
        if self.explorer is not None:
            self.explorer.stop()
        if self.remote is not None:
            self.remote.shutdown()
        self.backend.shutdown()
        if self.saver is not None:
            self.saver.flush()

    # -- driving it without an event loop of one's own (the CLI) --------------------

    def wait(self, *handles: Handle, poll_s: float = 0.5) -> None:
        """Handle the backend's events until every handle is done."""
        while not all(h.done() for h in handles):
            event = self.backend.next_event(timeout=poll_s)
            if event is not None:
                self.handle(event)
            self.tick()

    def every_tick(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` about once a second (a search's time limit) until the
        returned function is called."""
        self._tickers.append(callback)

        def stop() -> None:
            if callback in self._tickers:
                self._tickers.remove(callback)

        return stop

    def tick(self) -> None:
        """Time passed: the CLI's `wait` and the window's timer call this."""
        for callback in list(self._tickers):
            callback()

    # -- events ---------------------------------------------------------------------

    def handle(self, event: JobEvent) -> None:
        """One event from the backend, on the caller's thread."""
        track = self._tracks.get(event.job_id)
        if track is None:
            return
        current = track.session is self.session
        if isinstance(event, Started):
            track.started(self, current)
        elif isinstance(event, Progress):
            if current:
                track.progress(self, event)
            self.job_progress.emit(track.label or track.title, event)
        elif isinstance(event, Artifacts):
            if self._store(track, event.files):
                track.stored(self, current)
        elif isinstance(event, Finished):
            self._end(event.job_id)
            try:
                result = kinds.decode(track.target, event.result)
            except StudioError as err:  # a worker wrote figures this studio cannot read
                track.failed(self, event.job_id, str(err), type(err).__name__, current)
                return
            if self._store(track, event.artifacts):
                track.stored(self, current)
            track.finished(self, event.job_id, result, current)
        elif isinstance(event, Failed):
            self._end(event.job_id)
            track.failed(self, event.job_id, event.message, event.kind, current)
        elif isinstance(event, Cancelled):
            self._end(event.job_id)
            track.cancelled(self, event.job_id, current)

    def show_progress(self, cid: int, event: Progress) -> None:
        recipe = self.session.candidates[cid].recipe
        self.activity.progressed(
            cid, recipe, event.stage, event.fraction, event.message, event.metrics
        )
        if event.metrics:
            self.log.emit(f"c{cid:03d} {event.stage}: {event.message}")
        self.candidate_progress.emit(cid, event)
        self.activity_changed.emit()

    def record(self, track: Track, cid: int, current: bool, **changes: Any) -> None:
        """Write a candidate's outcome into its session (current or not), then tell views."""
        candidate = track.session.update(cid, **changes)
        if not current:
            return
        detail = f": {candidate.message}" if candidate.message else f": {candidate.label}"
        self.log.emit(f"{candidate.name} {candidate.status}{detail}")
        self.candidate_changed.emit(candidate.id)
        self.activity_changed.emit()

    # -- internals ------------------------------------------------------------------

    def _require_session(self) -> Session:
        if self.session is None:
            raise RuntimeError("no session is open")
        return self.session

    def _submit(self, job: Job, track: Track) -> int:
        job_id = self.backend.submit(job)
        track.label = job.label
        self._register(job_id, track)
        return job_id

    def _register(self, job_id: int, track: Track) -> None:
        self._tracks[job_id] = track
        track.handle.opened(job_id)
        if track.session is not self.session:
            return
        for cid in track.candidate_ids:
            self.activity.queued(cid, job_id)
            self.candidate_added.emit(cid)

    def _store(self, track: Track, files: dict[str, bytes]) -> bool:
        """A job's artifacts written under its track's folder, all or none; False (and
        a line in the log) if they cannot be."""
        if not files:
            return False
        if track.dest is None:
            self.log.emit(f"{track.handle.title} sent files nobody asked for; ignored")
            return False
        dest = track.dest.resolve()
        writes = {}
        for rel, data in files.items():
            path = PurePosixPath(rel)
            if path.is_absolute() or ".." in path.parts or not path.parts:
                self.log.emit(f"a job sent a file outside its folder ({rel!r}); ignored")
                return False
            writes[dest.joinpath(*path.parts)] = data
        try:
            atomic.write_all(writes)
        except OSError as err:
            self.log.emit(f"cannot save a job's files in {dest}: {err.strerror or err}")
            return False
        return True

    def _end(self, job_id: int) -> None:
        track = self._tracks.pop(job_id, None)
        if track is None or track.session is not self.session:
            return
        if isinstance(track, BaselineTrack):
            self.baseline_running = False
        if track.title:
            self.activity_changed.emit()
        else:
            for cid in track.candidate_ids:
                self.activity.ended(cid)

    def _cancel_job(self, job_id: int) -> None:
        track = self._tracks.get(job_id)
        if job_id >= 0:
            backend = track.backend if track is not None and track.backend else self.backend
            backend.cancel(job_id)
            return
        # waiting for its baseline: never submitted
        if track is None:
            return
        self._end(job_id)
        track.cancelled(self, job_id, track.session is self.session)

    def _cancel_handle(self, handle: Handle) -> None:
        for job_id in handle.jobs:
            self._cancel_job(job_id)
