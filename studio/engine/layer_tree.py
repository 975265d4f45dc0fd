"""Walking a model's layers, nested models opened (tf_keras and Keras 3 alike).

Transfer-learning models keep their layers inside a nested base model, so anything that
looks for layers of a kind (recurrent layers, embeddings, prunable layers) must look
inside nested models too, not only at `model.layers`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def all_layers(model: Any) -> Iterator[Any]:
    """Every layer, each nested model followed by its own layers."""
    for layer in getattr(model, "layers", ()):
        yield layer
        yield from all_layers(layer)


def leaf_layers(model: Any) -> Iterator[Any]:
    """Every layer that is not a model or an input, nested models opened."""
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from leaf_layers(layer)
        elif type(layer).__name__ != "InputLayer":
            yield layer
