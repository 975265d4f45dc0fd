"""A candidate is what its label says, or it is marked broken; warnings say why and
what to try.  Checked on hand-made figures (the engine's side: test_zoo, test_techniques)."""

from __future__ import annotations

from fakes import figures
from studio.values.checks import budget_flag, effect_flags, sanity_flags
from studio.values.metrics import LayerFigures, OutputScore
from studio.values.recipe import Clustering, Pruning, Quantization, Recipe

INT8 = Recipe(quantization=Quantization(mode="int8"))


def tensor(layer, dtype="int8", count=1000, sparsity=0.0, unique=200, op="CONV_2D"):
    return LayerFigures(layer, f"model/{layer}/op", op, dtype, count, sparsity, unique)


def codes(flags):
    return [f.code for f in flags]


def test_int8_weights_left_in_float_make_the_candidate_broken():
    half_float = figures(layers=(tensor("stem"), tensor("block_1", "float32", 3000)))
    flags = effect_flags(INT8, half_float)
    assert codes(flags) == ["weights_not_int8"]
    assert flags[0].broken and "75%" in flags[0].message and "block_1" in flags[0].message
    qat = Recipe(quantization=Quantization(mode="int8", qat=True))
    assert "(QAT)" in effect_flags(qat, half_float)[0].message
    assert effect_flags(INT8, figures(layers=(tensor("stem"), tensor("block_1")))) == ()


def test_layers_kept_in_float_on_purpose_and_small_dynamic_tensors_are_not_flagged():
    kept = Recipe(quantization=Quantization(mode="int8", float_layers=("head",)))
    m = figures(layers=(tensor("stem"), tensor("head", "float32", 5000)))
    assert effect_flags(kept, m) == ()
    assert codes(effect_flags(INT8, m)) == ["weights_not_int8"]
    dynamic = Recipe(quantization=Quantization(mode="dynamic"))
    small = figures(layers=(tensor("stem", count=4096), tensor("bias_like", "float32", 500)))
    assert effect_flags(dynamic, small) == ()
    f16 = Recipe(quantization=Quantization(mode="float16"))
    assert codes(effect_flags(f16, small)) == ["weights_not_float16"]
    assert effect_flags(Recipe(), figures(layers=(tensor("a", "float32"),))) == ()


def test_int4_expects_int4_where_it_runs_and_the_rules_say_so():
    from studio.values.recipe import OpRule

    rules = (OpRule("^head$", "float"), OpRule("emb", "int8"))
    int4 = Recipe(quantization=Quantization(mode="int4", op_rules=rules))
    fine = figures(
        layers=(
            tensor("stem", "int4"),
            tensor("dw", "int8", op="DEPTHWISE_CONV_2D"),  # int4 does not run there
            tensor("emb", "int8", op="EMBEDDING_LOOKUP"),  # a rule keeps it int8
            tensor("head", "float32", op="FULLY_CONNECTED"),  # and this one float
        )
    )
    assert effect_flags(int4, fine) == ()
    left = figures(layers=(tensor("stem", "int4"), tensor("words", "float32", 5000, op="GATHER")))
    # An Embedding table the studio could not make a lookup stays float: said.
    assert codes(effect_flags(int4, left)) == ["weights_not_int4"]
    lost = figures(
        layers=(tensor("stem", "int4"), tensor("dense", "float32", 5000, op="FULLY_CONNECTED"))
    )
    flags = effect_flags(Recipe(quantization=Quantization(mode="int4")), lost)
    assert codes(flags) == ["weights_not_int4"] and "per-op rule" in flags[0].message


def test_pruning_that_left_too_few_zeros_is_broken_and_names_the_layers():
    recipe = Recipe(pruning=Pruning(0.5))
    m = figures(
        layers=(tensor("a", "float32", sparsity=0.5), tensor("b", "float32", sparsity=0.02))
    )
    flags = effect_flags(recipe, m, pruned={"a", "b"})
    assert codes(flags) == ["not_sparse"] and flags[0].broken
    assert "'b'" not in flags[0].message and "b fall short" in flags[0].message
    assert effect_flags(recipe, m, pruned={"a"}) == ()
    two_four = Recipe(pruning=Pruning(0.5, structure="2:4"))
    assert codes(effect_flags(two_four, m, pruned={"b"})) == ["not_sparse"]


