"""Screenshots of the studio window for the README (run under Xvfb or a real display).

    xvfb-run -s "-screen 0 1600x1000x24" python docs/make_screenshots.py

Opens the demo in a fresh session, runs five candidates through the same path as the Run
button, waits for them, selects the smallest, and saves `docs/window.png`.  A second shot
(`docs/window-running.png`) is taken while a pruning fine-tune runs.  Then the demo sweep
grid and an int8 diagnosis run in a new session: `docs/sweep.png`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from studio.ui.app import build
from studio.values.grid import Grid
from studio.values.recipe import Clustering, Pruning, Quantization, Recipe
from studio.values.resources import DEMO, json_file

DOCS = Path(__file__).resolve().parent
RECIPES = [
    Recipe(quantization=Quantization(mode="dynamic")),
    Recipe(quantization=Quantization(mode="float16")),
    Recipe(quantization=Quantization(mode="int8")),
    Recipe(pruning=Pruning(target_sparsity=0.8, epochs=3), quantization=Quantization(mode="int8")),
    Recipe(
        pruning=Pruning(target_sparsity=0.8, epochs=3),
        clustering=Clustering(clusters=16),
        quantization=Quantization(mode="int8"),
    ),
]


def main() -> int:
    app = QApplication(sys.argv[:1])
    scratch = Path(tempfile.mkdtemp(prefix="studio-shots-"))
    settings = QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat)
    window = build(settings, workers=2, sessions_root=scratch / "sessions")
    window.ask_about_running = lambda: "cancel"  # no modal question while scripted
    window.resize(1500, 940)
    window.show()
    window.start()
    for recipe in RECIPES:
        window.editor.set_recipe(recipe)
        window.editor.request_run()
    started = time.monotonic()
    shot_running = {"done": False}

    def poll() -> None:
        session = window.workbench.session
        states = [c.status for c in session.candidates.values()]
        curves = window.workbench.activity.curves.get(len(RECIPES), [])
        if not shot_running["done"] and curves and states.count("running"):
            window.bottom.side_tabs.setCurrentWidget(window.jobs)
            window.grab().save(str(DOCS / "window-running.png"))
            shot_running["done"] = True
        finished = all(s not in ("queued", "running") for s in states)
        if (finished and session.baseline) or time.monotonic() - started > 900:
            done = session.finished()
            smallest = min(done, key=lambda c: c.metrics["gzip_bytes"])
            window.select(smallest.id)
            window.bottom.side_tabs.setCurrentWidget(window.bottom.curves)
            QTimer.singleShot(500, finish)
            timer.stop()

    def finish() -> None:
        window.grab().save(str(DOCS / "window.png"))
        print(f"wrote {DOCS / 'window.png'}")
        window.open_model(DEMO)
        sweep_timer.start(500)

    def poll_sweep() -> None:
        session = window.workbench.session
        if session.baseline and not session.candidates:
            window.run_sweep(Grid.load(json_file("demo_sweep_grid")))
            window.diagnose()
            return
        states = [c.status for c in session.candidates.values()]
        if (
            states
            and all(s not in ("queued", "running") for s in states)
            and (window.diagnosis.layers.count())
        ):
            sweep_timer.stop()
            window.select(window.recommended["smallest"])
            window.center.layer_bars.setCurrentWidget(window.diagnosis)
            QTimer.singleShot(800, finish_sweep)

    def finish_sweep() -> None:
        window.grab().save(str(DOCS / "sweep.png"))
        print(f"wrote {DOCS / 'sweep.png'}")
        window.close()
        app.quit()

    sweep_timer = QTimer()
    sweep_timer.timeout.connect(poll_sweep)

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(500)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
