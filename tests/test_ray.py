"""Candidates on a Ray cluster (studio/jobs/ray_*.py, docs/cluster.md).

Fast tests: the settings and checks (plain data), routing candidates to a second
backend, a group split into a prefix job and candidate jobs, and Ray missing.  Slow
tests start a real Ray head on 127.0.0.1 with 2 CPUs and run the demo through it:
the same figures as the local pool, a killed worker retried, a candidate that always
crashes marked failed, a stopped head failing the running candidates and keeping the
finished ones.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fakes import StandIns
from studio.jobs import kinds
from studio.jobs.inprocess import InProcessBackend
from studio.jobs.messages import Progress, Started
from studio.orchestrator.orchestrator import Orchestrator
from studio.values import cluster
from studio.values.cluster import Cluster, mismatch, sweep_seconds, task_memory
from studio.values.errors import StudioError
from studio.values.grid import Grid
from studio.values.recipe import Pruning, Quantization, Recipe

REPO = Path(__file__).resolve().parents[1]

# -- plain data ---------------------------------------------------------------------


def test_cluster_settings_name_the_field_and_round_trip():
    c = Cluster(address=" 10.0.0.5:6379 ", retries=3, cpus=2)
    assert c.address == "10.0.0.5:6379"
    assert Cluster.from_dict(c.to_dict()) == c
    assert Cluster(address="ray://head:10001").address == "ray://head:10001"
    with pytest.raises(StudioError, match="Ray address 'head'.*HOST:PORT"):
        Cluster(address="head")
    with pytest.raises(StudioError, match="retries 11"):
        Cluster(retries=11)
    with pytest.raises(StudioError, match="CPUs per task 0"):
        Cluster(cpus=0)


def test_a_version_mismatch_names_each_package_and_both_versions():
    here = {"tflite-studio": "0.1.0", "tensorflow": "2.21.0", "ai-edge-litert": "2.3.0"}
    assert mismatch(here, dict(here)) is None
    there = {**here, "tensorflow": "2.20.0", "ai-edge-litert": None}
    message = mismatch(here, there)
    assert "tensorflow 2.20.0 on the cluster, 2.21.0 here" in message
    assert "ai-edge-litert not installed on the cluster, 2.3.0 here" in message
    assert "tflite-studio" not in message and "docs/cluster.md" in message


def test_task_memory_grows_with_the_model_and_data_and_sweep_time_spreads_over_cpus():
    assert task_memory(0, 0) >= 2**30
    assert task_memory(10_000_000, 0) > task_memory(1_000_000, 0)
    assert task_memory(0, 50_000_000) > task_memory(0, 0)
    # 12 candidates of 10 s in 4 groups with 20 s fine-tunes: 200 s of work.
    assert sweep_seconds(12, 4, 2, 10.0, 20.0) == 100.0  # one 2-CPU node
    assert sweep_seconds(12, 4, 8, 10.0, 20.0, overhead_s=5) == 35.0  # four of them
    # With more CPUs than tasks, a candidate still waits for its group's fine-tune.
    assert sweep_seconds(12, 4, 64, 10.0, 20.0) == 30.0
    assert sweep_seconds(3, 0, 64, 10.0) == 10.0


def test_ray_missing_is_one_line_naming_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    message = cluster.missing("ray")
    assert "Ray" in message and 'pip install "tflite-studio[ray]"' in message
    assert cluster.missing("local") is None
    from studio.jobs.ray_backend import RayBackend

    with pytest.raises(StudioError, match=r"tflite-studio\[ray\]"):
        RayBackend(Cluster())


def test_the_cli_without_ray_says_so_before_any_work(tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from studio.cli import main\n"
        "sys.exit(main(['sweep', '--model', 'demo', '--data', 'demo', '--grid', "
        f"'demo_sweep_grid', '--out', {str(tmp_path / 'out')!r}, '--backend', 'ray']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert lines == [
        "error: running on a Ray cluster needs Ray (ray), an optional extra: "
        'pip install "tflite-studio[ray]"'
    ]
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


def test_an_address_without_the_ray_backend_is_refused(tmp_path, capsys):
    from studio.cli import main

    out = tmp_path / "out"
    argv = ["sweep", "--model", "demo", "--data", "demo", "--grid", "demo_sweep_grid"]
    assert main([*argv, "--out", str(out), "--address", "10.0.0.5:6379"]) == 2
    assert "--address is the Ray cluster's: add --backend ray" in capsys.readouterr().err
    assert not out.exists()


def test_a_group_splits_into_its_shared_prefix_and_one_job_per_candidate():
    pruned = Recipe(pruning=Pruning(target_sparsity=0.5))
    entries = [
        ("a", pruned),
        ("b", Recipe(pruning=pruned.pruning, quantization=Quantization(mode="int8"))),
    ]
    job = kinds.sweep_group(
        "demo", "demo", entries, baseline_tflite=Path("/b.tflite"), baseline=None,
        threads=2, trust=False,
    )
    split = kinds.split_group(job)
    assert split.prefix.target == kinds.SWEEP_PREFIX
    assert split.prefix.kwargs["recipe"] == pruned.to_dict()
    names = [name for name, _ in split.candidates]
    assert names == ["a", "b"]
    for (name, recipe), (_, finish) in zip(entries, split.candidates, strict=True):
        assert finish.target == kinds.SWEEP_FINISH
        assert finish.kwargs["prefix"] == kinds.PREFIX
        assert finish.kwargs["recipe"] == recipe.to_dict() and finish.kwargs["name"] == name
        assert finish.kwargs["threads"] == 2
        assert finish.kwargs["baseline_tflite"] == job.kwargs["baseline_tflite"]
    ptq = kinds.sweep_group(
        "demo", "demo", [("c", Recipe())], baseline_tflite=Path("/b.tflite"), baseline=None,
        threads=1, trust=False,
    )
    split = kinds.split_group(ptq)
    assert split.prefix is None and split.candidates[0][1].kwargs["prefix"] is None


@pytest.mark.slow
@pytest.mark.parametrize("model", ["demo", "two_inputs"])
def test_a_group_split_into_tasks_gives_the_figures_of_the_group_in_one_process(
    tmp_path, model
):
    """What a cluster runs (the shared fine-tune's weights, then each candidate from
    them, each after its own model load) makes the same files as one worker running the
    group, on the demo and on a zoo model with two inputs (Keras 3)."""
    from studio.engine import pipeline, sweep_run

    if model == "demo":
        model_path, data_path = "demo", "demo"
    else:
        import zoo

        model_path, data_path = (str(p) for p in zoo.saved("two_inputs", "keras3", tmp_path))
    pipeline.baseline(model_path, data_path, tmp_path)
    pruned = Pruning(target_sparsity=0.5, epochs=1)
    entries = [
        ("a", Recipe(pruning=pruned).to_dict()),
        ("b", Recipe(pruning=pruned, quantization=Quantization(mode="int8")).to_dict()),
    ]
    whole = sweep_run.run_group(
        model_path, data_path, tmp_path / "whole", entries,
        baseline_tflite=tmp_path / "baseline.tflite",
    )
    prefix = sweep_run.shared_prefix(model_path, data_path, entries[0][1])
    assert prefix["pruned"] and all(prefix["weights"].values())
    split = [
        sweep_run.finish_one(
            model_path, data_path, tmp_path / "split", name, raw, prefix,
            baseline_tflite=tmp_path / "baseline.tflite",
        )
        for name, raw in entries
    ]
    for one, other in zip(whole, split, strict=True):
        assert one["error"] is None and other["error"] is None
        a, b = one["metrics"], other["metrics"]
        assert (a["size_bytes"], a["gzip_bytes"], a["accuracy"]) == (
            b["size_bytes"], b["gzip_bytes"], b["accuracy"]
        )
        name = one["name"]
        same = (tmp_path / "whole" / name / "model.tflite").read_bytes()
        assert same == (tmp_path / "split" / name / "model.tflite").read_bytes()


# -- routing: candidates to the cluster, the rest here ------------------------------


@pytest.fixture
def two_backends(tmp_path):
    """An orchestrator whose "cluster" is a second in-process backend sharing the local
    one's event queue, as `connect_cluster` makes the Ray backend."""
    local_ins, remote_ins = StandIns(), StandIns()
    local = InProcessBackend(local_ins.handlers(), ship_inputs=True)
    remote = InProcessBackend(
        remote_ins.handlers(), ship_inputs=True, events=local.event_queue, first_id=1_000_001
    )
    remote.info = None
    orchestrator = Orchestrator(local, sessions_root=tmp_path / "sessions")
    orchestrator.use_cluster(remote)
    yield orchestrator, local, remote, remote_ins
    remote_ins.gate.release(100)
    orchestrator.shutdown()


