"""A standalone Python script that reproduces a candidate with TensorFlow, tf_keras and
tfmot alone, commented for a learner.

The script does what the pipeline does, step by step and in the open: the same seeded
data split, the same layers (named explicitly, so the reader sees which), the same
pruning schedule arithmetic, clustering, QAT scheme, converter settings and evaluation.
The values the studio derived (chosen layers, whether the model ends in softmax) are
written into the script as constants, so it needs nothing from the studio to run.
"""

from __future__ import annotations

import dataclasses
import math
import os
import textwrap
import time
from pathlib import Path

from studio.engine import arrays
from studio.engine.data import EVAL_FRACTION, array_keys
from studio.engine.pruning import MASK_UPDATES, RECOVERY
from studio.values import modes
from studio.values.errors import DataError, ModelError
from studio.values.recipe import AUTO_MAX_EPOCHS, AUTO_STEPS, Quantization, Recipe
from studio.values.resources import DEMO, DEMO_DATA, DEMO_MODEL


def script_for(
    model_source: str | os.PathLike,
    data_source: str | os.PathLike,
    recipe: Recipe,
    *,
    trust: bool = False,
    shown_as: tuple[str, str] | None = None,
) -> str:
    """The script's text for this model, data and recipe.

    `shown_as`: the model's and data's paths as the script should name them, when the
    files read here are a worker's private copies of the user's files."""
    from studio.engine.clustering import clusterable
    from studio.engine.models import as_functional, load, outputs_are_probabilities
    from studio.engine.pipeline import prepare
    from studio.engine.pruning import m_by_n_prunable, prunable
    from studio.engine.qat import quantizable
    from studio.engine.selection import choose

    model_path, data_path = _model_path(model_source), _data_path(data_source)
    if shown_as is not None:
        model_path, data_path = (_model_path(shown_as[0]), str(Path(shown_as[1]).resolve()))
        if DEMO in shown_as[1:]:
            data_path = str(DEMO_DATA)
    loaded = load(model_source, trust=trust)
    if loaded.origin.startswith("Keras 3"):
        raise ModelError(
            f"model {model_path} is a Keras 3 file; the exported script uses tf_keras alone, "
            f"which cannot read it. Re-save the model with tf_keras to export a script"
        )
    prep = prepare(model_source, data_source, trust=trust, seed=recipe.seed)
    model = as_functional(prep.model)
    if prep.data.y_eval is None:
        raise DataError(f"data {data_path}: has no labels; the exported script scores with them")
    from_logits = [not p for p in outputs_are_probabilities(model, prep.data.x_eval)]
    classifier = [y.dtype.kind == "i" for y in arrays.parts(prep.data.y_eval)]
    several = len(prep.summary.inputs) > 1 or len(prep.summary.outputs) > 1
    parts = [
        _header(recipe, model_path, data_path),
        _data_of_several(prep, classifier) if several else _data(prep, classifier[0]),
        _model(
            model, from_logits, classifier, sequential=type(prep.model).__name__ == "Sequential"
        ),
    ]
    if recipe.pruning:
        p = recipe.pruning
        names = choose(
            model, p.layers, m_by_n_prunable if p.structure else prunable, "pruning.layers"
        )
        parts.append(_pruning(p, sorted(names), arrays.count(prep.data.x_train)))
    if recipe.clustering:
        names = choose(model, recipe.clustering.layers, clusterable, "clustering.layers")
        parts.append(_clustering(recipe.clustering, sorted(names)))
    if recipe.quantization.qat:
        names = {layer.name for layer in model.layers if quantizable(layer)}
        parts.append(_qat(recipe, sorted(names - set(recipe.quantization.float_layers))))
    from studio.engine.recurrent import recurrent_layers, unrolls

    if recurrent := recurrent_layers(model):
        parts.append(_recurrent(recurrent, unrolls(model, recipe.quantization.mode)))
    rules = None
    if recipe.quantization.mode == "int4":
        from studio.engine import int4
        from studio.engine.convert import convert

        # The user's per-op patterns, resolved against this model's operators (the
        # quantizer reads output tensor names; see int4.rules), written as constants.
        named = int4.operators(int4.lookups(convert(model, Quantization())))
        rules = int4.rules(recipe.quantization, named)
    parts.append(_convert(recipe, several, rules))
    evaluate = _evaluate_several(classifier) if several else _evaluate(classifier[0])
    if recipe.pruning and recipe.pruning.sparse_format:
        parts.append(SPARSE_KERNELS)
        evaluate = evaluate.replace("Interpreter(model_content=tflite)", "load(tflite)")
    parts.append(evaluate)
    return "\n\n".join(textwrap.dedent(p).strip("\n") for p in parts) + "\n"


