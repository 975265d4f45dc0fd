"""Measuring a .tflite file with LiteRT: size, accuracy, fidelity, latency, memory.

Accuracy runs batched (the input is resized to a batch of samples) on every core it may use,
because one `invoke()` per sample on one thread leaves both on the table; models whose
batch axis is fixed fall back to one sample at a time.  Latency is always one sample, after warm-up,
with the thread count recorded.  Peak memory and the first load happen in a separate
process: LiteRT does not verify flatbuffers, so a malformed file can crash whoever
loads it, and that must not be the studio.
"""

from __future__ import annotations

import gzip
import json
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from studio.engine.arrays import Arrays, count, pack, parts, sample, take
from studio.engine.data import Dataset
from studio.engine.tflite_file import flex_ops, read_checked, stores_sparse, weight_figures
from studio.values.errors import MeasureError
from studio.values.metrics import DenseTwin, Latency, Metrics, OutputScore
from studio.values.processes import command, thread_budget

EVAL_BATCH = 64
WARMUP_RUNS = 10
ROUNDS = 5  # latency is timed in rounds; the spread of their medians is its noise
ROUND_S = 0.025  # a round repeats the model at least this long (fast models: thousands)
MIN_RUNS = 20  # and at least this many times (slow models)
PROBE_TIMEOUT_S = 300


DEFAULT_KERNELS = "default"  # LiteRT's default: the XNNPACK delegate, built-in kernels behind it
BUILTIN_KERNELS = "built-in"  # the built-in kernels alone (OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
BUILTIN_NOTE = (
    "Measured with LiteRT's built-in kernels: the default XNNPACK delegate of "
    "ai-edge-litert 2.3.0 cannot prepare this file's sparse int8 weights ({error}). "
    "On the phone, run it with XNNPACK off (Android: Interpreter.Options()"
    ".setUseXNNPACK(false)); the built-in kernels are slower than XNNPACK's dense ones."
)
_kernels: dict[bytes, tuple[str, str]] = {}


def kernels(model: bytes) -> tuple[str, str]:
    """Which kernels run `model` here, and why not the default ones ('' when they do).

    Only a file with sparse-stored weights can need the built-in kernels: XNNPACK reads
    sparse float weights through DENSIFY, but cannot prepare sparse int8 ones (dynamic
    range or int8).  Decided by trying, once per file: a refusal is a fact of this
    runtime, never guessed, and never a silent fallback (the figures say which ran)."""
    import hashlib

    from ai_edge_litert.interpreter import Interpreter

    key = hashlib.sha1(model).digest()  # asked per interpreter: parse each file once
    if key not in _kernels and not stores_sparse(model):
        _kernels[key] = (DEFAULT_KERNELS, "")
    if key not in _kernels:
        try:
            Interpreter(model_content=model, num_threads=1).allocate_tensors()
            _kernels[key] = (DEFAULT_KERNELS, "")
        except RuntimeError as err:
            if "delegate" not in str(err).lower():
                raise
            op = re.search(r"failed to delegate (\w+)", str(err))
            what = f"XNNPACK failed to prepare {op[1]}" if op else str(err).strip()[:120]
            _kernels[key] = (BUILTIN_KERNELS, what)
    return _kernels[key]


