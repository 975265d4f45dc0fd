"""Worker processes: results, ordered events, cancel within 2 s, surviving crashes."""

import json
import os
import signal
import time

import psutil
import pytest

from studio.jobs import kinds as job_kinds
from studio.jobs.messages import Artifacts, Cancelled, Failed, Finished, Job, Progress, Started
from studio.jobs.pool import ProcessPool
from studio.values.metrics import Metrics
from studio.values.recipe import Recipe
from studio.values.resources import RECIPES

pytestmark = pytest.mark.slow  # real worker processes, each importing TensorFlow


@pytest.fixture(scope="module")
def pool():
    pool = ProcessPool(size=2)
    yield pool
    pool.shutdown()


def wait_for(pool, job_id, kinds, timeout=300.0):
    """Events of one job, in order, until one of `kinds` arrives."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = pool.next_event(timeout=0.5)
        if event is not None and event.job_id == job_id:
            seen.append(event)
            if isinstance(event, kinds):
                return seen
    raise AssertionError(f"job {job_id} did not end; saw {seen}")


@pytest.fixture(scope="module")
def float_baseline(pool, tmp_path_factory):
    """The demo's float baseline, as a baseline job returns it: files come back as
    artifacts, the worker writes nothing outside its private folder."""
    job_id = pool.submit(job_kinds.baseline("demo", "demo", threads=1, trust=False))
    done = wait_for(pool, job_id, (Finished, Failed))[-1]
    assert isinstance(done, Finished), done
    assert set(done.artifacts) == {"baseline.tflite", "baseline.json"}
    folder = tmp_path_factory.mktemp("baseline")
    for name, data in done.artifacts.items():
        (folder / name).write_bytes(data)
    return folder / "baseline.tflite", Metrics.from_dict(done.result["metrics"])


def _one(recipe: Recipe, float_baseline, name: str = "c1"):
    tflite, metrics = float_baseline
    return job_kinds.sweep_group(
        "demo",
        "demo",
        [(name, recipe)],
        baseline_tflite=tflite,
        baseline=metrics,
        threads=1,
        trust=False,
    )


def test_result_and_events_in_order(pool, float_baseline, tmp_path):
    recipe = json.loads((RECIPES / "demo_prune_cluster_int8.json").read_text())
    recipe["pruning"]["epochs"] = 2
    job_id = pool.submit(_one(Recipe.from_dict(recipe), float_baseline))
    events = wait_for(pool, job_id, (Finished, Failed))
    assert isinstance(events[0], Started) and isinstance(events[-1], Finished), events[-1]
    stages = [e.stage for e in events if isinstance(e, Progress)]
    order = ["load", "prune", "cluster", "convert", "evaluate", "done"]  # no second baseline
    assert [s for s in dict.fromkeys(stages)] == order
    epochs = [e for e in events if isinstance(e, Progress) and e.metrics]
    assert [e.stage for e in epochs] == ["prune", "prune", "cluster", "cluster"]
    assert "accuracy" in epochs[0].metrics and "loss" in epochs[0].metrics
    [result] = events[-1].result
    assert result["metrics"]["gzip_bytes"] < float_baseline[1].gzip_bytes
    # The candidate's files came back early, as artifacts, before the job finished.
    [early] = [e for e in events if isinstance(e, Artifacts)]
    # The per-tensor fidelity of a quantized candidate comes with it.
    assert set(early.files) == {
        "c1/model.tflite",
        "c1/recipe.json",
        "c1/metrics.json",
        "c1/fidelity.json",
    }
    assert len(early.files["c1/model.tflite"]) == result["metrics"]["size_bytes"]
    assert events.index(early) < len(events) - 1 and not events[-1].artifacts


def test_job_error_is_a_failed_event_with_the_message(pool):
    job_id = pool.submit(job_kinds.summarize("/no/such.keras", trust=False))
    event = wait_for(pool, job_id, (Finished, Failed))[-1]
    assert isinstance(event, Failed) and not event.crashed
    assert "/no/such.keras does not exist" in event.message


def test_cancel_a_running_fine_tune_within_2_seconds(pool, float_baseline):
    recipe = {"pruning": {"target_sparsity": 0.5, "epochs": 500}}
    job_id = pool.submit(_one(Recipe.from_dict(recipe), float_baseline, "long"))
    for event in iter(lambda: pool.next_event(timeout=60), None):
        if isinstance(event, Progress) and event.job_id == job_id and event.stage == "prune":
            break
    started = time.monotonic()
    pool.cancel(job_id)
    events = wait_for(pool, job_id, (Cancelled, Finished, Failed), timeout=10)
    assert isinstance(events[-1], Cancelled)
    assert time.monotonic() - started < 2.0
    assert not any(isinstance(e, Artifacts) for e in events)


def test_cancel_a_queued_job(pool):
    blockers = [pool.submit(Job("time:sleep", args=(30,))) for _ in range(pool.size)]
    queued = pool.submit(Job("time:sleep", args=(30,)))
    pool.cancel(queued)
    assert isinstance(wait_for(pool, queued, (Cancelled,), timeout=5)[-1], Cancelled)
    for job_id in blockers:
        pool.cancel(job_id)
        wait_for(pool, job_id, (Cancelled,), timeout=10)


@pytest.mark.parametrize(("how", "words"), [("kill", "SIGKILL"), ("abort", "SIGABRT")])
def test_dead_worker_fails_its_job_and_is_replaced(pool, how, words):
    if how == "abort":
        job_id = pool.submit(Job("os:abort"))
    else:
        job_id = pool.submit(Job("time:sleep", args=(60,)))
        started = wait_for(pool, job_id, (Started,))[-1]
        os.kill(started.worker_pid, signal.SIGKILL)
    event = wait_for(pool, job_id, (Finished, Failed, Cancelled), timeout=30)[-1]
    assert isinstance(event, Failed) and event.crashed and words in event.message
    # The pool still works, with a fresh worker in place of the dead one.
    ok = pool.submit(Job("math:sqrt", args=(16.0,)))
    assert wait_for(pool, ok, (Finished, Failed), timeout=120)[-1] == Finished(ok, 4.0)
    deadline = time.monotonic() + 60
    while len(pool.worker_pids) < pool.size and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(pool.worker_pids) == pool.size


def test_shutdown_leaves_no_child_process():
    small = ProcessPool(size=2)
    pids = small.worker_pids
    running = small.submit(Job("time:sleep", args=(60,)))
    wait_for(small, running, (Started,))
    small.shutdown()
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert not psutil.Process().children(recursive=True) or all(
        c.pid not in pids for c in psutil.Process().children(recursive=True)
    )


def test_idle_workers_are_released_and_come_back_when_needed():
    pool = ProcessPool(size=1, idle_timeout_s=1.0)
    try:
        first = pool.submit(Job("os:getpid"))
        [*_, done] = wait_for(pool, first, (Finished, Failed))
        assert isinstance(done, Finished)
        deadline = time.monotonic() + 60
        while pool.worker_pids and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pool.worker_pids == [], "an idle worker kept its memory"
        again = pool.submit(Job("os:getpid"))  # a new worker starts for it
        [*_, done_again] = wait_for(pool, again, (Finished, Failed))
        assert isinstance(done_again, Finished) and done_again.result != done.result
    finally:
        pool.shutdown()


def test_what_a_worker_prints_goes_to_the_worker_log_not_the_terminal(monkeypatch, tmp_path, capfd):
    """Issue 18: TensorFlow's CUDA probe and deprecation notes read as the studio's errors."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    from studio.jobs.pool import worker_log

    small = ProcessPool(size=1)
    try:
        job = small.submit(Job("os:write", args=(2, b"a TensorFlow warning\n")))
        assert wait_for(small, job, (Finished, Failed))[-1] == Finished(job, 21)
        job = small.submit(Job("os:abort"))
        event = wait_for(small, job, (Finished, Failed), timeout=60)[-1]
    finally:
        small.shutdown()
    assert "a TensorFlow warning" in worker_log().read_text(errors="replace")
    assert str(tmp_path) in str(worker_log()) and str(worker_log()) in event.message
    assert "a TensorFlow warning" not in capfd.readouterr().err


