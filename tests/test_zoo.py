"""The zoo (tests/zoo.py), end to end: architectures nobody here wrote, saved with tf_keras
and Keras 3, go through every conversion mode and the techniques that apply to them.

Slow: each model is trained for a few epochs first.  One model of each kind; the whole
zoo runs in `benchmarks/zoo.py`.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import zoo

from studio.engine.arrays import Arrays, for_keras, parts, take
from studio.engine.convert import convert
from studio.engine.measure import predict
from studio.engine.models import inspect_file
from studio.engine.pipeline import optimize, prepare
from studio.engine.tflite_file import weight_figures
from studio.values import modes
from studio.values.recipe import Quantization, Recipe

pytestmark = pytest.mark.slow

CASES = [
    ("lstm", "tf_keras"),
    ("gru", "keras3"),
    ("transformer", "keras3"),
    ("transformer", "tf_keras"),
    ("bert_tiny", "keras3"),
    ("keyword_spotter", "keras3"),
    ("regressor", "tf_keras"),
    ("small_cnn", "keras3"),
    ("two_inputs", "keras3"),
    ("two_outputs", "tf_keras"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo")
    cache: dict[tuple[str, str], tuple] = {}

    def get(name: str, flavour: str):
        if (name, flavour) not in cache:
            try:
                cache[name, flavour] = zoo.saved(name, flavour, folder)
            except zoo.Missing as missing:
                pytest.skip(f"{name}: {missing}")
        return cache[name, flavour]

    return get


def _agreement(got: Arrays, want: list[np.ndarray]) -> float:
    """The worst output's share of samples on which the file agrees with Keras: the same
    class, or a score within 0.1."""
    shares = []
    for g, w in zip(parts(got), want, strict=True):
        if w.shape[-1] == 1:
            shares.append(float(np.mean(np.abs(g - w) < 0.1)))
        else:
            shares.append(float(np.mean(g.argmax(-1) == w.argmax(-1))))
    return min(shares)


@pytest.mark.parametrize(("name", "flavour"), CASES)
def test_every_mode_converts_and_agrees_with_keras(built, name, flavour):
    model_path, data_path = built(name, flavour)
    assert inspect_file(model_path).findings == ()  # opens without asking for trust
    prep = prepare(model_path, data_path)
    assert not prep.summary.limitation, prep.summary.limitation
    data = prep.data
    x = take(data.x_eval, slice(0, 100))
    want = [np.asarray(t) for t in tf.nest.flatten(prep.model(for_keras(x), training=False))]
    for mode in [m.name for m in modes.MODES.values() if not modes.missing(m.name)]:
        if mode == "int16x8":
            continue  # not every zoo model converts to 16x8 (CUMSUM): benchmarks/zoo.py
        blob = convert(prep.model, Quantization(mode=mode, calibration_samples=64), x)
        got = predict(blob, x, inputs=data.inputs, outputs=data.outputs)
        # int4 costs more on small MLPs: two_outputs' score agrees within 0.1 on 73 % of
        # the samples (its classes on all); the regressor's MAE is 18 % higher in
        # benchmarks/RESULTS.md (int4).
        assert _agreement(got, want) >= (0.7 if mode == "int4" else 0.9), mode
        big = [f for f in weight_figures(blob) if f.count >= 256]
        if mode == "int8":
            assert big and all(f.dtype == "int8" for f in big), [(f.name, f.dtype) for f in big]
        if mode == "int4":  # int4 where it runs; the recurrent cells' fused kernels stay float
            where = [f for f in big if f.op in modes.INT4_OPS]
            assert all(f.dtype == "int4" for f in where), [(f.name, f.op, f.dtype) for f in big]


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
        ("two_inputs", "tf_keras", "prune"),
        ("two_outputs", "keras3", "qat"),
        ("regressor", "tf_keras", "prune"),  # MAE 0.11 -> 0.27 before issue 17, now 0.17
        # Heads named with a dict (issue 33): every fine-tune crashed in tf_keras' metrics.
        ("named_heads", "keras3", "prune"),
        ("named_heads", "tf_keras", "cluster"),
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
    assert not m.broken, m.flags  # the file is what the recipe asked for
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
    if name in ("two_outputs", "named_heads"):  # each head scored, the first is "the" one
        assert [(o.name, o.metric) for o in m.outputs] == [("level", "top1"), ("score", "mae")]
        assert m.output == "level" and m.accuracy == m.outputs[0].accuracy
        assert m.for_output("score").accuracy <= b.for_output("score").accuracy * 1.5 + 0.02
        # Really int8: attention and other layers tfmot does not annotate are calibrated.
        assert all(f.dtype == "int8" for f in weights), [(f.name, f.dtype) for f in weights]
        assert b.gzip_bytes / m.gzip_bytes > 2
    if technique == "both":
        assert max(f.sparsity for f in weights) >= 0.75, weights


@pytest.mark.parametrize(
    ("name", "recipe"),
    [
        ("lstm", {"quantization": {"mode": "int8", "calibration_samples": 50}}),
        ("two_inputs", {"quantization": {"mode": "int8", "calibration_samples": 50}}),
        ("two_outputs", {"quantization": {"mode": "int8", "qat": True, "epochs": 1}}),
    ],
)
def test_the_exported_script_handles_recurrent_and_multi_io_models(built, tmp_path, name, recipe):
    """The standalone script does what the studio does: an LSTM at batch 1, unrolled;
    several inputs fed by name; each output scored."""
    import re
    import subprocess
    import sys

    from studio.engine.codegen import script_for

    model_path, data_path = built(name, "tf_keras")
    recipe = Recipe.from_dict(recipe)
    studio = optimize(model_path, data_path, recipe, tmp_path / "studio").metrics
    script = tmp_path / "reproduce.py"
    script.write_text(script_for(model_path, data_path, recipe))
    out = tmp_path / f"{name}.tflite"
    done = subprocess.run(
        [sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert {f.dtype for f in weight_figures(out.read_bytes()) if f.count >= 256} == {"int8"}
    accuracy = float(
        re.search(r"top-1 accuracy on \d+ evaluation samples: ([0-9.]+)", done.stdout)[1]
    )
    assert abs(accuracy - studio.accuracy) <= 0.03, (accuracy, studio.accuracy)
    if name == "two_outputs":
        assert re.search(r"output (quant_)?score: MAE on \d+ evaluation samples", done.stdout)


@pytest.mark.parametrize(
    ("name", "flavour"), [("small_cnn", "keras3"), ("mobilenet_v2", "tf_keras")]
)
def test_qat_int8_is_int8_and_at_least_as_accurate_as_plain_int8(built, tmp_path, name, flavour):
    """QAT's ranges started at tfmot's [-6, 6] and never settled in a short fine-tune:
    MobileNetV2 QAT int8 scored 5 points below plain int8."""
    model_path, data_path = built(name, flavour)
    got = {}
    for qat in (False, True):
        recipe = Recipe(quantization=Quantization(mode="int8", qat=qat))
        got[qat] = optimize(model_path, data_path, recipe, tmp_path / str(qat)).metrics
        assert {f.dtype for f in got[qat].layers} == {"int8"}, got[qat].layers
        assert not got[qat].flags, got[qat].flags
    assert got[True].accuracy >= got[False].accuracy - 0.003


def test_the_sensitivity_pass_finds_the_layers_that_break_a_small_cnn(built):
    """Pruned alone to 50 % without fine-tune, the stem (3x3x1 kernels) breaks the model;
    the pointwise and the classifier do not.  The window leaves the stem out of its
    default choice.  The depthwise layer is not measured: tfmot 0.8 neither prunes nor
    clusters DepthwiseConv2D kernels (its registries list no weight for it), so calling
    it fragile for pruning, as this pass once did, blamed a layer pruning never touches."""
    from studio.engine.pipeline import sensitivity
    from studio.values.sensitivity import LayerSensitivity, fragile

    model_path, data_path = built("small_cnn", "tf_keras")
    results = [LayerSensitivity.from_dict(r) for r in sensitivity(model_path, data_path)]
    assert set(fragile(results, "prune")) == {"stem"}
    assert not fragile(results, "cluster")
    assert {r.layer for r in results} == {"stem", "pw", "digit"}  # no BatchNorm, no depthwise


@pytest.mark.parametrize("flavour", ["keras3", "tf_keras"])
def test_the_float_baseline_computes_what_keras_computes(built, tmp_path, flavour):
    """Issue 33: an Embedding + LSTM without mask_zero scored 76 % in Keras and 28 % as
    the studio's float .tflite (fused kernel, batch 1), so every int8 candidate looked
    like a gain of 45 points.  The baseline is checked against Keras and converted
    unrolled when the fused kernel disagrees; its candidates follow."""
    from studio.engine.pipeline import baseline, keras_agreement

    model_path, data_path = built("unmasked_lstm", flavour)
    prep = prepare(model_path, data_path)
    keras_top1 = float(
        np.mean(prep.model.predict(prep.data.x_eval, verbose=0).argmax(-1) == prep.data.y_eval)
    )
    _, figures = baseline(model_path, data_path, tmp_path)
    assert abs(figures.accuracy - keras_top1) <= 0.02, (figures.accuracy, keras_top1)
    reference = predict(
        (tmp_path / "baseline.tflite").read_bytes(),
        prep.data.x_eval,
        inputs=prep.data.inputs,
        outputs=prep.data.outputs,
    )
    assert keras_agreement(prep, reference)[0] >= 0.95
    dynamic = optimize(
        model_path,
        data_path,
        Recipe.from_dict({"quantization": {"mode": "dynamic"}}),
        tmp_path / "d",
    ).metrics
    assert abs(dynamic.accuracy - keras_top1) <= 0.03, (dynamic.accuracy, keras_top1)
