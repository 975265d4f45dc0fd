"""A model zoo the tests build themselves: architectures education apps ship, made small.

Nobody on the team tuned the studio for these.  Each builder takes the Keras module to
build with (`tf_keras`, or Keras 3's `keras`), so every architecture is saved both ways.
Data is made here, offline and seeded: the bundled digits tiled to three channels and
upscaled (images), token sequences whose class is set by which words dominate (text),
and keywords spoken by espeak-ng in varied voices, as MFCC frames (speech).

`ZOO` maps a name to (builder, data maker, kind); `saved(name, flavour, folder)` trains
the model for a few epochs and writes `model.keras` and `data.npz`.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

ROOT = Path(__file__).resolve().parents[1]
IMAGE = 32  # the smallest size keras.applications accepts
VOCAB, LENGTH = 120, 16


# -- data ------------------------------------------------------------------------------


def digits(n_train: int = 1000, n_test: int = 300, size: int = IMAGE) -> dict[str, np.ndarray]:
    """The demo's 8x8 digits, upscaled to `size` and tiled to RGB, in 0..1."""
    with np.load(ROOT / "resources" / "demo" / "digits.npz") as d:
        x = np.concatenate([d["x_train"], d["x_test"]])
        y = np.concatenate([d["y_train"], d["y_test"]])
    factor = size // x.shape[1]
    x = np.repeat(np.repeat(x, factor, axis=1), factor, axis=2)
    x = np.repeat(x.astype(np.float32) / max(1.0, float(x.max())), 3, axis=-1)
    n = n_train + n_test
    return {"x": x[:n], "y": y[:n].astype(np.int64)}


def text(n: int = 900, seed: int = 0) -> dict[str, np.ndarray]:
    """Token ids (0 = padding, at the end) whose class is which third of the vocabulary
    dominates; sequences have different lengths, so masking matters."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    third = (VOCAB - 1) // 3
    x = 1 + y[:, None] * third + rng.integers(0, third, (n, LENGTH))
    noise = rng.random((n, LENGTH)) < 0.55
    x[noise] = rng.integers(1, VOCAB, noise.sum())
    lengths = rng.integers(LENGTH // 2, LENGTH + 1, n)
    x[np.arange(LENGTH)[None, :] >= lengths[:, None]] = 0
    return {"x": x.astype(np.int32), "y": y.astype(np.int64)}


WORDS = ("yes", "no", "next", "repeat")  # what a quiz app listens for
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us+f3", "en-gb+f2")
RATE, CLIP, FRAMES, BANDS = 22050, 0.8, 24, 13


BIG_VOCAB, BIG_LENGTH = 30000, 32  # a BERT-sized WordPiece vocabulary


def big_vocab_text(n: int = 1200, seed: int = 0) -> dict[str, np.ndarray]:
    """Token ids over a 30k vocabulary, drawn as text is (a Zipf law over the words),
    whose class is set by topic words: each of 3 classes owns 150 of the 3,000 most
    frequent ids, and a sequence carries 6-10 of its class's.  Most of the table's rows
    are rare words, as in a real vocabulary; padding (0) at the end."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    ranks = np.arange(1, BIG_VOCAB)
    weights = 1.0 / ranks
    x = rng.choice(ranks, size=(n, BIG_LENGTH), p=weights / weights.sum())
    topics = rng.permutation(np.arange(1, 3000))[:450].reshape(3, 150)
    for i in range(n):
        k = rng.integers(6, 11)
        where = rng.choice(BIG_LENGTH, k, replace=False)
        x[i, where] = rng.choice(topics[y[i]], k)
    lengths = rng.integers(BIG_LENGTH // 2, BIG_LENGTH + 1, n)
    x[np.arange(BIG_LENGTH)[None, :] >= lengths[:, None]] = 0
    return {"x": x.astype(np.int32), "y": y.astype(np.int64)}


class Missing(RuntimeError):
    """A tool a zoo data maker needs is not installed (the tests skip, saying which)."""


def speech(n: int = 800, seed: int = 0) -> dict[str, np.ndarray]:
    """Spoken keywords synthesized by espeak-ng — voices, speed, pitch, loudness, timing
    and background noise varied — as MFCC frames (FRAMES x BANDS), the features a phone's
    keyword spotter computes."""
    if shutil.which("espeak-ng") is None:
        raise Missing("espeak-ng is not installed (apt-get install espeak-ng)")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(WORDS), n)
    length = int(RATE * CLIP)
    x = np.empty((n, FRAMES, BANDS), np.float32)
    for i, label in enumerate(y):
        wave = _say(
            WORDS[label],
            voice=VOICES[rng.integers(len(VOICES))],
            speed=int(rng.integers(120, 220)),
            pitch=int(rng.integers(20, 80)),
        )[:length]
        clip = np.zeros(length, np.float32)
        start = int(rng.integers(0, length - len(wave) + 1))
        clip[start : start + len(wave)] = wave * rng.uniform(0.3, 1.0)
        snr = 10 ** (rng.uniform(5, 25) / 20)  # 5..25 dB
        clip += rng.normal(0, np.sqrt(np.mean(clip**2)) / snr + 1e-4, length)
        x[i] = mfcc(clip)
    x = (x - x.mean(axis=(0, 1))) / (x.std(axis=(0, 1)) + 1e-6)
    return {"x": x, "y": y.astype(np.int64)}


