"""The window's wiring, fast: the real window on the in-process job backend with task
stand-ins (tests/fakes.py), so what is tested is what each part shows when the
workbench says something, and what a click does.  tests/test_window.py drives the same
window with real workers (slow)."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QSettings, QUrl
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QTextBrowser

from conftest import stand_in_window
from fakes import StandIns
from studio.jobs import kinds
from studio.values.errors import StudioError
from studio.values.grid import Grid
from studio.values.recipe import Quantization, Recipe

WAIT = 10_000


@pytest.fixture
def window(qtbot, tmp_path):
    stand_ins = StandIns()
    w = stand_in_window(qtbot, tmp_path, stand_ins)
    w.backend_handlers = w.workbench.backend.handlers
    w.start()
    qtbot.waitUntil(lambda: w.workbench.session.baseline is not None, timeout=WAIT)
    yield w
    stand_ins.gate.release(100)
    w.close()


def _points(plot) -> list[int]:
    return [spot.data() for spot in plot.points.points()]


def test_a_run_shows_everywhere_and_a_selection_is_shared(qtbot, window, tmp_path):
    assert "Float baseline" in window.model_panel.status.text()
    window.editor.set_recipe(Recipe(quantization=Quantization(mode="int8")))
    window.editor.request_run()
    assert len(window.jobs.rows) == 1  # at once, before any worker starts
    qtbot.waitUntil(lambda: all(_points(p) == [1] for p in window.plots), timeout=WAIT)
    assert not window.jobs.rows
    assert window.table.model().index(0, 2).data() == "done"
    assert "smallest c001" in window.recommend_label.text()

    window.table.selectRow(0)  # one selection: table, plots, actions, layer bars
    assert window.selected == 1 and all(p.selected == 1 for p in window.plots)
    assert window.commands.export.isEnabled() and window.commands.code.isEnabled()
    window.select(None)
    assert window.table.selected_id() is None and not window.commands.export.isEnabled()
    window.plots[0].candidate_clicked.emit(1)
    assert window.table.selected_id() == 1

    target = tmp_path / "out" / "m.tflite"
    assert window.export_candidate(str(target))
    assert target.read_bytes() == window.workbench.session.tflite(1).read_bytes()
    assert Recipe.load(target.with_suffix(".recipe.json")).quantization.mode == "int8"

    dialog = window.show_code()
    qtbot.waitUntil(lambda: "tfmot" in dialog.text.toPlainText(), timeout=WAIT)
    assert "int8" in dialog.text.toPlainText()


def test_the_budget_and_a_sweep_move_the_recommendation(qtbot, window):
    window.stand_ins.gate = threading.Semaphore(100)
    ids = window.run_sweep(Grid.from_dict({"quantization.mode": ["dynamic", "int8", "float16"]}))
    qtbot.waitUntil(
        lambda: all(window.workbench.candidate(i).status == "done" for i in ids), timeout=WAIT
    )
    qtbot.waitUntil(lambda: all(len(_points(p)) == 3 for p in window.plots), timeout=WAIT)
    # stand-in accuracies 0.90, 0.91, 0.92 against 0.99: none within 1 point
    assert window.recommended == {"smallest": None, "fastest": None}
    assert "smallest none" in window.recommend_label.text()
    window.budget.setValue(9.0)  # now 0.90 (c001) is 9 points below: all qualify
    assert window.recommended["smallest"] in ids
    assert window.workbench.session.budget == 9.0
    assert window.table.results.recommended == {i for i in window.recommended.values() if i}


def test_the_diagnosis_queues_a_selective_candidate(qtbot, window):
    window.diagnose()
    qtbot.waitUntil(lambda: window.diagnosis.layers.count() == 2, timeout=WAIT)
    assert window.diagnosis.ticked() == ("dense",)  # the worst is ticked for the user
    window.diagnosis.run_button.click()
    candidate = window.workbench.candidate(1)
    assert candidate.recipe.quantization.float_layers == ("dense",)
    qtbot.waitUntil(lambda: window.workbench.candidate(1).status == "done", timeout=WAIT)
    assert "no layer in float" in window.diagnosis.status.text()


def test_a_two_output_model_is_judged_by_the_output_the_user_picks(qtbot, window):
    from studio.values.session import Session

    window.stand_ins.two_heads = True
    window.open_model("demo", "demo")
    wb, panel = window.workbench, window.model_panel
    qtbot.waitUntil(lambda: wb.session.baseline is not None, timeout=WAIT)
    window.setup_tabs.setCurrentWidget(panel)
    assert panel.output_choice.isVisible() and panel.output_choice.count() == 2
    assert panel.output_choice.currentData() == "level"
    assert "output score: 0.1000 MAE" in panel.status.text()
    cid = wb.run(Recipe(quantization=Quantization(mode="int8")))
    qtbot.waitUntil(lambda: wb.candidate(cid).status == "done", timeout=WAIT)
    assert wb.candidate(cid).metrics.metric == "top1"

    panel.output_choice.setCurrentIndex(1)
    panel.output_choice.activated.emit(1)
    judged = wb.candidate(cid).metrics
    assert (judged.metric, judged.accuracy, judged.output) == ("mae", 0.3, "score")
    assert wb.session.baseline.accuracy == 0.1
    assert "MAE" in window.plots[0].getAxis("left").labelText
    # 0.3 against 0.1 MAE is 0.2 worse: outside a budget of 0.1, inside one of 0.25
    window.budget.setValue(0.1)
    assert window.recommended["smallest"] is None
    window.budget.setValue(0.25)
    assert window.recommended["smallest"] == cid
    wb.saver.flush()
    again = Session.open(wb.session.folder)
    assert again.output == "score" and again.candidates[cid].metrics.metric == "mae"


def test_layer_sensitivity_runs_after_the_baseline_and_annotates_the_layers(qtbot, window):
    picker = window.editor.pruning.layers
    qtbot.waitUntil(lambda: "pt" in picker.item(0).text(), timeout=WAIT)
    assert picker.item(0).text() == "dense   −49.0 pt  ⚠"
    # The only prunable layer is fragile: shown, but not left out (nothing would remain).
    assert picker.chosen() is None
    assert window.editor.clustering.layers.item(0).text() == "dense   no loss"
    log = window.bottom.log_view.toPlainText()
    assert "measuring each layer's sensitivity" in log
    assert "dense kept for pruning" in log


def test_opening_another_model_leaves_nothing_of_the_previous_one(qtbot, window, tmp_path):
    window.workbench.diagnose()
    qtbot.waitUntil(lambda: window.diagnosis.layers.count() == 2, timeout=WAIT)
    cid = window.workbench.run(Recipe(quantization=Quantization(mode="int8")))
    qtbot.waitUntil(lambda: window.workbench.candidate(cid).status == "done", timeout=WAIT)
    window.select(cid)
    assert "bundled demo" in window.welcome.text.text()
    assert window.recommend_label.text()

    other = tmp_path / "reader.keras"
    other.write_bytes(b"stand-in")  # the stand-in worker does not read it
    window.open_model(str(other), "demo")
    assert "reader.keras" in window.welcome.text.text()
    assert "bundled demo" not in window.welcome.text.text()
    assert window.diagnosis.layers.count() == 0 and not window.diagnosis.run_button.isEnabled()
    assert window.recommend_label.text() == ""
    assert window.selected is None


def test_no_figure_of_the_previous_model_stays_on_the_plots(qtbot, window, tmp_path):
    """Issue 32: the keyword model's per-layer chart kept the text model's layer names,
    empty plots kept its axis ranges, and a refused file was still "open" in the welcome."""
    from studio.values.errors import UntrustedModelError
    from studio.values.metrics import LayerFigures

    bars = window.center.layer_bars
    layer = LayerFigures("embedding", "embedding/w", "GATHER", "int8", 100, 0.5, 16)
    bars.show_layers("c001", [layer])
    assert bars.sparsity.getAxis("bottom")._tickLevels  # the text model's layer names
    window.run_sweep(Grid.from_dict({"quantization.mode": ["dynamic", "int8"]}))
    qtbot.waitUntil(lambda: len(_points(window.plots[0])) == 2, timeout=WAIT)
    assert window.plots[0].viewRange() != [[0.0, 1.0], [0.0, 1.0]]  # fitted to the demo

    window.stand_ins.baseline_gate.clear()  # the next model's baseline is not in yet
    other = tmp_path / "kws.keras"
    other.write_bytes(b"stand-in")
    window.open_model(str(other), "demo")
    assert not bars.sparsity.getAxis("bottom")._tickLevels
    assert not bars.unique.getAxis("bottom")._tickLevels
    qtbot.waitUntil(lambda: not _points(window.plots[0]), timeout=WAIT)
    for plot in window.plots:
        assert plot.viewRange() == [[0.0, 1.0], [0.0, 1.0]], plot.viewRange()
    window.stand_ins.baseline_gate.set()

    def refuse(**_):
        raise UntrustedModelError("k2_lambda.h5 has a Lambda layer, which runs code")

    window.backend_handlers[kinds.BASELINE] = refuse
    window.open_model(str(tmp_path / "kws.keras"), "demo")
    qtbot.waitUntil(lambda: "was not opened" in window.welcome.text.text(), timeout=WAIT)
    assert "kws.keras" in window.welcome.text.text() and "is open" not in window.welcome.text.text()


def test_a_model_opened_without_its_data_asks_for_it(qtbot, window, tmp_path):
    """Issue 18: a model opened from the command line was measured on the demo digits
    without a word.  Now the window asks; the demo digits only when the user says so,
    and then a warning stays in sight."""
    model = tmp_path / "reader.keras"
    model.write_bytes(b"stand-in")
    data = tmp_path / "reader.npz"
    data.write_bytes(b"stand-in")
    asked = []

    window.ask_for_data = lambda m: asked.append(m) or None  # "Don't open"
    window.open_model(str(model))
    assert asked == [str(model)]
    assert window.workbench.session.model != str(model)  # nothing opened

    window.ask_for_data = lambda m: str(data)
    window.open_model(str(model))
    assert window.workbench.session.data == str(data)
    assert window.model_panel.demo_data_warning.isHidden()
    assert window.model_panel.data_kind.currentText().startswith("reader.npz")  # not "A .npz file…"
    window.open_model(str(model))  # its data is kept: no second question
    assert window.workbench.session.data == str(data)

    window.open_model("demo")
    assert window.workbench.session.data == "demo"  # the demo comes with its digits
    window.open_model(str(model))
    assert window.workbench.session.data == str(data)  # its own data, not the demo's

    other = tmp_path / "speller.keras"
    other.write_bytes(b"stand-in")
    window.ask_for_data = lambda m: "demo"  # "Use the demo digits anyway"
    window.open_model(str(other))
    assert window.workbench.session.data == "demo"
    assert not window.model_panel.demo_data_warning.isHidden()
    assert "mean nothing" in window.model_panel.demo_data_warning.text()


def test_a_model_is_never_paired_with_another_models_data(qtbot, window, tmp_path):
    """Issue 32: after the text model and text.npz, the keyword model got text.npz
    without a question, and Open recent gave the text model the keyword data."""
    text, kws = tmp_path / "text.keras", tmp_path / "kws.keras"
    text_data, kws_data = tmp_path / "text.npz", tmp_path / "kws.npz"
    for path in (text, kws, text_data, kws_data):
        path.write_bytes(b"stand-in")
    asked = []
    window.ask_for_data = lambda m: asked.append(m) or str(text_data)
    window.open_model(str(text))
    window.ask_for_data = lambda m: asked.append(m) or str(kws_data)
    window.open_model(str(kws))
    assert asked == [str(text), str(kws)]  # each model asked for its own data
    assert window.workbench.session.data == str(kws_data)
    window.open_model(str(text))  # as Open recent does: its own data, no question
    assert window.workbench.session.data == str(text_data) and len(asked) == 2


def test_reopening_a_model_offers_its_sessions(qtbot, window, tmp_path):
    """Issue 32: opening the text model again started a new, empty session instead of
    the one with its candidates; Recent sessions listed empty ones, without the data."""
    from studio.values.session import list_sessions

    model, data = tmp_path / "text.keras", tmp_path / "text.npz"
    model.write_bytes(b"stand-in")
    data.write_bytes(b"stand-in")
    window.ask_for_data = lambda m: str(data)
    window.open_model(str(model))
    qtbot.waitUntil(lambda: window.workbench.session.baseline is not None, timeout=WAIT)
    cid = window.workbench.run(Recipe(quantization=Quantization(mode="int8")))
    qtbot.waitUntil(lambda: window.workbench.candidate(cid).status == "done", timeout=WAIT)
    worked = window.workbench.session.folder
    window.open_model("demo")

    offered = []

    def choose(m, sessions, last):
        offered.append((m, [s.folder for s in sessions], last))
        return "session", str(sessions[0].folder)

    window.ask_session_or_data = choose
    window.open_model(str(model))
    assert offered == [(str(model), [worked], str(data))]
    assert window.workbench.session.folder == worked
    assert [c.status for c in window.workbench.session.candidates.values()] == ["done"]

    window.workbench.saver.flush()
    listed = list_sessions(window.sessions_root)
    assert [info.folder for info in listed] == [worked]  # the empty demo sessions are not
    assert "text.keras on text.npz" in listed[0].title()
    window.commands.fill_recent_sessions()
    titles = [a.text() for a in window.commands.recent_sessions_menu.actions()]
    assert len(titles) == 1 and "text.keras on text.npz" in titles[0]


def test_panel_settings_belong_to_their_session(qtbot, window, tmp_path):
    """Issue 32: after the demo, another model opened with pruning 80 % and 16 clusters
    already ticked; Ctrl+R would have started a fine-tune the user did not choose."""
    from studio.values.recipe import Clustering, Pruning

    tuned = Recipe(
        pruning=Pruning(target_sparsity=0.8),
        clustering=Clustering(clusters=16),
        quantization=Quantization(mode="int8"),
    )
    window.editor.set_recipe(tuned)
    demo_session = window.workbench.session.folder
    model = tmp_path / "text.keras"
    model.write_bytes(b"stand-in")
    window.open_model(str(model), "demo")
    assert window.editor.recipe() == window.default_recipe  # the defaults, not the demo's
    assert window.editor.recipe().pruning is None
    window.open_session(str(demo_session))
    assert window.editor.recipe() == tuned  # back where the demo's session was left


def test_file_dialogs_start_beside_the_model_then_the_last_export(qtbot, window, tmp_path):
    """Issue 18: dialogs opened in the shell's working directory."""
    from studio.ui.settings import Settings

    settings = Settings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    models, exports = tmp_path / "models", tmp_path / "app" / "assets"
    models.mkdir(), exports.mkdir(parents=True)
    settings.remember_model(str(models / "reader.keras"))
    assert settings.start_dir() == settings.export_dir() == str(models)
    settings.remember_export(str(exports / "reader_c001.tflite"))
    assert settings.export_dir() == str(exports) and settings.start_dir() == str(models)

    window.settings = settings  # a real save through the window remembers its folder
    assert window.save_recipe(str(models / "r.json"))
    assert settings.export_dir() == str(models)


