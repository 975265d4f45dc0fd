"""A candidate's `.tflite` as Model Explorer overlays (node-data JSON files).

The figures are read back from the file itself (`tflite_file.weight_figures`, one per
weight tensor, with the index of the operator that reads it), so every key names an
operator of the graph Model Explorer draws.  What each overlay shows and how it is
coloured is the table in `studio.values.overlays`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from studio.engine.tflite_file import graph_id, graph_ops, read_checked, weight_figures
from studio.values import atomic, tensor_fidelity
from studio.values.overlays import OVERLAYS, SNR
from studio.values.sparse_speed import PASS_THROUGH
from studio.values.tensor_fidelity import Fidelity


def node_data(
    data: bytes, fidelity: Fidelity | None = None
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Every overlay of `OVERLAYS` for this file by key, plus the quantization SNR per
    layer when the candidate's `fidelity` is known; and how its layers mapped to ops."""
    figures = weight_figures(data)
    graph = graph_id(data)
    out = {o.key: o.node_data(figures, graph) for o in OVERLAYS}
    mapping: list[str] = []
    snr = fidelity.by_layer() if fidelity is not None else {}
    if snr:
        ops = [(op.index, op.layer) for op in graph_ops(data) if op.kind not in PASS_THROUGH]
        out[SNR.key], mapping = SNR.node_data(snr, ops, graph)
    return out, mapping


def write(model: str | Path, out: str | Path) -> list[Path]:
    """Write KEY.json for each overlay of `model` into `out` (the SNR one when the
    candidate's folder holds its fidelity.json) and `mapping.txt` (layers that map to
    several operators or none); the overlays' paths, in table order."""
    model, out = Path(model), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    overlays, mapping = node_data(read_checked(model), tensor_fidelity.read(model.parent))
    atomic.write_text(out / "mapping.txt", "".join(f"{line}\n" for line in mapping))
    return [atomic.write_json(out / f"{key}.json", data) for key, data in overlays.items()]


if __name__ == "__main__":  # `python -m studio.engine.overlays MODEL OUT` (jobs/explorer.py)
    write(sys.argv[1], sys.argv[2])