def _model_path(source: str | os.PathLike) -> str:
    return str(DEMO_MODEL if str(source) == DEMO else Path(source).resolve())


def _data_path(source: str | os.PathLike) -> str:
    path = DEMO_DATA if str(source) == DEMO else Path(source).resolve()
    if path.is_dir() or path.suffix.lower() != ".npz":
        raise DataError(
            f"data {source}: the exported script reads .npz data (or the demo); save the "
            f"images as arrays x and y in a .npz to export a script"
        )
    return str(path)


def _header(recipe: Recipe, model_path: str, data_path: str) -> str:
    stamp = time.strftime("%Y-%m-%d")
    recipe_lines = ("\n" + " " * 8).join(f"#   {line}" for line in recipe.to_json().splitlines())
    return f'''
        """Reproduce the candidate "{recipe.describe()}" with TensorFlow, tf_keras and tfmot.

        Written by TFLite Optimization Studio on {stamp}. Run it with:
            python reproduce.py [OUT.tflite]      (whatever you named this file)
        """

        # The recipe this script follows (as the studio's recipe JSON):
        {recipe_lines}

        import os
        import sys

        # tensorflow-model-optimization 0.8 works only with tf_keras (Keras 2): this must be
        # set before TensorFlow is imported.
        os.environ["TF_USE_LEGACY_KERAS"] = "1"

        import gzip
        import math

        import numpy as np
        import tensorflow as tf
        import tensorflow_model_optimization as tfmot
        import tf_keras as keras

        try:
            from ai_edge_litert.interpreter import Interpreter  # LiteRT, the current runtime
        except ImportError:  # older installs: the same interpreter inside TensorFlow
            Interpreter = tf.lite.Interpreter

        MODEL = {model_path!r}
        DATA = {data_path!r}
        OUT = sys.argv[1] if len(sys.argv) > 1 else "model.tflite"
        SEED = {recipe.seed}  # the same seed gives the same data split and a similar fine-tune
    '''


def _data(prep, classifier: bool) -> str:
    label_type = "np.int64" if classifier else "np.float32"
    return f"""
        # --- Data ---------------------------------------------------------------------------
        # The studio's split: with x_train/x_test arrays, x_test is the evaluation part and
        # x_train is shuffled with the seed; with x/y, a seeded shuffle puts
        # {EVAL_FRACTION:.0%} aside for evaluation and keeps the rest to fine-tune and calibrate.
        arrays = dict(np.load(DATA))
        rng = np.random.default_rng(SEED)
        if "x_train" in arrays and "x_test" in arrays:
            order = rng.permutation(len(arrays["x_train"]))
            x_train, y_train = arrays["x_train"][order], arrays["y_train"][order]
            x_eval, y_eval = arrays["x_test"], arrays["y_test"]
        else:
            x, y = arrays["x"], arrays["y"]
            order = rng.permutation(len(x))
            n_eval = max(1, int(round(len(x) * {EVAL_FRACTION})))
            x_eval, y_eval = x[order[:n_eval]], y[order[:n_eval]]
            x_train, y_train = x[order[n_eval:]], y[order[n_eval:]]
        INPUT_SHAPE = {tuple(prep.summary.input.shape)!r}
        if x_train.ndim == len(INPUT_SHAPE) and INPUT_SHAPE[-1] == 1:
            x_train, x_eval = x_train[..., None], x_eval[..., None]  # add the channel axis
        x_train = x_train.astype({prep.summary.input.dtype!r})
        x_eval = x_eval.astype({prep.summary.input.dtype!r})
        y_train, y_eval = y_train.astype({label_type}), y_eval.astype({label_type})
        n_train = len(x_train)
    """


