"""Sweeps: grid files, expansion, shared fine-tunes, Pareto flags and the recommendation."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from fakes import figures
from studio.jobs import kinds
from studio.jobs.sweeps import SweepRun
from studio.values.grid import Grid, GridError
from studio.values.metrics import Flag, Latency
from studio.values.recipe import Recipe
from studio.values.resources import RECIPES
from studio.values.results import Recommendation, Result, judge, recommend
from studio.values.sweep import plan, sharing

DEMO_GRID = RECIPES / "demo_sweep_grid.json"


def _metrics(gzip, accuracy, latency, metric="top1"):
    return figures(gzip, accuracy, latency, metric=metric)


def _result(name, metrics, error=None):
    return Result(name, Recipe(), metrics, error, "failed" if error else "done")


def test_latencies_within_noise_are_ties_broken_by_size_then_full_integer():
    """Two runs once named different "fastest" candidates 0.1 µs apart, one of them
    dominated and dynamic-range; within the p90 spread it is a tie, decided by what a
    phone runs best."""
    baseline = _metrics(1000, 0.90, 10.0)
    dynamic = Recipe.from_dict({"quantization": {"mode": "dynamic"}})
    int8 = Recipe.from_dict({"quantization": {"mode": "int8"}})
    results = [
        Result("dyn", dynamic, _metrics(400, 0.90, 1.0000)),  # "fastest" by 0.1 µs
        Result("i8", int8, _metrics(400, 0.90, 1.0001)),
        Result("big", int8, _metrics(900, 0.90, 1.00005)),  # dominated by i8
    ]
    chosen = recommend(results, baseline, budget=1.0)
    assert chosen.fastest == "i8" and chosen.smallest == "i8"
    assert set(chosen.tied) == {"dyn", "big"}
    # Beyond the noise the measurement decides.
    results[0] = Result("dyn", dynamic, _metrics(400, 0.90, 0.5))
    assert recommend(results, baseline, budget=1.0).fastest == "dyn"


def _timed(median_us, low_us, high_us, gzip=400):
    lat = Latency(median_us / 1000, high_us / 1000, 1, low_us / 1000, high_us / 1000, 5)
    return dataclasses.replace(_metrics(gzip, 0.90, 1.0), latency_ms=lat)


def test_two_runs_of_one_recipe_are_never_faster_than_each_other():
    """Issue 32: c002 and c006, the same recipe, read 11 µs and 8.3 µs, and the status
    bar named c006 "fastest".  Their round medians overlap: a tie, said as one."""
    baseline = _metrics(1000, 0.90, 0.1)
    recipe = Recipe.from_dict(
        {"pruning": {"target_sparsity": 0.8}, "quantization": {"mode": "int8"}}
    )
    c002 = Result("c002", recipe, _timed(11.0, 8.0, 12.5))
    c006 = Result("c006", recipe, _timed(8.3, 7.9, 11.2))
    chosen = recommend([c002, c006], baseline, budget=1.0)
    assert chosen.tied and {chosen.fastest, *chosen.tied} == {"c002", "c006"}
    # Timed together (one process, interleaved), their spreads part: now one is faster.
    slow, fast = (
        Result("c002", recipe, _timed(11.0, 10.8, 11.3)),
        Result("c006", recipe, _timed(8.3, 8.1, 8.6)),
    )
    assert recommend([slow, fast], baseline, budget=1.0) == Recommendation("c002", "c006")


def test_latencies_below_the_timers_resolution_are_not_ranked():
    """Issue 32: a text model's int8 0.9 µs against prune 50 % + int8 1.5 µs."""
    baseline = _metrics(1000, 0.90, 0.0017)  # 1.7 µs
    int8 = Result("c001", Recipe(), _timed(0.9, 0.85, 0.95, gzip=300))
    pruned = Result("c002", Recipe(), _timed(1.5, 1.4, 1.6))
    chosen = recommend([int8, pruned], baseline, budget=1.0)
    assert chosen.fastest is None and "resolution" in chosen.unranked
    assert chosen.smallest == "c001"


