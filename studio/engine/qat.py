"""Quantization-aware training, preserving what pruning and clustering did.

Plain QAT would re-learn every weight and undo earlier sparsity and clustering, so the
scheme follows the history of the model (tfmot's collaborative optimization):
pruned -> prune-preserving QAT (PQAT), clustered -> cluster-preserving QAT (CQAT),
both -> sparsity- and cluster-preserving QAT (PCQAT).  Layers the recipe keeps in float
are simply not annotated for quantization.
"""

from __future__ import annotations

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
    default_8bit_quantize_registry,
)
from tensorflow_model_optimization.python.core.quantization.keras.quantize_aware_activation import (  # noqa: E501
    QuantizeAwareActivation,
)

from studio.engine.arrays import Arrays, count, for_keras, take
from studio.engine.data import Dataset
from studio.engine.models import as_functional
from studio.engine.selection import choose, wrap
from studio.engine.training import Tuned, fine_tune
from studio.values.errors import ModelError
from studio.values.progress import Report, ignore
from studio.values.recipe import Quantization

quantization = tfmot.quantization.keras
combine = tfmot.experimental.combine
_REGISTRY = default_8bit_quantize_registry.Default8BitQuantizeRegistry()
# Activation functions tfmot can quantize inside a Dense or Conv (QuantizeAwareActivation
# refuses any other, Keras 3's relu6 or leaky_relu among them, and fails the whole run).
_FUSED_ACTIVATIONS = (
    QuantizeAwareActivation._PRE_QUANT_ACTIVATIONS  # noqa: SLF001 (tfmot keeps no public list)
    | QuantizeAwareActivation._POST_QUANT_ACTIVATIONS  # noqa: SLF001
    | QuantizeAwareActivation._NO_QUANTIZE_ACTIVATIONS  # noqa: SLF001
)


def _supported_as_in_plain_qat(registry):
    """`registry` that calls a layer supported only if the default 8-bit registry knows
    it too.  tfmot's preserving schemes call every layer without trainable weights
    "supported", then ask the default registry for its config, which refuses layers it
    does not know: a Rescaling before the first convolution failed CQAT, a squeeze-excite
    Multiply (MobileNetV3, EfficientNet) failed PQAT, with "get_quantize_config() called
    on an unsupported layer".  An Activation whose function the registry does not know
    (Keras 3's `hard_silu`) is refused the same way, even by plain QAT, when it feeds a
    quantized layer.  Such layers stay in float."""
    supports = registry.supports
    registry.supports = lambda layer: supports(layer) and quantizable(layer)
    return registry


class _ClusterPreserveScheme(combine.Default8BitClusterPreserveQuantizeScheme):
    """tfmot's cluster-preserving scheme, minus a crash (`_supported_as_in_plain_qat`)."""

    def get_quantize_registry(self):
        return _supported_as_in_plain_qat(super().get_quantize_registry())


class _PlainScheme(quantization.default_8bit.Default8BitQuantizeScheme):
    """tfmot's own QAT scheme, with the same guard."""

    def get_quantize_registry(self):
        return _supported_as_in_plain_qat(super().get_quantize_registry())


class _PrunePreserveScheme(combine.Default8BitPrunePreserveQuantizeScheme):
    """tfmot's prune-preserving scheme, minus the same crash."""

    def get_quantize_registry(self):
        return _supported_as_in_plain_qat(super().get_quantize_registry())


def scheme_for(pruned: bool, clustered: bool) -> tuple[str, object]:
    """The QAT scheme that keeps earlier steps' effect, and its short name."""
    if clustered:
        return (
            "PCQAT" if pruned else "CQAT",
            _ClusterPreserveScheme(preserve_sparsity=pruned),
        )
    if pruned:
        return "PQAT", _PrunePreserveScheme()
    return "QAT", _PlainScheme()


def quantizable(layer: keras.layers.Layer) -> bool:
    """Whether the 8-bit registry can quantize `layer`: it knows the class, and (for an
    Activation) the function, which it checks only inside `quantize_apply` (a Keras 3
    `hard_silu` failed the whole QAT run there)."""
    if not _REGISTRY.supports(layer):
        return False
    activation = getattr(layer, "activation", None)  # Dense, Conv: fused in the wrapper
    fused = callable(activation) and not isinstance(layer, keras.layers.Activation)
    if fused and getattr(activation, "__name__", "") not in _FUSED_ACTIVATIONS:
        return False
    try:
        _REGISTRY.get_quantize_config(layer).get_output_quantizers(layer)
    except ValueError:
        return False
    return True


