"""Each technique's effect, read back from the written .tflite (not from the Keras model)."""

import numpy as np
import pytest

from conftest import layer_figures
from studio.engine.clustering import cluster
from studio.engine.convert import convert
from studio.engine.measure import predict, score
from studio.engine.pruning import prune, schedule_for
from studio.engine.qat import quantize_aware_train
from studio.values.errors import RecipeError
from studio.values.recipe import Clustering, Pruning, Quantization

pytestmark = pytest.mark.slow  # each fine-tunes and converts a model

FLOAT = Quantization()
WEIGHTED = ("conv1", "conv2", "conv3", "dense1", "digit")


def top1(blob, data):
    return score(predict(blob, data.x_eval), data.y_eval)[0]


@pytest.mark.parametrize("total_steps", [1, 3, 45, 100, 1000])
def test_schedule_fits_the_fine_tune_length(total_steps):
    """The last mask update (at the target) happens before training ends."""
    poly = schedule_for(Pruning(target_sparsity=0.8), total_steps)
    steps = [s for s in range(total_steps) if bool(poly(s)[0])]
    assert steps, "no mask update at all"
    assert np.isclose(float(poly(steps[-1])[1]), 0.8)
    const = schedule_for(Pruning(target_sparsity=0.6, schedule="constant"), total_steps)
    assert bool(const(0)[0]) and np.isclose(float(const(0)[1]), 0.6)


@pytest.mark.parametrize("schedule", ["constant", "polynomial"])
def test_pruning_reaches_target_sparsity_in_the_file(demo, demo_model, schedule):
    recipe = Pruning(target_sparsity=0.7, schedule=schedule, initial_sparsity=0.2, epochs=1)
    pruned = prune(demo_model, demo.data, recipe, probabilities=(True,)).model
    figures = layer_figures(convert(pruned, FLOAT))
    for name in WEIGHTED:
        assert figures[name]["sparsity"] == pytest.approx(0.7, abs=0.01), name
    assert top1(convert(pruned, FLOAT), demo.data) > 0.9


