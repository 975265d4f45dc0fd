"""Model files: formats, the trust check before any code runs, damaged files, summaries."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tf_keras as keras

from studio.engine.models import as_functional, inspect_file, load_model
from studio.values.errors import ModelError


def small_sequential():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.layers.InputLayer(input_shape=(8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="c"),
            keras.layers.Flatten(name="f"),
            keras.layers.Dense(10, activation="softmax", name="d"),
        ],
        name="seq",
    )


@pytest.mark.parametrize("suffix", [".keras", ".h5", ""])
def test_each_format_loads_with_same_outputs(tmp_path, suffix):
    model = small_sequential()
    path = tmp_path / f"m{suffix}"
    model.save(path) if suffix else model.save(path, save_format="tf")
    info = inspect_file(path)
    assert info.format == {".keras": "keras", ".h5": "h5", "": "savedmodel"}[suffix]
    assert info.keras_version and info.keras_version.startswith("2.")
    loaded = load_model(path)
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-6)


def test_sequential_becomes_functional_with_same_weights():
    model = small_sequential()
    functional = as_functional(model)
    assert not isinstance(functional, keras.Sequential)
    x = np.ones((2, 8, 8, 1), np.float32)
    np.testing.assert_allclose(functional(x).numpy(), model(x).numpy())
    # The reason it exists: QAT's quantize_model fails on Sequential + InputLayer.
    import tensorflow_model_optimization as tfmot

    tfmot.quantization.keras.quantize_model(functional)


def test_summary_lists_layers_and_what_applies(demo):
    s = demo.summary
    assert s.input.shape == (8, 8, 1) and s.output.shape == (10,) and s.classifier
    by_name = {la.name: la for la in s.layers}
    assert (
        by_name["conv1"].params == 320
        and by_name["conv1"].prunable
        and by_name["conv1"].clusterable
    )
    assert not by_name["pool1"].prunable and by_name["pool1"].params == 0
    assert by_name["conv1"].shape_text() == "8×8×32" and by_name["flatten"].shape_text() == "256"
    assert sum(la.params for la in s.layers) == s.params
    assert s.data is not None and (s.data.train, s.data.eval) == (1438, 359)
    assert len(s.data.classes) == 10 and not s.data.imbalanced()


def test_layers_whose_weights_a_technique_leaves_alone_are_not_offered_for_it():
    """tfmot's registries "support" BatchNormalization (and, for clustering,
    DepthwiseConv2D) with no weight to change: the studio must not list them."""
    from studio.engine.models import summarize

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.DepthwiseConv2D(3, name="dw")(x)
    x = keras.layers.Flatten(name="flat")(x)
    outputs = keras.layers.Dense(2, name="head")(x)
    by_name = {la.name: la for la in summarize(keras.Model(inputs, outputs)).layers}
    assert by_name["conv"].prunable and by_name["conv"].clusterable
    assert by_name["head"].prunable and by_name["head"].clusterable
    assert not by_name["bn"].prunable and not by_name["bn"].clusterable
    assert "BatchNormalization" in by_name["bn"].why_not["pruning"]
    assert (
        not by_name["dw"].clusterable and "DepthwiseConv2D" in by_name["dw"].why_not["clustering"]
    )
    assert by_name["dw"].shape_text() == "4×4×4"


def test_lambda_layer_is_refused_unless_trusted(tmp_path):
    inp = keras.Input((4,))
    out = keras.layers.Dense(2)(keras.layers.Lambda(lambda t: t * 2.0, name="double")(inp))
    path = tmp_path / "lam.h5"
    keras.Model(inp, out).save(path)
    with pytest.raises(ModelError, match=r"lam\.h5 contains code .*Lambda layer .double.*--trust"):
        load_model(path)
    assert load_model(path, trust=True).layers[1].name == "double"


def test_unknown_custom_layer_is_refused(tmp_path):
    class Scale(keras.layers.Layer):
        def call(self, t):
            return t * 3.0

    inp = keras.Input((4,))
    path = tmp_path / "custom.keras"
    keras.Model(inp, Scale(name="scale")(inp)).save(path)
    with pytest.raises(ModelError, match=r"custom layer class\(es\) Scale"):
        load_model(path)
    with pytest.raises(ModelError, match=r"could not be loaded"):
        load_model(path, trust=True)  # trusted, but its code is not importable here


def test_damaged_and_wrong_files(tmp_path, demo):
    with pytest.raises(ModelError, match=r"nope\.keras does not exist"):
        load_model(tmp_path / "nope.keras")
    from studio.values.resources import DEMO_MODEL

    truncated = tmp_path / "cut.keras"
    truncated.write_bytes(DEMO_MODEL.read_bytes()[:5000])
    with pytest.raises(ModelError, match=r"cut\.keras is damaged or truncated"):
        load_model(truncated)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a model")
    with pytest.raises(ModelError, match=r"notes\.txt is not a Keras model file"):
        load_model(notes)
    fake_h5 = tmp_path / "fake.h5"
    fake_h5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 50)
    with pytest.raises(ModelError, match=r"fake\.h5 is not a readable HDF5 file"):
        load_model(fake_h5)
    weights = tmp_path / "w.weights.h5"
    demo.model.save_weights(weights)
    with pytest.raises(ModelError, match=r"holds only weights"):
        load_model(weights)
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(ModelError, match=r"not a SavedModel"):
        load_model(folder)


@pytest.mark.slow
def test_keras3_file_is_detected_without_loading(tmp_path):
    script = textwrap.dedent(f"""
        import os
        os.environ["TF_USE_LEGACY_KERAS"] = "0"
        import keras
        m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        m.save(r"{tmp_path / "k3.keras"}")
        m.save(r"{tmp_path / "k3.h5"}")
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, capture_output=True)
    for name in ("k3.keras", "k3.h5"):
        info = inspect_file(tmp_path / name)
        assert info.keras_version.startswith("3."), name
        assert "Dense" in info.layer_classes, name
        # and it loads, rebuilt as a tf_keras model (tests/test_keras3.py has the rest)
        import tf_keras

        assert isinstance(load_model(tmp_path / name), tf_keras.Model)


def test_nested_models_are_inlined_with_their_weights_and_flags():
    """The transfer-learning shape `Model(head(base(x)))`: techniques see the base's
    layers (one flat graph, the same layer objects), and the outputs do not change."""
    import tf_keras as k

    from studio.engine.models import flattened

    img = k.Input((16, 16, 3))
    y = k.layers.Conv2D(4, 3, name="c1")(img)
    y = k.layers.BatchNormalization(name="bn")(y)
    base = k.Model(img, k.layers.GlobalAveragePooling2D(name="gap")(y), name="base")
    base.trainable = False
    head = k.Sequential([k.layers.Dense(5, name="d0")], name="head")
    outer = k.Input((16, 16, 3), name="image")
    model = k.Model(outer, k.layers.Dense(2, name="out")(head(base(outer, training=False))))
    flat = flattened(model)
    assert [la.name for la in flat.layers] == ["image", "c1", "bn", "gap", "d0", "out"]
    assert flat.get_layer("c1") is base.get_layer("c1") and not flat.get_layer("c1").trainable
    x = np.random.default_rng(0).random((4, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(flat(x), model(x), rtol=1e-6)
    plain = k.Sequential([k.Input((3,)), k.layers.Dense(2)])
    assert flattened(plain) is plain  # nothing nested: the model itself
