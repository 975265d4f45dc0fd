"""Is a candidate what its label says, and does it make sense?  Checked from the file.

A row that says "QAT int8" must hold int8 weights; "pruned 50 %" must hold zeros; "16
clusters" must hold at most 16 values per channel.  These are read from the .tflite's
own weight tensors (`Metrics.layers`), not from what the engine meant to do, because the
engine can be wrong: tfmot skips layers it does not know, the converter leaves
operations in float when it cannot quantize them.  A contradiction makes the candidate
*broken* (`Flag.broken`): it is never plotted, ranked or recommended as a result.

Warnings (accuracy at chance, a fine-tune whose loss rose, outputs that no longer agree
with the float model, a drop beyond the budget) keep the figures but say, in words a
non-specialist can act on, the likely cause and what to try next.

Plain values only: the window and the report use the same checks as the engine.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping, Sequence

from studio.values import modes
from studio.values.metrics import TOP1, Flag, LayerFigures, Metrics, within_budget
from studio.values.recipe import Recipe

FLOAT_SHARE = 0.02  # of the quantized layers' weights that may be in another type
SPARSITY_SLACK = 0.05  # below the recipe's target sparsity that is still "reached"
DYNAMIC_MIN = 1024  # dynamic range leaves tensors with fewer values in float, by design
AGREEMENT = 0.9  # a classifier agreeing less often with its float model is flagged
CHANCE = 1.5  # top-1 at or below CHANCE / classes is "at chance"
LOSS_ROSE = 1.05  # last epoch's loss above first epoch's by this factor


def _names(figures: Sequence[LayerFigures], most: int = 4) -> str:
    names = list(dict.fromkeys(f.name for f in figures))
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


SHORT = 3  # a fine-tune this many times shorter than "auto" is too short to recover


def short_fine_tune(recipe: Recipe, train_samples: int) -> str:
    """Why the chosen pruning fine-tune is far below what the studio would choose ('' if
    it is not): 3 epochs of 400 samples (~39 steps) lost MobileNetV2, a transfer model and
    EfficientNet-B0 6-18 points that "auto" (~300 steps) kept within 2."""
    pruning = recipe.pruning
    if pruning is None or pruning.epochs is None or train_samples <= 0:
        return ""
    per_epoch = max(1, -(-train_samples // pruning.batch_size))
    steps = pruning.epochs * per_epoch
    auto = dataclasses.replace(pruning, epochs=None).epochs_for(train_samples) * per_epoch
    if steps * SHORT > auto:
        return ""
    return (
        f"pruning fine-tunes for {steps} steps ({pruning.epochs} epoch(s) of {per_epoch}), "
        f"far below the ~{auto} the studio would choose ('auto'): a fine-tune this short "
        f"often loses several points; set Fine-tune epochs to auto"
    )


def effect_flags(
    recipe: Recipe,
    metrics: Metrics,
    *,
    pruned: Collection[str] = (),
    clustered: Collection[str] = (),
) -> tuple[Flag, ...]:
    """Where the file contradicts the recipe; `pruned`/`clustered` name the Keras layers
    the technique was applied to (tensors are matched to layers by name)."""
    flags = []
    q = recipe.quantization
    want = modes.mode(q.mode).weights
    if want != "float32":
        kept = set(q.float_layers)
        tensors = [
            f
            for f in metrics.layers
            if f.name not in kept
            and (q.mode != "dynamic" or f.count >= DYNAMIC_MIN)
            and (q.mode != "int4" or _int4_expected(f, q))
        ]
        off = [f for f in tensors if f.dtype != want]
        total = sum(f.count for f in tensors)
        share = sum(f.count for f in off) / total if total else 0.0
        if share > FLOAT_SHARE:
            types = "/".join(sorted({f.dtype for f in off}))
            what = (
                "the LiteRT Quantizer left those operations unquantized. Add a per-op rule "
                "keeping these layers in float or int8 so the label says so"
                if q.mode == "int4"
                else f"the converter left those operations unquantized. Try post-training "
                f"{q.mode} without QAT, or list these layers under 'keep in float' so the "
                f"label says so"
            )
            flags.append(
                Flag(
                    f"weights_not_{want}",
                    f"{share:.0%} of the weights ({sum(f.count for f in off):,} values, in "
                    f"{_names(off)}) are {types} in the file, although the recipe asks for "
                    f"{want} weights{' (QAT)' if q.qat else ''}: {what}.",
                    broken=True,
                )
            )
    if recipe.pruning and pruned:
        target = recipe.pruning.target_sparsity  # 0.5 for 2:4 (the recipe checks)
        found = [f for f in metrics.layers if f.name in set(pruned)]
        total = sum(f.count for f in found)
        reached = sum(f.sparsity * f.count for f in found) / total if total else None
        if reached is not None and reached < target - SPARSITY_SLACK:
            short = [f for f in found if f.sparsity < target - SPARSITY_SLACK]
            flags.append(
                Flag(
                    "not_sparse",
                    f"pruning asked for {target:.0%} zeros, but the pruned layers' weights "
                    f"in the file are {reached:.0%} zeros ({_names(short)} fall short): the "
                    f"fine-tune did not reach its target. Give pruning more epochs, or "
                    f"report this model: it is a bug in the studio.",
                    broken=True,
                )
            )
    if recipe.clustering and clustered:
        limit = recipe.clustering.clusters + 1  # + the zeros that sparsity keeps
        # Counted per output channel (tflite_file._unique): int8 channels have their own
        # scales, and float kernels their own folded BatchNormalization factors.
        counted = ("int8", "int4", "float16", "float32")
        found = [f for f in metrics.layers if f.name in set(clustered) and f.dtype in counted]
        over = [f for f in found if f.unique_values > limit]
        if over:
            worst = max(f.unique_values for f in over)
            flags.append(
                Flag(
                    "not_clustered",
                    f"clustering asked for {recipe.clustering.clusters} values per layer, "
                    f"but {_names(over)} hold up to {worst} distinct values per channel "
                    f"in the file. Report this model: it is a bug in the studio.",
                    broken=True,
                )
            )
    return tuple(flags)


def _int4_expected(figures: LayerFigures, q) -> bool:
    """Whether an int4 recipe asks for int4 weights in this tensor: an op kind int4 runs
    in (the others take int8), and no later per-op rule keeping it in float or int8."""
    # A float GATHER table is an Embedding the studio could not make a lookup (int4.py):
    # its largest weights would stay float under an int4 label.
    table = figures.op == "GATHER" and figures.dtype == "float32"
    if figures.op not in modes.INT4_OPS and not table:
        return False
    last = next((r for r in reversed(q.op_rules) if re.search(r.pattern, figures.name)), None)
    return last is None or last.precision == "int4"


def sanity_flags(
    metrics: Metrics,
    baseline: Metrics | None,
    *,
    classes: Mapping[str, int],
    losses: Mapping[str, tuple[float, float]] = {},  # noqa: B006 (read only)
    float_model: bool = False,
) -> tuple[Flag, ...]:
    """Warnings about the figures of `metrics`, a candidate of `baseline` (None when
    unknown) or, with `float_model`, the float baseline itself.  `classes` gives each
    output's number of classes; `losses` the first and last epoch's loss of each
    fine-tune whose loss should have fallen."""
    flags = []
    at_chance = {name for name, *_ in _chance(baseline, classes)} if baseline else set()
    for name, accuracy, metric, agreement in _scores(metrics, classes):
        n = classes.get(name, 0)
        if name in at_chance:
            continue  # the float model's own flag says it; every candidate inherits it
        if metric != TOP1 or accuracy is None or n < 2 or accuracy > CHANCE / n:
            improved = baseline is not None and _gained(baseline, name, accuracy)
            if metric == TOP1 and agreement is not None and agreement < AGREEMENT and not improved:
                flags.append(
                    Flag(
                        "disagrees",
                        f"{_of(name, metrics)}agrees with the float model on only "
                        f"{agreement:.0%} of the samples: its answers changed more than the "
                        f"accuracy shows. Check it on more data before shipping, or choose "
                        f"a milder setting.",
                    )
                )
            continue
        chance = f"top-1 is {100 * accuracy:.1f} %, chance for {n} classes is {100 / n:.0f} %"
        if float_model:
            flags.append(
                Flag(
                    "chance",
                    f"{_of(name, metrics)}{chance} for the float model itself: the data "
                    f"likely does not match the model (labels in another order, or inputs "
                    f"scaled differently than in training). Check the data before "
                    f"optimizing: every candidate inherits this.",
                )
            )
        else:
            flags.append(
                Flag(
                    "chance",
                    f"{_of(name, metrics)}{chance}: the model collapsed. Likely causes: "
                    f"too much sparsity or too few clusters for the layers that matter, or "
                    f"a fine-tune learning rate too high for this model. Try a milder "
                    f"setting, leave the sensitive layers out (Model & data → per-layer "
                    f"sensitivity), or a smaller learning rate.",
                )
            )
    for stage, (first, last) in losses.items():
        if last > first * LOSS_ROSE:
            flags.append(
                Flag(
                    "loss_rose",
                    f"the {stage} fine-tune's loss rose from {first:.4g} to {last:.4g}: "
                    f"it made the model worse instead of recovering. Its learning rate is "
                    f"likely too high for this model; try a tenth of it.",
                )
            )
    return tuple(flags)


def budget_flag(metrics: Metrics, baseline: Metrics, budget: float) -> Flag | None:
    """A drop beyond the user's accuracy budget (the window's budget field)."""
    if within_budget(metrics, baseline, budget):
        return None
    return Flag(
        "over_budget",
        f"loses more than the budget of {budget:g} "
        f"{'points' if metrics.metric == TOP1 else 'MAE units'} against the float model: "
        f"not a candidate to ship as is. A milder setting, or QAT, may bring it back.",
    )


def _gained(baseline: Metrics, name: str, accuracy: float | None) -> bool:
    """Whether the candidate scores at least as well as the float model: a weak float
    model that the fine-tune improved disagrees with it for a good reason."""
    base = next((s[1] for s in _scores(baseline, {}) if s[0] in (name, "")), None)
    return accuracy is not None and base is not None and accuracy >= base


def _chance(metrics: Metrics, classes: Mapping[str, int]):
    return [
        s
        for s in _scores(metrics, classes)
        if s[2] == TOP1
        and s[1] is not None
        and classes.get(s[0], 0) >= 2
        and s[1] <= CHANCE / classes[s[0]]
    ]


def _scores(metrics: Metrics, classes: Mapping[str, int]):
    if metrics.outputs:
        return [(o.name, o.accuracy, o.metric, o.agreement) for o in metrics.outputs]
    name = metrics.output or next(iter(classes), "")
    return [(name, metrics.accuracy, metrics.metric, metrics.agreement)]


def _of(name: str, metrics: Metrics) -> str:
    return f"output '{name}': " if len(metrics.outputs) > 1 else ""
