"""The model and data panel: what was loaded, and which techniques fit which layer.

It only shows the summary the baseline job returns (plain data); while that job runs it
says so, and a problem with the model or data is shown here in place, in the engine's
own words.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.ui.style import set_role
from studio.values import units
from studio.values.metrics import Metrics, ModelSummary
from studio.values.resources import DEMO, is_demo_model

YES, NO = "✓", "–"
COLUMNS = ["Layer", "Kind", "Output shape", "Params", "Prune", "Cluster", "QAT"]
GIVE_WAY = (0, 1, 2)  # columns cut short so the technique columns stay in view
NARROWEST = 64
TECHNIQUE_COLUMNS = {4: "pruning", 5: "clustering", 6: "qat"}
TECHNIQUE_TITLES = {"pruning": "Pruning", "clustering": "Clustering", "qat": "QAT"}


def shown_source(source: str) -> str:
    return "bundled demo (handwritten digits)" if source == DEMO else Path(source).name


class LayerTable(QTableWidget):
    """The model's layers.  Columns are fitted to their contents once per model; then the
    name, shape and kind columns give way to the width there is (cut short, whole in
    their tooltips), so Prune, Cluster and QAT stay in view: a long layer name pushed
    them out at 1366x768."""

    def __init__(self, rows: int, columns: int) -> None:
        super().__init__(rows, columns)
        self._natural: list[int] = []

    def fit_columns(self) -> None:
        self.resizeColumnsToContents()
        self._natural = [self.columnWidth(c) for c in range(self.columnCount())]
        self._give_way()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._give_way()

    def _give_way(self) -> None:
        if not self._natural:
            return
        widths = list(self._natural)
        # The widest of the giving columns are cut first, down to one common width.
        room = self.viewport().width() - sum(w for c, w in enumerate(widths) if c not in GIVE_WAY)
        cap = max(widths[c] for c in GIVE_WAY)
        while cap > NARROWEST and sum(min(widths[c], cap) for c in GIVE_WAY) > room:
            cap -= 4
        for column in GIVE_WAY:
            widths[column] = min(widths[column], max(cap, NARROWEST))
        for column, width in enumerate(widths):
            self.setColumnWidth(column, width)


class ModelPanel(QWidget):
    open_model_requested = Signal()
    data_chosen = Signal(str)
    output_chosen = Signal(str)  # a model with several outputs: which one to judge by

    def __init__(self) -> None:
        super().__init__()
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.open_button = QPushButton("Open model…")
        self.open_button.setToolTip("Open a .keras, .h5 file or a SavedModel folder (Ctrl+O)")
        self.open_button.clicked.connect(self.open_model_requested)
        self.data_kind = QComboBox()
        self.data_kind.addItem("Bundled demo digits", "demo")
        self.data_kind.addItem("A .npz file…", "npz")
        self.data_kind.addItem("An image folder…", "folder")
        self.data_kind.setToolTip(
            "The data used to calibrate, fine-tune and measure. A .npz holds arrays x and y "
            "(or x_train/y_train/x_test/y_test); an image folder has one sub-folder per class."
        )
        self.data_kind.activated.connect(self._choose_data)
        # The data's name, then (once loaded) its counts: one label, since two wrapping
        # labels in a form row left a blank line between them.
        self.data_label = QLabel()
        self.data_label.setWordWrap(True)
        self.data_source = ""
        self.output_choice = QComboBox()
        self.output_choice.setToolTip(
            "The model has several outputs; every one is measured. The plots, the accuracy "
            "budget and the recommendation judge candidates by the output chosen here."
        )
        self.output_choice.activated.connect(
            lambda _: self.output_chosen.emit(self.output_choice.currentData())
        )
        self.output_label = QLabel("Judge by")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.demo_data_warning = QLabel(
            "⚠ Your model is measured on the bundled demo digits, not on its own data: its "
            "accuracy figures mean nothing until you choose its data above."
        )
        self.demo_data_warning.setWordWrap(True)
        set_role(self.demo_data_warning, "error")
        self.demo_data_warning.hide()
        self.search = QLineEdit()
        self.search.setPlaceholderText(
            "Find layers: name, kind or technique (e.g. conv, Dense, no prune)"
        )
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip(
            "Shows only the layers whose name or kind contains every word typed; "
            "'prune', 'cluster', 'qat' (or 'no prune' …) filter by what applies"
        )
        self.search.textChanged.connect(self._filter)
        self.found = QLabel()
        set_role(self.found, "status")
        self.layers = LayerTable(0, len(COLUMNS))
        self.layers.setHorizontalHeaderLabels(COLUMNS)
        self.layers.horizontalHeaderItem(2).setToolTip(
            "What the layer gives the next one, without the batch axis (? = any size)"
        )
        for column, technique in TECHNIQUE_COLUMNS.items():
            self.layers.horizontalHeaderItem(column).setToolTip(
                f"Whether {TECHNIQUE_TITLES[technique]} applies to this layer (hover a cell for why not); "
                f"layers it does not apply to stay as they are"
            )
        self.layers.verticalHeader().hide()
        self.layers.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        # Widths are fitted once per model, not kept fitted: ResizeToContents re-measures
        # every cell on each change, a 100 ms freeze for a 150-layer MobileNet.
        header = self.layers.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setResizeContentsPrecision(64)  # fitted to 64 rows + the visible ones
        header.setStretchLastSection(True)

        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.model_label, 1)
        row.addWidget(self.open_button)
        form.addRow("Model", row)
        form.addRow("Data", self.data_kind)
        form.addRow(self.output_label, self.output_choice)
        # setRowVisible, not hide(): a hidden row's spacing stays and pushed the layer
        # table down (it showed five rows at 1366x768).
        self.form = form
        form.setRowVisible(self.output_choice, False)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        # Outside the form: QFormLayout sizes a wrapping label by its narrowest width's
        # height (84 px for 42 px of text), which cost the layer table two rows.
        layout.addWidget(self.data_label)
        layout.addWidget(self.demo_data_warning)
        layout.addWidget(self.status)
        find = QHBoxLayout()
        find.addWidget(self.search, 1)
        find.addWidget(self.found)
        layout.addLayout(find)
        layout.addWidget(self.layers, 1)

    def start_dir(self) -> str:
        """Data usually sits beside its model: the data dialogs open there."""
        model = self.model_label.toolTip()
        return str(Path(model).parent) if model and model != DEMO else ""

    def show_setup(self, model: str, data: str) -> None:
        self.model_label.setText(f"<b>{shown_source(model)}</b>")
        self.model_label.setToolTip(model)
        index = 0 if data == DEMO else 2 if Path(data).is_dir() else 1
        # The box names the file in use (it read "A .npz file…" whatever was chosen).
        self.data_kind.setItemText(1, "A .npz file…")
        self.data_kind.setItemText(2, "An image folder…")
        if index:
            other = "another .npz file" if index == 1 else "another folder"
            self.data_kind.setItemText(index, f"{Path(data).name}  (click for {other}…)")
        self.data_kind.setCurrentIndex(index)
        self.data_label.setText(shown_source(data))
        self.data_label.setToolTip(data)
        self.data_source = data
        set_role(self.data_label, "status")
        self.demo_data_warning.setVisible(not is_demo_model(model) and data == DEMO)
        self.layers.setRowCount(0)
        self.found.clear()
        self.show_status("Loading the model and measuring the float baseline…")

    def show_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        set_role(self.status, "error" if error else "status")

    def show_summary(self, summary: ModelSummary, baseline: Metrics) -> None:
        ins = ", ".join(f"{s.name} {s.shape} {s.dtype}" for s in summary.inputs)
        outs = ", ".join(f"{s.name} {s.shape}" for s in summary.outputs)
        several = len(summary.inputs) > 1 or len(summary.outputs) > 1
        text = (
            f"{summary.name}: {summary.params:,} parameters, "
            + (
                f"inputs {ins}; outputs {outs}.\n"
                if several
                else f"input {summary.input.shape} {summary.input.dtype}, output {summary.output.shape}.\n"
            )
            + f"Float baseline: {units.size(baseline.size_bytes)} "
            f"({units.size(baseline.gzip_bytes)} gzipped), {units.score(baseline)}, "
            f"{units.latency(baseline)}."
        )
        for o in baseline.outputs:
            judged = " (judged by)" if o.name == baseline.output else ""
            text += f"\n  output {o.name}: {units.score(baseline.for_output(o.name))}{judged}"
        self._show_outputs(baseline)
        if summary.origin:
            text += f"\n{summary.origin}."
        if summary.limitation:
            text += f"\nOnly post-training quantization applies: {summary.limitation}"
        self.show_status(text, error=bool(summary.limitation))
        layers = summary.layers
        self.layers.setUpdatesEnabled(False)
        self.layers.setSortingEnabled(False)
        self.layers.setRowCount(len(layers))
        for r, layer in enumerate(layers):
            cells = [
                layer.name,
                layer.class_name,
                layer.shape_text(),
                f"{layer.params:,}",
                YES if layer.prunable else NO,
                YES if layer.clusterable else NO,
                YES if layer.quantizable else NO,
            ]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                why_not = layer.why_not.get(TECHNIQUE_COLUMNS.get(c, ""), "")
                if why_not:
                    item.setToolTip(f"{TECHNIQUE_TITLES[TECHNIQUE_COLUMNS[c]]}: no, {why_not}")
                elif c < 3:
                    item.setToolTip(text)  # in full, when its column cuts it short
                self.layers.setItem(r, c, item)
        self.layers.fit_columns()
        self.layers.setUpdatesEnabled(True)
        self._filter(self.search.text())
        self._show_data(summary)

    def _show_data(self, summary: ModelSummary) -> None:
        """Counts per split and class: what a top-1 figure is measured on."""
        data, source = summary.data, self.data_source
        if data is None:
            return
        warnings = data.warnings()
        name = f"{shown_source(source)}: " if source else ""
        self.data_label.setText(
            f"{name}{data.split_text()}.\n{data.labels_text()}."
            + "".join(f"\n⚠ {w}." for w in warnings)
        )
        self.data_label.setToolTip(f"{source}\n{data.per_class_text()}".strip())
        set_role(self.data_label, "warning" if warnings else "status")

    def _filter(self, text: str) -> None:
        """Hide the layers that do not match every word of `text` (see the tooltip)."""
        words = text.lower().split()
        shown = 0
        for r in range(self.layers.rowCount()):
            cells = [self.layers.item(r, c).text().lower() for c in (0, 1, 2)]
            applies = {
                key: self.layers.item(r, c).text() == YES
                for c, key in zip(TECHNIQUE_COLUMNS, ("prune", "cluster", "qat"), strict=True)
            }
            match, negate = True, False
            for word in words:
                if word == "no":
                    negate = True
                    continue
                if word in applies:
                    hit = applies[word] != negate
                else:
                    hit = any(word in cell for cell in cells) != negate
                match, negate = match and hit, False
            self.layers.setRowHidden(r, not match)
            shown += match
        total = self.layers.rowCount()
        self.found.setText(f"{shown} of {total} layers" if words else f"{total} layers")

    def _show_outputs(self, baseline: Metrics) -> None:
        """The output choice, shown only for a model with several outputs."""
        self.output_choice.clear()
        for o in baseline.outputs:
            self.output_choice.addItem(f"{o.name}: {units.score_title(o.metric)}", o.name)
            if o.name == baseline.output:
                self.output_choice.setCurrentIndex(self.output_choice.count() - 1)
        several = bool(baseline.outputs)
        self.form.setRowVisible(self.output_choice, several)

    def _choose_data(self) -> None:
        kind = self.data_kind.currentData()
        if kind == "demo":
            self.data_chosen.emit(DEMO)
            return
        start = self.start_dir()
        if kind == "npz":
            path, _ = QFileDialog.getOpenFileName(self, "Choose data", start, "NumPy data (*.npz)")
        else:
            path = QFileDialog.getExistingDirectory(self, "Choose an image folder", start)
        if path:
            self.data_chosen.emit(path)