def test_help_lists_the_shortcuts_and_opens_the_walkthrough(qtbot, window):
    """Issue 18: a Help menu with the shortcuts, the README's walkthrough, the version."""
    menus = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions()}
    entries = [a.text().replace("&", "") for a in menus["Help"].actions()]
    assert entries == ["Walkthrough", "Keyboard shortcuts", "About"]
    window.commands.shortcuts.trigger()
    shown = window.commands.help_window.findChild(QTextBrowser).toPlainText()
    for key, words in (("Ctrl+R", "Run candidate"), ("Ctrl+E", "Export candidate")):
        assert key in shown and words in shown
    assert "&" not in shown  # "&Quit" read as such (issue 32)
    window.commands.walkthrough.trigger()
    browser = window.commands.help_window.findChild(QTextBrowser)
    readme = browser.toPlainText()
    assert "Five minutes on the demo" in readme and "The window, part by part" in readme
    for developers in ("Set-up (Linux", "## Architecture", "Packaging", "pip install -e"):
        assert developers not in readme  # the user's part only (issue 32)
    images = _images(browser)
    assert len(images) >= 4
    for name in images:  # each picture loads (one was a broken icon)
        pixmap = browser.loadResource(QTextDocument.ResourceType.ImageResource, QUrl(name))
        assert pixmap is not None and not pixmap.isNull(), name
    from studio.ui.dialogs import about_text

    assert "TFLite Optimization Studio 0.1.0" in about_text()
    assert window.setup_tabs.currentWidget() is window.model_panel  # the walkthrough's start


