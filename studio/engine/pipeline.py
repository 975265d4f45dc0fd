"""One candidate from start to finish: model + data + recipe -> files and figures.

The order matters.  The float baseline is converted first, while the loaded weights are
untouched (techniques fine-tune the same layer objects).  Then pruning, clustering and
QAT, each starting from the previous step's stripped model, so QAT can choose the
scheme that preserves what came before.  Every stage is timed.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tf_keras as keras

from studio.engine.arrays import Arrays, count, parts, sample
from studio.engine.clustering import cluster
from studio.engine.convert import convert, float_twin
from studio.engine.data import Dataset, describe, fit_to_model, load_data
from studio.engine.measure import dense_twin, latency_together, measure, predict
from studio.engine.models import (
    as_functional,
    flattened,
    listed,
    load,
    outputs_are_probabilities,
    summarize,
)
from studio.engine.pruning import prune
from studio.engine.qat import quantize_aware_train
from studio.engine.recurrent import conversion_note, recurrent_layers
from studio.engine.tflite_file import graph_ops, io_specs, read_checked
from studio.values import atomic, modes
from studio.values.checks import effect_flags, sanity_flags, short_fine_tune
from studio.values.errors import ConversionError, DataError, MeasureError, ModelError, RecipeError
from studio.values.metrics import Flag, InputSpec, Latency, Metrics, ModelSummary
from studio.values.progress import Event, Report, ignore
from studio.values.recipe import Quantization, Recipe
from studio.values.sparse_speed import advise
from studio.values.tensor_fidelity import Fidelity


@dataclass(frozen=True)
class Prepared:
    """A loaded model with data checked against it: the start of every candidate."""

    model: keras.Model
    summary: ModelSummary
    data: Dataset
    probabilities: tuple[bool, ...]  # per output: does it end in a softmax?


@dataclass(frozen=True)
class Result:
    out_dir: Path
    metrics: Metrics
    baseline: Metrics
    qat_scheme: str | None


def prepare(
    model_source: str | os.PathLike,
    data_source: str | os.PathLike,
    *,
    trust: bool = False,
    seed: int = 0,
) -> Prepared:
    loaded = load(model_source, trust=trust)
    model = (
        listed(flattened(as_functional(loaded.model))) if not loaded.limitation else loaded.model
    )
    summary = summarize(model, origin=loaded.origin, limitation=loaded.limitation)
    data = load_data(data_source, seed=seed, inputs=summary.inputs, outputs=summary.outputs)
    data = fit_to_model(data, summary.inputs, summary.outputs)
    summary = dataclasses.replace(summary, data=describe(data, summary.outputs))
    return Prepared(model, summary, data, outputs_are_probabilities(model, data.x_eval))


def classes(summary: ModelSummary) -> dict[str, int]:
    """Each output's number of classes (its last dimension; 1 for a score)."""
    return {o.name: int(o.shape[-1] or 1) if o.shape else 1 for o in summary.outputs}


def _stage(report: Report, name: str, message: str) -> float:
    report(Event(name, message, 0.0))
    return time.perf_counter()


def check_fits(prep: Prepared, recipe: Recipe) -> None:
    """Refuse, before any work, a recipe this model or data cannot take."""
    if missing := modes.missing(recipe.quantization.mode):
        raise RecipeError(missing)
    needs_labels = [
        name
        for name, on in (
            ("pruning", recipe.pruning),
            ("clustering", recipe.clustering and recipe.clustering.epochs),
            ("QAT", recipe.quantization.qat),
        )
        if on
    ]
    if needs_labels and prep.summary.limitation:
        raise ModelError(
            f"{' and '.join(needs_labels)} cannot run on this model: {prep.summary.limitation}"
        )
    if needs_labels and not prep.data.labeled:
        raise DataError(
            f"{prep.data.source}: has no labels, and {' and '.join(needs_labels)} "
            f"fine-tune on labeled data; add labels (y), or use post-training "
            f"quantization only"
        )


