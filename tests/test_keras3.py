"""Keras 3 models: rebuilt in tf_keras with matching outputs, and every technique works.

The models are built here with Keras 3 (the `keras` package) and saved as `.keras` and
`.h5`, the two formats Keras 3 writes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import layer_figures
from studio.engine import keras3
from studio.engine.models import inspect_file, load, load_model
from studio.values.errors import ModelError
from studio.values.recipe import Clustering, Pruning, Quantization, Recipe


def _layers():
    import keras

    keras.utils.set_random_seed(0)
    return keras, keras.layers


def small_cnn():
    keras, L = _layers()
    inp = keras.Input((8, 8, 1), name="pixels")
    x = L.Rescaling(1.0, name="scale")(inp)
    x = L.Conv2D(
        16,
        3,
        padding="same",
        activation="relu",
        name="conv1",
        kernel_regularizer=keras.regularizers.L2(1e-4),
    )(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = L.SeparableConv2D(16, 3, padding="same", activation="relu", name="sep")(x)
    x = L.ZeroPadding2D(1, name="pad")(x)
    x = L.MaxPooling2D(name="pool")(x)
    x = L.Flatten(name="flat")(x)
    x = L.Dropout(0.1, name="drop")(x)
    x = L.Dense(32, activation="relu", name="dense1")(x)
    return keras.Model(inp, L.Dense(10, activation="softmax", name="digit")(x), name="k3_cnn")


def mobilenet_style():
    keras, _ = _layers()
    return keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=5
    )


def text_attention():
    keras, L = _layers()
    inp = keras.Input((16,), dtype="int32", name="tokens")
    x = L.Embedding(100, 16, name="embed")(inp)
    attended = L.MultiHeadAttention(num_heads=2, key_dim=8, name="attention")(x, x)
    x = L.LayerNormalization(name="norm")(L.Add(name="residual")([x, attended]))
    x = L.Conv1D(16, 3, activation="relu", name="conv")(x)
    x = L.GlobalAveragePooling1D(name="gap")(x)
    return keras.Model(inp, L.Dense(3, activation="softmax", name="out")(x), name="k3_text")


def sequential():
    keras, L = _layers()
    return keras.Sequential(
        [
            keras.Input((20,)),
            L.Dense(16, activation="relu"),
            L.Reshape((4, 4)),
            L.Flatten(),
            L.Activation("tanh"),
            L.Dense(2),
        ],
        name="k3_seq",
    )


def nested():
    keras, L = _layers()
    inner = keras.Sequential(
        [keras.Input((8, 8, 3)), L.Conv2D(4, 3, activation="relu"), L.GlobalAveragePooling2D()],
        name="inner",
    )
    inp = keras.Input((8, 8, 3))
    x = L.Concatenate()([inner(inp), L.GlobalAveragePooling2D()(inp)])
    x = L.Multiply()([x, x])
    return keras.Model(inp, L.Dense(3)(x), name="k3_nested")


def keras3_activations():
    """Activations Keras 3 names that tf_keras lacks (`hard_silu`, `relu6`, …) or
    defines differently (`hard_sigmoid`), as MobileNetV3 uses them."""
    keras, L = _layers()
    inp = keras.Input((8, 8, 1), name="pixels")
    x = L.Conv2D(8, 3, padding="same", name="conv1")(inp)
    x = L.Activation("hard_silu", name="hswish")(x)
    gate = L.Activation("hard_sigmoid", name="hsigmoid")(L.Conv2D(8, 1, name="gate")(x))
    x = L.Multiply(name="excite")([x, gate])
    x = L.Flatten(name="flat")(x)
    x = L.Dense(16, activation="relu6", name="dense1")(x)
    x = L.Dense(16, activation="leaky_relu", name="dense2")(x)
    x = L.Dense(16, activation="silu", name="dense3")(x)
    out = L.Dense(10, activation="softmax", name="digit")(x)
    return keras.Model(inp, out)


KINDS = [small_cnn, mobilenet_style, text_attention, sequential, nested, keras3_activations]


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("make", KINDS, ids=lambda f: f.__name__)
def test_keras3_models_rebuild_with_matching_outputs(tmp_path, make, suffix):
    original = make()
    path = tmp_path / f"model{suffix}"
    original.save(path)
    assert inspect_file(path).keras_version.startswith("3.")

    loaded = load(path)
    assert not loaded.limitation
    assert "rebuilt in tf_keras" in loaded.origin
    twin = loaded.model
    import tf_keras

    assert isinstance(twin, tf_keras.Model)
    x = keras3.sample_inputs(original)
    expected = np.asarray(original(x, training=False))
    assert np.max(np.abs(np.asarray(twin(x, training=False)) - expected)) <= 1e-4 * max(
        1.0, np.max(np.abs(expected))
    )
    assert twin.count_params() == original.count_params()


def test_a_rebuild_that_does_not_match_is_an_error(tmp_path):
    original = small_cnn()
    twin = keras3.rebuild(original).model
    kernel = twin.get_layer("dense1")
    weights = kernel.get_weights()
    weights[0] = weights[0] + 0.5
    kernel.set_weights(weights)
    with pytest.raises(keras3.BridgeError, match="does not match"):
        keras3.verify(original, twin)


def _with_rms_norm(tmp_path):
    keras, L = _layers()
    inp = keras.Input((8, 8, 1))
    x = L.Flatten()(inp)
    x = L.Dense(16, activation="relu", name="dense1")(x)
    x = L.RMSNormalization(name="rms")(x)
    model = keras.Model(inp, L.Dense(10, activation="softmax", name="digit")(x))
    path = tmp_path / "rms.keras"
    model.save(path)
    return path


def test_an_untranslatable_layer_is_named_and_ptq_still_works(tmp_path):
    from studio.engine.pipeline import optimize

    path = _with_rms_norm(tmp_path)
    with pytest.raises(keras3.BridgeError, match=r"'rms' \(RMSNormalization\)"):
        load_model(path)
    loaded = load(path)
    assert "'rms' (RMSNormalization)" in loaded.limitation
    assert "post-training quantization still works" in loaded.limitation

    result = optimize(path, "demo", Recipe(quantization=Quantization(mode="int8")), tmp_path / "q")
    assert result.metrics.size_bytes < result.baseline.size_bytes
    assert result.metrics.agreement is not None and result.metrics.agreement > 0.9

    with pytest.raises(ModelError, match=r"pruning cannot run on this model: .*'rms'"):
        optimize(path, "demo", Recipe(pruning=Pruning()), tmp_path / "p")


def test_lambda_in_a_keras3_file_is_refused_unless_trusted(tmp_path):
    keras, L = _layers()
    inp = keras.Input((4,))
    model = keras.Model(inp, L.Lambda(lambda t: t * 2, name="double")(inp))
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(ModelError, match="Lambda"):
        load_model(path)


@pytest.mark.slow
def test_prune_cluster_and_qat_on_a_keras3_model(tmp_path):
    """The Keras 3 CNN, trained on the demo digits, through the whole pipeline."""
    from studio.engine.pipeline import optimize

    path = _trained_on_digits(small_cnn, tmp_path / "k3_cnn.keras", epochs=4)

    recipe = Recipe(
        pruning=Pruning(target_sparsity=0.6, epochs=2),
        clustering=Clustering(clusters=8, epochs=1),
        quantization=Quantization(mode="int8", qat=True, epochs=1),
    )
    result = optimize(path, "demo", recipe, tmp_path / "out")
    assert result.qat_scheme == "PCQAT"
    assert result.baseline.accuracy > 0.85
    assert result.metrics.accuracy > 0.5  # (QAT costs this Rescaling + BN model points;
    # the same architecture built in tf_keras behaves the same, so it is not the bridge)
    figures = layer_figures((tmp_path / "out" / "model.tflite").read_bytes())
    for name in ("conv1", "dense1", "digit"):
        assert figures[name]["sparsity"] >= 0.55, figures[name]  # pruning survived QAT
    # clustering survived too: 8 values (and the pruned zeros); conv1's channels are
    # rescaled by the folded batch norm, so it is not counted here
    for name in ("dense1", "digit"):
        assert figures[name]["unique_values"] <= 9, figures[name]
    assert figures["digit"]["dtype"] == "int8"  # and it is an int8 model
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["qat_scheme"] == "PCQAT"


@pytest.mark.slow
def test_keras3_only_activations_keep_their_meaning_through_qat(tmp_path):
    """MobileNetV3 from Keras 3 failed every technique ('hard_silu' is unknown to
    tf_keras): the rebuilt twin computes the same function and QAT runs on it."""
    from studio.engine.pipeline import optimize

    path = _trained_on_digits(keras3_activations, tmp_path / "k3_act.keras", epochs=8)
    recipe = Recipe(
        pruning=Pruning(target_sparsity=0.5),  # auto epochs: enough steps to get there
        quantization=Quantization(mode="int8", qat=True, epochs=1),
    )
    result = optimize(path, "demo", recipe, tmp_path / "out")
    assert result.qat_scheme == "PQAT" and result.baseline.accuracy > 0.6
    assert result.metrics.accuracy > result.baseline.accuracy - 0.1
    figures = layer_figures((tmp_path / "out" / "model.tflite").read_bytes())
    assert figures["dense1"]["sparsity"] >= 0.45 and figures["digit"]["dtype"] == "int8"


def _trained_on_digits(make, path, *, epochs: int):
    """A Keras 3 model from `make`, trained on the demo digits and saved at `path`."""
    from studio.engine.data import load_data

    data = load_data("demo")
    model = make()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=32, verbose=0)
    model.save(path)
    return path