def _data_of_several(prep, classifier: list[bool]) -> str:
    """The data section for a model with several inputs or outputs: lists of arrays."""
    summary = prep.summary
    in_names = [spec.name for spec in summary.inputs]
    out_names = [spec.name for spec in summary.outputs]
    x_keys = [array_keys(in_names, "x", i) for i in range(len(in_names))]
    y_keys = [array_keys(out_names, "y", i) for i in range(len(out_names))]
    inputs = [(tuple(s.shape), s.dtype) for s in summary.inputs]
    label_types = ", ".join("np.int64" if c else "np.float32" for c in classifier)
    ins, outs = ", ".join(in_names), ", ".join(out_names)
    return f"""
        # --- Data ---------------------------------------------------------------------------
        # The model has {len(summary.inputs)} input(s) ({ins}) and {len(summary.outputs)} output(s) ({outs}), so
        # x_* and y_* below are lists with one array per input and per output, in the
        # model's order.  The .npz holds each under one of these names (as the studio reads it):
        X_KEYS = {x_keys!r}
        Y_KEYS = {y_keys!r}
        # The studio's split: with *_train/*_test arrays, *_test is the evaluation part and
        # *_train is shuffled with the seed; otherwise a seeded shuffle puts
        # {EVAL_FRACTION:.0%} aside for evaluation and keeps the rest to fine-tune and calibrate.
        arrays = dict(np.load(DATA))
        rng = np.random.default_rng(SEED)


        def named(keys, suffix=""):
            return [next(arrays[k + suffix] for k in options if k + suffix in arrays)
                    for options in keys]


        if any(k + "_train" in arrays and k + "_test" in arrays for k in X_KEYS[0]):
            x_train, y_train = named(X_KEYS, "_train"), named(Y_KEYS, "_train")
            order = rng.permutation(len(x_train[0]))
            x_train, y_train = [a[order] for a in x_train], [a[order] for a in y_train]
            x_eval, y_eval = named(X_KEYS, "_test"), named(Y_KEYS, "_test")
        else:
            suffix = "" if any(k in arrays for k in X_KEYS[0]) else "_train"
            x, y = named(X_KEYS, suffix), named(Y_KEYS, suffix)
            order = rng.permutation(len(x[0]))
            n_eval = max(1, int(round(len(x[0]) * {EVAL_FRACTION})))
            x_eval, y_eval = [a[order[:n_eval]] for a in x], [a[order[:n_eval]] for a in y]
            x_train, y_train = [a[order[n_eval:]] for a in x], [a[order[n_eval:]] for a in y]
        INPUTS = {inputs!r}  # (shape, dtype) per input
        for i, (shape, dtype) in enumerate(INPUTS):
            if x_train[i].ndim == len(shape) and shape[-1] == 1:
                x_train[i], x_eval[i] = x_train[i][..., None], x_eval[i][..., None]  # channel axis
            x_train[i], x_eval[i] = x_train[i].astype(dtype), x_eval[i].astype(dtype)
        LABEL_TYPES = [{label_types}]  # class numbers, or scores
        y_train = [a.astype(t) for a, t in zip(y_train, LABEL_TYPES)]
        y_eval = [a.astype(t) for a, t in zip(y_eval, LABEL_TYPES)]
        n_train = len(x_train[0])
    """


