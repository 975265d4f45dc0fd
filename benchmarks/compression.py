"""Compression on the demo: every technique, its size, gzip size, top-1 and latency.

All against the float baseline measured in the same run, next to tfmot's published
claims (pruning + post-training quantization "up to 10x smaller", clustering + PTQ
"up to 8x", both measured on gzip size).  Target: the best candidate >= 10x smaller
(gzip) within 1 point of the float top-1.

    python benchmarks/compression.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import common  # noqa: F401
from common import emit

RECIPES = {
    "float": {},
    "dynamic": {"quantization": {"mode": "dynamic"}},
    "float16": {"quantization": {"mode": "float16"}},
    "int8": {"quantization": {"mode": "int8"}},
    "QAT int8": {"quantization": {"mode": "int8", "qat": True, "epochs": 1}},
    "pruning 80% + int8": {
        "pruning": {"target_sparsity": 0.8, "epochs": 3},
        "quantization": {"mode": "int8"},
    },
    "clustering 16 + int8": {
        "clustering": {"clusters": 16, "epochs": 1},
        "quantization": {"mode": "int8"},
    },
    "pruning + clustering + int8": "demo_prune_cluster_int8",
}


def measure(quick: bool = False) -> dict:
    from studio.engine.pipeline import optimize
    from studio.values.recipe import Recipe
    from studio.values.resources import json_file

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in RECIPES.items():
            recipe = (
                Recipe.load(json_file(spec)) if isinstance(spec, str) else Recipe.from_dict(spec)
            )
            result = optimize("demo", "demo", recipe, Path(tmp) / name.replace(" ", "_"))
            m, b = result.metrics, result.baseline
            rows.append(
                {
                    "name": name,
                    "size_bytes": m.size_bytes,
                    "gzip_bytes": m.gzip_bytes,
                    "gzip_ratio": b.gzip_bytes / m.gzip_bytes,
                    "top1": m.accuracy,
                    "float_top1": b.accuracy,
                    "latency_ms": m.latency_ms.median,
                    "threads": m.latency_ms.threads,
                }
            )
    within = [r for r in rows if r["top1"] >= r["float_top1"] - 0.01]
    best = max(within, key=lambda r: r["gzip_ratio"])
    return {
        "rows": rows,
        "best": best["name"],
        "best_ratio": best["gzip_ratio"],
        "best_drop_points": 100 * (best["float_top1"] - best["top1"]),
    }


def main() -> int:
    result = measure()  # the same in --quick mode: the demo is small
    for r in result["rows"]:
        print(
            f"{r['name']:28s} {r['size_bytes']:>8} B  gzip {r['gzip_bytes']:>8} B "
            f"({r['gzip_ratio']:.1f}x)  top-1 {100 * r['top1']:.2f} %  "
            f"{r['latency_ms']:.4f} ms ({r['threads']} thread)"
        )
    print(f"best within 1 point: {result['best']} ({result['best_ratio']:.1f}x)")
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