def _say(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """One word as 16-bit mono samples at RATE, scaled to -1..1."""
    out = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", word],
        capture_output=True,
        check=True,
    ).stdout
    with wave.open(io.BytesIO(out)) as w:
        assert w.getframerate() == RATE and w.getsampwidth() == 2, voice
        samples = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    return samples.astype(np.float32) / 32768


def mfcc(clip: np.ndarray, n_fft: int = 512, mels: int = 26) -> np.ndarray:
    """FRAMES x BANDS mel-frequency cepstral coefficients (Hann window, log mel power,
    DCT-II), computed with numpy alone."""
    hop = (len(clip) - n_fft) // (FRAMES - 1)
    frames = np.stack([clip[i * hop : i * hop + n_fft] for i in range(FRAMES)])
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2
    to_mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    edges = 700 * (10 ** (np.linspace(to_mel(80), to_mel(RATE / 2), mels + 2) / 2595) - 1)
    bins = np.fft.rfftfreq(n_fft, 1 / RATE)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    bank = np.maximum(0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)))
    log_mel = np.log(power @ bank.T + 1e-10)
    k = np.arange(BANDS)[:, None] * (np.arange(mels)[None, :] + 0.5) * np.pi / mels
    return (log_mel @ np.cos(k).T).astype(np.float32)


def scores(n: int = 900, seed: int = 0) -> dict[str, np.ndarray]:
    """Quiz features -> a difficulty score (a smooth function plus noise): regression."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 12)).astype(np.float32)
    y = np.tanh(x[:, :4].sum(axis=1) / 2) + 0.3 * np.sin(x[:, 4] * 2) + 0.05 * rng.normal(size=n)
    return {"x": x, "y": y[:, None].astype(np.float32)}


def photo_and_answers(n: int = 900) -> dict[str, np.ndarray]:
    """Two inputs: a small digit image and four quiz answers that hint at its parity."""
    d = digits(n_train=n - 300, size=16)
    rng = np.random.default_rng(1)
    y = d["y"]
    answers = rng.normal(0, 1, (len(y), 4)).astype(np.float32)
    answers[:, 0] += np.where(y % 2 == 0, 1.0, -1.0)
    return {"image": d["x"], "answers": answers, "y": y}


def level_and_score(n: int = 900) -> dict[str, np.ndarray]:
    """Two outputs from quiz features: a difficulty level (3 classes) and a score."""
    d = scores(n)
    score = d["y"]
    level = np.digitize(score[:, 0], np.quantile(score[:, 0], [1 / 3, 2 / 3])).astype(np.int64)
    return {"x": d["x"], "level": level, "score": score}


# -- models ----------------------------------------------------------------------------


def mobilenet_v2(k: Any) -> Any:
    return k.applications.MobileNetV2(
        input_shape=(IMAGE, IMAGE, 3), alpha=0.35, weights=None, classes=10
    )


def mobilenet_v3_small(k: Any) -> Any:
    return k.applications.MobileNetV3Small(
        input_shape=(IMAGE, IMAGE, 3), weights=None, classes=10, include_preprocessing=False
    )


def efficientnet_b0(k: Any) -> Any:
    return k.applications.EfficientNetB0(input_shape=(IMAGE, IMAGE, 3), weights=None, classes=10)


def small_cnn(k: Any) -> Any:
    """A handwriting model as app developers write it: Conv + BatchNorm + depthwise."""
    L = k.layers
    inp = k.Input((IMAGE, IMAGE, 3), name="image")
    x = L.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem")(inp)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(name="stem_relu")(x)
    x = L.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False, name="dw")(x)
    x = L.BatchNormalization(name="dw_bn")(x)
    x = L.ReLU(name="dw_relu")(x)
    x = L.Conv2D(32, 1, use_bias=False, name="pw")(x)
    x = L.BatchNormalization(name="pw_bn")(x)
    x = L.ReLU(name="pw_relu")(x)
    x = L.Flatten(name="flat")(x)
    return k.Model(inp, L.Dense(10, activation="softmax", name="digit")(x), name="small_cnn")


def _positions(k: Any, tokens: Any) -> Any:
    """0, 1, 2, … for each token: the position embedding's ids, in either Keras."""
    if k.__name__ == "keras":
        from keras import ops

        return ops.cumsum(ops.ones_like(tokens), axis=1) - 1
    import tensorflow as tf

    return tf.math.cumsum(tf.ones_like(tokens), axis=1) - 1


