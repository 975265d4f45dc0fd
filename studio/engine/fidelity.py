"""Per-tensor fidelity of a quantized candidate: how far each tensor of the quantized file
is from the same tensor of its float twin (MSE, and SNR in dB), on the user's evaluation
samples, through the LiteRT Quantizer's validator (`model_validator.compare_model`).

Why two rows of figures: keeping every intermediate tensor (what a per-tensor comparison
needs) switches LiteRT's XNNPACK delegate off, so the per-tensor figures come from the
built-in kernels; the outputs are compared again on the default path (XNNPACK), which is
what the app runs.  The same int4 file can differ between the two (blockwise int4 most),
so each figure says where it was measured.

Skipped, with the reason in the file: QAT candidates (their weights were retrained, so a
tensor-by-tensor comparison with the float model measures training, not rounding) and
integer inputs/outputs (the float twin cannot take the same samples).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from studio.engine.arrays import Arrays, count, parts, take
from studio.engine.tflite_file import graph_ops, layer_of, op_outputs, tensor_roles
from studio.values.tensor_fidelity import Fidelity, TensorFidelity

SAMPLES = 32  # two interpreters per sample (the validator's way): enough for a mean


def measure(
    float_model: bytes,
    quantized: bytes,
    samples: Arrays,
    *,
    threads: int,
    inputs: Sequence[str] = (),
) -> Fidelity:
    """The candidate's fidelity on up to `SAMPLES` of `samples` (the evaluation split)."""
    from litert_quantizer import model_validator
    from litert_quantizer.utils import validation_utils

    metrics = [
        validation_utils.ValidationErrorMetric.MSE,
        validation_utils.ValidationErrorMetric.SNR,
    ]
    n = min(SAMPLES, count(samples))
    data = _signature_inputs(float_model, take(samples, slice(0, n)), inputs)

    compare_fns = [_same_size_only(validation_utils.get_validation_func(m)) for m in metrics]

    def compare(outputs_only: bool, xnnpack: bool) -> dict[str, dict[str, float]]:
        result = model_validator.compare_model(
            float_model,
            quantized,
            data,
            metrics,
            compare_fns=compare_fns,
            use_xnnpack=xnnpack,
            num_threads=threads,
            validate_output_tensors_only=outputs_only,
        )
        return result.get_all_tensor_results()

    every = compare(outputs_only=False, xnnpack=False)
    outs = compare(outputs_only=True, xnnpack=True)
    # The validator pairs tensors by name: pairs that are not the same tensor go.
    twin, own = tensor_roles(float_model), tensor_roles(quantized)
    same = {name for name in every if twin.get(name) == own.get(name)}
    return Fidelity(
        samples=n,
        threads=threads,
        tensors=tuple(_figures(k, v) for k, v in every.items() if k in same and _compared(v)),
        outputs=tuple(_figures(k, v) for k, v in outs.items() if _compared(v)),
    )


def _same_size_only(fn: Callable[[Any, Any], float]) -> Callable[[Any, Any], float]:
    """The validator pairs tensors by name, and a float16 or sparse-stored constant keeps
    its float twin's name with other contents (half-precision values, only the non-zero
    ones): the validator's own functions then raise and no figure is left.  Such a pair
    is not compared (NaN, left out by `_compared`)."""

    def compare(target: Any, reference: Any) -> float:
        if np.size(target) != np.size(reference):
            return math.nan
        return fn(target, reference)

    return compare


def _compared(values: dict[str, float]) -> bool:
    return not math.isnan(float(values.get("mse", math.nan)))


def _figures(name: str, values: dict[str, float]) -> TensorFidelity:
    """The validator's SNR is a power ratio (signal / (MSE + 1e-9)); shown in dB."""
    mse, ratio = float(values.get("mse", math.nan)), float(values.get("snr", math.nan))
    identical = mse == 0 or not math.isfinite(ratio) or ratio <= 0
    return TensorFidelity(
        name=name,
        layer=layer_of(name) if "/" in name else "",
        mse=mse,
        snr_db=None if identical else 10 * math.log10(ratio),
    )


def _signature_inputs(model: bytes, x: Arrays, inputs: Sequence[str]) -> dict[str, list[dict]]:
    """The validator's test data: {signature: [{input name: one sample (batch 1)}, …]},
    the inputs matched to the Keras model's as every measurement does (`io_details`)."""
    from studio.engine.measure import interpreter, io_details

    interp = interpreter(model, 1)
    (key,) = interp.get_signature_list()
    by_index = {
        d["index"]: n for n, d in interp.get_signature_runner(key).get_input_details().items()
    }
    ordered, _ = io_details(interp, inputs)
    arrays = parts(x)
    return {
        key: [
            {
                by_index[d["index"]]: np.asarray(a[i : i + 1]).astype(d["dtype"], copy=False)
                for d, a in zip(ordered, arrays, strict=True)
            }
            for i in range(count(x))
        ]
    }


def renamed(figures: Fidelity, measured: bytes, shown: bytes) -> Fidelity:
    """`figures` measured on `measured` (a sparse candidate's dense twin) under the
    names of `shown`'s operator outputs: the sparse file is the same graph with a DENSIFY
    before each stored-sparse weight, whose outputs take the names the dense file gives
    the operators' (the overlays find an operator's tensor by name)."""

    def outputs(blob: bytes) -> list[tuple[str, str]]:
        kinds = {op.index: op.kind for op in graph_ops(blob)}
        return [(kinds[i], name) for i, name in op_outputs(blob) if kinds[i] != "DENSIFY"]

    before, after = outputs(measured), outputs(shown)
    if [k for k, _ in before] != [k for k, _ in after]:
        return figures  # not the same graph: the names stay as measured
    names = {old: new for (_, old), (_, new) in zip(before, after, strict=True)}

    def rename(rows: tuple[TensorFidelity, ...]) -> tuple[TensorFidelity, ...]:
        return tuple(dataclasses.replace(t, name=names.get(t.name, t.name)) for t in rows)

    return dataclasses.replace(
        figures, tensors=rename(figures.tensors), outputs=rename(figures.outputs)
    )