@dataclass(frozen=True)
class Prefix:
    """The model after pruning and clustering: what candidates that differ only in
    quantization can share (a sweep computes it once per group)."""

    model: keras.Model
    pruned: frozenset[str]  # the layers pruning was applied to (empty: no pruning)
    clustered: frozenset[str]
    seconds: dict[str, float]
    losses: dict[str, tuple[float, float]]  # fine-tunes whose loss should have fallen


def fine_tune_prefix(prep: Prepared, recipe: Recipe, report: Report = ignore) -> Prefix:
    """Pruning, then clustering, each from the previous step's stripped model.

    They fine-tune `prep.model`'s own layer objects: restore its weights before computing
    another prefix from the same `prep`.
    """
    keras.utils.set_random_seed(recipe.seed)
    model, seconds, losses = prep.model, {}, {}
    pruned = clustered = frozenset()
    if recipe.pruning:
        t = _stage(report, "prune", f"pruning to {recipe.pruning.target_sparsity:.0%} sparsity")
        tuned = prune(
            model, prep.data, recipe.pruning, probabilities=prep.probabilities, report=report
        )
        model, pruned = tuned.model, tuned.layers
        # A rising sparsity raises the loss by design; only a constant one should fall.
        if tuned.loss and (recipe.pruning.schedule == "constant" or recipe.pruning.structure):
            losses["pruning"] = tuned.loss
        seconds["prune"] = time.perf_counter() - t
    if recipe.clustering:
        t = _stage(
            report, "cluster", f"clustering weights into {recipe.clustering.clusters} values"
        )
        tuned = cluster(
            model, prep.data, recipe.clustering, probabilities=prep.probabilities, report=report
        )
        model, clustered = tuned.model, tuned.layers
        if tuned.loss:
            losses["clustering"] = tuned.loss
        seconds["cluster"] = time.perf_counter() - t
    return Prefix(model, pruned, clustered, seconds, losses)


