"""The technique panels: they build exactly the recipe the user set, layer choices too."""

import dataclasses

from PySide6.QtCore import Qt

from fakes import summary
from studio.ui.views.panels import RecipeEditor
from studio.values.metrics import LayerInfo
from studio.values.recipe import Clustering, OpRule, Pruning, Quantization, Recipe
from studio.values.sensitivity import LayerSensitivity

SUMMARY = dataclasses.replace(
    summary(),
    layers=tuple(
        LayerInfo(n, "Conv2D", 10, p, p, True)
        for n, p in [("conv1", True), ("pool", False), ("conv2", True), ("dense", True)]
    ),
)


def test_unticking_a_layer_restricts_the_technique_to_the_others(qtbot):
    editor = RecipeEditor()
    qtbot.addWidget(editor)
    editor.set_layers(SUMMARY)
    editor.pruning.setChecked(True)
    picker = editor.pruning.layers
    assert [picker.item(i).text() for i in range(picker.count())] == ["conv1", "conv2", "dense"]
    assert editor.recipe().pruning.layers is None  # all ticked: every supported layer
    picker.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert editor.recipe().pruning.layers == ("conv2", "dense")

    q = editor.quantization
    q.float_layers.item(3).setCheckState(Qt.CheckState.Checked)  # keep "dense" in float
    assert editor.recipe().quantization.float_layers == ("dense",)


def test_a_recipe_loaded_before_the_model_keeps_its_layer_choice(qtbot):
    editor = RecipeEditor()
    qtbot.addWidget(editor)
    recipe = Recipe(
        pruning=Pruning(layers=("conv2",)),
        clustering=Clustering(clusters=8),
        quantization=Quantization(mode="int8", float_layers=("conv1",)),
    )
    editor.set_recipe(recipe)
    assert editor.recipe() == recipe
    editor.set_layers(SUMMARY)  # the summary arrives later
    assert editor.recipe() == recipe
    assert editor.pruning.layers.checked() == ("conv2",)
    assert editor.clustering.layers.chosen() is None


def test_the_run_button_names_the_recipe_and_shortcuts_queue_it(qtbot):
    editor = RecipeEditor()
    qtbot.addWidget(editor)
    editor.set_recipe(
        Recipe(pruning=Pruning(target_sparsity=0.8), quantization=Quantization(mode="int8"))
    )
    assert editor.run_button.text() == "Run: prune 80% + int8"
    with qtbot.waitSignal(editor.run_requested) as run:
        qtbot.mouseClick(editor.run_button, Qt.MouseButton.LeftButton)
    assert run.args[0].pruning.target_sparsity == 0.8


def test_a_model_limited_to_ptq_explains_why_before_anything_runs(qtbot):
    editor = RecipeEditor()
    qtbot.addWidget(editor)
    editor.set_recipe(Recipe(pruning=Pruning(), quantization=Quantization(mode="int8")))
    editor.set_layers(
        dataclasses.replace(
            SUMMARY, limitation="layer 'rms' (RMSNormalization) has no tf_keras equivalent"
        )
    )
    assert not editor.run_button.isEnabled()
    assert "post-training quantization only" in editor.problem.text()
    assert "'rms' (RMSNormalization)" in editor.problem.text()
    editor.pruning.setChecked(False)
    assert editor.run_button.isEnabled()


def test_a_fine_tune_far_shorter_than_auto_is_said_before_running(qtbot):
    from studio.values.data_summary import DataSummary

    editor = RecipeEditor()
    qtbot.addWidget(editor)
    data = DataSummary("d.npz", train=400, eval=100, presplit=False, labeled=True)
    editor.set_layers(dataclasses.replace(SUMMARY, data=data))
    short = Pruning(target_sparsity=0.5, epochs=3)
    editor.set_recipe(Recipe(pruning=short, quantization=Quantization(mode="int8")))
    assert editor.run_button.isEnabled()  # a warning, not a refusal
    assert editor.problem.isVisibleTo(editor) and "39 steps" in editor.problem.text()
    editor.set_recipe(Recipe(pruning=Pruning(target_sparsity=0.5), quantization=Quantization()))
    assert not editor.problem.isVisibleTo(editor)  # "auto"


