"""The sweep dialog: a grid over sparsity, clusters and quantization mode, previewed.

The grid starts from the panels' recipe (its epochs, schedules, …) and varies the three
fields users most often hesitate over.  Before anything runs it shows how many
candidates that makes, how many fine-tunes they share, and a rough time, from this
session's own measured stage times when there are any.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from studio.ui.run_on import RunOn
from studio.values import modes
from studio.values.grid import Grid, GridError
from studio.values.metrics import Metrics
from studio.values.recipe import Recipe
from studio.values.session import Candidate
from studio.values.sweep import plan, sharing

# Rough seconds when the session has nothing measured yet (the demo on 2 cores).
# Before anything was measured.  "auto_prune": a pruning fine-tune with "auto" epochs
# (about 300 steps).
DEFAULT_SECONDS = {
    "load": 3.0,
    "fine_tune_epoch": 2.0,
    "auto_prune": 20.0,
    "convert": 2.0,
    "evaluate": 3.0,
}


def parse_values(text: str, kind: type, field: str, scale: float = 1.0) -> list:
    """'50, 80' -> [50, 80] (times `scale`); 'off' (or 'none') switches the technique off."""
    values = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part.lower() in ("off", "none", "null"):
            values.append(None)
            continue
        try:
            value = kind(part)
        except ValueError as err:
            raise GridError(f"{field}: {part!r} is not a {kind.__name__} or 'off'") from err
        values.append(value * scale if scale != 1.0 else value)
    if not values:
        raise GridError(f"{field}: give at least one value")
    return values


def estimate_seconds(
    grid: Grid,
    history: Sequence[Candidate],
    workers: int,
    baseline: Metrics | None = None,
    skip: Sequence[Recipe] = (),
) -> float:
    """Shared fine-tunes once per group, then convert + evaluate per candidate, from this
    machine's measured stage times: the session's candidates, else its float baseline
    (load, convert, evaluate), else rough defaults.  Recipes in `skip` are not run.
    Groups run side by side on the workers, so the longest group is a floor."""
    measured: dict[str, list[float]] = {}
    if baseline is not None:
        for key in ("load", "convert", "evaluate"):
            if key in baseline.seconds:
                # A candidate converts with calibration and is checked against the float
                # model: about twice the float model's conversion and measurement.
                factor = 1.0 if key == "load" else 2.0
                measured.setdefault(key, []).append(factor * baseline.seconds[key])
    for c in history:
        seconds = c.metrics.seconds if c.metrics else {}
        pruning, clustering = c.recipe.pruning, c.recipe.clustering
        if pruning and pruning.epochs is None and "prune" in seconds:
            # "Auto" epochs depend on the data; a past auto run tells how long it takes.
            measured.setdefault("auto_prune", []).append(seconds["prune"])
        elif pruning and "prune" in seconds:
            measured.setdefault("fine_tune_epoch", []).append(seconds["prune"] / pruning.epochs)
        if clustering and clustering.epochs and "cluster" in seconds:
            per_epoch = seconds["cluster"] / clustering.epochs
            measured.setdefault("fine_tune_epoch", []).append(per_epoch)
        for key in ("load", "convert", "evaluate"):
            if key in seconds:
                measured.setdefault(key, []).append(seconds[key])
    per = {
        k: (sum(v[-5:]) / len(v[-5:]) if (v := measured.get(k)) else d)
        for k, d in DEFAULT_SECONDS.items()
    }
    skipped = {r.effective() for r in skip}
    times = []
    for group in plan(grid):
        entries = [r for _, r in group.entries if r.effective() not in skipped]
        if not entries:
            continue
        recipe = entries[0]
        pruning, clustering = recipe.pruning, recipe.clustering
        epochs = clustering.epochs if clustering else 0
        seconds = 0.0
        if pruning and pruning.epochs is None:
            seconds += per["auto_prune"]
        elif pruning:
            epochs += pruning.epochs
        seconds += per["load"] + epochs * per["fine_tune_epoch"]
        for r in entries:
            qat = r.quantization.epochs * per["fine_tune_epoch"] if r.quantization.qat else 0
            seconds += qat + per["convert"] + per["evaluate"]
        times.append(seconds)
    if not times:
        return 0.0
    return max(sum(times) / max(1, min(workers, len(times))), max(times))


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


class SweepDialog(QDialog):
    def __init__(
        self,
        base: Recipe,
        history: Sequence[Candidate],
        workers: int,
        parent: QWidget | None = None,
        ticked: Sequence[str] | None = None,
        baseline: Metrics | None = None,
        run_on: tuple[str, str] = ("local", "auto"),
    ) -> None:
        """`ticked`: the quantization modes to tick (the ones last used), else each
        mode's default; `run_on`: where candidates ran last (place, Ray address)."""
        super().__init__(parent)
        self.setWindowTitle("Sweep: try a grid of recipes")
        self.base, self.history, self.workers = base, list(history), workers
        self.baseline = baseline
        # Recipes measured already: the sweep reuses them rather than running them again.
        self.existing = {c.recipe.effective(): c.name for c in self.history}
        self.grid: Grid | None = None
        self.sparsity = QLineEdit("50, 80")
        self.sparsity.setToolTip(
            "Target sparsities in percent, separated by commas; 'off' for no pruning."
        )
        self.clusters = QLineEdit("off, 16")
        self.clusters.setToolTip("Numbers of clusters, separated by commas; 'off' for none.")
        self.modes = {}
        mode_row = QHBoxLayout()
        for mode in modes.offered():
            box = QCheckBox(mode.short)
            box.setToolTip(mode.tooltip)
            box.setChecked(mode.name in ticked if ticked is not None else mode.swept)
            if missing := modes.missing(mode.name):  # shown, off, saying how to install
                box.setChecked(False)
                box.setEnabled(False)
                box.setToolTip(missing)
            box.toggled.connect(self._update)
            self.modes[mode.name] = box
            mode_row.addWidget(box)
        self.preview = QLabel()
        self.preview.setWordWrap(True)
        self.preview.setMinimumWidth(420)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Run sweep")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        intro = QLabel(
            "Every combination runs as a candidate. Candidates that differ only in "
            "quantization share their pruning and clustering fine-tunes. Other settings "
            "(epochs, schedules, layers) come from the panels."
        )
        intro.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow(intro)
        form.addRow("Pruning sparsity (%)", self.sparsity)
        form.addRow("Clusters", self.clusters)
        form.addRow("Quantization", mode_row)
        self.run_on = RunOn(*run_on)
        form.addRow("Run on", self.run_on)
        form.addRow(self.preview)
        form.addRow(self.buttons)
        self.sparsity.textChanged.connect(self._update)
        self.clusters.textChanged.connect(self._update)
        self._update()

    def ticked(self) -> list[str]:
        """The quantization modes ticked."""
        return [m for m, box in self.modes.items() if box.isChecked()]

    def grid_data(self) -> dict:
        base = self.base.to_dict()
        base["quantization"] = {
            **base["quantization"],
            "qat": False,
            "float_layers": [],
            "io_type": "float32",
        }
        modes = self.ticked()
        if not modes:
            raise GridError("Quantization: tick at least one mode")
        return {
            "base": base,
            "pruning.target_sparsity": parse_values(
                self.sparsity.text(), float, "Pruning sparsity", scale=0.01
            ),
            "clustering.clusters": parse_values(self.clusters.text(), int, "Clusters"),
            "quantization.mode": modes,
        }

    def _update(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        try:
            self.grid = Grid.from_dict(self.grid_data(), source="sweep")
        except GridError as err:
            self.grid = None
            self.preview.setText(f'<span style="color:#b00020">{err}</span>')
            ok.setEnabled(False)
            return
        groups = plan(self.grid)
        recipes = [r for _, r in self.grid.expand()]
        reused = sorted(
            {self.existing[k] for r in recipes if (k := r.effective()) in self.existing}
        )
        new = sum(1 for r in recipes if r.effective() not in self.existing)
        tunes = sharing(groups)["fine_tunes"]
        if tunes["one_by_one"] == 0:
            shared = "no fine-tune"
        elif tunes["run"] < tunes["one_by_one"]:
            shared = f"{tunes['run']} fine-tune(s) instead of {tunes['one_by_one']} one by one"
        else:
            shared = f"{tunes['run']} fine-tune(s), none shared"
        skip = [r for r in recipes if r.effective() in self.existing]
        seconds = estimate_seconds(self.grid, self.history, self.workers, self.baseline, skip)
        again = (
            f" {len(reused)} already measured in this session ({', '.join(reused[:6])}"
            f"{', …' if len(reused) > 6 else ''}): reused, not run again."
            if reused
            else ""
        )
        self.preview.setText(
            f"<b>{new} new candidate(s)</b> of {self.grid.size}, in {len(groups)} group(s): "
            f"{shared}.{again} About {_duration(seconds)} with {self.workers} worker(s), "
            f"from {'this session' if self.history or self.baseline else 'rough'} stage times."
        )
        ok.setEnabled(new > 0)
