"""The short fine-tunes that pruning, clustering and QAT need.

One function for all three, so the loss, metrics and progress reporting are the same
whichever technique is being trained.
"""

from __future__ import annotations

import math

import numpy as np
import tf_keras as keras

from studio.engine.data import Dataset
from studio.values.errors import DataError
from studio.values.progress import Event, Report, ignore


def steps_per_epoch(data: Dataset, batch_size: int) -> int:
    return max(1, math.ceil(len(data.x_train) / batch_size))


class _ReportEpochs(keras.callbacks.Callback):
    def __init__(self, stage: str, epochs: int, report: Report) -> None:
        super().__init__()
        self.stage, self.epochs, self.report = stage, epochs, report

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        figures = {k: float(v) for k, v in (logs or {}).items()}
        shown = ", ".join(f"{k} {v:.4f}" for k, v in figures.items())
        self.report(
            Event(
                self.stage,
                f"epoch {epoch + 1}/{self.epochs}: {shown}",
                (epoch + 1) / self.epochs,
                figures,
            )
        )


def fine_tune(
    model: keras.Model,
    data: Dataset,
    *,
    stage: str,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    probabilities: bool,
    report: Report = ignore,
    callbacks: tuple[keras.callbacks.Callback, ...] = (),
) -> None:
    """Train `model` in place on the fine-tune part of `data`."""
    if epochs == 0:
        return
    if data.y_train is None:
        raise DataError(
            f"{data.source}: has no labels, and {stage} needs a fine-tune; use "
            f"labeled data, or only post-training quantization"
        )
    if data.y_train.dtype == np.int64:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities)
        metrics = ["accuracy"]
    else:
        loss, metrics = keras.losses.MeanSquaredError(), ["mae"]
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics)
    report(Event(stage, f"fine-tuning for {epochs} epoch(s)", 0.0))
    model.fit(
        data.x_train,
        data.y_train,
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        shuffle=True,
        callbacks=[*callbacks, _ReportEpochs(stage, epochs, report)],
    )