def test_workers_run_below_the_window_priority(pool):
    """A sweep that keeps every core busy must leave the window a core (issue 19)."""
    from studio.values.processes import NICENESS

    job_id = pool.submit(Job("os:getpid"))
    pid = wait_for(pool, job_id, (Finished, Failed))[-1].result
    assert psutil.Process(pid).nice() >= min(19, os.nice(0) + NICENESS)


def test_workers_share_the_cores_out(pool):
    """Two busy workers on two cores each get one thread, not two each (issue 19):
    TensorFlow's pools are sized from the environment it starts with, and LiteRT
    evaluation asks `thread_budget`."""
    from studio.values.processes import cores

    share = max(1, cores() // 2)
    job_id = pool.submit(Job("studio.values.processes:thread_budget"))
    assert wait_for(pool, job_id, (Finished, Failed))[-1].result == share
    job_id = pool.submit(Job("os:getpid"))
    environ = psutil.Process(wait_for(pool, job_id, (Finished,))[-1].result).environ()
    assert environ["TF_NUM_INTRAOP_THREADS"] == environ["TF_NUM_INTEROP_THREADS"] == str(share)


def test_a_pool_without_budget_or_niceness_runs_workers_as_before():
    """What the responsiveness benchmark compares against: `threads=0, niceness=0`."""
    plain = ProcessPool(size=1, threads=0, niceness=0)
    try:
        job_id = plain.submit(Job("os:getpid"))
        process = psutil.Process(wait_for(plain, job_id, (Finished,))[-1].result)
        assert process.nice() == os.nice(0)
        assert "TF_NUM_INTRAOP_THREADS" not in process.environ()
    finally:
        plain.shutdown()
