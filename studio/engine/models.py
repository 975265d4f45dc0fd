"""Model files: inspect without running code, load into tf_keras, summarize as plain data.

Keras files can carry code: a `Lambda` layer is Python bytecode, and an unknown custom
layer needs code from somewhere.  Before anything is deserialized, the file's whole JSON
tree is walked (`studio.values.trust`) and every object in it must be one of Keras' own
classes; anything that carries or names code is refused unless the caller explicitly
trusts the file (SECURITY.md).

Keras 3 files do not load into tf_keras (which tfmot needs); they are detected from the
file's metadata and rebuilt in tf_keras by `studio.engine.keras3`.
"""

from __future__ import annotations

import functools
import json
import os
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
import tf_keras as keras

from studio.engine.arrays import Arrays, for_keras, take
from studio.engine.layer_tree import all_layers, leaf_layers
from studio.values import fidelity, trust
from studio.values.errors import ModelError, UntrustedModelError, first_line, reading_problem
from studio.values.metrics import InputSpec, LayerInfo, ModelSummary
from studio.values.resources import DEMO, DEMO_MODEL

CONTAINER_CLASSES = {"Functional", "Sequential", "Model"}


@dataclass(frozen=True)
class ModelFile:
    """What a model file is, read without executing anything in it."""

    path: Path
    format: str  # "keras", "h5" or "savedmodel"
    keras_version: str | None
    layer_classes: tuple[str, ...]
    findings: tuple[trust.Finding, ...] = ()  # what is not plainly Keras' own
    # Each layer as the file describes it: what the built model is checked against.
    layers: Mapping[str, tuple[str, dict]] = field(default_factory=dict)


def resolve(source: str | os.PathLike) -> Path:
    return DEMO_MODEL if str(source) == DEMO else Path(source)


def inspect_file(source: str | os.PathLike) -> ModelFile:
    """Identify the format and Keras version and list the layer classes, without loading."""
    path = resolve(source)
    if not path.exists():
        raise ModelError(
            f"model {path} does not exist; give a .keras or .h5 file or a SavedModel folder"
        )
    if path.is_dir():
        return _inspect_savedmodel(path)
    suffix = path.suffix.lower()
    if suffix == ".keras" or zipfile.is_zipfile(path):
        return _inspect_keras_zip(path)
    if suffix in (".h5", ".hdf5") or _is_hdf5(path):
        return _inspect_h5(path)
    raise ModelError(f"model {path} is not a Keras model file (.keras, .h5) or SavedModel folder")


