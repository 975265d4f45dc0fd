"""The workbench's bookkeeping, fast: jobs run in-process with stand-ins for TensorFlow.

The stand-ins write what the real tasks write (a candidate's model.tflite, recipe.json,
metrics.json) and report the same stages, so what is tested here is the workbench: when
results are saved, what a cancel, a crash or a failure does to each candidate, and which
session a result lands in.  tests/test_window.py and tests/test_crash_recovery.py do the
same with real workers.
"""

from __future__ import annotations

import json
import threading

import pytest

from fakes import StandIns
from studio.jobs import kinds
from studio.jobs.inprocess import InProcessBackend
from studio.values.errors import ConversionError
from studio.values.grid import Grid
from studio.values.recipe import Quantization, Recipe

WAIT = 10_000


@pytest.fixture
def bench(qtbot, tmp_path):
    from studio.ui.workbench import Workbench

    stand_ins = StandIns()
    backend = InProcessBackend(stand_ins.handlers())
    workbench = Workbench(backend, sessions_root=tmp_path / "sessions")
    workbench.stand_ins = stand_ins
    workbench.backend = backend
    workbench.open_model("demo", "demo")
    qtbot.waitUntil(lambda: workbench.session.baseline is not None, timeout=WAIT)
    yield workbench
    stand_ins.gate.release(100)
    workbench.shutdown()


GRID = Grid.from_dict({"quantization.mode": ["dynamic", "float16", "int8", "int16x8"]})


def _statuses(workbench, ids):
    return [workbench.session.candidates[i].status for i in ids]


def _on_disk(workbench) -> dict:
    workbench.saver.flush()  # saves happen on a background thread
    raw = json.loads((workbench.session.folder / "session.json").read_text())
    return {c["id"]: c["status"] for c in raw["candidates"]}


def test_a_sweep_candidate_is_saved_the_moment_it_is_measured(qtbot, bench):
    bench.stand_ins.gate = threading.Semaphore(0)  # hold the group after each candidate
    ids = bench.run_sweep(GRID)
    qtbot.waitUntil(lambda: _statuses(bench, ids)[0] == "done", timeout=WAIT)
    assert _statuses(bench, ids)[1:] == ["running"] * 3
    assert _on_disk(bench)[ids[0]] == "done"  # saved, not only shown
    assert bench.session.candidates[ids[0]].metrics.accuracy == 0.9
    bench.stand_ins.gate.release()
    qtbot.waitUntil(lambda: _statuses(bench, ids)[1] == "done", timeout=WAIT)

    bench.cancel_all()  # the rest of the group is cancelled; the measured ones stay
    bench.stand_ins.gate.release(10)
    qtbot.waitUntil(lambda: not bench.busy(), timeout=WAIT)
    assert _statuses(bench, ids) == ["done", "done", "cancelled", "cancelled"]
    assert _on_disk(bench) == dict(zip(ids, _statuses(bench, ids), strict=True))


def test_a_crashed_group_keeps_what_it_measured(qtbot, bench):
    bench.stand_ins.crash_after = 2
    ids = bench.run_sweep(GRID)
    qtbot.waitUntil(lambda: not bench.busy(), timeout=WAIT)
    assert _statuses(bench, ids) == ["done", "done", "failed", "failed"]
    assert "SIGKILL" in bench.session.candidates[ids[2]].message


def test_a_failed_candidate_does_not_shift_the_others(qtbot, bench):
    bench.stand_ins.fail_names = {"c002"}
    ids = bench.run_sweep(GRID)
    qtbot.waitUntil(lambda: not bench.busy(), timeout=WAIT)
    assert _statuses(bench, ids) == ["done", "failed", "done", "done"]
    accuracies = [bench.session.candidates[i].metrics for i in ids]
    assert [m and m.accuracy for m in accuracies] == [0.9, None, 0.92, 0.93]


def test_cancel_all_stops_the_baseline_too(qtbot, bench):
    bench.stand_ins.baseline_gate.clear()
    bench.set_data("demo")  # a new session: its baseline is measured
    assert bench.baseline_running and bench.busy() == 1
    failed = []
    bench.setup_failed.connect(lambda kind, message: failed.append(kind))
    bench.cancel_all()
    qtbot.waitUntil(lambda: not bench.baseline_running, timeout=WAIT)
    assert failed == ["Cancelled"] and bench.session.baseline is None


