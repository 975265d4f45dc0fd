"""Startup: process start -> main window shown, against `python -c "import tensorflow"`.

Each figure is the median of several fresh processes, both measured in this run.  The
window's time counts from before the interpreter starts (wall clock taken by this
script) to the first event-loop turn after `show()`, so it includes Python, Qt,
pyqtgraph and the window itself, and no TensorFlow (the workers load it).

    python benchmarks/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

WINDOW = """
import sys, tempfile
from pathlib import Path
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
from studio.ui.app import build
app = QApplication(sys.argv[:1])
scratch = Path(tempfile.mkdtemp())
window = build(QSettings(str(scratch / "s.ini"), QSettings.Format.IniFormat),
               workers=1, sessions_root=scratch)
window.ask_quit = lambda: True
window.show()
window.start()
def shown():
    print("SHOWN", "tensorflow" in sys.modules, flush=True)
    window.close()
    app.quit()
QTimer.singleShot(0, shown)
app.exec()
"""


def time_process(code: str, marker: str | None, env: dict) -> float:
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    elapsed = None
    for line in process.stdout:
        if marker and line.startswith(marker):
            elapsed = time.perf_counter() - start
            if "True" in line:
                raise SystemExit("the GUI process imported TensorFlow before showing its window")
    process.wait()
    return elapsed if elapsed is not None else time.perf_counter() - start


def measure(runs: int) -> dict:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_USE_LEGACY_KERAS": "1",
    }
    with tempfile.TemporaryDirectory():
        window = [time_process(WINDOW, "SHOWN", env) for _ in range(runs)]
        tf = [time_process("import tensorflow", None, env) for _ in range(runs)]
    w, t = statistics.median(window), statistics.median(tf)
    return {"window_s": w, "import_tensorflow_s": t, "ratio": w / t, "runs": runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 runs")
    args = parser.parse_args()
    smoke = os.environ.get("STUDIO_BENCH_SMOKE") == "1"  # see common.SMOKE
    result = measure(1 if smoke else 3 if args.quick else args.runs)
    print(
        f"window shown: {result['window_s']:.2f} s (median of {result['runs']}); "
        f"import tensorflow: {result['import_tensorflow_s']:.2f} s; "
        f"ratio {result['ratio']:.2f} (target < 0.4; issue 4: window < 1.5 s)"
    )
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