def test_candidates_go_to_the_cluster_and_session_jobs_stay_here(two_backends, tmp_path):
    orchestrator, local, remote, _ = two_backends
    assert orchestrator.workers == remote.size
    baseline = orchestrator.open_model("demo", "demo")
    sweep = orchestrator.run_sweep(Grid.from_dict({"quantization.mode": ["dynamic", "int8"]}))
    orchestrator.wait(baseline, sweep, poll_s=0.05)
    session = orchestrator.session
    assert [session.candidates[c].status for c in sweep.candidate_ids] == ["done", "done"]
    assert {job.target for _, job in remote.submitted} == {kinds.SWEEP_GROUP}
    local_targets = [job.target for _, job in local.submitted]
    assert kinds.BASELINE in local_targets and kinds.TIME_TOGETHER in local_targets
    assert kinds.SWEEP_GROUP not in local_targets
    # Back on this machine: the next candidate runs here.
    orchestrator.use_cluster(None)
    run = orchestrator.run(Recipe(quantization=Quantization(mode="float16")))
    orchestrator.wait(run, poll_s=0.05)
    assert [job.target for _, job in local.submitted].count(kinds.SWEEP_GROUP) == 1


def test_cancelling_a_candidate_on_the_cluster_cancels_it_there(two_backends):
    orchestrator, _local, _remote, remote_ins = two_backends
    remote_ins.gate = threading.Semaphore(0)  # the group waits after its first candidate
    baseline = orchestrator.open_model("demo", "demo")
    orchestrator.wait(baseline, poll_s=0.05)
    run = orchestrator.run_all(
        [Recipe(quantization=Quantization(mode=m)) for m in ("dynamic", "int8")]
    )
    first, second = run.candidate_ids
    deadline = time.monotonic() + 10
    while orchestrator.session.candidates[first].status != "done":
        assert time.monotonic() < deadline
        event = orchestrator.backend.next_event(0.05)
        if event is not None:
            orchestrator.handle(event)
    orchestrator.cancel(second)  # reaches the cluster's backend (this one never had it)
    remote_ins.gate.release(100)
    orchestrator.wait(run, poll_s=0.05)
    assert orchestrator.session.candidates[first].status == "done"
    assert orchestrator.session.candidates[second].status == "cancelled"


