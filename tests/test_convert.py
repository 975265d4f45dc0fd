"""Each quantization mode, checked in the written file: weight and activation types."""

import numpy as np
import pytest

from conftest import layer_figures
from studio.engine.convert import convert
from studio.engine.measure import interpreter, predict, score
from studio.values.errors import RecipeError
from studio.values.recipe import Quantization


def io_types(blob):
    interp = interpreter(blob)
    return interp.get_input_details()[0]["dtype"], interp.get_output_details()[0]["dtype"]


def activation_types(blob):
    """dtypes of what the convolution and dense operators compute."""
    interp = interpreter(blob)
    interp.allocate_tensors()
    dtypes = {d["index"]: d["dtype"] for d in interp.get_tensor_details()}
    return {
        dtypes[op["outputs"][0]]
        for op in interp._get_ops_details()
        if op["op_name"] in ("CONV_2D", "FULLY_CONNECTED")
    }


@pytest.mark.parametrize(
    ("mode", "weights", "activations", "max_size_ratio"),
    [
        ("none", {"float32"}, {np.float32}, 1.0),
        ("dynamic", {"int8", "float32"}, {np.float32}, 0.35),  # tiny conv1 stays float
        ("float16", {"float16"}, {np.float32}, 0.55),
        ("int8", {"int8"}, {np.int8}, 0.35),
        ("int16x8", {"int8"}, {np.int16}, 0.35),
    ],
)
def test_mode_shows_in_the_file(demo, mode, weights, activations, max_size_ratio):
    base = convert(demo.model, Quantization())
    blob = convert(demo.model, Quantization(mode=mode), demo.data.calibration(100))
    figures = layer_figures(blob)
    assert {f["dtype"] for f in figures.values()} == weights
    assert figures["dense1"]["dtype"] == next(iter(weights - {"float32"}), "float32")
    assert activation_types(blob) == activations
    assert len(blob) <= max_size_ratio * len(base)
    assert io_types(blob) == (np.float32, np.float32)
    accuracy, _ = score(predict(blob, demo.data.x_eval), demo.data.y_eval)
    assert accuracy > 0.97


@pytest.mark.parametrize(
    ("mode", "io", "dtype"),
    [("int8", "int8", np.int8), ("int8", "uint8", np.uint8), ("int16x8", "int16", np.int16)],
)
def test_integer_inputs_and_outputs(demo, mode, io, dtype):
    blob = convert(demo.model, Quantization(mode=mode, io_type=io), demo.data.calibration(100))
    assert io_types(blob) == (dtype, dtype)
    # The evaluator quantizes float samples on the way in and dequantizes the outputs.
    accuracy, _ = score(predict(blob, demo.data.x_eval), demo.data.y_eval)
    assert accuracy > 0.97


def test_float_layers_stay_float(demo):
    blob = convert(
        demo.model, Quantization(mode="int8", float_layers=("dense1",)), demo.data.calibration(100)
    )
    figures = layer_figures(blob)
    assert figures["dense1"]["dtype"] == "float32"
    assert figures["conv2"]["dtype"] == "int8" and figures["digit"]["dtype"] == "int8"
    with pytest.raises(RecipeError, match=r"float_layers: no operators of layer 'nope'"):
        convert(
            demo.model, Quantization(mode="int8", float_layers=("nope",)), demo.data.calibration(10)
        )


def test_calibration_sample_count_is_used(demo):
    """The same 200 samples on offer: the recipe's count decides how many calibrate.
    A count of 5 gives exactly the file that those first 5 samples alone give (were the
    count ignored, all 200 would calibrate it), and a count of 1 gives another."""
    offered = demo.data.calibration(200)
    assert len(offered) == 200

    def int8(samples: int, data) -> bytes:
        return convert(demo.model, Quantization(mode="int8", calibration_samples=samples), data)

    five = int8(5, offered)
    assert five == int8(5, offered[:5])  # ignored, all 200 would calibrate: another file
    assert int8(1, offered) != five


def test_tensorflow_ops_are_an_explained_opt_in(tmp_path):
    """An operation TFLite's builtins lack: refused with the op named and the way out;
    converted with 'select TF ops' on; and the file is not passed off as measured."""
    import tensorflow as tf
    import tf_keras as keras

    from studio.engine.data import Dataset
    from studio.engine.measure import measure
    from studio.engine.tflite_file import flex_ops
    from studio.values import atomic
    from studio.values.errors import ConversionError, MeasureError

    inp = keras.Input((3, 3))
    det = keras.layers.Lambda(lambda t: tf.linalg.det(t)[:, None], name="det")(inp)
    model = keras.Model(inp, keras.layers.Dense(2, name="out")(det))
    with pytest.raises(ConversionError, match=r"MatrixDeterminant.*Allow TensorFlow ops"):
        convert(model, Quantization())
    blob = convert(model, Quantization(select_tf_ops=True))
    assert flex_ops(blob) == ["FlexMatrixDeterminant"]
    assert flex_ops(convert(model, Quantization(mode="dynamic", select_tf_ops=True))) != []
    path = tmp_path / "flex.tflite"
    atomic.write_bytes(path, blob)
    x = np.random.default_rng(0).random((4, 3, 3), np.float32)
    with pytest.raises(MeasureError, match=r"FlexMatrixDeterminant.*cannot run them"):
        measure(path, Dataset("d", x, None, x, None))
