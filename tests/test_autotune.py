"""The automatic search on stand-in jobs whose figures follow from the recipe (see
`fakes.SearchStandIns`): the budget, the time limit, repeatability, the explanation,
a cancel; and (slow) the CLI on the demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fakes import SearchStandIns
from studio.jobs.inprocess import InProcessBackend
from studio.orchestrator.autotune import FILE, Search
from studio.orchestrator.orchestrator import Orchestrator
from studio.values import modes, splits
from studio.values.autotune import Knowledge, Settings, Space, explain, fits


class FakeClock:
    """Time that passes only when a stand-in job says so (a minute per candidate)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def searching(tmp_path):
    stand_ins = SearchStandIns()
    orchestrator = Orchestrator(
        InProcessBackend(stand_ins.handlers()), sessions_root=tmp_path / "sessions"
    )
    (tmp_path / "quiz.npz").write_bytes(b"data")
    orchestrator.stand_ins = stand_ins
    orchestrator.data = str(tmp_path / "quiz.npz")
    yield orchestrator
    orchestrator.shutdown()


def _search(orchestrator, clock=None, **settings):
    kwargs = {"clock": clock} if clock else {}
    search = Search(orchestrator, Settings(**{"max_trials": 20, **settings}), **kwargs)
    handle = search.start("quiz.keras", orchestrator.data)
    orchestrator.wait(handle, poll_s=0.01)
    return search, handle.result()


def test_the_answer_is_within_the_budget_on_both_halves_and_smallest_of_those_tried(searching):
    search, report = _search(searching, budget=1.0, seed=1)
    winner = report.trial(report.winner)
    assert winner is not None and winner.feasible and winner.loss <= 1.0
    assert report.holdout.losses[winner.name] <= 1.0
    # No measured trial within the budget is smaller than the answer.
    done = [t for t in report.trials if t.status == "done"]
    assert min(t.value for t in done if t.feasible) == winner.value
    # Every post-training mode the studio offers was tried first.
    first = [t.recipe.quantization.mode for t in report.trials[: len(modes.offered())]]
    assert first == [m.name for m in modes.offered()]
    # Its files are a candidate of the session like any other, measured on the search half.
    session = search.session
    assert session.data.endswith(splits.SEPARATOR + splits.SEARCH)
    candidate = next(c for c in session.candidates.values() if c.name == winner.name)
    assert session.tflite(candidate.id).is_file()
    saved = json.loads((session.folder / FILE).read_text())
    assert saved["winner"] == winner.name and saved["seed"] == 1
    assert len(saved["trials"]) == len(report.trials)


def test_a_tighter_budget_gives_a_larger_answer_and_none_when_nothing_fits(searching):
    _, loose = _search(searching, budget=2.0)
    _, tight = _search(searching, budget=0.1)
    assert loose.trial(loose.winner).value < tight.trial(tight.winner).value
    assert tight.trial(tight.winner).loss <= 0.1
    # Nothing is free: the float model is the answer, and the explanation says so.
    searching.stand_ins.LOSS = {k: 0.5 for k in SearchStandIns.LOSS}
    _, none = _search(searching, budget=0.0)
    assert none.winner is None
    assert explain(none)[0].startswith("The answer is the float model")


def test_a_winner_over_the_budget_on_held_out_data_is_not_reported_within_it(searching):
    searching.stand_ins.holdout_extra = 0.5  # every file loses half a point more there
    _, report = _search(searching, budget=1.0, seed=1)
    checked = report.holdout.losses
    assert checked and all(v <= 1.0 for n, v in checked.items() if n in report.holdout.passed)
    failed = [n for n, v in checked.items() if v > 1.0]
    assert failed and report.winner not in failed
    if report.winner is not None:
        assert checked[report.winner] <= 1.0
    assert any(
        line.startswith(f"Rejected on held-out data: {failed[0]}") for line in explain(report)
    )


def test_the_latency_objective_picks_the_fastest_within_the_budget(searching):
    _, report = _search(searching, budget=1.0, objective="latency")
    winner = report.trial(report.winner)
    assert winner.recipe.quantization.mode == "int8" and winner.loss <= 1.0
    assert winner.value == min(t.value for t in report.trials if t.feasible)
    assert "faster than the float model" in explain(report)[0]