def test_broken_and_collapsed_candidates_are_never_results():
    baseline = _metrics(1000, 0.90, 10.0)
    lying = dataclasses.replace(
        _metrics(100, 0.90, 1.0), flags=(Flag("weights_not_int8", "float", broken=True),)
    )
    collapsed = dataclasses.replace(_metrics(90, 0.10, 1.0), flags=(Flag("chance", "…"),))
    results = [
        _result("lying", lying),
        _result("collapsed", collapsed),
        _result("honest", _metrics(500, 0.90, 2.0)),
    ]
    flagged, chosen = judge(results, baseline, budget=100.0)
    assert chosen == Recommendation("honest", "honest")
    assert [r.name for r in flagged if r.pareto] == ["collapsed", "honest"]


def test_the_demo_grid_expands_to_twelve_named_recipes():
    grid = Grid.load(DEMO_GRID)
    recipes = dict(grid.expand())
    assert grid.size == len(recipes) == 12
    first = recipes["01-prune-50-2-ep-dynamic"]
    assert first.pruning.target_sparsity == 0.5 and first.pruning.epochs == 2  # base kept
    assert first.clustering is None  # null switches the section off
    assert first.quantization.mode == "dynamic"
    last = recipes["12-prune-80-2-ep-16-clusters-float16"]
    assert last.clustering.clusters == 16 and last.clustering.epochs == 1


def test_a_section_missing_from_the_base_is_created_with_defaults():
    grid = Grid.from_dict({"clustering.clusters": [8, 32], "quantization.mode": ["int8"]})
    recipes = [r for _, r in grid.expand()]
    assert [r.clustering.clusters for r in recipes] == [8, 32]
    assert recipes[0].clustering.init == "kmeans++" and recipes[0].pruning is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "must be a JSON object"),
        ({}, "no fields to vary"),
        ({"pruning.sparsity": [0.5]}, "pruning.sparsity: unknown field of pruning"),
        ({"speed": [1]}, "speed: unknown field"),
        ({"quantization.mode": []}, "quantization.mode: must be a non-empty list"),
        ({"quantization.mode": "int8"}, "quantization.mode: must be a non-empty list"),
        ({"pruning.target_sparsity": [0.5, 1.5]}, "pruning.target_sparsity=1.5 is not a valid"),
        (
            {"quantization.mode": ["int8", "float16"], "quantization.qat": [True]},
            'quantization.mode="float16", quantization.qat=true is not a valid recipe',
        ),
        (
            {"base": {"pruning": {"epochs": 0}}, "quantization.mode": ["int8"]},
            "base: pruning.epochs",
        ),
    ],
)
def test_bad_grids_are_named(data, message):
    with pytest.raises(GridError, match=message.replace("(", r"\(").replace("[", r"\[")):
        Grid.from_dict(data)


def test_grid_files_that_cannot_be_read_are_named(tmp_path):
    with pytest.raises(GridError, match="does not exist"):
        Grid.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    with pytest.raises(GridError, match=r"bad.json: it is not valid JSON"):
        Grid.load(bad)


def test_candidates_that_differ_in_quantization_share_their_fine_tunes():
    groups = plan(Grid.load(DEMO_GRID))
    assert len(groups) == 4 and all(len(g.entries) == 3 for g in groups)
    assert sharing(groups)["fine_tunes"] == {"run": 6, "one_by_one": 18}
    assert sharing(groups)["baselines"] == {"run": 1, "one_by_one": 12}


