"""Responsiveness: event-loop stalls of the real window while its workers are busy.

The real main window (offscreen) with a 10 ms heartbeat timer, in three situations, one
run:

1. quiet: an int8 candidate of `MobileNetV2(weights=None)` (224) queued with the Run
   button (loading, conversion and measuring happen as a user's click makes them);
2. busy: the bundled 12-candidate sweep grid on the demo, every worker busy;
3. competing: the same sweep while unrelated CPU-bound processes (one per core, started
   and stopped by this benchmark, each bounded in time) compete for the machine.

Each situation runs twice: with the pool as the studio configures it (workers below the
window's priority, the cores shared out as thread budgets) and as it was before issue 19
(`ProcessPool(threads=0, niceness=0)`), so the conversion and sweep wall times are
compared in the same run.  The reference for stalls: the same int8 conversion in a
plain Python thread of the GUI process, quiet and competing.  A stall is how much later
than 10 ms a heartbeat tick came.

    python benchmarks/ui_responsiveness.py [--size 224] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
from common import SMOKE, emit, write_section

from studio.values.processes import NICENESS

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

HEARTBEAT_MS = 10
WORKERS = 2  # the studio's default on this machine (2 cores, 24 GiB)
TARGET_QUIET_MS, TARGET_LOADED_MS = 30, 50
TARGET_WALL_RATIO = 1.10  # the sweep may not get more than 10 % slower
COMPETITOR_LIMIT_S = 900  # a competitor left behind by a crash stops by itself
CONFIGS = {
    "studio": {},  # ProcessPool's defaults: niceness +NICENESS, threads = cores / workers
    "before": {"threads": 0, "niceness": 0},  # same priority, TensorFlow's own pools
}
BUSY = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"


class Heartbeat:
    """A 10 ms QTimer on the GUI thread that records when each tick really came."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def start(self) -> None:
        self.ticks = [time.perf_counter()]
        self.timer.start()

    def stop(self) -> dict:
        self.timer.stop()
        gaps = np.diff(np.asarray(self.ticks)) * 1000
        stalls = np.clip(gaps - HEARTBEAT_MS, 0, None)
        return {
            "max_ms": float(stalls.max()) if stalls.size else 0.0,
            "p99_ms": float(np.percentile(stalls, 99)) if stalls.size else 0.0,
            "ticks": int(stalls.size),
            "seconds": float(self.ticks[-1] - self.ticks[0]),
        }


