"""Choosing which layers a technique applies to, and wrapping just those.

Pruning, clustering and QAT all take an optional list of layer names.  A name that is not
in the model, or names a layer the technique cannot handle, is an error naming both the
field and the layer, not a silent skip.
"""

from __future__ import annotations

from collections.abc import Callable

import tf_keras as keras

from studio.values.errors import RecipeError


def choose(
    model: keras.Model,
    requested: tuple[str, ...] | None,
    supports: Callable[[keras.layers.Layer], bool],
    field: str,
) -> set[str]:
    """Names of the layers to treat: all supported ones, or the requested ones after checks."""
    by_name = {layer.name: layer for layer in model.layers}
    if requested is None:
        return {
            name for name, layer in by_name.items() if layer.trainable_weights and supports(layer)
        }
    chosen = set()
    for name in requested:
        if name not in by_name:
            known = ", ".join(n for n, la in by_name.items() if la.trainable_weights)
            raise RecipeError(
                f"{field}: '{name}' is not a layer of the model (layers with weights: {known})"
            )
        if not by_name[name].trainable_weights or not supports(by_name[name]):
            raise RecipeError(
                f"{field}: layer '{name}' ({type(by_name[name]).__name__}) cannot "
                f"be treated by this technique; remove it from the list"
            )
        chosen.add(name)
    return chosen


def wrap(
    model: keras.Model, names: set[str], wrapper: Callable[[keras.layers.Layer], keras.layers.Layer]
) -> keras.Model:
    """A copy of the model's graph in which the named layers are wrapped (weights kept)."""
    return keras.models.clone_model(
        model, clone_function=lambda layer: wrapper(layer) if layer.name in names else layer
    )
