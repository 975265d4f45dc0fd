"""Two candidates side by side: every recipe field, every figure, every layer.

Plain rows of text (no Qt), so the comparison dialog only lays them out, and a test can
read what a user would.  Rows where the two differ are marked: they are what explains a
difference in the figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio.values import figures, units
from studio.values.metrics import Metrics
from studio.values.session import Candidate

OFF = "off"


@dataclass(frozen=True)
class Row:
    section: str  # "recipe", "figures", "layers"
    name: str
    a: str
    b: str

    @property
    def differs(self) -> bool:
        return self.a != self.b


def _flat(recipe: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for section, value in recipe.items():
        if isinstance(value, dict):
            for key, item in value.items():
                shown = ", ".join(item) if isinstance(item, list) else item
                out[f"{section}.{key}"] = "default" if item is None else str(shown)
        elif value is None:
            out[section] = OFF
        else:
            out[section] = str(value)
    return out


def _recipe_rows(a: Candidate, b: Candidate) -> list[Row]:
    fa, fb = _flat(a.recipe.to_dict()), _flat(b.recipe.to_dict())
    names = list(dict.fromkeys([*fa, *fb]))
    # A section one side does not use reads "off" on that side for each of its fields.
    return [
        Row(
            "recipe",
            n,
            fa.get(n, fa.get(n.split(".")[0], OFF)),
            fb.get(n, fb.get(n.split(".")[0], OFF)),
        )
        for n in names
    ]


def _figures(m: Metrics | None, baseline: Metrics | None) -> dict[str, str]:
    if m is None:
        return {}
    return {f.title: f.words(m, baseline) for f in figures.shown_in(figures.COMPARE)}


def _layers(m: Metrics | None) -> dict[str, str]:
    """Per Keras layer, its weight tensors as read back from the .tflite."""
    out: dict[str, list[str]] = {}
    for layer in m.layers if m else ():
        out.setdefault(layer.name, []).append(
            f"{layer.dtype}, {units.percent(layer.sparsity)} zeros, {layer.unique_values} values"
        )
    return {name: "; ".join(parts) for name, parts in out.items()}


def compare(a: Candidate, b: Candidate, baseline: Metrics | None) -> list[Row]:
    rows = [Row("recipe", "label", a.label, b.label), *_recipe_rows(a, b)]
    fa, fb = _figures(a.metrics, baseline), _figures(b.metrics, baseline)
    rows += [Row("figures", n, fa.get(n, "—"), fb.get(n, "—")) for n in dict.fromkeys([*fa, *fb])]
    la, lb = _layers(a.metrics), _layers(b.metrics)
    rows += [
        Row("layers", n, la.get(n, "not stored"), lb.get(n, "not stored"))
        for n in dict.fromkeys([*la, *lb])
    ]
    return rows
