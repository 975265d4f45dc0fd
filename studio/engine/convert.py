"""Keras model -> .tflite bytes, for each quantization mode.

| mode     | weights | activations | needs calibration data |
| none     | float32 | float32     | no  |
| dynamic  | int8    | float32     | no  |
| float16  | float16 | float32     | no  |
| int8     | int8    | int8        | yes |
| int16x8  | int8    | int16       | yes |
| int4     | int4    | float32     | no  (the LiteRT Quantizer on the float file, int4.py) |

Selective quantization (layers kept in float) goes through TensorFlow's
QuantizationDebugger, which can deny-list the operators of the named layers.
"""

from __future__ import annotations

import re

import tensorflow as tf
import tf_keras as keras

from studio.engine import int4
from studio.engine.arrays import Arrays, count, parts, take
from studio.engine.layer_tree import all_layers
from studio.engine.recurrent import for_conversion
from studio.engine.tflite_file import tensor_names
from studio.values import modes
from studio.values.errors import ConversionError, RecipeError
from studio.values.recipe import Quantization

IO_DTYPES = {"float32": tf.float32, "int8": tf.int8, "uint8": tf.uint8, "int16": tf.int16}


def convert(
    model: keras.Model,
    recipe: Quantization,
    calibration: Arrays | None = None,
    *,
    qat: bool = False,
    unroll: bool = False,
    float_model: bytes | None = None,
    sparse: bool = False,
) -> bytes:
    """Convert with the recipe's mode.  `calibration` holds samples in the model's dtype
    (for recurrent models they also fix the sequence length; see `recurrent.py`);
    `unroll`: recurrent layers unrolled whatever the mode (a fused kernel can disagree
    with Keras, see `pipeline._baseline`); `float_model`: this model's float file when
    the caller made it already (int4 starts from it); `sparse`: pruned weights stored in
    the converter's sparse format (`pruning.sparse_format`)."""
    if recipe.mode == "int4":
        # The LiteRT Quantizer starts from the float file this function makes.
        if float_model is None:
            float_model = convert(model, float_twin(recipe), calibration, unroll=unroll)
        return int4.quantize(float_model, recipe)
    shapes = None
    if calibration is not None and count(calibration):
        shapes = tuple(p.shape[1:] for p in parts(calibration))
    model = for_conversion(model, recipe.mode, shapes, unroll=unroll)
    converter = converter_for(model, recipe, calibration, qat=qat, sparse=sparse)
    try:
        if recipe.float_layers and not qat:
            return _selective(model, converter, recipe, calibration)
        return bytes(converter.convert())
    except (RecipeError, ConversionError):
        raise
    except Exception as err:
        raise ConversionError(failure(model, recipe.mode, err)) from err


def float_twin(recipe: Quantization) -> Quantization:
    """The recipe of a quantized candidate's float file (what int4 quantizes, what its
    fidelity is measured against): no quantization, the same operator sets."""
    return Quantization(select_tf_ops=recipe.select_tf_ops)


def failure(model: keras.Model, mode: str, err: Exception) -> str:
    """The converter's error in one line, naming the mode and the layer it points at."""
    text = str(err)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    detail = next((ln for ln in lines if "error" in ln.lower()), lines[0] if lines else "")
    what = "the float model (mode 'none')" if mode == "none" else f"mode {mode!r}"
    layers = [la.name for la in all_layers(model) if f"/{la.name}/" in text]
    where = f" at layer {layers[0]!r}" if layers else ""
    hint = ""
    if "ops_select" in text:
        ops = re.search(r"TF Select ops: ([^\n]+)", text)
        named = f" ({ops[1].strip()[:120]})" if ops else ""
        hint = (
            f"; the model uses TensorFlow operations TFLite's builtin set lacks{named}: "
            f"replace them, or switch 'Allow TensorFlow ops' on in Quantization (the app "
            f"then needs the larger select-TF-ops runtime)"
        )
    return f"the TFLite converter failed on {what}{where}: {detail.strip()[:400]}{hint}"


