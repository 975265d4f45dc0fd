"""Screenshots of the studio window in its main states, at the sizes users have.

    python docs/make_screenshots.py                    # 1366x768 and 1920x1080
    python docs/make_screenshots.py --sizes 1366x768   # one size

Each size runs under its own Xvfb screen of exactly that size (xvfb-run; install
`xvfb`), from a fresh home folder, with the window at the size it picks itself (never
resized to the screen: that hid a first window too large for a laptop), through the same
calls as the window's buttons:

1. `opened`   the demo just opened: its float baseline and the Model & data tab;
2. `running`  the demo sweep grid running, with the Jobs tab;
3. `sweep`    the sweep done, the recommendation selected, the int8 error per layer;
4. `compare`  two candidates side by side (the comparison dialog over the window);
5. `search`   an automatic search done on the demo, its answer explained and selected;
6. `int4`     an int4 candidate with a per-op rule, its panel and per-layer SNR shown;
7. `second`   a second model (the zoo's small CNN, trained here) with its own data.

Files go to `resources/screens/<state>-<width>x<height>.png`; the README shows them.  The
whole screen is grabbed, so dialogs appear as a user sees them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

DOCS = Path(__file__).resolve().parent
SCREENS = (
    DOCS.parent / "resources" / "screens"
)  # installed with the package: the walkthrough shows them
SIZES = ("1366x768", "1920x1080")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--inside", help=argparse.SUPPRESS)  # one size, under Xvfb
    args = parser.parse_args()
    if args.inside:
        return shoot(*map(int, args.inside.split("x")))
    SCREENS.mkdir(exist_ok=True)
    for size in args.sizes.split(","):
        command = [sys.executable, __file__, "--inside", size]
        home = Path(tempfile.mkdtemp(prefix="studio-home-"))  # a first launch, as a user's
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": "xcb",
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
        }
        screen = f"-screen 0 {size}x24"
        subprocess.run(["xvfb-run", "-a", "-s", screen, *command], check=True, env=env)
    return 0


def int4(window, session, wait, save) -> None:
    """An int4 candidate (blocks of 32, the digit head kept in int8) made from the panel,
    selected, with the Techniques tab scrolled to Quantization and the SNR tab shown."""
    from studio.values import modes
    from studio.values.recipe import OpRule, Quantization, Recipe

    if modes.missing("int4"):
        print(f"int4 screenshot skipped: {modes.missing('int4')}")
        return
    q = Quantization(mode="int4", block_size=32, op_rules=(OpRule("^digit$", "int8"),))
    window.editor.set_recipe(Recipe(quantization=q))
    before = set(session().candidates)
    window.editor.run_button.click()
    wait(lambda: set(session().candidates) - before, "the int4 candidate queued")
    (new,) = set(session().candidates) - before
    wait(lambda: session().candidates[new].status not in ("queued", "running"), "int4")
    window.select(new)
    window.setup_tabs.setCurrentIndex(1)  # Techniques
    scroll = window.setup_tabs.widget(1)
    scroll.ensureWidgetVisible(window.editor.quantization.op_rules)
    window.center.layer_bars.setCurrentWidget(window.center.layer_bars.snr)
    save("int4")


def shoot(width: int, height: int) -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from studio.ui.app import build
    from studio.values.grid import Grid
    from studio.values.resources import json_file

    app = QApplication(sys.argv[:1])
    scratch = Path(tempfile.mkdtemp(prefix="studio-shots-"))
    settings = QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat)
    window = build(settings, workers=2, sessions_root=scratch / "sessions")
    window.ask_about_running = lambda: "cancel"  # no modal question while scripted
    window.ask_quit = lambda: True
    window.show()  # at the size it chooses for this screen: what a first launch shows
    window.start()

    def wait(done: Callable[[], bool], what: str, limit: float = 900) -> None:
        started = time.monotonic()
        while not done():
            if time.monotonic() - started > limit:
                raise SystemExit(f"gave up waiting for {what} after {limit:.0f} s")
            app.processEvents()
            time.sleep(0.05)

    def save(state: str) -> None:
        settle = time.monotonic()
        while time.monotonic() - settle < 0.8:  # let tabs, plots and layouts repaint
            app.processEvents()
            time.sleep(0.05)
        path = SCREENS / f"{state}-{width}x{height}.png"
        app.primaryScreen().grabWindow(0).save(str(path))
        print(f"wrote {path}")

    def session():
        return window.workbench.session

    def pending() -> list[str]:
        return [
            c.status for c in session().candidates.values() if c.status in ("queued", "running")
        ]

    wait(lambda: session() is not None and session().baseline is not None, "the demo baseline")
    window.setup_tabs.setCurrentIndex(0)  # Model & data
    save("opened")

    ids = window.run_sweep(Grid.load(json_file("demo_sweep_grid")))
    window.bottom.side_tabs.setCurrentWidget(window.jobs)
    wait(lambda: "running" in pending() and window.workbench.activity.curves, "a running job")
    wait(lambda: len(session().finished()) >= 2, "two finished candidates")
    save("running")

    wait(lambda: not pending(), "the sweep")
    window.diagnose()
    wait(lambda: window.diagnosis.layers.count() > 0, "the int8 diagnosis")
    window.select(window.recommended.get("smallest") or ids[-1])
    window.bottom.side_tabs.setCurrentWidget(window.bottom.curves)
    save("sweep")

    done = sorted(session().finished(), key=lambda c: c.metrics.gzip_bytes)
    dialog = window.compare(done[0].id, done[len(done) // 2].id)
    dialog.move(width // 8, height // 10)
    wait(lambda: dialog.isVisible(), "the comparison")
    save("compare")
    dialog.close()

    from studio.values.autotune import Settings

    window.find_best(Settings(budget=1.0, max_trials=10, seed=0), threads=1)
    wait(lambda: window.workbench.search is None, "the automatic search")
    winner = window.workbench.search_summary()[2]
    found = [c.id for c in session().candidates.values() if c.name == winner]
    window.select(found[0] if found else None)
    window.center.layer_bars.setCurrentWidget(window.center.search)
    save("search")

    int4(window, session, wait, save)

    sys.path.insert(0, str(DOCS.parent / "tests"))
    import zoo  # the test zoo's models: architectures nobody on the team wrote

    model, data = zoo.saved("small_cnn", "tf_keras", scratch / "zoo")
    window.open_model(str(model), str(data))
    wait(
        lambda: session().model == str(model) and session().baseline is not None,
        "the second model's baseline",
    )
    window.setup_tabs.setCurrentIndex(0)  # Model & data
    save("second")
    window.workbench.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
