"""int4 (the LiteRT Quantizer) against dynamic-range int8 (the TFLite converter), in one
run, on models we did not tune it for: the demo, the zoo's Transformer, a BERT-tiny-shaped
encoder with a 30k-token vocabulary, and the regressor.

Each candidate goes through the studio's own pipeline (`pipeline.optimize`): raw and gzip
size, accuracy on the evaluation split, latency at 1 and 2 threads in LiteRT's default
interpreter, the interpreter's memory (peak RSS growth of a separate process), and,
after 50 % pruning, the share of zeros read back from the pruned layers of the file.
Writes the int4 section of benchmarks/RESULTS.md:

    python benchmarks/int4.py                         # demo, transformer, bert_tiny, regressor
    python benchmarks/int4.py --models demo,bert_tiny
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import ROOT, SMOKE, emit, write_section

sys.path.insert(0, str(ROOT / "tests"))

MODELS = ("demo", "transformer", "bert_tiny", "regressor")
TEXT = ("transformer", "bert_tiny")  # judged: gzip <= 0.65x dynamic, top-1 within 1 pt
GZIP_TARGET, POINTS = 0.65, 1.0
RECIPES = {
    "dynamic": {"quantization": {"mode": "dynamic"}},
    "int4": {"quantization": {"mode": "int4"}},
    "int4, blocks of 32": {"quantization": {"mode": "int4", "block_size": 32}},
    "prune 50% + dynamic": {
        "pruning": {"target_sparsity": 0.5},
        "quantization": {"mode": "dynamic"},
    },
    "prune 50% + int4": {"pruning": {"target_sparsity": 0.5}, "quantization": {"mode": "int4"}},
}


def sources(name: str, folder: Path) -> tuple[str, str]:
    if name == "demo":
        return "demo", "demo"
    import zoo

    if SMOKE and name == "bert_tiny":
        zoo.BIG_VOCAB = 3000  # the same graph, a tenth of the table
    model, data = zoo.saved(name, "tf_keras", folder)
    return str(model), str(data)


def measure_model(name: str) -> list[dict]:
    from studio.engine.measure import measure
    from studio.engine.pipeline import optimize, prepare
    from studio.values.recipe import Recipe

    folder = Path(tempfile.mkdtemp(prefix=f"int4-{name}-"))
    model, data = sources(name, folder)
    recipes = dict(list(RECIPES.items())[:2]) if SMOKE else RECIPES
    prep = prepare(model, data)
    rows = []
    for label, spec in recipes.items():
        recipe = Recipe.from_dict(spec)
        if SMOKE and recipe.pruning:
            continue
        result = optimize(model, data, recipe, folder / label.replace(" ", "_"), threads=1)
        m = result.metrics
        two, _ = measure(folder / label.replace(" ", "_") / "model.tflite", prep.data, threads=2)
        pruned = [f for f in m.layers if f.sparsity >= 0.3]
        rows.append(
            {
                "model": name,
                "candidate": label,
                "bytes": m.size_bytes,
                "gzip": m.gzip_bytes,
                "metric": m.metric,
                "score": m.accuracy,
                "float_score": result.baseline.accuracy if result.baseline else None,
                "latency_1": m.latency_ms.median,
                "latency_2": two.latency_ms.median,
                "weights": sorted({f.dtype for f in m.layers}),
                "memory": m.peak_memory_bytes,
                "zeros": (
                    sum(f.sparsity * f.count for f in pruned) / sum(f.count for f in pruned)
                    if recipe.pruning and pruned
                    else None
                ),
            }
        )
        print(name, label, rows[-1], flush=True)
    return rows


def score_text(row: dict) -> str:
    if row["metric"] == "top1":
        return f"{100 * row['score']:.1f} %"
    return f"{row['score']:.4f} {row['metric']}"


def table(rows: list[dict]) -> tuple[str, list[str]]:
    lines = [
        "| model | candidate | weights in the file | size | gzip | gzip / dynamic's | "
        "score (float) | latency 1 thread | latency 2 threads | memory | zeros kept |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    by = {(r["model"], r["candidate"]): r for r in rows}
    for r in rows:
        base = by.get(
            (r["model"], "prune 50% + dynamic" if "prune" in r["candidate"] else "dynamic")
        )
        ratio = r["gzip"] / base["gzip"] if base else None
        zeros = "" if r["zeros"] is None else f"{100 * r['zeros']:.0f} %"
        float_text = (
            "" if r["float_score"] is None else f" ({score_text({**r, 'score': r['float_score']})})"
        )
        lines.append(
            f"| {r['model']} | {r['candidate']} | {', '.join(r['weights'])} | "
            f"{r['bytes'] / 1024:.1f} KB | {r['gzip'] / 1024:.1f} KB | "
            f"{'' if ratio is None else f'{ratio:.2f}x'} | {score_text(r)}{float_text} | "
            f"{r['latency_1']:.3f} ms | {r['latency_2']:.3f} ms | "
            f"{(r['memory'] or 0) / 2**20:.1f} MB | {zeros} |"
        )
        if r["model"] in TEXT and r["candidate"].startswith("int4") and base:
            lost = 100 * (base["score"] - r["score"])  # top-1 points below dynamic's
            met = ratio <= GZIP_TARGET and lost <= POINTS
            verdicts.append(
                f"{r['model']}, {r['candidate']}: gzip {ratio:.2f}x dynamic range's (target "
                f"≤ {GZIP_TARGET}), top-1 {abs(lost):.1f} pt "
                f"{'below' if lost > 0 else 'above' if lost < 0 else 'equal to'} it "
                f"(target ≤ {POINTS} below): {'met' if met else 'missed'}"
            )
    return "\n".join(lines), verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    names = ["demo"] if SMOKE else args.models.split(",")
    rows = [row for name in names for row in measure_model(name)]
    body, verdicts = table(rows)
    write_section(
        "int4",
        "benchmarks/int4.py",
        f"{body}\n\n" + "\n".join(f"- {v}" for v in verdicts),
    )
    print(body)
    print("\n".join(verdicts))
    emit({"rows": len(rows), "verdicts": verdicts})


if __name__ == "__main__":
    main()