def finish(
    prep: Prepared,
    prefix: Prefix,
    recipe: Recipe,
    out: Path,
    *,
    reference: np.ndarray | None,
    baseline: Metrics | None,  # the float model's figures, when known
    seconds: dict[str, float],
    threads: int = 1,
    report: Report = ignore,
) -> Metrics:
    """QAT (if asked), convert, measure, and write the candidate's files to `out`."""
    q, seconds = recipe.quantization, {**seconds, **prefix.seconds}
    model, scheme, losses = prefix.model, None, dict(prefix.losses)
    if q.qat:
        t = _stage(report, "qat", "quantization-aware training")
        tuned = quantize_aware_train(
            model,
            prep.data,
            q,
            pruned=bool(prefix.pruned),
            clustered=bool(prefix.clustered),
            probabilities=prep.probabilities,
            report=report,
        )
        model, scheme = tuned.model, tuned.scheme
        if tuned.loss:
            losses["QAT"] = tuned.loss
        seconds["qat"] = time.perf_counter() - t

    t = _stage(report, "convert", f"converting ({q.mode})")
    # A model whose fused recurrent kernel disagreed with Keras (see `_baseline`) is
    # converted unrolled in every mode, like its float baseline.
    unroll = baseline is not None and any(f.code == UNROLLED for f in baseline.flags)
    calibration = prep.data.calibration(q.calibration_samples)
    skipped = _fidelity_skipped(q)
    # The float file fidelity compares with; int4 is made from it too (one conversion).
    float_model = None if skipped else convert(model, float_twin(q), calibration, unroll=unroll)
    sparse = bool(recipe.pruning and recipe.pruning.sparse_format)
    blob = convert(
        model, q, calibration, qat=q.qat, unroll=unroll, float_model=float_model, sparse=sparse
    )
    atomic.write_bytes(out / "model.tflite", blob)
    seconds["convert"] = time.perf_counter() - t

    t = _stage(report, "evaluate", "measuring size, accuracy, latency and memory")
    metrics, outputs = measure(
        out / "model.tflite", prep.data, threads=threads, reference=reference
    )
    if recipe.pruning:
        # Will the zeros run faster on the phone?  Read from this candidate's own graph.
        advice = advise(graph_ops(blob), recipe.pruning.structure)
        metrics = dataclasses.replace(metrics, sparse_advice=advice)
    compared = blob  # the file whose tensors are compared with the float model's
    if sparse:
        report(Event("evaluate", "measuring the same weights stored dense, side by side", 0.8))
        compared = dense = convert(model, q, calibration, qat=q.qat, unroll=unroll)
        twin = dense_twin(dense, blob, outputs, prep.data, out, threads=threads)
        metrics = dataclasses.replace(metrics, dense=twin)
    if q.mode != "none":
        report(Event("evaluate", "comparing each tensor with the float model", 0.9))
        if skipped:
            Fidelity(skipped=skipped).save(out)
        else:
            shown = blob if sparse else None
            _fidelity(prep, q, float_model, compared, threads=threads, shown=shown).save(out)
    seconds["evaluate"] = time.perf_counter() - t
    note = conversion_note(model, q.mode)
    metrics = dataclasses.replace(
        metrics,
        seconds={**seconds, **metrics.seconds},
        qat_scheme=scheme,
        notes=(*metrics.notes, *([note] if note else [])),
    )
    flags = effect_flags(
        recipe, metrics, pruned=prefix.pruned, clustered=prefix.clustered
    ) + sanity_flags(metrics, baseline, classes=classes(prep.summary), losses=losses)
    if short := short_fine_tune(recipe, count(prep.data.x_train)):
        flags += (Flag("short", short[0].upper() + short[1:] + "."),)
    metrics = dataclasses.replace(metrics, flags=flags)
    atomic.write_text(out / "recipe.json", recipe.to_json())
    atomic.write_json(out / "metrics.json", {**metrics.to_dict(), "label": recipe.describe()})
    report(Event("done", f"{out.name} measured", 1.0))
    return metrics


def _fidelity_skipped(q: Quantization) -> str:
    """Why a candidate's per-tensor fidelity is not measured ('' when it is)."""
    if q.mode == "none":
        return "a float model"
    if q.qat:
        return "QAT retrained the weights, so the float model is no reference"
    if q.io_type != "float32":
        return f"{q.io_type} inputs cannot be fed to the float model as they are"
    if modes.missing("int4"):
        return f"the LiteRT Quantizer's validator is needed: {modes.install_command('int4')}"
    return ""


def _fidelity(
    prep: Prepared,
    q: Quantization,
    float_model: bytes,
    blob: bytes,
    *,
    threads: int,
    shown: bytes | None = None,
) -> Fidelity:
    """Per-tensor fidelity of a quantized candidate (`blob`) against its float twin
    (fidelity.py): a figure to look at, never a reason to fail a candidate.  `shown`:
    the sparse-stored file `blob` is the dense twin of (the figures take its names)."""
    from studio.engine import fidelity

    try:
        figures = fidelity.measure(
            float_model, blob, prep.data.x_eval, threads=threads, inputs=prep.data.inputs
        )
    except Exception as err:  # the validator's own failure; the candidate stands
        return Fidelity(skipped=f"the LiteRT Quantizer's validator failed: {str(err)[:200]}")
    if q.block_size:
        # Measured on the demo: blocks of 32 give dense1 1 dB on the built-in kernels,
        # while the outputs on XNNPACK stay at 79 dB and top-1 within 0.3 points.
        figures = dataclasses.replace(figures, note=BLOCKWISE_NOTE)
    if shown is not None:
        figures = fidelity.renamed(figures, blob, shown)
        figures = dataclasses.replace(figures, note=f"{figures.note} {SPARSE_NOTE}".strip())
    return figures


