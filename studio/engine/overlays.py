"""A candidate's `.tflite` as Model Explorer overlays (node-data JSON files).

The figures are read back from the file itself (`tflite_file.weight_figures`, one per
weight tensor, with the index of the operator that reads it), so every key names an
operator of the graph Model Explorer draws.  Beside them, when known: the candidate's
per-tensor SNR against its float twin (its `fidelity.json`), put on the operator that
makes or reads each tensor, and per layer; and the session's sensitivity pass, per
layer.  What each overlay shows and how it is coloured is `studio.values.overlays`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from studio.engine.tflite_file import (
    graph_id,
    graph_ops,
    layers_in,
    op_outputs,
    read_checked,
    weight_figures,
    with_graph_id,
)
from studio.values import atomic, sensitivity, tensor_fidelity
from studio.values.metrics import LayerFigures
from studio.values.overlays import (
    KEYS,
    OUTPUT_SNR,
    OVERLAYS,
    SNR,
    WEIGHT_SNR,
    sensitivity_overlays,
    sources,
)
from studio.values.sensitivity import LayerSensitivity
from studio.values.sparse_speed import PASS_THROUGH
from studio.values.tensor_fidelity import Fidelity


def node_data(
    data: bytes,
    fidelity: Fidelity | None = None,
    layers: Sequence[LayerSensitivity] | None = None,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Every overlay this file has figures for, by key (`KEYS` order): those of
    `OVERLAYS`; the quantization SNR per tensor and per layer when the candidate's
    `fidelity` is known; the sensitivity pass's drop per layer when `layers` are given.
    And how the per-layer figures mapped to operators (one line a layer)."""
    figures = weight_figures(data)
    graph = graph_id(data)
    out = {o.key: o.node_data(figures, graph) for o in OVERLAYS}
    per_layer = []
    snr = {t.name: t.snr_db for t in fidelity.tensors if t.snr_db is not None} if fidelity else {}
    if snr:
        out[OUTPUT_SNR.key] = OUTPUT_SNR.node_data(snr, op_outputs(data), graph)
        weights = [(f.op_index, f.tensor) for f in figures]
        out[WEIGHT_SNR.key] = WEIGHT_SNR.node_data(snr, weights, graph)
        per_layer.append((SNR, fidelity.by_layer()))
    per_layer += sensitivity_overlays(layers or ())
    mapping: list[str] = []
    if per_layer:
        ops = _layer_ops(data, figures)
        for overlay, values in per_layer:
            out[overlay.key], lines = overlay.node_data(values, ops, graph)
            mapping += [line for line in lines if line not in mapping]
    return {key: out[key] for key in KEYS if key in out}, mapping


def _layer_ops(data: bytes, figures: Sequence[LayerFigures]) -> list[tuple[int, str]]:
    """(operator index, layer) for every layer an operator was made of: each layer named
    in its output's name (a convolution fused with its BatchNormalization and ReLU holds
    all three) or its weights' name; pass-through operators left out."""
    kinds = {op.index: op.kind for op in graph_ops(data)}
    named = [*op_outputs(data), *((f.op_index, f.tensor) for f in figures)]
    pairs = {
        (index, layer)
        for index, name in named
        if kinds.get(index) not in PASS_THROUGH
        for layer in layers_in(name)
    }
    return sorted(pairs)


def write(model: str | Path, out: str | Path, graph: str = "") -> list[Path]:
    """Write KEY.json for each overlay of `model` into `out` (those needing figures from
    `values.overlays.sources` when they exist; an older file of one that has no figures
    now is removed) and `mapping.txt` (layers that map to several operators or none);
    the overlays' paths, in `KEYS` order.  With `graph`, the model is shown beside
    another: its copy `out/GRAPH.tflite` has its graph named `graph` (Model Explorer
    tells models apart by file name and graphs by id) and the overlays are keyed so."""
    model, out = Path(model), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = read_checked(model)
    if graph:
        data = with_graph_id(data, graph)
        atomic.write_bytes(out / f"{graph}.tflite", data)
    fidelity_file, sensitivity_file = sources(model)
    overlays, mapping = node_data(
        data,
        tensor_fidelity.read(fidelity_file.parent),
        sensitivity.read(sensitivity_file.parent),
    )
    for key in set(KEYS) - set(overlays):
        (out / f"{key}.json").unlink(missing_ok=True)
    paths = [atomic.write_json(out / f"{key}.json", data) for key, data in overlays.items()]
    # Last: its time says the overlays are whole and as new as their figures (explorer.py).
    atomic.write_text(out / "mapping.txt", "".join(f"{line}\n" for line in mapping))
    return paths


if __name__ == "__main__":  # `python -m studio.engine.overlays MODEL OUT [GRAPH]` (explorer.py)
    write(*sys.argv[1:4])
