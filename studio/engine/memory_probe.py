"""Child process of `measure.probe`: load a .tflite, run it once, print peak memory.

Run as `python -m studio.engine.memory_probe FILE THREADS KERNELS [INPUT_NAME …]` (KERNELS:
`measure.kernels`' choice, made by the parent so its trial does not count here) with an optional
.npz sample on stdin (`x0`, `x1`, … in the order of the input names).  It imports only numpy and LiteRT (not
TensorFlow), so the figure is close to what an app on a phone pays, and a crash here kills only this process.
"""

from __future__ import annotations

import io
import json
import sys

import numpy as np


def _status_bytes(field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of this process.

    VmHWM belongs to this process's own address space; getrusage's ru_maxrss does not
    (after fork + exec it still holds the parent's peak, e.g. a whole TensorFlow).
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def main(path: str, threads: int, kernels: str, inputs: list[str]) -> dict:
    from studio.engine.measure import interpreter, io_details, to_input

    raw = sys.stdin.buffer.read()
    samples = dict(np.load(io.BytesIO(raw), allow_pickle=False)) if raw else {}
    before = _status_bytes("VmRSS")
    interp = interpreter(path, threads, chosen=kernels)
    interp.allocate_tensors()
    for i, inp in enumerate(io_details(interp, inputs)[0]):
        sample = samples.get(f"x{i}")
        if sample is not None and tuple(sample.shape) == tuple(inp["shape"]):
            interp.set_tensor(inp["index"], to_input(sample, inp))
    interp.invoke()
    peak = _status_bytes("VmHWM")
    return {"peak_memory_bytes": max(0, peak - before), "process_peak_bytes": peak}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:])))