def _model(model, from_logits: list[bool], classifier: list[bool], *, sequential: bool) -> str:
    losses = [
        f"keras.losses.SparseCategoricalCrossentropy(from_logits={logits})"
        if is_classifier
        else "keras.losses.MeanSquaredError()"
        for logits, is_classifier in zip(from_logits, classifier, strict=True)
    ]
    metrics = ['["accuracy"]' if c else '["mae"]' for c in classifier]
    if len(losses) == 1:
        loss, metric = losses[0], metrics[0]
    else:  # one loss per output (Keras adds them up)
        loss, metric = f"[{', '.join(losses)}]", f"[{', '.join(metrics)}]"
    load = """
        # --- Model --------------------------------------------------------------------------
        # compile=False: the script compiles each fine-tune with its own optimizer.
        model = keras.models.load_model(MODEL, compile=False)
    """
    functional = """
        # The model is Sequential; tfmot's QAT needs the same layers as a functional model.
        inputs = keras.Input(model.input_shape[1:], dtype=model.inputs[0].dtype)
        x = inputs
        for layer in model.layers:
            x = layer(x)
        model = keras.Model(inputs, x, name=model.name)
    """
    ends = ", ".join(
        f"{'raw scores (logits)' if logits else 'softmax probabilities'} (from_logits={logits})"
        if is_classifier
        else "scores (mean squared error)"
        for logits, is_classifier in zip(from_logits, classifier, strict=True)
    )
    train = f"""
        def fine_tune(model, epochs, learning_rate, batch_size, callbacks=(), freeze_norms=False):
            \"\"\"A short, gentle training run: each technique below needs one.\"\"\"
            # The model ends in {ends}.
            # QAT keeps BatchNormalization in inference mode (its ranges start from the
            # float model's statistics); pruning and clustering train it, then
            # re-estimate its statistics with recalibrate().
            for layer in model.layers:
                inner = getattr(layer, "layer", layer)
                if freeze_norms and isinstance(inner, keras.layers.BatchNormalization):
                    inner.trainable = False
            model.compile(
                optimizer=keras.optimizers.Adam(learning_rate),
                loss={loss},
                metrics={metric},
            )
            model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, shuffle=True,
                      verbose=2, callbacks=list(callbacks))


        def recalibrate(model, batch=64, samples=1024):
            \"\"\"BatchNormalization statistics for the new weights: the average over
            forward passes of the training data (dropout off).\"\"\"
            norms = [la for la in model.layers if isinstance(la, keras.layers.BatchNormalization)]
            drops = [la for la in model.layers if isinstance(la, keras.layers.Dropout)]
            rates = [la.rate for la in drops]
            for la in drops:
                la.rate = 0.0
            xs = x_train if isinstance(x_train, list) else [x_train]
            n = min(len(xs[0]), samples)
            for i, start in enumerate(range(0, n, batch)):
                for la in norms:
                    la.trainable, la.momentum = True, i / (i + 1)
                model([x[start:start + batch] for x in xs], training=True)
            for la, rate in zip(drops, rates):
                la.rate = rate
    """
    blocks = [load, functional, train] if sequential else [load, train]
    return "\n\n".join(textwrap.dedent(b).strip("\n") for b in blocks)


def _pruning(p, names: list[str], samples: int) -> str:
    steps = p.epochs_for(samples) * max(1, math.ceil(samples / p.batch_size))
    if p.epochs is None:
        epochs = (
            f"# auto: about {AUTO_STEPS} steps (at least 2, at most {AUTO_MAX_EPOCHS} "
            f"epochs) so the network\n"
            f"        # recovers from its zeros.\n"
            f"        epochs = min({AUTO_MAX_EPOCHS}, max(2, math.ceil({AUTO_STEPS} / "
            f"math.ceil(n_train / {p.batch_size}))))"
        )
    else:
        epochs = f"epochs = {p.epochs}"
    if p.schedule == "constant" or p.structure:
        schedule = (
            f"tfmot.sparsity.keras.ConstantSparsity({p.target_sparsity}, begin_step=0, "
            f"frequency=frequency)"
        )
        why = "constant: the target sparsity from the first mask update on"
    else:
        schedule = (
            f"tfmot.sparsity.keras.PolynomialDecay({p.initial_sparsity}, {p.target_sparsity}, "
            f"begin_step=0, end_step=last_update, frequency=frequency)"
        )
        why = f"polynomial: from {p.initial_sparsity:.0%} up to {p.target_sparsity:.0%}, gently"
    extra = ", sparsity_m_by_n=(2, 4)" if p.structure == "2:4" else ""
    return f"""
        # --- Pruning: zero the smallest weights during a short fine-tune ---------------------
        # tfmot updates the masks every `frequency` steps (default 100, which prunes nothing
        # in a short run), so the schedule is fitted to this run's {steps} steps: about
        # {MASK_UPDATES} updates, the last one reaching the target with {RECOVERY:.0%} of the steps
        # left to recover at that sparsity.
        keras.utils.set_random_seed(SEED)
        {epochs}
        steps = epochs * math.ceil(n_train / {p.batch_size})
        ramp = max(1, int(steps * {1 - RECOVERY}))
        frequency = max(1, ramp // {MASK_UPDATES})
        last_update = ((ramp - 1) // frequency) * frequency
        schedule = {schedule}  # {why}
        PRUNED_LAYERS = {names!r}
        pruned = keras.models.clone_model(
            model,
            clone_function=lambda layer: tfmot.sparsity.keras.prune_low_magnitude(
                layer, pruning_schedule=schedule{extra}
            ) if layer.name in PRUNED_LAYERS else layer,
        )
        fine_tune(pruned, epochs=epochs, learning_rate={p.learning_rate}, batch_size={p.batch_size},
                  callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
        # strip_pruning removes the wrappers; the zeros stay in the weights.
        model = tfmot.sparsity.keras.strip_pruning(pruned)
        recalibrate(model)
    """