def _images(browser) -> list[str]:
    names, block = [], browser.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fmt = it.fragment().charFormat()
            if fmt.isImageFormat():
                names.append(fmt.toImageFormat().name())
            it += 1
        block = block.next()
    return names


def test_the_jobs_list_shows_session_tasks_and_counts_a_batch(qtbot, window):
    """Issue 18: "No candidates running" while the baseline ran; no "7 of 12 done"."""
    window.stand_ins.baseline_gate.clear()  # the next baseline holds until released
    window.open_model("demo")
    qtbot.waitUntil(lambda: len(window.jobs.tasks) == 1, timeout=WAIT)
    (row,) = window.jobs.tasks.values()
    assert "Float baseline" in row.title.text()
    qtbot.waitUntil(lambda: row.isVisibleTo(window.jobs), timeout=WAIT)
    assert window.jobs.empty.isHidden() and "1 session task" in window.jobs.header.text()
    window.stand_ins.baseline_gate.set()
    qtbot.waitUntil(lambda: window.workbench.session.baseline is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: not window.jobs.tasks, timeout=WAIT)

    window.stand_ins.gate = threading.Semaphore(0)  # the group holds after each candidate
    ids = window.run_sweep(Grid.from_dict({"quantization.mode": ["dynamic", "int8", "float16"]}))
    # The first row at once, the rest on the next event-loop turns (a sweep of dozens
    # must not build all its rows in the click's turn).
    assert len(window.jobs.rows) == 1 and window.table.model().rowCount() == 1
    qtbot.waitUntil(lambda: window.table.model().rowCount() == 3, timeout=WAIT)
    assert [window.table.model().index(r, 0).data() for r in range(3)] == [f"c{i:03d}" for i in ids]
    qtbot.waitUntil(lambda: "1 of 3 done" in window.jobs.header.text(), timeout=WAIT)
    window.stand_ins.gate.release(1)
    qtbot.waitUntil(lambda: window.jobs.header.text() == "1 running · 2 of 3 done", timeout=WAIT)
    window.stand_ins.gate.release(100)
    qtbot.waitUntil(
        lambda: all(window.workbench.candidate(i).status == "done" for i in ids), timeout=WAIT
    )
    assert not window.jobs.rows
    # The sweep's end: its candidates timed together, a session task of its own.
    qtbot.waitUntil(
        lambda: all(window.workbench.candidate(i).metrics.latency_ms.together for i in ids),
        timeout=WAIT,
    )
    qtbot.waitUntil(lambda: not window.jobs.tasks, timeout=WAIT)
    qtbot.waitUntil(lambda: not window.jobs.empty.isHidden(), timeout=WAIT)


