"""Sparse storage and sparse kernels (issue 37): what pruning buys in the file and in speed.

Two float MobileNetV2 models (alpha 0.5, 96 px, 10 classes), trained here for a few
epochs on the bundled digits upscaled to RGB, each pruned to 80 % by the studio's own
pipeline with sparse storage on (`pruning.sparse_format`), in float and in int8:

- "MobileNetV2-style": inverted residual blocks as Keras' MobileNetV2 builds them, but
  every stride-2 convolution is `ZeroPadding2D(1)` + `padding="valid"`: the graph
  XNNPACK's sparse inference takes (the speed advisor says whether it does);
- Keras' own `keras.applications.MobileNetV2`, which pads (0, 1) at stride 2: refused
  by the rules (the advisor names the op), measured all the same.

Per candidate, from the studio's figures: raw size, gzip and memory of the sparse file
and of its dense twin, top-1 of both, which kernels ran it, and the latency of both at 1
thread, timed together (same rounds, same process): dense over sparse, with the spread.
Goal (issue 37): where the rules allow, the sparse float model is faster than the dense
one at 1 thread, smaller raw, and as accurate.

    python benchmarks/sparse.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if __name__ == "__main__" and sys.argv[1:2] == ["--time"]:
    SMOKE = False  # the emulated child (see `emulated`): neither TensorFlow nor the studio
else:
    from common import ROOT, SMOKE, emit, write_section

SIZE, ALPHA, CLASSES = 96, 0.5, 10
SPARSITY = 0.8


def _digits(size: int, n: int) -> dict[str, np.ndarray]:
    with np.load(ROOT / "resources" / "demo" / "digits.npz") as d:
        x = np.concatenate([d["x_train"], d["x_test"]])[:n]
        y = np.concatenate([d["y_train"], d["y_test"]])[:n]
    x = x.reshape(len(x), 8, 8).astype(np.float32) / max(1.0, float(x.max()))
    factor = -(-size // 8)
    x = np.repeat(np.repeat(x, factor, axis=1), factor, axis=2)[:, :size, :size, None]
    return {"x": np.repeat(x, 3, axis=-1), "y": y.astype(np.int64)}


def _divisible(v: float, divisor: int = 8) -> int:
    out = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * v else out


def mobilenet_v2_style(keras, size: int, alpha: float = ALPHA):
    """MobileNetV2's layout (Sandler et al. 2018, as keras.applications builds it) with
    explicit symmetric padding before every stride-2 convolution."""
    L = keras.layers
    inp = keras.Input((size, size, 3), name="image")
    x = L.ZeroPadding2D(1, name="stem_pad")(inp)
    x = L.Conv2D(_divisible(32 * alpha), 3, strides=2, use_bias=False, name="stem")(x)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(6.0, name="stem_relu")(x)
    channels = x.shape[-1]
    # (expansion, output channels, repeats, first stride)
    blocks = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
              (6, 160, 3, 2), (6, 320, 1, 1)]  # fmt: skip
    n = 0
    for expansion, out, repeats, first in blocks:
        out = _divisible(out * alpha)
        for r in range(repeats):
            stride, name = (first if r == 0 else 1), f"block{n}"
            y = x
            if expansion != 1:
                y = L.Conv2D(channels * expansion, 1, use_bias=False, name=f"{name}_expand")(y)
                y = L.BatchNormalization(name=f"{name}_expand_bn")(y)
                y = L.ReLU(6.0, name=f"{name}_expand_relu")(y)
            if stride == 2:
                y = L.ZeroPadding2D(1, name=f"{name}_pad")(y)
            y = L.DepthwiseConv2D(
                3, strides=stride, padding="same" if stride == 1 else "valid",
                use_bias=False, name=f"{name}_dw",
            )(y)  # fmt: skip
            y = L.BatchNormalization(name=f"{name}_dw_bn")(y)
            y = L.ReLU(6.0, name=f"{name}_dw_relu")(y)
            y = L.Conv2D(out, 1, use_bias=False, name=f"{name}_project")(y)
            y = L.BatchNormalization(name=f"{name}_project_bn")(y)
            x = L.Add(name=f"{name}_add")([x, y]) if stride == 1 and channels == out else y
            channels, n = out, n + 1
    x = L.Conv2D(1280, 1, use_bias=False, name="head_conv")(x)
    x = L.BatchNormalization(name="head_bn")(x)
    x = L.ReLU(6.0, name="head_relu")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inp, L.Dense(CLASSES, activation="softmax", name="logits")(x))


def _train(model, data: dict, epochs: int) -> None:
    import tf_keras as keras

    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.momentum = 0.9  # see tests/zoo.py: a few epochs must settle the statistics
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy")
    model.fit(data["x"], data["y"], epochs=epochs, batch_size=32, verbose=0)


def measure_model(name: str, model, data: dict, folder: Path) -> list[dict]:
    """The studio's figures for the model pruned once (one fine-tune) and finished as a
    float and an int8 candidate with sparse storage; the float pair also under emulation."""
    from studio.engine.convert import convert
    from studio.engine.pipeline import fine_tune_prefix, finish, prepare
    from studio.values.recipe import Pruning, Quantization, Recipe

    model_path, data_path = folder / f"{name}.keras", folder / "data.npz"
    model.save(model_path)
    np.savez(data_path, **data)
    pruning = Pruning(target_sparsity=SPARSITY, epochs=1 if SMOKE else 4, sparse_format=True)
    prep = prepare(model_path, data_path, seed=0)
    prefix = fine_tune_prefix(prep, Recipe(pruning=pruning))
    rows = []
    for mode in ("none", "int8"):
        recipe = Recipe(pruning=pruning, quantization=Quantization(mode=mode))
        out = folder / mode
        out.mkdir()
        m = finish(prep, prefix, recipe, out, reference=None, baseline=None, seconds={})
        t, advice = m.dense, m.sparse_advice
        row = {
            "model": name,
            "mode": "float" if mode == "none" else mode,
            "sparse_bytes": m.size_bytes,
            "dense_bytes": t.size_bytes,
            "sparse_gzip": m.gzip_bytes,
            "dense_gzip": t.gzip_bytes,
            "sparse_memory": m.peak_memory_bytes,
            "dense_memory": t.peak_memory_bytes,
            "sparse_top1": m.accuracy,
            "dense_top1": t.accuracy,
            "max_output_diff": t.max_output_diff,
            "kernels": m.kernels,
            "sparse_ms": t.sparse_latency_ms.to_dict(),
            "dense_ms": t.latency_ms.to_dict(),
            "speedup": t.speedup,
            "measurable": t.measurable,
            "applies": advice.applies,
            "advice": advice.summary(),
            "zeros_1x1": advice.zeros,
            "emulated": None,
        }
        if mode == "none":
            dense = folder / "dense.tflite"
            dense.write_bytes(convert(prefix.model, Quantization()))
            row["emulated"] = emulated(dense, out / "model.tflite")
        rows.append(row)
        print(rows[-1], flush=True)
    return rows


EMULATOR = "qemu-x86_64"
EMULATED_CPU = "Nehalem"  # SSE4.2, no AVX: XNNPACK keeps its sparse inference on
EMULATED_ROUNDS = 3 if SMOKE else 15


def emulated(dense: Path, sparse: Path) -> dict | None:
    """Dense and sparse float files timed, alternating, in a child process under qemu-user
    emulating a CPU without AVX, where XNNPACK's sparse inference is on (it is off on x86
    with AVX, i.e. on this machine natively).  None without the emulator (apt install
    qemu-user).  Emulated milliseconds are not a phone's: the ratio is the figure."""
    import shutil
    import subprocess
    import sys

    if shutil.which(EMULATOR) is None:
        return None
    env = {"PATH": "/usr/bin:/bin", "OPENBLAS_CORETYPE": EMULATED_CPU}  # numpy's BLAS
    done = subprocess.run(
        [EMULATOR, "-cpu", EMULATED_CPU, sys.executable, __file__, "--time", str(dense),
         str(sparse), str(EMULATED_ROUNDS)],
        capture_output=True, text=True, env=env, timeout=3600,
    )  # fmt: skip
    if done.returncode != 0:
        print(f"emulation failed: {done.stderr[-500:]}", flush=True)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _time_pair(dense: str, sparse: str, rounds: int) -> None:
    """The child under the emulator: numpy and LiteRT only; one input, both files on
    1 thread, rounds alternating; medians, spread and whether outputs agree."""
    from ai_edge_litert.interpreter import Interpreter

    x = np.random.RandomState(0).rand(*_input_shape(dense)).astype(np.float32)
    interps = []
    for path in (dense, sparse):
        it = Interpreter(model_path=path, num_threads=1)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        interps.append(it)
    outs = [it.get_tensor(it.get_output_details()[0]["index"]) for it in interps]
    times: list[list[float]] = [[], []]
    for r in range(rounds):
        for i in (0, 1) if r % 2 == 0 else (1, 0):
            t = time.perf_counter()
            interps[i].invoke()
            times[i].append((time.perf_counter() - t) * 1000)
    d, s = (float(np.median(t)) for t in times)
    print(json.dumps({
        "cpu": EMULATED_CPU, "rounds": rounds, "dense_ms": d, "sparse_ms": s,
        "dense_range": [min(times[0]), max(times[0])],
        "sparse_range": [min(times[1]), max(times[1])],
        "speedup": d / s, "max_output_diff": float(np.max(np.abs(outs[0] - outs[1]))),
    }))  # fmt: skip


