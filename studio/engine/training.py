"""The short fine-tunes that pruning, clustering and QAT need.

One function for all three, so the loss, metrics and progress reporting are the same
whichever technique is being trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import tf_keras as keras

from studio.engine.arrays import Arrays, count, for_keras, parts, take
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

    QAT's activation ranges are started from the float model's statistics
    (`qat.start_ranges`); BatchNormalization moving them in a short training run would
    shift every range after it.  A frozen BatchNormalization layer (trainable = False)
    runs in inference mode in tf_keras; inside tfmot's wrappers the wrapped layer is
    frozen.  (Pruning and clustering train it, then re-estimate its statistics: frozen,
    it cannot follow the pruned weights — MobileNetV2 pruned 50 %: 81 % frozen, 93 %
    trained and re-estimated, float 91 %.)
    """
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, keras.layers.BatchNormalization):
            inner.trainable = False


RECALIBRATION_SAMPLES = 1024
RECALIBRATION_BATCH = 64


def recalibrate_batch_norm(model: keras.Model, x: Arrays) -> None:
    """Re-estimate every BatchNormalization's statistics for the model's new weights.

    Pruning and clustering change what each convolution outputs; the statistics
    learnt for the old weights then scale and shift the new outputs wrongly, and a
    frozen BatchNormalization cannot follow.  Here the fine-tuned model runs forward
    (no training step) over up to RECALIBRATION_SAMPLES samples, and each layer's
    moving mean and variance become the average over those batches — the "BN
    re-estimation" that pruning literature applies after a prune.  Dropout is off
    meanwhile, so the statistics are those inference sees.
    """
    norms = [la for la in model.layers if isinstance(la, keras.layers.BatchNormalization)]
    if not norms:
        return
    dropouts = [la for la in model.layers if isinstance(la, keras.layers.Dropout)]
    saved = [(la.trainable, la.momentum) for la in norms], [la.rate for la in dropouts]
    for layer in dropouts:
        layer.rate = 0.0
    for layer in norms:
        layer.trainable = True
    try:
        n = min(count(x), RECALIBRATION_SAMPLES)
        for i, start in enumerate(range(0, n, RECALIBRATION_BATCH)):
            for layer in norms:
                layer.momentum = i / (i + 1)  # a running average over the batches
            model(for_keras(take(x, slice(start, start + RECALIBRATION_BATCH))), training=True)
    finally:
        for layer, (trainable, momentum) in zip(norms, saved[0], strict=True):
            layer.trainable, layer.momentum = trainable, momentum
        for layer, rate in zip(dropouts, saved[1], strict=True):
            layer.rate = rate


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
    freeze_norms: bool = True,
) -> tuple[float, float] | None:
    """Train `model` in place on the fine-tune part of `data`; the first and last
    epoch's loss.  With `freeze_norms`, BatchNormalization keeps its statistics (QAT:
    its ranges were started from them); without, the caller re-estimates them after
    (`recalibrate_batch_norm`)."""
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
    if freeze_norms:
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
