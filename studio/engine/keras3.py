"""The Keras 3 bridge: rebuild a Keras 3 model as a tf_keras model, weights included.

tfmot 0.8 only works on tf_keras (Keras 2) models, and tf_keras cannot read files saved
by Keras 3.  So a Keras 3 file is loaded with Keras 3 itself (safe mode: no Lambda, no
unknown classes unless trusted), and then every layer is made again as its tf_keras
twin from a translated config, wired up by replaying the Keras 3 graph with tf_keras
tensors, and given the same weights.  The rebuild is then checked: both models run on
the same sample inputs and must agree (a mismatch is an error, never a warning).

Keras 3 saves `keras.ops` calls in a functional graph (a Transformer's
`ops.cumsum(ops.ones_like(tokens))` position ids, masking's `NotEqual`) as operations, not
layers.  They are Keras' own code, so each becomes a `KerasOperation` layer in the twin:
a tf_keras layer that runs the same Keras 3 operation (TensorFlow backend) on its
inputs.  It has no weights, so techniques leave it alone; everything around it is a plain
tf_keras layer that pruning, clustering and QAT can wrap.

A layer with no tf_keras twin raises `BridgeError` naming it; the caller can still
offer post-training quantization of the Keras 3 model, which the converter takes as is.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
import tf_keras

from studio.engine.arrays import Arrays, for_keras, pack
from studio.engine.layer_tree import all_layers
from studio.values.errors import ModelError

TOLERANCE = 1e-4  # max |difference| allowed, relative to the output's scale
SAMPLES = 8

# Keyword arguments every tf_keras layer takes through **kwargs (base Layer).
_BASE_LAYER_KEYS = {"name", "trainable", "dtype"}


class BridgeError(ModelError):
    """A Keras 3 model the bridge cannot rebuild in tf_keras (it names the layer)."""


@dataclass(frozen=True)
class Rebuilt:
    model: tf_keras.Model
    max_abs_diff: float  # between the Keras 3 original and the rebuild, on sample inputs


def load(path: Path, *, trust: bool = False) -> Any:
    """The Keras 3 model in the file (Keras 3's safe mode unless trusted)."""
    import keras

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=not trust)
    except Exception as err:  # Keras raises many kinds; all mean "this file did not load"
        from studio.engine.models import refusal

        raise refusal(path, err, " (Keras 3)") from err
    if not isinstance(model, keras.Model):
        raise ModelError(f"model {path} did not load as a Keras model")
    return model


def rebuild(model: Any) -> Rebuilt:
    """A tf_keras model equal to the Keras 3 `model`, checked on sample inputs."""
    twin = _rebuild_model(model)
    return Rebuilt(twin, verify(model, twin))


def verify(original: Any, twin: tf_keras.Model) -> float:
    """Run both on the same inputs; raise BridgeError if their outputs differ."""
    x = for_keras(sample_inputs(original))
    expected = [np.asarray(t, np.float64) for t in tf.nest.flatten(original(x, training=False))]
    got = [np.asarray(t, np.float64) for t in tf.nest.flatten(twin(x, training=False))]
    shapes = [e.shape for e in expected], [g.shape for g in got]
    if shapes[0] != shapes[1]:
        raise BridgeError(
            f"the tf_keras rebuild of {original.name!r} gives outputs of shape "
            f"{_shown(shapes[1])}, the Keras 3 model {_shown(shapes[0])}"
        )
    diff, scale = 0.0, 1.0
    for e, g in zip(expected, got, strict=True):
        if e.size:
            diff = max(diff, float(np.max(np.abs(e - g))))
            scale = max(scale, float(np.max(np.abs(e))))
    if not np.isfinite(diff) or diff > TOLERANCE * scale:
        raise BridgeError(
            f"the tf_keras rebuild of {original.name!r} does not match the Keras 3 model "
            f"(max |difference| {diff:.3g} on {SAMPLES} sample inputs); its techniques "
            f"cannot be applied safely"
        )
    return diff


def _shown(shapes: list[tuple]) -> str:
    return str(shapes[0]) if len(shapes) == 1 else ", ".join(map(str, shapes))


def sample_inputs(model: Any) -> Arrays:
    """Seeded inputs of the model's shape, one array per input: token ids below the
    smallest vocabulary for integer inputs, standard normal values otherwise."""
    rng = np.random.default_rng(0)
    vocab = min(
        (layer.input_dim for layer in all_layers(model) if hasattr(layer, "input_dim")),
        default=2,
    )
    samples = []
    for spec in model.inputs:
        shape = (SAMPLES, *(d or 8 for d in spec.shape[1:]))
        dtype = np.dtype(str(spec.dtype))
        if np.issubdtype(dtype, np.integer):
            samples.append(rng.integers(0, vocab, size=shape).astype(dtype))
        else:
            samples.append(rng.standard_normal(shape).astype(dtype))
    return pack(samples)


# -- rebuilding ------------------------------------------------------------------------