def test_a_row_tells_time_spent_and_left():
    from studio.ui.views.job_list import JobRow
    from studio.values.units import clock

    assert clock(7) == "0:07" and clock(750) == "12:30" and clock(3723) == "1:02:03"
    row = JobRow("c001")
    row.show_progress(0.5, "prune")
    row.started_at -= 30  # 30 s in, half done
    row.tick()
    assert row.time.text() == "0:30 · about 0:30 left"


def test_an_ended_job_leaves_the_list_at_once(qtbot):
    """Seen in a screenshot: the finished baseline's row beside "Nothing running" (its
    deferred delete waits for the event loop)."""
    from studio.ui.views.job_list import JobList

    jobs = JobList()
    qtbot.addWidget(jobs)
    jobs.show()
    jobs.set_tasks({7: "Float baseline"})
    row = jobs.tasks[7]
    jobs.set_tasks({})
    assert row.isHidden() and not jobs.empty.isHidden()


def test_candidates_can_be_hidden_deleted_and_compared(qtbot, window):
    """Issue 18: hide or delete candidates; compare two side by side."""
    a = window.workbench.run(Recipe(quantization=Quantization(mode="int8")))
    b = window.workbench.run(Recipe(quantization=Quantization(mode="dynamic")))
    done = lambda *ids: all(window.workbench.candidate(i).status == "done" for i in ids)  # noqa: E731
    qtbot.waitUntil(lambda: done(a, b), timeout=WAIT)
    qtbot.waitUntil(lambda: all(sorted(_points(p)) == [a, b] for p in window.plots), timeout=WAIT)

    menu = window._candidate_menu(a, window.table.mapToGlobal(window.table.rect().center()))
    texts = [action.text() for action in menu.actions()]
    assert "Hide from the plots" in texts and "Delete…" in texts and "Compare with" in texts
    menu.close()

    window.workbench.hide(a)
    qtbot.waitUntil(lambda: all(_points(p) == [b] for p in window.plots), timeout=WAIT)
    assert "(hidden)" in window.table.model().index(0, 2).data()
    assert window.recommended["smallest"] != a

    dialog = window.compare(a, b)
    rows = {name: (x, y) for name, x, y in dialog.shown()}
    assert rows["quantization.mode"] == ("int8", "dynamic")
    assert rows["label"] == ("int8", "dynamic")
    dialog.only_differences.setChecked(True)
    names = [name for name, _, _ in dialog.shown()]
    assert "quantization.mode" in names and "quantization.qat" not in names
    dialog.close()

    folder = window.workbench.session.candidate_dir(a)
    assert folder.is_dir()
    window.ask_delete = lambda name: False  # "No": nothing happens
    assert not window.delete_candidate(a) and folder.is_dir()
    window.ask_delete = lambda name: True
    assert window.delete_candidate(a)
    assert a not in window.workbench.session.candidates and not folder.exists()
    assert window.table.model().rowCount() == 1
    c = window.workbench.run(Recipe(quantization=Quantization(mode="float16")))
    assert c > b  # a deleted number is not given out again


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_at_laptop_and_desktop_sizes_the_plots_keep_their_axis_titles(qtbot, window, size):
    """Issue 18 (8): at 1366x768 axis titles were clipped and a diagnosis made the lower
    plot row take most of the height. Rows share the height; every plot gets its minimum;
    the legend is one line; the layer table shows more than four rows."""
    window.resize(*size)
    window.diagnose()
    qtbot.waitUntil(lambda: window.diagnosis.layers.count() == 2, timeout=WAIT)
    qtbot.wait(50)
    top, right, bottom = (p.height() for p in window.plots)
    assert min(top, bottom) >= 160 and abs(top - bottom) <= 10
    assert abs(window.center.layer_bars.height() - bottom) <= 10
    legend = next(w for w in window.center.findChildren(QLabel) if "hover for figures" in w.text())
    assert legend.height() < 2 * legend.fontMetrics().height()
    table = window.model_panel.layers
    assert table.viewport().height() >= 4 * table.verticalHeader().defaultSectionSize()
    # Issue 32: the panels fit their column (the sparsity slider's value was cut at the
    # edge), and a long layer name does not push Prune / Cluster / QAT out of view.
    scroll = window.setup_tabs.widget(1)
    assert window.editor.minimumSizeHint().width() <= scroll.viewport().width()
    from fakes import figures, summary

    long = "block_16_expand_BN_long_layer_name_relu6_activation"
    window.model_panel.show_summary(summary(layers=("conv1", long, "dense")), figures())
    qtbot.wait(20)
    assert table.columnViewportPosition(6) + 20 < table.viewport().width()
    assert table.item(1, 0).toolTip() == long


