"""The zoo (tests/zoo.py), end to end: architectures nobody here wrote, saved with tf_keras
and Keras 3, go through every conversion mode and the techniques that apply to them.

Slow: each model is trained for a few epochs first.  One model of each kind; the whole
zoo runs in `benchmarks/zoo.py`.
"""

from __future__ import annotations

import numpy as np
import pytest
import zoo

from studio.engine.convert import convert
from studio.engine.measure import predict
from studio.engine.models import inspect_file
from studio.engine.pipeline import optimize, prepare
from studio.engine.tflite_file import weight_figures
from studio.values.recipe import Quantization, Recipe

pytestmark = pytest.mark.slow

CASES = [
    ("lstm", "tf_keras"),
    ("gru", "keras3"),
    ("transformer", "keras3"),
    ("transformer", "tf_keras"),
    ("keyword_spotter", "keras3"),
    ("regressor", "tf_keras"),
    ("small_cnn", "keras3"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo")
    cache: dict[tuple[str, str], tuple] = {}

    def get(name: str, flavour: str):
        if (name, flavour) not in cache:
            cache[name, flavour] = zoo.saved(name, flavour, folder)
        return cache[name, flavour]

    return get


def _agreement(got: np.ndarray, want: np.ndarray, regression: bool) -> float:
    if regression:
        return float(np.mean(np.abs(got - want) < 0.1))
    return float(np.mean(got.argmax(-1) == want.argmax(-1)))


@pytest.mark.parametrize(("name", "flavour"), CASES)
def test_every_mode_converts_and_agrees_with_keras(built, name, flavour):
    model_path, data_path = built(name, flavour)
    assert inspect_file(model_path).findings == ()  # opens without asking for trust
    prep = prepare(model_path, data_path)
    assert not prep.summary.limitation, prep.summary.limitation
    regression = zoo.ZOO[name].kind == "regression"
    x = prep.data.x_eval[:100]
    want = np.asarray(prep.model(x, training=False))
    for mode in ("none", "dynamic", "float16", "int8"):
        blob = convert(prep.model, Quantization(mode=mode, calibration_samples=64), x)
        assert _agreement(predict(blob, x), want, regression) >= 0.9, mode
        if mode == "int8":
            big = [f for f in weight_figures(blob) if f.count >= 256]
            assert big and all(f.dtype == "int8" for f in big), [(f.name, f.dtype) for f in big]


TECHNIQUES = {
    "prune": {"pruning": {"target_sparsity": 0.5, "epochs": 2}},
    "cluster": {"clustering": {"clusters": 16, "epochs": 1}},
    "qat": {"quantization": {"mode": "int8", "qat": True, "epochs": 1}},
    # 80 % pruning leaves a small head fewer distinct weights than clusters: k-means++
    # used to fail inside TensorFlow and take the worker down.
    "both": {"pruning": {"target_sparsity": 0.8}, "clustering": {"clusters": 16}},
}


@pytest.mark.parametrize(
    ("name", "flavour", "technique"),
    [
        ("lstm", "tf_keras", "prune"),
        ("gru", "keras3", "cluster"),
        ("gru", "tf_keras", "both"),
        ("transformer", "keras3", "prune"),
        ("transformer", "keras3", "qat"),
        ("keyword_spotter", "keras3", "cluster"),
        pytest.param(
            "regressor",
            "tf_keras",
            "prune",
            marks=pytest.mark.xfail(
                strict=True, reason="issue 17: 50 % pruning doubles the regressor's MAE"
            ),
        ),
    ],
)
def test_techniques_apply_to_the_layers_that_support_them(
    built, tmp_path, name, flavour, technique
):
    model_path, data_path = built(name, flavour)
    int8 = {"mode": "int8", "calibration_samples": 64}
    recipe = {"quantization": int8, **TECHNIQUES[technique]}
    recipe["quantization"] = {**int8, **recipe["quantization"]}
    result = optimize(model_path, data_path, Recipe.from_dict(recipe), tmp_path)
    m, b = result.metrics, result.baseline
    if m.metric == "mae":
        assert m.accuracy <= b.accuracy * 1.5 + 0.02
    else:
        # 80 % + 16 clusters costs a GRU ~10 points today: issue 17 is about that.
        assert m.accuracy >= b.accuracy - (0.15 if technique == "both" else 0.05)
    weights = [f for f in m.layers if f.count >= 256]
    assert weights
    if technique == "prune":
        assert max(f.sparsity for f in weights) >= 0.45, weights
    if technique == "cluster":
        assert min(f.unique_values for f in weights) <= 17, weights
    if technique == "qat":
        assert m.qat_scheme == "QAT"
        # Really int8: attention and other layers tfmot does not annotate are calibrated.
        assert all(f.dtype == "int8" for f in weights), [(f.name, f.dtype) for f in weights]
        assert b.gzip_bytes / m.gzip_bytes > 2
    if technique == "both":
        assert max(f.sparsity for f in weights) >= 0.75, weights


def test_the_exported_script_converts_a_recurrent_model(built, tmp_path):
    """The standalone script does what the studio does for an LSTM: batch 1, unrolled."""
    import subprocess
    import sys

    from studio.engine.codegen import script_for

    model_path, data_path = built("lstm", "tf_keras")
    recipe = Recipe.from_dict({"quantization": {"mode": "int8", "calibration_samples": 50}})
    script = tmp_path / "reproduce.py"
    script.write_text(script_for(model_path, data_path, recipe))
    out = tmp_path / "lstm.tflite"
    done = subprocess.run(
        [sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "top-1 accuracy" in done.stdout and out.stat().st_size > 0
    assert {f.dtype for f in weight_figures(out.read_bytes()) if f.count >= 256} == {"int8"}