def test_jobs_left_running_finish_into_their_own_session(qtbot, bench):
    bench.stand_ins.gate = threading.Semaphore(0)
    first = bench.session
    ids = bench.run_sweep(GRID)
    qtbot.waitUntil(lambda: first.candidates[ids[0]].status == "done", timeout=WAIT)
    bench.open_model("demo", "demo", keep_running=True)
    assert bench.session is not first
    bench.stand_ins.gate.release(10)
    qtbot.waitUntil(lambda: all(first.candidates[i].status == "done" for i in ids), timeout=WAIT)
    bench.saver.flush()
    saved = json.loads((first.folder / "session.json").read_text())
    assert [c["status"] for c in saved["candidates"]] == ["done"] * 4
    assert not bench.session.candidates  # nothing leaked into the new session


def test_a_single_candidate_runs_and_a_failure_names_the_reason(qtbot, bench):
    cid = bench.run(Recipe(quantization=Quantization(mode="int8")))
    qtbot.waitUntil(lambda: not bench.busy(), timeout=WAIT)
    assert bench.session.candidates[cid].status == "done"

    def refuse(**_):
        raise ConversionError("the TFLite converter failed for mode 'int8'")

    bench.backend.handlers[kinds.SWEEP_GROUP] = refuse
    cid = bench.run(Recipe(quantization=Quantization(mode="int8")))
    qtbot.waitUntil(lambda: not bench.busy(), timeout=WAIT)
    assert bench.session.candidates[cid].status == "failed"
    assert "converter failed" in bench.session.candidates[cid].message


def test_the_sensitivity_pass_runs_once_per_measured_baseline(qtbot, bench):
    def passes():
        return [job for _, job in bench.backend.submitted if job.target == kinds.SENSITIVITY]

    qtbot.waitUntil(lambda: len(passes()) == 1, timeout=WAIT)
    bench.stand_ins.two_heads = True
    bench.open_model("demo", "demo")
    qtbot.waitUntil(lambda: len(passes()) == 2, timeout=WAIT)
    bench.set_output("score")  # the views reload; the layers are not measured again
    bench.set_budget(2.0)
    qtbot.wait(200)
    assert len(passes()) == 2


def test_a_reopened_session_shows_its_saved_sensitivity_pass_without_running_it_again(
    qtbot, bench
):
    from studio.values import sensitivity

    def passes():
        return [job for _, job in bench.backend.submitted if job.target == kinds.SENSITIVITY]

    qtbot.waitUntil(lambda: len(passes()) == 1, timeout=WAIT)
    folder = bench.session.folder
    qtbot.waitUntil(lambda: sensitivity.read(folder) is not None, timeout=WAIT)
    measured = sensitivity.read(folder)
    assert measured and {r.technique for r in measured} == {"prune", "cluster"}
    bench.open_model("demo", "demo")  # another session, then the first one again
    qtbot.waitUntil(lambda: len(passes()) == 2, timeout=WAIT)
    with qtbot.waitSignal(bench.sensitivity_ready, timeout=WAIT) as shown:
        bench.open_session(folder)
    assert shown.args[0] == measured
    qtbot.wait(200)
    assert len(passes()) == 2
    # The search asks for the pass too: the saved one, at the same settings only.
    handle = bench.orchestrator.sensitivity(reuse=True)
    assert handle.done() and handle.result() == measured and len(passes()) == 2
    bench.orchestrator.sensitivity(sparsity=0.8, reuse=True)
    qtbot.waitUntil(lambda: len(passes()) == 3, timeout=WAIT)
    qtbot.waitUntil(lambda: sensitivity.read(folder)[0].setting == 0.8, timeout=WAIT)
    (folder / sensitivity.FILE).write_text("[{broken")  # damaged: measured again
    bench.open_session(folder)
    qtbot.waitUntil(lambda: len(passes()) == 4, timeout=WAIT)