def test_pareto_flags_and_recommendation_on_hand_made_figures():
    baseline = _metrics(1000, 0.90, 10.0)
    results = [
        _result("a", _metrics(500, 0.895, 5.0)),  # small, fast
        _result("b", _metrics(300, 0.850, 6.0)),  # smallest, -5 pt
        _result("c", _metrics(600, 0.900, 4.0)),  # fastest, exact
        _result("d", _metrics(700, 0.880, 7.0)),  # dominated
        _result("e", None, "worker crashed"),
    ]
    flagged, chosen = judge(results, baseline, budget=1.0)
    by_name = {r.name: r for r in flagged}
    assert {n for n, r in by_name.items() if r.pareto} == {"a", "b", "c"}
    assert {n for n, r in by_name.items() if r.pareto_latency} == {"c"}
    assert chosen == Recommendation("a", "c")  # b is smaller but 5 points worse
    assert by_name["a"].recommended == ("smallest",)
    assert by_name["c"].recommended == ("fastest",)
    assert recommend(results, baseline, budget=10.0).smallest == "b"
    assert recommend(results, baseline, budget=0.0) == Recommendation("c", "c")
    tight = [r for r in results if r.name in ("b", "d")]
    assert recommend(tight, baseline, budget=1.0) == Recommendation(None, None)


def test_mae_models_prefer_lower_error():
    baseline = _metrics(1000, 0.10, 10.0, "mae")
    results = [
        _result("a", _metrics(500, 0.12, 5.0, "mae")),
        _result("b", _metrics(400, 0.50, 5.0, "mae")),
    ]
    flagged, chosen = judge(results, baseline, budget=0.05)
    assert chosen.smallest == "a"
    assert all(r.pareto for r in flagged)


def test_the_sweep_driver_accounts_for_every_candidate_however_its_group_ends(tmp_path):
    grid = Grid.from_dict(
        {"pruning.target_sparsity": [0.5, 0.8], "quantization.mode": ["int8", "float16"]}
    )
    groups = plan(grid)
    base = tmp_path / "baseline.tflite"
    run = SweepRun(groups, model="m", data="d", baseline_tflite=base, threads=1, trust=False)
    submitted = []
    ids = run.start(lambda job: submitted.append(job) or len(submitted), baseline=None)
    assert [job.target for job in submitted] == [kinds.SWEEP_GROUP] * 2 and run.running
    (first, first_recipe), (second, _) = run.group(ids[0]).entries
    # the first group returns only one of its two candidates: the other is not dropped
    returned = run.finished(ids[0], [Result(first, first_recipe, _metrics(10, 0.9, 1.0))])
    assert [r.status for r in returned] == ["done", "failed"]
    assert "did not return" in returned[1].error and returned[1].name == second
    cancelled = run.ended(ids[1], "", status="cancelled")
    assert [r.status for r in cancelled] == ["cancelled", "cancelled"] and not run.running
    assert len(run.results) == grid.size == 4


@pytest.mark.slow
def test_a_group_computes_its_fine_tune_once_and_a_bad_candidate_fails_alone(tmp_path, monkeypatch):
    from studio.engine import pipeline, sweep_run

    calls = []
    real_prune = pipeline.prune
    monkeypatch.setattr(pipeline, "prune", lambda *a, **k: calls.append(1) or real_prune(*a, **k))
    pipeline.baseline("demo", "demo", tmp_path)
    grid = Grid.from_dict(
        {
            "base": {
                "pruning": {"target_sparsity": 0.5, "epochs": 1},
                "quantization": {"mode": "int8"},
            },
            "quantization.io_type": ["float32", "int8"],
            "quantization.float_layers": [[], ["no_such_layer"]],
        }
    )
    (group,) = plan(grid)
    entries = [(name, recipe.to_dict()) for name, recipe in group.entries]
    assert len(entries) == 4
    results = sweep_run.run_group("demo", "demo", tmp_path, entries)
    assert len(calls) == 1  # one pruning fine-tune for four candidates
    failed = [r for r in results if r["error"]]
    assert len(failed) == 2 and all("no_such_layer" in r["error"] for r in failed)
    done = [r for r in results if not r["error"]]
    assert len(done) == 2 and all((tmp_path / r["name"] / "model.tflite").is_file() for r in done)
    assert all(
        layer["sparsity"] >= 0.45
        for r in done
        for layer in r["metrics"]["layers"]
        if layer["name"] == "dense1"
    )