def _rebuild_model(model: Any) -> tf_keras.Model:
    import keras

    if isinstance(model, keras.Sequential):
        graph = getattr(model, "_functional", None)
        if graph is None:
            raise BridgeError(
                f"Sequential model {model.name!r} has no input shape, so it cannot be "
                f"rebuilt; save it with an Input layer"
            )
    else:
        graph = model
    if not hasattr(graph, "_run_through_graph"):
        raise BridgeError(
            f"model {model.name!r} is a subclassed {type(model).__name__}, whose code the "
            f"file does not hold; only Sequential and functional models can be rebuilt"
        )
    inputs = [
        tf_keras.Input(shape=tuple(t.shape[1:]), dtype=str(t.dtype), name=_input_name(graph, i, t))
        for i, t in enumerate(graph.inputs)
    ]
    twins: dict[int, tuple[Any, Any]] = {}

    def twin_of(operation: Any) -> Any:
        if not isinstance(operation, keras.layers.Layer):
            return functools.partial(KerasOperation.applied, operation)
        if id(operation) not in twins:
            twins[id(operation)] = (operation, _twin_layer(operation))
        return twins[id(operation)][1]

    # Replay the Keras 3 graph node by node, calling each layer's twin on tf_keras
    # tensors (private Keras 3 API, the same one Keras uses to call a functional model).
    outputs = graph._run_through_graph(inputs, operation_fn=twin_of)
    rebuilt = tf_keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs, name=model.name)
    for original, twin in twins.values():
        if not isinstance(original, keras.Model):  # nested models copied their own
            _copy_weights(original, twin)
    return rebuilt


def _input_name(graph: Any, index: int, tensor: Any) -> str:
    history = getattr(tensor, "_keras_history", None)
    layer = getattr(history, "operation", None) if history else None
    return getattr(layer, "name", None) or f"input_{index}"


@functools.cache
def operation_classes() -> dict[str, type]:
    """Keras 3's operation classes by name (`NotEqual`, `Cumsum`, `OnesLike`, …)."""
    from keras.src import ops
    from keras.src.ops.operation import Operation

    modules = [getattr(ops, n, None) for n in ("core", "math", "nn", "numpy", "image", "linalg")]
    return {
        n: v
        for m in modules
        if m is not None
        for n, v in vars(m).items()
        if isinstance(v, type) and issubclass(v, Operation) and v is not Operation
    }


_SLOT = "__studio_input__"


@tf_keras.utils.register_keras_serializable(package="studio")
class KerasOperation(tf_keras.layers.Layer):
    """One Keras 3 operation (`keras.ops.*`) as a tf_keras layer, in plain config.

    `template` is the node's (args, kwargs) with each input tensor replaced by
    `{"__studio_input__": i}`; constants stay where they were.  Like Keras 3's
    operations it passes no mask on (a mask is its own tensor in the graph).
    """

    def __init__(self, operation: str, operation_config: dict, template: Any, **kwargs):
        super().__init__(**kwargs)
        self.operation = operation
        self.operation_config = dict(operation_config)
        self.template = template
        self.supports_masking = True

    @classmethod
    def applied(cls, operation: Any, *args: Any, **kwargs: Any) -> Any:
        """Replace the Keras 3 `operation` called on tf_keras tensors by this layer."""
        name = type(operation).__name__
        if operation_classes().get(name) is not type(operation):
            raise BridgeError(
                f"operation {operation.name!r} ({name}) is not one of Keras' own operations, "
                f"so the model cannot be rebuilt in tf_keras"
            )
        tensors: list[Any] = []
        template = _template((list(args), kwargs), tensors)
        config = {k: v for k, v in operation.get_config().items() if k != "name"}
        layer = cls(name, config, template, name=operation.name)
        return layer(tensors if len(tensors) != 1 else tensors[0])

    def call(self, inputs: Any) -> Any:
        tensors = inputs if isinstance(inputs, list | tuple) else [inputs]
        args, kwargs = _filled(self.template, list(tensors))
        op = operation_classes()[self.operation](**self.operation_config)
        return op(*args, **kwargs)

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "operation": self.operation,
            "operation_config": self.operation_config,
            "template": self.template,
        }


def _template(value: Any, tensors: list[Any]) -> Any:
    from tf_keras.src.engine.keras_tensor import KerasTensor

    if isinstance(value, KerasTensor):
        tensors.append(value)
        return {_SLOT: len(tensors) - 1}
    if isinstance(value, list | tuple):
        return [_template(v, tensors) for v in value]
    if isinstance(value, dict):
        return {k: _template(v, tensors) for k, v in value.items()}
    return value


def _filled(template: Any, tensors: list[Any]) -> Any:
    if isinstance(template, dict) and set(template) == {_SLOT}:
        return tensors[template[_SLOT]]
    if isinstance(template, list):
        return [_filled(v, tensors) for v in template]
    if isinstance(template, dict):
        return {k: _filled(v, tensors) for k, v in template.items()}
    return template


