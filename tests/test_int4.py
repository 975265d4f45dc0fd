"""int4 weights through the LiteRT Quantizer (studio/engine/int4.py): the recipe's form,
per-op rules read back from the file, a GATHER table made an int4 lookup, and the
one-line message when the optional extra is not installed."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from studio.values import modes
from studio.values.errors import RecipeError
from studio.values.recipe import OpRule, Quantization, Recipe

needs_quantizer = pytest.mark.skipif(
    modes.missing("int4") is not None, reason="the int4 extra is not installed"
)


def test_an_int4_recipe_round_trips_through_json():
    recipe = Recipe(
        quantization=Quantization(
            mode="int4",
            block_size=32,
            op_rules=(OpRule("^digit$", "float"), OpRule("conv", "int8")),
        )
    )
    again = Recipe.from_json(recipe.to_json())
    assert again == recipe
    assert again.quantization.op_rules[0] == OpRule("^digit$", "float")
    assert "blocks of 32" in recipe.describe() and "int4" in recipe.describe()
    # Two recipes that differ only in a rule read differently.
    other = Recipe(quantization=Quantization(mode="int4", block_size=32, op_rules=()))
    assert other.describe() != recipe.describe()


@pytest.mark.parametrize(
    ("quantization", "field", "words"),
    [
        ({"mode": "int4", "block_size": 48}, "quantization.block_size", "32"),
        ({"mode": "dynamic", "block_size": 32}, "quantization.block_size", "int4"),
        ({"mode": "int8", "op_rules": [{"pattern": "a"}]}, "quantization.op_rules", "float_layers"),
        (
            {"mode": "int4", "op_rules": [{"pattern": "(", "precision": "float"}]},
            "pattern",
            "regular",
        ),
        (
            {"mode": "int4", "op_rules": [{"pattern": "a", "precision": "int2"}]},
            "precision",
            "int4",
        ),
        ({"mode": "int4", "op_rules": ["dense"]}, "quantization.op_rules", "object"),
        ({"mode": "int4", "op_rules": [{"pattern": "a", "bits": 4}]}, "bits", "unknown"),
    ],
)
def test_impossible_int4_settings_name_the_field(quantization, field, words):
    with pytest.raises(RecipeError) as err:
        Recipe.from_dict({"quantization": quantization})
    assert field in str(err.value) and words in str(err.value)


def test_a_missing_extra_is_one_line_naming_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "litert_quantizer", None)  # as if not installed
    message = modes.missing("int4")
    assert message is not None and 'pip install "tflite-studio[int4]"' in message
    assert "\n" not in message
    assert "int4" not in [m.name for m in modes.usable()]
    assert modes.missing("int8") is None


@pytest.mark.slow
def test_without_the_extra_the_cli_says_how_to_install_it(tmp_path):
    blocker = tmp_path / "blocked"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nsys.modules['litert_quantizer'] = None\n"
    )
    recipe = tmp_path / "r.json"
    recipe.write_text('{"quantization": {"mode": "int4"}}')
    env = {**os.environ, "PYTHONPATH": f"{blocker}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "studio.cli",
            "optimize",
            "--model",
            "demo",
            "--data",
            "demo",
            "--recipe",
            str(recipe),
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode != 0
    assert 'pip install "tflite-studio[int4]"' in run.stderr
    assert "Traceback" not in run.stderr


@pytest.fixture(scope="module")
def demo_float():
    from studio.engine.convert import convert
    from studio.engine.pipeline import prepare

    prep = prepare("demo", "demo")
    return prep, convert(prep.model, Quantization())


@pytest.mark.slow
@needs_quantizer
def test_a_per_op_rule_keeps_the_named_layer_in_float_and_the_rest_int4(demo_float):
    from studio.engine import int4
    from studio.engine.measure import predict
    from studio.engine.tflite_file import weight_figures

    prep, blob = demo_float
    rules = (OpRule("^digit$", "float"), OpRule("conv1", "int8"))
    quantized = int4.quantize(blob, Quantization(mode="int4", op_rules=rules))
    types = {f.name: f.dtype for f in weight_figures(quantized)}
    assert types == {
        "conv1": "int8",
        "conv2": "int4",
        "conv3": "int4",
        "dense1": "int4",
        "digit": "float32",
    }
    # It runs in LiteRT's default interpreter, and still reads digits.
    scores = predict(
        quantized, prep.data.x_eval, inputs=prep.data.inputs, outputs=prep.data.outputs
    )
    assert np.mean(np.argmax(scores, -1) == prep.data.y_eval) > 0.9
    with pytest.raises(RecipeError, match="conv1, conv2"):  # names the layers there are
        int4.quantize(blob, Quantization(mode="int4", op_rules=(OpRule("lstm", "float"),)))


@pytest.mark.slow
@needs_quantizer
def test_an_embedding_table_becomes_an_int4_lookup_with_the_same_rows(tmp_path):
    import tensorflow as tf
    import tf_keras as keras

    from studio.engine import int4
    from studio.engine.measure import predict
    from studio.engine.tflite_file import weight_figures

    keras.utils.set_random_seed(0)
    tokens = keras.Input((12,), dtype="int32")
    x = keras.layers.Embedding(5000, 64, name="words")(tokens)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(tokens, keras.layers.Dense(4, name="head")(x))
    blob = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    ids = np.random.default_rng(0).integers(0, 5000, (64, 12)).astype(np.int32)
    want = model.predict(ids, verbose=0)
    # The rewrite alone changes no value.
    rewritten = int4.lookups(blob)
    ops = {f.op for f in weight_figures(rewritten)}
    assert "EMBEDDING_LOOKUP" in ops and "GATHER" not in ops
    np.testing.assert_allclose(predict(rewritten, ids), want, atol=1e-5)
    # Quantized: the table is int4 (half of int8's 320,000 bytes, plus a scale per row).
    quantized = int4.quantize(blob, Quantization(mode="int4"))
    table = next(f for f in weight_figures(quantized) if f.name == "words")
    assert (table.op, table.dtype, table.count) == ("EMBEDDING_LOOKUP", "int4", 5000 * 64)
    assert len(quantized) < 5000 * 64 * 0.75
    got = predict(quantized, ids)
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.95


# -- per-tensor fidelity -------------------------------------------------------------


def test_fidelity_figures_round_trip_and_name_the_worst_layers(tmp_path):
    from studio.values.tensor_fidelity import Fidelity, TensorFidelity, read

    out = TensorFidelity("StatefulPartitionedCall:0", "", 1e-4, 40.0)
    figures = Fidelity(
        samples=32,
        threads=2,
        tensors=(
            TensorFidelity("m/conv1/Conv2D", "conv1", 0.01, 30.0),
            TensorFidelity("m/conv1/Relu", "conv1", 0.02, 25.0),
            TensorFidelity("m/dense/MatMul", "dense", 0.5, 12.0),
            TensorFidelity("m/input", "input", 0.0, None),  # identical to float
            TensorFidelity("StatefulPartitionedCall:0", "", 1e-2, 20.0),
        ),
        outputs=(out,),
    )
    figures.save(tmp_path)
    again = read(tmp_path)
    assert again == figures
    assert [t.layer for t in again.worst(2)] == ["dense", ""]
    assert again.by_layer() == {"dense": 12.0, "conv1": 25.0}
    assert "32 evaluation samples, 2 thread(s): outputs 40.0 dB" in again.summary()
    assert "lowest tensor 12.0 dB (dense)" in again.summary()
    # The built-in kernels' output (20 dB) is far from the default path's (40 dB): said.
    assert again.kernels_differ() and "built-in kernels give 20.0 dB" in again.summary()
    (tmp_path / "fidelity.json").write_text("{damaged")
    assert read(tmp_path) is None  # a view, never a reason to refuse a session
    assert "not measured (QAT" in Fidelity(skipped="QAT retrained").summary()


def test_fidelity_is_measured_on_the_users_samples_with_the_stated_threads(monkeypatch):
    pytest.importorskip("litert_quantizer")
    from litert_quantizer import model_validator

    from studio.engine import fidelity

    seen = {}

    class Result:
        def get_all_tensor_results(self):
            return {"m/dense/MatMul": {"mse": 0.01, "snr": 100.0}}

    def compare(reference, target, data, metrics, **options):
        seen.setdefault("data", data)
        seen.setdefault("options", []).append(options)
        return Result()

    monkeypatch.setattr(model_validator, "compare_model", compare)
    monkeypatch.setattr(fidelity, "_signature_inputs", lambda model, x, names: {"sig": list(x)})
    monkeypatch.setattr(fidelity, "tensor_roles", lambda blob: {})  # no real files here
    x = np.arange(50 * 3, dtype=np.float32).reshape(50, 3)
    figures = fidelity.measure(b"float", b"quantized", x, threads=2)
    assert np.array_equal(np.stack(seen["data"]["sig"]), x[: fidelity.SAMPLES])
    assert all(o["num_threads"] == 2 for o in seen["options"])
    # Every tensor on built-in kernels; the outputs again on the default path (XNNPACK).
    assert [(o["validate_output_tensors_only"], o["use_xnnpack"]) for o in seen["options"]] == [
        (False, False),
        (True, True),
    ]
    assert figures.samples == fidelity.SAMPLES and figures.tensors[0].snr_db == pytest.approx(20.0)


def test_tensors_that_share_a_name_but_not_a_size_are_left_out_not_fatal():
    """A float16 or sparse-stored constant keeps its float twin's tensor name with other
    contents; the validator's own functions raised on it and the whole candidate had no
    figures ("data1 & data2 must be of the same size")."""
    pytest.importorskip("litert_quantizer")
    from litert_quantizer.utils import validation_utils

    from studio.engine import fidelity

    mse = fidelity._same_size_only(
        validation_utils.get_validation_func(validation_utils.ValidationErrorMetric.MSE)
    )
    assert mse(np.ones(4), np.zeros(4)) == pytest.approx(1.0)
    assert np.isnan(mse(np.ones(3), np.zeros(4)))
    assert not fidelity._compared({"mse": float("nan"), "snr": float("nan")})
    assert fidelity._compared({"mse": 0.0, "snr": float("inf")})


def test_a_tensor_name_the_converter_shifted_is_not_the_same_tensor():
    """The float16 file's DEQUANTIZE ops take names: its dequantized conv1 bias is named
    what the float file names conv1's output.  Roles tell them apart; the model's output
    (an int8 file's dequantized softmax) keeps its role."""
    import tf_keras as keras

    from studio.engine.convert import convert
    from studio.engine.tflite_file import tensor_roles
    from studio.values.resources import DEMO_MODEL

    model = keras.models.load_model(DEMO_MODEL)
    x = np.random.RandomState(0).rand(8, *model.input_shape[1:]).astype(np.float32)
    twin = tensor_roles(convert(model, Quantization(mode="none"), x))
    half = tensor_roles(convert(model, Quantization(mode="float16"), x))
    int8 = tensor_roles(convert(model, Quantization(mode="int8"), x))
    conv1 = next(n for n, role in twin.items() if role == "CONV_2D" and "conv1" in n)
    assert half[conv1] == "constant" and int8[conv1] == "CONV_2D"
    assert twin["digits_cnn/conv1/Conv2D"] == half["digits_cnn/conv1/Conv2D"] == "constant"
    assert twin["StatefulPartitionedCall:0"] == int8["StatefulPartitionedCall:0"] == "SOFTMAX"


@pytest.mark.slow
@needs_quantizer
@pytest.mark.parametrize(
    "mode, sparse", [("int8", False), ("int4", False), ("float16", False), ("int8", True)]
)
def test_a_quantized_candidate_carries_its_per_tensor_fidelity(tmp_path, mode, sparse):
    from studio.engine.pipeline import optimize
    from studio.engine.tflite_file import graph_ops, op_outputs
    from studio.values.recipe import Pruning
    from studio.values.tensor_fidelity import read

    pruning = Pruning(target_sparsity=0.5, epochs=1, sparse_format=True) if sparse else None
    recipe = Recipe(pruning=pruning, quantization=Quantization(mode=mode))
    optimize("demo", "demo", recipe, tmp_path, threads=2)
    figures = read(tmp_path)
    assert figures is not None and not figures.skipped
    assert (figures.samples, figures.threads) == (32, 2)
    layers = set(figures.by_layer())
    assert {"conv1", "conv2", "conv3", "dense1", "digit"} <= layers
    assert all(snr > 5 for snr in figures.by_layer().values())  # close to float, not noise
    assert figures.output_snr() is not None and figures.output_snr() > 20
    # Each convolution's and Dense layer's output is found by name in the candidate's
    # own file (a sparse one is measured through its dense twin, whose names differ).
    # A float16 file's dequantized weights shift its outputs' names: the validator pairs
    # tensors by name, so those pairs are left out (`tensor_roles`), never mismatched.
    blob = (tmp_path / "model.tflite").read_bytes()
    kinds = {op.index: op.kind for op in graph_ops(blob)}
    made = [n for i, n in op_outputs(blob) if kinds[i] in ("CONV_2D", "FULLY_CONNECTED")]
    named = {t.name for t in figures.tensors}
    assert len(made) == 5 and (set(made) <= named) == (mode != "float16")
    assert ("stored dense" in figures.note) == sparse


def test_sweeps_and_searches_offer_int4_only_where_it_can_be_made(qtbot, monkeypatch):
    from studio.ui.views.sweep_dialog import SweepDialog
    from studio.values.autotune import Knowledge, Space

    knowledge = Knowledge(prunable=(), clusterable=(), train_samples=100, labeled=True)

    def mode_choices() -> tuple[str, ...]:
        return next(d for d in Space.build(knowledge).dimensions if d.name == "mode").choices

    if modes.missing("int4") is None:
        assert "int4" in mode_choices()
        dialog = SweepDialog(Recipe(), [], workers=2)
        qtbot.addWidget(dialog)
        assert dialog.modes["int4"].isEnabled()
    monkeypatch.setitem(sys.modules, "litert_quantizer", None)  # as if not installed
    assert "int4" not in mode_choices()
    dialog = SweepDialog(Recipe(), [], workers=2, ticked=["int4", "int8"])
    qtbot.addWidget(dialog)
    box = dialog.modes["int4"]
    assert not box.isEnabled() and not box.isChecked()
    assert 'pip install "tflite-studio[int4]"' in box.toolTip()


@pytest.mark.slow
@needs_quantizer
def test_blocks_apply_where_the_input_width_is_a_multiple_and_per_channel_elsewhere():
    import tensorflow as tf
    import tf_keras as keras
    from ai_edge_litert import schema_py_generated as schema

    from studio.engine import int4

    keras.utils.set_random_seed(0)
    features = keras.Input((12,))
    hidden = keras.layers.Dense(64, activation="relu", name="narrow")(features)  # 12 wide
    model = keras.Model(features, keras.layers.Dense(3, name="wide")(hidden))  # 64 wide
    blob = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    quantized = int4.quantize(blob, Quantization(mode="int4", block_size=32))
    graph_model = schema.ModelT.InitFromPackedBuf(bytearray(quantized), 0)
    blocked = {}
    for tensor in graph_model.subgraphs[0].tensors:
        if tensor.type == schema.TensorType.INT4:
            details = tensor.quantization.detailsType if tensor.quantization else 0
            blocked[tensor.name.decode().split("/")[1]] = bool(details)
    assert blocked == {"narrow": False, "wide": True}


def test_the_about_box_says_whether_the_int4_extra_is_included(monkeypatch):
    from studio.ui.dialogs import about_text

    if modes.missing("int4") is None:
        assert "int4 (LiteRT Quantizer) 0.11" in about_text()
    monkeypatch.setitem(sys.modules, "litert_quantizer", None)  # as if not installed
    assert 'int4 (LiteRT Quantizer): not installed — pip install "tflite-studio[int4]"' in (
        about_text()
    )


@pytest.mark.slow
@needs_quantizer
def test_pruning_zeros_and_cluster_values_survive_int4_read_from_the_file(tmp_path):
    from studio.engine.pipeline import optimize
    from studio.values.recipe import Clustering, Pruning

    recipe = Recipe(
        pruning=Pruning(target_sparsity=0.5),
        clustering=Clustering(clusters=8),
        quantization=Quantization(mode="int4"),
    )
    metrics = optimize("demo", "demo", recipe, tmp_path).metrics
    layers = {f.name: f for f in metrics.layers}
    assert all(f.dtype == "int4" for f in layers.values()), layers
    big = [f for f in layers.values() if f.count >= 1000]
    assert big and all(f.sparsity >= 0.45 for f in big), [(f.name, f.sparsity) for f in big]
    assert all(f.unique_values <= 8 + 1 for f in big), [(f.name, f.unique_values) for f in big]
    assert not [f for f in metrics.flags if f.broken]
    assert metrics.accuracy > 0.9
