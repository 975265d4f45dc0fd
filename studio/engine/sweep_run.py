"""Running a sweep group: the TensorFlow side of `studio.values.sweep`.

In one process (`run_group`: the local pool), or split for a cluster (`shared_prefix`
then one `finish_one` per candidate, in any process): the group's fine-tuned prefix
travels between them as its layers' weights (`PrefixWeights`), which is all a stripped
pruned or clustered model differs from the loaded one by.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from studio.engine.measure import predict
from studio.engine.pipeline import Prefix, Prepared, check_fits, fine_tune_prefix, finish, prepare
from studio.values import splits
from studio.values.errors import ModelError, StudioError
from studio.values.metrics import Metrics
from studio.values.progress import Event, Report, ignore
from studio.values.recipe import Recipe
from studio.values.results import Result


def run_group(
    model_source: str | os.PathLike,
    data_source: str | os.PathLike,
    out_dir: str | os.PathLike,
    entries: list[tuple[str, dict]],
    *,
    threads: int = 1,
    trust: bool = False,
    baseline_tflite: str | os.PathLike | None = None,
    baseline: dict | None = None,
    report: Report = ignore,
    on_result: Callable[[str, bool], None] | None = None,
) -> list[dict[str, Any]]:
    """Run one group's candidates (names and recipe dicts) after the baseline exists
    (`out_dir/baseline.tflite` unless given; its figures `baseline`, else the
    `baseline.json` beside it).  Each candidate's files go to `out_dir/<name>/`; one
    that fails is recorded with its error, the others go on; `on_result(name, ok)` is
    called as each ends.  Returns `studio.values.results.Result.to_dict()` of each.

    The float model is not converted again: its `.tflite` gives the reference outputs
    every candidate's agreement is measured against.
    """

    out = Path(out_dir)
    recipes = [(name, Recipe.from_dict(r)) for name, r in entries]
    t = time.perf_counter()
    report(Event("load", "loading the model and data", 0.0))
    prep = prepare(model_source, data_source, trust=trust, seed=recipes[0][1].seed)
    baseline_path = Path(baseline_tflite) if baseline_tflite else out / "baseline.tflite"
    reference = _reference(baseline_path, prep)
    figures = _baseline_figures(baseline, baseline_path)
    load_seconds = time.perf_counter() - t
    results = []
    try:
        check_fits(prep, recipes[0][1])
        prefix = fine_tune_prefix(prep, recipes[0][1], report)
    except StudioError as err:
        for name, _ in recipes:
            if on_result:
                on_result(name, False)
        return [_failed(name, recipe, err) for name, recipe in recipes]
    for name, recipe in recipes:
        row = _candidate(
            prep, prefix, name, recipe, out,
            reference=reference, figures=figures, load_s=load_seconds, threads=threads,
            report=report,
        )  # fmt: skip
        results.append(row)
        if on_result:
            on_result(name, row["error"] is None)
    return results


def _candidate(
    prep: Prepared,
    prefix: Prefix,
    name: str,
    recipe: Recipe,
    out: Path,
    *,
    reference: np.ndarray,
    figures: Metrics | None,
    load_s: float,
    threads: int,
    report: Report,
) -> dict[str, Any]:
    """One candidate from its group's prefix, its files in `out/<name>/`: its
    `Result.to_dict()`, failed with the engine's message if it cannot be made."""
    try:
        check_fits(prep, recipe)
        metrics = finish(
            prep,
            prefix,
            recipe,
            out / name,
            reference=reference,
            baseline=figures,
            seconds={"load": load_s},
            threads=threads,
            report=report,
        )
    except StudioError as err:
        return _failed(name, recipe, err)
    return Result(name, recipe, metrics).to_dict()


def _baseline_figures(raw: dict | None, baseline_tflite: Path) -> Metrics | None:
    """The float model's figures, which the candidates' warnings compare with: given, or
    the `baseline.json` beside its file; missing or unreadable only means those warnings
    are not compared."""
    try:
        if raw is None:
            raw = json.loads(baseline_tflite.with_suffix(".json").read_text())
        return Metrics.from_dict(raw)
    except (OSError, ValueError, StudioError):
        return None


def _failed(name: str, recipe: Recipe, err: Exception) -> dict[str, Any]:
    return Result.failed(name, recipe, str(err)).to_dict()


# -- a group split into tasks (a cluster backend) ---------------------------------------

PrefixWeights = dict[str, Any]
"""A fine-tuned prefix as plain data: {"weights": {layer name: [arrays]}, "pruned": [...],
"clustered": [...], "seconds": {...}, "losses": {...}}."""