def interpreter(path_or_bytes: str | Path | bytes, threads: int = 1, chosen: str | None = None):
    """A LiteRT interpreter on `threads` threads, with the kernels `kernels` chooses (or
    `chosen`, when the caller knows).  A path is loaded as a path (LiteRT maps the file),
    so the memory probe sees what an app pays."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    if chosen is None:
        blob = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
        chosen = kernels(blob)[0]
    resolver = OpResolverType.AUTO
    if chosen == BUILTIN_KERNELS:
        resolver = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if isinstance(path_or_bytes, bytes):
        return Interpreter(
            model_content=path_or_bytes, num_threads=threads, experimental_op_resolver_type=resolver
        )
    return Interpreter(
        model_path=str(path_or_bytes), num_threads=threads, experimental_op_resolver_type=resolver
    )


def to_input(x: np.ndarray, detail: dict) -> np.ndarray:
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


def io_details(
    interp, inputs: Sequence[str] = (), outputs: Sequence[str] = ()
) -> tuple[list[dict], list[dict]]:
    """The file's input and output details in the Keras model's order.

    The converter orders a signature's tensors by name ("features" before "image"), not
    as the Keras model lists them, so a model with several inputs or outputs is matched
    by the names its signature keeps.  Without `inputs`/`outputs` (a .tflite measured on
    its own) the signature's order is used.
    """
    ins, outs = interp.get_input_details(), interp.get_output_details()
    if len(ins) <= 1 and len(outs) <= 1:
        return ins, outs
    signatures = interp.get_signature_list()
    if len(signatures) != 1:
        raise MeasureError(
            "the .tflite file has several inputs or outputs but no single signature naming "
            "them; convert it from a Keras model (TFLiteConverter.from_keras_model)"
        )
    runner = interp.get_signature_runner(next(iter(signatures)))
    by_index = {d["index"]: d for d in ins + outs}

    def ordered(names: Sequence[str], named: dict, what: str) -> list[dict]:
        # QAT wraps an output layer `score` as `quant_score`, which names the output.
        keys = [next((k for k in (n, f"quant_{n}") if k in named), n) for n in names]
        keys = keys or list(named)
        if set(keys) != set(named):
            raise MeasureError(
                f"the .tflite file's {what} ({', '.join(sorted(named))}) are not the model's "
                f"({', '.join(names)})"
            )
        return [by_index[named[k]["index"]] for k in keys]

    return (
        ordered(inputs, runner.get_input_details(), "inputs"),
        ordered(outputs, runner.get_output_details(), "outputs"),
    )


def predict(
    model: bytes,
    x: Arrays,
    *,
    threads: int | None = None,
    batch: int = EVAL_BATCH,
    inputs: Sequence[str] = (),
    outputs: Sequence[str] = (),
) -> Arrays:
    """Outputs for every sample (dequantized floats), batched when the model allows it.

    Several inputs or outputs are given and returned in the Keras model's order (named
    by `inputs`/`outputs`).  Accuracy does not depend on the thread count (latency does),
    so by default every thread this process may use is used (every core, or a worker's
    share of them): evaluation is compute-bound once batched.
    """
    threads = threads or thread_budget()
    interp = interpreter(model, threads)
    ins, outs = io_details(interp, inputs, outputs)
    resizable = all(d["shape_signature"][0] == -1 for d in ins if len(d["shape_signature"]))
    size = batch if resizable else 1
    results: list[list[np.ndarray]] = []
    current = None
    for start in range(0, count(x), size):
        chunk = parts(take(x, slice(start, start + size)))
        if len(chunk[0]) != current:
            try:
                for d, c in zip(ins, chunk, strict=True):
                    interp.resize_tensor_input(d["index"], [len(c), *d["shape"][1:]])
                interp.allocate_tensors()
            except (RuntimeError, ValueError):
                if size == 1:
                    shapes = ", ".join(str(list(d["shape"])) for d in ins)
                    raise MeasureError(
                        f"LiteRT cannot run the model with input shape {shapes}"
                    ) from None
                return predict(model, x, threads=threads, batch=1, inputs=inputs, outputs=outputs)
            current = len(chunk[0])
        for d, c in zip(ins, chunk, strict=True):
            interp.set_tensor(d["index"], to_input(c, d))
        interp.invoke()
        results.append([_from_output(interp.get_tensor(o["index"]), o) for o in outs])
    return pack([np.concatenate([r[j] for r in results]) for j in range(len(outs))])


def _ready(model: bytes, sample: Arrays, threads: int, inputs: Sequence[str]):
    """An interpreter with `sample` set as its input, warmed up."""
    interp = interpreter(model, threads)
    ins, _ = io_details(interp, inputs)
    for d, s in zip(ins, parts(sample), strict=True):
        interp.resize_tensor_input(d["index"], list(s.shape))
    interp.allocate_tensors()
    for d, s in zip(ins, parts(sample), strict=True):
        interp.set_tensor(d["index"], to_input(s, d))
    for _ in range(WARMUP_RUNS):
        interp.invoke()
    return interp


def _round(interp, seconds: float, min_runs: int) -> list[float]:
    """Single-invoke times (ms) for at least `seconds` and `min_runs` invokes."""
    times = []
    clock = time.perf_counter
    end = clock() + seconds
    while len(times) < min_runs or clock() < end:
        t0 = clock()
        interp.invoke()
        times.append((clock() - t0) * 1000.0)
    return times


def _figures(rounds: list[list[float]], threads: int, together: bool = False) -> Latency:
    every = np.concatenate([np.asarray(r) for r in rounds])
    medians = [float(np.median(r)) for r in rounds]
    return Latency(
        float(np.median(every)),
        float(np.percentile(every, 90)),
        threads,
        min(medians),
        max(medians),
        len(rounds),
        together,
    )


def latency(
    model: bytes,
    sample: Arrays,
    *,
    threads: int = 1,
    inputs: Sequence[str] = (),
    rounds: int = ROUNDS,
    round_s: float = ROUND_S,
) -> Latency:
    """Median, p90 and spread of single-sample invoke() time, in milliseconds.  `sample`
    is one sample with its batch axis (`arrays.sample`)."""
    interp = _ready(model, sample, threads, inputs)
    return _figures([_round(interp, round_s, MIN_RUNS) for _ in range(rounds)], threads)


def latency_together(
    models: Sequence[bytes],
    sample: Arrays,
    *,
    threads: int = 1,
    inputs: Sequence[str] = (),
    rounds: int = ROUNDS,
    round_s: float = ROUND_S,
) -> list[Latency]:
    """Several models timed interleaved, round by round (each round in another order),
    in one process at the same threads: they share the machine's noise, so what is
    left between them is the models' own difference."""
    interps = [_ready(m, sample, threads, inputs) for m in models]
    times: list[list[list[float]]] = [[] for _ in models]
    for r in range(rounds):
        shift = r % len(models)  # each file takes each place in the order in turn
        for i in [*range(shift, len(models)), *range(shift)]:
            times[i].append(_round(interps[i], round_s, MIN_RUNS))
    return [_figures(t, threads, together=True) for t in times]


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