def test_quitting_while_a_job_runs_asks_first(qtbot, window):
    """Ctrl+Q during a fine-tune closed at once (issue 32): now it asks, naming what runs
    by candidates, and "keep working" keeps the window and the job."""
    window.stand_ins.gate = threading.Semaphore(0)  # the group holds after each candidate
    window.run_sweep(Grid.from_dict({"quantization.mode": ["dynamic", "int8", "float16"]}))
    asked = []
    window.ask_quit = lambda: asked.append(window.workbench.pending()) or False
    window.close()
    assert asked and asked[0].startswith("3 candidate(s)") and window.isVisible()
    assert window.workbench.busy()
    window.stand_ins.gate.release(100)
    qtbot.waitUntil(lambda: not window.workbench.busy(), timeout=WAIT)
    asked.clear()
    window.ask_quit = lambda: asked.append(1) or True
    window.close()
    assert not asked  # nothing runs: no question


def test_a_failed_candidate_runs_again_in_its_row(qtbot, window):
    window.stand_ins.fail_names = {"c001"}
    window.editor.set_recipe(Recipe(quantization=Quantization(mode="int8")))
    window.editor.request_run()
    qtbot.waitUntil(lambda: window.workbench.candidate(1).status == "failed", timeout=WAIT)
    menu = window._candidate_menu(1, window.table.mapToGlobal(window.table.rect().center()))
    again = next(a for a in menu.actions() if a.text() == "Run again")
    assert again.isEnabled()
    menu.close()
    window.stand_ins.fail_names = set()
    again.trigger()
    qtbot.waitUntil(lambda: window.workbench.candidate(1).status == "done", timeout=WAIT)
    assert list(window.workbench.session.candidates) == [1]  # the same row, not a new one
    assert window.workbench.session.measured(1) is not None
    with pytest.raises(StudioError, match="nothing to run again"):
        window.workbench.rerun(1)