def _clustering(c, names: list[str]) -> str:
    init = {
        "kmeans++": "KMEANS_PLUS_PLUS",
        "linear": "LINEAR",
        "density": "DENSITY_BASED",
        "random": "RANDOM",
    }[c.init]
    return f"""
        # --- Clustering: each layer keeps only {c.clusters} distinct weight values --------------
        # Fewer distinct values compress much better (gzip, app stores).
        keras.utils.set_random_seed(SEED)
        CLUSTERED_LAYERS = {names!r}
        Init = tfmot.clustering.keras.CentroidInitialization


        def cluster(layer):
            if layer.name not in CLUSTERED_LAYERS:
                return layer
            return tfmot.clustering.keras.cluster_weights(
                layer,
                number_of_clusters={c.clusters},
                cluster_centroids_init=Init.{init},
                preserve_sparsity={c.preserve_sparsity},  # keep pruned zeros as zeros
                cluster_per_channel={c.per_channel} and isinstance(layer, keras.layers.Conv2D),
            )


        clustered = keras.models.clone_model(model, clone_function=cluster)
        fine_tune(clustered, epochs={c.epochs}, learning_rate={c.learning_rate}, batch_size={c.batch_size})
        model = tfmot.clustering.keras.strip_clustering(clustered)
        recalibrate(model)
    """


def _qat(recipe: Recipe, names: list[str]) -> str:
    q = recipe.quantization
    n = q.calibration_samples
    calibration = f"[a[:{n}] for a in x_train] if isinstance(x_train, list) else x_train[:{n}]"
    if recipe.clustering:
        scheme = (
            "tfmot.experimental.combine.Default8BitClusterPreserveQuantizeScheme("
            f"preserve_sparsity={bool(recipe.pruning)})"
        )
        why = (
            "cluster-preserving QAT (CQAT"
            + (", sparsity too: PCQAT)" if recipe.pruning else ")")
            + ", so training does not undo the clustering"
        )
    elif recipe.pruning:
        scheme = "tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()"
        why = "prune-preserving QAT (PQAT), so training does not undo the pruning"
    else:
        scheme, why = None, "plain QAT"
    apply = (
        f"tfmot.quantization.keras.quantize_apply(annotated, {scheme})"
        if scheme
        else "tfmot.quantization.keras.quantize_apply(annotated)"
    )
    return f"""
        # --- Quantization-aware training: learn to live with int8 rounding --------------------
        # Scheme: {why}.
        QUANTIZED_LAYERS = {names!r}
        annotated = keras.models.clone_model(
            model,
            clone_function=lambda layer: tfmot.quantization.keras.quantize_annotate_layer(layer)
            if layer.name in QUANTIZED_LAYERS else layer,
        )
        float_model = model
        with tfmot.quantization.keras.quantize_scope():
            model = {apply}

        def start_ranges(qat_model, samples, batch=16):
            \"\"\"tfmot starts activation ranges at [-6, 6] and moves them with decay 0.999,
            too slowly for a short fine-tune: start each at the range the float model
            really produces on the calibration samples (widened to hold zero).\"\"\"
            probe_model = keras.models.clone_model(float_model)  # fresh, single graph
            probe_model.set_weights(float_model.get_weights())
            targets = {{}}
            for layer in qat_model.layers:
                inner = getattr(layer, "layer", None)
                for v in layer.non_trainable_weights:
                    short = v.name.split("/")[-1].split(":")[0]
                    if not short.endswith(("_min", "_max")) or short.startswith(
                        ("kernel", "depthwise_kernel", "embeddings")
                    ):
                        continue  # weight ranges follow the weights anyway
                    name = inner.name if inner else layer.inbound_nodes[0].inbound_layers.name
                    targets.setdefault(name, []).append((v, short.startswith("pre_activation")))
            names = [n for n in targets if n in {{la.name for la in probe_model.layers}}]
            layers = [probe_model.get_layer(n) for n in names]
            probe = keras.Model(probe_model.inputs, [la.output for la in layers] + [la.input for la in layers])
            seen = {{}}
            xs = samples if isinstance(samples, list) else [samples]
            for start in range(0, len(xs[0]), batch):
                outs = probe([x[start:start + batch] for x in xs], training=False)
                for i, (name, layer) in enumerate(zip(names, layers)):
                    values = {{False: np.asarray(outs[i])}}
                    if any(pre for _, pre in targets[name]):
                        activation, layer.activation = layer.activation, keras.activations.linear
                        values[True] = np.asarray(layer(outs[len(names) + i]))
                        layer.activation = activation
                    for pre, v in values.items():
                        lo, hi = seen.get((name, pre), (np.inf, -np.inf))
                        seen[name, pre] = (min(lo, v.min()), max(hi, v.max()))
            for name in names:
                for variable, pre in targets[name]:
                    lo, hi = seen[name, pre]
                    variable.assign(min(lo, 0.0) if variable.name.endswith("_min:0") else max(hi, 0.0))

        start_ranges(model, {calibration})
        fine_tune(model, epochs={q.epochs}, learning_rate={q.learning_rate}, batch_size={q.batch_size},
                  freeze_norms=True)
    """


