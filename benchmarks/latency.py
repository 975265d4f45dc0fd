"""Latency: the studio's median against a plain LiteRT loop, and int8 vs float speed-up.

Fidelity: `studio.engine.measure.latency` against a hand-written `ai_edge_litert` loop with
the same threads, warm-up and run count, on the same file, in the same run (target:
ratio 0.9-1.1).  Speed-up: MobileNetV2 (weights=None) float, float16 and int8 medians on
1 and 2 threads, next to the published "2-3x" for int8.

    python benchmarks/latency.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time

import common  # noqa: F401
import numpy as np
from common import SMOKE, emit, mobilenet_v2

WARMUP, RUNS = 10, 100


def plain_loop(blob: bytes, sample: np.ndarray, threads: int) -> float:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=blob, num_threads=threads)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    value = sample[None]
    if inp["dtype"] != np.float32:
        scale, zero = inp["quantization"]
        value = np.round(value / scale + zero)
    interp.set_tensor(inp["index"], value.astype(inp["dtype"]))
    for _ in range(WARMUP):
        interp.invoke()
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        interp.invoke()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def measure(quick: bool) -> dict:
    from studio.engine.convert import convert
    from studio.engine.measure import latency
    from studio.values.recipe import Quantization

    size = 32 if SMOKE else 96 if quick else 224
    model = mobilenet_v2(size)
    rng = np.random.default_rng(0)
    calibration = rng.random((16, size, size, 3), dtype=np.float32)
    sample = calibration[0]
    blobs = {
        mode: convert(model, Quantization(mode=mode, calibration_samples=16), calibration)
        for mode in ("none", "float16", "int8")
    }
    rows = []
    for threads in (1, 2):
        for mode, blob in blobs.items():
            studio_ms = latency(blob, sample[None], threads=threads).median
            plain_ms = plain_loop(blob, sample, threads)
            rows.append(
                {
                    "mode": mode,
                    "threads": threads,
                    "studio_ms": studio_ms,
                    "plain_ms": plain_ms,
                    "fidelity": studio_ms / plain_ms,
                }
            )
    for row in rows:
        base = next(r for r in rows if r["mode"] == "none" and r["threads"] == row["threads"])
        row["speedup_vs_float"] = base["studio_ms"] / row["studio_ms"]
    return {
        "size": size,
        "rows": rows,
        "fidelity_range": [min(r["fidelity"] for r in rows), max(r["fidelity"] for r in rows)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    result = measure(parser.parse_args().quick)
    for r in result["rows"]:
        print(
            f"MobileNetV2 {result['size']} {r['mode']:7s} {r['threads']} thread(s): studio "
            f"{r['studio_ms']:.2f} ms, plain loop {r['plain_ms']:.2f} ms (ratio "
            f"{r['fidelity']:.2f}); {r['speedup_vs_float']:.2f}x vs float"
        )
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
