"""The automatic search's plain values: what it optimizes, what it may change, what it
tried, and why its answer won (`studio.orchestrator.autotune` drives it with Optuna).

Everything a user reads about a search is made here from recorded figures, so the
window's explanation panel, `autotune.json` and the CLI say the same thing.  No
TensorFlow, no Qt, no Optuna.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.values import modes
from studio.values.errors import RecipeError
from studio.values.metrics import MAE, LayerError, Metrics
from studio.values.recipe import Clustering, Pruning, Quantization, Recipe
from studio.values.sensitivity import LayerSensitivity
from studio.values.units import duration, size

# -- what it optimizes ----------------------------------------------------------------


@dataclass(frozen=True)
class Objective:
    """What "best" means among candidates within the budget (smaller is better)."""

    key: str  # as the CLI's --objective and autotune.json spell it
    label: str  # the dialog's choice
    read: Callable[[Metrics], float]
    text: Callable[[float], str]  # a value in a user's words
    gain: str  # "smaller", "faster": how "float / value" reads


OBJECTIVES: dict[str, Objective] = {
    o.key: o
    for o in (
        Objective(
            "size",
            "Smallest download (gzip size)",
            lambda m: float(m.gzip_bytes),
            lambda v: size(v),
            "smaller",
        ),
        Objective(
            "latency",
            "Lowest latency (median, at the chosen threads)",
            lambda m: m.latency_ms.median,
            lambda v: duration(v),
            "faster",
        ),
    )
}


def loss(m: Metrics, baseline: Metrics) -> float:
    """What a candidate costs, in the budget's units: top-1 points lost; for a
    regressor the mean absolute error's rise in percent; without labels, the percent of
    samples whose answer differs from the float model's."""
    if m.accuracy is None or baseline.accuracy is None:
        return 100 * (1 - (m.agreement if m.agreement is not None else 0.0))
    if m.metric == MAE:
        if baseline.accuracy <= 0:
            return 0.0 if m.accuracy <= 0 else math.inf
        return 100 * (m.accuracy / baseline.accuracy - 1)
    return 100 * (baseline.accuracy - m.accuracy)


def budget_unit(baseline: Metrics) -> str:
    """How the budget reads for this model ("pt" of top-1, "% MAE", "% disagree")."""
    if baseline.accuracy is None:
        return "% of answers changed"
    return "% more MAE" if baseline.metric == MAE else "pt of top-1"


def loss_text(value: float, baseline: Metrics) -> str:
    """A loss as a user reads it: "−0.56 pt" (lost), "+0.20 pt" (gained), "+3.1 %" MAE."""
    if baseline.accuracy is not None and baseline.metric != MAE:
        if abs(value) < 0.005:
            return "±0 pt"
        return f"−{value:.2f} pt" if value > 0 else f"+{-value:.2f} pt"
    return "±0 %" if abs(value) < 0.05 else f"{value:+.1f} %"


TOLERANCE = 1e-9  # a loss of exactly the budget is within it, whatever the rounding


def fits(lost: float, budget: float) -> bool:
    """Whether a loss (see `loss`) is within the budget."""
    return lost <= budget + TOLERANCE