def test_the_results_table_marks_warnings_and_broken_files(qtbot):
    from fakes import figures
    from studio.ui.views.results_table import ResultsTable
    from studio.values.metrics import Flag
    from studio.values.session import Candidate

    table = ResultsTable()
    qtbot.addWidget(table)
    warned = figures(flags=(Flag("chance", "top-1 is 10.0 %: the model collapsed"),))
    table.results.set_data(
        [
            Candidate(1, Recipe(), "done", figures()),
            Candidate(2, Recipe(), "done", warned),
            Candidate(3, Recipe(), "broken", figures(), "60% of the weights are float32"),
        ],
        figures(),
    )
    model = table.results

    def cell(row, role=Qt.ItemDataRole.DisplayRole):
        return model.data(model.index(row, 2), role)

    assert [cell(r) for r in range(3)] == ["done", "done ⚠", "broken"]
    assert "collapsed" in cell(1, Qt.ItemDataRole.ToolTipRole)
    assert "float32" in cell(2, Qt.ItemDataRole.ToolTipRole)
    assert cell(2, Qt.ItemDataRole.ForegroundRole) is not None


def test_sparse_storage_is_a_pruning_toggle_with_a_tooltip_that_round_trips(qtbot):
    editor = RecipeEditor()
    qtbot.addWidget(editor)
    editor.set_recipe(Recipe(pruning=Pruning(target_sparsity=0.8, sparse_format=True)))
    assert editor.pruning.sparse_format.isChecked()
    assert editor.recipe().pruning.sparse_format is True
    assert "built-in kernels" in editor.pruning.sparse_format.toolTip()
    editor.pruning.sparse_format.setChecked(False)
    assert editor.recipe().pruning.sparse_format is False


def test_pruning_epochs_show_auto_and_a_number_round_trips(qtbot):
    editor = RecipeEditor()
    qtbot.addWidget(editor)
    editor.set_recipe(Recipe(pruning=Pruning()))
    assert editor.pruning.epochs.text() == "auto"
    assert editor.recipe().pruning.epochs is None
    editor.set_recipe(Recipe(pruning=Pruning(epochs=4)))
    assert editor.pruning.epochs.text() == "4"
    assert editor.recipe().pruning.epochs == 4


def test_sensitivity_leaves_fragile_layers_out_of_a_default_choice_and_says_why(qtbot):
    editor = RecipeEditor()
    qtbot.addWidget(editor)
    editor.set_recipe(Recipe(pruning=Pruning(), clustering=Clustering()))
    editor.set_layers(summary(layers=("conv", "dense")))

    def r(layer, technique, value):
        return LayerSensitivity(layer, technique, 0.5, value, 0.95, "top1")

    said = editor.show_sensitivity(
        [r("conv", "prune", 0.40), r("dense", "prune", 0.94), r("conv", "cluster", 0.93)]
    )
    assert editor.recipe().pruning.layers == ("dense",)  # conv alone: −55 points
    assert editor.recipe().clustering.layers is None  # −2 points is not breaking
    assert "pruning leaves out conv" in said
    conv = editor.pruning.layers.item(0)
    assert conv.text() == "conv   −55.0 pt  ⚠" and "breaks the model" in conv.toolTip()
    assert editor.pruning.layers.item(1).text() == "dense   −1.0 pt"

    # A choice the user made (not every layer) is never changed, only annotated.
    editor.set_recipe(Recipe(pruning=Pruning(layers=("conv",))))
    editor.show_sensitivity([r("conv", "prune", 0.40)])
    assert editor.recipe().pruning.layers == ("conv",)

    # When every layer is fragile, none is left out (there would be nothing to prune).
    editor.set_recipe(Recipe(pruning=Pruning()))
    editor.show_sensitivity([r("conv", "prune", 0.1), r("dense", "prune", 0.1)])
    assert editor.recipe().pruning.layers is None