def shared_prefix(
    model_source: str | os.PathLike,
    data_source: str | os.PathLike,
    recipe: dict,
    *,
    trust: bool = False,
    report: Report = ignore,
) -> PrefixWeights:
    """The group's pruning and clustering fine-tunes (those of `recipe`), once: what each
    candidate of the group starts from."""
    recipe_ = Recipe.from_dict(recipe)
    report(Event("load", "loading the model and data", 0.0))
    # Not the cached one: pruning and clustering rebuild the model's layers in place.
    prep = prepare(model_source, data_source, trust=trust, seed=recipe_.seed)
    check_fits(prep, recipe_)
    prefix = fine_tune_prefix(prep, recipe_, report)
    return {
        "weights": {
            layer.name: [np.asarray(w) for w in layer.get_weights()]
            for layer in prefix.model.layers
            if layer.weights
        },
        "pruned": sorted(prefix.pruned),
        "clustered": sorted(prefix.clustered),
        "seconds": dict(prefix.seconds),
        "losses": {k: list(v) for k, v in prefix.losses.items()},
    }


def finish_one(
    model_source: str | os.PathLike,
    data_source: str | os.PathLike,
    out_dir: str | os.PathLike,
    name: str,
    recipe: dict,
    prefix: PrefixWeights | None,
    *,
    threads: int = 1,
    trust: bool = False,
    baseline_tflite: str | os.PathLike,
    baseline: dict | None = None,
    report: Report = ignore,
) -> dict[str, Any]:
    """One candidate of a group from its shared prefix (None: no fine-tune): QAT if
    asked, convert, measure; its files in `out_dir/<name>/`.  The same figures as
    `run_group` gives it (tested)."""
    recipe_ = Recipe.from_dict(recipe)
    t = time.perf_counter()
    report(Event("load", "loading the model and data", 0.0))
    prep = _prepared(model_source, data_source, trust=trust, seed=recipe_.seed)
    reference = _cached_reference(Path(baseline_tflite), prep)
    figures = _baseline_figures(baseline, Path(baseline_tflite))
    load_seconds = time.perf_counter() - t
    try:
        rebuilt = _rebuilt(prep, prefix)
    except StudioError as err:
        return _failed(name, recipe_, err)
    return _candidate(
        prep, rebuilt, name, recipe_, Path(out_dir),
        reference=reference, figures=figures, load_s=load_seconds, threads=threads,
        report=report,
    )  # fmt: skip


def _rebuilt(prep: Prepared, prefix: PrefixWeights | None) -> Prefix:
    """The prefix's weights set into the loaded model, layer by layer by name."""
    if not prefix:
        return Prefix(prep.model, frozenset(), frozenset(), {}, {})
    layers = {layer.name: layer for layer in prep.model.layers}
    for layer_name, weights in prefix["weights"].items():
        layer = layers.get(layer_name)
        shapes = [tuple(w.shape) for w in layer.get_weights()] if layer is not None else None
        if shapes != [tuple(w.shape) for w in weights]:
            raise ModelError(
                f"the shared fine-tune's layer {layer_name!r} does not fit this model "
                f"(was the model file changed during the sweep?)"
            )
        layer.set_weights(weights)
    return Prefix(
        prep.model,
        frozenset(prefix["pruned"]),
        frozenset(prefix["clustered"]),
        dict(prefix["seconds"]),
        {k: tuple(v) for k, v in prefix["losses"].items()},
    )


# One prepared model and data per process, with its loaded weights and the float file's
# outputs on its evaluation samples: a cluster worker runs one sweep's candidates one
# after another, and loading (TensorFlow graph building, data decoding) and the float
# file's evaluation pass cost a second or more each time.
_cache: dict[str, Any] = {}


def _prepared(model_source, data_source, *, trust: bool, seed: int) -> Prepared:
    key = f"{_digest(model_source)}|{_digest(data_source)}|{trust}|{seed}"
    if _cache.get("key") == key:
        prep = _cache["prep"]
        weights = _cache["weights"]
        if [w.shape for w in prep.model.get_weights()] == [w.shape for w in weights]:
            prep.model.set_weights(weights)  # a previous prefix was set into it
            return prep
    prep = prepare(model_source, data_source, trust=trust, seed=seed)
    _cache.update(key=key, prep=prep, weights=prep.model.get_weights())
    return prep


def _digest(source: str | os.PathLike) -> str:
    """A file's or folder's content as a short hash (the same model shipped twice lands
    in two private folders); a name that is not a path (the demo's) stands for itself."""
    whole, part = splits.parse(str(source))
    path = Path(whole)
    if not path.exists():
        return str(source)
    h = hashlib.sha1((part or "").encode())
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _reference(baseline_tflite: Path, prep: Prepared) -> np.ndarray:
    data = prep.data
    return predict(
        baseline_tflite.read_bytes(), data.x_eval, inputs=data.inputs, outputs=data.outputs
    )


def _cached_reference(baseline_tflite: Path, prep: Prepared) -> np.ndarray:
    """`_reference` once per worker for the same float file and prepared data."""
    key = (_cache.get("key"), _digest(baseline_tflite))
    if _cache.get("reference_key") != key:
        _cache.update(reference_key=key, reference=_reference(baseline_tflite, prep))
    return _cache["reference"]