@dataclass(frozen=True)
class Settings:
    """What the user asks of a search (the dialog's fields, the CLI's options)."""

    objective: str = "size"
    budget: float = 1.0  # in the unit of `studio.values.autotune.loss`
    time_limit_s: float = 30 * 60
    seed: int = 0
    max_trials: int = 40
    patience: int = 12  # trials in a row without a better answer end the search
    trial_names: bool = False  # "t03-prune-50-int8" (CLI folders) instead of c003

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(
                f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}"
            )
        if not self.budget >= 0:
            raise ValueError(f"the budget must be 0 or more, got {self.budget}")
        if not self.time_limit_s > 0:
            raise ValueError(f"the time limit must be more than 0, got {self.time_limit_s}")
        if self.max_trials < 1 or self.patience < 1:
            raise ValueError(
                f"the most trials and the patience must be 1 or more, got "
                f"{self.max_trials} and {self.patience}"
            )

    def to_dict(self) -> dict[str, Any]:
        """What autotune.json and the window's remembered settings hold (folder naming
        is the CLI's, not a setting of the search)."""
        return {
            "objective": self.objective,
            "budget": self.budget,
            "time_limit_s": self.time_limit_s,
            "seed": self.seed,
            "max_trials": self.max_trials,
            "patience": self.patience,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Settings:
        """Settings saved by another version: unknown keys are left out (ValueError or
        TypeError for values no search can take)."""
        known = {f.name for f in dataclasses.fields(cls)} - {"trial_names"}
        return cls(**{k: v for k, v in data.items() if k in known})


# -- what it may change -----------------------------------------------------------------

SPARSITIES = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9)  # 0: no pruning
CLUSTERS = (0, 64, 32, 16, 8)  # 0: no clustering; more aggressive to the right
SPARED_MAX = 4  # per-layer choices for at most this many layers per technique
FLOAT_MAX = 3  # layers the int8 diagnosis blames most, each a keep-in-float choice
SHORT_SHARE = 1 / 3  # a first look at a pruned setting fine-tunes this share of "auto"


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: `choices` in order; `ordered` ones are searched by index
    (TPE then knows 0.7 lies between 0.5 and 0.9)."""

    name: str
    choices: tuple[Any, ...]
    ordered: bool = False
    why: str = ""  # why the search has this parameter (the explanation quotes it)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "choices": list(self.choices), "why": self.why}


@dataclass(frozen=True)
class Knowledge:
    """What the search starts from: the model's layers and what the quick passes found."""

    prunable: tuple[str, ...]
    clusterable: tuple[str, ...]
    train_samples: int
    labeled: bool
    sensitivity: tuple[LayerSensitivity, ...] = ()
    diagnosis: tuple[LayerError, ...] = ()  # worst first
    weights: Mapping[str, int] = field(default_factory=dict)  # layer -> its parameters

    def to_dict(self) -> dict[str, Any]:
        return {
            "prunable": list(self.prunable),
            "clusterable": list(self.clusterable),
            "train_samples": self.train_samples,
            "labeled": self.labeled,
            "sensitivity": [s.to_dict() for s in self.sensitivity],
            "diagnosis": [d.to_dict() for d in self.diagnosis],
        }

    def costly(self, technique: str) -> list[LayerSensitivity]:
        """This technique's layers that cost anything alone, dearest first."""
        found = [s for s in self.sensitivity if s.technique == technique and s.drop > 0.05]
        return sorted(found, key=lambda s: -s.drop)


PRUNE, CLUSTER = "prune", "cluster"
SPARE = {PRUNE: "spare_prune:", CLUSTER: "spare_cluster:"}
FLOAT = "float:"


