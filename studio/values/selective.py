"""Selective quantization: full int8 with a few layers kept in float, and what it bought.

The diagnosis names the layers that lose the most in int8; keeping them in float is a
recipe rewrite, and whether it was worth it is a comparison with the same recipe in
plain int8.  Both are plain data, so the window only shows the text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from studio.values import units
from studio.values.recipe import Quantization, Recipe
from studio.values.session import Candidate


def keep_in_float(recipe: Recipe, layers: tuple[str, ...]) -> Recipe:
    """`recipe` as full int8 (float I/O, no QAT) with `layers` kept in float."""
    q = recipe.quantization
    if q.mode == "none":
        q = Quantization(mode="int8", float_layers=layers)
    else:
        q = dataclasses.replace(q, mode="int8", qat=False, float_layers=layers, io_type="float32")
    return dataclasses.replace(recipe, quantization=q)


def plain(recipe: Recipe) -> Recipe:
    """The same recipe with no layer kept in float."""
    return dataclasses.replace(
        recipe, quantization=dataclasses.replace(recipe.quantization, float_layers=())
    )


def comparison(candidate: Candidate, finished: Iterable[Candidate]) -> str:
    """One line: the selective candidate against the latest plain one, or what to run."""
    kept = ", ".join(candidate.recipe.quantization.float_layers)
    others = [c for c in finished if c.recipe == plain(candidate.recipe) and c.metrics]
    if not others or candidate.metrics is None:
        return (
            f"{candidate.name} keeps {kept} in float. Run the same recipe with no layer "
            f"in float ({plain(candidate.recipe).describe()}) to see what that buys."
        )
    other = others[-1]
    m, p = candidate.metrics, other.metrics
    accuracy = units.change_text(m, p)
    return (
        f"{candidate.name} (keeps {kept} in float) vs {other.name} ({other.label}, "
        f"the same with no layer in float): "
        f"{accuracy + ' accuracy, ' if accuracy else ''}"
        f"{units.size(m.gzip_bytes - p.gzip_bytes, sign=True)} gzipped, "
        f"{units.duration(m.latency_ms.median - p.latency_ms.median, sign=True)} latency."
    )
