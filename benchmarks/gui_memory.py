"""Memory: peak resident memory of the window's process and of its workers in a sweep.

The real window (offscreen) with 2 workers runs the demo sweep grid; every 100 ms the
GUI process's RSS and each worker's RSS are read (psutil).  Nothing to compare with:
reported so that a change that bloats either shows up.

    python benchmarks/gui_memory.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401
from common import emit

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def measure(quick: bool) -> dict:
    import psutil
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from studio.ui.app import build
    from studio.values.grid import Grid
    from studio.values.resources import RECIPES

    app = QApplication.instance() or QApplication(sys.argv[:1])
    me = psutil.Process()
    gui_peak = worker_peak = 0
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat)
        window = build(settings, workers=2, sessions_root=Path(tmp) / "sessions")
        window.ask_quit = lambda: True  # scripted: no question at the end
        window.show()
        window.start()
        grid = Grid.load(RECIPES / "demo_sweep_grid.json")
        if quick:
            grid = Grid.from_dict({"quantization.mode": ["dynamic", "int8", "float16"]})
        started, queued = time.monotonic(), False
        while time.monotonic() - started < 1200:
            app.processEvents()
            time.sleep(0.1)
            gui_peak = max(gui_peak, me.memory_info().rss)
            for child in me.children():
                with contextlib.suppress(psutil.Error):
                    worker_peak = max(worker_peak, child.memory_info().rss)
            session = window.workbench.session
            if session.baseline and not queued:
                window.run_sweep(grid)
                queued = True
            states = [c.status for c in session.candidates.values()]
            if queued and states and all(s not in ("queued", "running") for s in states):
                break
        candidates = len(states)
        window.close()
    return {
        "gui_peak_mb": gui_peak / 2**20,
        "worker_peak_mb": worker_peak / 2**20,
        "candidates": candidates,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    r = measure(parser.parse_args().quick)
    print(
        f"sweep of {r['candidates']} candidates: GUI process peak {r['gui_peak_mb']:.0f} MB, "
        f"worker peak {r['worker_peak_mb']:.0f} MB"
    )
    emit(r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