@dataclass(frozen=True)
class Space:
    """The parameters of one search, made from the modes table and the knowledge."""

    dimensions: tuple[Dimension, ...]
    knowledge: Knowledge

    @classmethod
    def build(cls, knowledge: Knowledge) -> Space:
        dims = [
            Dimension(
                "mode",
                tuple(m.name for m in modes.usable()),
                why="every quantization mode the studio offers and this installation can make",
            )
        ]
        k = knowledge
        for technique, name, choices, layers, done in (
            (PRUNE, "sparsity", SPARSITIES, k.prunable, "pruned"),
            (CLUSTER, "clusters", CLUSTERS, k.clusterable, "clustered"),
        ):
            if not (k.labeled and layers):
                continue
            dims.append(Dimension(name, choices, ordered=True))
            dims += [
                Dimension(
                    SPARE[technique] + s.layer, (False, True), why=f"{done} alone it cost {s.shown}"
                )
                for s in k.costly(technique)[:SPARED_MAX]
            ]
        if k.labeled and any(qat_allowed(m) for m in dims[0].choices):
            dims.append(Dimension("qat", (False, True)))
        for e in k.diagnosis[:FLOAT_MAX]:
            dims.append(
                Dimension(
                    FLOAT + e.layer,
                    (False, True),
                    why=f"int8 adds the most error there ({e.added_error:.3g})",
                )
            )
        return cls(tuple(dims), knowledge)

    @property
    def size(self) -> int:
        """How many parameter sets there are (several may mean one recipe)."""
        return math.prod(len(d.choices) for d in self.dimensions)

    def distinct(self, limit: int = 4096) -> int | None:
        """How many different recipes the space holds (first rungs), when it has at most
        `limit` parameter sets; None for a larger one (not counted)."""
        if self.size > limit:
            return None
        names = [d.name for d in self.dimensions]
        combos = itertools.product(*(d.choices for d in self.dimensions))
        return len(
            {self.recipe(dict(zip(names, c, strict=True)), short=True).effective() for c in combos}
        )

    def dimension(self, name: str) -> Dimension | None:
        return next((d for d in self.dimensions if d.name == name), None)

    def defaults(self, **values: Any) -> dict[str, Any]:
        """A full parameter set: nothing on, fragile layers spared, `values` on top."""
        out: dict[str, Any] = {}
        fragile = {(s.technique, s.layer) for s in self.knowledge.sensitivity if s.fragile}
        for d in self.dimensions:
            if d.name.startswith(SPARE[PRUNE]):
                out[d.name] = (PRUNE, d.name[len(SPARE[PRUNE]) :]) in fragile
            elif d.name.startswith(SPARE[CLUSTER]):
                out[d.name] = (CLUSTER, d.name[len(SPARE[CLUSTER]) :]) in fragile
            else:
                out[d.name] = d.choices[0]
        return {**out, **{k: v for k, v in values.items() if self.dimension(k)}}

    def recipe(self, params: Mapping[str, Any], *, short: bool = False) -> Recipe:
        """The recipe a parameter set stands for; `short`: its first, short fine-tune.

        Parameters that change nothing for the rest (a float layer without int8, QAT
        with a mode it cannot make) are dropped, so two parameter sets that mean the
        same recipe are one trial."""
        k = self.knowledge
        pruning = clustering = None
        sparsity = params.get("sparsity", 0.0)
        if sparsity:
            spared = chosen(params, SPARE[PRUNE])
            layers = tuple(n for n in k.prunable if n not in spared)
            if layers:
                auto = Pruning().epochs_for(k.train_samples)
                epochs = max(1, math.ceil(auto * SHORT_SHARE)) if short else None
                pruning = Pruning(
                    target_sparsity=float(sparsity),
                    layers=layers if spared else None,
                    epochs=epochs,
                )
        clusters = params.get("clusters", 0)
        if clusters:
            spared = chosen(params, SPARE[CLUSTER])
            # A layer with too few weights left to make the clusters from is left out
            # (tfmot fails inside TensorFlow; a layer list naming it is refused).
            room = (1 - float(sparsity)) * 0.5
            layers = tuple(
                n
                for n in k.clusterable
                if n not in spared and k.weights.get(n, 1 << 30) * room >= clusters
            )
            if layers:
                whole = set(layers) == set(k.clusterable)
                clustering = Clustering(clusters=int(clusters), layers=None if whole else layers)
        mode = params["mode"]
        quantization = Quantization(mode=mode)
        if params.get("qat") and qat_allowed(mode):
            quantization = dataclasses.replace(quantization, qat=True)
        floats = chosen(params, FLOAT)
        if floats and not quantization.qat:
            with contextlib.suppress(RecipeError):  # this mode quantizes every layer alike
                quantization = dataclasses.replace(quantization, float_layers=floats)
        try:
            return Recipe(pruning=pruning, clustering=clustering, quantization=quantization)
        except RecipeError:  # a combination tfmot cannot run: drop the clustering's
            return Recipe(pruning=pruning, quantization=quantization)

    def fine_tuned(self, recipe: Recipe) -> bool:
        return bool(recipe.pruning or recipe.clustering or recipe.quantization.qat)

    def to_dict(self) -> dict[str, Any]:
        return {"dimensions": [d.to_dict() for d in self.dimensions]}


def chosen(params: Mapping[str, Any], prefix: str) -> tuple[str, ...]:
    """The layers whose per-layer choice `prefix` ("float:", ...) is switched on."""
    return tuple(n[len(prefix) :] for n, v in params.items() if n.startswith(prefix) and v)


def qat_allowed(mode: str) -> bool:
    """Whether quantization-aware training can make this mode (the recipe's rule)."""
    try:
        Quantization(mode=mode, qat=True)
    except RecipeError:
        return False
    return True


