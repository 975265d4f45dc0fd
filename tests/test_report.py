"""Reports: a self-contained HTML whose plots decode, and a CSV the csv module reads."""

from __future__ import annotations

import base64
import csv
import io
import re
import subprocess
import sys

import pytest
from PIL import Image

from fakes import figures, summary
from studio.values import atomic
from studio.values.recipe import Pruning, Quantization, Recipe
from studio.values.report import write
from studio.values.results import ResultsError, read
from studio.values.session import Session


def _metrics(gzip, accuracy, latency):
    return figures(gzip, accuracy, latency, agreement=0.99)


def _done(s, cid, metrics):
    """A measured candidate, its file on disk (a missing file is never recommended)."""
    atomic.write_bytes(s.tflite(cid), b"x" * metrics.size_bytes)
    s.update(cid, status="done", metrics=metrics)


@pytest.fixture
def session(tmp_path):
    s = Session.create("demo", "demo", root=tmp_path / "sessions")
    s.set_baseline(summary(), _metrics(230_000, 0.989, 0.023))
    a = s.add(Recipe(quantization=Quantization(mode="int8")))
    _done(s, a.id, _metrics(63_000, 0.988, 0.0075))
    b = s.add(Recipe(pruning=Pruning(target_sparsity=0.8), quantization=Quantization(mode="int8")))
    _done(s, b.id, _metrics(25_000, 0.972, 0.0075))
    c = s.add(Recipe(quantization=Quantization(mode="float16")))
    s.update(c.id, status="failed", message="the worker process aborted (SIGABRT)")
    return s


def test_a_session_report_has_decodable_plots_and_a_readable_csv(session, tmp_path):
    html_path, csv_path = write(session.folder, tmp_path / "out" / "report.html")
    page = html_path.read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2
    for data in images:
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        image.load()
        assert image.size[0] > 300 and len(set(image.getdata())) > 5  # really drawn
    assert "smallest\n<b>c001</b>" in page  # c002 is smaller but 1.7 points worse
    assert "SIGABRT" in page and "&quot;mode&quot;: &quot;int8&quot;" in page
    rows = list(csv.DictReader(csv_path.open()))
    assert [r["name"] for r in rows] == ["float baseline", "c001", "c002", "c003"]
    assert rows[1]["recommended"] == "smallest fastest"
    assert float(rows[2]["gzip_bytes"]) == 25_000 and rows[2]["pareto"] == "True"
    assert rows[3]["status"] == "failed" and rows[3]["gzip_bytes"] == ""


def test_report_of_something_else_is_refused(tmp_path):
    with pytest.raises(ResultsError, match="neither a studio session"):
        read(tmp_path)


@pytest.mark.slow
def test_report_command_on_a_sweep(tmp_path):
    grid = tmp_path / "grid.json"
    grid.write_text('{"quantization.mode": ["dynamic", "float16"]}')
    sweep = tmp_path / "sweep"
    run = [sys.executable, "-m", "studio"]
    done = subprocess.run(
        [
            *run,
            "sweep",
            "--model",
            "demo",
            "--data",
            "demo",
            "--grid",
            str(grid),
            "--out",
            str(sweep),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "r.html"
    made = subprocess.run(
        [*run, "report", str(sweep), "--out", str(out)], capture_output=True, text=True, timeout=300
    )
    assert made.returncode == 0, made.stderr[-2000:]
    assert out.is_file() and out.with_suffix(".csv").is_file()
    assert len(list(csv.DictReader(out.with_suffix(".csv").open()))) == 3
