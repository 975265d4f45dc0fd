"""Fault injection: the real window, killed with SIGKILL mid-sweep, then started again.

Every candidate measured before the kill must come back with its figures, and the killed
session must reopen by itself (not a fresh demo).  The window runs in a subprocess with
real worker processes, as a user's would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

GRID = {"quantization.mode": ["dynamic", "float16", "int8", "int16x8"]}  # one group of 4

WINDOW = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication
    from studio.values.grid import Grid
    from studio.ui.app import build

    settings_file, root, phase = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    app = QApplication([])
    settings = QSettings(settings_file, QSettings.Format.IniFormat)
    window = build(settings, workers=1, sessions_root=root)
    window.ask_quit = lambda: True
    window.show()
    window.start()  # nothing given: the last session, else the demo
    session = window.workbench.session
    if phase == "report":
        print("REPORT " + json.dumps({
            "folder": str(session.folder),
            "notes": list(session.notes),
            "candidates": {
                c.name: [c.status, c.metrics and c.metrics.to_dict()]
                for c in session.candidates.values()
            },
        }), flush=True)
        window.close()
        sys.exit(0)
    grid = Grid.from_dict(json.loads(sys.argv[4]))
    started = []
    def sweep():
        if session.baseline is not None and not started:
            started.append(window.run_sweep(grid))
            print("SWEEP", flush=True)
    window.workbench.baseline_changed.connect(sweep)
    QTimer.singleShot(0, sweep)
    app.exec()
    """
)


def _spawn(tmp_path: Path, phase: str) -> subprocess.Popen:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            WINDOW,
            str(tmp_path / "settings.ini"),
            str(tmp_path / "sessions"),
            phase,
            json.dumps(GRID),
        ],
        env=env,
        # only the report is read; an unread pipe would fill up and stall the window
        stdout=subprocess.PIPE if phase == "report" else subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _measured_on_disk(root: Path) -> dict[str, dict]:
    """Candidates whose figures a worker has written, as the files say."""
    found = {}
    for metrics in root.glob("*/c*/metrics.json"):
        try:
            found[metrics.parent.name] = json.loads(metrics.read_text())
        except ValueError:
            continue  # being written (atomic rename makes this rare)
    return found


def _queued(root: Path) -> bool:
    """Whether all the sweep's candidates are in the session (and so the baseline is
    done).  The window records them one save at a time: on a loaded machine a kill at
    the first one would find the others never added."""
    for path in root.glob("*/session.json"):
        try:
            candidates = json.loads(path.read_text())["candidates"]
            return len(candidates) == len(GRID["quantization.mode"])
        except (ValueError, KeyError):
            return False
    return False


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [0, 1, 3])
def test_killed_mid_sweep_the_window_comes_back_with_every_measured_candidate(tmp_path, kill_after):
    root = tmp_path / "sessions"
    window = _spawn(tmp_path, "sweep")
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            measured = _measured_on_disk(root)
            if kill_after == 0 and _queued(root) or kill_after and len(measured) >= kill_after:
                break
            assert window.poll() is None, "the window exited on its own"
            time.sleep(0.05)
        else:
            pytest.fail(f"the sweep did not get to {kill_after} measured candidates")
        window.send_signal(signal.SIGKILL)
        window.wait(30)
    finally:
        if window.poll() is None:
            window.kill()
    time.sleep(1.0)  # the workers die with the window (PR_SET_PDEATHSIG)
    before = _measured_on_disk(root)
    [killed] = [p.parent for p in root.glob("*/session.json")]

    again = _spawn(tmp_path, "report")
    out, _ = again.communicate(timeout=300)
    line = next(x for x in out.splitlines() if x.startswith("REPORT "))
    report = json.loads(line[len("REPORT ") :])

    assert report["folder"] == str(killed), "the killed session did not reopen by itself"
    candidates = report["candidates"]
    assert len(candidates) == len(GRID["quantization.mode"])
    for name, written in before.items():
        status, metrics = candidates[name]
        assert status == "done", (name, status)
        assert metrics["gzip_bytes"] == written["gzip_bytes"]
        assert metrics["accuracy"] == written["accuracy"]
    for name, (status, _) in candidates.items():
        if name not in before:
            assert status == "interrupted", (name, status)
    assert len(before) >= kill_after