def _twin_layer(layer: Any) -> Any:
    import keras

    if isinstance(layer, keras.Model):
        return _rebuild_model(layer)
    class_name = type(layer).__name__
    module = type(layer).__module__
    twin_class = getattr(tf_keras.layers, class_name, None)
    if twin_class is None or not module.startswith("keras."):
        raise BridgeError(
            f"layer {layer.name!r} ({class_name}) has no tf_keras equivalent, so pruning, "
            f"clustering and QAT cannot be applied to this model; post-training "
            f"quantization still works"
        )
    config = _layer_config(layer.get_config(), twin_class)
    try:
        return twin_class.from_config(config)
    except Exception as err:
        raise BridgeError(
            f"layer {layer.name!r} ({class_name}) could not be rebuilt in tf_keras: "
            f"{str(err).splitlines()[0][:200]}"
        ) from err


def _copy_weights(original: Any, twin: Any) -> None:
    weights = [np.asarray(w) for w in original.get_weights()]
    try:
        twin.set_weights(weights)
    except ValueError as err:
        raise BridgeError(
            f"layer {original.name!r} ({type(original).__name__}): its weights do not fit "
            f"the tf_keras layer ({str(err).splitlines()[0][:200]})"
        ) from err


# -- config translation ----------------------------------------------------------------


def _accepted(cls: type) -> set[str] | None:
    """Keyword arguments the class's constructor names (None: it takes anything)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(vars(klass)["__init__"]).parameters.values()
        names |= {p.name for p in params if p.kind is not p.VAR_KEYWORD and p.name != "self"}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names
    return None


# Keys a tf_keras class's from_config needs that Keras 3 keeps elsewhere (build_config).
_REQUIRED_EXTRA = {
    "MultiHeadAttention": {"query_shape": None, "key_shape": None, "value_shape": None},
}


# Keras 3 activation names that tf_keras lacks, or defines differently: Keras 3's
# `hard_sigmoid` is relu6(x + 3) / 6, tf_keras's a 0.2 slope clipped at ±2.5 (same
# name, other function: MobileNetV3 uses it).  Each becomes a function of its own,
# registered with tf_keras under a name no tf_keras model uses, so the twin keeps the
# Keras 3 meaning and survives tfmot's clone (serialize, then deserialize by name).
def _hard_sigmoid(x: Any) -> Any:
    return tf.nn.relu6(x + 3.0) / 6.0


def _hard_silu(x: Any) -> Any:
    return x * tf.nn.relu6(x + 3.0) / 6.0


def _leaky_relu(x: Any) -> Any:
    return tf.nn.leaky_relu(x, alpha=0.2)  # Keras 3's default negative slope


def _log_softmax(x: Any) -> Any:
    return tf.nn.log_softmax(x, axis=-1)


_KERAS3_ACTIVATIONS = {
    "hard_sigmoid": _hard_sigmoid,
    "hard_silu": _hard_silu,
    "hard_swish": _hard_silu,
    "relu6": tf.nn.relu6,
    "leaky_relu": _leaky_relu,
    "log_softmax": _log_softmax,
}
_ALIASES = {"silu": "swish"}  # the same function under tf_keras's name


@functools.cache
def _activation(name: str) -> str:
    """The tf_keras activation name that computes what Keras 3's `name` computes."""
    if name in _ALIASES:
        return _ALIASES[name]
    function = _KERAS3_ACTIVATIONS.get(name)
    if function is None:
        return name
    registered = f"keras3_{name}"

    def activation(x: Any) -> Any:
        return function(x)

    activation.__name__ = registered
    tf_keras.utils.get_custom_objects()[registered] = activation
    return registered


def _layer_config(config: dict, twin_class: type) -> dict:
    plain = {key: _plain(value) for key, value in config.items()}
    for key in ("activation", "recurrent_activation"):
        if isinstance(plain.get(key), str):
            plain[key] = _activation(plain[key])
    accepted = (_accepted(twin_class) or set(plain)) | _BASE_LAYER_KEYS
    kept = {key: value for key, value in plain.items() if key in accepted}
    return {**_REQUIRED_EXTRA.get(twin_class.__name__, {}), **kept}


def _plain(value: Any) -> Any:
    """Keras 3 serialized objects -> the tf_keras form, recursively.

    Keras 3 writes `{"module", "class_name", "config", "registered_name"}` for dtype
    policies, initializers, regularizers, constraints and activations; tf_keras wants a
    dtype name, `{"class_name", "config"}` with only the keys its class takes, and
    activation names.
    """
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if not isinstance(value, dict):
        return value
    if (
        "class_name" in value
        and "config" in value
        and ("module" in value or "registered_name" in value)
    ):
        class_name, config = value["class_name"], value["config"]
        if class_name.endswith("DTypePolicy"):
            return config.get("name", "float32") if isinstance(config, dict) else config
        if not isinstance(config, dict):  # an activation function, serialized by name
            return config
        for family in (tf_keras.initializers, tf_keras.regularizers, tf_keras.constraints):
            cls = getattr(family, class_name, None)
            if isinstance(cls, type):
                accepted = _accepted(cls)
                kept = {
                    k: _plain(v) for k, v in config.items() if accepted is None or k in accepted
                }
                return {"class_name": class_name, "config": kept}
        return {"class_name": class_name, "config": _plain(config)}
    return {key: _plain(v) for key, v in value.items()}
