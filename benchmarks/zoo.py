"""The model zoo (tests/zoo.py) through every recipe: what works on models we did not tune.

For each architecture, saved with tf_keras and with Keras 3: build and train it, measure
the float baseline, then run each recipe through the studio's own sweep engine, in a
child process per model (a converter crash costs one model's rows, not the run).
Writes the table into the zoo section of benchmarks/RESULTS.md:

    python benchmarks/zoo.py                     # the whole zoo (about an hour here)
    python benchmarks/zoo.py --models lstm,gru   # some of it
    python benchmarks/zoo.py --flavours tf_keras # one way of saving
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import RESULTS, ROOT, SMOKE, emit, write_section

sys.path.insert(0, str(ROOT / "tests"))

# Every measured row, so a run of a few models (or one flavour) adds to the others and
# the targets are checked over all of them.
ROWS = ROOT / "benchmarks" / "zoo_rows.json"
BEGIN, END = "<!-- zoo: written by benchmarks/zoo.py -->", "<!-- /zoo -->"
INT8 = {"mode": "int8", "calibration_samples": 100}
# Groups share their fine-tuned prefix (the sweep engine computes it once per group).
GROUPS = {
    "ptq": {
        "float": {"quantization": {"mode": "none"}},
        "dynamic": {"quantization": {"mode": "dynamic"}},
        "float16": {"quantization": {"mode": "float16"}},
        "int8": {"quantization": INT8},
        "QAT int8": {"quantization": {**INT8, "qat": True, "epochs": 1}},
    },
    "prune": {"prune 50% + int8": {"pruning": {"target_sparsity": 0.5}, "quantization": INT8}},
    "cluster": {"cluster 16 + int8": {"clustering": {"clusters": 16}, "quantization": INT8}},
    "both": {
        "prune 80% + cluster 16 + int8": {
            "pruning": {"target_sparsity": 0.8},
            "clustering": {"clusters": 16},
            "quantization": INT8,
        }
    },
}


def one(name: str, flavour: str) -> None:
    """Child process: one model, every recipe; prints a RESULT line per candidate."""
    import zoo

    from studio.engine.pipeline import baseline
    from studio.engine.sweep_run import run_group

    folder = Path(tempfile.mkdtemp(prefix=f"zoo-{name}-"))
    t = time.perf_counter()
    model_path, data_path = zoo.saved(name, flavour, folder)
    trained = time.perf_counter() - t
    t = time.perf_counter()
    summary, base = baseline(model_path, data_path, folder)
    emit_row(name, flavour, "baseline", base.to_dict(), None, time.perf_counter() - t + trained)
    for group in GROUPS.values():
        t = time.perf_counter()
        results = run_group(model_path, data_path, folder, list(group.items()))
        each = (time.perf_counter() - t) / len(results)
        for result in results:
            emit_row(
                name, flavour, result["name"], result.get("metrics"), result.get("error"), each
            )


def emit_row(name, flavour, recipe, metrics, error, seconds) -> None:
    emit(
        {
            "model": name,
            "flavour": flavour,
            "recipe": recipe,
            "metrics": metrics,
            "error": error,
            "seconds": round(seconds, 1),
        }
    )


def collect(models: list[str], flavours: list[str], each=None) -> list[dict]:
    """Every model in a child process; `each(rows)` after each one, so a long run that is
    stopped keeps what it measured."""
    rows = []
    for name in models:
        for flavour in flavours:
            args = [sys.executable, __file__, "--one", name, flavour]
            done = subprocess.run(args, capture_output=True, text=True, timeout=3600)
            got = [
                json.loads(ln[7:]) for ln in done.stdout.splitlines() if ln.startswith("RESULT ")
            ]
            rows += got
            if done.returncode != 0:
                tail = (done.stderr or "").strip().splitlines()[-1:] or ["no output"]
                rows.append(
                    {
                        "model": name,
                        "flavour": flavour,
                        "recipe": "(process)",
                        "metrics": None,
                        "error": f"exit {done.returncode}: {tail[0][:200]}",
                        "seconds": 0,
                    }
                )
            print(f"{name} {flavour}: {len(got)} rows", file=sys.stderr, flush=True)
            if each is not None:
                each(rows)
    return rows


def _score(metrics: dict) -> str:
    value = metrics.get("accuracy")
    if value is None:
        return "—"
    return f"MAE {value:.3f}" if metrics.get("metric") == "mae" else f"{100 * value:.1f} %"


def table(rows: list[dict], kept: list[str] = ()) -> str:
    base = {(r["model"], r["flavour"]): r["metrics"] for r in rows if r["recipe"] == "baseline"}
    lines = [
        "| model | saved with | recipe | outcome | float → candidate | gzip ratio | seconds |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += kept
    for r in rows:
        if r["recipe"] == "baseline":
            continue
        b, m = base.get((r["model"], r["flavour"])), r["metrics"]
        if m is None or b is None:
            reason = (r["error"] or "no figures").replace("|", "/")[:160]
            lines.append(
                f"| {r['model']} | {r['flavour']} | {r['recipe']} | failed: {reason} | | | |"
            )
            continue
        notes = "; ".join(m.get("notes", ()))
        flags = m.get("flags") or ()
        outcome = "ok" + (f" ({notes[:80]}…)" if notes else "")
        if flags:
            broken = any(f.get("broken") for f in flags)
            codes = ", ".join(f["code"] for f in flags)
            outcome = f"{'**broken**' if broken else 'ok ⚠'} ({codes})"
        ratio = b["gzip_bytes"] / max(1, m["gzip_bytes"])
        lines.append(
            f"| {r['model']} | {r['flavour']} | {r['recipe']} | {outcome} | "
            f"{_score(b)} → {_score(m)} | {ratio:.1f}x | {r['seconds']} |"
        )
    return "\n".join(lines)


# Issue 17's targets: (recipe, models it applies to or None for all, what is promised).
CNN_LIKE = ("mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0")
SMALL_CNNS = ("small_cnn",)


def targets(rows: list[dict]) -> str:
    """Each promise checked on this run's rows, met or missed."""
    by = {(r["model"], r["flavour"], r["recipe"]): r["metrics"] for r in rows}
    lines = [
        "| target | model | saved with | figures | result |",
        "| --- | --- | --- | --- | --- |",
    ]

    def add(target, key, figures, met):
        lines.append(
            f"| {target} | {key[0]} | {key[1]} | {figures} | {'met' if met else '**missed**'} |"
        )

    for key in sorted({(r["model"], r["flavour"]) for r in rows}):
        b = by.get((*key, "baseline"))
        if not b or b.get("accuracy") is None:
            continue
        mae = b.get("metric") == "mae"

        def get(recipe, key=key):
            return by.get((*key, recipe)) or {}

        p50 = get("prune 50% + int8").get("accuracy")
        if key[0] in CNN_LIKE:
            drop = None if p50 is None else 100 * (b["accuracy"] - p50)
            add(
                "prune 50% + int8 within 2 pt",
                key,
                f"{_score(b)} → {_score(get('prune 50% + int8'))}",
                drop is not None and drop <= 2,
            )
        if key[0] in SMALL_CNNS:
            both = get("prune 80% + cluster 16 + int8")
            drop = (
                None if both.get("accuracy") is None else 100 * (b["accuracy"] - both["accuracy"])
            )
            add(
                "prune 80% + cluster 16 + int8 within 1.5 pt",
                key,
                f"{_score(b)} → {_score(both)}",
                drop is not None and drop <= 1.5,
            )
        if mae and p50 is not None:
            add(
                "MAE at 50 % sparsity within 25 %",
                key,
                f"{_score(b)} → {_score(get('prune 50% + int8'))}",
                p50 <= 1.25 * b["accuracy"],
            )
        qat, ptq = get("QAT int8"), get("int8")
        if qat.get("accuracy") is not None and ptq.get("accuracy") is not None:
            dtypes = {layer.get("dtype") for layer in qat.get("layers", ())}
            if mae:
                close = qat["accuracy"] <= ptq["accuracy"] * 1.03
            else:
                close = qat["accuracy"] >= ptq["accuracy"] - 0.003
            add(
                "QAT int8 ≥ int8 − 0.3 pt, weights int8",
                key,
                f"int8 {_score(ptq)}, QAT {_score(qat)}, weights {'/'.join(sorted(map(str, dtypes)))}",
                close and dtypes <= {"int8"},
            )
    return "\n".join(lines)