def test_progress_naming_a_candidate_reaches_that_candidate_only(two_backends):
    orchestrator, _local, _remote, _ = two_backends
    baseline = orchestrator.open_model("demo", "demo")
    orchestrator.wait(baseline, poll_s=0.05)
    seen = []
    orchestrator.candidate_progress.connect(lambda cid, event: seen.append((cid, event.stage)))
    handle = orchestrator.run_all(
        [Recipe(quantization=Quantization(mode=m)) for m in ("dynamic", "int8")]
    )
    track = orchestrator._tracks[next(iter(handle.jobs))]
    job_id = next(iter(handle.jobs))
    second = track.group.entries[1][0]
    orchestrator.handle(Progress(job_id, "convert", "converting", 0.5, {}, part=second))
    assert seen == [(handle.candidate_ids[1], "convert")]
    orchestrator.wait(handle, poll_s=0.05)


# -- a real Ray head on 127.0.0.1 ---------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """A Ray head on this machine's loopback only, 2 CPUs, stopped after the module.
    (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps Ray on 127.0.0.1 for the head and the
    studio's driver alike: see docs/cluster.md.)"""
    pytest.importorskip("ray")
    ray_cli = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    temp = tmp_path_factory.mktemp("ray")
    # Packages the cluster's workers see first (a test puts another "TensorFlow" here).
    packages = tmp_path_factory.mktemp("node-packages")
    path = os.pathsep.join(p for p in (str(packages), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "PYTHONPATH": path}
    port = _free_port()
    start = [
        ray_cli, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
        "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats",
        "--ray-client-server-port", str(_free_port()), "--temp-dir", str(temp),
    ]
    subprocess.run(start, check=True, env=env, capture_output=True, timeout=120)
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    yield {
        "address": f"127.0.0.1:{port}",
        "stop": [ray_cli, "stop", "--force"],
        "env": env,
        "packages": packages,
    }
    subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True, timeout=120)
    os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)


