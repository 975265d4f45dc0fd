"""The orchestrator without Qt: candidates and sweeps on a backend whose workers cannot
see the caller's disk, every file landing in the session, the float baseline reused."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fakes import StandIns
from studio.jobs import kinds
from studio.jobs.inprocess import InProcessBackend
from studio.jobs.messages import Finished
from studio.orchestrator.handles import JobFailed
from studio.orchestrator.orchestrator import Orchestrator
from studio.values.grid import Grid
from studio.values.recipe import Quantization, Recipe
from studio.values.session import RESULT_FILES

GRID = Grid.from_dict({"quantization.mode": ["dynamic", "float16", "int8"]})
INT8 = Recipe(quantization=Quantization(mode="int8"))


@pytest.fixture
def isolated(tmp_path):
    """An orchestrator on the "no shared disk" backend, with a model and data file of
    the user's (the stand-ins do not read them; the backend ships them)."""
    stand_ins = StandIns()
    backend = InProcessBackend(stand_ins.handlers(), ship_inputs=True)
    orchestrator = Orchestrator(backend, sessions_root=tmp_path / "sessions")
    user = tmp_path / "user"
    user.mkdir()
    (user / "reader.keras").write_bytes(b"a model")
    (user / "words.npz").write_bytes(b"some data")
    orchestrator.stand_ins = stand_ins
    yield orchestrator
    stand_ins.gate.release(100)
    stand_ins.baseline_gate.set()
    orchestrator.shutdown()


def _open(orchestrator, tmp_path):
    user = tmp_path / "user"
    return orchestrator.open_model(str(user / "reader.keras"), str(user / "words.npz"))


def test_no_shared_disk_a_candidate_and_a_sweep_land_whole_in_the_session(isolated, tmp_path):
    baseline = _open(isolated, tmp_path)
    run = isolated.run(INT8)
    sweep = isolated.run_sweep(GRID)
    isolated.wait(baseline, run, sweep, poll_s=0.05)

    session = isolated.session
    assert baseline.result().metrics.accuracy == 0.99
    assert (session.baseline_dir / "baseline.tflite").read_bytes() == b"float model"
    ids = run.candidate_ids + sweep.candidate_ids
    assert [session.candidates[i].status for i in ids] == ["done"] * 4
    for cid in ids:  # every file the workers wrote is in the session, nowhere else
        folder = session.candidate_dir(cid)
        assert {p.name for p in folder.iterdir()} == set(RESULT_FILES)
        assert session.measured(cid) == session.candidates[cid].metrics
    # The workers never saw a path of the caller's: not the session, not the user's files.
    seen = [Path(p) for p in isolated.stand_ins.paths]
    assert seen and not [p for p in seen if p.is_relative_to(tmp_path)]
    assert {p.name for p in seen} >= {"reader.keras", "words.npz", "baseline.tflite"}
    # One float baseline for the whole session: each group got the one measured.
    jobs = [job for _, job in isolated.backend.submitted]
    assert [job.target for job in jobs].count(kinds.BASELINE) == 1


def test_candidates_asked_for_before_the_baseline_wait_for_it(isolated, tmp_path):
    isolated.stand_ins.baseline_gate.clear()
    baseline = _open(isolated, tmp_path)
    run = isolated.run(INT8)
    assert isolated.session.candidates[run.candidate_ids[0]].status == "queued"
    assert [job.target for _, job in isolated.backend.submitted] == [kinds.BASELINE]
    isolated.stand_ins.baseline_gate.set()
    isolated.wait(baseline, run, poll_s=0.05)
    assert isolated.session.candidates[run.candidate_ids[0]].status == "done"


def test_cancelling_a_waiting_candidate_or_the_baseline_records_every_candidate(isolated, tmp_path):
    isolated.stand_ins.baseline_gate.clear()
    baseline = _open(isolated, tmp_path)
    first, second = isolated.run(INT8), isolated.run_sweep(GRID)
    first.cancel()
    assert first.done() and isolated.candidate(first.candidate_ids[0]).status == "cancelled"
    baseline.cancel()
    isolated.wait(baseline, second, poll_s=0.05)
    with pytest.raises(JobFailed, match="cancelled"):
        baseline.result()
    statuses = {isolated.candidate(i).status for i in second.candidate_ids}
    assert statuses == {"cancelled"} and not isolated.busy()
    assert [job.target for _, job in isolated.backend.submitted] == [kinds.BASELINE]


def test_a_job_cannot_write_outside_its_folder(isolated, tmp_path):
    baseline = _open(isolated, tmp_path)
    isolated.wait(baseline, poll_s=0.05)
    run = isolated.run(INT8)
    [(job_id, _)] = [(i, j) for i, j in isolated.backend.submitted if j.target == kinds.SWEEP_GROUP]
    lines = []
    isolated.log.connect(lines.append)
    isolated.handle(Finished(job_id, [], {"../../escaped.txt": b"x"}))
    assert not (isolated.session.folder.parent / "escaped.txt").exists()
    assert any("outside its folder" in line for line in lines)
    isolated.wait(run, poll_s=0.05)


