"""Measuring a .tflite file with LiteRT: size, accuracy, fidelity, latency, memory.

Accuracy runs batched (the input is resized to a batch of samples) on every core,
because one `invoke()` per sample on one thread leaves both on the table; models whose
batch axis is fixed fall back to one sample at a time.  Latency is always one sample, after warm-up,
with the thread count recorded.  Peak memory and the first load happen in a separate
process: LiteRT does not verify flatbuffers, so a malformed file can crash whoever
loads it, and that must not be the studio.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np

from studio.engine.data import Dataset
from studio.engine.tflite_file import read_checked, weight_figures
from studio.values.errors import MeasureError
from studio.values.metrics import Latency, Metrics
from studio.values.processes import command

EVAL_BATCH = 64
WARMUP_RUNS = 10
LATENCY_RUNS = 100
PROBE_TIMEOUT_S = 300


def interpreter(path_or_bytes: str | Path | bytes, threads: int = 1):
    from ai_edge_litert.interpreter import Interpreter

    if isinstance(path_or_bytes, bytes):
        return Interpreter(model_content=path_or_bytes, num_threads=threads)
    return Interpreter(model_path=str(path_or_bytes), num_threads=threads)


def _to_input(x: np.ndarray, detail: dict) -> np.ndarray:
    """Quantize float samples for an int8/uint8/int16 input; integer inputs (token ids) pass."""
    dtype = detail["dtype"]
    scale, zero = detail["quantization"]
    if np.issubdtype(dtype, np.integer) and scale and np.issubdtype(x.dtype, np.floating):
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
    return x.astype(dtype, copy=False)


def _from_output(y: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    if np.issubdtype(y.dtype, np.integer) and scale:
        return (y.astype(np.float32) - zero) * scale
    return y.astype(np.float32)


def predict(
    model: bytes, x: np.ndarray, *, threads: int | None = None, batch: int = EVAL_BATCH
) -> np.ndarray:
    """Outputs for every sample (dequantized floats), batched when the model allows it.

    Accuracy does not depend on the thread count (latency does), so by default every
    core is used: evaluation is compute-bound once batched.
    """
    threads = threads or os.cpu_count() or 1
    interp = interpreter(model, threads)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    resizable = inp["shape_signature"][0] == -1 if len(inp["shape_signature"]) else False
    size = batch if resizable else 1
    results, current = [], None
    for start in range(0, len(x), size):
        chunk = x[start : start + size]
        if len(chunk) != current:
            try:
                interp.resize_tensor_input(inp["index"], [len(chunk), *inp["shape"][1:]])
                interp.allocate_tensors()
            except (RuntimeError, ValueError):
                if size == 1:
                    raise MeasureError(
                        f"LiteRT cannot run the model with input shape {list(inp['shape'])}"
                    ) from None
                return predict(model, x, threads=threads, batch=1)
            current = len(chunk)
        interp.set_tensor(inp["index"], _to_input(chunk, inp))
        interp.invoke()
        results.append(_from_output(interp.get_tensor(out["index"]), out))
    return np.concatenate(results)


def latency(
    model: bytes,
    sample: np.ndarray,
    *,
    threads: int = 1,
    warmup: int = WARMUP_RUNS,
    runs: int = LATENCY_RUNS,
) -> Latency:
    """Median and p90 of single-sample invoke() time, in milliseconds."""
    interp = interpreter(model, threads)
    inp = interp.get_input_details()[0]
    interp.resize_tensor_input(inp["index"], [1, *sample.shape])
    interp.allocate_tensors()
    interp.set_tensor(inp["index"], _to_input(sample[None], inp))
    for _ in range(warmup):
        interp.invoke()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        interp.invoke()
        times.append((time.perf_counter() - t0) * 1000.0)
    return Latency(float(np.median(times)), float(np.percentile(times, 90)), threads)


def score(outputs: np.ndarray, y: np.ndarray | None) -> tuple[float | None, str]:
    """Top-1 for class labels, mean absolute error for anything else."""
    if y is None:
        return None, "top1" if outputs.shape[-1] > 1 else "mae"
    if y.dtype == np.int64 and outputs.ndim == 2 and outputs.shape[-1] > 1:
        return float(np.mean(np.argmax(outputs, axis=-1) == y)), "top1"
    return float(np.mean(np.abs(outputs.reshape(len(y), -1) - y.reshape(len(y), -1)))), "mae"


def fidelity(
    outputs: np.ndarray, reference: np.ndarray | None
) -> tuple[float | None, float | None]:
    """Argmax agreement and output RMSE against the float baseline's outputs."""
    if reference is None:
        return None, None
    rmse = float(np.sqrt(np.mean((outputs - reference) ** 2)))
    if outputs.ndim == 2 and outputs.shape[-1] > 1:
        return float(np.mean(np.argmax(outputs, -1) == np.argmax(reference, -1))), rmse
    return None, rmse


def probe(path: Path, sample: np.ndarray | None, threads: int = 1) -> int:
    """Load and run the model in a child process; return its peak memory in bytes.

    The figure is the growth of the child's peak RSS from just before the interpreter is
    made to after it ran, i.e. what the model costs on top of the Python runtime.
    """
    cmd = command("studio.engine.memory_probe", str(path), str(threads))
    payload = b"" if sample is None else _npy_bytes(sample[None])
    try:
        done = subprocess.run(cmd, input=payload, capture_output=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        raise MeasureError(
            f"LiteRT did not finish loading and running {path} within {PROBE_TIMEOUT_S} s"
        ) from err
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        raise MeasureError(
            f"LiteRT crashed ({name}) loading or running {path}; the file is "
            f"malformed or uses something this runtime cannot run"
        )
    if done.returncode != 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["unknown error"])[-1]
        raise MeasureError(f"LiteRT cannot load or run {path}: {last[:400]}")
    return int(json.loads(done.stdout.decode().strip().splitlines()[-1])["peak_memory_bytes"])


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def measure(
    path: str | Path, data: Dataset, *, threads: int = 1, reference: np.ndarray | None = None
) -> tuple[Metrics, np.ndarray]:
    """All figures of one file, and its outputs on the evaluation part (for fidelity)."""
    path = Path(path)
    blob = read_checked(path)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    peak = probe(path, data.x_eval[0] if len(data.x_eval) else None, threads)
    seconds["evaluate_memory"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    outputs = predict(blob, data.x_eval)
    seconds["evaluate_accuracy"] = time.perf_counter() - t0
    accuracy, metric = score(outputs, data.y_eval)
    agreement, rmse = fidelity(outputs, reference)
    t0 = time.perf_counter()
    lat = latency(blob, data.x_eval[0], threads=threads)
    seconds["evaluate_latency"] = time.perf_counter() - t0
    layers = tuple(weight_figures(blob))
    metrics = Metrics(
        size_bytes=len(blob),
        gzip_bytes=len(gzip.compress(blob, compresslevel=9)),
        accuracy=accuracy,
        metric=metric,
        agreement=agreement,
        output_rmse=rmse,
        latency_ms=lat,
        peak_memory_bytes=peak,
        layers=layers,
        seconds=seconds,
        samples=len(data.x_eval),
    )
    return metrics, outputs