@pytest.mark.slow
def test_the_demo_sweep_from_the_command_line(tmp_path):
    out = tmp_path / "sweep"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "studio",
            "sweep",
            "--model",
            "demo",
            "--data",
            "demo",
            "--grid",
            str(DEMO_GRID),
            "--out",
            str(out),
            "--jobs",
            "2",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert len(results) == 12 and not any(r["error"] for r in results)
    assert {"name", "recipe", "metrics", "pareto", "pareto_latency"} <= set(results[0])
    assert any(r["pareto"] for r in results)
    for r in results:
        assert (out / r["name"] / "model.tflite").is_file()
        assert json.loads((out / r["name"] / "recipe.json").read_text()) == r["recipe"]
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["shared"]["fine_tunes"] == {"run": 6, "one_by_one": 18}
    smallest = summary["recommended"]["smallest"]
    assert smallest in {r["name"] for r in results if "smallest" in r["recommended"]}
    assert "smallest" in done.stdout


def test_estimate_for_auto_pruning_epochs_uses_a_past_auto_run():
    from studio.ui.views.sweep_dialog import DEFAULT_SECONDS, estimate_seconds
    from studio.values.recipe import Pruning
    from studio.values.session import Candidate

    grid = Grid.from_dict({"base": {"pruning": {}}, "quantization.mode": ["int8"]})
    before = estimate_seconds(grid, [], workers=1)
    assert before == pytest.approx(
        sum(DEFAULT_SECONDS.values()) - DEFAULT_SECONDS["fine_tune_epoch"]
    )
    past = Candidate(1, Recipe(pruning=Pruning()), "done", figures(seconds={"prune": 100.0}))
    assert estimate_seconds(grid, [past], workers=1) == pytest.approx(before + 80.0)


def test_estimates_come_from_this_machines_stage_times_and_skip_what_exists():
    """Issue 32: "roughly 0.4 min" for 18 candidates took about 80 s; a recipe the session
    had measured already was run again, and "6 fine-tune(s) instead of 6" read as a
    saving."""
    from studio.ui.views.sweep_dialog import estimate_seconds

    grid = Grid.from_dict({"quantization.mode": ["dynamic", "int8", "float16"]})
    rough = estimate_seconds(grid, [], workers=1)
    slow_model = figures(seconds={"load": 10.0, "convert": 4.0, "evaluate": 6.0})
    measured = estimate_seconds(grid, [], workers=1, baseline=slow_model)
    assert measured == pytest.approx(10.0 + 3 * (2 * 4.0 + 2 * 6.0))  # candidates: 2x float
    assert measured > rough
    int8 = Recipe.from_dict({"quantization": {"mode": "int8"}})
    skipped = estimate_seconds(grid, [], workers=1, baseline=slow_model, skip=[int8])
    assert skipped == pytest.approx(measured - 2 * 4.0 - 2 * 6.0)
    # Two workers: the groups run side by side, but never faster than the longest one.
    two_groups = Grid.from_dict(
        {"pruning.target_sparsity": [0.5, 0.8], "base": {"pruning": {"epochs": 1}}}
    )
    one = estimate_seconds(two_groups, [], workers=1, baseline=slow_model)
    assert estimate_seconds(two_groups, [], workers=2, baseline=slow_model) == pytest.approx(
        one / 2
    )


def test_a_huge_grid_is_counted_and_refused_before_it_is_expanded(monkeypatch):
    """Issue 33: 1,000 × 1,000 values hung a core for minutes with nothing printed."""

    def never(self):
        raise AssertionError("expanded")

    monkeypatch.setattr(Grid, "expand", never)
    values = [round(0.05 + i * 0.0009, 6) for i in range(1000)]
    huge = {"pruning.target_sparsity": values, "clustering.clusters": list(range(2, 1002))}
    with pytest.raises(GridError, match=r"1000 × 1000 = 1,000,000 candidates.*at most 1,000"):
        Grid.from_dict(huge)
