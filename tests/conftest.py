"""Shared fixtures: the demo prepared once, and small models of other kinds built here.

Everything is seeded; nothing touches the network.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import studio  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)


@pytest.fixture(scope="session")
def demo():
    """The bundled demo model and data, loaded and checked (read-only: clone before training)."""
    from studio.engine.pipeline import prepare

    return prepare("demo", "demo")


@pytest.fixture
def demo_model(demo):
    """A fresh copy of the demo model with its trained weights, safe to fine-tune."""
    import tf_keras as keras

    model = keras.models.clone_model(demo.model)
    model.set_weights(demo.model.get_weights())
    return model


def stand_in_window(qtbot, tmp_path, stand_ins):
    """The real window on the in-process backend running `stand_ins`' handlers, shown,
    with its questions answered ("cancel" running jobs, quit) and no session yet."""
    from PySide6.QtCore import QSettings

    from studio.jobs.inprocess import InProcessBackend
    from studio.ui.main_window import MainWindow
    from studio.ui.workbench import Workbench

    workbench = Workbench(
        InProcessBackend(stand_ins.handlers()), sessions_root=tmp_path / "sessions"
    )
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(workbench, settings)
    w.ask_about_running = lambda: "cancel"
    w.ask_quit = lambda: True
    w.stand_ins = stand_ins
    qtbot.addWidget(w)
    w.show()
    return w


def layer_figures(blob: bytes) -> dict[str, dict]:
    """Per-layer figures read back from a .tflite, keyed by the Keras layer name."""
    from studio.engine.tflite_file import weight_figures

    return {f.name: f.to_dict() for f in weight_figures(blob)}


def make_text_model(vocab: int = 200, length: int = 16, seed: int = 0):
    """A reading assistant's classifier: token ids -> Embedding -> Conv1D -> 3 classes."""
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=(length,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab, 16, name="embed")(inp)
    x = keras.layers.Conv1D(32, 3, activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling1D(name="gap")(x)
    x = keras.layers.Dense(32, activation="relu", name="hidden")(x)
    out = keras.layers.Dense(3, activation="softmax", name="label")(x)
    return keras.Model(inp, out, name="text_clf")


def text_data(n: int = 600, vocab: int = 200, length: int = 16, seed: int = 0):
    """Token sequences whose class is which third of the vocabulary dominates them."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    lo = y * (vocab // 3)
    x = (lo[:, None] + rng.integers(0, vocab // 3, (n, length))).astype(np.int32)
    noise = rng.random((n, length)) < 0.3
    x[noise] = rng.integers(0, vocab, noise.sum())
    return x, y.astype(np.int64)


def make_mfcc_model(frames: int = 20, coeffs: int = 13, seed: int = 0):
    """A pronunciation trainer's keyword spotter: MFCC frames -> Conv1D -> 4 words."""
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=(frames, coeffs), name="mfcc")
    x = keras.layers.Conv1D(24, 3, activation="relu", name="conv_a")(inp)
    x = keras.layers.Conv1D(24, 3, activation="relu", name="conv_b")(x)
    x = keras.layers.Flatten(name="flat")(x)
    out = keras.layers.Dense(4, activation="softmax", name="word")(x)
    return keras.Model(inp, out, name="kws")


def mfcc_data(n: int = 400, frames: int = 20, coeffs: int = 13, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = rng.normal(0, 1, (n, frames, coeffs)).astype(np.float32)
    x[np.arange(n), :, y] += 2.0  # each word lights up its own coefficient
    return x, y.astype(np.int64)


def train(model, x, y, epochs: int = 5):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model