def _recurrent(names: list[str], unroll: bool) -> str:
    """What studio/engine/recurrent.py does, written out."""
    how = (
        "unrolled over the sequence\n        # (TensorFlow's int8 calibration of the fused "
        "kernels crashes; a GRU has no fused\n        # kernel to quantize)"
        if unroll
        else "kept as fused kernels"
    )
    clone = (
        """
        def unrolled(layer):
            if not isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)):
                return layer
            config = layer.get_config()
            for inner in (config, config.get("layer", {}).get("config", {}),
                          (config.get("backward_layer") or {}).get("config", {})):
                if "unroll" in inner:
                    inner["unroll"] = True
            twin = type(layer).from_config(config)
            copies.append((layer, twin))
            return twin

        copies = []
        model = keras.models.clone_model(model, input_tensors=fixed, clone_function=unrolled)
        for original, twin in copies:
            twin.set_weights(original.get_weights())"""
        if unroll
        else """
        # A clone on the batch-1 inputs, sharing every layer (and so every weight).
        model = keras.models.clone_model(model, input_tensors=fixed, clone_function=lambda la: la)"""
    )
    return f"""
        # --- Recurrent layers ({", ".join(names)}) -----------------------------------------
        # The converter needs a fixed batch size for them (the phone runs one sample at a
        # time); here they are {how}.
        samples = x_train if isinstance(x_train, list) else [x_train]
        fixed = [keras.Input(shape=a.shape[1:], batch_size=1, dtype=t.dtype, name=name)
                 for a, t, name in zip(samples, model.inputs, model.input_names)]
        fixed = fixed[0] if len(fixed) == 1 else fixed
        {textwrap.indent(textwrap.dedent(clone).strip(chr(10)), " " * 8).lstrip()}
    """


