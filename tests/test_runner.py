"""The Qt pump: job events reach the orchestrator on the GUI thread, and the GUI process
never imports TensorFlow to run jobs."""

import subprocess
import sys
import textwrap
import threading

import pytest

from studio.jobs import kinds
from studio.jobs.messages import Cancelled, Failed, Finished, Job, Started

pytestmark = pytest.mark.slow  # real worker processes, each importing TensorFlow


def test_events_arrive_on_the_gui_thread_in_order(qtbot):
    from studio.jobs.pool import ProcessPool
    from studio.ui.runner import JobPump

    pool = ProcessPool(size=1)
    got, threads = [], set()

    def deliver(event):
        got.append(event)
        threads.add(threading.get_ident())

    pump = JobPump(pool, deliver)
    try:
        job_id = pool.submit(Job("math:hypot", args=(3.0, 4.0)))
        qtbot.waitUntil(lambda: Finished(job_id, 5.0) in got, timeout=120_000)
        failing = pool.submit(kinds.summarize("/nope.h5", trust=False))
        qtbot.waitUntil(lambda: any(isinstance(e, Failed) for e in got), timeout=120_000)
        failed = next(e for e in got if isinstance(e, Failed))
        assert failed.job_id == failing and "/nope.h5 does not exist" in failed.message
        long = pool.submit(Job("time:sleep", args=(60,)))
        qtbot.waitUntil(lambda: Started(long, pool.worker_pids[0]) in got, timeout=60_000)
        pool.cancel(long)
        qtbot.waitUntil(lambda: Cancelled(long) in got, timeout=10_000)
    finally:
        pool.shutdown()
        pump.stop()
    assert threads == {threading.get_ident()}  # all on this (the GUI) thread


def test_gui_process_does_not_import_tensorflow_to_run_jobs(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from PySide6.QtCore import QCoreApplication, QTimer
        from studio.orchestrator.backends import make_backend
        from studio.ui.workbench import Workbench
        app = QCoreApplication([])
        workbench = Workbench(make_backend(1), sessions_root={str(tmp_path)!r})
        workbench.baseline_changed.connect(
            lambda: workbench.session.baseline is not None and app.quit()
        )
        workbench.open_model("demo", "demo")
        QTimer.singleShot(120_000, app.quit)
        app.exec()
        workbench.shutdown()
        session = workbench.session
        assert session.summary.layers[0].name == "conv1", session.summary  # typed on arrival
        assert (session.baseline_dir / "baseline.tflite").is_file()
        assert "tensorflow" not in sys.modules and "tf_keras" not in sys.modules
        print("ok")
    """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
    )
    assert done.stdout.strip().endswith("ok"), done.stderr[-2000:]
