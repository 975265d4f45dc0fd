"""The sparse-speed advisor (studio/values/sparse_speed.py) on graphs the converter made,
and reading weights the converter stored sparse (studio/engine/tflite_file.py).

Each model below meets XNNPACK's sparse-inference rules but one; the verdict must name
that rule and the operator, and only the model that meets them all gets "applies".
"""

from __future__ import annotations

import numpy as np
import pytest

import studio  # noqa: F401  (tf_keras before TensorFlow)

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("tf_keras")
L = keras.layers

SPARSE = "sparse"
DYNAMIC = "dynamic"
DENSE = "dense"


def _model(stem="padded", dw_stride2="padded", end="mean", zeros=0.8, middle=None):
    keras.utils.set_random_seed(0)
    i = keras.Input((32, 32, 3))
    x = i
    if stem == "same":
        x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="stem")(x)
    elif stem == "5x5":
        x = L.ZeroPadding2D(2)(x)
        x = L.Conv2D(8, 5, strides=2, padding="valid", name="stem")(x)
    elif stem == "mixed":  # a 1x1 colour mix before the first 3x3 convolution
        x = L.Conv2D(3, 1, name="mix")(x)
        x = L.ZeroPadding2D(1)(x)
        x = L.Conv2D(8, 3, strides=2, padding="valid", name="stem")(x)
    else:
        x = L.ZeroPadding2D(1)(x)
        x = L.Conv2D(8, 3, strides=2, padding="valid", activation="relu", name="stem")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(x)
    if middle == "full3x3":
        x = L.Conv2D(16, 3, padding="same", name="full3x3")(x)
    x = L.Conv2D(32, 1, activation="relu", name="pw")(x)
    if dw_stride2 == "same":
        x = L.DepthwiseConv2D(3, strides=2, padding="same", name="dw2")(x)
    else:
        x = L.ZeroPadding2D(1)(x)
        x = L.DepthwiseConv2D(3, strides=2, padding="valid", name="dw2")(x)
    x = L.Conv2D(64, 1, name="pw2")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x) if end == "mean" else L.Flatten(name="flatten")(x)
    model = keras.Model(i, L.Dense(10, name="head")(x))
    rng = np.random.RandomState(0)
    for layer in model.layers:
        if layer.name.startswith("pw"):
            kernel, bias = layer.get_weights()
            kernel[rng.rand(*kernel.shape) < zeros] = 0
            layer.set_weights([kernel, bias])
    return model


def _convert(model, storage=SPARSE) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = {
        SPARSE: [tf.lite.Optimize.EXPERIMENTAL_SPARSITY],
        DYNAMIC: [tf.lite.Optimize.DEFAULT, tf.lite.Optimize.EXPERIMENTAL_SPARSITY],
        DENSE: [],
    }[storage]
    return converter.convert()


def _advice(model, storage=SPARSE):
    from studio.engine.tflite_file import graph_ops
    from studio.values.sparse_speed import SparseAdvice, advise

    advice = advise(graph_ops(_convert(model, storage)))
    assert SparseAdvice.from_dict(advice.to_dict()) == advice
    return advice


def test_a_model_that_meets_every_rule_gets_sparse_inference():
    advice = _advice(_model())
    assert advice.applies and advice.problems == ()
    assert advice.zeros == pytest.approx(0.8, abs=0.03)
    assert "applies" in advice.summary()


@pytest.mark.parametrize(
    ("model", "storage", "rule", "layer", "words"),
    [
        ({}, DENSE, "storage", "", "pruning.sparse_format"),
        ({}, DYNAMIC, "float", "pw2", "int8 weights"),
        ({"stem": "same"}, SPARSE, "start", "stem", "TensorFlow 'same'"),
        ({"stem": "5x5"}, SPARSE, "start", "stem", "5x5"),
        ({"stem": "mixed"}, SPARSE, "start", "mix", "1x1"),
        ({"dw_stride2": "same"}, SPARSE, "op", "dw2", "TensorFlow SAME"),
        ({"middle": "full3x3"}, SPARSE, "op", "full3x3", "full convolution"),
        ({"end": "flatten"}, SPARSE, "op", "flatten", "GlobalAveragePooling2D"),
        ({"zeros": 0.5}, SPARSE, "zeros", "", "75 %"),
    ],
)
def test_each_broken_rule_is_named_with_its_operator(model, storage, rule, layer, words):
    advice = _advice(_model(**model), storage)
    assert not advice.applies
    [problem] = advice.problems
    assert problem.rule == rule
    assert problem.layer == layer
    if layer:
        assert f"({layer})" in problem.message and problem.op is not None
    assert words in problem.message + problem.fix
    assert advice.summary().startswith("No sparse speed-up:")


def test_weights_stored_sparse_read_back_as_the_dense_file_holds_them():
    """The converter's sparse storage (DENSIFY + CSR) decoded: the same per-layer figures
    as the dense file of the same model, and a much smaller file."""
    from studio.engine.tflite_file import weight_figures

    model = _model()
    sparse, dense = _convert(model), _convert(model, DENSE)
    assert len(sparse) < 0.8 * len(dense)

    def figures(blob):
        return {(f.name, f.op): (f.count, f.sparsity, f.unique_values) for f in weight_figures(blob)}

    assert figures(sparse) == figures(dense)
    assert figures(sparse)[("pw2", "CONV_2D")][1] == pytest.approx(0.8, abs=0.03)


def test_the_limits_say_what_never_speeds_up():
    from studio.values.sparse_speed import LIMITS

    text = " ".join(LIMITS)
    for words in ("2:4", "int8", "Dense", "AVX"):
        assert words in text