def test_same_seed_same_trials(searching):
    def trials(seed):
        _, report = _search(searching, budget=1.0, seed=seed, patience=50, max_trials=16)
        return [(t.params, t.recipe.to_dict(), t.status) for t in report.trials]

    first = trials(7)
    assert trials(7) == first
    assert trials(8) != first


def test_the_time_limit_stops_new_trials_and_cancels_none_that_finished(searching):
    clock = FakeClock()
    stand_ins = searching.stand_ins
    started = []

    def slow(model, data, entries, baseline_tflite, out_dir, report=None, deliver=None, **more):
        started.append(clock.now)  # every candidate takes a minute of the fake clock
        clock.now += 60 * len(entries)
        return stand_ins.sweep_group(
            model, data, entries, baseline_tflite, out_dir, report, deliver, **more
        )

    searching.backend.handlers[next(k for k in searching.backend.handlers if "sweep" in k)] = slow
    search, report = _search(searching, clock=clock, time_limit_s=10 * 60, patience=99)
    deadline = search.deadline
    assert "time limit (10:00)" in report.stopped
    assert started and all(t < deadline for t in started)  # nothing began after it
    done = [t for t in report.trials if t.status == "done"]
    assert done and report.winner in {t.name for t in done}


def test_the_explanation_names_the_layers_it_spared_and_why(searching):
    searching.stand_ins.CLUSTER_LOSS = 80.0  # clustering costs too much: pruning pays
    _, report = _search(searching, budget=2.0, seed=1)
    winner = report.trial(report.winner)
    lines = explain(report)
    spared = [line for line in lines if line.startswith("Spared:")]
    assert winner.recipe.pruning is not None  # the stand-ins make pruning "head" pay
    assert any("conv left unpruned: pruned alone it cost −25.0 pt" in s for s in spared)
    assert lines[0].startswith(f"Best within 2 pt of top-1: {winner.name}")
    assert any(line.startswith("Tried ") for line in lines)


def test_a_cancelled_search_keeps_every_finished_trial(searching):
    search = Search(searching, Settings(budget=1.0, max_trials=30, patience=99))
    handle = search.start("quiz.keras", searching.data)
    finished = []

    def count(cid):
        c = search.session.candidates[cid]
        if c.status == "done" and cid not in finished:
            finished.append(cid)
            if len(finished) == 7:
                search.cancel()

    searching.candidate_changed.connect(count)
    searching.wait(handle, poll_s=0.01)
    report = handle.result()
    assert report.stopped == "cancelled by the user" and report.winner is None
    session = search.session
    done = {c.name for c in session.candidates.values() if c.status == "done"}
    assert len(done) >= 7
    # Each is a trial, or the short first rung of one (`earlier`).
    recorded = {n for t in report.trials if t.status == "done" for n in (t.name, *t.earlier)}
    assert recorded == done
    for c in session.candidates.values():
        if c.status == "done":
            assert session.tflite(c.id).is_file()
    saved = json.loads((session.folder / FILE).read_text())
    assert {n for t in saved["trials"] for n in (t["name"], *t["earlier"]) if n} >= done


def test_every_offered_mode_is_a_dimension_read_from_the_table(monkeypatch):
    extra = modes.Mode(
        "int4_test",
        "Int4",
        "int4",
        "Int4: test.",
        weights="int4",
        activations="float32",
        calibrated=False,
        full_integer=False,
    )
    monkeypatch.setitem(modes.MODES, extra.name, extra)
    monkeypatch.setattr(modes, "NAMES", tuple(modes.MODES))
    monkeypatch.setattr("studio.values.recipe.QUANT_MODES", tuple(modes.MODES))
    space = Space.build(Knowledge(("a",), ("a",), 100, True))
    assert space.dimension("mode").choices == tuple(m.name for m in modes.offered())
    assert "int4_test" in space.dimension("mode").choices
    recipe = space.recipe(space.defaults(mode="int4_test"))
    assert recipe.quantization.mode == "int4_test"


def test_data_parts_halve_the_evaluation_samples_and_keep_the_fine_tune_part():
    from studio.engine.arrays import count
    from studio.engine.data import load_data

    whole = load_data("demo")
    search = load_data(splits.with_part("demo", splits.SEARCH))
    held = load_data(splits.with_part("demo", splits.HOLDOUT))
    assert count(search.x_eval) + count(held.x_eval) == count(whole.x_eval)
    assert (search.x_train == whole.x_train).all()

    def rows(x):
        return [row.tobytes() for row in x]

    # Together the two halves are the evaluation samples, each once.
    assert sorted(rows(search.x_eval) + rows(held.x_eval)) == sorted(rows(whole.x_eval))


