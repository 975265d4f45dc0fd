"""Measurement through LiteRT: batched = one by one, crash-safe loading, figures that add up."""

import dataclasses
import gzip
import os

import numpy as np
import pytest

from studio.engine.convert import convert
from studio.engine.measure import latency, latency_together, measure, predict, probe, score
from studio.values import atomic
from studio.values.errors import MeasureError, StudioError
from studio.values.metrics import Latency
from studio.values.recipe import Quantization


@pytest.fixture(scope="module")
def float_file(demo, tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "float.tflite"
    atomic.write_bytes(path, convert(demo.model, Quantization()))
    return path


def test_batched_evaluation_equals_one_by_one(demo, float_file):
    blob = float_file.read_bytes()
    x = demo.data.x_eval[:70]  # 64 + a partial batch of 6
    np.testing.assert_allclose(predict(blob, x), predict(blob, x, batch=1), atol=1e-5)
    expected = demo.model(x).numpy()
    np.testing.assert_allclose(predict(blob, x), expected, atol=1e-4)


def test_measure_reports_every_figure(demo, float_file):
    metrics, outputs = measure(float_file, demo.data, threads=2, reference=None)
    blob = float_file.read_bytes()
    assert metrics.size_bytes == len(blob)
    assert metrics.gzip_bytes == len(gzip.compress(blob, compresslevel=9))
    assert metrics.accuracy == pytest.approx(0.9889, abs=0.002)
    assert metrics.agreement is None and metrics.metric == "top1"
    assert metrics.latency_ms.threads == 2
    assert 0 < metrics.latency_ms.median <= metrics.latency_ms.p90
    assert 0 < metrics.peak_memory_bytes < 200 * 2**20
    assert {la.name for la in metrics.layers} == {"conv1", "conv2", "conv3", "dense1", "digit"}
    again, _ = measure(float_file, demo.data, reference=outputs)
    assert again.agreement == 1.0 and again.output_rmse == pytest.approx(0.0, abs=1e-6)


def test_mae_for_regression_outputs():
    outputs = np.array([[1.0], [2.0], [4.0]])
    assert score(outputs, np.array([1.0, 3.0, 4.0], np.float32)) == (pytest.approx(1 / 3), "mae")


def test_malformed_tflite_is_an_error_not_a_crash(tmp_path, float_file):
    blob = float_file.read_bytes()
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(blob[: len(blob) // 3])
    garbage = tmp_path / "garbage.tflite"
    rng = np.random.default_rng(0)
    garbage.write_bytes(blob[:8] + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    for bad in (cut, garbage):
        with pytest.raises(MeasureError, match=rf"{bad.name}"):
            probe(bad, None)
    text = tmp_path / "text.tflite"
    text.write_text("hello, this is not a model at all")
    with pytest.raises(MeasureError, match=r"text\.tflite is not a \.tflite model"):
        measure(text, None)


def test_latency_counts_threads_and_rounds(float_file, demo):
    lat = latency(float_file.read_bytes(), demo.data.x_eval[:1], threads=1, round_s=0.01)
    assert lat.threads == 1 and lat.median > 0 and lat.rounds == 5
    assert 0 < lat.low <= lat.high and not lat.together
    assert Latency.from_dict(lat.to_dict()) == Latency(
        *(round(v, 6) if isinstance(v, float) else v for v in dataclasses.astuple(lat))
    )


def test_latency_together_times_every_file_in_every_round(float_file, demo, monkeypatch):
    from studio.engine import measure as measure_module

    seen = []
    real = measure_module._round
    monkeypatch.setattr(
        measure_module, "_round", lambda interp, s, n: seen.append(id(interp)) or real(interp, s, n)
    )
    blob = float_file.read_bytes()
    a, b = latency_together([blob, blob], demo.data.x_eval[:1], round_s=0.005)
    assert a.together and b.together and a.rounds == b.rounds == 5
    first, second = seen[0], seen[1]
    assert first != second and seen.count(first) == seen.count(second) == 5
    assert seen[:2] != seen[2:4]  # the order changes between rounds


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out" / "model.tflite"
    atomic.write_bytes(target, b"TFL3" * 10)
    assert target.read_bytes() == b"TFL3" * 10
    assert sorted(os.listdir(target.parent)) == ["model.tflite"]


def test_read_only_folder_is_a_clear_error(tmp_path, monkeypatch):
    # Simulated: CI runs as root, for whom chmod does not make a folder read-only.
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(StudioError, match=r"cannot write .*ro/x\.json: Permission denied"):
        atomic.write_json(tmp_path / "ro" / "x.json", {})


def test_full_disk_is_a_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StudioError, match=r"cannot write .*m\.tflite: No space left on device"):
        atomic.write_bytes(tmp_path / "m.tflite", b"x" * 100)
    assert os.listdir(tmp_path) == []


def test_several_inputs_and_outputs_are_matched_by_name(tmp_path):
    """The converter orders a signature's tensors by name ("answers" before "image", "level"
    before "score"); measurement feeds and reads them in the Keras model's order."""
    import tf_keras as keras

    from studio.engine.data import Dataset
    from studio.values.metrics import Metrics

    keras.utils.set_random_seed(0)
    image, answers = keras.Input((6,), name="image"), keras.Input((2,), name="answers")
    joined = keras.layers.Concatenate()([image, 100.0 * answers])
    score = keras.layers.Dense(1, name="score")(joined)
    level = keras.layers.Dense(3, activation="softmax", name="level")(joined)
    model = keras.Model([image, answers], [score, level])
    rng = np.random.default_rng(0)
    x = (rng.random((20, 6), np.float32), rng.random((20, 2), np.float32))
    want = [t.numpy() for t in model(list(x))]
    blob = convert(model, Quantization())
    got = predict(blob, x, inputs=("image", "answers"), outputs=("score", "level"))
    np.testing.assert_allclose(got[0], want[0], atol=1e-4)
    np.testing.assert_allclose(got[1], want[1], atol=1e-4)

    path = tmp_path / "m.tflite"
    atomic.write_bytes(path, blob)
    labels = (want[0][:, 0] + 0.5, want[1].argmax(-1).astype(np.int64))
    data = Dataset(
        "t", x, labels, x, labels, inputs=("image", "answers"), outputs=("score", "level")
    )
    metrics, _ = measure(path, data)
    assert [(o.name, o.metric) for o in metrics.outputs] == [("score", "mae"), ("level", "top1")]
    assert metrics.output == "score" and metrics.accuracy == pytest.approx(0.5, abs=1e-3)
    level = metrics.for_output("level")
    assert level.accuracy == 1.0 and level.metric == "top1" and level.output == "level"
    again = Metrics.from_dict(metrics.to_dict())
    assert again.outputs == metrics.outputs and again.output == "score"