def _is_hdf5(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == b"\x89HDF\r\n\x1a\n"


def _inspect_keras_zip(path: Path) -> ModelFile:
    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
            meta = json.loads(z.read("metadata.json")) if "metadata.json" in z.namelist() else {}
    except zipfile.BadZipFile as err:
        raise ModelError(
            f"model {path} is damaged or truncated (not a complete .keras zip "
            f"archive); save or copy it again"
        ) from err
    except KeyError as err:
        raise ModelError(
            f"model {path} is a zip archive but not a .keras model (no config.json inside)"
        ) from err
    except (ValueError, OSError) as err:
        raise ModelError(f"model {path} cannot be read: {err}") from err
    # The root compile_config is never deserialized (compile=False); see trust.scan.
    compiled = config.pop("compile_config", None) if isinstance(config, dict) else None
    return _model_file(path, "keras", meta.get("keras_version"), config, compiled)


def _inspect_h5(path: Path) -> ModelFile:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
            training = f.attrs.get("training_config")  # scanned too, never deserialized
            version = f.attrs.get("keras_version")
    except OSError as err:
        raise ModelError(
            f"model {path} is not a readable HDF5 file ({err}); it may be truncated; "
            f"save or copy it again"
        ) from err
    if raw is None:
        raise ModelError(
            f"model {path} holds only weights, no architecture; save the whole "
            f"model with model.save()"
        )
    version = version.decode() if isinstance(version, bytes) else version
    return _model_file(path, "h5", version, _json(path, raw), _json(path, training))


def _inspect_savedmodel(path: Path) -> ModelFile:
    if not (path / "saved_model.pb").exists():
        raise ModelError(f"folder {path} is not a SavedModel (no saved_model.pb inside)")
    meta = path / "keras_metadata.pb"
    if not meta.exists():
        raise ModelError(
            f"SavedModel {path} was not saved by Keras (no keras_metadata.pb); "
            f"the studio needs the Keras model to prune, cluster or fine-tune it"
        )
    from tf_keras.protobuf import saved_metadata_pb2

    proto = saved_metadata_pb2.SavedMetadata()
    try:
        proto.ParseFromString(meta.read_bytes())
        trees = [json.loads(node.metadata) for node in proto.nodes]
    except Exception as err:  # protobuf's DecodeError or bad JSON: either way damaged
        raise ModelError(
            f"SavedModel {path} has a damaged keras_metadata.pb ({first_line(err)}); "
            f"save the model again"
        ) from err
    versions = [t.get("keras_version") for t in trees if isinstance(t, dict)]
    version = next((v for v in versions if isinstance(v, str)), None)
    return _model_file(path, "savedmodel", version, trees)


def _json(path: Path, raw: Any) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise ModelError(
            f"model {path} has a damaged architecture ({reading_problem(err)}); save it again"
        ) from err


def _model_file(
    path: Path, fmt: str, version: str | None, tree: Any, compiled: Any = None
) -> ModelFile:
    """Walk the file's whole JSON (`studio.values.trust`); `compiled` is its top-level
    compile section, which loading with compile=False never deserializes."""
    allowed = _builtin_keras3_classes() if _keras3_version(version) else _builtin_classes()
    findings = trust.scan(tree, allowed, unknown_allowed=fmt == "savedmodel")
    findings += trust.scan(compiled, allowed, code_only=True)
    layers = fidelity.file_layers(tree) if fmt != "savedmodel" else {}
    return ModelFile(path, fmt, version, tuple(_layer_classes(tree)), tuple(findings), layers)


def _layer_classes(tree: Any) -> Iterator[str]:
    """Every `class_name` in the tree, in order (for summaries; trust uses `trust.scan`)."""
    if isinstance(tree, list | tuple):
        for item in tree:
            yield from _layer_classes(item)
    elif isinstance(tree, dict):
        if isinstance(tree.get("class_name"), str):
            yield tree["class_name"]
        for value in tree.values():
            yield from _layer_classes(value)


def _classes_in(*modules: Any) -> set[str]:
    return {n for m in modules for n in dir(m) if isinstance(getattr(m, n), type)}


def _functions_in(k: Any) -> set[str]:
    """Keras' own modelling functions, as `trust.function_entry` names them: its
    activations, initializers, losses, metrics, regularizers and constraints (never a
    module prefix: `keras.utils.get_file` is a Keras function too, CVE-2025-8747)."""
    modules = (k.activations, k.initializers, k.losses, k.metrics, k.regularizers, k.constraints)
    return {
        trust.function_entry(n)
        for m in modules
        for n in dir(m)
        if not n.startswith("_") and callable(getattr(m, n)) and not isinstance(getattr(m, n), type)
    }


@functools.cache
def _builtin_classes() -> frozenset[str]:
    """tf_keras' own layers, initializers, regularizers, constraints and dtype policies."""
    k = keras
    return frozenset(
        _classes_in(k.layers, k.initializers, k.regularizers, k.constraints)
        | _functions_in(k)
        | CONTAINER_CLASSES
        | {"Policy", "DTypePolicy"}
    )


def _keras3_version(version: str | None) -> bool:
    return bool(version) and str(version).split(".")[0] == "3"


def is_keras3(info: ModelFile) -> bool:
    return _keras3_version(info.keras_version)


@functools.cache
def _builtin_keras3_classes() -> frozenset[str]:
    """Keras 3's own classes, including its operation classes (`NotEqual` from masking,
    `Cumsum` from `keras.ops.cumsum`, …), which functional graphs save as layers."""
    import keras as keras3

    from studio.engine.keras3 import operation_classes

    operations = set(operation_classes())
    k = keras3
    return frozenset(
        _classes_in(k.layers, k.initializers, k.regularizers, k.constraints, k.dtype_policies)
        | _functions_in(k)
        | operations
        | CONTAINER_CLASSES
    )


def check_trust(info: ModelFile, trusted: bool) -> None:
    """Refuse files that would run code, unless the user trusts them.

    Code (a Lambda anywhere, bytecode, a module outside Keras, a TensorFlow function
    call) asks for trust; classes that are not Keras' own are refused outright, because
    the studio never imports the user's code, so trusting could not make them load.
    """
    if trusted:
        return
    code = [f for f in info.findings if f.kind == "code"]
    if code:
        raise UntrustedModelError(
            f"model {info.path} contains code that would run when the model loads: "
            f"{trust.summarize(code)}; it opens only if you trust the file "
            f"(--trust on the command line; 'Trust and open' in the window)"
        )
    unknown = [f for f in info.findings if f.kind == "unknown"]
    if unknown:
        raise ModelError(
            f"model {info.path} uses custom layer class(es) {trust.summarize(unknown)}, "
            f"whose code is not part of the file, and the studio does not import code to "
            f"load them; replace them with built-in layers and save again, or save the "
            f"model as a SavedModel folder (its traced graph loads without the classes' code)"
        )


def refusal(path: Path, err: Exception, what: str = "") -> ModelError:
    """A loader's exception in the studio's words; Keras' safe-mode refusal (which says
    `safe_mode=False`, an option only a programmer has) becomes the trust question."""
    if "safe_mode" in str(err) or "unsafe_deserialization" in str(err):
        return UntrustedModelError(
            f"model {path} contains code that Keras refuses to run while loading "
            f"(a Python function in its configuration); it opens only if you trust the "
            f"file (--trust on the command line; 'Trust and open' in the window)"
        )
    return ModelError(f"model {path}{what} could not be loaded: {first_line(err)}")


@dataclass(frozen=True)
class Loaded:
    """A model as the pipeline gets it, with where it came from.

    `model` is a tf_keras model, except for a Keras 3 file the bridge could not rebuild:
    then it is the Keras 3 model, `limitation` says why, and only post-training
    quantization applies (the converter takes Keras 3 models as they are).
    """

    model: Any
    origin: str = ""
    limitation: str = ""


def load(source: str | os.PathLike, *, trust: bool = False) -> Loaded:
    info = inspect_file(source)
    check_trust(info, trust)
    if not is_keras3(info):
        return Loaded(check_built(info, _load_tf_keras(info, trust)))
    from studio.engine import keras3

    original = check_built(info, keras3.load(info.path, trust=trust))
    try:
        rebuilt = keras3.rebuild(original)
    except keras3.BridgeError as err:
        return Loaded(
            original,
            origin=f"Keras {info.keras_version} file, used as is",
            limitation=str(err),
        )
    origin = (
        f"Keras {info.keras_version} file, rebuilt in tf_keras (outputs match: max "
        f"|difference| {rebuilt.max_abs_diff:.2g})"
    )
    return Loaded(rebuilt.model, origin=origin)


def check_built(info: ModelFile, model: Any) -> Any:
    """Refuse a model whose layers are not what the file says (see
    `studio.values.fidelity`); returns the model when they are."""
    built = []
    for layer in all_layers(model):
        try:
            built.append((layer.name, type(layer).__name__, layer.get_config()))
        except Exception:  # noqa: BLE001 - a layer without a config has nothing to compare
            continue
    found = fidelity.differences(dict(info.layers), built)
    if found:
        raise ModelError(
            f"model {info.path} did not load as the file describes it: "
            f"{'; '.join(found[:3])}{'; …' if len(found) > 3 else ''}. The studio would "
            f"measure another model than the one in the file; save the model again with "
            f"the Keras it was made with"
        )
    return model


def load_model(source: str | os.PathLike, *, trust: bool = False) -> keras.Model:
    """A tf_keras model (Keras 3 files rebuilt), after `check_trust`, never compiled.

    Raises BridgeError for a Keras 3 model the bridge cannot rebuild; `load` instead
    returns it as is, for post-training quantization.
    """
    loaded = load(source, trust=trust)
    if loaded.limitation:
        from studio.engine.keras3 import BridgeError

        raise BridgeError(loaded.limitation)
    return loaded.model


def _load_tf_keras(info: ModelFile, trust: bool) -> keras.Model:
    try:
        if info.format == "keras":
            model = keras.models.load_model(info.path, compile=False, safe_mode=not trust)
        else:
            model = keras.models.load_model(info.path, compile=False)
    except Exception as err:  # tf_keras raises many kinds; all mean "this file did not load"
        raise refusal(info.path, err) from err
    if not isinstance(model, keras.Model):
        raise ModelError(f"model {info.path} did not load as a Keras model")
    return model


def as_functional(model: keras.Model) -> keras.Model:
    """The same layers (and weights) as a functional model.

    tfmot's quantize_model fails on a Sequential model that starts with an InputLayer,
    and cloning with per-layer wrappers is simplest on a functional graph.
    """
    if not isinstance(model, keras.Sequential):
        return model
    inp = keras.Input(
        shape=model.input_shape[1:],
        dtype=model.inputs[0].dtype,
        name=model.layers[0].name + "_input" if model.layers else None,
    )
    x = inp
    for layer in model.layers:
        x = layer(x)
    return keras.Model(inp, x, name=model.name)


def flattened(model: keras.Model) -> keras.Model:
    """The same layers (and weights) with nested models inlined into one graph.

    The standard transfer-learning shape is `Model(head(base(inputs)))`: the layers worth
    pruning sit inside `base`.  tfmot wraps only the layers of the graph it is given
    (and QAT refuses nested models), so the studio works on one flat graph.  A model
    whose nested and outer layer names collide is left as it is.
    """
    if not any(isinstance(layer, keras.Model) for layer in model.layers):
        return model
    names = [layer.name for layer in leaf_layers(model)]
    if len(names) != len(set(names)):
        return model
    inputs = [
        keras.Input(shape=t.shape[1:], dtype=t.dtype, name=n)
        for t, n in zip(model.inputs, model.input_names, strict=True)
    ]
    outputs = _inline(as_functional(model), inputs)
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs, name=model.name)