def test_the_sweep_dialog_remembers_its_quantization_ticks(qtbot, window):
    from studio.ui.views.sweep_dialog import SweepDialog

    first = SweepDialog(Recipe(), [], 2, window, window.settings.sweep_modes())
    assert first.ticked() == ["dynamic", "float16", "int8"]  # the table's defaults
    first.modes["float16"].setChecked(False)
    first.modes["int16x8"].setChecked(True)
    window.settings.remember_sweep_modes(first.ticked())
    again = SweepDialog(Recipe(), [], 2, window, window.settings.sweep_modes())
    assert again.ticked() == ["dynamic", "int8", "int16x8"]


def test_a_new_recommendation_is_scrolled_into_view(qtbot, window):
    """Issue 32: at 1366x768 the table shows about 8 rows; the recommended candidate had
    to be scrolled to."""
    window.candidates_dock.setFixedHeight(200)  # a few rows in sight
    grid = Grid.from_dict(
        {
            "pruning.target_sparsity": [0.3, 0.5, 0.7, 0.9],
            "quantization.mode": ["dynamic", "int8", "float16"],
        }
    )
    ids = window.run_sweep(grid)
    qtbot.waitUntil(
        lambda: all(window.workbench.candidate(i).status == "done" for i in ids), timeout=WAIT
    )
    table = window.table
    table.scrollToBottom()  # the user looked at the newest rows
    window.budget.setValue(20.0)  # every one within it now: an early row is named
    chosen = window.recommended["smallest"]
    assert table.results.row_of(chosen) < 3  # a row scrolled out of sight
    row = table.proxy.mapFromSource(table.results.index(table.results.row_of(chosen), 0))
    qtbot.waitUntil(
        lambda: table.viewport().rect().intersects(table.visualRect(row)), timeout=WAIT
    )


