"""The quick per-layer sensitivity pass: prune or cluster one layer, measure, restore.

No fine-tune and no conversion: each layer's kernels (its weights of two or more
dimensions — what tfmot prunes and clusters; biases and BatchNormalization stay) are
pruned by magnitude or snapped to k-means centroids in place, the Keras model predicts
the held-out samples, and the weights are put back.  That is one prediction per layer
and technique, seconds on a MobileNet, and it ranks the layers the way a full run
would: a layer that breaks the model alone (a first convolution with 3 input channels,
a depthwise kernel of 9 values per channel, a 10-way classifier) is one the fine-tune
struggles with too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tf_keras as keras

from studio.engine.arrays import count, for_keras, parts, take
from studio.engine.data import Dataset
from studio.engine.measure import score
from studio.values.errors import DataError
from studio.values.progress import Event, Report, ignore
from studio.values.sensitivity import LayerSensitivity


def pruned(w: np.ndarray, sparsity: float) -> np.ndarray:
    """`w` with its smallest-magnitude `sparsity` share set to zero."""
    k = int(round(w.size * sparsity))
    if k == 0:
        return w
    flat = np.abs(w).ravel()
    cut = np.partition(flat, k - 1)[k - 1]
    return np.where(np.abs(w) <= cut, 0, w).astype(w.dtype)


def clustered(w: np.ndarray, clusters: int, iterations: int = 12) -> np.ndarray:
    """`w` with every value replaced by the nearest of `clusters` 1-D k-means centroids
    (linear start, as tfmot's "linear" init; a sample of 100,000 values fits them)."""
    flat = w.ravel().astype(np.float64)
    sample = flat if flat.size <= 100_000 else np.random.default_rng(0).choice(flat, 100_000)
    centroids = np.linspace(sample.min(), sample.max(), clusters)
    for _ in range(iterations):
        nearest = _nearest(sample, centroids)
        for c in range(clusters):
            members = sample[nearest == c]
            if members.size:
                centroids[c] = members.mean()
        centroids.sort()
    return centroids[_nearest(flat, centroids)].reshape(w.shape).astype(w.dtype)


def _nearest(values: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    edges = (centroids[1:] + centroids[:-1]) / 2
    return np.searchsorted(edges, values)


def measure_layers(
    model: keras.Model,
    data: Dataset,
    layers: dict[str, Sequence[str]],
    *,
    sparsity: float,
    clusters: int,
    samples: int = 500,
    report: Report = ignore,
) -> list[LayerSensitivity]:
    """`layers`: technique ("prune", "cluster") -> the layer names to try, one at a time.
    The model's weights are restored after each layer."""
    if data.y_eval is None:
        raise DataError(f"{data.source}: has no labels; the sensitivity pass needs them")
    n = min(samples, count(data.x_eval))
    x = for_keras(take(data.x_eval, slice(0, n)))
    y = parts(data.y_eval)[0][:n]

    def figure() -> tuple[float, str]:
        out = model.predict(x, batch_size=64, verbose=0)
        value, metric = score(np.asarray(out[0] if isinstance(out, list) else out), y)
        return float(value if value is not None else 0.0), metric

    base, metric = figure()
    treat: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "prune": lambda w: pruned(w, sparsity),
        "cluster": lambda w: clustered(w, clusters),
    }
    setting = {"prune": sparsity, "cluster": float(clusters)}
    jobs = [  # layers with no kernel (BatchNormalization) have nothing to treat
        (t, name)
        for t, names in layers.items()
        for name in names
        if any(w.ndim >= 2 for w in model.get_layer(name).get_weights())
    ]
    results = []
    for i, (technique, name) in enumerate(jobs):
        report(Event("sensitivity", f"{technique} {name} alone", i / max(1, len(jobs))))
        layer = model.get_layer(name)  # the pipeline flattened nested models
        saved = layer.get_weights()
        layer.set_weights([treat[technique](w) if w.ndim >= 2 else w for w in saved])
        try:
            value, _ = figure()
        finally:
            layer.set_weights(saved)
        results.append(LayerSensitivity(name, technique, setting[technique], value, base, metric))
    report(Event("sensitivity", f"{len(jobs)} layer(s) measured", 1.0))
    return results