def quantize_aware_train(
    model: keras.Model,
    data: Dataset,
    recipe: Quantization,
    *,
    pruned: bool,
    clustered: bool,
    probabilities: tuple[bool, ...],
    report: Report = ignore,
) -> Tuned:
    """The QAT model (ready for the converter), with the scheme name used."""
    model = as_functional(model)
    for name in recipe.float_layers:
        choose(model, (name,), lambda layer: True, "quantization.float_layers")
    names = {layer.name for layer in model.layers if quantizable(layer)} - set(recipe.float_layers)
    # Annotating layer by layer (rather than quantize_annotate_model) is what lets the
    # float-kept layers and layers tfmot cannot quantize stay in float.
    annotated = wrap(model, names, quantization.quantize_annotate_layer)
    label, scheme = scheme_for(pruned, clustered)
    try:
        with quantization.quantize_scope():
            qat_model = quantization.quantize_apply(annotated, scheme)
    except ValueError as err:  # tfmot could not rebuild the model around its wrappers
        before = " and ".join(w for w, on in (("pruning", pruned), ("clustering", clustered)) if on)
        instead = f"QAT without {before}, or " if before else ""
        reason = str(err).split(". ")[-1].strip(" .[]") or str(err)
        raise ModelError(
            f"{label} QAT cannot run on this model: tfmot could not rebuild it ({reason}); "
            f"use {instead}post-training int8"
        ) from err
    start_ranges(qat_model, model, data.calibration(recipe.calibration_samples))
    loss = fine_tune(
        qat_model,
        data,
        stage="qat",
        epochs=recipe.epochs,
        learning_rate=recipe.learning_rate,
        batch_size=recipe.batch_size,
        probabilities=probabilities,
        report=report,
        freeze_norms=True,
    )
    return Tuned(qat_model, frozenset(names), loss, label)


RANGE_BATCH = 16  # samples per probe step: every layer's output is held at once


def start_ranges(qat_model: keras.Model, float_model: keras.Model, samples: Arrays) -> None:
    """Start each activation quantizer at the range the float model really produces.

    tfmot starts them at [-6, 6] and moves them by a moving average with decay 0.999,
    which needs thousands of steps; a studio fine-tune has dozens, so the ranges stayed
    near [-6, 6] and QAT int8 came out *worse* than plain int8 (MobileNetV2: 5 points,
    the demo: 3).  Here the float model is run over the calibration samples (as
    post-training int8 is) and each quantizer starts at its layer's observed range,
    widened to hold zero; training then refines it.
    """
    weights = float_model.get_weights()
    targets: dict[str, list] = {}  # float layer name -> [(variable, "min"/"max", pre?)]
    for layer in qat_model.layers:
        inner = getattr(layer, "layer", None)
        for variable in layer.non_trainable_weights:
            short = variable.name.split("/")[-1].split(":")[0]
            kind = "min" if short.endswith("_min") else "max" if short.endswith("_max") else None
            if kind is None or short.startswith(("kernel", "depthwise_kernel", "embeddings")):
                continue  # weight ranges follow the weights at every step already
            if inner is None:  # a QuantizeLayer in front of an input
                source = layer.inbound_nodes[0].inbound_layers
                name, pre = getattr(source, "name", ""), False
            else:
                name, pre = inner.name, short.startswith("pre_activation")
            targets.setdefault(name, []).append((variable, kind, pre))
    # A fresh copy: layers shared with earlier graphs (a stripped pruned model reuses the
    # original's layer objects) report those graphs' tensors as their `output`.
    model = keras.models.clone_model(float_model)
    model.set_weights(weights)
    names = [n for n in targets if any(layer.name == n for layer in model.layers)]
    pre = [n for n in names if any(p for _, _, p in targets[n])]
    if not names:
        return
    tensors = [model.get_layer(n).output for n in names] + [model.get_layer(n).input for n in pre]
    probe = keras.Model(model.inputs, tensors)
    seen: dict[tuple[str, bool], tuple[float, float]] = {}

    def widen(key: tuple[str, bool], values) -> None:
        values = np.asarray(values)
        lo, hi = seen.get(key, (np.inf, -np.inf))
        seen[key] = (min(lo, float(values.min())), max(hi, float(values.max())))

    for start in range(0, count(samples), RANGE_BATCH):
        outs = probe(for_keras(take(samples, slice(start, start + RANGE_BATCH))), training=False)
        outs = list(outs) if isinstance(outs, list | tuple) else [outs]
        for name, out in zip(names, outs, strict=False):
            widen((name, False), out)
        for name, inputs in zip(pre, outs[len(names) :], strict=True):
            widen((name, True), _pre_activation(model.get_layer(name), inputs))
    for name in names:
        for variable, kind, is_pre in targets[name]:
            lo, hi = seen[name, is_pre]
            variable.assign(min(lo, 0.0) if kind == "min" else max(hi, 0.0))


def _pre_activation(layer: keras.layers.Layer, inputs):
    """The layer's output before its activation (the logits of a softmax head)."""
    activation = layer.activation
    layer.activation = keras.activations.linear
    try:
        return layer(inputs, training=False)
    finally:
        layer.activation = activation
