"""The sparse-speed advisor (studio/values/sparse_speed.py) on graphs the converter made,
and reading weights the converter stored sparse (studio/engine/tflite_file.py).

Each model below meets XNNPACK's sparse-inference rules but one; the verdict must name
that rule and the operator, and only the model that meets them all gets "applies".
"""

from __future__ import annotations

import numpy as np
import pytest

import studio  # noqa: F401  (tf_keras before TensorFlow)

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("tf_keras")
L = keras.layers

SPARSE = "sparse"
DYNAMIC = "dynamic"
DENSE = "dense"


def _model(stem="padded", dw_stride2="padded", end="mean", zeros=0.8, middle=None):
    keras.utils.set_random_seed(0)
    i = keras.Input((32, 32, 3))
    x = i
    if stem == "same":
        x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="stem")(x)
    elif stem == "5x5":
        x = L.ZeroPadding2D(2)(x)
        x = L.Conv2D(8, 5, strides=2, padding="valid", name="stem")(x)
    elif stem == "mixed":  # a 1x1 colour mix before the first 3x3 convolution
        x = L.Conv2D(3, 1, name="mix")(x)
        x = L.ZeroPadding2D(1)(x)
        x = L.Conv2D(8, 3, strides=2, padding="valid", name="stem")(x)
    else:
        x = L.ZeroPadding2D(1)(x)
        x = L.Conv2D(8, 3, strides=2, padding="valid", activation="relu", name="stem")(x)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(x)
    if middle == "full3x3":
        x = L.Conv2D(16, 3, padding="same", name="full3x3")(x)
    x = L.Conv2D(32, 1, activation="relu", name="pw")(x)
    if dw_stride2 == "same":
        x = L.DepthwiseConv2D(3, strides=2, padding="same", name="dw2")(x)
    else:
        x = L.ZeroPadding2D(1)(x)
        x = L.DepthwiseConv2D(3, strides=2, padding="valid", name="dw2")(x)
    x = L.Conv2D(64, 1, name="pw2")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x) if end == "mean" else L.Flatten(name="flatten")(x)
    model = keras.Model(i, L.Dense(10, name="head")(x))
    rng = np.random.RandomState(0)
    for layer in model.layers:
        if layer.name.startswith("pw"):
            kernel, bias = layer.get_weights()
            kernel[rng.rand(*kernel.shape) < zeros] = 0
            layer.set_weights([kernel, bias])
    return model


def _convert(model, storage=SPARSE) -> bytes:
    from studio.engine.convert import convert
    from studio.values.recipe import Quantization

    mode = "dynamic" if storage == DYNAMIC else "none"
    return convert(model, Quantization(mode=mode), sparse=storage != DENSE)


def _advice(model, storage=SPARSE):
    from studio.engine.tflite_file import graph_ops
    from studio.values.sparse_speed import SparseAdvice, advise

    advice = advise(graph_ops(_convert(model, storage)))
    assert SparseAdvice.from_dict(advice.to_dict()) == advice
    return advice


def test_a_model_that_meets_every_rule_gets_sparse_inference():
    advice = _advice(_model())
    assert advice.applies and advice.problems == ()
    assert advice.zeros == pytest.approx(0.8, abs=0.03)
    assert "applies" in advice.summary()


@pytest.mark.parametrize(
    ("model", "storage", "rule", "layer", "words"),
    [
        ({}, DENSE, "storage", "", "pruning.sparse_format"),
        ({}, DYNAMIC, "float", "pw2", "int8 weights"),
        ({"stem": "same"}, SPARSE, "start", "stem", "TensorFlow 'same'"),
        ({"stem": "5x5"}, SPARSE, "start", "stem", "5x5"),
        ({"stem": "mixed"}, SPARSE, "start", "mix", "1x1"),
        ({"dw_stride2": "same"}, SPARSE, "op", "dw2", "TensorFlow SAME"),
        ({"middle": "full3x3"}, SPARSE, "op", "full3x3", "full convolution"),
        ({"end": "flatten"}, SPARSE, "op", "flatten", "GlobalAveragePooling2D"),
        ({"zeros": 0.5}, SPARSE, "zeros", "", "75 %"),
    ],
)
def test_each_broken_rule_is_named_with_its_operator(model, storage, rule, layer, words):
    advice = _advice(_model(**model), storage)
    assert not advice.applies
    [problem] = advice.problems
    assert problem.rule == rule
    assert problem.layer == layer
    if layer:
        assert f"({layer})" in problem.message and problem.op is not None
    assert words in problem.message + problem.fix
    assert advice.summary().startswith("No sparse speed-up:")