def test_a_deleted_candidate_is_never_left_recommended(qtbot, window):
    """Issue 33: after c004's folder was removed, the status bar still recommended it."""
    import shutil

    cid = window.workbench.run(Recipe(quantization=Quantization(mode="int8")))
    qtbot.waitUntil(lambda: "smallest c001" in window.recommend_label.text(), timeout=WAIT)
    shutil.rmtree(window.workbench.session.candidate_dir(cid))
    window.workbench.check_files()  # as coming back to the window does
    assert window.workbench.candidate(cid).status == "missing"
    assert "c001" not in window.recommend_label.text()
    assert cid not in window.table.results.recommended


def test_a_sweep_run_on_a_cluster_goes_there_and_the_choice_is_remembered(
    qtbot, window, monkeypatch
):
    """The dialog's "Run on" row: a Ray cluster (here an in-process stand-in sharing the
    local queue, as `connect_cluster` makes the Ray backend) gets the candidates, the
    connection is made off the GUI thread and reused, and the choice is remembered."""
    from studio.jobs.inprocess import InProcessBackend
    from studio.ui.views.sweep_dialog import SweepDialog
    from studio.values.cluster import Cluster

    orchestrator = window.workbench.orchestrator
    connects, threads = [], []

    def connect(cluster):
        threads.append(threading.current_thread() is threading.main_thread())
        connects.append(cluster)
        remote = InProcessBackend(
            StandIns().handlers(), events=orchestrator.backend.event_queue, first_id=10**6
        )
        remote.cluster, remote.info, remote.lost = cluster, None, None
        return remote

    monkeypatch.setattr(orchestrator, "connect_cluster", connect)
    dialog = SweepDialog(Recipe(), [], 2, window, run_on=("ray", "10.0.0.5:6379"))
    assert dialog.run_on.place() == "ray" and dialog.run_on.address.isEnabled()
    grid = Grid.from_dict({"quantization.mode": ["dynamic", "int8"]})
    ran = []
    window.run_on(dialog.run_on, lambda: ran.append(window.run_sweep(grid)), "Cannot run")
    qtbot.waitUntil(lambda: bool(ran), timeout=WAIT)
    ids = ran[0]
    qtbot.waitUntil(
        lambda: all(window.workbench.candidate(i).status == "done" for i in ids), timeout=WAIT
    )
    assert connects == [Cluster(address="10.0.0.5:6379")] and threads == [False]
    remote = orchestrator.remote
    assert {job.target for _, job in remote.submitted} == {kinds.SWEEP_GROUP}
    assert window.settings.run_on() == ("ray", "10.0.0.5:6379")
    # The next sweep on the same cluster reuses the connection.
    window.run_on(dialog.run_on, lambda: ran.append(window.run_sweep(grid)), "Cannot run")
    qtbot.waitUntil(lambda: len(ran) == 2, timeout=WAIT)
    assert len(connects) == 1
    # Back on this machine: remembered, and the candidates run here.
    again = SweepDialog(Recipe(), [], 2, window, run_on=window.settings.run_on())
    again.run_on.where.setCurrentIndex(again.run_on.where.findData("local"))
    assert not again.run_on.address.isEnabled()
    window.run_on(again.run_on, lambda: ran.append(window.run_sweep(grid)), "Cannot run")
    assert window.settings.run_on()[0] == "local" and orchestrator.candidates_backend is not remote


