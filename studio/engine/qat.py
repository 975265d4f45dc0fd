"""Quantization-aware training, preserving what pruning and clustering did.

Plain QAT would re-learn every weight and undo earlier sparsity and clustering, so the
scheme follows the history of the model (tfmot's collaborative optimization):
pruned -> prune-preserving QAT (PQAT), clustered -> cluster-preserving QAT (CQAT),
both -> sparsity- and cluster-preserving QAT (PCQAT).  Layers the recipe keeps in float
are simply not annotated for quantization.
"""

from __future__ import annotations

import tensorflow_model_optimization as tfmot
import tf_keras as keras
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
    default_8bit_quantize_registry,
)

from studio.engine.data import Dataset
from studio.engine.models import as_functional
from studio.engine.selection import choose, wrap
from studio.engine.training import Tuned, fine_tune
from studio.values.progress import Report, ignore
from studio.values.recipe import Quantization

quantization = tfmot.quantization.keras
combine = tfmot.experimental.combine
_REGISTRY = default_8bit_quantize_registry.Default8BitQuantizeRegistry()


class _ClusterPreserveScheme(combine.Default8BitClusterPreserveQuantizeScheme):
    """tfmot's cluster-preserving scheme, minus a crash.

    Its registry calls every layer without trainable weights "supported", then asks the
    default 8-bit registry for that layer's config, which refuses layers it does not
    know: a Rescaling in front of the first convolution made CQAT fail with
    "get_quantize_config() called on an unsupported layer".  Here such layers are simply
    not supported, as in plain QAT, so they stay in float.
    """

    def get_quantize_registry(self):
        registry = super().get_quantize_registry()
        supports = registry.supports
        registry.supports = lambda layer: supports(layer) and _REGISTRY.supports(layer)
        return registry


def scheme_for(pruned: bool, clustered: bool) -> tuple[str, object | None]:
    """The QAT scheme that keeps earlier steps' effect, and its short name."""
    if clustered:
        return (
            "PCQAT" if pruned else "CQAT",
            _ClusterPreserveScheme(preserve_sparsity=pruned),
        )
    if pruned:
        return "PQAT", combine.Default8BitPrunePreserveQuantizeScheme()
    return "QAT", None


def quantizable(layer: keras.layers.Layer) -> bool:
    return bool(_REGISTRY.supports(layer))


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
    with quantization.quantize_scope():
        qat_model = (
            quantization.quantize_apply(annotated, scheme)
            if scheme
            else quantization.quantize_apply(annotated)
        )
    loss = fine_tune(
        qat_model,
        data,
        stage="qat",
        epochs=recipe.epochs,
        learning_rate=recipe.learning_rate,
        batch_size=recipe.batch_size,
        probabilities=probabilities,
        report=report,
    )
    return Tuned(qat_model, frozenset(names), loss, label)