def _input_shape(path: str) -> list[int]:
    from ai_edge_litert.interpreter import Interpreter

    return list(Interpreter(model_path=path).get_input_details()[0]["shape"])


def table(rows: list[dict]) -> tuple[str, list[str]]:
    from studio.values.metrics import SPEEDUP_FLOOR

    lines = [
        "| model | weights | XNNPACK sparse rules | kernels | raw size sparse / dense | "
        "gzip sparse / dense | memory sparse / dense | top-1 sparse / dense | "
        "latency 1 thread, sparse / dense (timed together) | dense ÷ sparse | "
        "emulated CPU without AVX: sparse / dense, dense ÷ sparse |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for r in rows:
        s, d = r["sparse_ms"], r["dense_ms"]
        lines.append(
            f"| {r['model']} | {r['mode']} | {'met' if r['applies'] else 'not met'} | "
            f"{r['kernels']} | {r['sparse_bytes'] / 1024:.1f} / {r['dense_bytes'] / 1024:.1f} "
            f"KB ({r['sparse_bytes'] / r['dense_bytes']:.2f}x) | {r['sparse_gzip'] / 1024:.1f} / "
            f"{r['dense_gzip'] / 1024:.1f} KB | {r['sparse_memory'] / 2**20:.1f} / "
            f"{r['dense_memory'] / 2**20:.1f} MB | {100 * r['sparse_top1']:.1f} / "
            f"{100 * r['dense_top1']:.1f} % | {s['median']:.3f} ms ({s['low']:.3f}–{s['high']:.3f})"
            f" / {d['median']:.3f} ms ({d['low']:.3f}–{d['high']:.3f}) | {r['speedup']:.2f}x"
            f"{'' if r['measurable'] else ' (within noise)'} | {_emulated_text(r['emulated'])} |"
        )
        if r["mode"] == "float" and r["applies"]:
            faster = r["measurable"] and r["speedup"] > 1  # past the noise floor too
            e = r["emulated"]
            faster_emulated = e is not None and e["speedup"] >= 1 + SPEEDUP_FLOOR
            smaller = r["sparse_bytes"] < r["dense_bytes"]
            equal = r["sparse_top1"] == r["dense_top1"]
            verdicts.append(
                f"{r['model']}, float, rules met ({100 * r['zeros_1x1']:.0f} % zeros in the "
                f"1x1 convolutions): sparse {'faster' if faster else 'not faster'} than dense "
                f"at 1 thread on this CPU ({r['speedup']:.2f}x: XNNPACK's sparse path is off "
                f"with AVX), {_emulated_text(e)} on an emulated CPU without AVX; raw "
                f"{r['sparse_bytes'] / r['dense_bytes']:.2f}x "
                f"({'smaller' if smaller else 'not smaller'}), top-1 "
                f"{'equal' if equal else 'different'}: "
                + ("met (speed on the emulated CPU)" if faster_emulated and smaller and equal
                   else "met" if faster and smaller and equal else "missed")
            )
        elif r["mode"] == "float":
            verdicts.append(f"{r['model']}, float: the advisor says: {r['advice']}")
        else:
            verdicts.append(
                f"{r['model']}, int8: sparse raw {r['sparse_bytes'] / r['dense_bytes']:.2f}x "
                f"the dense int8 file; runs on the {r['kernels']} kernels, "
                f"{r['speedup']:.2f}x the dense int8 file's speed on XNNPACK; top-1 "
                f"{100 * r['sparse_top1']:.1f} vs {100 * r['dense_top1']:.1f} % (the same "
                f"int8 weights, other kernels' arithmetic)"
            )
    return "\n".join(lines), verdicts


def _emulated_text(e: dict | None) -> str:
    if e is None:
        return "not run (apt install qemu-user)"
    return (
        f"{e['sparse_ms']:.1f} / {e['dense_ms']:.1f} ms, {e['speedup']:.2f}x "
        f"({e['cpu']}, {e['rounds']} rounds)"
    )


def main() -> None:
    import tf_keras as keras

    from studio.engine import measure
    from studio.values.metrics import SPEEDUP_FLOOR

    size = 32 if SMOKE else SIZE
    data = _digits(size, 300 if SMOKE else 1300)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in (
            ("MobileNetV2-style (explicit padding)", lambda: mobilenet_v2_style(keras, size)),
            (
                "keras.applications.MobileNetV2",
                lambda: keras.applications.MobileNetV2(
                    input_shape=(size, size, 3), alpha=ALPHA, weights=None, classes=CLASSES
                ),
            ),
        ):
            keras.utils.set_random_seed(0)
            model = build()
            _train(model, data, 1 if SMOKE else 5)
            folder = Path(tmp) / str(len(rows))
            folder.mkdir()
            rows += measure_model(name, model, data, folder)
            if SMOKE:
                break
    body, verdicts = table(rows)
    cpu = "this CPU"
    with open("/proc/cpuinfo") as f:
        flags = next((ln for ln in f if ln.startswith("flags")), "")
    if " avx" in flags:
        cpu = "this x86 CPU with AVX"
    note = (
        f"Machine: {cpu}. XNNPACK (`xnn_is_chw_compatible_config`) turns its sparse "
        f"inference off on x86 with AVX, so natively the sparse float file runs the same "
        f"dense kernels as the dense one (after DENSIFY at load): a ratio within "
        f"{SPEEDUP_FLOOR:.0%} of 1 is not counted as a speed-up. The last column runs the same "
        f"two files on one thread under `{EMULATOR} -cpu {EMULATED_CPU}` (a CPU without AVX, "
        f"emulated in software, where XNNPACK does take its sparse path): emulated "
        f"milliseconds are not a phone's, the ratio says what the sparse kernels save; "
        f"Keras' own MobileNetV2, which the rules refuse, is the control. XNNPACK reports "
        f"1.2–2.4x on ARM phones (MediaPipe, Meet). A sparse float file needs more memory "
        f"than the dense one: DENSIFY keeps the dense weights at run time beside the sparse "
        f"ones. {measure.BUILTIN_NOTE.split(':')[0]} for sparse int8 files (the default "
        f"XNNPACK delegate of ai-edge-litert 2.3.0 fails to prepare them)."
    )
    write_section(
        "sparse",
        "benchmarks/sparse.py",
        f"{body}\n\n" + "\n".join(f"- {v}" for v in verdicts) + f"\n\n{note}",
    )
    print(body)
    print("\n".join(verdicts))
    emit({"rows": rows, "verdicts": verdicts})


if __name__ == "__main__":
    if sys.argv[1:2] == ["--time"]:
        _time_pair(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