GRID4 = {
    "base": {"pruning": {"epochs": 1}},
    "pruning.target_sparsity": [0.5, 0.8],
    "quantization.mode": ["dynamic", "int8"],
}


def _sweep(tmp_path, name, *extra):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(GRID4))
    out = tmp_path / name
    done = subprocess.run(
        [sys.executable, "-m", "studio", "sweep", "--model", "demo", "--data", "demo",
         "--grid", str(grid), "--out", str(out), "--quiet", *extra],
        capture_output=True, text=True, timeout=900, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out, {r["name"]: r for r in json.loads((out / "results.json").read_text())}


@pytest.mark.slow
def test_a_cluster_with_another_tensorflow_is_refused_naming_it(head, tmp_path):
    """A node whose TensorFlow differs from this machine's would convert differently:
    connecting says which package differs, with both versions, and nothing runs."""
    from importlib import metadata

    from studio.jobs.ray_backend import RayBackend

    fake = head["packages"] / "tensorflow-2.0.0.dist-info"
    fake.mkdir()
    (fake / "METADATA").write_text("Metadata-Version: 2.1\nName: tensorflow\nVersion: 2.0.0\n")
    try:
        with pytest.raises(StudioError) as refused:
            RayBackend(Cluster(address=head["address"]))
    finally:
        shutil.rmtree(fake)
    here = metadata.version("tensorflow")
    assert f"tensorflow 2.0.0 on the cluster, {here} here" in str(refused.value)
    assert "tf-keras" not in str(refused.value)
    # The same cluster with the node's packages matching again: connected.
    backend = RayBackend(Cluster(address=head["address"]))
    try:
        assert backend.info.cpus == 2 and backend.info.versions["tensorflow"] == here
    finally:
        backend.shutdown()


@pytest.mark.slow
def test_a_sweep_on_ray_gives_the_local_figures_and_every_file_lands_here(head, tmp_path):
    local_out, local = _sweep(tmp_path, "local", "--jobs", "2")
    ray_out, remote = _sweep(tmp_path, "ray", "--backend", "ray", "--address", head["address"])
    assert sorted(remote) == sorted(local) and len(remote) == 4
    for name, row in remote.items():
        m, ref = row["metrics"], local[name]["metrics"]
        assert row["error"] is None
        assert (m["size_bytes"], m["gzip_bytes"]) == (ref["size_bytes"], ref["gzip_bytes"])
        assert m["accuracy"] == ref["accuracy"] and m["agreement"] == ref["agreement"]
        # Timed together here at the end of each sweep: the same machine's noise.
        assert m["latency_ms"]["median"] == pytest.approx(ref["latency_ms"]["median"], rel=1.0)
        folder = ray_out / name  # every file in the caller's folder, none left elsewhere
        assert {p.name for p in folder.iterdir()} == {p.name for p in (local_out / name).iterdir()}
        blob = (folder / "model.tflite").read_bytes()
        assert len(blob) == m["size_bytes"]
        assert json.loads((folder / "metrics.json").read_text())["size_bytes"] == len(blob)


def _orchestrator_on(head, tmp_path, **settings):
    from studio.orchestrator.backends import make_backend

    orchestrator = Orchestrator(make_backend(1, idle_timeout_s=None), tmp_path / "sessions")
    orchestrator.use_cluster(
        orchestrator.connect_cluster(Cluster(address=head["address"], **settings))
    )
    return orchestrator


def _drive(orchestrator, handle, on_event=lambda event: None, timeout=600):
    deadline = time.monotonic() + timeout
    while not handle.done():
        assert time.monotonic() < deadline, "the sweep did not end"
        event = orchestrator.backend.next_event(0.2)
        if event is not None:
            on_event(event)
            orchestrator.handle(event)


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_an_always_crashing_candidate_fails_alone(
    head, tmp_path, monkeypatch
):
    monkeypatch.setenv("STUDIO_CRASH_CANDIDATE", "c004")
    orchestrator = _orchestrator_on(head, tmp_path, retries=1)
    try:
        assert orchestrator.remote.info.cpus == 2 and orchestrator.workers == 2
        baseline = orchestrator.open_model("demo", "demo")
        _drive(orchestrator, baseline)
        pruned = Pruning(target_sparsity=0.5, epochs=2)
        recipes = [
            Recipe(pruning=pruned),
            Recipe(pruning=pruned, quantization=Quantization(mode="int8")),
            Recipe(quantization=Quantization(mode="dynamic")),
            Recipe(quantization=Quantization(mode="float16")),  # c004: always crashes
        ]
        handle = orchestrator.run_all(recipes)
        killed = []

        def kill_the_fine_tune(event):
            """The pruning group's first task is its shared fine-tune (its candidates'
            tasks wait for it): kill that worker once."""
            track = orchestrator._tracks.get(event.job_id)
            if isinstance(event, Started) and not killed and track.group.entries[0][1].pruning:
                os.kill(event.worker_pid, signal.SIGKILL)
                killed.append(event.worker_pid)

        _drive(orchestrator, handle, kill_the_fine_tune)
        assert killed
        session = orchestrator.session
        status = {session.candidates[c].name: session.candidates[c] for c in handle.candidate_ids}
        assert [status[n].status for n in ("c001", "c002", "c003")] == ["done"] * 3
        assert status["c004"].status == "failed"
        assert "worker died 2 time(s)" in status["c004"].message
        for name in ("c001", "c002", "c003"):
            assert (session.folder / name / "model.tflite").is_file()
        assert not (session.folder / "c004" / "model.tflite").exists()
    finally:
        orchestrator.shutdown()


@pytest.mark.slow
def test_a_stopped_head_fails_the_running_candidates_and_keeps_the_finished(head, tmp_path):
    orchestrator = _orchestrator_on(head, tmp_path)
    try:
        baseline = orchestrator.open_model("demo", "demo")
        _drive(orchestrator, baseline)
        first = orchestrator.run(Recipe(quantization=Quantization(mode="dynamic")))
        _drive(orchestrator, first)
        slow = orchestrator.run(Recipe(pruning=Pruning(target_sparsity=0.5, epochs=30)))
        stopped = []

        def stop_once_running(event):
            if isinstance(event, Started) and not stopped:
                subprocess.run(head["stop"], env=head["env"], capture_output=True, timeout=120)
                stopped.append(True)

        _drive(orchestrator, slow, stop_once_running, timeout=300)
        session = orchestrator.session
        done = session.candidates[first.candidate_ids[0]]
        lost = session.candidates[slow.candidate_ids[0]]
        assert done.status == "done" and (session.candidate_dir(done.id) / "model.tflite").is_file()
        assert lost.status == "failed"
        assert f"lost the connection to the Ray cluster at {head['address']}" in lost.message
        assert "finished are kept" in lost.message
        # Later candidates fail at once with the same message, the window stays usable.
        again = orchestrator.run(Recipe(quantization=Quantization(mode="int8")))
        _drive(orchestrator, again, timeout=30)
        assert "lost the connection" in session.candidates[again.candidate_ids[0]].message
    finally:
        orchestrator.shutdown()
