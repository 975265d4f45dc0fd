"""Weight clustering: each layer's weights share a few values (centroids).

Clustering alone does not shrink a .tflite (weights are still stored one by one); it pays
off after compression (gzip) and combined with int8, which is why the studio reports
gzip size.  Per-channel clustering gives each output channel of a convolution its own
centroids, which keeps accuracy better at the cost of more distinct values.
"""

from __future__ import annotations

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras as keras
from tensorflow_model_optimization.python.core.clustering.keras import clustering_registry

from studio.engine.data import Dataset
from studio.engine.selection import choose, wrap
from studio.engine.training import Tuned, fine_tune, recalibrate_batch_norm
from studio.values.errors import RecipeError
from studio.values.progress import Report, ignore
from studio.values.recipe import Clustering

clustering = tfmot.clustering.keras
Init = clustering.CentroidInitialization
INITS = {
    "kmeans++": Init.KMEANS_PLUS_PLUS,
    "linear": Init.LINEAR,
    "density": Init.DENSITY_BASED,
    "random": Init.RANDOM,
}


def _distinct(layer: keras.layers.Layer, recipe: Clustering) -> int:
    """The fewest distinct values in any of the layer's kernels (zeros left out when
    sparsity is preserved: they are not clustered)."""
    counts = []
    for w in layer.get_weights():
        if w.ndim >= 2:
            values = w[w != 0] if recipe.preserve_sparsity else w
            counts.append(len(np.unique(values)))
    return min(counts, default=0)


def clusterable(layer: keras.layers.Layer) -> bool:
    """Whether clustering would share any of the layer's weights.

    tfmot's registry "supports" every layer without trainable weights and lists
    DepthwiseConv2D, BatchNormalization and LayerNormalization with no weight to
    cluster; none of them changes, so none is offered as clusterable.  (No public
    way to ask the registry for a layer's weights, hence its private map.)"""
    registry = clustering_registry.ClusteringRegistry
    if isinstance(layer, clustering.ClusterableLayer):
        return bool(layer.get_clusterable_weights())
    if not layer.trainable_weights or not registry.supports(layer):
        return False
    return bool(registry._LAYERS_WEIGHTS_MAP.get(layer.__class__, True))


def cluster(
    model: keras.Model,
    data: Dataset,
    recipe: Clustering,
    *,
    probabilities: tuple[bool, ...],
    report: Report = ignore,
) -> Tuned:
    """Cluster the chosen layers and fine-tune; the stripped model."""
    names = choose(model, recipe.layers, clusterable, "clustering.layers")
    # k-means++ needs at least as many distinct values as clusters: a small classifier
    # head after 80 % pruning may have fewer, and tfmot then fails inside TensorFlow.
    too_few = {n for n in names if _distinct(model.get_layer(n), recipe) < recipe.clusters}
    if recipe.layers is not None and too_few:
        name = sorted(too_few)[0]
        raise RecipeError(
            f"clustering.layers: layer '{name}' has fewer distinct "
            f"{'non-zero ' if recipe.preserve_sparsity else ''}weights than "
            f"{recipe.clusters} clusters; remove it from the list or use fewer clusters"
        )
    if too_few and not names - too_few:
        raise RecipeError(
            f"clustering.clusters: no layer has {recipe.clusters} distinct weights to "
            f"cluster ({', '.join(sorted(too_few))}); use fewer clusters"
        )
    names -= too_few

    def wrapper(layer: keras.layers.Layer) -> keras.layers.Layer:
        per_channel = recipe.per_channel and isinstance(layer, keras.layers.Conv2D)
        return clustering.cluster_weights(
            layer,
            number_of_clusters=recipe.clusters,
            cluster_centroids_init=INITS[recipe.init],
            preserve_sparsity=recipe.preserve_sparsity,
            cluster_per_channel=per_channel,
        )

    wrapped = wrap(model, names, wrapper)
    loss = fine_tune(
        wrapped,
        data,
        stage="cluster",
        epochs=recipe.epochs,
        learning_rate=recipe.learning_rate,
        batch_size=recipe.batch_size,
        probabilities=probabilities,
        report=report,
        freeze_norms=False,
    )
    stripped = clustering.strip_clustering(wrapped)
    recalibrate_batch_norm(stripped, data.x_train)
    return Tuned(stripped, frozenset(names), loss)
