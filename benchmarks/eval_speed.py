"""Evaluation speed: the studio's accuracy evaluation against the best LiteRT reaches here.

Studio: `studio.engine.measure.predict` + `score` as `measure` calls them.  Reference,
same run, same model and data: the fastest plain LiteRT loop found over batch sizes
(1 to 256) and thread counts (1 to every core), each pass timed whole (interpreter
made, resized, every sample run), and one single-thread interpreter per core side by
side, as a user tuning it by hand would find it; and, for
context, the loop a user writes first (one `invoke()` per sample, LiteRT's default
single thread).  All must give the same accuracy.  On the demo's evaluation split, and
on synthetic samples for MobileNetV2 at 96x96.  Target (issue 37): the studio within
1.25x of the best LiteRT time.  (The old target, >= 5x the one-sample loop, depended on
the core count: 2.1-2.8x on 2 cores.)

    python benchmarks/eval_speed.py [--quick]
"""

from __future__ import annotations

import argparse

import common  # noqa: F401  (sets up paths and environment)
import numpy as np
from common import SMOKE, emit, median_time, mobilenet_v2


def naive(blob: bytes, x: np.ndarray) -> np.ndarray:
    from studio.engine.measure import _from_output, interpreter, to_input

    interp = interpreter(blob, 1)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    outputs = []
    for sample in x:
        interp.set_tensor(inp["index"], to_input(sample[None], inp))
        interp.invoke()
        outputs.append(_from_output(interp.get_tensor(out["index"]), out)[0])
    return np.asarray(outputs)


BATCHES = (1, 8, 32, 64, 128, 256)
GOAL = 1.25


def plain(blob: bytes, x: np.ndarray, batch: int, threads: int) -> np.ndarray:
    """A plain LiteRT pass over `x` in batches of `batch` on `threads` threads."""
    from studio.engine.measure import _from_output, interpreter, to_input

    interp = interpreter(blob, threads)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    outputs, current = [], None
    for start in range(0, len(x), batch):
        chunk = x[start : start + batch]
        if len(chunk) != current:
            interp.resize_tensor_input(inp["index"], [len(chunk), *inp["shape"][1:]])
            interp.allocate_tensors()
            current = len(chunk)
        interp.set_tensor(inp["index"], to_input(chunk, inp))
        interp.invoke()
        outputs.append(_from_output(interp.get_tensor(out["index"]), out))
    return np.concatenate(outputs)


def side_by_side(blob: bytes, x: np.ndarray, batch: int, interpreters: int) -> np.ndarray:
    """One single-thread interpreter per core, each on its share of the samples, in
    Python threads (LiteRT's invoke releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    chunks = np.array_split(x, interpreters)
    with ThreadPoolExecutor(interpreters) as pool:
        return np.concatenate(list(pool.map(lambda c: plain(blob, c, batch, 1), chunks)))


def best_plain(blob: bytes, x: np.ndarray, repeats: int) -> tuple[float, dict, np.ndarray]:
    """The fastest plain configuration: seconds, its batch and threads ("N x 1": N
    interpreters side by side), its outputs."""
    from studio.values.processes import cores

    configs = [
        (batch, threads, lambda b=batch, t=threads: plain(blob, x, b, t))
        for threads in range(1, cores() + 1)
        for batch in (BATCHES if not SMOKE else (1, 64))
    ]
    if cores() > 1:
        configs += [
            (batch, f"{cores()} x 1", lambda b=batch: side_by_side(blob, x, b, cores()))
            for batch in (32, 128)
        ]
    best = None
    for batch, threads, run in configs:
        seconds, out = median_time(run, repeats)
        if best is None or seconds < best[0]:
            best = (seconds, {"batch": batch, "threads": threads}, out)
    return best


def case(name: str, blob: bytes, x: np.ndarray, y: np.ndarray, repeats: int) -> dict:
    from studio.engine.measure import predict, score

    studio_s, studio_out = median_time(lambda: predict(blob, x), repeats)
    best_s, best_config, best_out = best_plain(blob, x, repeats)
    studio_s = min(studio_s, median_time(lambda: predict(blob, x), repeats)[0])  # same warmth
    naive_s, naive_out = median_time(lambda: naive(blob, x), repeats)
    studio_acc, _ = score(studio_out, y)
    best_acc, _ = score(best_out, y)
    naive_acc, _ = score(naive_out, y)
    return {
        "case": name,
        "samples": len(x),
        "studio_s": studio_s,
        "best_s": best_s,
        "best": best_config,
        "ratio": studio_s / best_s,
        "met": studio_s / best_s <= GOAL,
        "naive_s": naive_s,
        "speedup": naive_s / studio_s,
        "studio_accuracy": studio_acc,
        "best_accuracy": best_acc,
        "naive_accuracy": naive_acc,
        "same_accuracy": abs(studio_acc - naive_acc) < 1e-9 and abs(studio_acc - best_acc) < 1e-9,
    }


def measure(quick: bool) -> dict:
    from studio.engine.convert import convert
    from studio.engine.pipeline import prepare
    from studio.values.recipe import Quantization

    repeats = 3 if quick else 5
    prep = prepare("demo", "demo")
    cases = []
    for mode in ("none", "int8"):
        q = Quantization(mode=mode)
        blob = convert(prep.model, q, prep.data.calibration(100))
        cases.append(case(f"demo {mode}", blob, prep.data.x_eval, prep.data.y_eval, repeats))
    samples = 64 if SMOKE else 500 if quick else 2000
    size = 32 if SMOKE else 96
    rng = np.random.default_rng(0)
    x = rng.random((samples, size, size, 3), dtype=np.float32)
    y = rng.integers(0, 10, samples).astype(np.int64)
    blob = convert(mobilenet_v2(size), Quantization(mode="int8"), x[:32])
    cases.append(case(f"MobileNetV2 {size}x{size} int8", blob, x, y, 1 if quick else 3))
    return {
        "cases": cases,
        "worst_ratio": max(c["ratio"] for c in cases),
        "goal": GOAL,
        "min_speedup": min(c["speedup"] for c in cases),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    result = measure(parser.parse_args().quick)
    for c in result["cases"]:
        print(
            f"{c['case']} ({c['samples']} samples): studio {c['studio_s']:.3f} s, best plain "
            f"LiteRT {c['best_s']:.3f} s (batch {c['best']['batch']}, {c['best']['threads']} "
            f"thread(s)) -> {c['ratio']:.2f}x; one-sample loop {c['naive_s']:.3f} s; "
            f"accuracy {c['studio_accuracy']:.4f} vs {c['best_accuracy']:.4f}"
        )
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
