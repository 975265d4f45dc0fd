"""Typed values survive the process boundary and the disk: to_dict/from_dict round trips,
old files (fields missing) still read, damaged figures named; units written one way."""

from __future__ import annotations

import json

import pytest

from fakes import figures, summary
from studio.values import units
from studio.values.metrics import Flag, LayerFigures, Metrics, MetricsError, ModelSummary
from studio.values.recipe import Pruning, Quantization, Recipe
from studio.values.results import Result
from studio.values.session import Candidate


def _through_json(data):
    return json.loads(json.dumps(data))


def test_metrics_round_trip_through_json():
    m = figures(
        1234,
        0.9876,
        0.5,
        layers=(LayerFigures("dense", "dense/kernel", "FULLY_CONNECTED", "int8", 80, 0.5, 17),),
        seconds={"convert": 1.5},
        samples=200,
        qat_scheme="PQAT",
        flags=(Flag("chance", "top-1 is 10 %", broken=False), Flag("not_sparse", "…", True)),
    )
    assert m.broken
    assert Metrics.from_dict(_through_json(m.to_dict())) == m
    unlabeled = figures(10, None, 1.0, agreement=None)
    assert Metrics.from_dict(_through_json(unlabeled.to_dict())) == unlabeled


def test_summary_result_and_candidate_round_trip():
    s = summary(layers=("a", "b"))
    assert ModelSummary.from_dict(_through_json(s.to_dict())) == s
    recipe = Recipe(pruning=Pruning(target_sparsity=0.5), quantization=Quantization(mode="int8"))
    for r in (
        Result("c001", recipe, figures(10), None, "done", True, False, ("smallest",)),
        Result.failed("c002", recipe, "worker crashed"),
    ):
        assert Result.from_dict(_through_json(r.to_dict())) == r
    c = Candidate(3, recipe, "done", figures(10), "")
    assert Candidate.from_dict(_through_json(c.to_dict())) == c


def test_older_files_read_with_defaults_and_damaged_ones_are_named():
    old = {  # a metrics.json of an earlier version: no layers, seconds, memory or scheme
        "size_bytes": 10,
        "gzip_bytes": 5,
        "accuracy": 0.5,
        "metric": "top1",
        "latency_ms": {"median": 1.0, "p90": 1.2, "threads": 2},
        "label": "int8",  # extra keys are ignored
    }
    m = Metrics.from_dict(old)
    assert m.layers == () and m.peak_memory_bytes == 0 and m.latency_ms.threads == 2
    with pytest.raises(MetricsError, match="latency_ms"):
        Metrics.from_dict({"size_bytes": 1, "gzip_bytes": 1})
    with pytest.raises(MetricsError, match="damaged"):
        Metrics.from_dict({**old, "size_bytes": "lots"})
    with pytest.raises(MetricsError, match="JSON object"):
        Metrics.from_dict([1, 2])


def test_figures_are_written_one_way():
    m = figures(2048, 0.98765, 0.1234, size=3 * 1024 * 1024)
    base = figures(8192, 0.99, 1.0)
    assert units.size(2048) == "2.0 KB" and units.size(3 * 1024 * 1024) == "3.0 MB"
    assert units.score(m) == "98.77 %"
    assert units.score(figures(10, 0.01234, metric="mae")) == "0.0123 MAE"
    assert units.score(figures(10, None)) == "no labels"
    assert units.change_text(m, base) == "-0.23 pt"
    assert units.times_smaller(base, m) == 4.0
    assert units.latency(m) == "123 µs median on 1 thread(s)"
    assert units.figures(m, base)[0] == "size 3.0 MB, gzip 2.0 KB (4.0x smaller)"


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0.0123, "12.3 µs"), (0.5, "500 µs"), (1.0, "1 ms"), (12.345, "12.3 ms"), (2500, "2.5 s")],
)
def test_durations_take_the_unit_of_their_size(ms, text):
    """Issue 18: one unit system, chosen per magnitude, in plots, table, tooltips, report."""
    assert units.duration(ms) == text
    assert units.time_unit(ms)[0] == text.split()[1]


def test_sizes_are_kb_of_1024_bytes_then_mb():
    assert units.size_unit(1023 * 1024) == ("KB", 1024)
    assert units.size_unit(1024 * 1024) == ("MB", 1024 * 1024)
    assert units.size(-1536, sign=True) == "-1.5 KB"
    assert units.size(1536, sign=True) == "+1.5 KB"
    assert units.duration(-0.25, sign=True) == "-250 µs"
    assert units.duration(0.25, sign=True) == "+250 µs"


def test_each_worker_gets_a_share_of_the_cores(monkeypatch):
    """Issue 19: workers x threads never exceeds the cores (but each gets at least one)."""
    from studio.values import processes

    monkeypatch.setattr(processes, "cores", lambda: 8)
    assert [processes.threads_per_worker(n) for n in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    env = processes.worker_environment(processes.threads_per_worker(2))
    assert env["TF_NUM_INTRAOP_THREADS"] == env[processes.THREADS_ENV] == "4"
    assert env[processes.NICENESS_ENV] == str(processes.NICENESS)
    assert "TF_NUM_INTRAOP_THREADS" not in processes.worker_environment(None, 0)
    monkeypatch.setenv(processes.THREADS_ENV, "3")
    assert processes.thread_budget() == 3
    monkeypatch.setenv(processes.THREADS_ENV, "lots")  # damaged: every core
    assert processes.thread_budget() == 8
    monkeypatch.delenv(processes.THREADS_ENV)
    assert processes.thread_budget() == 8
