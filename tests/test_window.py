"""The studio window, driven the way a user drives it (offscreen, real worker processes)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QLabel, QPushButton

from studio.values.recipe import Pruning, Quantization, Recipe

# Real worker processes behind the real window: the wiring has fast tests in
# test_window_wiring.py; these check that the whole studio works end to end.
pytestmark = pytest.mark.slow

WAIT = 180_000  # ms; the first job also waits for a worker to import TensorFlow


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def open_window(qtbot, tmp_path, settings):
    from studio.ui.app import build

    windows = []

    def make(workers: int = 1):
        window = build(settings, workers=workers, sessions_root=tmp_path / "sessions")
        window.ask_about_running = lambda: "cancel"  # the modal question, answered as before
        window.ask_quit = lambda: True  # a close while jobs run: quit, as the tests did
        window.ask_for_data = lambda model: "demo"  # "use the demo digits anyway"
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


def _wait_baseline(qtbot, window):
    qtbot.waitUntil(lambda: window.workbench.session.baseline is not None, timeout=WAIT)


def _status(window, candidate_id):
    return window.workbench.session.candidates[candidate_id].status


def test_open_demo_run_int8_see_it_and_export_it(qtbot, open_window, tmp_path):
    window = open_window()
    window.start()  # nothing given: the bundled demo
    _wait_baseline(qtbot, window)
    assert "Float baseline" in window.model_panel.status.text()
    assert window.model_panel.layers.rowCount() >= 5
    # the float baseline is marked on every plot before any candidate
    qtbot.waitUntil(lambda: all(len(p.baseline.data) == 1 for p in window.plots), timeout=5_000)

    editor = window.editor
    editor.pruning.setChecked(False)
    editor.clustering.setChecked(False)
    editor.quantization.setChecked(True)
    editor.quantization.mode.setCurrentIndex(editor.quantization.mode.findData("int8"))
    assert editor.run_button.isEnabled()
    qtbot.mouseClick(editor.run_button, Qt.MouseButton.LeftButton)
    assert len(window.jobs.rows) == 1  # the job list shows it at once, with a progress bar

    qtbot.waitUntil(lambda: _status(window, 1) not in ("queued", "running"), timeout=WAIT)
    assert _status(window, 1) == "done", window.workbench.session.candidates[1].message
    assert not window.jobs.rows

    # its point on every plot, carrying its id; its row in the table
    def plotted(w):
        return all([spot.data() for spot in plot.points.points()] == [1] for plot in w.plots)

    qtbot.waitUntil(lambda: plotted(window), timeout=5_000)
    assert window.table.results.rowCount() == 1
    assert window.table.model().index(0, 2).data() == "done"

    # clicking the table row selects it everywhere, and export becomes possible
    window.table.selectRow(0)
    assert window.selected == 1
    assert all(plot.selected == 1 for plot in window.plots)
    assert window.commands.export.isEnabled()
    # the plots select back: a click on a point selects its row
    window.select(None)
    window.plots[0].candidate_clicked.emit(1)
    assert window.table.selected_id() == 1

    target = tmp_path / "export" / "digits_int8.tflite"
    assert window.export_candidate(str(target))
    recipe = Recipe.load(target.with_suffix(".recipe.json"))
    assert recipe.quantization.mode == "int8"

    # the exported file really loads in LiteRT and scores like the studio said
    from ai_edge_litert.interpreter import Interpreter

    from studio.engine.data import load_data

    data = load_data("demo")
    interpreter = Interpreter(model_path=str(target))
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    hits = 0
    for x, y in zip(data.x_eval[:100], data.y_eval[:100], strict=True):
        interpreter.set_tensor(inp["index"], x[None].astype(np.float32))
        interpreter.invoke()
        hits += int(np.argmax(interpreter.get_tensor(out["index"])) == y)
    assert hits >= 90
    measured = window.workbench.session.candidates[1].metrics.accuracy
    assert measured > 0.9

    # "Show code": the standalone script, generated in a worker, copied and saved
    dialog = window.show_code()
    qtbot.waitUntil(lambda: "tfmot" in dialog.text.toPlainText(), timeout=WAIT)
    assert "converter.target_spec.supported_ops" in dialog.text.toPlainText()
    assert dialog.save(str(tmp_path / "reproduce.py"))
    compile((tmp_path / "reproduce.py").read_text(), "reproduce.py", "exec")
    dialog.close()

    # File -> Export report: HTML with embedded plots, and the CSV beside it
    assert window.export_report(str(tmp_path / "report.html"))
    assert "data:image/png;base64," in (tmp_path / "report.html").read_text()
    assert (tmp_path / "report.csv").read_text().count("\n") == 3  # header, float, c001

    # exported files are readable by the app's build, not private to the studio
    assert target.stat().st_mode & 0o044 == 0o044

    # a candidate whose folder was deleted is noticed: not exported, not recommended
    import shutil

    shutil.rmtree(window.workbench.session.candidate_dir(1))
    window.select(1)
    assert not window.export_candidate(str(tmp_path / "again.tflite"))
    assert "was deleted" in window.error_box.text()
    assert not (tmp_path / "again.tflite").exists()
    assert not (tmp_path / "again.recipe.json").exists()
    assert _status(window, 1) == "missing"
    window.state.update_recommendation()
    assert window.recommended == {"smallest": None, "fastest": None}


def test_a_bad_model_file_shows_an_error_and_the_window_stays_usable(qtbot, open_window, tmp_path):
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"this is not a model")
    window = open_window()
    window.open_model(str(bad))
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=WAIT)
    assert "broken.keras" in window.error_box.text()
    assert "broken.keras" in window.model_panel.status.text()
    window.error_box.close()
    assert window.isVisible()

    missing = tmp_path / "nope.h5"
    window.open_model(str(missing))
    assert "nope.h5 does not exist" in window.error_box.text()

    assert not window.editor.run_button.isEnabled()  # nothing to run on: said, not silent
    assert "no float baseline" in window.editor.problem.text()

    window.open_model("demo")  # and it goes on working
    _wait_baseline(qtbot, window)
    assert window.editor.run_button.isEnabled()


def test_a_model_with_code_opens_only_when_the_user_trusts_it(qtbot, open_window, tmp_path):
    import tf_keras as keras

    inp = keras.Input((8, 8, 1))
    scaled = keras.layers.Lambda(lambda t: t * 1.0, name="scale")(inp)
    out = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(scaled))
    path = tmp_path / "with_lambda.h5"
    keras.Model(inp, out).save(path)

    window = open_window()
    window.open_model(str(path), "demo")
    qtbot.waitUntil(lambda: window.error_box is not None, timeout=WAIT)
    box = window.error_box
    assert "with_lambda.h5 contains code" in box.text()
    assert window.workbench.session.baseline is None  # nothing ran the file's code
    trust = next(b for b in box.buttons() if b.text() == "Trust and open")
    trust.click()
    _wait_baseline(qtbot, window)
    assert window.workbench.session.trust
    assert "scale" in [
        window.model_panel.layers.item(row, 0).text()
        for row in range(window.model_panel.layers.rowCount())
    ]


def test_cancel_from_the_job_list(qtbot, open_window):
    window = open_window()
    window.start()
    long = Recipe(pruning=Pruning(epochs=200), quantization=Quantization(mode="int8"))
    window.editor.set_recipe(long)
    window.editor.request_run()
    qtbot.waitUntil(lambda: _status(window, 1) == "running", timeout=WAIT)
    qtbot.waitUntil(
        lambda: (
            window.workbench.activity.stage_text(1).startswith("pruning")
            or "epoch" in window.workbench.activity.stage_text(1)
            or window.workbench.activity.fraction(1) > 0.3
        ),
        timeout=WAIT,
    )
    qtbot.mouseClick(window.jobs.rows[1].cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _status(window, 1) == "cancelled", timeout=5_000)
    assert not window.jobs.rows
    assert window.table.model().index(0, 2).data() == "cancelled"


def test_invalid_combinations_are_explained_not_fixed(open_window):
    window = open_window()
    q = window.editor.quantization
    q.setChecked(True)
    q.mode.setCurrentIndex(q.mode.findData("dynamic"))
    q.qat.setChecked(True)
    assert not window.editor.run_button.isEnabled()
    assert "quantization.qat" in window.editor.problem.text()
    assert q.mode.currentData() == "dynamic" and q.qat.isChecked()  # nothing silently changed
    q.mode.setCurrentIndex(q.mode.findData("int8"))
    assert window.editor.run_button.isEnabled()


def test_recipes_go_in_and_out_of_the_panels(open_window, tmp_path):
    window = open_window()
    recipe = Recipe(
        pruning=Pruning(target_sparsity=0.7, schedule="constant", epochs=3, layers=("conv2",)),
        quantization=Quantization(mode="int16x8", io_type="int16"),
    )
    path = tmp_path / "r.json"
    path.write_text(recipe.to_json())
    assert window.load_recipe(str(path))
    assert window.editor.recipe() == recipe
    out = tmp_path / "saved.json"
    assert window.save_recipe(str(out))
    assert Recipe.load(out) == recipe

    path.write_text(json.dumps({"pruning": {"target_sparsity": 1.5}}))
    assert not window.load_recipe(str(path))
    assert "pruning.target_sparsity" in window.error_box.text()
    assert window.editor.recipe() == recipe  # the panels keep what they had


def test_a_session_reopens_with_its_candidates_and_settings(qtbot, open_window, settings):
    window = open_window()
    window.start()
    window.editor.set_recipe(Recipe(quantization=Quantization(mode="float16")))
    window.editor.request_run()
    qtbot.waitUntil(lambda: _status(window, 1) == "done", timeout=WAIT)
    window.budget.setValue(2.5)
    folder = window.workbench.session.folder
    window.close()

    again = open_window()
    again.start()  # no model given: the last session comes back
    assert again.workbench.session.folder == folder
    assert again.table.results.rowCount() == 1
    qtbot.waitUntil(lambda: [s.data() for s in again.plots[0].points.points()] == [1])
    assert again.budget.value() == 2.5
    assert again.editor.recipe().quantization.mode == "float16"  # panels remembered


def test_drop_a_recipe_or_a_model_and_recent_files_are_remembered(qtbot, open_window, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    from studio.values.resources import DEMO_MODEL

    window = open_window()

    def drop(path):
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        event = QDropEvent(
            QPointF(10, 10),
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
        window.dropEvent(event)

    recipe = Recipe(quantization=Quantization(mode="float16"))
    path = tmp_path / "dropped.json"
    path.write_text(recipe.to_json())
    drop(path)
    assert window.editor.recipe() == recipe

    drop(DEMO_MODEL)
    assert window.workbench.session.model == str(DEMO_MODEL)
    assert window.recent_files()[0] == str(DEMO_MODEL)
    _wait_baseline(qtbot, window)


def test_a_keras3_model_opens_like_any_other(qtbot, open_window, tmp_path):
    from test_keras3 import small_cnn

    path = tmp_path / "k3_cnn.keras"
    small_cnn().save(path)
    window = open_window()
    window.open_model(str(path))
    _wait_baseline(qtbot, window)
    assert "rebuilt in tf_keras" in window.model_panel.status.text()
    assert window.editor.pruning.layers.count() >= 4  # every technique is offered


def test_sweep_dialog_previews_the_grid_and_explains_bad_values(qtbot):
    from studio.ui.views.sweep_dialog import SweepDialog

    dialog = SweepDialog(Recipe(), [], workers=2)
    qtbot.addWidget(dialog)
    assert "12 new candidate(s)" in dialog.preview.text()
    assert "6 fine-tune(s) instead of 18 one by one" in dialog.preview.text()
    assert dialog.grid.size == 12
    dialog.sparsity.setText("50, lots")
    assert "'lots' is not a float" in dialog.preview.text()
    assert dialog.grid is None
    dialog.sparsity.setText("150")
    assert "pruning.target_sparsity" in dialog.preview.text()


def test_a_sweep_and_a_diagnosis_from_the_window(qtbot, open_window):
    from studio.values.grid import Grid
    from studio.values.resources import RECIPES

    window = open_window(workers=2)
    window.start()
    _wait_baseline(qtbot, window)

    ids = window.run_sweep(Grid.load(RECIPES / "demo_sweep_grid.json"))
    assert len(ids) == 12 and len(window.jobs.rows) == 1  # the rest a few per turn
    qtbot.waitUntil(lambda: window.table.model().rowCount() == 12, timeout=WAIT)
    assert len(window.jobs.rows) + window.jobs.batch_done == 12
    window.diagnose()
    qtbot.waitUntil(lambda: all(_status(window, i) == "done" for i in ids), timeout=WAIT)
    qtbot.waitUntil(lambda: window.diagnosis.layers.count() >= 5, timeout=WAIT)
    # every layer in the list, only the worst few as bars (their names stay readable)
    from studio.ui.views.diagnosis_view import BARS_SHOWN

    (bars,) = [i for i in window.diagnosis.plot.plotItem.items if hasattr(i, "opts")]
    assert len(bars.opts["width"]) == min(BARS_SHOWN, window.diagnosis.layers.count())
    assert window.table.results.rowCount() == 12
    # a recommendation within the budget is named, circled and bold
    assert window.recommended["smallest"] in ids
    assert f"smallest c{window.recommended['smallest']:03d}" in window.recommend_label.text()

    window.editor.set_recipe(Recipe(quantization=Quantization(mode="int8")))
    window.run_selective(("dense1",))
    candidate = window.workbench.session.candidates[13]
    assert candidate.recipe.quantization == Quantization(mode="int8", float_layers=("dense1",))
    qtbot.waitUntil(lambda: _status(window, 13) == "done", timeout=WAIT)
    assert "Run the same recipe with no layer in float (int8)" in window.diagnosis.status.text()
    window.editor.set_recipe(Recipe(quantization=Quantization(mode="int8")))
    window.editor.request_run()
    qtbot.waitUntil(lambda: _status(window, 14) == "done", timeout=WAIT)
    assert "vs c014 (int8, the same with no layer in float)" in window.workbench.selective_note(13)
    assert window.workbench.session.candidates[13].label == "int8 (dense1 in float)"


def test_about_names_the_versions():
    from studio.ui.dialogs import about_text

    text = about_text()
    for name in ("TensorFlow 2.", "TensorFlow Model Optimization 0.8", "LiteRT", "Qt 6."):
        assert name in text, text


def test_the_welcome_shows_on_the_first_run_only(qtbot, open_window):
    window = open_window()
    assert window.welcome.isVisible()
    assert "Welcome" in window.welcome.findChild(QLabel).text()
    qtbot.mouseClick(window.welcome.findChild(QPushButton), Qt.MouseButton.LeftButton)
    assert not window.welcome.isVisible()
    window.close()
    assert not open_window().welcome.isVisible()


def test_the_session_is_remembered_at_once_and_listed_in_recent_sessions(open_window, settings):
    window = open_window()
    window.start()
    folder = window.workbench.session.folder
    # recorded when it starts, not at a clean close: a killed window reopens it
    assert QSettings(settings.fileName(), QSettings.Format.IniFormat).value("session/last") == str(
        folder
    )
    window.commands.fill_recent_sessions()
    [entry] = window.commands.recent_sessions_menu.actions()
    assert "demo" in entry.text() and "0 candidate(s)" in entry.text() and "(open)" in entry.text()
    assert str(folder) in entry.toolTip()


def test_opening_another_model_while_jobs_run_asks_first(qtbot, open_window):
    window = open_window()
    window.start()
    first = window.workbench.session
    window.editor.set_recipe(Recipe(quantization=Quantization(mode="float16")))
    window.editor.request_run()
    answers = iter([None, "keep"])
    asked = []
    window.ask_about_running = lambda: asked.append(1) or next(answers)
    window.open_model("demo")  # "Don't open": nothing changes, nothing is cancelled
    assert window.workbench.session is first and len(asked) == 1
    window.open_model("demo")  # "Let them finish": a new session, the job goes on
    assert window.workbench.session is not first
    qtbot.waitUntil(lambda: first.candidates[1].status == "done", timeout=WAIT)
    window.workbench.saver.flush()
    reopened = json.loads((first.folder / "session.json").read_text())
    assert reopened["candidates"][0]["status"] == "done"  # saved in its own session


def test_cancel_all_reaches_the_baseline(qtbot, open_window):
    window = open_window()
    window.start()
    assert window.workbench.baseline_running
    window.commands.cancel_all.trigger()
    qtbot.waitUntil(lambda: not window.workbench.baseline_running, timeout=10_000)
    assert window.workbench.session.baseline is None
    assert not window.editor.run_button.isEnabled()
    assert "cancelled" in window.model_panel.status.text()


def test_a_damaged_session_is_explained_and_the_window_keeps_working(qtbot, open_window, tmp_path):
    from studio.values.session import Session

    session = Session.create("demo", "demo", root=tmp_path / "elsewhere")
    session.add(Recipe())
    (session.folder / "session.json").write_text('{"model": "demo", "candidates": [{"id": "x')
    window = open_window()
    window.start()
    assert window.open_session(str(session.folder))  # the last good copy
    assert "last good copy" in window.error_box.text()
    assert len(window.workbench.session.candidates) == 1

    (session.folder / "session.json").write_text("{")
    (session.folder / "session.bak.json").write_text("{")
    (session.folder / "origin.json").unlink()  # nothing to rebuild it from
    assert not window.open_session(str(session.folder))
    assert "both damaged" in window.error_box.text()
    assert "Unterminated" not in window.error_box.text()
    assert window.workbench.session is not None  # the window still has a working session

    # started with --session on it: explained, and the window gets a session all the same
    from studio.ui.app import first_view, parser

    fresh = open_window()
    first_view(fresh, parser().parse_args(["--session", str(session.folder)]))
    assert "both damaged" in fresh.error_box.text()
    assert fresh.workbench.session is not None and fresh.editor.run_button.isEnabled()
