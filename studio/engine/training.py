"""The short fine-tunes that pruning, clustering and QAT need.

One function for all three, so the loss, metrics and progress reporting are the same
whichever technique is being trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tf_keras as keras

from studio.engine.arrays import count, for_keras, parts
from studio.engine.data import Dataset
from studio.values.errors import DataError
from studio.values.progress import Event, Report, ignore


@dataclass(frozen=True)
class Tuned:
    """What a technique's fine-tune produced: the model, the layers the technique was
    applied to (the effect checks look for them in the file), the first and last epoch's
    loss (None without a fine-tune), and for QAT the scheme that ran."""

    model: keras.Model
    layers: frozenset[str]
    loss: tuple[float, float] | None
    scheme: str | None = None


def freeze_batch_norm(model: keras.Model) -> None:
    """Run every BatchNormalization in inference mode, with its statistics fixed.

    A studio fine-tune is a few hundred steps on small batches of the user's data; in
    training mode BatchNormalization replaces the moving statistics learnt on the full
    training set with those of these batches, and MobileNet-style models lose most of
    their accuracy (MobileNetV2 pruned 50 %: 93 % -> 10 %).  A frozen BatchNormalization
    layer (trainable = False) runs in inference mode in tf_keras; inside tfmot's wrappers
    the wrapped layer is frozen.
    """
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, keras.layers.BatchNormalization):
            inner.trainable = False


def steps_per_epoch(data: Dataset, batch_size: int) -> int:
    return max(1, math.ceil(count(data.x_train) / batch_size))


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
    probabilities: tuple[bool, ...],
    report: Report = ignore,
    callbacks: tuple[keras.callbacks.Callback, ...] = (),
) -> tuple[float, float] | None:
    """Train `model` in place on the fine-tune part of `data` (BatchNormalization
    frozen); the first and last epoch's loss."""
    if epochs == 0:
        return None
    if data.y_train is None:
        raise DataError(
            f"{data.source}: has no labels, and {stage} needs a fine-tune; use "
            f"labeled data, or only post-training quantization"
        )
    losses, metrics = [], []
    for y, probability in zip(parts(data.y_train), probabilities, strict=True):
        if y.dtype == np.int64:  # class numbers (see data._check_labels)
            losses.append(keras.losses.SparseCategoricalCrossentropy(from_logits=not probability))
            metrics.append(["accuracy"])
        else:
            losses.append(keras.losses.MeanSquaredError())
            metrics.append(["mae"])
    several = len(losses) > 1  # one loss per output, summed by Keras
    freeze_batch_norm(model)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=losses if several else losses[0],
        metrics=metrics if several else metrics[0],
    )
    report(Event(stage, f"fine-tuning for {epochs} epoch(s)", 0.0))
    history = model.fit(
        for_keras(data.x_train),
        for_keras(data.y_train),
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        shuffle=True,
        callbacks=[*callbacks, _ReportEpochs(stage, epochs, report)],
    )
    loss = history.history.get("loss") or [math.nan]
    return float(loss[0]), float(loss[-1])
