"""How much one layer, pruned or clustered on its own, costs the model (plain values).

The engine's quick pass (`studio.engine.sensitivity`) treats one layer at a time without
any fine-tune and measures the model on the held-out data.  Without a fine-tune the drop
is an upper bound — training recovers most of it — so a layer counts as *fragile* only
when treating it alone breaks the model (FRAGILE_POINTS of top-1, or FRAGILE_MAE more
mean absolute error).  The window leaves fragile layers out of its default choice and
says why next to each layer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.values import atomic

FILE = "sensitivity.json"  # in the session's folder: the last pass's results
FRAGILE_POINTS = 10.0  # top-1 points lost by one layer alone
FRAGILE_MAE = 0.5  # relative rise of the mean absolute error by one layer alone
TECHNIQUES = ("prune", "cluster")


@dataclass(frozen=True)
class LayerSensitivity:
    """The model's figure with one layer treated, next to the untouched model's."""

    layer: str
    technique: str  # "prune" (at `setting` sparsity) or "cluster" (`setting` clusters)
    setting: float
    value: float
    baseline: float
    metric: str  # "top1" or "mae"

    @property
    def drop(self) -> float:
        """Top-1 points lost, or the MAE's relative rise in percent."""
        if self.metric == "top1":
            return (self.baseline - self.value) * 100
        return (self.value / self.baseline - 1) * 100 if self.baseline else 0.0

    @property
    def fragile(self) -> bool:
        if self.metric == "top1":
            return self.drop >= FRAGILE_POINTS
        return self.drop >= FRAGILE_MAE * 100

    @property
    def shown(self) -> str:
        """The drop as the layer list shows it: "−12.3 pt" or "MAE +48 %"."""
        if self.metric == "top1":
            return f"−{self.drop:.1f} pt" if self.drop >= 0.05 else "no loss"
        return f"MAE +{self.drop:.0f} %" if self.drop >= 0.5 else "no loss"

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "technique": self.technique,
            "setting": self.setting,
            "value": round(self.value, 6),
            "baseline": round(self.baseline, 6),
            "metric": self.metric,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerSensitivity:
        return cls(
            layer=str(data["layer"]),
            technique=str(data["technique"]),
            setting=float(data["setting"]),
            value=float(data["value"]),
            baseline=float(data["baseline"]),
            metric=str(data["metric"]),
        )


def fragile(results: Iterable[LayerSensitivity], technique: str) -> tuple[str, ...]:
    """The layers that break the model on their own under `technique`."""
    return tuple(r.layer for r in results if r.technique == technique and r.fragile)


def save(folder: str | Path, results: Sequence[LayerSensitivity]) -> Path:
    """Keep a pass's results with the session (a reopened session shows them without
    measuring again; Model Explorer's overlays read them)."""
    return atomic.write_json(Path(folder) / FILE, [r.to_dict() for r in results])


def read(folder: str | Path) -> list[LayerSensitivity] | None:
    """The session's saved results; None when it has none or the file is damaged (they
    are measured again in seconds, never a reason to refuse a session)."""
    try:
        raw = json.loads((Path(folder) / FILE).read_text(encoding="utf-8"))
        return [LayerSensitivity.from_dict(r) for r in raw]
    except (OSError, ValueError, KeyError, TypeError):
        return None
