"""Per-layer quantization error finds the layer that int8 ruins, and keeping that layer
in float (selective quantization) buys the accuracy back."""

from __future__ import annotations

import numpy as np
import pytest

from studio.engine.pipeline import diagnose, optimize
from studio.values.recipe import Quantization, Recipe


@pytest.fixture(scope="module")
def fragile_model(tmp_path_factory):
    """A digits MLP whose first Dense has an outlier weight row on an always-zero pixel.

    In float the row does nothing (the pixel is 0 in every sample), so accuracy is
    untouched; in int8 each output channel's weight scale is set by the outlier, and all
    the real weights round to zero.  One layer dominates the error.
    """
    import tf_keras as keras

    from studio.engine.data import load_data

    data = load_data("demo")
    flat = data.x_train.reshape(len(data.x_train), -1)
    dead = int(np.where(flat.max(axis=0) == 0)[0][0])
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1), name="pixels")
    x = keras.layers.Flatten(name="flat")(inp)
    x = keras.layers.Dense(64, activation="relu", name="hidden")(x)
    x = keras.layers.Dense(32, activation="relu", name="middle")(x)
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax", name="digit")(x))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, epochs=15, batch_size=32, verbose=0)
    kernel, bias = model.get_layer("hidden").get_weights()
    kernel[dead, :] = 500.0
    model.get_layer("hidden").set_weights([kernel, bias])
    path = tmp_path_factory.mktemp("fragile") / "fragile.keras"
    model.save(path)
    return path


def test_diagnosis_ranks_the_ruined_layer_first(fragile_model):
    errors = diagnose(fragile_model, "demo", samples=64)
    assert errors[0]["layer"] == "hidden", errors
    assert errors[0]["added_error"] > 0.5
    assert errors[0]["added_error"] > 3 * errors[1]["added_error"], errors
    assert errors[0]["rmse_over_scale"] > 10  # TF's debugger agrees (0.29 is plain rounding)
    assert {"layer", "op", "output_error", "rmse_over_scale", "activation_error"} <= set(errors[0])


@pytest.mark.slow
def test_keeping_the_worst_layer_in_float_restores_accuracy(fragile_model, tmp_path):
    plain = optimize(
        fragile_model, "demo", Recipe(quantization=Quantization(mode="int8")), tmp_path / "int8"
    )
    selective = optimize(
        fragile_model,
        "demo",
        Recipe(quantization=Quantization(mode="int8", float_layers=("hidden",))),
        tmp_path / "selective",
    )
    float_acc = plain.baseline.accuracy
    assert float_acc > 0.9
    assert plain.metrics.accuracy < float_acc - 0.2  # int8 ruins it
    assert selective.metrics.accuracy > float_acc - 0.02  # float "hidden" restores it
    assert plain.metrics.size_bytes < selective.metrics.size_bytes < plain.baseline.size_bytes
