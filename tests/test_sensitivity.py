"""The quick per-layer sensitivity pass (studio.engine.sensitivity)."""

from __future__ import annotations

import numpy as np
import pytest

from studio.values.sensitivity import FRAGILE_POINTS, LayerSensitivity, fragile


def test_one_shot_pruning_and_clustering_do_what_they_say():
    from studio.engine.sensitivity import clustered, pruned

    w = np.random.default_rng(0).normal(size=(3, 3, 8, 16)).astype(np.float32)
    p = pruned(w, 0.7)
    assert np.mean(p == 0) == pytest.approx(0.7, abs=0.001)
    assert np.array_equal(p[p != 0], w[p != 0])  # the large weights are untouched
    assert np.abs(w[p == 0]).max() <= np.abs(w[p != 0]).min()
    c = clustered(w, 8)
    assert len(np.unique(c)) <= 8 and c.dtype == w.dtype
    assert np.abs(c - w).mean() < 0.15 * np.abs(w).mean() + 0.1  # nearest centroids


def test_the_pass_measures_each_layer_and_puts_every_weight_back(demo, demo_model):
    from studio.engine.sensitivity import measure_layers

    before = [w.copy() for w in demo_model.get_weights()]
    layers = {"prune": ["conv1", "dense1"], "cluster": ["conv1"]}
    results = measure_layers(demo_model, demo.data, layers, sparsity=0.5, clusters=4)
    assert [(r.technique, r.layer) for r in results] == [
        ("prune", "conv1"),
        ("prune", "dense1"),
        ("cluster", "conv1"),
    ]
    assert all(r.metric == "top1" and r.baseline > 0.9 for r in results)
    for a, b in zip(before, demo_model.get_weights(), strict=True):
        assert np.array_equal(a, b)
    # 95 % sparsity in the first convolution alone is not the same model any more.
    harsh = measure_layers(demo_model, demo.data, {"prune": ["conv1"]}, sparsity=0.95, clusters=4)
    assert harsh[0].value < results[0].value


def test_fragile_means_the_layer_alone_breaks_the_model():
    def top1(value):
        return LayerSensitivity("a", "prune", 0.5, value, 0.9, "top1")

    assert top1(0.89 - FRAGILE_POINTS / 100).fragile and not top1(0.85).fragile
    assert top1(0.5).shown == "−40.0 pt" and top1(0.9).shown == "no loss"
    mae = LayerSensitivity("b", "cluster", 16, 0.3, 0.1, "mae")
    assert mae.fragile and mae.shown == "MAE +200 %"
    assert fragile([top1(0.1), mae], "prune") == ("a",)
    assert LayerSensitivity.from_dict(mae.to_dict()) == mae