def test_weights_stored_sparse_read_back_as_the_dense_file_holds_them():
    """The converter's sparse storage (DENSIFY + CSR) decoded: the same per-layer figures
    as the dense file of the same model, and a much smaller file."""
    from studio.engine.tflite_file import weight_figures

    model = _model()
    sparse, dense = _convert(model), _convert(model, DENSE)
    assert len(sparse) < 0.8 * len(dense)

    def figures(blob):
        return {(f.name, f.op): (f.count, f.sparsity, f.unique_values) for f in weight_figures(blob)}

    assert figures(sparse) == figures(dense)
    assert figures(sparse)[("pw2", "CONV_2D")][1] == pytest.approx(0.8, abs=0.03)


def test_the_limits_say_what_never_speeds_up():
    from studio.values.sparse_speed import LIMITS

    for key, words in (("2:4", "2:4"), ("int8", "int8"), ("dense", "Dense"), ("avx", "AVX")):
        assert words in LIMITS[key]


def test_a_2_4_structure_is_told_it_will_not_speed_up_whatever_the_graph():
    from studio.engine.tflite_file import graph_ops
    from studio.values.sparse_speed import LIMITS, advise

    ops = graph_ops(_convert(_model(), SPARSE))
    assert advise(ops).applies and advise(ops, "2:4").notes[0] == LIMITS["2:4"]
    assert LIMITS["2:4"] not in advise(ops).notes


# -- sparse storage as a recipe option (pruning.sparse_format) ---------------------------


def test_sparse_storage_is_a_recipe_field_refused_with_int4():
    from studio.values.errors import RecipeError
    from studio.values.recipe import Pruning, Quantization, Recipe

    recipe = Recipe(pruning=Pruning(target_sparsity=0.8, sparse_format=True))
    assert Recipe.from_json(recipe.to_json()) == recipe
    assert recipe.describe() == "prune 80% (sparse storage)"
    with pytest.raises(RecipeError, match=r"^pruning\.sparse_format: .*int4"):
        Recipe(pruning=Pruning(sparse_format=True), quantization=Quantization(mode="int4"))
    with pytest.raises(RecipeError, match=r"pruning\.sparse_format: must be one of"):
        Pruning(sparse_format="yes")


def test_a_sweep_fine_tunes_once_for_dense_and_sparse_storage():
    """Storage is the converter's choice: candidates that differ only in it share the
    pruning fine-tune (one sweep group; one prefix on a cluster)."""
    from studio.values.grid import Grid
    from studio.values.sweep import plan

    grid = Grid.from_dict(
        {
            "pruning.target_sparsity": [0.8],
            "pruning.sparse_format": [False, True],
            "quantization.mode": ["none", "int8"],
        }
    )
    [group] = plan(grid)
    storages = sorted(r.pruning.sparse_format for _, r in group.entries)
    assert storages == [False, False, True, True]
    other = Grid.from_dict({"pruning.target_sparsity": [0.5, 0.8]})
    assert len(plan(other)) == 2