def listed(model: keras.Model) -> keras.Model:
    """The same layers with inputs and outputs as flat lists.  Keras 3 users name heads
    with dicts (`Model(img, {"digit": d, "ink": i})`); tf_keras' fine-tunes then matched
    the data's tuple against the dict and crashed every pruning and clustering run.  The
    lists are in tf_keras' own order, the one `model.outputs` and the summary use."""
    nested = (getattr(model, "_nested_inputs", None), getattr(model, "_nested_outputs", None))
    if not any(isinstance(n, dict) or _deep(n) for n in nested):
        return model
    inputs = model.inputs[0] if len(model.inputs) == 1 else list(model.inputs)
    return keras.Model(inputs, list(model.outputs), name=model.name)


def _deep(structure: Any) -> bool:
    """A list or tuple holding lists, tuples or dicts (nested outputs)."""
    return isinstance(structure, list | tuple) and any(
        isinstance(s, list | tuple | dict) for s in structure
    )


def _inline(model: keras.Model, inputs: list[Any]) -> Any:
    """Replay `model`'s graph on `inputs` (tf_keras' own order: deepest nodes first),
    calling each layer, and replaying nested models instead of calling them."""
    usage = model._tensor_usage_count
    tensors = {
        str(id(x)): [y] * usage[str(id(x))] for x, y in zip(model.inputs, inputs, strict=True)
    }
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if node.is_input or any(i not in tensors for i in node.flat_input_ids):
                continue
            args, kwargs = node.map_arguments(tensors)
            if isinstance(node.layer, keras.Model):
                nested = as_functional(node.layer)
                outputs = _inline(nested, tf.nest.flatten(args[0] if args else kwargs["inputs"]))
            else:
                outputs = node.layer(*args, **kwargs)
            for i, y in zip(node.flat_output_ids, tf.nest.flatten(outputs), strict=True):
                tensors[i] = [y] * usage[i]
    result = [tensors[str(id(x))].pop() for x in model.outputs]
    return tf.nest.pack_sequence_as(model._nested_outputs, result)


