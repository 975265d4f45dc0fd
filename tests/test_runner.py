"""The Qt runner: job events arrive as signals on the GUI thread, and the GUI process
never imports TensorFlow to run jobs."""

import subprocess
import sys
import textwrap

import pytest

from studio.jobs import kinds
from studio.jobs.messages import Job

pytestmark = pytest.mark.slow  # real worker processes, each importing TensorFlow


def test_signals_arrive_for_a_job(qtbot):
    from studio.ui.runner import JobRunner

    runner = JobRunner()
    try:
        with qtbot.waitSignal(runner.finished, timeout=120_000) as done:
            job_id = runner.submit(Job("math:hypot", args=(3.0, 4.0)))
        assert done.args == [job_id, 5.0]
        with qtbot.waitSignal(runner.failed, timeout=120_000) as failed:
            runner.submit(kinds.summarize("/nope.h5", trust=False))
        assert "/nope.h5 does not exist" in failed.args[1]
        with qtbot.waitSignal(runner.cancelled, timeout=10_000):
            long = runner.submit(Job("time:sleep", args=(60,)))
            qtbot.waitUntil(lambda: long in _running(runner), timeout=60_000)
            runner.cancel(long)
    finally:
        runner.shutdown()


def _running(runner):
    return {w.job_id for w in runner.backend._workers}


def test_gui_process_does_not_import_tensorflow_to_run_jobs():
    script = textwrap.dedent("""
        import sys
        from PySide6.QtCore import QCoreApplication, QTimer
        from studio.jobs import kinds
        from studio.ui.runner import JobRunner
        app = QCoreApplication([])
        runner = JobRunner()
        got = []
        runner.finished.connect(lambda i, r: (got.append(r), app.quit()))
        runner.submit(kinds.summarize("demo", trust=False))
        QTimer.singleShot(120_000, app.quit)
        app.exec()
        runner.shutdown()
        assert got and got[0].layers[0].name == "conv1", got  # typed on arrival
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