# The validator cannot read a sparse-stored tensor (it applies per-channel scales to
# the stored non-zeros); the dense twin holds the same values (how close its outputs are
# to the sparse file's is `DenseTwin.max_output_diff`).
SPARSE_NOTE = (
    "Measured on the same weights stored dense (the LiteRT Quantizer's validator cannot "
    "read sparse storage)."
)

BLOCKWISE_NOTE = (
    "Blockwise int4 runs differently on LiteRT's built-in kernels (ai-edge-litert 2.3.0), "
    "where the per-tensor figures are measured: judge the Dense layers by the output row "
    "and the accuracy, measured on the default path."
)


def optimize(
    model_source: str | os.PathLike,
    data_source: str | os.PathLike,
    recipe: Recipe,
    out_dir: str | os.PathLike,
    *,
    threads: int = 1,
    trust: bool = False,
    report: Report = ignore,
) -> Result:
    """Run the recipe and write model.tflite, recipe.json, metrics.json and baseline.json."""
    out = Path(out_dir)
    keras.utils.set_random_seed(recipe.seed)
    t = _stage(report, "load", "loading the model and data")
    prep = prepare(model_source, data_source, trust=trust, seed=recipe.seed)
    seconds = {"load": time.perf_counter() - t}
    check_fits(prep, recipe)

    t = _stage(report, "baseline", "converting the float model for comparison")
    baseline, reference = _baseline(prep, out, threads)
    seconds["baseline"] = time.perf_counter() - t

    prefix = fine_tune_prefix(prep, recipe, report)
    metrics = finish(
        prep,
        prefix,
        recipe,
        out,
        reference=reference,
        baseline=baseline,
        seconds=seconds,
        threads=threads,
        report=report,
    )
    return Result(out, metrics, baseline, metrics.qat_scheme)


UNROLLED = "unrolled"  # the baseline's flag: recurrent layers converted unrolled
AGREE = 0.95  # the float .tflite's top class equals Keras' on at least this share
CLOSE = 0.05  # or, for scores, its RMSE is at most this share of Keras' output spread


def keras_agreement(prep: Prepared, reference: Arrays) -> tuple[float, str]:
    """How well the float `.tflite`'s outputs (`reference`) follow the Keras model's on
    the evaluation data: the worst output's share (1.0: all agree), and in words."""
    x = prep.data.x_eval
    keras_out = prep.model.predict(list(parts(x)) if len(parts(x)) > 1 else x, verbose=0)
    wants = list(keras_out) if isinstance(keras_out, list | tuple) else [keras_out]
    worst, said = 1.0, ""
    for got, want in zip(parts(reference), wants, strict=False):
        want = np.asarray(want)
        if want.ndim == 2 and want.shape[-1] > 1:
            share = float(np.mean(np.argmax(got, -1) == np.argmax(want, -1)))
            text = f"the same top class on {share:.0%} of the samples"
        else:
            rmse = float(np.sqrt(np.mean((np.asarray(got) - want) ** 2)))
            spread = float(np.std(want)) or 1.0
            share = 1.0 if rmse <= CLOSE * spread else 0.0
            text = f"an output RMSE of {rmse:.3g} against a spread of {spread:.3g}"
        if share < worst or not said:
            worst, said = min(worst, share), text
    return worst, said