def test_the_model_view_shows_output_shapes_finds_layers_and_describes_the_data(qtbot):
    from fakes import figures
    from studio.ui.views.model_panel import ModelPanel
    from studio.values.data_summary import ClassCount, DataSummary

    layers = (
        LayerInfo("conv1", "Conv2D", 320, True, True, True, output_shapes=((8, 8, 32),)),
        LayerInfo("bn", "BatchNormalization", 128, False, False, False, {"pruning": "no"}),
        LayerInfo("pool", "MaxPooling2D", 0, False, False, True, output_shapes=((4, 4, 32),)),
        LayerInfo("head", "Dense", 650, True, True, True, output_shapes=((10,),)),
    )
    data = DataSummary(
        "x.npz", 80, 20, False, True, classes=(ClassCount("cat", 72, 18), ClassCount("dog", 8, 2))
    )
    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel.show_summary(
        dataclasses.replace(SUMMARY, layers=layers, data=data),
        figures(),
    )
    headers = [
        panel.layers.horizontalHeaderItem(c).text() for c in range(panel.layers.columnCount())
    ]
    assert headers[:4] == ["Layer", "Kind", "Output shape", "Params"]
    assert panel.layers.item(0, 2).text() == "8×8×32"

    def shown():
        rows = range(panel.layers.rowCount())
        return [panel.layers.item(r, 0).text() for r in rows if not panel.layers.isRowHidden(r)]

    panel.search.setText("conv")
    assert shown() == ["conv1"] and panel.found.text() == "1 of 4 layers"
    panel.search.setText("prune")
    assert shown() == ["conv1", "head"]
    panel.search.setText("no prune")
    assert shown() == ["bn", "pool"]
    panel.search.setText("no prune pooling")
    assert shown() == ["pool"]
    panel.search.clear()
    assert len(shown()) == 4 and panel.found.text() == "4 layers"

    facts = panel.data_label.text()
    assert "100 samples: 80 to fine-tune and calibrate, 20 to measure" in facts
    assert "2 classes, imbalanced" in facts and "⚠ only 20 samples to measure on" in facts
    assert "cat: 72 fine-tune, 18 measure (90.0 %)" in panel.data_label.toolTip()


def test_preferences_say_how_many_threads_each_worker_gets(qtbot, monkeypatch):
    """Issue 19: the thread budget follows the worker count as the user changes it."""
    from studio.ui.views.preferences import PreferencesDialog
    from studio.values import processes

    monkeypatch.setattr(processes, "cores", lambda: 4)
    dialog = PreferencesDialog(workers=2, threads=1, idle_minutes=10, default_workers=2)
    qtbot.addWidget(dialog)
    assert dialog.worker_threads.text().startswith("2 (its share of 4 cores")
    dialog.workers.setValue(1)
    assert dialog.worker_threads.text().startswith("4 (its share of 4 cores")
    dialog.workers.setValue(8)
    assert dialog.worker_threads.text().startswith("1 (at least one of 4 cores")


def test_a_job_row_removed_before_it_is_revealed_is_not_touched(qtbot):
    """The newest row is scrolled into view on the next event-loop turn; if its job ended
    first, its widget may be deleted by then (caught by the full suite)."""
    from studio.ui.views.job_list import JobList

    jobs = JobList()
    qtbot.addWidget(jobs)
    jobs.add(1, "int8")
    jobs.remove(1)
    qtbot.wait(50)  # the deferred delete and the reveal both run: no error
    jobs.add(2, "dynamic")
    qtbot.wait(50)
    assert list(jobs.rows) == [2]


