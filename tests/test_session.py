"""Sessions: autosaved, reopened with everything, damaged files named."""

import json
import os
import stat
import time

import pytest

from fakes import figures, summary
from studio.values import atomic
from studio.values.errors import StudioError
from studio.values.metrics import Flag
from studio.values.recipe import Quantization, Recipe
from studio.values.session import Session, SessionError, list_sessions


def write_result(session, cid, size=100, accuracy=0.9):
    """What a worker leaves in a candidate's folder once it is measured."""
    folder = session.candidate_dir(cid)
    atomic.write_bytes(folder / "model.tflite", b"x" * size)
    atomic.write_text(folder / "recipe.json", session.candidates[cid].recipe.to_json())
    metrics = figures(size // 2, accuracy, size=size).to_dict()
    atomic.write_json(folder / "metrics.json", {**metrics, "label": "l"})


def test_a_session_reopens_with_its_candidates_and_baseline(tmp_path):
    session = Session.create("demo", "demo", root=tmp_path)
    session.set_baseline(summary(), figures(100, 0.9))
    done = session.add(Recipe(quantization=Quantization(mode="int8")))
    write_result(session, done.id, size=100)
    session.update(done.id, status="done", metrics=figures(30, 0.89, size=100))
    running = session.add(Recipe(quantization=Quantization(mode="float16")))
    session.update(running.id, status="running")
    session.set_budget(2.5)

    again = Session.open(session.folder)
    assert again.model == "demo" and again.budget == 2.5
    assert again.baseline == figures(100, 0.9) and again.summary == summary()
    assert again.candidates[done.id].metrics == figures(30, 0.89, size=100)
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


def test_measured_candidates_come_back_even_if_the_studio_never_heard(tmp_path):
    session = Session.create("demo", "demo", root=tmp_path)
    recipes = [Recipe(quantization=Quantization(mode=m)) for m in ("int8", "float16", "dynamic")]
    ids = [session.add(r).id for r in recipes]
    for cid in ids:
        session.update(cid, status="running")
    write_result(session, ids[0], accuracy=0.97)  # measured, then the studio was killed
    (session.candidate_dir(ids[1])).mkdir()  # converted, not yet measured
    atomic.write_bytes(session.tflite(ids[1]), b"half")
    write_result(session, ids[2], accuracy=0.5)
    atomic.write_text(  # a folder whose recipe is not this candidate's does not count
        session.candidate_dir(ids[2]) / "recipe.json", Recipe().to_json()
    )
    again = Session.open(session.folder)
    assert again.candidates[ids[0]].status == "done"
    assert again.candidates[ids[0]].metrics.accuracy == 0.97
    assert [again.candidates[i].status for i in ids[1:]] == ["interrupted", "interrupted"]
    assert any("c001 recovered" in n for n in again.notes)
    # and the repair is saved: a plain reopen needs none
    assert Session.open(session.folder).notes == ()


def test_deleted_or_changed_candidate_files_are_noticed(tmp_path):
    session = Session.create("demo", "demo", root=tmp_path)
    a, b, c = (session.add(Recipe(seed=i)).id for i in range(3))
    for cid in (a, b, c):
        write_result(session, cid, size=100)
        session.update(cid, status="done", metrics=figures(50, size=100))
    for path in session.candidate_dir(a).iterdir():
        path.unlink()
    session.candidate_dir(a).rmdir()
    session.tflite(b).write_bytes(b"other")
    again = Session.open(session.folder)
    assert again.candidates[a].status == "missing" and "was deleted" in again.candidates[a].message
    assert again.candidates[b].status == "missing" and "was changed" in again.candidates[b].message
    assert again.candidates[c].status == "done"
    assert [x.id for x in again.finished()] == [c]  # never recommended again


def test_a_corrupt_session_file_reopens_from_the_last_good_copy(tmp_path):
    session = Session.create("demo", "demo", root=tmp_path)
    cid = session.add(Recipe()).id
    write_result(session, cid)
    session.update(cid, status="done", metrics=figures(50, size=100))
    path = session.folder / "session.json"
    path.write_text(path.read_text()[:200])  # cut mid-string
    again = Session.open(session.folder)
    assert again.candidates[cid].status == "done"
    assert any("damaged" in n and "last good copy" in n for n in again.notes)
    assert json.loads(path.read_text())["candidates"]  # and session.json is whole again


def test_both_copies_damaged_the_session_is_rebuilt_from_whole_candidate_folders(tmp_path):
    """Issue 33: with session.json and session.bak.json both damaged, the message did not
    say so, and the complete candidate folders were not recovered."""
    session = Session.create("m.keras", "d.npz", root=tmp_path)
    whole, partial, other = (c.id for c in session.add_all([Recipe()] * 3))
    for cid in (whole, other):
        write_result(session, cid)
    (session.candidate_dir(partial)).mkdir()
    (session.candidate_dir(partial) / "model.tflite").write_bytes(b"half")
    (session.folder / "session.json").write_text('{"model": "m.keras", "candidates": [{"id": "x')
    (session.folder / "session.bak.json").write_bytes(b"\x99\x00")
    again = Session.open(session.folder)
    assert (again.model, again.data) == ("m.keras", "d.npz")
    assert sorted(again.candidates) == [whole, other]
    assert all(c.status == "done" and c.metrics for c in again.candidates.values())
    note = again.notes[0]
    assert "both damaged" in note and "c001, c003" in note and "c002" in note
    assert "Unterminated" not in note and "codec" not in note
    assert Session.open(session.folder).candidates.keys() == again.candidates.keys()  # saved

    (session.folder / "origin.json").unlink()  # nothing left to rebuild from
    (session.folder / "session.json").write_text("{")
    (session.folder / "session.bak.json").write_text("{")
    with pytest.raises(SessionError) as err:
        Session.open(session.folder)
    message = str(err.value)
    assert "both damaged" in message and "untouched" in message
    assert "JSONDecodeError" not in message


def test_leftover_part_files_are_cleaned_on_open(tmp_path):
    session = Session.create("demo", "demo", root=tmp_path)
    old = session.folder / "c001" / ".model.tflite.abc.part"
    old.parent.mkdir()
    old.write_bytes(b"half")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    fresh = session.folder / ".session.json.def.part"  # a live writer's: left alone
    fresh.write_bytes(b"x")
    Session.open(session.folder)
    assert not old.exists() and fresh.exists()


def test_recent_sessions_list_model_date_and_candidates(tmp_path):
    first = Session.create("a.keras", "demo", root=tmp_path)
    time.sleep(0.01)
    second = Session.create("b.keras", "d.npz", root=tmp_path)
    second.add(Recipe())
    os.utime(first.folder / "session.json", (time.time() - 60, time.time() - 60))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "session.json").write_text("{")
    listed = list_sessions(tmp_path, empty=True)
    assert [(s.model, s.candidates) for s in listed] == [("b.keras", 1), ("a.keras", 0)]
    assert [s.model for s in list_sessions(tmp_path)] == ["b.keras"]  # nothing to go back to
    assert [s.model for s in list_sessions(tmp_path, model="a.keras", empty=True)] == ["a.keras"]