def _baseline(prep: Prepared, out: Path, threads: int) -> tuple[Metrics, np.ndarray]:
    """Convert the untouched float model, measure it, write baseline.tflite/.json.

    Everything is compared with this file, so it must be the Keras model: its outputs
    are checked against Keras' on the evaluation data.  A fused LSTM kernel at batch 1
    gave 22 % where Keras gave 100 % (zero-padded token sequences, no mask); such a model
    is converted again with its recurrent layers unrolled, which agrees, and its
    candidates follow.  A file that still disagrees is refused with the figures."""
    t = time.perf_counter()
    atomic.write_bytes(out / "baseline.tflite", convert(prep.model, Quantization()))
    seconds = {"convert": time.perf_counter() - t}
    t = time.perf_counter()
    metrics, reference = measure(out / "baseline.tflite", prep.data, threads=threads)
    extra: tuple[Flag, ...] = ()
    if not prep.summary.limitation:
        share, said = keras_agreement(prep, reference)
        if share < AGREE and recurrent_layers(prep.model):
            fused = metrics.accuracy
            blob = convert(prep.model, Quantization(), prep.data.calibration(1), unroll=True)
            atomic.write_bytes(out / "baseline.tflite", blob)
            metrics, reference = measure(out / "baseline.tflite", prep.data, threads=threads)
            share, said = keras_agreement(prep, reference)
            before = "" if fused is None else f" (the fused kernel scored {fused:.1%})"
            extra = (
                Flag(
                    UNROLLED,
                    f"Converted with its recurrent layers unrolled: the fused kernel "
                    f"disagreed with the Keras model{before}; every candidate is "
                    f"converted the same way.",
                ),
            )
        if share < AGREE:
            raise ConversionError(
                f"the float .tflite does not compute what the Keras model computes: "
                f"{said} on the evaluation data (at least {AGREE:.0%} needed), so no "
                f"figure built on it would mean anything. Check the model converts "
                f"(custom or unusual layers), or send the file to the studio's developers"
            )
    seconds["evaluate"] = time.perf_counter() - t
    metrics = dataclasses.replace(
        metrics,
        flags=(
            *sanity_flags(metrics, None, classes=classes(prep.summary), float_model=True),
            *extra,
        ),
        seconds={**metrics.seconds, **seconds},
    )
    atomic.write_json(out / "baseline.json", metrics.to_dict())
    return metrics, reference


def baseline(
    model_source: str | os.PathLike,
    data_source: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    threads: int = 1,
    trust: bool = False,
    report: Report = ignore,
) -> tuple[ModelSummary, Metrics]:
    """The float model's figures (the reference point of every plot), and its summary."""
    report(Event("load", "loading the model and data", 0.0))
    t = time.perf_counter()
    prep = prepare(model_source, data_source, trust=trust)
    load = time.perf_counter() - t
    report(Event("baseline", "converting and measuring the float baseline", 0.0))
    metrics, _ = _baseline(prep, Path(out_dir), threads)
    # The stage times tell the sweep dialog how long this model takes on this machine.
    return prep.summary, dataclasses.replace(metrics, seconds={**metrics.seconds, "load": load})


def diagnose(
    model_source: str | os.PathLike,
    data_source: str | os.PathLike,
    *,
    samples: int = 100,
    trust: bool = False,
    report: Report = ignore,
) -> list[dict]:
    """Per-layer int8 quantization error of the model, worst first (see diagnosis.py)."""
    from studio.engine.diagnosis import layer_errors

    report(Event("load", "loading the model and data", 0.0))
    prep = prepare(model_source, data_source, trust=trust)
    if prep.summary.limitation:
        raise ModelError(f"per-layer diagnosis needs a tf_keras model: {prep.summary.limitation}")
    report(Event("diagnose", f"comparing int8 with float, layer by layer, on {samples} samples"))
    return [e.to_dict() for e in layer_errors(prep.model, prep.data.calibration(samples), samples)]


def sensitivity(
    model_source: str | os.PathLike,
    data_source: str | os.PathLike,
    *,
    sparsity: float = 0.5,
    clusters: int = 16,
    samples: int = 500,
    trust: bool = False,
    report: Report = ignore,
) -> list[dict]:
    """Each prunable / clusterable layer treated alone, without fine-tune (see
    sensitivity.py), as plain dicts."""
    from studio.engine.sensitivity import measure_layers

    report(Event("load", "loading the model and data", 0.0))
    prep = prepare(model_source, data_source, trust=trust)
    if prep.summary.limitation:
        raise ModelError(f"the sensitivity pass needs a tf_keras model: {prep.summary.limitation}")
    layers = {"prune": prep.summary.names("prunable"), "cluster": prep.summary.names("clusterable")}
    results = measure_layers(
        prep.model,
        prep.data,
        layers,
        sparsity=sparsity,
        clusters=clusters,
        samples=samples,
        report=report,
    )
    return [r.to_dict() for r in results]