@contextlib.contextmanager
def competitors(on: bool):
    """One busy-looping process per core at the studio's own priority (a compile, a
    browser tab spinning): started here, stopped on the way out whatever happens."""
    from studio.values.processes import cores

    procs = []
    if on:
        procs = [
            subprocess.Popen([sys.executable, "-c", BUSY, str(COMPETITOR_LIMIT_S)])
            for _ in range(cores())
        ]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def make_inputs(folder: Path, size: int, samples: int) -> tuple[Path, Path]:
    """The model file and data, written by a child so this process has no TensorFlow yet."""
    model, data = folder / "mobilenet_v2.keras", folder / "data.npz"
    script = textwrap.dedent(f"""
        import os
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        import numpy as np
        import tf_keras as keras
        keras.utils.set_random_seed(0)
        m = keras.applications.MobileNetV2(input_shape=({size}, {size}, 3), weights=None, classes=10)
        m.save({str(model)!r})
        rng = np.random.default_rng(0)
        x = rng.random(({samples}, {size}, {size}, 3), dtype=np.float32)
        np.savez({str(data)!r}, x=x, y=rng.integers(0, 10, {samples}))
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    return model, data


def pump(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def wait_until_settled(app, session, started: float) -> None:
    """Run the event loop until the baseline and every candidate have ended."""
    while session.baseline is None or any(
        c.status in ("queued", "running") for c in session.candidates.values()
    ):
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() - started > 1800:
            raise SystemExit("the studio's jobs did not finish in 30 minutes")


def open_window(app, scratch: Path, config: str):
    from PySide6.QtCore import QSettings

    from studio.jobs.pool import ProcessPool
    from studio.ui.app import build

    settings = QSettings(str(scratch / f"{config}.ini"), QSettings.Format.IniFormat)
    pool = ProcessPool(WORKERS, idle_timeout_s=None, **CONFIGS[config])
    window = build(settings, sessions_root=scratch / f"sessions-{config}", backend=pool)
    window.ask_quit = lambda: True  # scripted: no question at the end
    window.ask_about_running = lambda: "cancel"  # the previous situation's left-overs
    window.show()
    if not pool.wait_ready(300):
        raise SystemExit("the workers did not start in 5 minutes")
    pump(app, 1.0)  # the first paint is start-up, not this measurement
    return window, pool


def conversion(app, window, model: Path, data: Path) -> dict:
    """Situation 1: one int8 candidate of the user's model, from the Run button."""
    from studio.values.recipe import Quantization, Recipe

    beat = Heartbeat()
    beat.start()
    started = time.perf_counter()
    window.open_model(str(model), str(data))
    window.editor.set_recipe(Recipe(quantization=Quantization(mode="int8", calibration_samples=16)))
    window.editor.run_button.click()  # the user's click
    session = window.workbench.session
    wait_until_settled(app, session, started)
    wall = time.perf_counter() - started
    pump(app, 0.5)  # let the plots and table take the result
    stalls = beat.stop()
    (candidate,) = session.candidates.values()
    if candidate.status != "done":
        raise SystemExit(f"the studio's candidate {candidate.status}: {candidate.message}")
    return {**stalls, "wall_s": wall, "convert_s": candidate.metrics.seconds.get("convert")}


def sweep(app, window, grid, competing: bool) -> dict:
    """Situations 2 and 3: the demo's 12-candidate sweep, every worker busy."""
    from studio.values.resources import DEMO

    window.open_model(DEMO)
    session = window.workbench.session
    wait_until_settled(app, session, time.perf_counter())  # the baseline: not timed
    pump(app, 0.5)  # ...nor the views taking it (its plots redraw ~100 ms later)
    with competitors(competing):
        beat = Heartbeat()
        beat.start()
        started = time.perf_counter()
        window.run_sweep(grid)
        wait_until_settled(app, session, started)
        wall = time.perf_counter() - started
        pump(app, 0.5)
        stalls = beat.stop()
    done = sum(c.status == "done" for c in session.candidates.values())
    if done != len(grid.expand()):
        raise SystemExit(f"the sweep finished {done} of {len(grid.expand())} candidates")
    return {**stalls, "wall_s": wall, "candidates": done}


def thread_reference(app, model: Path, data: Path, competing: bool) -> dict:
    """The same int8 conversion in a plain Python thread of this process."""
    import tensorflow as tf
    import tf_keras as keras

    keras_model = keras.models.load_model(model)
    x = np.load(data)["x"][:16]

    def calibration():
        for sample in x:
            yield [sample[None]]

    def convert() -> None:
        converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        t = time.perf_counter()
        converter.convert()
        seconds["convert_s"] = time.perf_counter() - t

    seconds: dict = {}
    with competitors(competing):
        beat = Heartbeat()
        beat.start()
        worker = threading.Thread(target=convert)
        worker.start()
        while worker.is_alive():
            app.processEvents()
            time.sleep(0.002)
        app.processEvents()
        stalls = beat.stop()
    return {**stalls, **seconds}


def measure(size: int, samples: int, quick: bool) -> dict:
    from PySide6.QtWidgets import QApplication

    from studio.values.grid import Grid
    from studio.values.resources import RECIPES

    app = QApplication.instance() or QApplication(sys.argv[:1])
    grid = Grid.load(RECIPES / "demo_sweep_grid.json")
    if quick:
        grid = Grid.from_dict({"quantization.mode": ["dynamic", "int8", "float16", "none"]})
    runs: dict = {}
    with tempfile.TemporaryDirectory(prefix="studio-responsiveness-") as tmp:
        scratch = Path(tmp)
        model, data = make_inputs(scratch, size, samples)
        for config in CONFIGS:
            window, _ = open_window(app, scratch, config)
            runs[config] = {
                "quiet": conversion(app, window, model, data),
                "busy": sweep(app, window, grid, competing=False),
                "competing": sweep(app, window, grid, competing=True),
            }
            window.close()
            pump(app, 0.5)
        if "tensorflow" in sys.modules:
            raise SystemExit("the GUI process imported TensorFlow")
        thread = {
            "quiet": thread_reference(app, model, data, competing=False),
            "competing": thread_reference(app, model, data, competing=True),
        }
    return {"size": size, "candidates": len(grid.expand()), "runs": runs, "thread": thread}


SITUATIONS = {
    "quiet": ("MobileNetV2 ({size}) int8 conversion, machine quiet", TARGET_QUIET_MS),
    "busy": ("{candidates}-candidate sweep, every worker busy", TARGET_LOADED_MS),
    "competing": (
        "{candidates}-candidate sweep + one CPU-bound process per core",
        TARGET_LOADED_MS,
    ),
}


def verdicts(r: dict) -> list[tuple[str, float, float, bool]]:
    """(situation, studio max stall, target, met) for each situation."""
    out = []
    for key, (label, target) in SITUATIONS.items():
        worst = r["runs"]["studio"][key]["max_ms"]
        out.append((label.format(**r), worst, target, worst < target))
    return out


def wall_ratio(r: dict) -> float:
    return r["runs"]["studio"]["busy"]["wall_s"] / r["runs"]["before"]["busy"]["wall_s"]


def report(r: dict) -> str:
    """The RESULTS.md section: every situation, both configurations, the references."""
    studio, before, thread = r["runs"]["studio"], r["runs"]["before"], r["thread"]
    reference = {"quiet": thread["quiet"], "competing": thread["competing"]}
    lines = [
        "## Responsiveness while workers are busy (issue 19)",
        "",
        f"Written by `python benchmarks/ui_responsiveness.py` on {time.strftime('%Y-%m-%d %H:%M')}: "
        f"the main window (offscreen, {WORKERS} workers) with a {HEARTBEAT_MS} ms heartbeat; "
        f"a stall is how late a tick came. *studio*: workers at niceness +{NICENESS} with the cores "
        "shared out as thread budgets; *before*: the pool as it was (same priority as the "
        "window, TensorFlow's pools sized to every core); *plain thread*: the conversion in "
        "a thread of the GUI process.",
        "",
        "| situation | studio: worst / p99 stall | before: worst / p99 | plain thread: worst / p99 | target | result |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for (label, worst, target, met), key in zip(verdicts(r), SITUATIONS, strict=True):
        ref = reference.get(key)
        ref_text = f"{ref['max_ms']:.0f} / {ref['p99_ms']:.0f} ms" if ref else "—"
        lines.append(
            f"| {label} | {worst:.1f} / {studio[key]['p99_ms']:.1f} ms | "
            f"{before[key]['max_ms']:.1f} / {before[key]['p99_ms']:.1f} ms | {ref_text} | "
            f"< {target} ms | {'met' if met else '**missed**'} |"
        )
    lines += [
        "",
        "| wall time | studio | before | ratio (target ≤ 1.10) |",
        "| --- | --- | --- | --- |",
    ]
    for key, what in (
        ("quiet", "MobileNetV2 int8 candidate, click to result"),
        ("busy", f"{r['candidates']}-candidate sweep"),
        ("competing", f"{r['candidates']}-candidate sweep, competing"),
    ):
        ratio = studio[key]["wall_s"] / before[key]["wall_s"]
        target = (
            "" if key == "competing" else (" met" if ratio <= TARGET_WALL_RATIO else " **missed**")
        )
        lines.append(
            f"| {what} | {studio[key]['wall_s']:.1f} s | {before[key]['wall_s']:.1f} s | "
            f"{ratio:.2f}x{target} |"
        )
    lines.append(
        f"| the conversion alone (`convert` stage) | {studio['quiet']['convert_s']:.1f} s | "
        f"{before['quiet']['convert_s']:.1f} s | "
        f"{studio['quiet']['convert_s'] / before['quiet']['convert_s']:.2f}x |"
    )
    lines += ["", WHERE_STALLS_COME_FROM]
    return "\n".join(lines)


# Found by timing every event the window handles (a QApplication.notify override) and the
# GUI thread's own CPU time across each late tick, 2026-11-26; kept here so that the
# section says what the figures above rest on and what is left.
WHERE_STALLS_COME_FROM = (
    "Where the stalls came from, and what keeps them short (per-event timing of the "
    "window, GUI-thread CPU time per late tick): once the workers run below the window's "
    "priority, every stall is the window's own work, so that work is kept small per "
    "event-loop turn. Job events reach the window one per turn; sessions are saved on a "
    "background thread, re-using the JSON of unchanged candidates; progress bars paint "
    "with the window's paint pass (QProgressBar repaints at once on every value); the "
    "results table's column widths come from each column's widest figure (re-measuring "
    "every cell on each result cost ~1,000 model calls); a sweep's new rows arrive four "
    "per turn; the plots redraw after a result's rows, one plot per turn, with grid lines "
    "at labelled ticks only (a plot repaint 11 -> 2.6 ms); the layer-sensitivity job is "
    "sent the turn after the baseline's 155-layer table. What is left: a result's table "
    "and job-list update and its paint, 5-15 ms on a busy machine, about twice that when "
    "a program of equal priority shares the core."
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224, help="MobileNetV2 input size")
    parser.add_argument("--samples", type=int, default=32, help="samples in the data file")
    parser.add_argument(
        "--quick", action="store_true", help="MobileNetV2 at 96x96, a 4-candidate sweep"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print, but leave benchmarks/RESULTS.md alone"
    )
    args = parser.parse_args()
    if args.quick:
        args.size = 32 if SMOKE else 96
    result = measure(args.size, args.samples, args.quick)
    text = report(result)
    print(text)
    if not (args.quick or args.no_write):
        write_section("responsiveness", "benchmarks/ui_responsiveness.py", text)
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