def test_the_orchestrator_drives_a_sweep_with_no_qt_imported(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from fakes import StandIns
        from studio.jobs.inprocess import InProcessBackend
        from studio.orchestrator.orchestrator import Orchestrator
        from studio.values.grid import Grid
        backend = InProcessBackend(StandIns().handlers(), ship_inputs=True)
        orchestrator = Orchestrator(backend, sessions_root={str(tmp_path)!r})
        baseline = orchestrator.open_model("demo", "demo")
        sweep = orchestrator.run_sweep(Grid.from_dict({{"quantization.mode": ["int8", "float16"]}}))
        orchestrator.wait(baseline, sweep, poll_s=0.05)
        orchestrator.shutdown()
        statuses = [orchestrator.candidate(i).status for i in sweep.candidate_ids]
        assert statuses == ["done", "done"], statuses
        qt = [m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph", "superqt")]
        assert not qt and "tensorflow" not in sys.modules, qt
        print("ok")
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip().endswith("ok"), done.stderr[-2000:]


@pytest.mark.slow
def test_real_workers_without_the_callers_disk_fill_the_session(tmp_path):
    """The demo on worker processes that get every file by value: a candidate and a
    sweep, every file in the session, the float model converted once."""
    from studio.orchestrator.backends import make_backend

    orchestrator = Orchestrator(
        make_backend(2, ship_inputs=True), sessions_root=tmp_path / "sessions"
    )
    try:
        baseline = orchestrator.open_model("demo", "demo")
        run = orchestrator.run(INT8)
        sweep = orchestrator.run_sweep(
            Grid.from_dict({"quantization.mode": ["dynamic", "float16"]})
        )
        orchestrator.wait(baseline, run, sweep)
    finally:
        orchestrator.shutdown()
    session = orchestrator.session
    assert (session.baseline_dir / "baseline.tflite").is_file()
    for cid in run.candidate_ids + sweep.candidate_ids:
        candidate = session.candidates[cid]
        assert candidate.status == "done", candidate.message
        assert session.tflite(cid).stat().st_size == candidate.metrics.size_bytes
        assert session.measured(cid) is not None
        assert "baseline" not in candidate.metrics.seconds  # not converted again
    int8 = session.candidates[run.candidate_ids[0]].metrics
    assert int8.gzip_bytes < session.baseline.gzip_bytes / 3 and int8.agreement > 0.95


def test_the_float_baseline_is_measured_again_only_for_another_thread_count(isolated, tmp_path):
    baseline = _open(isolated, tmp_path)
    isolated.wait(baseline, poll_s=0.05)
    isolated.wait(isolated.run(INT8), isolated.run(INT8), poll_s=0.05)
    targets = [job.target for _, job in isolated.backend.submitted]
    assert targets.count(kinds.BASELINE) == 1  # reused by both candidates

    isolated.threads = 2  # Preferences: candidates are now timed on 2 threads
    isolated.wait(isolated.run(INT8), poll_s=0.05)
    jobs = [job for _, job in isolated.backend.submitted if job.target == kinds.BASELINE]
    assert [job.kwargs["threads"] for job in jobs] == [1, 2]


def test_a_sweep_ends_with_its_candidates_timed_together(isolated, tmp_path):
    """Issue 32: latencies measured apart rank the machine's noise; the end of a sweep
    times the float model and the candidates interleaved, and those figures are kept."""
    baseline = _open(isolated, tmp_path)
    sweep = isolated.run_sweep(GRID)
    isolated.wait(baseline, sweep, poll_s=0.05)  # done only once they are timed together
    session = isolated.session
    timing = [job for _, job in isolated.backend.submitted if job.target == kinds.TIME_TOGETHER]
    assert len(timing) == 1 and len(timing[0].kwargs["tflites"]) == 4  # baseline + 3
    lat = [session.candidates[c].metrics.latency_ms for c in sweep.candidate_ids]
    assert all(x.together for x in lat) and session.baseline.latency_ms.together
    assert [x.median for x in lat] == [2.0, 3.0, 4.0]  # in the job's order, after the float
    assert session.measured(sweep.candidate_ids[0]).latency_ms.together  # on disk too
    isolated.set_budget(10.0)  # all within it: the spreads part, so one is fastest
    chosen = isolated.recommendation()
    assert chosen.fastest == session.candidates[sweep.candidate_ids[0]].name and not chosen.tied


def test_a_sweep_reuses_recipes_the_session_has_measured(isolated, tmp_path):
    """Issue 32: a sweep re-ran recipes that already existed (demo c006 = c002)."""
    baseline = _open(isolated, tmp_path)
    first = isolated.run(INT8)
    isolated.wait(baseline, first, poll_s=0.05)
    sweep = isolated.run_sweep(GRID)  # dynamic, float16 and int8 again
    isolated.wait(sweep, poll_s=0.05)
    recipes = [isolated.candidate(c).recipe.quantization.mode for c in sweep.candidate_ids]
    assert sorted(recipes) == ["dynamic", "float16"]
    assert len(isolated.session.candidates) == 3