def probe(
    path: Path,
    sample: Arrays | None,
    threads: int = 1,
    inputs: Sequence[str] = (),
    chosen: str = DEFAULT_KERNELS,
) -> int:
    """Load and run the model in a child process; return its peak memory in bytes.

    `sample` is one sample with its batch axis, in the Keras model's input order (named
    by `inputs`; the child matches them to the file's).  The figure is the growth of the
    child's peak RSS from just before the interpreter is made to after it ran, i.e. what
    the model costs on top of the Python runtime.
    """
    cmd = command("studio.engine.memory_probe", str(path), str(threads), chosen, *inputs)
    payload = b"" if sample is None else _npz_bytes(parts(sample))
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


def _npz_bytes(arrays: tuple[np.ndarray, ...]) -> bytes:
    """`x0`, `x1`, … in the Keras model's input order, for the memory probe."""
    import io

    buf = io.BytesIO()
    np.savez(buf, **{f"x{i}": a for i, a in enumerate(arrays)})
    return buf.getvalue()


def measure(
    path: str | Path, data: Dataset, *, threads: int = 1, reference: Arrays | None = None
) -> tuple[Metrics, Arrays]:
    """All figures of one file, and its outputs on the evaluation part (for fidelity).

    A model with several outputs is scored on each (`Metrics.outputs`); the first is
    "the" figure until the user picks another (`Metrics.for_output`)."""
    path = Path(path)
    blob = read_checked(path)
    if flex := flex_ops(blob):
        raise MeasureError(
            f"{path.name} needs TensorFlow's own kernels for {', '.join(flex)} (select TF "
            f"ops): LiteRT on this computer cannot run them, so the studio cannot measure "
            f"its accuracy or speed. On a phone it needs the select-TF-ops runtime "
            f"(several MB more in the app); to stay on builtins, replace those operations"
        )
    one = sample(data.x_eval, 0) if count(data.x_eval) else None
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    # First: a malformed file crashes the child, not this process.
    peak = probe(path, one, threads, data.inputs, _checked_kernels(blob, path, one, data.inputs))
    chosen, why = kernels(blob)
    seconds["evaluate_memory"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    outputs = predict(blob, data.x_eval, inputs=data.inputs, outputs=data.outputs)
    seconds["evaluate_accuracy"] = time.perf_counter() - t0
    labels = parts(data.y_eval) if data.y_eval is not None else (None,) * len(parts(outputs))
    references = parts(reference) if reference is not None else (None,) * len(parts(outputs))
    scores = []
    for i, (out, y, ref) in enumerate(zip(parts(outputs), labels, references, strict=True)):
        accuracy, metric = score(out, y)
        agreement, rmse = fidelity(out, ref)
        name = data.outputs[i] if i < len(data.outputs) else f"output {i}"
        scores.append(OutputScore(name, accuracy, metric, agreement, rmse))
    t0 = time.perf_counter()
    lat = latency(blob, one, threads=threads, inputs=data.inputs)
    seconds["evaluate_latency"] = time.perf_counter() - t0
    layers = tuple(weight_figures(blob))
    main = scores[0]
    metrics = Metrics(
        size_bytes=len(blob),
        gzip_bytes=len(gzip.compress(blob, compresslevel=9)),
        accuracy=main.accuracy,
        metric=main.metric,
        agreement=main.agreement,
        output_rmse=main.output_rmse,
        latency_ms=lat,
        peak_memory_bytes=peak,
        layers=layers,
        seconds=seconds,
        samples=count(data.x_eval),
        outputs=tuple(scores) if len(scores) > 1 else (),
        output=main.name if len(scores) > 1 else "",
        kernels=chosen,
        notes=(BUILTIN_NOTE.format(error=why),) if chosen == BUILTIN_KERNELS else (),
    )
    return metrics, outputs


def _checked_kernels(
    blob: bytes, path: Path, sample: Arrays | None, inputs: Sequence[str]
) -> str:
    """`kernels`, for a file that has not been loaded yet: it is first loaded and run on
    `sample` in the memory probe's child (a malformed file must crash that, not this
    process; without a sample an input of token ids would hold garbage indices)."""
    if not stores_sparse(blob):
        return DEFAULT_KERNELS
    probe(path, sample, 1, inputs, BUILTIN_KERNELS)
    return kernels(blob)[0]


def dense_twin(
    dense: bytes, sparse: bytes, sparse_outputs: Arrays, data: Dataset, folder: Path, *, threads: int
) -> DenseTwin:
    """Measure a sparse-stored file's dense twin beside it (see `DenseTwin`): size, gzip,
    memory and accuracy of the dense file, the outputs' largest difference, and both
    latencies timed together.  The dense file is probed from a temporary file in
    `folder`, removed after."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".tflite", dir=folder) as f:
        f.write(dense)
        f.flush()
        peak = probe(Path(f.name), sample(data.x_eval, 0), threads, data.inputs)
    outputs = predict(dense, data.x_eval, inputs=data.inputs, outputs=data.outputs)
    labels = parts(data.y_eval)[0] if data.y_eval is not None else None
    accuracy, _ = score(parts(outputs)[0], labels)
    diff = max(
        float(np.max(np.abs(a - b))) if a.size else 0.0
        for a, b in zip(parts(outputs), parts(sparse_outputs), strict=True)
    )
    timed = latency_together(
        [dense, sparse], sample(data.x_eval, 0), threads=threads, inputs=data.inputs
    )
    return DenseTwin(
        size_bytes=len(dense),
        gzip_bytes=len(gzip.compress(dense, compresslevel=9)),
        peak_memory_bytes=peak,
        accuracy=accuracy,
        max_output_diff=diff,
        latency_ms=timed[0],
        sparse_latency_ms=timed[1],
        kernels=kernels(sparse)[0],  # cached: decided when the sparse file was measured
    )
