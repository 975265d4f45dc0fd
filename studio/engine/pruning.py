"""Magnitude pruning with a schedule that really reaches its target.

tfmot only updates the pruning masks every `frequency` steps (default 100), and a
polynomial schedule only reaches its final sparsity at `end_step`.  A studio fine-tune is
a few hundred steps at most, so with the defaults nothing or too little is pruned.  The
schedule here is derived from the actual number of steps: about ten mask updates over
the first 60 % of them, the last one landing on the final sparsity, and the remaining
40 % trained with the masks fixed, so the model recovers at the sparsity it will ship
with (reaching the target only at the last step left a regressor's MAE 2.5x worse).
"""

from __future__ import annotations

import tensorflow_model_optimization as tfmot
import tf_keras as keras
from tensorflow_model_optimization.python.core.sparsity.keras import prune_registry

from studio.engine.arrays import count
from studio.engine.data import Dataset
from studio.engine.selection import choose, wrap
from studio.engine.training import Tuned, fine_tune, recalibrate_batch_norm, steps_per_epoch
from studio.values.progress import Report, ignore
from studio.values.recipe import Pruning

sparsity = tfmot.sparsity.keras
MASK_UPDATES = 10
RECOVERY = 0.4  # share of the fine-tune trained at the final sparsity, masks fixed


def schedule_for(recipe: Pruning, total_steps: int) -> sparsity.PruningSchedule:
    """A schedule that reaches the target sparsity at a mask update RECOVERY before
    `total_steps` ends."""
    ramp = max(1, int(total_steps * (1 - RECOVERY)))
    frequency = max(1, ramp // MASK_UPDATES)
    # Steps run 0 .. ramp-1; the final sparsity must land on a mask-update step.
    last_update = ((ramp - 1) // frequency) * frequency
    if recipe.schedule == "constant" or recipe.structure or last_update < 1:
        return sparsity.ConstantSparsity(recipe.target_sparsity, begin_step=0, frequency=frequency)
    return sparsity.PolynomialDecay(
        recipe.initial_sparsity,
        recipe.target_sparsity,
        begin_step=0,
        end_step=last_update,
        frequency=frequency,
    )


def prunable(layer: keras.layers.Layer) -> bool:
    """Whether pruning would zero any of the layer's weights.

    tfmot's registry "supports" BatchNormalization and LayerNormalization with no weight
    to prune (so wrapping them is harmless); listing them as prunable misled users, and
    the per-layer checks would then expect zeros that never come.  The registry has
    no public way to ask for a layer's weights, hence its private map."""
    registry = prune_registry.PruneRegistry
    if isinstance(layer, sparsity.PrunableLayer):
        return bool(layer.get_prunable_weights())
    if not registry.supports(layer):
        return False
    return bool(registry._LAYERS_WEIGHTS_MAP.get(layer.__class__, True))


def m_by_n_prunable(layer: keras.layers.Layer) -> bool:
    """2:4 sparsity is defined for Conv2D and Dense kernels (what XNNPACK accelerates)."""
    return isinstance(layer, keras.layers.Conv2D | keras.layers.Dense) and not isinstance(
        layer, keras.layers.DepthwiseConv2D | keras.layers.Conv2DTranspose
    )


def prune(
    model: keras.Model,
    data: Dataset,
    recipe: Pruning,
    *,
    probabilities: tuple[bool, ...],
    report: Report = ignore,
) -> Tuned:
    """Fine-tune with pruning; the stripped (plain Keras) model."""
    epochs = recipe.epochs_for(count(data.x_train))
    total_steps = epochs * steps_per_epoch(data, recipe.batch_size)
    schedule = schedule_for(recipe, total_steps)
    supports = m_by_n_prunable if recipe.structure else prunable
    names = choose(model, recipe.layers, supports, "pruning.layers")
    extra = {"sparsity_m_by_n": (2, 4)} if recipe.structure == "2:4" else {}
    wrapped = wrap(
        model,
        names,
        lambda layer: sparsity.prune_low_magnitude(layer, pruning_schedule=schedule, **extra),
    )
    loss = fine_tune(
        wrapped,
        data,
        stage="prune",
        epochs=epochs,
        learning_rate=recipe.learning_rate,
        batch_size=recipe.batch_size,
        probabilities=probabilities,
        report=report,
        callbacks=(sparsity.UpdatePruningStep(),),
        freeze_norms=False,
    )
    stripped = sparsity.strip_pruning(wrapped)
    recalibrate_batch_norm(stripped, data.x_train)
    return Tuned(stripped, frozenset(names), loss)