def _spec(tensor: Any, name: str) -> InputSpec:
    shape = tuple(None if d is None else int(d) for d in tensor.shape[1:])
    return InputSpec(name, shape, tf.as_dtype(tensor.dtype).name)


def summarize(model: Any, *, origin: str = "", limitation: str = "") -> ModelSummary:
    """The model as plain data; with a `limitation`, no technique but PTQ applies."""
    # Here, not at the top: these modules import this one (as_functional, flattened).
    from studio.engine.clustering import clusterable
    from studio.engine.pruning import prunable
    from studio.engine.qat import quantizable

    supports = {"pruning": prunable, "clustering": clusterable, "qat": quantizable}
    layers = []
    for layer in leaf_layers(model):
        why_not = {
            technique: reason
            for technique, check in supports.items()
            if (reason := _why_not(layer, technique, check, limitation))
        }
        layers.append(
            LayerInfo(
                name=layer.name,
                class_name=type(layer).__name__,
                params=int(layer.count_params()) if layer.built else 0,
                prunable="pruning" not in why_not,
                clusterable="clustering" not in why_not,
                quantizable="qat" not in why_not,
                why_not=why_not,
                output_shapes=_output_shapes(layer),
            )
        )
    input_names = getattr(model, "input_names", None) or [t.name for t in model.inputs]
    output_names = getattr(model, "output_names", None) or [t.name for t in model.outputs]
    return ModelSummary(
        name=model.name,
        inputs=tuple(_spec(t, n) for t, n in zip(model.inputs, input_names, strict=True)),
        outputs=tuple(_spec(t, n) for t, n in zip(model.outputs, output_names, strict=True)),
        layers=tuple(layers),
        params=int(model.count_params()),
        sequential=type(model).__name__ == "Sequential",
        origin=origin,
        limitation=limitation,
    )