def test_pruning_only_the_chosen_layers(demo, demo_model):
    pruned = prune(
        demo_model, demo.data, Pruning(0.5, layers=("dense1",), epochs=1), probabilities=(True,)
    ).model
    figures = layer_figures(convert(pruned, FLOAT))
    assert figures["dense1"]["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert figures["conv2"]["sparsity"] < 0.01


def test_pruning_2_of_4_zeroes_two_in_every_block_of_four(demo, demo_model):
    pruned = prune(
        demo_model,
        demo.data,
        Pruning(0.5, structure="2:4", layers=("dense1", "conv3"), epochs=1),
        probabilities=(True,),
    ).model
    dense = pruned.get_layer("dense1").kernel.numpy()  # (in, out): blocks run along "in"
    blocks = (dense.T.reshape(-1, 4) == 0).sum(axis=1)
    assert np.all(blocks >= 2)
    figures = layer_figures(convert(pruned, FLOAT))
    assert figures["dense1"]["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert figures["conv3"]["sparsity"] == pytest.approx(0.5, abs=0.01)


def test_layer_selection_errors_name_the_layer(demo, demo_model):
    with pytest.raises(RecipeError, match=r"pruning\.layers: 'dense9' is not a layer"):
        prune(
            demo_model, demo.data, Pruning(0.5, layers=("dense9",), epochs=1), probabilities=(True,)
        )
    with pytest.raises(RecipeError, match=r"clustering\.layers: layer 'pool1' \(MaxPooling2D\)"):
        cluster(demo_model, demo.data, Clustering(8, layers=("pool1",)), probabilities=(True,))


@pytest.mark.parametrize("init", ["kmeans++", "linear", "density", "random"])
def test_clustering_leaves_at_most_n_values_per_layer(demo, demo_model, init):
    clustered = cluster(
        demo_model, demo.data, Clustering(8, init=init, epochs=1), probabilities=(True,)
    ).model
    figures = layer_figures(convert(clustered, FLOAT))
    for name in WEIGHTED:
        assert figures[name]["unique_values"] <= 8, (name, figures[name])
    assert top1(convert(clustered, FLOAT), demo.data) > 0.85


def test_per_channel_clustering_gives_each_conv_channel_its_own_values(demo, demo_model):
    clustered = cluster(
        demo_model,
        demo.data,
        Clustering(4, per_channel=True, layers=("conv2",), epochs=0),
        probabilities=(True,),
    ).model
    kernel = clustered.get_layer("conv2").kernel.numpy()
    per_channel = [np.unique(kernel[..., c]).size for c in range(kernel.shape[-1])]
    assert max(per_channel) <= 4
    assert np.unique(kernel).size > 4  # channels do not share one set of centroids


def test_clustering_preserves_sparsity_of_a_pruned_model(demo, demo_model):
    pruned = prune(demo_model, demo.data, Pruning(0.6, epochs=1), probabilities=(True,)).model
    clustered = cluster(
        pruned, demo.data, Clustering(8, preserve_sparsity=True, epochs=1), probabilities=(True,)
    ).model
    figures = layer_figures(convert(clustered, FLOAT))
    assert figures["dense1"]["sparsity"] >= 0.59
    assert figures["dense1"]["unique_values"] <= 9  # 8 centroids plus the preserved zero


def test_qat_gives_an_int8_model_that_still_scores(demo, demo_model):
    recipe = Quantization(mode="int8", qat=True, epochs=1)
    tuned = quantize_aware_train(
        demo_model, demo.data, recipe, pruned=False, clustered=False, probabilities=(True,)
    )
    qat_model, scheme = tuned.model, tuned.scheme
    blob = convert(qat_model, recipe, qat=True)
    assert scheme == "QAT"
    assert {f["dtype"] for f in layer_figures(blob).values()} == {"int8"}
    assert top1(blob, demo.data) > 0.95


def test_prune_preserving_qat_keeps_sparsity(demo, demo_model):
    pruned = prune(demo_model, demo.data, Pruning(0.75, epochs=1), probabilities=(True,)).model
    recipe = Quantization(mode="int8", qat=True, epochs=1)
    tuned = quantize_aware_train(
        pruned, demo.data, recipe, pruned=True, clustered=False, probabilities=(True,)
    )
    qat_model, scheme = tuned.model, tuned.scheme
    figures = layer_figures(convert(qat_model, recipe, qat=True))
    assert scheme == "PQAT"
    assert figures["dense1"]["dtype"] == "int8"
    assert figures["dense1"]["sparsity"] >= 0.74


def test_sparsity_and_cluster_preserving_qat_keeps_both(demo, demo_model):
    pruned = prune(demo_model, demo.data, Pruning(0.6, epochs=1), probabilities=(True,)).model
    clustered = cluster(pruned, demo.data, Clustering(8, epochs=1), probabilities=(True,)).model
    recipe = Quantization(mode="int8", qat=True, epochs=1)
    tuned = quantize_aware_train(
        clustered, demo.data, recipe, pruned=True, clustered=True, probabilities=(True,)
    )
    qat_model, scheme = tuned.model, tuned.scheme
    figures = layer_figures(convert(qat_model, recipe, qat=True))
    assert scheme == "PCQAT"
    assert figures["dense1"]["sparsity"] >= 0.59
    assert figures["dense1"]["unique_values"] <= 9


def test_qat_keeps_named_layers_in_float(demo, demo_model):
    recipe = Quantization(mode="int8", qat=True, epochs=1, float_layers=("digit",))
    qat_model = quantize_aware_train(
        demo_model, demo.data, recipe, pruned=False, clustered=False, probabilities=(True,)
    ).model
    blob = convert(qat_model, Quantization(mode="int8", qat=True, epochs=1), qat=True)
    figures = layer_figures(blob)
    assert figures["dense1"]["dtype"] == "int8"
    assert figures["digit"]["dtype"] == "float32"


@pytest.mark.parametrize("mode", ["float16", "none"])
def test_a_clustered_float_file_has_the_clusters_per_channel(tmp_path, mode):
    """The demo clustered to 16 in float16 showed 29 values in conv3: numpy's float16
    sort returned unsorted runs, so np.unique over-counted.  Counted right, float
    kernels hold the clusters (per output channel, where folding scales channels)."""
    from studio.engine.pipeline import optimize
    from studio.values.recipe import Recipe

    recipe = Recipe(clustering=Clustering(16), quantization=Quantization(mode=mode))
    metrics = optimize("demo", "demo", recipe, tmp_path).metrics
    assert all(f.unique_values <= 17 for f in metrics.layers), metrics.layers
    assert max(f.unique_values for f in metrics.layers) == 16
    assert not metrics.flags