def _convert(recipe: Recipe, several: bool, rules: list | None = None) -> str:
    q = recipe.quantization
    if several:  # one array per input, fed by name (the converter orders inputs by name)
        calibrate = [
            f"calibration = [a[:{q.calibration_samples}] for a in x_train]",
            "representative = lambda: (",
            "    {name: a[i : i + 1] for name, a in zip(model.input_names, calibration)}",
            "    for i in range(len(calibration[0]))",
            ")",
        ]
    else:
        calibrate = [
            f"calibration = x_train[:{q.calibration_samples}]",
            "representative = lambda: ([s[None]] for s in calibration)",
        ]
    lines = ["converter = tf.lite.TFLiteConverter.from_keras_model(model)"]
    if q.mode in ("none", "int4"):
        lines.append("# No quantization: a float32 model.")
    else:
        lines.append("converter.optimizations = [tf.lite.Optimize.DEFAULT]")
    if q.mode == "dynamic":
        lines.append("# Dynamic range: int8 weights, float activations; no data needed.")
    elif q.mode == "float16":
        lines += [
            "# Float16 weights: half the size, nearly no accuracy change.",
            "converter.target_spec.supported_types = [tf.float16]",
        ]
    elif q.qat:
        lines += [
            "# A QAT model carries int8 ranges for the layers tfmot annotated; calibration",
            "# fills in the rest (layers it cannot wrap would otherwise stay float32).",
            *calibrate,
            "converter.representative_dataset = representative",
        ]
    elif modes.calibrated(q.mode):
        lines += [
            f"# Calibration: {q.calibration_samples} samples show the converter each "
            f"activation's range.",
            *calibrate,
            "converter.representative_dataset = representative",
        ]
        if q.mode == "int16x8":
            lines.append(
                "converter.target_spec.supported_ops = "
                "[tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]"
            )
        elif q.float_layers:
            lines.append(
                "converter.target_spec.supported_ops = "
                "[tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]"
            )
        else:
            lines.append(
                "converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]"
            )
    if modes.calibrated(q.mode) and q.io_type != "float32":
        lines += [
            f"# The app passes {q.io_type} in and gets {q.io_type} out.",
            f"converter.inference_input_type = tf.{q.io_type}",
            f"converter.inference_output_type = tf.{q.io_type}",
        ]
    if q.select_tf_ops:
        lines += [
            "# Allowed: TensorFlow's own kernels (select TF ops) for operations TFLite's",
            "# builtins lack; the app then needs the select-TF-ops runtime (several MB more).",
            "converter.target_spec.supported_ops = set(converter.target_spec.supported_ops) | {",
            "    tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS}",
        ]
    if recipe.pruning and recipe.pruning.sparse_format:
        lines += [
            "# Sparse storage: pruned weights kept as their non-zeros and positions (a",
            "# smaller raw file; float models read them through DENSIFY ops).",
            "converter.optimizations = [",
            "    *converter.optimizations, tf.lite.Optimize.EXPERIMENTAL_SPARSITY]",
        ]
    if q.float_layers and not q.qat:
        lines += [
            f"# Selective quantization: the operators of {', '.join(q.float_layers)} stay in "
            "float,",
            "# found by name in a float conversion, and deny-listed in TF's quantization debugger.",
            f"FLOAT_LAYERS = {list(q.float_layers)!r}",
            "float_model = tf.lite.TFLiteConverter.from_keras_model(model).convert()",
            "names = [t['name'] for t in Interpreter(model_content=float_model)"
            ".get_tensor_details()]",
            "denied = [n for n in names for layer in FLOAT_LAYERS",
            "          if any(layer in part.split('/')[:-1] for part in n.split(';'))]",
            "debugger = tf.lite.experimental.QuantizationDebugger(",
            "    converter=converter,",
            "    debug_dataset=representative,",
            "    debug_options=tf.lite.experimental.QuantizationDebugOptions("
            "denylisted_nodes=denied),",
            ")",
            "tflite = bytes(debugger.get_nondebug_quantized_model())",
        ]
    else:
        lines.append("tflite = converter.convert()")
    if q.mode == "int4":
        lines += _int4(rules or [])
    lines += [
        "with open(OUT, 'wb') as f:",
        "    f.write(tflite)",
        "print(f'wrote {OUT}: {len(tflite)} bytes, {len(gzip.compress(tflite))} gzipped')",
    ]
    body = "\n".join(lines)
    return (
        "# --- Conversion to LiteRT (.tflite) -----------------------------------------------\n"
        + body
    )


# A sparse int8 file: ai-edge-litert 2.3.0's default XNNPACK delegate cannot prepare it;
# the built-in kernels run it (said, never silently: measure.kernels in the studio).
SPARSE_KERNELS = """
def load(tflite):
    \"\"\"LiteRT's default kernels (XNNPACK first), or the built-in ones when XNNPACK
    cannot prepare sparse int8 weights.\"\"\"
    try:
        interpreter = Interpreter(model_content=tflite)
        interpreter.allocate_tensors()
        return interpreter
    except RuntimeError as err:
        from ai_edge_litert.interpreter import OpResolverType

        print(f"XNNPACK cannot run this sparse file ({str(err).splitlines()[0][:80]}); "
              "using LiteRT's built-in kernels")
        return Interpreter(model_content=tflite, experimental_op_resolver_type=(
            OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))


"""