def test_a_bad_address_or_an_unreachable_cluster_is_an_error_and_nothing_runs(
    qtbot, window, monkeypatch
):
    from studio.ui.views.autotune_dialog import AutotuneDialog
    from studio.values.autotune import Settings

    dialog = AutotuneDialog(Settings(), threads=1, unit="pt", parent=window, run_on=("ray", "x"))
    ran = []
    window.run_on(dialog.run_on, lambda: ran.append(1), "Cannot start the search")
    assert not ran and "Ray address 'x'" in window.error_box.text()
    # "Test connection" reports in the row, from a background probe.
    dialog.run_on.address.setText("x")
    dialog.run_on.test.click()
    assert "HOST:PORT" in dialog.run_on.status.text() and dialog.run_on.test.isEnabled()

    def refuse(cluster):
        raise StudioError(f"cannot connect to a Ray cluster at {cluster.address}: refused")

    monkeypatch.setattr(window.workbench.orchestrator, "connect_cluster", refuse)
    dialog.run_on.address.setText("10.9.9.9:6379")
    window.run_on(dialog.run_on, lambda: ran.append(1), "Cannot start the search")
    qtbot.waitUntil(lambda: "refused" in window.error_box.text(), timeout=WAIT)
    assert not ran and window.workbench.orchestrator.remote is None
