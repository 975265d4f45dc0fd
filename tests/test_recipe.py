"""Recipes: JSON round trip, and every impossible value rejected with its field named."""

import json

import pytest

from studio.values.errors import RecipeError
from studio.values.recipe import (
    AUTO_MAX_EPOCHS,
    AUTO_STEPS,
    Clustering,
    Pruning,
    Quantization,
    Recipe,
)

FULL = {
    "pruning": {
        "target_sparsity": 0.8,
        "schedule": "polynomial",
        "initial_sparsity": 0.3,
        "structure": None,
        "layers": None,
        "epochs": 3,
        "learning_rate": 1e-4,
    },
    "clustering": {
        "clusters": 16,
        "init": "kmeans++",
        "per_channel": False,
        "preserve_sparsity": True,
        "layers": None,
        "epochs": 2,
    },
    "quantization": {
        "mode": "int8",
        "qat": False,
        "calibration_samples": 100,
        "io_type": "float32",
        "float_layers": [],
    },
}


def test_issue_example_round_trips_through_json():
    recipe = Recipe.from_dict(FULL)
    assert recipe.pruning == Pruning(0.8, "polynomial", 0.3, None, None, 3, 1e-4)
    assert recipe.clustering.clusters == 16 and recipe.quantization.mode == "int8"
    again = Recipe.from_json(recipe.to_json())
    assert again == recipe
    assert json.loads(recipe.to_json())["pruning"]["target_sparsity"] == 0.8
    assert recipe.describe() == "prune 80% + 16 clusters + int8"


def test_every_section_is_optional():
    recipe = Recipe.from_dict({})
    assert recipe.pruning is None and recipe.clustering is None
    assert recipe.quantization == Quantization() and recipe.describe() == "float"
    assert (
        Recipe.from_dict({"pruning": None, "quantization": {"mode": "float16"}}).describe()
        == "float16"
    )


@pytest.mark.parametrize(
    ("recipe", "field", "words"),
    [
        ({"pruning": {"target_sparsity": 1.5}}, "pruning.target_sparsity", "(0, 1)"),
        ({"pruning": {"target_sparsity": 0}}, "pruning.target_sparsity", "(0, 1)"),
        ({"pruning": {"target_sparsity": "high"}}, "pruning.target_sparsity", "number"),
        (
            {"pruning": {"target_sparsity": 0.4, "initial_sparsity": 0.6}},
            "pruning.initial_sparsity",
            "exceed",
        ),
        ({"pruning": {"schedule": "cubic"}}, "pruning.schedule", "'constant'"),
        ({"pruning": {"structure": "4:8"}}, "pruning.structure", "'2:4'"),
        (
            {"pruning": {"structure": "2:4", "target_sparsity": 0.8}},
            "pruning.target_sparsity",
            "0.5",
        ),
        ({"pruning": {"epochs": 0}}, "pruning.epochs", "[1, 1000]"),
        ({"pruning": {"epochs": 2.5}}, "pruning.epochs", "whole number"),
        ({"pruning": {"layers": "dense"}}, "pruning.layers", "list of layer names"),
        ({"clustering": {"clusters": 0}}, "clustering.clusters", "[2, 256]"),
        ({"clustering": {"clusters": 16.0}}, "clustering.clusters", "whole number"),
        ({"clustering": {"init": "kmeans"}}, "clustering.init", "'kmeans++'"),
        ({"clustering": {"per_channel": "yes"}}, "clustering.per_channel", "True"),
        ({"quantization": {"mode": "int4"}}, "quantization.mode", "'int16x8'"),
        ({"quantization": {"qat": True, "mode": "float16"}}, "quantization.qat", "int8"),
        ({"quantization": {"mode": "dynamic", "io_type": "uint8"}}, "quantization.io_type", "int8"),
        ({"quantization": {"mode": "int8", "io_type": "int16"}}, "quantization.io_type", "int16x8"),
        (
            {"quantization": {"mode": "float16", "float_layers": ["a"]}},
            "quantization.float_layers",
            "int8",
        ),
        ({"quantization": {"calibration_samples": 0}}, "quantization.calibration_samples", "[1,"),
        ({"quantization": {"learning_rate": -1}}, "quantization.learning_rate", "(0, 1]"),
        ({"pruning": {"sparsity": 0.5}}, "pruning.sparsity", "unknown recipe field"),
        ({"prune": {}}, "prune", "unknown recipe field"),
        ({"pruning": [0.5]}, "pruning", "object"),
        ({"seed": -1}, "seed", "[0,"),
    ],
)
def test_impossible_values_name_the_field(recipe, field, words):
    with pytest.raises(RecipeError) as err:
        Recipe.from_dict(recipe)
    assert str(err.value).startswith(f"{field}:")
    assert words in str(err.value)


def test_recipe_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"pruning": {"target_sparsity": 0.8,}}')
    with pytest.raises(RecipeError, match=r"bad\.json.*not valid JSON.*line 1"):
        Recipe.load(bad)
    with pytest.raises(RecipeError, match=r"missing\.json does not exist"):
        Recipe.load(tmp_path / "missing.json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"clustering": {"clusters": 1}}))
    with pytest.raises(RecipeError, match=r"wrong\.json: clustering\.clusters"):
        Recipe.load(wrong)


def test_recipes_are_frozen_values():
    recipe = Recipe(clustering=Clustering(clusters=8))
    with pytest.raises(AttributeError):
        recipe.clustering.clusters = 4  # type: ignore[misc]
    assert recipe == Recipe(clustering=Clustering(clusters=8))


def test_overall_progress_follows_the_recipes_own_stages():
    plain = Recipe(quantization=Quantization(mode="int8"))
    assert plain.stages() == ("load", "baseline", "convert", "evaluate", "done")
    assert plain.progress("load", 0.0) == 0.0
    assert plain.progress("convert", 0.5) == 2.5 / 4
    assert plain.progress("done", 1.0) == 1.0
    pruned = Recipe(pruning=Pruning(), quantization=Quantization(mode="int8"))
    assert pruned.progress("prune", 0.5) < pruned.progress("convert", 0.0)


def test_auto_pruning_epochs_give_a_few_hundred_steps_whatever_the_data_size():
    auto = Pruning()
    assert auto.epochs is None
    # 700 samples / 32 = 22 steps an epoch: 2 epochs (the old default) were 44 steps.
    assert auto.epochs_for(700) == 14
    assert auto.epochs_for(700) * 22 >= AUTO_STEPS
    assert auto.epochs_for(1_000_000) == 2  # never fewer: the schedule needs a ramp
    assert auto.epochs_for(10) == AUTO_MAX_EPOCHS  # a tiny set is bounded
    assert Pruning(epochs=3).epochs_for(700) == 3  # the user's number wins
    assert Recipe.from_dict(Recipe(pruning=auto).to_dict()).pruning.epochs is None
