"""Sessions: autosaved, reopened with everything, damaged files named."""

import json

import pytest

from studio.core.recipe import Quantization, Recipe
from studio.core.session import Session, SessionError


def test_a_session_reopens_with_its_candidates_and_baseline(tmp_path):
    session = Session.create("demo", "demo", root=tmp_path)
    session.set_baseline({"name": "m"}, {"gzip_bytes": 100, "accuracy": 0.9})
    done = session.add(Recipe(quantization=Quantization(mode="int8")))
    session.update(done.id, status="done", metrics={"gzip_bytes": 30, "accuracy": 0.89})
    running = session.add(Recipe(quantization=Quantization(mode="float16")))
    session.update(running.id, status="running")
    session.set_budget(2.5)

    again = Session.open(session.folder)
    assert again.model == "demo" and again.budget == 2.5
    assert again.baseline == {"gzip_bytes": 100, "accuracy": 0.9}
    assert again.candidates[done.id].metrics["gzip_bytes"] == 30
    assert again.candidates[done.id].recipe == done.recipe
    # what was running when the studio stopped is kept, marked, not lost
    assert again.candidates[running.id].status == "interrupted"
    assert [c.id for c in again.finished()] == [done.id]
    assert again.add(Recipe()).id == running.id + 1


def test_new_sessions_get_their_own_folders(tmp_path):
    a = Session.create("demo", "demo", root=tmp_path)
    b = Session.create("demo", "demo", root=tmp_path)
    assert a.folder != b.folder and (b.folder / "session.json").is_file()


def test_a_damaged_or_missing_session_is_named(tmp_path):
    with pytest.raises(SessionError, match="not a studio session"):
        Session.open(tmp_path)
    (tmp_path / "session.json").write_text(json.dumps({"model": "demo"}))
    with pytest.raises(SessionError, match="session.json is damaged"):
        Session.open(tmp_path)
