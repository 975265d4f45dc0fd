"""The three technique panels and the recipe editor that holds them.

Each panel is a checkable group box whose widgets map one-to-one onto a section of the
recipe (`studio.values.recipe`).  A panel builds its section through the recipe's own
constructor, so the window validates exactly like the CLI: an impossible combination
is explained with the recipe's message, never silently fixed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from studio.ui.style import set_role
from studio.ui.views.panels.clustering import ClusteringPanel
from studio.ui.views.panels.pruning import PruningPanel
from studio.ui.views.panels.quantization import QuantizationPanel
from studio.values.checks import short_fine_tune
from studio.values.errors import RecipeError
from studio.values.metrics import ModelSummary
from studio.values.recipe import Recipe
from studio.values.sensitivity import LayerSensitivity, fragile

# Recipe fields of every section that no panel shows: carried over from the recipe put
# into the panels (a loaded file, "Load into panels").
HIDDEN_FIELDS = ("batch_size",)


class RecipeEditor(QWidget):
    """The three panels, the problem (if any) with their combination, and Run."""

    run_requested = Signal(object)  # Recipe
    changed = Signal()  # a setting of a panel changed

    def __init__(self) -> None:
        super().__init__()
        self.quantization = QuantizationPanel()
        self.pruning = PruningPanel()
        self.clustering = ClusteringPanel()
        self._carried = Recipe()  # the recipe last set: the fields no panel shows
        self.limitation = ""  # why this model takes post-training quantization only
        self.blocked = ""  # why nothing can run now (the model did not load), or ""
        self.train_samples = 0  # the data's fine-tune samples, once known
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        set_role(self.problem, "error")
        self.run_button = QPushButton("Run candidate")
        self.run_button.setToolTip("Queue these settings as a new candidate (Ctrl+R)")
        self.run_button.clicked.connect(self.request_run)
        layout = QVBoxLayout(self)
        for panel in (self.pruning, self.clustering, self.quantization):
            layout.addWidget(panel)
            panel.changed.connect(self.validate)
            panel.changed.connect(self.changed)
        layout.addWidget(self.problem)
        layout.addWidget(self.run_button)
        layout.addStretch(1)
        self.quantization.setChecked(True)
        self.validate()

    def set_blocked(self, reason: str) -> None:
        """Disable Run with `reason` shown (e.g. the model failed to load); '' enables."""
        self.blocked = reason
        self.validate()

    def set_layers(self, summary: ModelSummary | None) -> None:
        self.limitation = summary.limitation if summary else ""
        self.train_samples = summary.data.train if summary and summary.data else 0
        self.pruning.set_layers(summary.names("prunable") if summary else [])
        self.clustering.set_layers(summary.names("clusterable") if summary else [])
        self.quantization.set_layers(summary.names("quantizable") if summary else [])
        self.validate()

    def show_sensitivity(self, results: Sequence[LayerSensitivity]) -> str:
        """Per-layer drops next to the layer names; the fragile layers are left out of
        a default choice.  A sentence for the log."""
        said = []
        for panel, technique, what in (
            (self.pruning, "prune", "pruning"),
            (self.clustering, "cluster", "clustering"),
        ):
            out = panel.layers.show_sensitivity(r for r in results if r.technique == technique)
            kept = [name for name in fragile(results, technique) if name not in out]
            if out:
                said.append(f"{what} leaves out {', '.join(out)}")
            if kept:
                said.append(f"{', '.join(kept)} kept for {what} (your choice, or nothing else)")
        self.validate()
        if not said:
            return "layer sensitivity: no layer breaks the model on its own"
        return (
            f"layer sensitivity: {'; '.join(said)}. Each of those layers, treated alone "
            "without fine-tune, breaks the model (see the drops in the layer lists)."
        )

    def recipe(self) -> Recipe:
        """The panels' recipe; RecipeError names the field when they do not combine.

        Fields no panel shows (batch sizes, the seed) keep the values of the recipe
        last put into the panels, so "Load into panels" and Run again give the recipe
        loaded, not one with those fields quietly reset."""
        carried = self._carried

        def kept(section, loaded):
            if section is None or loaded is None:
                return section
            return dataclasses.replace(section, **{f: getattr(loaded, f) for f in HIDDEN_FIELDS})

        return Recipe(
            pruning=kept(self.pruning.value(), carried.pruning),
            clustering=kept(self.clustering.value(), carried.clustering),
            quantization=kept(self.quantization.value(), carried.quantization),
            seed=carried.seed,
        )

    def set_recipe(self, recipe: Recipe) -> None:
        self._carried = recipe
        self.pruning.set_value(recipe.pruning)
        self.clustering.set_value(recipe.clustering)
        self.quantization.set_value(recipe.quantization)
        self.validate()

    def validate(self) -> Recipe | None:
        try:
            if self.blocked:
                raise RecipeError(self.blocked)
            recipe = self.recipe()
            needs_keras = recipe.pruning or recipe.clustering or recipe.quantization.qat
            if needs_keras and self.limitation:
                raise RecipeError(
                    f"this model takes post-training quantization only "
                    f"(switch off pruning, clustering and QAT): {self.limitation}"
                )
        except RecipeError as err:
            self.problem.setText(f"Cannot run: {err}")
            self.problem.show()
            self.run_button.setEnabled(False)
            return None
        # Runnable, but said before running: a fine-tune far shorter than "auto".
        short = short_fine_tune(recipe, self.train_samples)
        self.problem.setText(f"⚠ {short[0].upper()}{short[1:]}." if short else "")
        self.problem.setVisible(bool(short))
        self.run_button.setEnabled(True)
        self.run_button.setText(f"Run: {recipe.describe()}")
        return recipe

    def request_run(self) -> None:
        recipe = self.validate()
        if recipe is not None:
            self.run_requested.emit(recipe)