def _output_shapes(layer: Any) -> tuple[tuple[int | None, ...], ...]:
    """The layer's output shapes without the batch axis; () if it was never called."""
    try:
        outputs = tf.nest.flatten(layer.output)
    except (AttributeError, ValueError):  # a layer used in several places, or unbuilt
        return ()
    return tuple(tuple(None if d is None else int(d) for d in t.shape[1:]) for t in outputs)


def _why_not(layer: Any, technique: str, supports: Any, limitation: str) -> str:
    """Why `technique` does not apply to `layer` ("" when it does)."""
    if limitation:
        return "the model could not be rebuilt in tf_keras (see the model's status)"
    if technique != "qat" and not layer.weights:
        return "it has no weights"
    if technique != "qat" and not layer.trainable_weights:
        return "it is frozen (trainable=False), so a fine-tune cannot change it"
    if not supports(layer):
        kind = type(layer).__name__
        if technique == "qat":
            return f"tfmot cannot quantize-annotate a {kind} layer; it stays as it is"
        verb = {"pruning": "prune", "clustering": "cluster"}[technique]
        return f"tfmot does not {verb} the weights of a {kind} layer; it stays as it is"
    return ""


def outputs_are_probabilities(model: keras.Model, x: Arrays) -> tuple[bool, ...]:
    """Per output, whether it ends in a softmax (decides the fine-tune loss's from_logits)."""
    outs = model(for_keras(take(x, slice(0, 8))), training=False)
    return tuple(
        bool(np.all(o >= 0) and np.allclose(o.sum(axis=-1), 1.0, atol=1e-3))
        for o in (np.asarray(t) for t in tf.nest.flatten(outs))
    )
