"""The clustering panel: clusters, initialization, sparsity preservation, fine-tune."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtWidgets import (
    QCheckBox,
)

from studio.ui.views.panels.widgets import (
    INITS,
    LayerPicker,
    TechniquePanel,
    combo,
    rate,
    select_value,
    spin,
)
from studio.values.recipe import Clustering


class ClusteringPanel(TechniquePanel):
    def __init__(self) -> None:
        super().__init__(
            "Clustering",
            "Let each layer use only a few distinct weight values. Like pruning, it pays "
            "off once the file is compressed.",
        )
        self.clusters = self.add_row(
            "Clusters",
            spin(
                2,
                256,
                16,
                "How many distinct values each layer may keep. 16 or 32 usually keeps "
                "accuracy; fewer is smaller but riskier.",
            ),
        )
        self.init = self.add_row(
            "Centroid start",
            combo(
                INITS,
                "How the initial values are placed. k-means++ is a good default; linear "
                "spreads them evenly; density follows where weights are dense.",
            ),
        )
        self.per_channel = self.add_row("Per channel", QCheckBox("cluster each channel apart"))
        self.per_channel.setToolTip(
            "For convolutions: each output channel gets its own values. More accurate, "
            "slightly larger. Cannot be combined with QAT."
        )
        self.preserve = self.add_row("Keep pruned zeros", QCheckBox("preserve sparsity"))
        self.preserve.setChecked(True)
        self.preserve.setToolTip(
            "When pruning ran first, keep its zeros as zeros while clustering."
        )
        self.layers = self.add_row(
            "Layers",
            LayerPicker("Which layers to cluster.", default_checked=True),
        )
        self.epochs = self.add_row(
            "Fine-tune epochs",
            spin(0, 1000, 1, "Passes over the fine-tune data after clustering (0: none)."),
        )
        self.learning_rate = self.add_row(
            "Learning rate", rate(1e-5, "Step size of the clustering fine-tune.")
        )

    def set_layers(self, names: Iterable[str]) -> None:
        self.layers.set_layers(names)

    def value(self) -> Clustering | None:
        if not self.isChecked():
            return None
        return Clustering(
            clusters=self.clusters.value(),
            init=self.init.currentData(),
            per_channel=self.per_channel.isChecked(),
            preserve_sparsity=self.preserve.isChecked(),
            layers=self.layers.chosen(),
            epochs=self.epochs.value(),
            learning_rate=self.learning_rate.value(),
        )

    def set_value(self, c: Clustering | None) -> None:
        self.setChecked(c is not None)
        if c is None:
            return
        self.clusters.setValue(c.clusters)
        select_value(self.init, c.init)
        self.per_channel.setChecked(c.per_channel)
        self.preserve.setChecked(c.preserve_sparsity)
        self.layers.set_checked(c.layers)
        self.epochs.setValue(c.epochs)
        self.learning_rate.setValue(c.learning_rate)
