"""`tflite-studio --self-test`: prove that this installation works, end to end, in a minute.

A wheel or a bundle can look installed and still miss a piece that only shows when work
runs (a data file left out of the package, a plug-in PyInstaller did not collect, a worker
process that cannot start).  So the self-test does what a user does first: it opens the
real window offscreen on the bundled demo, switches on int8 quantization in the panel,
presses Run, and waits for the worker to convert and measure the candidate.  It passes
when the candidate's `.tflite` exists, is smaller than the float baseline and scores close
to it; it never touches the user's settings or sessions (both live in a temporary folder).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

from studio.values import units
from studio.values.metrics import Metrics

TIMEOUT_S = 600  # a cold start imports TensorFlow in the worker first
MAX_ACCURACY_DROP = 0.05  # int8 on the demo loses well under a point; 5 is a broken build


def run(app: QApplication, build: Callable[..., QMainWindow]) -> int:
    """Run the self-test in `app`; print what happened; return the process exit code."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tflite-studio-self-test-") as tmp:
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = build(settings, workers=1, sessions_root=Path(tmp) / "sessions")
        window.ask_quit = lambda: True  # scripted: no question at the end
        window.show()
        outcome: dict[str, str | int] = {}
        queued: list[bool] = []  # Run is pressed once, on the first baseline

        def finish(code: int, message: str) -> None:
            if "code" not in outcome:
                outcome.update(code=code, message=message)
                app.quit()

        def on_baseline() -> None:
            if window.workbench.session.baseline is None or outcome or queued:
                return
            queued.append(True)
            editor = window.editor
            editor.pruning.setChecked(False)
            editor.clustering.setChecked(False)
            editor.quantization.setChecked(True)
            editor.quantization.mode.setCurrentIndex(editor.quantization.mode.findData("int8"))
            if not editor.run_button.isEnabled():
                finish(1, f"the Run button is disabled: {editor.problem.text()}")
                return
            editor.run_button.click()

        def on_candidate(candidate_id: int) -> None:
            session = window.workbench.session
            candidate = session.candidates[candidate_id]
            if candidate.status in ("queued", "running"):
                return
            if candidate.status != "done":
                finish(1, f"the int8 candidate {candidate.status}: {candidate.message}")
                return
            finish(*_judge(session.tflite(candidate_id), candidate.metrics, session.baseline))

        window.workbench.baseline_changed.connect(on_baseline)
        window.workbench.candidate_changed.connect(on_candidate)
        window.workbench.setup_failed.connect(
            lambda kind, message: finish(1, f"the demo did not open ({kind}): {message}")
        )
        QTimer.singleShot(TIMEOUT_S * 1000, lambda: finish(1, f"no result in {TIMEOUT_S} s"))
        window.start()
        app.exec()
        window.close()
    seconds = time.monotonic() - started
    verdict = "passed" if outcome.get("code") == 0 else "FAILED"
    stream = sys.stdout if outcome.get("code") == 0 else sys.stderr
    print(f"self-test {verdict} in {seconds:.0f} s: {outcome.get('message')}", file=stream)
    from studio.ui.dialogs import optional_extras

    for line in optional_extras():  # what this installation (wheel or bundle) includes
        print(f"optional: {line}", file=stream)
    return int(outcome.get("code", 1))


def _judge(tflite: Path, metrics: Metrics, baseline: Metrics) -> tuple[int, str]:
    if not tflite.is_file():
        return 1, f"the candidate's file {tflite} was not written"
    accuracy, float_accuracy = metrics.accuracy, baseline.accuracy
    size, float_size = metrics.size_bytes, baseline.size_bytes
    summary = (
        f"demo int8: top-1 {units.score(metrics)} (float {units.score(baseline)}), "
        f"{units.size(size)} (float {units.size(float_size)}), {units.latency(metrics)}"
    )
    if tflite.stat().st_size != size or size >= float_size:
        return 1, f"{summary}: the int8 file is not smaller than the float model"
    if accuracy < float_accuracy - MAX_ACCURACY_DROP:
        return 1, f"{summary}: accuracy dropped too far"
    return 0, summary


def prepare_environment() -> None:
    """Offscreen before QApplication exists: the self-test needs no display."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
