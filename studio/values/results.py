"""Candidates' outcomes, judged: Pareto fronts, the recommendation, and one reader for
the two folders that hold outcomes (a session, a CLI sweep).

A `Result` is one candidate as the worker returned it (a sweep group's result list, a
sweep's `results.json`) or as a session recorded it, with the flags `judge` adds.  The
window, the CLI and the report all judge with the same functions, so "recommended"
means the same everywhere.  No TensorFlow, no Qt.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.values import modes
from studio.values.errors import StudioError, reading_problem
from studio.values.metrics import RESOLUTION_MS, Metrics, within_budget
from studio.values.pareto import front
from studio.values.recipe import Recipe
from studio.values.session import Session


class ResultsError(StudioError):
    """A folder that is neither a studio session nor a sweep, or one that is damaged."""


@dataclass(frozen=True)
class Result:
    """One candidate's outcome; `metrics` is None unless it was measured."""

    name: str
    recipe: Recipe
    metrics: Metrics | None = None
    error: str | None = None
    status: str = "done"  # a session's candidate statuses; "failed" with an error
    pareto: bool = False  # on the size/accuracy front
    pareto_latency: bool = False  # on the latency/accuracy front
    recommended: tuple[str, ...] = ()  # "smallest", "fastest"

    @property
    def label(self) -> str:
        return self.recipe.describe()

    def to_dict(self) -> dict[str, Any]:
        """The `results.json` entry (and a sweep group's job result)."""
        return {
            "name": self.name,
            "recipe": self.recipe.to_dict(),
            "metrics": None if self.metrics is None else self.metrics.to_dict(),
            "error": self.error,
            "pareto": self.pareto,
            "pareto_latency": self.pareto_latency,
            "recommended": list(self.recommended),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        metrics = data.get("metrics")
        error = data.get("error") or None
        return cls(
            name=str(data["name"]),
            recipe=Recipe.from_dict(data["recipe"]),
            metrics=None if metrics is None else Metrics.from_dict(metrics),
            error=error,
            status="failed" if error else "done",
            pareto=bool(data.get("pareto", False)),
            pareto_latency=bool(data.get("pareto_latency", False)),
            recommended=tuple(data.get("recommended", ())),
        )

    @classmethod
    def failed(cls, name: str, recipe: Recipe, message: str) -> Result:
        return cls(name, recipe, None, message, "failed")


@dataclass(frozen=True)
class Recommendation:
    """Within the accuracy budget: the smallest (gzip) and the fastest (median latency).

    `tied` names the candidates whose latency spread overlaps the fastest's (the fastest
    is the smallest of them), so the window can say that "fastest" is a tie, not a
    measured win.  `unranked` says why no candidate is called fastest although some are
    within the budget (their latencies are below what the timer can tell apart).
    """

    smallest: str | None = None
    fastest: str | None = None
    tied: tuple[str, ...] = ()
    unranked: str = ""

    def to_dict(self) -> dict[str, str | None]:
        return {"smallest": self.smallest, "fastest": self.fastest}

    def picks(self, name: str) -> tuple[str, ...]:
        return tuple(what for what, chosen in self.to_dict().items() if chosen == name)




def measured(results: Iterable[Result]) -> list[Result]:
    """Results with figures that stand for what their label says (broken files — see
    `checks` — are not results, whatever their figures)."""
    return [
        r for r in results if r.metrics is not None and r.status == "done" and not r.metrics.broken
    ]


def _phone_order(r: Result) -> tuple:
    """Among ties: smaller first, then full integer (float activations run slower on a
    phone than on a desktop CPU), then more accurate."""
    m = r.metrics
    accuracy = m.accuracy if m.accuracy is not None else 0.0
    return (
        m.gzip_bytes,
        not modes.full_integer(r.recipe.quantization.mode),
        -accuracy if m.higher_better else accuracy,
    )


def recommend(results: Iterable[Result], baseline: Metrics, budget: float) -> Recommendation:
    """Under an accuracy-drop budget (points of top-1, or MAE units), the smallest and
    the fastest candidate.  Collapsed candidates (accuracy at chance) are never picked;
    latencies within noise of the fastest are ties, broken by `_phone_order`."""
    ok = [
        r
        for r in measured(results)
        if within_budget(r.metrics, baseline, budget)
        and not any(f.code == "chance" for f in r.metrics.flags)
    ]
    if not ok:
        return Recommendation()
    smallest = min(ok, key=_phone_order)
    best = min(ok, key=lambda r: r.metrics.latency_ms.median)
    if best.metrics.latency_ms.below_resolution:
        under = f"{RESOLUTION_MS * 1000:g} µs"
        return Recommendation(smallest.name, None, (), f"below the timer's resolution ({under})")
    # Ties: every candidate whose spread overlaps the fastest's (two runs of one recipe
    # must never be called faster than each other).
    ties = [r for r in ok if r.metrics.latency_ms.overlaps(best.metrics.latency_ms)]
    fastest = min(ties, key=_phone_order)
    tied = tuple(r.name for r in ties if r is not fastest)
    return Recommendation(smallest.name, fastest.name, tied)


def judge(
    results: Iterable[Result], baseline: Metrics, budget: float
) -> tuple[list[Result], Recommendation]:
    """Each result with its Pareto flags and what it is recommended as."""
    results = list(results)
    done = [r for r in measured(results) if r.metrics.accuracy is not None]
    higher_better = not done or done[0].metrics.higher_better

    def on_front(x: Callable[[Metrics], float]) -> set[str]:
        points = [(x(r.metrics), r.metrics.accuracy) for r in done]
        return {done[i].name for i in front(points, maximize_y=higher_better)}

    by_size = on_front(lambda m: m.gzip_bytes)
    by_latency = on_front(lambda m: m.latency_ms.median)
    chosen = recommend(results, baseline, budget)
    flagged = [
        dataclasses.replace(
            r,
            pareto=r.name in by_size,
            pareto_latency=r.name in by_latency,
            recommended=chosen.picks(r.name),
        )
        for r in results
    ]
    return flagged, chosen


# -- reading a folder -------------------------------------------------------------------


@dataclass(frozen=True)
class Outcomes:
    """What a session or a sweep folder holds, judged."""

    title: str
    source: str  # model and data, as the user gave them
    baseline: Metrics
    budget: float
    rows: tuple[Result, ...]
    recommended: Recommendation


def from_session(session: Session) -> list[Result]:
    """A session's candidates as results (every status, in the order they were added),
    leaving out those the user hid."""
    return [
        Result(c.name, c.recipe, c.metrics, c.message or None, c.status)
        for c in session.candidates.values()
        if not c.hidden
    ]


def read(folder: str | Path) -> Outcomes:
    """A session folder (session.json) or a sweep folder (results.json), judged."""
    folder = Path(folder)
    if (folder / "session.json").is_file():
        session = Session.open(folder)
        if session.baseline is None:
            raise ResultsError(f"session {folder} has no measured float baseline yet")
        rows = from_session(session)
        title, source = f"Session {folder.name}", f"model {session.model}, data {session.data}"
        baseline, budget = session.baseline, session.budget
    elif (folder / "results.json").is_file():
        sweep = _read_json(folder / "sweep.json") if (folder / "sweep.json").is_file() else {}
        try:
            rows = [Result.from_dict(r) for r in _read_json(folder / "results.json")]
            baseline = Metrics.from_dict(
                sweep.get("baseline") or _read_json(folder / "baseline.json")
            )
            budget = float(sweep.get("budget", 1.0))
        except (KeyError, TypeError, ValueError, AttributeError, StudioError) as err:
            raise ResultsError(f"sweep {folder} is damaged ({err})") from err
        title, source = f"Sweep {folder.name}", str(folder)
    else:
        raise ResultsError(
            f"{folder} is neither a studio session (session.json) nor a sweep (results.json)"
        )
    flagged, chosen = judge(rows, baseline, budget)
    return Outcomes(title, source, baseline, budget, tuple(flagged), chosen)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ResultsError(f"cannot read {path}: {reading_problem(err)}") from err
