"""Evaluation speed: the studio's batched accuracy evaluation against a naive loop.

Studio: `studio.engine.measure.predict` + `score` as `measure` calls them (batches of 64,
every core).  Reference, same run, same model and data: the loop a user writes first, one
`invoke()` per sample on LiteRT's default single thread.  Both must give
the same accuracy.  On the demo's evaluation split, and on synthetic samples for
MobileNetV2 at 96x96.  Target: >= 5x faster.

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


def case(name: str, blob: bytes, x: np.ndarray, y: np.ndarray, repeats: int) -> dict:
    from studio.engine.measure import predict, score

    studio_s, studio_out = median_time(lambda: predict(blob, x), repeats)
    naive_s, naive_out = median_time(lambda: naive(blob, x), repeats)
    studio_acc, _ = score(studio_out, y)
    naive_acc, _ = score(naive_out, y)
    return {
        "case": name,
        "samples": len(x),
        "studio_s": studio_s,
        "naive_s": naive_s,
        "speedup": naive_s / studio_s,
        "studio_accuracy": studio_acc,
        "naive_accuracy": naive_acc,
        "same_accuracy": abs(studio_acc - naive_acc) < 1e-9,
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
    return {"cases": cases, "min_speedup": min(c["speedup"] for c in cases)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    result = measure(parser.parse_args().quick)
    for c in result["cases"]:
        print(
            f"{c['case']} ({c['samples']} samples): studio {c['studio_s']:.3f} s, naive "
            f"{c['naive_s']:.3f} s, {c['speedup']:.1f}x; accuracy {c['studio_accuracy']:.4f} "
            f"vs {c['naive_accuracy']:.4f}"
        )
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
