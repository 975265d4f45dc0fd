"""Recipes: JSON round trip, and every impossible value rejected with its field named."""

import dataclasses
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
    assert recipe.describe() == "prune 80% (from 30%, 3 ep, lr 1e-4) + 16 clusters (2 ep) + int8"


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
        ({"quantization": {"mode": "int2"}}, "quantization.mode", "'int4'"),
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


def _variants() -> list[Recipe]:
    """Recipes that each change one field (or two) from a full recipe's defaults."""
    base = Recipe(Pruning(), Clustering(), Quantization(mode="int8"))
    changes = {
        "pruning": dict(
            target_sparsity=0.8,
            schedule="constant",
            initial_sparsity=0.2,
            epochs=10,
            learning_rate=1e-4,
            batch_size=64,
            layers=("conv1",),
        ),
        "clustering": dict(
            clusters=8,
            init="linear",
            per_channel=True,
            preserve_sparsity=False,
            epochs=3,
            learning_rate=1e-4,
            batch_size=16,
            layers=("a", "b", "c"),
        ),
        "quantization": dict(
            qat=True,
            calibration_samples=200,
            io_type="int8",
            select_tf_ops=True,
            float_layers=("conv1", "dense"),
        ),
    }
    out = [base, dataclasses.replace(base, seed=4), Recipe(), Recipe(Pruning())]
    for section, fields in changes.items():
        for name, value in fields.items():
            changed = dataclasses.replace(getattr(base, section), **{name: value})
            out.append(dataclasses.replace(base, **{section: changed}))
    for other in ("conv2", "conv1"), ("a", "b", "d"), ("a", "b", "c", "d"):
        q = dataclasses.replace(base.quantization, float_layers=other)
        out.append(dataclasses.replace(base, quantization=q))
        c = dataclasses.replace(base.clustering, layers=other)
        out.append(dataclasses.replace(base, clustering=c))
    qat = dataclasses.replace(base.quantization, qat=True)
    for name, value in dict(epochs=4, learning_rate=3e-5, batch_size=8).items():
        out.append(
            dataclasses.replace(base, quantization=dataclasses.replace(qat, **{name: value}))
        )
    return out


def test_labels_tell_every_two_different_recipes_apart():
    """Issue 18: a candidate that keeps a layer in float, or ran 10 epochs, must not read
    like the one it came from; same label exactly when the same effect."""
    recipes = _variants()
    for a in recipes:
        for b in recipes:
            same = a.effective() == b.effective()
            assert (a.describe() == b.describe()) == same, (a.describe(), b.describe())


def test_fields_without_effect_do_not_change_the_label():
    plain = Recipe(quantization=Quantization(mode="dynamic"))
    idle = Recipe(quantization=Quantization(mode="dynamic", epochs=9, calibration_samples=7))
    assert idle.describe() == plain.describe() == "dynamic"
    swapped = Recipe(quantization=Quantization(mode="int8", float_layers=("b", "a")))
    assert swapped.describe() == "int8 (a, b in float)"
    assert Recipe(Pruning(epochs=10, learning_rate=1e-4)).describe() == "prune 50% (10 ep, lr 1e-4)"
