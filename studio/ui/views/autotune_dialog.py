"""The "Find the best within budget…" dialog: what the automatic search optimizes, the budget it
keeps, how long it may take and how it measures (studio.orchestrator.autotune).

The choices of objective come from `studio.values.autotune.OBJECTIVES`; the caller
reads `settings()` and `threads` after `exec()`.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QWidget,
)

from studio.ui.run_on import RunOn
from studio.ui.style import set_role
from studio.values import processes
from studio.values.autotune import OBJECTIVES, Settings


class AutotuneDialog(QDialog):
    def __init__(
        self,
        remembered: Settings,
        *,
        threads: int,
        unit: str,
        parent: QWidget | None = None,
        run_on: tuple[str, str] = ("local", "auto"),
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Find the best within budget")
        self.objective = QComboBox()
        for key, objective in OBJECTIVES.items():
            self.objective.addItem(objective.label, key)
        self.objective.setCurrentIndex(list(OBJECTIVES).index(remembered.objective))
        self.objective.setToolTip(
            "What 'best' means among the candidates within the budget: the smallest "
            "download (gzip size of the .tflite), or the lowest median latency at the "
            "threads below"
        )
        self.budget = QDoubleSpinBox()
        self.budget.setRange(0.0, 50.0)
        self.budget.setDecimals(1)
        self.budget.setSingleStep(0.5)
        self.budget.setSuffix(f" {unit}")
        self.budget.setValue(remembered.budget)
        self.budget.setToolTip(
            "The accuracy the answer may lose against the float model: top-1 points, or "
            "for a regressor how many percent its mean absolute error may rise. Checked on "
            "samples the search never chose on."
        )
        self.minutes = QSpinBox()
        self.minutes.setRange(1, 24 * 60)
        self.minutes.setSuffix(" min")
        self.minutes.setValue(max(1, round(remembered.time_limit_s / 60)))
        self.minutes.setToolTip(
            "No new trial starts after this; trials still running are cancelled (every "
            "finished one is kept), then the best few are checked on held-out samples"
        )
        self.max_trials = QSpinBox()
        self.max_trials.setRange(4, 500)
        self.max_trials.setValue(remembered.max_trials)
        self.max_trials.setToolTip(
            "The most settings it measures. It also stops early when the last "
            f"{remembered.patience} found nothing better."
        )
        self.threads = QSpinBox()
        self.threads.setRange(1, max(1, processes.cores()))
        self.threads.setValue(threads)
        self.threads.setToolTip("LiteRT threads every trial is measured with (as in Preferences)")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(remembered.seed)
        self.seed.setToolTip("The same seed tries the same settings in the same order")
        about = QLabel(
            "The search opens a new session on this model. It first measures what each "
            "layer costs when pruned or clustered alone and which layers int8 hurts, then "
            "tries every post-training mode (seconds each), then pruning, clustering and "
            "QAT, sparing fragile layers, chosen by Optuna. Every trial is a candidate on "
            "the plots; the answer is explained in the Search tab."
        )
        about.setWordWrap(True)
        set_role(about, "hint")
        form = QFormLayout(self)
        form.addRow(about)
        form.addRow("Best is", self.objective)
        form.addRow("Accuracy budget", self.budget)
        form.addRow("Time limit", self.minutes)
        form.addRow("At most", self.max_trials)
        form.addRow("LiteRT threads", self.threads)
        form.addRow("Seed", self.seed)
        self.run_on = RunOn(*run_on)
        form.addRow("Run trials on", self.run_on)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start the search")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._remembered = remembered

    def settings(self) -> Settings:
        return Settings(
            objective=self.objective.currentData(),
            budget=self.budget.value(),
            time_limit_s=60.0 * self.minutes.value(),
            seed=self.seed.value(),
            max_trials=self.max_trials.value(),
            patience=self._remembered.patience,
        )