# -- what it tried ------------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    """One trial: its parameters, the candidate(s) that measured it and the outcome.

    A pruned setting is first measured after a short fine-tune; `rung` 1 is the full
    fine-tune given to a promising one (its `name` is then the second candidate's)."""

    number: int
    params: Mapping[str, Any]
    recipe: Recipe
    phase: str  # "post-training", "seeded", "search"
    name: str = ""
    rung: int = 0
    status: str = "queued"  # "done", "failed", "cancelled", "repeat" (measured before)
    value: float | None = None  # the objective
    loss: float | None = None
    feasible: bool = False
    gzip_bytes: int | None = None
    latency_ms: float | None = None
    message: str = ""
    earlier: tuple[str, ...] = ()  # candidates of rungs before this one
    shared: bool = False  # converted with another trial's fine-tune (not asked of Optuna)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "phase": self.phase,
            "params": dict(self.params),
            "recipe": self.recipe.to_dict(),
            "label": self.recipe.describe(),
            "name": self.name,
            "rung": self.rung,
            "earlier": list(self.earlier),
            "shared": self.shared,
            "status": self.status,
            "value": self.value,
            "loss": None if self.loss is None else round(self.loss, 4),
            "feasible": self.feasible,
            "gzip_bytes": self.gzip_bytes,
            "latency_ms": self.latency_ms,
            "message": self.message,
        }


@dataclass(frozen=True)
class Holdout:
    """The finalists and the float model measured again on samples the search never saw."""

    samples: int
    baseline: float | None  # the float model's figure there (top-1 / MAE)
    losses: Mapping[str, float] = field(default_factory=dict)  # candidate -> loss there
    passed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "baseline": self.baseline,
            "losses": {k: round(v, 4) for k, v in self.losses.items()},
            "passed": list(self.passed),
        }


def outcome(
    trial: Trial, metrics: Metrics, baseline: Metrics, objective: Objective, budget: float
) -> Trial:
    """A trial with its measured figures; collapsed or broken files never count as
    within the budget, whatever their accuracy says."""
    cost = loss(metrics, baseline)
    sane = not metrics.broken and not any(f.code == "chance" for f in metrics.flags)
    return dataclasses.replace(
        trial,
        status="done",
        value=objective.read(metrics),
        loss=cost,
        feasible=sane and fits(cost, budget),
        gzip_bytes=metrics.gzip_bytes,
        latency_ms=metrics.latency_ms.median,
    )


def ranked(trials: Iterable[Trial]) -> list[Trial]:
    """Feasible finished trials, best first (ties: the smaller loss)."""
    ok = [t for t in trials if t.status == "done" and t.feasible and t.value is not None]
    return sorted(ok, key=lambda t: (t.value, t.loss, t.number))


# -- why it won ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """Everything `autotune.json` holds, and the explanation made from it."""

    settings: Settings
    unit: str  # the budget's (see `budget_unit`)
    threads: int
    space: Space
    trials: tuple[Trial, ...]
    baseline: Metrics
    winner: str | None = None  # a candidate name; None: the float model is the answer
    holdout: Holdout | None = None
    stopped: str = ""  # why the search ended
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.settings.to_dict(),
            "unit": self.unit,
            "threads": self.threads,
            "space": self.space.to_dict(),
            "knowledge": self.space.knowledge.to_dict(),
            "trials": [t.to_dict() for t in self.trials],
            "baseline": self.baseline.to_dict(),
            "winner": self.winner,
            "holdout": None if self.holdout is None else self.holdout.to_dict(),
            "stopped": self.stopped,
            "seconds": round(self.seconds, 1),
            "why": explain(self),
        }

    def trial(self, name: str) -> Trial | None:
        return next((t for t in self.trials if t.name == name), None)


def spared(space: Space, recipe: Recipe) -> list[str]:
    """Sentences naming each layer a recipe spares on purpose, with the evidence (the
    dimensions' `why`); layers no parameter was about are not listed."""
    out = []
    p, c, q = recipe.pruning, recipe.clustering, recipe.quantization
    for d in space.dimensions:
        if d.name.startswith(SPARE[PRUNE]):
            layer = d.name[len(SPARE[PRUNE]) :]
            if p is not None and p.layers is not None and layer not in p.layers:
                out.append(f"{layer} left unpruned: {d.why}")
        elif d.name.startswith(SPARE[CLUSTER]):
            layer = d.name[len(SPARE[CLUSTER]) :]
            if c is not None and c.layers is not None and layer not in c.layers:
                out.append(f"{layer} left unclustered: {d.why}")
        elif d.name.startswith(FLOAT) and d.name[len(FLOAT) :] in q.float_layers:
            out.append(f"{d.name[len(FLOAT) :]} kept in float: {d.why}")
    return out