def test_results_table_columns_fit_their_widest_figures_without_remeasuring(qtbot):
    """Widths come from each column's widest text once; an arriving result neither
    re-measures every cell (it did, ~1,000 `data` calls a result) nor clips a figure."""
    from fakes import figures
    from studio.ui.views.results_table import COLUMNS, ResultsTable
    from studio.values.session import Candidate

    table = ResultsTable()
    qtbot.addWidget(table)
    table.resize(1200, 300)
    table.show()
    widths = [table.columnWidth(c) for c in range(len(COLUMNS))]
    big = figures(int(999.4 * 1024), 1.0, 999.0, size=int(999.9 * 1024))
    rows = [Candidate(i, Recipe(), "done", big) for i in range(1, 13)]
    table.results.set_data(rows[:1], figures(accuracy=0.0))
    calls = []
    real = table.results.data
    table.results.data = lambda *a: calls.append(a) or real(*a)
    table.hide()  # no paints: what is asked now is measuring
    for row in rows:
        table.results.upsert(row)
        qtbot.wait(1)  # each result arrives in its own event-loop turn
    table.results.data = real
    table.show()
    assert [table.columnWidth(c) for c in range(len(COLUMNS)) if c != 1] == [
        w for c, w in enumerate(widths) if c != 1
    ]
    metrics = table.fontMetrics()
    model = table.results
    for column in range(len(COLUMNS)):
        if column == 1:  # the recipe column stretches; long labels elide
            continue
        text = model.data(model.index(0, column))
        assert metrics.horizontalAdvance(text) < table.columnWidth(column), (column, text)
    shown = [index for index, role in calls if role == Qt.ItemDataRole.DisplayRole]
    assert not shown  # no re-measuring of every cell


def test_a_progress_bar_value_is_painted_by_the_next_paint_pass_not_at_once(qtbot):
    """QProgressBar repaints synchronously on a visible change; ours leaves it to the
    window's paint pass, which then does show the new value."""
    from PySide6.QtCore import QEvent, QObject

    from studio.ui.progress_bar import ProgressBar

    class Paints(QObject):
        count = 0

        def eventFilter(self, _obj, event):  # noqa: N802
            if event.type() == QEvent.Type.Paint:
                Paints.count += 1
            return False

    bar = ProgressBar()
    qtbot.addWidget(bar)
    bar.setRange(0, 1000)
    bar.show()
    qtbot.waitExposed(bar)
    qtbot.wait(20)
    paints = Paints()
    bar.installEventFilter(paints)
    before = Paints.count
    bar.setValue(500)
    assert Paints.count == before and bar.value() == 500
    qtbot.waitUntil(lambda: Paints.count > before, timeout=1000)
    bar.setValue(500)  # unchanged: nothing to paint


def test_an_int4_recipe_with_rules_round_trips_through_the_panel(qtbot):
    editor = RecipeEditor()
    qtbot.addWidget(editor)
    recipe = Recipe(
        quantization=Quantization(
            mode="int4",
            block_size=64,
            op_rules=(OpRule("^digit$", "float"), OpRule("conv", "int8")),
        )
    )
    editor.set_recipe(recipe)
    assert editor.recipe() == recipe
    q = editor.quantization
    assert q.block_size.isEnabled() and q.op_rules.isEnabled()
    q.op_rules.add_rule(OpRule("dense", "int4"))
    assert editor.recipe().quantization.op_rules[-1] == OpRule("dense", "int4")
    q.op_rules.table.setCurrentCell(0, 0)
    q.op_rules._remove()
    assert [r.pattern for r in editor.recipe().quantization.op_rules] == ["conv", "dense"]
    # Another mode takes neither: the controls are off and the recipe has none.
    q.mode.setCurrentIndex(q.mode.findData("dynamic"))
    assert not q.block_size.isEnabled() and not q.op_rules.isEnabled()
    assert editor.recipe().quantization == Quantization(mode="dynamic")


def test_without_the_extra_int4_is_shown_disabled_with_the_install_command(qtbot, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "litert_quantizer", None)  # as if not installed
    editor = RecipeEditor()
    qtbot.addWidget(editor)
    q = editor.quantization
    item = q.mode.model().item(q.mode.findData("int4"))
    assert not item.isEnabled()
    assert 'pip install "tflite-studio[int4]"' in item.toolTip()
    assert q.missing.isVisibleTo(q) and "tflite-studio[int4]" in q.missing.text()
