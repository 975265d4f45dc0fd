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
from pathlib import Path
from typing import Any

from studio.values import sensitivity, tensor_fidelity
from studio.values.metrics import LayerFigures
from studio.values.sensitivity import FRAGILE_MAE, FRAGILE_POINTS, TECHNIQUES, LayerSensitivity

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
class TensorOverlay:
    """A figure known per tensor (the quantizer's per-tensor SNR), put on the operator
    that makes the tensor (`outputs`) or reads it as its weights: exact, no mapping."""

    key: str
    title: str
    thresholds: tuple[Threshold, ...]

    def node_data(
        self, values: dict[str, float], tensors: Iterable[tuple[int, str]], graph: str
    ) -> dict[str, Any]:
        """`values` by tensor name; `tensors` as (operator index, tensor name).  An
        operator with several such tensors shows the lowest."""
        results: dict[str, dict[str, float]] = {}
        for index, name in tensors:
            if name in values:
                value = round(values[name], 2)
                known = results.get(str(index))
                if known is None or value < known["value"]:
                    results[str(index)] = {"value": value}
        return graph_data(graph, self.title, self.thresholds, results)


@dataclass(frozen=True)
class LayerOverlay:
    """A figure known per Keras layer (not per weight tensor), put on the operators the
    converter made of that layer: each of them gets the layer's value, and what did not
    map one to one is said, in the overlay's name and line by line (`mapping`)."""

    key: str
    title: str
    thresholds: tuple[Threshold, ...]
    worse: Callable[[float, float], float] = max  # of two values, the worse (SNR: min)

    def node_data(
        self, values: dict[str, float], ops: Iterable[tuple[int, str]], graph: str
    ) -> tuple[dict[str, Any], list[str]]:
        """`values` by layer; `ops` as (operator index, layer) for every layer each
        operator that is not pass-through was made of.  The node data, and the layers
        that map to several operators or to none, or share one with another layer."""
        by_layer: dict[str, list[int]] = {}
        for index, layer in ops:
            by_layer.setdefault(layer, []).append(index)
        results, mapping, several, none = {}, [], 0, 0
        shown_as: dict[int, list[str]] = {}
        for layer, value in values.items():
            indices = by_layer.get(layer, [])
            if not indices:
                none += 1
                mapping.append(f"{layer}: no operator of the graph (removed)")
            elif len(indices) > 1:
                several += 1
                mapping.append(
                    f"{layer}: {len(indices)} operators ({', '.join(map(str, indices))}), "
                    f"each shown with the layer's value"
                )
            for index in indices:
                shown_as.setdefault(index, []).append(layer)
                shown = round(value, 2)
                if str(index) in results:  # fused layers, each with a figure: the worse
                    shown = self.worse(shown, results[str(index)]["value"])
                results[str(index)] = {"value": shown}
        fused = [index for index, layers in shown_as.items() if len(layers) > 1]
        for index in fused:
            mapping.append(
                f"operator {index} is made of {', '.join(shown_as[index])} (fused): it shows "
                f"the worst of their values"
            )
        said = [f"{several} layer(s) on several operators"] if several else []
        said += [f"{none} on none"] if none else []
        said += [f"{len(fused)} operator(s) fused from several"] if fused else []
        title = f"{self.title}; {', '.join(said)} (mapping.txt)" if said else self.title
        return graph_data(graph, title, self.thresholds, results), mapping


# The quantized candidate against its float twin (fidelity.json): lower is worse.
SNR_SCALE = (
    Threshold(10, "#de2d26", "≤10 dB red"),
    Threshold(20, "#fc9272", "≤20 dB salmon"),
    Threshold(30, "#fee0d2", "≤30 dB pink"),
    Threshold(1e9, "#eeeeee", "above grey"),
)
OUTPUT_SNR = TensorOverlay("output_snr", "Output SNR, dB (quantized vs float)", SNR_SCALE)
WEIGHT_SNR = TensorOverlay("weight_snr", "Weight SNR, dB (quantized vs float)", SNR_SCALE)
SNR = LayerOverlay("snr", "Layer SNR, dB (its worst tensor)", SNR_SCALE, min)

# The sensitivity pass (values/sensitivity.py): what one layer treated alone costs.
TOP1_SCALE = (
    Threshold(1, "#eeeeee", "≤1 pt grey"),
    Threshold(5, "#fed976", "≤5 pt yellow"),
    Threshold(FRAGILE_POINTS, "#fd8d3c", f"≤{FRAGILE_POINTS:g} pt orange"),
    Threshold(1e9, "#e31a1c", "above red (fragile)"),
)
MAE_SCALE = (
    Threshold(5, "#eeeeee", "≤5 % grey"),
    Threshold(20, "#fed976", "≤20 % yellow"),
    Threshold(FRAGILE_MAE * 100, "#fd8d3c", f"≤{FRAGILE_MAE * 100:g} % orange"),
    Threshold(1e9, "#e31a1c", "above red (fragile)"),
)
TREATED = {"prune": "Layer pruned alone to {:.0%}", "cluster": "Layer clustered alone to {:g}"}


def sensitivity_overlays(
    results: Iterable[LayerSensitivity],
) -> list[tuple[LayerOverlay, dict[str, float]]]:
    """One overlay per technique of the pass, with each layer's drop (top-1 points lost,
    or the MAE's rise in %; never below 0: a layer that gained shows as no loss)."""
    out = []
    rows = list(results)
    for technique in TECHNIQUES:
        chosen = [r for r in rows if r.technique == technique]
        if not chosen:
            continue
        first = chosen[0]
        top1 = first.metric == "top1"
        title = (
            f"{TREATED[technique].format(first.setting)}: "
            f"{'top-1 points lost' if top1 else 'MAE rise, %'} (no fine-tune)"
        )
        overlay = LayerOverlay(f"{technique}_sensitivity", title, TOP1_SCALE if top1 else MAE_SCALE)
        out.append((overlay, {r.layer: max(0.0, r.drop) for r in chosen}))
    return out


# Every overlay a candidate can have, in the order Model Explorer lists them: the ones
# read from the file first, then those that need the candidate's or the session's figures.
KEYS = (
    *(o.key for o in OVERLAYS),
    OUTPUT_SNR.key,
    WEIGHT_SNR.key,
    SNR.key,
    *(f"{t}_sensitivity" for t in TECHNIQUES),
)


def sources(model: Path) -> tuple[Path, Path]:
    """The figures a candidate's overlays read besides its file: the candidate's
    per-tensor fidelity (beside the file) and its session's sensitivity pass (the
    session's folder holds the candidate's)."""
    return model.parent / tensor_fidelity.FILE, model.parent.parent / sensitivity.FILE