def converter_for(
    model: keras.Model,
    recipe: Quantization,
    calibration: Arrays | None,
    *,
    qat: bool,
    sparse: bool = False,
) -> tf.lite.TFLiteConverter:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    _configure(converter, recipe, model, calibration, qat=qat)
    if sparse:
        # Weights with enough zeros are stored as their non-zeros and positions: float
        # ones behind a DENSIFY op (what XNNPACK's sparse kernels read), int8 ones
        # consumed sparse by the built-in kernels (see tflite_file.needs_builtin_kernels).
        converter.optimizations = [
            *converter.optimizations,
            tf.lite.Optimize.EXPERIMENTAL_SPARSITY,
        ]
    if recipe.select_tf_ops:
        # Builtins first; TensorFlow's kernels only for what they cannot express.
        converter.target_spec.supported_ops = {
            *converter.target_spec.supported_ops,
            tf.lite.OpsSet.TFLITE_BUILTINS,
            tf.lite.OpsSet.SELECT_TF_OPS,
        }
    return converter


def _configure(
    converter: tf.lite.TFLiteConverter,
    recipe: Quantization,
    model: keras.Model,
    calibration: Arrays | None,
    *,
    qat: bool,
) -> None:
    mode = recipe.mode
    if mode == "none":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif qat:
        # A QAT model carries ranges for the layers tfmot annotated; the rest (attention,
        # recurrent cells, layers it cannot wrap) would stay float32 without calibration,
        # and the file would be "QAT int8" in name only.  Calibration data fills in those
        # ranges; no int8-only restriction (layers kept in float need float kernels).
        if calibration is not None and count(calibration):
            converter.representative_dataset = representative(model, calibration, recipe)
    elif modes.calibrated(mode):
        if calibration is None or not count(calibration):
            raise ConversionError(f"mode {mode!r} needs calibration samples; none were given")
        converter.representative_dataset = representative(model, calibration, recipe)
        if mode == "int16x8":
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            ]
        elif recipe.float_layers:
            # Float-kept operators need float kernels next to the int8 ones.
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                tf.lite.OpsSet.TFLITE_BUILTINS,
            ]
        else:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if modes.calibrated(mode) and recipe.io_type != "float32":
        converter.inference_input_type = IO_DTYPES[recipe.io_type]
        converter.inference_output_type = IO_DTYPES[recipe.io_type]


def representative(model: keras.Model, calibration: Arrays, recipe: Quantization):
    """The converter's representative dataset: the recipe's number of samples, one at a
    time (batch 1, as the phone runs them).  Several inputs go by name: the converter
    orders a signature's inputs by name, not as the Keras model lists them."""
    samples = take(calibration, slice(0, recipe.calibration_samples))
    if not isinstance(samples, tuple):
        return lambda: ([s[None]] for s in samples)
    names = list(model.input_names)
    return lambda: (
        {n: p[i : i + 1] for n, p in zip(names, samples, strict=True)}
        for i in range(count(samples))
    )


def float_nodes(float_model: bytes, layers: tuple[str, ...]) -> list[str]:
    """Operator outputs that belong to the named layers (`model/dense1/MatMul;…`)."""
    nodes = []
    for layer in layers:
        mine = [
            n
            for n in tensor_names(float_model)
            if any(layer in part.split("/")[:-1] for part in n.split(";"))
        ]
        if not mine:
            raise RecipeError(
                f"quantization.float_layers: no operators of layer '{layer}' "
                f"were found in the converted model"
            )
        nodes += mine
    return nodes


def _selective(
    model: keras.Model,
    converter: tf.lite.TFLiteConverter,
    recipe: Quantization,
    calibration: Arrays,
) -> bytes:
    plain = convert(model, Quantization())
    options = tf.lite.experimental.QuantizationDebugOptions(
        denylisted_nodes=float_nodes(plain, recipe.float_layers)
    )
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter,
        debug_dataset=representative(model, calibration, recipe),
        debug_options=options,
    )
    return bytes(debugger.get_nondebug_quantized_model())