def transformer(k: Any) -> Any:
    """A reading assistant's classifier: masked tokens + position embeddings + attention."""
    L = k.layers
    tokens = k.Input((LENGTH,), dtype="int32", name="tokens")
    x = L.Embedding(VOCAB, 32, mask_zero=True, name="tok_emb")(tokens)
    positions = _positions(k, tokens)
    x = x + L.Embedding(LENGTH, 32, name="pos_emb")(positions)
    att = L.MultiHeadAttention(2, 16, name="attention")(x, x)
    x = L.LayerNormalization(name="norm_a")(x + att)
    ff = L.Dense(32, activation="relu", name="ff")(x)
    x = L.LayerNormalization(name="norm_b")(x + ff)
    x = L.GlobalAveragePooling1D(name="pool")(x)
    return k.Model(tokens, L.Dense(3, activation="softmax", name="label")(x), name="transformer")


def bert_tiny(k: Any) -> Any:
    """A reading assistant's encoder shaped like BERT-tiny: a 30k-token Embedding of width
    128, position embeddings, two blocks (2 heads, feed-forward 512), pooled, 3 classes.
    Most of its weights are the Embedding table: what int4 halves again."""
    L = k.layers
    tokens = k.Input((BIG_LENGTH,), dtype="int32", name="tokens")
    x = L.Embedding(BIG_VOCAB, 128, mask_zero=True, name="word_emb")(tokens)
    positions = _positions(k, tokens)
    x = x + L.Embedding(BIG_LENGTH, 128, name="pos_emb")(positions)
    for i in (1, 2):
        att = L.MultiHeadAttention(2, 64, name=f"attention{i}")(x, x)
        x = L.LayerNormalization(name=f"norm{i}a")(x + att)
        ff = L.Dense(128, name=f"ff{i}_out")(L.Dense(512, activation="gelu", name=f"ff{i}_in")(x))
        x = L.LayerNormalization(name=f"norm{i}b")(x + ff)
    x = L.GlobalAveragePooling1D(name="pool")(x)
    return k.Model(tokens, L.Dense(3, activation="softmax", name="label")(x), name="bert_tiny")


def unmasked_lstm(k: Any) -> Any:
    """A reading assistant's classifier saved without `mask_zero`: the padding is read
    like any token.  Its fused LSTM kernel in the float .tflite disagreed with Keras
    (issue 33: 28 % against 76 %)."""
    L = k.layers
    tokens = k.Input((LENGTH,), dtype="int32", name="tokens")
    x = L.Embedding(VOCAB, 24, name="emb")(tokens)
    x = L.LSTM(32, name="lstm")(x)
    out = L.Dense(3, activation="softmax", name="label")(x)
    return k.Model(tokens, out, name="unmasked_lstm_clf")


def recurrent(cell: str) -> Callable[[Any], Any]:
    def build(k: Any) -> Any:
        L = k.layers
        tokens = k.Input((LENGTH,), dtype="int32", name="tokens")
        x = L.Embedding(VOCAB, 24, mask_zero=True, name="emb")(tokens)
        x = getattr(L, cell)(24, name=cell.lower())(x)
        out = L.Dense(3, activation="softmax", name="label")(x)
        return k.Model(tokens, out, name=f"{cell.lower()}_clf")

    return build


def keyword_spotter(k: Any) -> Any:
    L = k.layers
    inp = k.Input((FRAMES, BANDS), name="mfcc")
    x = L.Conv1D(32, 3, activation="relu", name="conv_a")(inp)
    x = L.Conv1D(32, 3, activation="relu", name="conv_b")(x)
    x = L.GlobalMaxPooling1D(name="pool")(x)
    x = L.Dense(32, activation="relu", name="hidden")(x)
    return k.Model(inp, L.Dense(4, activation="softmax", name="word")(x), name="kws")


def regressor(k: Any) -> Any:
    L = k.layers
    inp = k.Input((12,), name="features")
    x = L.Dense(64, activation="relu", name="dense_a")(inp)
    x = L.Dense(64, activation="relu", name="dense_b")(x)
    return k.Model(inp, L.Dense(1, name="score")(x), name="regressor")


