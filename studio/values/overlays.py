"""Model Explorer overlays: a candidate's per-operator figures as "node data" files.

Google's Model Explorer (`ai-edge-model-explorer`) draws a `.tflite` graph and colours its
nodes from node-data JSON: per graph id, `results` maps a node id to `{"value": number}`
and `thresholds` colour the values (a value up to a threshold's `value` gets its
`bgColor`; above the last, none).  For a `.tflite`, a node's id is its operator's index
in the subgraph, as a string.  (Format: model_explorer/node_data_builder.py,
`ModelNodeData`: `{graph_id: GraphNodeData}`.)

Each overlay is one entry of `OVERLAYS`: its title, how it is read from a weight
tensor's figures (`LayerFigures`, read back from the file by the engine), and its colour
scale, whose legend is part of the name Model Explorer shows.  Adding one is one entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from studio.values.metrics import LayerFigures

BITS = {"int4": 4, "int8": 8, "float16": 16, "float32": 32}


@dataclass(frozen=True)
class Threshold:
    upto: float  # values up to this one (and above the previous) get `color`
    color: str
    label: str  # the legend's words for this band


def graph_data(
    graph: str, title: str, thresholds: tuple[Threshold, ...], results: dict[str, Any]
) -> dict[str, Any]:
    """One graph's node data: named by its title with the legend, coloured by thresholds."""
    legend = ", ".join(t.label for t in thresholds)
    return {
        graph: {
            "name": f"{title} ({legend})",
            "results": results,
            "thresholds": [{"value": t.upto, "bgColor": t.color} for t in thresholds],
        }
    }


@dataclass(frozen=True)
class Overlay:
    key: str  # the file's name: KEY.json
    title: str
    read: Callable[[LayerFigures], float | None]
    thresholds: tuple[Threshold, ...]

    def node_data(self, figures: Iterable[LayerFigures], graph: str) -> dict[str, Any]:
        """Model Explorer's node data for one graph: each operator that reads a weight
        tensor, by index, with the overlay's value for it.  A tensor shared by several
        operators is given to the first (the figures name one)."""
        results = {}
        for f in figures:
            value = self.read(f)
            if f.op_index >= 0 and value is not None and str(f.op_index) not in results:
                results[str(f.op_index)] = {"value": value}
        return graph_data(graph, self.title, self.thresholds, results)


OVERLAYS: tuple[Overlay, ...] = (
    Overlay(
        "sparsity",
        "Zeros, % of the weights",
        lambda f: round(100 * f.sparsity, 2),
        (
            Threshold(10, "#eeeeee", "≤10 % grey"),  # exact zeros (int8: the zero point)
            Threshold(50, "#c7e9c0", "≤50 % light green"),
            Threshold(75, "#74c476", "≤75 % green"),
            Threshold(100, "#238b45", "above dark green"),
        ),
    ),
    Overlay(
        "unique_values",
        "Distinct weight values (per channel for per-channel int8)",
        lambda f: f.unique_values,
        (
            Threshold(16, "#756bb1", "≤16 purple (clustered)"),
            Threshold(256, "#bcbddc", "≤256 lilac"),
            Threshold(1e9, "#eeeeee", "more grey"),
        ),
    ),
    Overlay(
        "weight_bits",
        "Weight type, bits",
        lambda f: BITS.get(f.dtype),
        (
            Threshold(4, "#fd8d3c", "4 (int4) orange"),
            Threshold(8, "#6baed6", "8 (int8) blue"),
            Threshold(16, "#c6dbef", "16 (float16) light blue"),
            Threshold(32, "#eeeeee", "32 (float) grey"),
        ),
    ),
)


@dataclass(frozen=True)
class LayerOverlay:
    """A figure known per Keras layer (not per weight tensor), put on the operators the
    converter made of that layer: each of them gets the layer's value, and what did not
    map one to one is said (`mapping`)."""

    key: str
    title: str
    thresholds: tuple[Threshold, ...]

    def node_data(
        self, values: dict[str, float], ops: Iterable[tuple[int, str]], graph: str
    ) -> tuple[dict[str, Any], list[str]]:
        """`values` by layer; `ops` as (operator index, layer) for every operator that is
        not pass-through.  The node data, and the layers that map to several operators
        or to none."""
        by_layer: dict[str, list[int]] = {}
        for index, layer in ops:
            by_layer.setdefault(layer, []).append(index)
        results, mapping = {}, []
        for layer, value in values.items():
            indices = by_layer.get(layer, [])
            if not indices:
                mapping.append(f"{layer}: no operator of the graph (fused or removed)")
            elif len(indices) > 1:
                mapping.append(
                    f"{layer}: {len(indices)} operators ({', '.join(map(str, indices))}), "
                    f"each shown with the layer's value"
                )
            for index in indices:
                results[str(index)] = {"value": round(value, 2)}
        return graph_data(graph, self.title, self.thresholds, results), mapping


# The quantized candidate against its float twin (fidelity.json): lower is worse.
SNR = LayerOverlay(
    "snr",
    "Quantization SNR per layer, dB (its worst tensor)",
    (
        Threshold(10, "#de2d26", "≤10 dB red"),
        Threshold(20, "#fc9272", "≤20 dB salmon"),
        Threshold(30, "#fee0d2", "≤30 dB pink"),
        Threshold(1e9, "#eeeeee", "above grey"),
    ),
)
