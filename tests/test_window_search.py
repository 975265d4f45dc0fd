"""The automatic search from the window (stand-in jobs, fast): the Run menu starts it in
a new session, its trials land on the plots, the Jobs list says how far it is, the
Search tab explains the answer; and "Load into panels" round-trips every
recipe field."""

from __future__ import annotations

import pytest

from conftest import stand_in_window
from fakes import SearchStandIns
from studio.values import splits
from studio.values.autotune import Settings
from studio.values.recipe import Clustering, Pruning, Quantization, Recipe

WAIT = 20_000


@pytest.fixture
def window(qtbot, tmp_path):
    w = stand_in_window(qtbot, tmp_path, SearchStandIns())
    data = tmp_path / "quiz.npz"
    data.write_bytes(b"data")
    model = tmp_path / "quiz.keras"
    model.write_bytes(b"model")
    w.open_model(str(model), str(data))
    qtbot.waitUntil(lambda: w.workbench.session.baseline is not None, timeout=WAIT)
    yield w
    w.close()


def test_find_the_best_runs_in_a_new_session_and_explains_its_answer(qtbot, window):
    first = window.workbench.session
    assert window.commands.find_best.shortcut().toString() == "Ctrl+Shift+B"
    assert window.find_best(Settings(budget=1.0, max_trials=12, seed=2), threads=1)
    session = window.workbench.session
    assert session is not first and session.data == splits.with_part(first.data, "search")
    tab = window.center.search
    assert window.center.layer_bars.currentWidget() is tab
    qtbot.waitUntil(lambda: any("Automatic search" in t for t in _tasks(window)), timeout=WAIT)
    assert not tab.start.isEnabled()  # one search at a time from this tab
    qtbot.waitUntil(lambda: window.workbench.search is None, timeout=WAIT)
    qtbot.waitUntil(lambda: not window.jobs.tasks, timeout=WAIT)  # its row went away
    assert tab.start.isEnabled() and tab.start.isHidden()  # the room is the explanation's
    # Every measured trial is on the plots; the answer is explained and selectable.
    done = [c.id for c in session.candidates.values() if c.status == "done"]
    qtbot.waitUntil(
        lambda: sorted(s.data() for s in window.plots[0].points.points()) == done, timeout=WAIT
    )
    text = tab.text.toPlainText()
    assert text.startswith("Best within 1 pt of top-1: c0") and "\nTried " in text
    winner = next(c for c in session.candidates.values() if text.split(": ")[1].startswith(c.name))
    tab.winner_requested.emit(winner.name)
    assert window.selected == winner.id
    # The settings are remembered; a reopened session shows its explanation again.
    window.open_session(str(session.folder))
    qtbot.waitUntil(lambda: tab.text.toPlainText() == text, timeout=WAIT)


def _tasks(window) -> list[str]:
    return [row.title.text() for row in window.jobs.tasks.values()]


def test_cancel_all_stops_the_search_and_keeps_its_trials(qtbot, window):
    window.find_best(Settings(budget=1.0, max_trials=40, patience=99), threads=1)
    session = window.workbench.session
    qtbot.waitUntil(
        lambda: sum(c.status == "done" for c in session.candidates.values()) >= 5, timeout=WAIT
    )
    window.workbench.cancel_all()
    qtbot.waitUntil(lambda: window.workbench.search is None, timeout=WAIT)
    assert "cancelled by the user" in window.center.search.text.toPlainText()
    assert sum(c.status == "done" for c in session.candidates.values()) >= 5


EVERY_FIELD = Recipe(
    pruning=Pruning(
        target_sparsity=0.7,
        schedule="polynomial",
        initial_sparsity=0.1,
        layers=("dense",),
        epochs=3,
        learning_rate=5e-4,
        batch_size=16,
    ),
    clustering=Clustering(
        clusters=8,
        init="linear",
        per_channel=True,
        preserve_sparsity=False,
        layers=("head",),
        epochs=2,
        learning_rate=2e-5,
        batch_size=64,
    ),
    quantization=Quantization(
        mode="int8",
        epochs=2,
        learning_rate=3e-4,
        batch_size=8,
        calibration_samples=50,
        io_type="int8",
        float_layers=("conv",),
        select_tf_ops=True,
    ),
    seed=5,
)


@pytest.mark.parametrize(
    "recipe",
    [
        EVERY_FIELD,
        Recipe(
            pruning=Pruning(target_sparsity=0.5, structure="2:4", schedule="constant"),
            quantization=Quantization(mode="int8", qat=True, epochs=3, batch_size=4),
        ),
        Recipe(quantization=Quantization(mode="int16x8", io_type="int16")),
        Recipe(quantization=Quantization(mode="float16")),
        Recipe(),
    ],
    ids=["every-field", "2:4-qat", "16x8", "float16", "float"],
)
def test_load_into_panels_round_trips_every_recipe_field(window, recipe):
    session = window.workbench.session
    candidate = session.add(recipe)
    window.load_into_panels(candidate.id)
    assert window.editor.recipe().to_dict() == recipe.to_dict()
    assert window.setup_tabs.currentIndex() == 1  # the Techniques tab