def two_inputs(k: Any) -> Any:
    """A handwriting check that also reads the learner's answers: image + features."""
    L = k.layers
    image = k.Input((16, 16, 3), name="image")
    answers = k.Input((4,), name="answers")
    x = L.Conv2D(16, 3, activation="relu", name="conv")(image)
    x = L.MaxPooling2D(name="pool")(x)
    x = L.Flatten(name="flat")(x)
    x = L.Concatenate(name="join")(
        [x, L.Dense(8, activation="relu", name="answers_dense")(answers)]
    )
    x = L.Dense(32, activation="relu", name="hidden")(x)
    return k.Model(
        [image, answers], L.Dense(10, activation="softmax", name="digit")(x), name="two_in"
    )


def two_outputs(k: Any, named: bool = False) -> Any:
    """An adaptive quiz's model: a difficulty level (classes) and a score (regression);
    `named`: the heads named the Keras 3 way, outputs as a dict."""
    L = k.layers
    inp = k.Input((12,), name="features")
    x = L.Dense(64, activation="relu", name="dense_a")(inp)
    x = L.Dense(64, activation="relu", name="dense_b")(x)
    level = L.Dense(3, activation="softmax", name="level")(x)
    score = L.Dense(1, name="score")(x)
    if named:
        return k.Model(inp, {"level": level, "score": score}, name="named_heads")
    return k.Model(inp, [level, score], name="two_out")


def named_heads(k: Any) -> Any:
    return two_outputs(k, named=True)


@dataclass(frozen=True)
class Entry:
    build: Callable[[Any], Any]
    data: Callable[[], dict[str, np.ndarray]]
    kind: str  # "image", "text", "speech", "regression", "multi"
    epochs: int
    inputs: tuple[str, ...] = ("x",)  # the data's arrays, in the model's order
    outputs: tuple[tuple[str, str], ...] = ()  # (array, loss) per output; () = ("y", by kind)
    named: bool = False  # outputs are a dict by name (array names = output names)


ZOO: dict[str, Entry] = {
    "mobilenet_v2": Entry(mobilenet_v2, digits, "image", 6),
    "mobilenet_v3_small": Entry(mobilenet_v3_small, digits, "image", 8),
    "efficientnet_b0": Entry(efficientnet_b0, digits, "image", 6),
    "small_cnn": Entry(small_cnn, digits, "image", 8),
    "transformer": Entry(transformer, text, "text", 6),
    "bert_tiny": Entry(bert_tiny, big_vocab_text, "text", 4),
    "lstm": Entry(recurrent("LSTM"), text, "text", 6),
    "gru": Entry(recurrent("GRU"), text, "text", 6),
    "unmasked_lstm": Entry(unmasked_lstm, text, "text", 8),
    "keyword_spotter": Entry(keyword_spotter, speech, "speech", 6),
    "regressor": Entry(regressor, scores, "regression", 20),
    "two_inputs": Entry(
        two_inputs,
        photo_and_answers,
        "multi",
        8,
        inputs=("image", "answers"),
        outputs=(("y", "sparse_categorical_crossentropy"),),
    ),
    "two_outputs": Entry(
        two_outputs,
        level_and_score,
        "multi",
        20,
        outputs=(("level", "sparse_categorical_crossentropy"), ("score", "mse")),
    ),
    "named_heads": Entry(
        named_heads,
        level_and_score,
        "multi",
        20,
        outputs=(("level", "sparse_categorical_crossentropy"), ("score", "mse")),
        named=True,
    ),
}
FLAVOURS = ("tf_keras", "keras3")


def keras_module(flavour: str) -> Any:
    if flavour == "tf_keras":
        import tf_keras

        return tf_keras
    import keras

    return keras


def saved(name: str, flavour: str, folder: Path) -> tuple[Path, Path]:
    """Build, train (seeded, a few epochs) and save the zoo model and its data."""
    entry, k = ZOO[name], keras_module(flavour)
    k.utils.set_random_seed(0)
    model = entry.build(k)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            # keras.applications' momentum (0.999) needs thousands of steps to settle the
            # moving statistics; a few epochs on small data leave inference at chance.
            layer.momentum = 0.9
    data = entry.data()
    regression = entry.kind == "regression"
    outputs = entry.outputs or (("y", "mse" if regression else "sparse_categorical_crossentropy"),)
    losses = [loss for _, loss in outputs]
    y = [data[key] for key, _ in outputs]
    if entry.named:
        losses = {key: loss for key, loss in outputs}
        y = {key: data[key] for key, _ in outputs}
    model.compile(optimizer=k.optimizers.Adam(1e-3 if regression else 2e-3), loss=losses)
    x = [data[key] for key in entry.inputs]
    model.fit(x, y, epochs=entry.epochs, batch_size=32, verbose=0)
    folder.mkdir(parents=True, exist_ok=True)
    model_path, data_path = folder / f"{name}_{flavour}.keras", folder / f"{name}.npz"
    model.save(model_path)
    if not data_path.exists():
        np.savez(data_path, **data)
    return model_path, data_path
