"""Progress events: how long engine work tells its caller what it is doing.

The engine calls a plain `report(event)` function; the CLI prints the events, and the
worker processes (issue 3) forward them to the window.  Events are frozen plain data so
they can cross a process boundary unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    stage: str  # "load", "baseline", "prune", "cluster", "qat", "convert", "evaluate"
    message: str = ""
    fraction: float | None = None  # of the stage, when known
    metrics: Mapping[str, float] = field(default_factory=dict)  # per-epoch training logs


Report = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The default reporter: engine functions work the same when nobody listens."""
