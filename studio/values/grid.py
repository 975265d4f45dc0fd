"""Sweep grids: dotted recipe fields mapped to lists of values, expanded into recipes.

    {"base": {...a recipe...},
     "pruning.target_sparsity": [0.5, 0.8],
     "clustering.clusters": [null, 16],
     "quantization.mode": ["dynamic", "int8", "float16"]}

A value sets that field of the base recipe; a section the base does not have is created
with its defaults.  `null` for a field of the pruning or clustering section switches
that section off, so "clusters {off, 16}" is `[null, 16]`.  Every combination must be a
valid recipe: an impossible one is reported with the values that make it, not skipped.
No TensorFlow here: the window previews a grid before anything runs.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.values.errors import RecipeError, reading_problem
from studio.values.recipe import Clustering, Pruning, Quantization, Recipe

SECTIONS = {"pruning": Pruning, "clustering": Clustering, "quantization": Quantization}
OPTIONAL_SECTIONS = ("pruning", "clustering")


MAX_CANDIDATES = 1000  # a sweep's most candidates (about a day of conversions on a laptop)


class GridError(RecipeError):
    """A grid file or value that cannot make recipes (the message names the key)."""


@dataclass(frozen=True)
class Grid:
    base: Recipe
    axes: tuple[tuple[str, tuple[Any, ...]], ...]  # (dotted field, values), in file order

    @property
    def size(self) -> int:
        n = 1
        for _, values in self.axes:
            n *= len(values)
        return n

    @classmethod
    def from_dict(cls, data: Any, source: str = "grid") -> Grid:
        if not isinstance(data, dict):
            raise GridError(f"{source}: a grid must be a JSON object, got {type(data).__name__}")
        base_data = data.get("base", {})
        try:
            base = Recipe.from_dict(base_data if base_data is not None else {})
        except RecipeError as err:
            raise GridError(f"{source}: base: {err}") from err
        axes = []
        for key, values in data.items():
            if key == "base":
                continue
            _check_key(source, key)
            if not isinstance(values, list) or not values:
                raise GridError(f"{source}: {key}: must be a non-empty list of values")
            axes.append((key, tuple(tuple(v) if isinstance(v, list) else v for v in values)))
        if not axes:
            raise GridError(f'{source}: no fields to vary; add e.g. "quantization.mode": [...]')
        grid = cls(base, tuple(axes))
        if grid.size > MAX_CANDIDATES:  # counted, not expanded: 10^6 combinations hung
            sizes = " × ".join(str(len(values)) for _, values in axes)
            raise GridError(
                f"{source}: {sizes} = {grid.size:,} candidates; a sweep takes at most "
                f"{MAX_CANDIDATES:,} (each is a conversion and a measurement): use fewer values"
            )
        grid.expand()  # every combination must be a valid recipe
        return grid

    @classmethod
    def load(cls, path: str | Path) -> Grid:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise GridError(f"grid file {path} does not exist") from err
        except json.JSONDecodeError as err:
            raise GridError(f"grid file {path}: {reading_problem(err)}") from err
        except (OSError, UnicodeDecodeError) as err:
            raise GridError(f"cannot read grid file {path}: {reading_problem(err)}") from err
        return cls.from_dict(data, source=str(path))

    def expand(self) -> list[tuple[str, Recipe]]:
        """(name, recipe) for every combination, named in order: '01-prune-50-int8'."""
        keys = [key for key, _ in self.axes]
        out = []
        for i, combo in enumerate(itertools.product(*(v for _, v in self.axes)), start=1):
            settings = dict(zip(keys, combo, strict=True))
            try:
                recipe = _apply(self.base, settings)
            except RecipeError as err:
                shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in settings.items())
                raise GridError(f"the combination {shown} is not a valid recipe: {err}") from err
            out.append((f"{i:02d}-{slug(recipe.describe())}", recipe))
        return out


def _check_key(source: str, key: str) -> None:
    if key == "seed":
        return
    section, _, name = key.partition(".")
    if section not in SECTIONS or not name:
        raise GridError(
            f"{source}: {key}: unknown field; use a dotted recipe field such as "
            f"pruning.target_sparsity, clustering.clusters or quantization.mode"
        )
    fields = {f.name for f in dataclasses.fields(SECTIONS[section])}
    if name not in fields:
        raise GridError(
            f"{source}: {key}: unknown field of {section}; known: {', '.join(sorted(fields))}"
        )


def _apply(base: Recipe, settings: dict[str, Any]) -> Recipe:
    sections: dict[str, Any] = {
        "pruning": base.pruning,
        "clustering": base.clustering,
        "quantization": base.quantization,
    }
    changes: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    off: set[str] = set()
    seed = base.seed
    for key, value in settings.items():
        if key == "seed":
            seed = value
            continue
        section, _, name = key.partition(".")
        if value is None and section in OPTIONAL_SECTIONS:
            off.add(section)
        else:
            changes[section][name] = value
    for name, kind in SECTIONS.items():
        if name in off:
            sections[name] = None
        elif changes[name]:
            current = sections[name] or kind()
            sections[name] = dataclasses.replace(current, **changes[name])
    return Recipe(seed=seed, **sections)


def slug(text: str) -> str:
    """A recipe's label as a folder name: "prune 50% + int8" -> "prune-50-int8"."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