def time_together(
    model_source: str | os.PathLike,
    data_source: str | os.PathLike,
    tflites: list[str | os.PathLike],
    *,
    threads: int = 1,
    trust: bool = False,
    report: Report = ignore,
) -> list[Latency]:
    """The files' latencies timed interleaved in this one process (see
    `measure.latency_together`), on the model's first evaluation sample."""
    report(Event("load", "loading the data", 0.0))
    prep = prepare(model_source, data_source, trust=trust)
    blobs = [read_checked(Path(t)) for t in tflites]
    one = sample(prep.data.x_eval, 0)
    report(Event("evaluate", f"timing {len(blobs)} files together, round by round", 0.0))
    return latency_together(blobs, one, threads=threads, inputs=prep.data.inputs)


def score(
    model_source: str | os.PathLike,
    data_source: str | os.PathLike,
    baseline_tflite: str | os.PathLike,
    tflites: list[str | os.PathLike],
    *,
    threads: int = 1,
    trust: bool = False,
    report: Report = ignore,
) -> list[Metrics]:
    """The float `.tflite` and finished files measured again on `data_source` (the
    search's held-out part): the float file's figures first, then each file's, its
    agreement measured against the float file's outputs on the same samples."""
    report(Event("load", "loading the model and data", 0.0))
    prep = prepare(model_source, data_source, trust=trust)
    report(Event("evaluate", f"measuring {len(tflites) + 1} files on {prep.data.source}", 0.0))
    base, reference = measure(Path(baseline_tflite), prep.data, threads=threads)
    out = [base]
    for i, path in enumerate(tflites, start=1):
        metrics, _ = measure(Path(path), prep.data, threads=threads, reference=reference)
        out.append(metrics)
        report(Event("evaluate", f"measured {i} of {len(tflites)}", i / len(tflites)))
    return out


def evaluate(
    tflite: str | os.PathLike,
    data_source: str | os.PathLike,
    *,
    baseline_model: str | os.PathLike | None = None,
    threads: int = 1,
    trust: bool = False,
) -> Metrics:
    """Measure an existing .tflite; with a baseline model, also its fidelity to it.

    Nothing in this process loads the file into LiteRT before `measure` has loaded it
    in its crash-safe child process.
    """
    path = Path(tflite)
    blob = read_checked(path)
    reference = None
    if baseline_model is not None:
        prep = prepare(baseline_model, data_source, trust=trust)
        data = prep.data
        reference = predict(
            convert(prep.model, Quantization()),
            data.x_eval,
            inputs=data.inputs,
            outputs=data.outputs,
        )
    else:
        try:
            data = _data_for_tflite(blob, data_source)
        except MeasureError as err:
            raise MeasureError(f"LiteRT cannot read {path}: {err}") from err
    metrics, _ = measure(path, data, threads=threads, reference=reference)
    return metrics


def _data_for_tflite(blob: bytes, data_source: str | os.PathLike) -> Dataset:
    """Check data against the .tflite's own input and output (no Keras model at hand)."""
    inp, out = io_specs(blob)
    # A quantized input still takes float data: measure quantizes it on the way in.
    dtype = "float32" if inp["quantized"] else inp["dtype"]
    shape = tuple(d if d > 0 else None for d in inp["shape"][1:])
    spec_out = InputSpec(out["name"], tuple(out["shape"][1:]), "float32")
    spec_in = InputSpec(inp["name"], shape, dtype)
    return fit_to_model(load_data(data_source), (spec_in,), (spec_out,))