def _int4(rules: list) -> list[str]:
    """The LiteRT Quantizer's own calls on the float file, and the studio's rewrite of
    Embedding tables (GATHER) into lookups the quantizer handles, copied in."""
    import inspect

    from studio.engine import int4

    helpers = "\n\n".join(
        inspect.getsource(f) for f in (int4.lookups, int4._lookup_like, int4.apply_rules)
    )
    table = "\n".join(f"    {dataclasses.astuple(r)!r}," for r in rules)
    return [
        "",
        "# int4 weights: the LiteRT Quantizer (pip install litert-quantizer) quantizes the",
        "# float file.  Keras' Embedding converts to GATHER, which it leaves in float; the",
        "# studio first rewrites such tables as EMBEDDING_LOOKUP (same values); its helpers",
        "# are copied here.",
        *helpers.splitlines(),
        "",
        "",
        "from litert_quantizer import qtyping, quantizer",
        "",
        "# (output-name pattern, op or '*' for all, bits or None for float, granularity);",
        "# later rules win.  int4 where LiteRT's default CPU path runs it, int8 elsewhere.",
        "RULES = [",
        *table.splitlines(),
        "]",
        "tool = quantizer.Quantizer(bytearray(lookups(tflite)))",
        "apply_rules(tool, qtyping, RULES)",
        "tflite = bytes(tool.quantize(enable_progress_report=False).quantized_model)",
    ]


def _evaluate(classifier: bool) -> str:
    score = (
        "hits = np.mean(np.argmax(outputs, axis=-1) == y_eval)\n"
        "print(f'top-1 accuracy on {len(y_eval)} evaluation samples: {hits:.4f}')"
        if classifier
        else "mae = np.mean(np.abs(outputs.reshape(len(y_eval), -1) - "
        "y_eval.reshape(len(y_eval), -1)))\n"
        "print(f'MAE on {len(y_eval)} evaluation samples: {mae:.4f}')"
    )
    return (
        """
        # --- Evaluation with the LiteRT interpreter, one sample at a time ---------------------
        interpreter = Interpreter(model_content=tflite)
        interpreter.allocate_tensors()
        inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        outputs = []
        for sample in x_eval:
            value = sample[None]
            scale, zero = inp["quantization"]
            if scale and inp["dtype"] != np.float32 and np.issubdtype(value.dtype, np.floating):
                value = np.round(value / scale + zero)  # int8/uint8 model input
            interpreter.set_tensor(inp["index"], value.astype(inp["dtype"]))
            interpreter.invoke()
            result = interpreter.get_tensor(out["index"]).astype(np.float32)
            scale, zero = out["quantization"]
            if scale and out["dtype"] != np.float32:
                result = (result - zero) * scale  # back to real numbers
            outputs.append(result[0])
        outputs = np.asarray(outputs)
    """.strip("\n")
        .replace("\n" + " " * 8, "\n")
        .removeprefix(" " * 8)
        + "\n"
        + score
    )


def _evaluate_several(classifier: list[bool]) -> str:
    """Evaluation for several inputs or outputs: LiteRT's signature runner takes and gives
    them by name (QAT renames an output layer `score` to `quant_score`)."""
    kinds = ", ".join(repr("top-1" if c else "mae") for c in classifier)
    return f"""
        # --- Evaluation with the LiteRT interpreter, one sample at a time ---------------------
        # The signature runner takes each input and gives each output by name.
        runner = Interpreter(model_content=tflite).get_signature_runner()
        inputs, outputs = runner.get_input_details(), runner.get_output_details()
        OUTPUT_NAMES = [n if n in outputs else "quant_" + n for n in model.output_names]
        results = {{name: [] for name in OUTPUT_NAMES}}
        for i in range(len(x_eval[0])):
            feed = {{}}
            for name, array in zip(model.input_names, x_eval):
                value, detail = array[i : i + 1], inputs[name]
                scale, zero = detail["quantization"]
                if scale and detail["dtype"] != np.float32 and np.issubdtype(value.dtype, np.floating):
                    value = np.round(value / scale + zero)  # int8/uint8 model input
                feed[name] = value.astype(detail["dtype"])
            got = runner(**feed)
            for name in OUTPUT_NAMES:
                result, detail = got[name].astype(np.float32), outputs[name]
                scale, zero = detail["quantization"]
                if scale and detail["dtype"] != np.float32:
                    result = (result - zero) * scale  # back to real numbers
                results[name].append(result[0])
        for name, labels, kind in zip(OUTPUT_NAMES, y_eval, [{kinds}]):
            predicted = np.asarray(results[name])
            if kind == "top-1":
                hits = np.mean(np.argmax(predicted, axis=-1) == labels)
                print(f"output {{name}}: top-1 accuracy on {{len(labels)}} evaluation samples: {{hits:.4f}}")
            else:
                mae = np.mean(np.abs(predicted.reshape(len(labels), -1) - labels.reshape(len(labels), -1)))
                print(f"output {{name}}: MAE on {{len(labels)}} evaluation samples: {{mae:.4f}}")
    """