def write(rows: list[dict]) -> None:
    """Replace the zoo section with this run's rows and the stored rows of the models and
    flavours it did not cover, so the zoo can be measured a few models at a time.  Lines
    of older runs that predate the stored rows are kept as they were written."""
    from studio.values import atomic

    ran = {(r["model"], r["flavour"]) for r in rows}
    stored = json.loads(ROWS.read_text()) if ROWS.exists() else []
    every = [r for r in stored if (r["model"], r["flavour"]) not in ran] + rows
    atomic.write_text(ROWS, json.dumps(every, indent=1) + "\n")
    covered = {(r["model"], r["flavour"]) for r in every}
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    kept: list[str] = []
    if BEGIN in text and END in text:
        old = text[text.index(BEGIN) : text.index(END)]
        kept = [
            line
            for line in old.splitlines()
            if line.startswith("| ")
            and not line.startswith(("| model ", "| target "))
            and len(line.split("|")) > 3
            and (line.split("|")[1].strip(), line.split("|")[2].strip()) not in covered
            and line.split("|")[2].strip() in ("tf_keras", "keras3")
        ]
    models = list(
        dict.fromkeys([r["model"] for r in every] + [ln.split("|")[1].strip() for ln in kept])
    )
    section = (
        f"## Model zoo\n\nWritten by `python benchmarks/zoo.py` (last run "
        f"{time.strftime('%Y-%m-%d %H:%M')}, for "
        f"{', '.join(sorted(f'{m} ({f})' for m, f in ran))}): models from "
        f"`tests/zoo.py`, trained a few epochs on the project's own data, each recipe run "
        f"by the studio's sweep engine (accuracy is top-1 on the held-out part; MAE for "
        f"the regressor; a model with two outputs is scored on its first). Models: "
        f"{', '.join(models)}. Rows of earlier runs are kept until their model is run "
        f"again (`{ROWS.name}` holds the figures).\n\n{table(every, kept)}\n\n"
        f"### Issue 17's targets\n\n{targets(every)}"
    )
    write_section("zoo", "benchmarks/zoo.py", section)


def main() -> None:
    import zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(zoo.ZOO))
    parser.add_argument("--flavours", default="tf_keras,keras3")
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "FLAVOUR"))
    args = parser.parse_args()
    if args.one:
        one(*args.one)
        return
    # Smoke mode (CI) writes nothing: zoo_rows.json and RESULTS.md keep the real runs.
    rows = collect(args.models.split(","), args.flavours.split(","), each=None if SMOKE else write)
    print(table(rows))


if __name__ == "__main__":
    main()