def test_clustering_with_more_values_than_clusters_is_broken():
    recipe = Recipe(clustering=Clustering(16))
    m = figures(layers=(tensor("a", unique=17), tensor("b", unique=90)))
    flags = effect_flags(recipe, m, clustered={"a", "b"})
    assert codes(flags) == ["not_clustered"] and "up to 90" in flags[0].message
    assert effect_flags(recipe, m, clustered={"a"}) == ()  # 16 + the preserved zero
    # float weights are checked too (counted per output channel by tflite_file)
    f16 = figures(layers=(tensor("a", dtype="float16", unique=40),))
    assert codes(effect_flags(recipe, f16, clustered={"a"})) == ["not_clustered"]


def test_a_collapsed_candidate_and_a_float_model_at_chance_are_told_apart():
    base = figures(accuracy=0.93)
    collapsed = sanity_flags(figures(accuracy=0.1), base, classes={"y": 10})
    assert codes(collapsed) == ["chance"] and "collapsed" in collapsed[0].message
    assert not collapsed[0].broken
    assert sanity_flags(figures(accuracy=0.8), base, classes={"y": 10}) == ()
    at_chance = figures(accuracy=0.11)
    own = sanity_flags(at_chance, None, classes={"y": 10}, float_model=True)
    assert codes(own) == ["chance"] and "float model itself" in own[0].message
    # Candidates of a float model at chance do not repeat it.
    assert sanity_flags(figures(accuracy=0.1), at_chance, classes={"y": 10}) == ()
    # MAE is not a top-1: a regressor is never "at chance".
    assert sanity_flags(figures(accuracy=0.01, metric="mae"), base, classes={"y": 1}) == ()


def test_disagreement_and_a_rising_loss_are_warned_about():
    base = figures(accuracy=0.9)
    drifted = sanity_flags(figures(accuracy=0.88, agreement=0.8), base, classes={"y": 3})
    assert codes(drifted) == ["disagrees"] and "80%" in drifted[0].message
    rose = sanity_flags(base, base, classes={"y": 3}, losses={"clustering": (0.2, 0.5)})
    assert codes(rose) == ["loss_rose"] and "clustering" in rose[0].message
    fell = sanity_flags(base, base, classes={"y": 3}, losses={"QAT": (0.5, 0.2)})
    assert fell == ()


def test_each_output_of_a_two_headed_model_is_checked():
    heads = (
        OutputScore("level", 0.34, "top1", 0.5, 0.1),
        OutputScore("score", 0.2, "mae", None, 0.1),
    )
    flags = sanity_flags(figures(outputs=heads), figures(), classes={"level": 3, "score": 1})
    assert codes(flags) == ["chance"] and "output 'level'" in flags[0].message


def test_the_budget_flag_follows_the_budget():
    base = figures(accuracy=0.95)
    assert budget_flag(figures(accuracy=0.94), base, 1.0) is None
    over = budget_flag(figures(accuracy=0.90), base, 1.0)
    assert over is not None and over.code == "over_budget" and "1 points" in over.message


def test_a_fine_tune_far_shorter_than_auto_is_said_before_and_after():
    """Issue 33: pruning 50 % + int8 with 3 epochs (~39 steps) on 400 samples lost 6-18
    points without a word; "auto" (~300 steps) kept the models within 2."""
    from studio.values.checks import short_fine_tune
    from studio.values.recipe import Pruning, Quantization

    int8 = Quantization(mode="int8")
    short = Recipe(pruning=Pruning(target_sparsity=0.5, epochs=3), quantization=int8)
    said = short_fine_tune(short, 400)
    assert "39 steps (3 epoch(s) of 13)" in said and "~312" in said and "auto" in said
    assert (
        short_fine_tune(Recipe(pruning=Pruning(target_sparsity=0.5), quantization=int8), 400) == ""
    )
    enough = Recipe(pruning=Pruning(target_sparsity=0.5, epochs=20), quantization=int8)
    assert short_fine_tune(enough, 400) == ""
    assert short_fine_tune(Recipe(quantization=int8), 400) == ""  # nothing to fine-tune