def explain(report: Report) -> list[str]:
    """The choice in plain words: the answer, the layers spared and why, what each step
    bought and cost, and what was tried and rejected."""
    r, objective = report, OBJECTIVES[report.settings.objective]
    budget = r.settings.budget
    base_value = objective.read(r.baseline)
    done = [t for t in r.trials if t.status == "done"]
    lines = []
    winner = r.trial(r.winner) if r.winner else None
    if winner is None:
        why = "no candidate stayed within the budget"
        if r.holdout is not None and r.holdout.losses:
            why += " on the held-out samples"
        lines.append(
            f"The answer is the float model: {why} of {budget:g} {r.unit} "
            f"({len(done)} setting(s) measured). Try a larger budget, or more data to "
            f"fine-tune with."
        )
    else:
        gain = base_value / winner.value if winner.value else math.inf
        held = ""
        if r.holdout is not None and winner.name in r.holdout.losses:
            held = (
                f", {loss_text(r.holdout.losses[winner.name], r.baseline)} on "
                f"{r.holdout.samples} held-out samples it was not chosen on"
            )
        lines.append(
            f"Best within {budget:g} {r.unit}: {winner.name}, {winner.recipe.describe()} — "
            f"{objective.text(winner.value)}, {gain:.1f}x {objective.gain} than the float "
            f"model ({objective.text(base_value)}); {loss_text(winner.loss, r.baseline)} "
            f"on the search samples{held}."
        )
        for sentence in spared(r.space, winner.recipe):
            lines.append(f"Spared: {sentence}.")
        lines += _steps(r, winner, objective, base_value)
    if r.holdout is not None:
        for name, lost in r.holdout.losses.items():
            if name not in r.holdout.passed:
                lines.append(
                    f"Rejected on held-out data: {name} ({loss_text(lost, r.baseline)} "
                    f"there, over the budget, though within it on the search samples)."
                )
    lines += _rejected(r, winner, objective)
    if r.stopped:
        lines.append(f"Stopped: {r.stopped}.")
    return lines


def _steps(r: Report, winner: Trial, objective: Objective, base_value: float) -> list[str]:
    """Float -> the winner's mode alone -> the winner: what each step bought and cost."""
    mode = winner.recipe.quantization.mode
    alone = next(
        (
            t
            for t in r.trials
            if t.status == "done"
            and not r.space.fine_tuned(t.recipe)
            and t.recipe.quantization.mode == mode
            and not t.recipe.quantization.float_layers
        ),
        None,
    )
    if alone is None or alone.name == winner.name or not alone.value:
        return []
    first = base_value / alone.value
    second = alone.value / winner.value if winner.value else math.inf
    return [
        f"Step 1, {alone.recipe.describe()} ({alone.name}): {first:.1f}x {objective.gain}, "
        f"{loss_text(alone.loss, r.baseline)}.",
        f"Step 2, the rest of {winner.recipe.describe()}: a further {second:.2f}x "
        f"{objective.gain}, {loss_text(winner.loss - alone.loss, r.baseline)} against step 1.",
    ]


def _rejected(r: Report, winner: Trial | None, objective: Objective) -> list[str]:
    done = [t for t in r.trials if t.status == "done"]
    over = [t for t in done if not t.feasible]
    bigger = [t for t in done if t.feasible and winner is not None and t is not winner]
    failed = [t for t in r.trials if t.status == "failed"]
    lines = [
        f"Tried {len(done)} setting(s): {len(over)} over the budget, "
        f"{len(bigger)} within it but not as good"
        + (f", {len(failed)} failed" if failed else "")
        + "."
    ]
    # The most tempting rejections: better on the objective, but over the budget.
    tempting = sorted(
        (t for t in over if winner is None or (t.value or math.inf) < (winner.value or 0)),
        key=lambda t: t.value or math.inf,
    )[:3]
    for t in tempting:
        lines.append(
            f"Rejected: {t.recipe.describe()} ({t.name}), {objective.text(t.value)} but "
            f"{loss_text(t.loss, r.baseline)}."
        )
    return lines


def saved(folder: Path) -> tuple[str, list[str], str | None]:
    """A finished search's explanation from its `autotune.json` (a reopened session):
    ("", lines, winner), or a status line saying why there is none."""
    path = Path(folder) / "autotune.json"
    if not path.is_file():
        return "", [], None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return "", [str(line) for line in data["why"]], data.get("winner")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        return f"{path} cannot be read ({err}); the trials are in the table.", [], None
