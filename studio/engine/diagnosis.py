"""Where does int8 lose accuracy?  Per-layer error, to choose the layers kept in float.

Two views, because neither alone finds every culprit:

- *Error added by each layer* (the ranking).  The int8 model runs with every tensor
  kept; each layer's dequantized output is compared with the float model's output of
  the same layer on the same samples: `output_error` = RMS difference / spread of the
  float output.  Errors flow downstream, so what a layer *adds* is its output error
  minus the largest of its inputs' (`added_error`).  This sees weight rounding too: a
  layer whose int8 weights collapse (an outlier stretching the scale) adds ~1.0.
- *TensorFlow's QuantizationDebugger* statistics, which compare each int8 operator
  with a float twin fed the same inputs and the same int8 weights, so they isolate the
  activations' rounding: `rmse_over_scale` (about 0.29 is plain rounding; much more
  means clipped or badly placed values) and `activation_error` (RMS error / spread).

Keeping the worst layers in float (`quantization.float_layers`) buys accuracy back at
some cost in size and speed.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import tensorflow as tf
import tf_keras as keras

from studio.engine.arrays import Arrays, count, for_keras, parts, sample, take
from studio.engine.convert import converter_for, representative
from studio.engine.measure import io_details, to_input
from studio.engine.tflite_file import layer_of
from studio.values.errors import ConversionError, first_line
from studio.values.metrics import LayerError
from studio.values.recipe import Quantization


def _relative_error(float_values, quantized, scale: float, zero_point: int) -> float:
    f = np.asarray(float_values, dtype=np.float64)
    dequantized = (np.asarray(quantized, dtype=np.int32) - zero_point) * scale
    return _relative(f, dequantized)


def _relative(reference: np.ndarray, value: np.ndarray) -> float:
    spread = float(np.std(reference))
    rms = float(np.sqrt(np.mean((reference - value) ** 2)))
    return rms / spread if spread > 0 else (0.0 if rms == 0 else float("inf"))


def layer_errors(model: keras.Model, calibration: Arrays, samples: int = 100) -> list[LayerError]:
    """Per-layer int8 error of `model`, worst (largest added error) first."""
    from studio.engine.convert import convert

    data = take(calibration, slice(0, samples))
    recipe = Quantization(mode="int8", calibration_samples=samples)
    drift, ops = _output_errors(model, convert(model, recipe, data), data)
    debugger = _debugger_statistics(model, recipe, data)
    errors = []
    for layer in model.layers:
        if layer.name not in drift:
            continue
        inputs = [drift.get(n, 0.0) for n in _inbound(layer)]
        added = max(0.0, drift[layer.name] - max(inputs, default=0.0))
        rmse, activation = debugger.get(layer.name, (None, None))
        errors.append(
            LayerError(layer.name, ops[layer.name], added, drift[layer.name], rmse, activation)
        )
    return sorted(errors, key=lambda e: -e.added_error)


def _inbound(layer: keras.layers.Layer) -> list[str]:
    names = []
    for node in layer._inbound_nodes:  # the functional graph's edges (tf_keras)
        inbound = node.inbound_layers
        for item in inbound if isinstance(inbound, list | tuple) else [inbound]:
            names.append(item.name)
    return names


def _output_errors(
    model: keras.Model, blob: bytes, data: Arrays
) -> tuple[dict[str, float], dict[str, str]]:
    """Each layer's int8 output against its float output (relative RMS error)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # Without XNNPACK: a delegate fuses operators and hides their intermediate tensors.
    interpreter = Interpreter(
        model_content=blob,
        experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interpreter.allocate_tensors()
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    names = {layer.name for layer in model.layers}
    # The model's last activation (softmax, sigmoid) is an operator of its own whose
    # output tensor is renamed to the model's output: that tensor is the layer's output.
    ins, outs = io_details(interpreter, model.input_names, model.output_names)
    output_layers = {o["index"]: name for o, name in zip(outs, model.output_names, strict=True)}
    last: dict[str, tuple[int, str]] = {}  # layer -> (tensor index of its last op, op name)
    for op in interpreter._get_ops_details():
        for index in op["outputs"]:
            layer = output_layers.get(index) or layer_of(details[index]["name"])
            if layer in names:
                last[layer] = (index, op["op_name"])
    chosen = [n for n in (layer.name for layer in model.layers) if n in last]
    if not chosen:
        return {}, {}
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in chosen])
    expected = probe.predict(for_keras(data), verbose=0, batch_size=64)
    expected = expected if isinstance(expected, list) else [expected]
    got: dict[str, list[np.ndarray]] = {n: [] for n in chosen}
    for i in range(count(data)):
        for detail, value in zip(ins, parts(sample(data, i)), strict=True):
            interpreter.set_tensor(detail["index"], to_input(value, detail))
        interpreter.invoke()
        for name in chosen:
            got[name].append(_dequantized(interpreter, details[last[name][0]]))
    drift = {}
    for name, reference in zip(chosen, expected, strict=True):
        value = np.concatenate([g.reshape(1, -1) for g in got[name]])
        reference = np.asarray(reference, dtype=np.float64).reshape(count(data), -1)
        if value.shape == reference.shape:
            drift[name] = _relative(reference, value)
    return drift, {n: last[n][1] for n in drift}


def _dequantized(interpreter, detail: dict) -> np.ndarray:
    value = interpreter.get_tensor(detail["index"]).astype(np.float64)
    params = detail["quantization_parameters"]
    if detail["dtype"] in (np.int8, np.uint8, np.int16, np.int32) and len(params["scales"]):
        return (value - params["zero_points"][0]) * params["scales"][0]
    return value


def _debugger_statistics(
    model: keras.Model, recipe: Quantization, data: Arrays
) -> dict[str, tuple[float, float]]:
    """layer -> (rmse/scale, activation error) from QuantizationDebugger (worst op)."""
    converter = converter_for(model, recipe, data, qat=False)
    options = tf.lite.experimental.QuantizationDebugOptions(
        layer_direct_compare_metrics={"activation_error": _relative_error}
    )
    try:
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter,
            debug_dataset=representative(model, data, recipe),
            debug_options=options,
        )
        # Its own metrics cast NaN (an op with an empty range) to integers; numpy's
        # "invalid value encountered in cast" then read like an error of ours.
        with np.errstate(invalid="ignore"):
            debugger.run()
    except Exception as err:
        raise ConversionError(f"the quantization debugger failed: {first_line(err)}") from err
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    dump.seek(0)
    stats: dict[str, tuple[float, float]] = {}
    for row in csv.DictReader(dump):
        layer = layer_of(row["tensor_name"])
        scale = float(row["scale"]) or 1.0
        figures = (
            float(np.sqrt(float(row["mean_squared_error"]))) / scale,
            float(row["activation_error"]),
        )
        if layer not in stats or figures[1] > stats[layer][1]:
            stats[layer] = figures
    return stats
