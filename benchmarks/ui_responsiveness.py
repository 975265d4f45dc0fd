"""Responsiveness: event-loop stalls of the real window while an int8 conversion runs.

The studio's path: the main window (offscreen), a 10 ms heartbeat timer, and an int8
candidate of `MobileNetV2(weights=None)` queued with the Run button, so loading,
conversion and measuring happen the way a user's click makes them happen (worker
process, events back to the window, plots and table updated at the end).
The reference, in the same run and the same process: the same int8 conversion in a
plain Python thread next to the same heartbeat.  A stall is how much later than 10 ms
a heartbeat tick came.

    python benchmarks/ui_responsiveness.py [--size 224] [--samples 32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TF_USE_LEGACY_KERAS"] = "1"

HEARTBEAT_MS = 10
TARGET_MAX_STALL_MS = 50


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


def studio_path(app, model: Path, data: Path, scratch: Path) -> dict:
    from PySide6.QtCore import QSettings

    from studio.ui.app import build
    from studio.values.recipe import Quantization, Recipe

    settings = QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat)
    window = build(settings, workers=1, sessions_root=scratch / "sessions")
    window.show()
    settle = time.perf_counter() + 1.0  # the first paint is startup, not this measurement
    while time.perf_counter() < settle:
        app.processEvents()
        time.sleep(0.005)
    beat = Heartbeat()
    beat.start()
    started = time.perf_counter()
    window.open_model(str(model), str(data))
    window.editor.set_recipe(Recipe(quantization=Quantization(mode="int8", calibration_samples=16)))
    window.editor.run_button.click()  # the user's click
    session = window.workbench.session
    while session.baseline is None or session.candidates[1].status in ("queued", "running"):
        app.processEvents()
        time.sleep(0.002)
        if time.perf_counter() - started > 1800:
            raise SystemExit("the studio's candidate did not finish in 30 minutes")
    for _ in range(50):  # let the plots and table take the result
        app.processEvents()
        time.sleep(0.01)
    stalls = beat.stop()
    candidate = session.candidates[1]
    if candidate.status != "done":
        raise SystemExit(f"the studio's candidate {candidate.status}: {candidate.message}")
    if "tensorflow" in sys.modules:
        raise SystemExit("the GUI process imported TensorFlow")
    stalls["convert_s"] = candidate.metrics["seconds"].get("convert")
    window.close()
    return stalls


def thread_reference(app, model: Path, data: Path) -> dict:
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
    beat = Heartbeat()
    beat.start()
    worker = threading.Thread(target=convert)
    worker.start()
    while worker.is_alive():
        app.processEvents()
        time.sleep(0.002)
    app.processEvents()
    return {**beat.stop(), **seconds}


def measure(size: int, samples: int) -> dict:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory(prefix="studio-responsiveness-") as tmp:
        scratch = Path(tmp)
        model, data = make_inputs(scratch, size, samples)
        studio = studio_path(app, model, data, scratch)
        thread = thread_reference(app, model, data)
    return {"studio": studio, "thread": thread, "size": size}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224, help="MobileNetV2 input size")
    parser.add_argument("--samples", type=int, default=32, help="samples in the data file")
    parser.add_argument("--quick", action="store_true", help="MobileNetV2 at 96x96")
    args = parser.parse_args()
    if args.quick:
        args.size = 96
    result = measure(args.size, args.samples)
    s, t = result["studio"], result["thread"]
    print(f"MobileNetV2({args.size}x{args.size}, weights=None) int8, 10 ms heartbeat")
    print(
        f"  studio (window + worker process): max stall {s['max_ms']:.1f} ms, p99 "
        f"{s['p99_ms']:.1f} ms over {s['seconds']:.0f} s ({s['ticks']} ticks; "
        f"conversion {s['convert_s']:.1f} s)"
    )
    print(
        f"  plain Python thread (reference):  max stall {t['max_ms']:.1f} ms, p99 "
        f"{t['p99_ms']:.1f} ms over {t['seconds']:.0f} s (conversion {t['convert_s']:.1f} s)"
    )
    verdict = "met" if s["max_ms"] < TARGET_MAX_STALL_MS else "MISSED"
    print(f"  target: studio max stall < {TARGET_MAX_STALL_MS} ms: {verdict}")
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