def test_the_figures_of_a_sparse_candidate_survive_json_and_read_in_words():
    from studio.values import figures, units
    from studio.values.metrics import DenseTwin, Latency, Metrics
    from studio.values.sparse_speed import Problem, SparseAdvice

    twin = DenseTwin(
        size_bytes=250_000,
        gzip_bytes=70_000,
        peak_memory_bytes=2_000_000,
        accuracy=0.9,
        max_output_diff=0.0,
        latency_ms=Latency(0.5, 0.55, 1, 0.49, 0.51, 5, True),
        sparse_latency_ms=Latency(0.25, 0.27, 1, 0.24, 0.26, 5, True),
        kernels="default",
    )
    advice = SparseAdvice(False, (Problem("zeros", None, "", "too few zeros.", "prune more."),), 0.5)
    m = Metrics(
        71_000, 60_000, 0.9, "top1", 1.0, 0.0, Latency(0.25, 0.27, 1), 1_500_000,
        sparse_advice=advice, dense=twin, kernels="default",
    )  # fmt: skip
    again = Metrics.from_dict(m.to_dict())
    assert again == m
    assert twin.speedup == pytest.approx(2.0) and twin.measurable
    words = units.dense_vs_sparse(m)
    assert "2.00x, sparse faster" in words and "on 1 thread(s)" in words
    assert "69.3 KB vs 244.1 KB" in words  # raw sizes: what the format buys
    notes = units.speed_notes(m)
    assert notes[0].startswith("No sparse speed-up: too few zeros.") and notes[-1] == words
    # A latency pair whose spreads overlap is said to be noise, not a speed-up.
    close = DenseTwin(**{**twin.__dict__, "sparse_latency_ms": Latency(0.495, 0.5, 1, 0.49, 0.5)})
    assert not close.measurable and "within noise" in units.dense_vs_sparse(
        Metrics(**{**m.__dict__, "dense": close})
    )
    # Spreads apart but 1 % apart: what two files run by the same kernels gave (the sparse
    # benchmark on an AVX CPU), not a speed-up.
    tight = DenseTwin(
        **{
            **twin.__dict__,
            "latency_ms": Latency(0.234, 0.236, 1, 0.233, 0.236),
            "sparse_latency_ms": Latency(0.232, 0.233, 1, 0.232, 0.2325),
        }
    )
    assert tight.speedup > 1 and not tight.measurable
    shown = {f.key: f.words(m, None) for f in figures.shown_in(figures.COMPARE)}
    assert shown["sparse_speedup"] == words and shown["dense_size_bytes"] == "244.1 KB"
    assert shown["sparse_speed"].startswith("No sparse speed-up")


@pytest.mark.slow
def test_a_sparse_candidate_is_smaller_equal_in_accuracy_and_measured_beside_its_dense_twin(
    tmp_path,
):
    """The demo pruned to 80 % with sparse storage: float runs on the default kernels and
    keeps exactly the dense file's outputs; int8 is smaller still, runs only on the
    built-in kernels, and says so."""
    from studio.engine.measure import BUILTIN_KERNELS, DEFAULT_KERNELS
    from studio.engine.pipeline import optimize
    from studio.engine.tflite_file import stores_sparse, weight_figures
    from studio.values.recipe import Pruning, Quantization, Recipe

    pruning = Pruning(target_sparsity=0.8, epochs=2, sparse_format=True)
    for mode, kernels in (("none", DEFAULT_KERNELS), ("int8", BUILTIN_KERNELS)):
        recipe = Recipe(pruning=pruning, quantization=Quantization(mode=mode))
        m = optimize("demo", "demo", recipe, tmp_path / mode).metrics
        blob = (tmp_path / mode / "model.tflite").read_bytes()
        assert stores_sparse(blob)
        assert m.kernels == kernels and m.dense.kernels == kernels
        assert m.dense.size_bytes > 1.4 * m.size_bytes, (mode, m.size_bytes, m.dense.size_bytes)
        assert m.accuracy == m.dense.accuracy
        # Pruned weights read back (densified) as 80 % zeros: the effect check holds.
        conv = [f for f in weight_figures(blob) if f.op == "CONV_2D" and f.count > 1000]
        assert conv and all(f.sparsity >= 0.79 for f in conv), conv
        assert m.dense.latency_ms.together and m.dense.sparse_latency_ms.threads == 1
        assert m.sparse_advice is not None and not m.sparse_advice.applies
        if mode == "none":
            assert m.dense.max_output_diff < 1e-5 and not m.notes
            # The demo is a 1-channel image model: the first rule it breaks is its stem.
            assert m.sparse_advice.problems[0].rule == "start"
            assert m.sparse_advice.problems[0].layer == "conv1"
        else:
            assert "built-in kernels" in m.notes[0] and "XNNPACK" in m.notes[0]
            assert m.sparse_advice.problems[0].rule == "float"
    # The twin's file is gone: the folder holds what any candidate's does.
    assert {p.name for p in (tmp_path / "int8").glob("*.tflite")} == {
        "model.tflite",
        "baseline.tflite",
    }