@pytest.mark.slow
def test_cli_autotune_on_the_demo_writes_trials_results_and_why(tmp_path):
    out = tmp_path / "search"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "studio",
            "autotune",
            "--model",
            "demo",
            "--data",
            "demo",
            "--budget",
            "1",
            "--out",
            str(out),
            "--max-trials",
            "7",
            "--jobs",
            "2",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert run.returncode == 0, run.stderr
    results = json.loads((out / "results.json").read_text())
    best = [r for r in results if r["recommended"] == ["best"]]
    assert len(best) == 1
    assert not [r for r in results if r["recommended"] and r["recommended"] != ["best"]]
    saved = json.loads((out / FILE).read_text())
    assert saved["winner"] == best[0]["name"] and saved["holdout"]["samples"] > 0
    assert saved["knowledge"]["sensitivity"] and saved["knowledge"]["diagnosis"]
    assert saved["why"][0].startswith("Best within 1 pt")
    folder = out / best[0]["name"]
    assert (folder / "model.tflite").stat().st_size > 1000
    assert Path(out / "baseline.tflite").is_file()
    for trial in saved["trials"]:
        if trial["status"] == "done":
            assert (out / trial["name"] / "metrics.json").is_file()
    assert "answer:" in run.stdout


def test_a_model_that_takes_post_training_quantization_only_tries_each_mode_once(searching):
    """No labels: nothing to fine-tune with, so the space is the modes, and the search
    ends when each was measured (not after proposing them again and again)."""
    stand_ins = searching.stand_ins
    base = stand_ins.baseline

    def unlabeled(model, data, out_dir, threads=1, trust=False, report=None):
        out = base(model, data, out_dir, threads, trust, report)
        out["metrics"]["accuracy"] = None
        return out

    searching.backend.handlers[next(k for k in searching.backend.handlers if "baseline" in k)] = (
        unlabeled
    )
    search, report = _search(searching, budget=1.0)
    assert [d.name for d in search.space.dimensions][0] == "mode"
    assert not any(d.name in ("sparsity", "clusters", "qat") for d in search.space.dimensions)
    measured = [t for t in report.trials if t.status == "done"]
    assert len(measured) == len({t.recipe for t in measured})
    assert "every setting there is was measured" in report.stopped


def test_when_the_best_few_fail_on_held_out_data_the_next_few_are_checked(searching):
    searching.stand_ins.holdout_extra = 0.7  # only what lost under 0.3 pt here holds there
    _, report = _search(searching, budget=1.0, seed=1)
    checked = report.holdout.losses
    assert len(checked) > 3  # a second round of finalists
    assert report.winner is not None and fits(checked[report.winner], 1.0)
    winner = report.trial(report.winner)
    first_round = sorted(checked, key=lambda n: report.trial(n).value)[:3]
    assert not any(fits(checked[n], 1.0) for n in first_round)
    assert winner.value >= max(report.trial(n).value for n in first_round)


def test_a_mode_that_fails_to_convert_is_a_failed_trial_and_the_search_goes_on(searching):
    searching.stand_ins.failing_modes = {"int16x8"}
    _, report = _search(searching, budget=1.0, seed=1)
    failed = [t for t in report.trials if t.status == "failed"]
    assert failed and all(t.recipe.quantization.mode == "int16x8" for t in failed)
    numbers = [t.number for t in report.trials]
    assert len(numbers) == len(set(numbers))  # each trial its own number
    assert report.winner is not None
    assert any("failed" in line for line in explain(report))


def test_a_bug_in_the_search_ends_it_with_its_trials_kept_and_says_so(searching, monkeypatch):
    from studio.orchestrator import autotune

    real, calls = autotune.values.outcome, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            raise ZeroDivisionError("a bug")
        return real(*args, **kwargs)

    monkeypatch.setattr(autotune.values, "outcome", flaky)
    search, report = _search(searching, budget=1.0)
    assert "internal error" in report.stopped and "ZeroDivisionError" in report.stopped
    assert sum(t.status == "done" for t in report.trials) >= 4
    assert json.loads((search.session.folder / FILE).read_text())["stopped"] == report.stopped
