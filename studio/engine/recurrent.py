"""Making recurrent models (LSTM, GRU, SimpleRNN, Bidirectional) convertible.

Two facts about TensorFlow's converter (2.21) decide what happens here:

- A Keras RNN converts to TFLite's fused sequence kernels only when the batch dimension
  is fixed; with a dynamic batch the converter fails ("'tf.TensorListReserve' op requires
  element_shape to be static").  So the model is converted through a twin whose input
  has batch size 1 (the phone runs one sample at a time anyway).
- int8 calibration of the fused kernels crashes the converter's process (every GRU, and
  an LSTM behind a mask: tried with batch 1, with the old and the new quantizer).  For
  the full-integer modes the recurrent layers are therefore *unrolled* over the
  sequence's fixed length: the loop becomes plain FULLY_CONNECTED/MUL/ADD/LOGISTIC/TANH
  operators, which quantize like any other (same weights, stored once).  The price is a
  larger graph, stated in the candidate's notes.  A GRU is unrolled for dynamic-range
  quantization too: it has no fused kernel, and its loop's weights would stay float.

Works on tf_keras and Keras 3 models alike (a Keras 3 model the bridge could not
rebuild is converted as is).
"""

from __future__ import annotations

from typing import Any

from studio.engine.layer_tree import all_layers
from studio.values import modes
from studio.values.errors import ConversionError


def _keras_of(model: Any) -> Any:
    import tf_keras

    if isinstance(model, tf_keras.Model):
        return tf_keras
    import keras

    return keras


def recurrent_layers(model: Any) -> list[str]:
    """Names of the model's recurrent layers (a Bidirectional counts once)."""
    keras = _keras_of(model)
    kinds = (keras.layers.RNN, keras.layers.Bidirectional)
    return [layer.name for layer in all_layers(model) if isinstance(layer, kinds)]


def for_conversion(
    model: Any,
    mode: str,
    sample_shapes: tuple[tuple[int, ...], ...] | None,
    *,
    unroll: bool = False,
) -> Any:
    """The model to hand the converter: itself when it has no recurrent layer; else a
    batch-1 twin sharing its weights, with recurrent layers unrolled for int8/int16x8.

    `sample_shapes`: one sample's shape per input, used to fix dimensions the model
    leaves open (unrolling needs the sequence length).
    """
    if not recurrent_layers(model):
        return model
    keras = _keras_of(model)
    unroll = unroll or unrolls(model, mode)
    if all(t.shape[0] == 1 for t in model.inputs) and not unroll:
        return model  # already a batch-1 twin (selective quantization converts it again)
    names = list(getattr(model, "input_names", None) or [None] * len(model.inputs))
    inputs = []
    for i, (spec, name) in enumerate(zip(model.inputs, names, strict=True)):
        shape = tuple(spec.shape[1:])
        steps = sample_shapes[i] if sample_shapes and i < len(sample_shapes) else None
        if steps is not None and len(steps) == len(shape):
            shape = tuple(d if d is not None else int(t) for d, t in zip(shape, steps, strict=True))
        if None in shape and unroll:
            raise ConversionError(
                f"mode {mode!r}: the recurrent layers ({', '.join(recurrent_layers(model))}) "
                f"are unrolled for full-integer conversion, which needs a fixed sequence "
                f"length; the model's input {shape} leaves it open and no sample fixes it"
            )
        inputs.append(keras.Input(shape=shape, batch_size=1, dtype=spec.dtype, name=name))
    return _twin(model, inputs, keras, unroll=unroll)


def unrolls(model: Any, mode: str) -> bool:
    """Whether `for_conversion` unrolls the model's recurrent layers for this mode."""
    if not recurrent_layers(model):
        return False
    if modes.full_integer(mode):
        return True
    keras = _keras_of(model)
    unfused = [la for la in all_layers(model) if isinstance(la, keras.layers.GRU)]
    return mode == "dynamic" and bool(unfused)


def conversion_note(model: Any, mode: str) -> str:
    """What the candidate's file differs in from the Keras model, in a user's words."""
    if not unrolls(model, mode):
        return ""
    return (
        f"recurrent layers ({', '.join(recurrent_layers(model))}) were unrolled over the "
        f"sequence for {mode} conversion (TFLite's fused kernels cannot be quantized this "
        f"way): same weights, a larger graph"
    )


def _twin(model: Any, inputs: list, keras: Any, *, unroll: bool) -> Any:
    """A clone on `inputs` (batch 1) whose layers are the model's own objects, shared,
    except recurrent layers when `unroll`: copies with `unroll=True` (weights copied).
    A clone keeps the output layers' names, which name a multi-output file's outputs."""
    copies: list[tuple[Any, Any]] = []

    def clone(layer: Any) -> Any:
        if hasattr(layer, "layers"):  # a nested model: unroll inside it (any batch)
            if not unroll or not recurrent_layers(layer):
                return layer
            return keras.models.clone_model(layer, clone_function=clone)
        if not unroll or not isinstance(layer, keras.layers.RNN | keras.layers.Bidirectional):
            return layer
        config = _with_unroll(layer.get_config())
        twin = type(layer).from_config(config)
        copies.append((layer, twin))
        return twin

    fixed = inputs[0] if len(inputs) == 1 else inputs
    twin = keras.models.clone_model(model, input_tensors=fixed, clone_function=clone)
    for original, copy in copies:
        copy.set_weights(original.get_weights())
    return twin


def _with_unroll(config: dict) -> dict:
    """The layer's config with unroll=True, for a Bidirectional's inner layers too."""
    config = dict(config)
    if "unroll" in config:
        config["unroll"] = True
    for key in ("layer", "backward_layer"):
        inner = config.get(key)
        if isinstance(inner, dict) and isinstance(inner.get("config"), dict):
            config[key] = {**inner, "config": _with_unroll(inner["config"])}
    return config