def test_the_kernels_that_run_a_file_are_tried_not_guessed_and_said():
    """A sparse dynamic-range file fails to prepare under XNNPACK (ai-edge-litert 2.3.0):
    it runs on the built-in kernels, with the op XNNPACK refused named; dense and sparse
    float files run on the default kernels and give the same outputs."""
    from studio.engine import measure

    model = _model()
    dense, sparse, dynamic = (_convert(model, s) for s in (DENSE, SPARSE, DYNAMIC))
    assert measure.kernels(dense) == (measure.DEFAULT_KERNELS, "")
    assert measure.kernels(sparse) == (measure.DEFAULT_KERNELS, "")
    chosen, why = measure.kernels(dynamic)
    assert chosen == measure.BUILTIN_KERNELS
    assert why.startswith("XNNPACK failed to prepare ") and why.split()[-1] in (
        "CONV_2D",
        "FULLY_CONNECTED",
        "DEPTHWISE_CONV_2D",
    )
    x = np.random.RandomState(0).rand(4, 32, 32, 3).astype(np.float32)
    outputs = [measure.predict(b, x, threads=1) for b in (dense, sparse, dynamic)]
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-5)
    assert np.abs(outputs[2] - outputs[0]).max() < 0.5  # int8 weights, same model


def test_a_sparse_file_is_first_run_on_a_real_sample_in_the_probe(tmp_path, monkeypatch):
    """The crash-safe first run of a sparse file (before its kernels are tried in this
    process) feeds the evaluation sample: a token model run on whatever the input tensor
    held failed with "gather index out of bounds" (the zoo's Transformer)."""
    from studio.engine import measure
    from studio.engine.data import Dataset

    path = tmp_path / "model.tflite"
    path.write_bytes(_convert(_model(), SPARSE))
    x = np.random.RandomState(0).rand(6, 32, 32, 3).astype(np.float32)
    data = Dataset("test", x, np.zeros(6, np.int64), x, np.arange(6) % 10)
    seen = []
    real = measure.probe

    def probe(path, sample, *args, **kwargs):
        seen.append(sample)
        return real(path, sample, *args, **kwargs)

    monkeypatch.setattr(measure, "probe", probe)
    m, _ = measure.measure(path, data)
    assert len(seen) == 2 and all(s is not None and s.shape == (1, 32, 32, 3) for s in seen)
    assert m.kernels == measure.DEFAULT_KERNELS


def test_the_advice_reads_graphs_whose_operators_have_several_outputs():
    """A recurrent model's converted graph has operators with several outputs (the zoo's
    pruned LSTM and GRU failed to be advised: a numpy array of outputs taken as a truth
    value)."""
    from studio.engine.tflite_file import graph_ops
    from studio.values.sparse_speed import advise

    keras.utils.set_random_seed(0)
    i = keras.Input((6, 4))
    x = L.LSTM(8, return_sequences=True)(i)
    model = keras.Model(i, L.Dense(3)(L.GRU(8)(x)))
    ops = graph_ops(_convert(model, DENSE))
    assert any(len(op.kind) and op.kind != "?" for op in ops)
    advice = advise(ops)
    assert not advice.applies and advice.problems[0].rule == "start"