def test_an_export_is_all_files_or_none(tmp_path, monkeypatch):
    calls = []
    real = os.fsync

    def full_disk_on_second(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(fd)

    monkeypatch.setattr(atomic.os, "fsync", full_disk_on_second)
    files = {tmp_path / "m.tflite": b"model", tmp_path / "m.recipe.json": b"{}"}
    with pytest.raises(StudioError, match=r"m\.recipe\.json: No space left"):
        atomic.write_all(files)
    assert list(tmp_path.iterdir()) == []  # neither file, no temporary left


def test_written_files_are_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic.write_bytes(tmp_path / "m.tflite", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_file_that_contradicts_its_recipe_is_kept_as_broken_not_as_a_result(tmp_path):
    session = Session.create("demo", "demo", root=tmp_path)
    session.set_baseline(summary(), figures(100, 0.9))
    lying = figures(30, 0.9, flags=(Flag("weights_not_int8", "60% stayed float32", True),))
    warned = figures(40, 0.3, flags=(Flag("chance", "top-1 at chance"),))
    a = session.add(Recipe(quantization=Quantization(mode="int8")))
    b = session.add(Recipe(quantization=Quantization(mode="float16")))
    session.update(a.id, status="done", metrics=lying)
    session.update(b.id, status="done", metrics=warned)
    assert [c.id for c in session.finished()] == [b.id]  # a warning keeps the figures
    again = Session.open(session.folder)
    assert again.candidates[a.id].status == "broken"
    assert again.candidates[a.id].message == "60% stayed float32"
    # Recovered from disk after a stop: the same judgement.
    c = again.add(Recipe(quantization=Quantization(mode="int8")))
    write_result(again, c.id)
    folder = again.candidate_dir(c.id)
    on_disk = json.loads((folder / "metrics.json").read_text())
    atomic.write_json(folder / "metrics.json", {**on_disk, "flags": [lying.flags[0].to_dict()]})
    again.check_files()
    assert again.candidates[c.id].status == "broken"


def test_a_deleted_candidate_takes_its_files_and_its_number_is_not_reused(tmp_path):
    session = Session.create("demo", "demo", root=tmp_path)
    first = session.add(Recipe())
    last = session.add(Recipe(quantization=Quantization(mode="int8")))
    with pytest.raises(SessionError, match="cancel it first"):
        session.delete(last.id)  # still queued
    session.update(last.id, status="done", metrics=figures())
    (session.folder / last.name).mkdir()
    (session.folder / last.name / "model.tflite").write_bytes(b"x")
    session.delete(last.id)
    assert not (session.folder / last.name).exists()
    again = Session.open(session.folder)
    assert list(again.candidates) == [first.id]
    assert again.add(Recipe()).id == last.id + 1


def test_hidden_candidates_stay_but_leave_the_judged_list(tmp_path):
    from studio.values.results import from_session

    session = Session.create("demo", "demo", root=tmp_path)
    c = session.add(Recipe())
    session.update(c.id, status="done", metrics=figures())
    session.set_hidden(c.id, True)
    again = Session.open(session.folder)
    assert again.candidates[c.id].hidden and again.finished() == []
    assert from_session(again) == []


def test_background_saves_reach_disk_and_a_failure_is_raised_later(tmp_path, monkeypatch):
    """The window saves through `atomic.Saver` (issue 19: an fsync on the window's thread
    is a stall): the newest state is on disk after `flush`, and a failed write is not
    swallowed but raised, naming the file, by the next save."""
    session = Session.create("demo", "demo", root=tmp_path)
    session.saver = atomic.Saver()
    for n in range(20):
        session.add(Recipe(quantization=Quantization(mode="int8", calibration_samples=n + 1)))
    session.saver.flush()
    assert len(Session.open(session.folder).candidates) == 20
    assert json.loads((session.folder / "session.bak.json").read_text())["last_id"] == 20

    def full(path, data):
        raise StudioError(f"cannot write {path}: No space left on device")

    monkeypatch.setattr(atomic, "write_bytes", full)
    session.add(Recipe())
    with pytest.raises(StudioError, match="session.json: No space left"):
        session.saver.flush()
    monkeypatch.undo()
    session.add(Recipe())  # the disk has room again: saving goes on
    session.saver.flush()
    assert len(Session.open(session.folder).candidates) == 22


def test_every_change_after_a_batch_add_is_in_the_saved_file(tmp_path):
    """Saves reuse the dicts of unchanged candidates: a changed one must still be re-made."""
    session = Session.create("demo", "demo", root=tmp_path)
    recipes = [Recipe(quantization=Quantization(mode=m)) for m in ("int8", "dynamic", "float16")]
    first, second, third = session.add_all(recipes)
    assert [c.id for c in (first, second, third)] == [1, 2, 3]
    session.update(second.id, status="done", metrics=figures(50, 0.8))
    session.set_hidden(third.id, True)
    session.update(first.id, status="cancelled")
    session.delete(first.id)
    saved = json.loads((session.folder / "session.json").read_text())["candidates"]
    assert saved == [c.to_dict() for c in session.candidates.values()]
    assert [(c["id"], c["status"], c["hidden"]) for c in saved] == [
        (2, "done", False),
        (3, "queued", True),
    ]
    reopened = Session.open(session.folder).candidates
    assert {cid: c.recipe for cid, c in reopened.items()} == {2: recipes[1], 3: recipes[2]}
