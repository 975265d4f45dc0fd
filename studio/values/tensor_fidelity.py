"""Per-tensor fidelity figures of a quantized candidate (see engine/fidelity.py), as the
candidate's `fidelity.json` holds them and the window and the report read them.

No TensorFlow, no Qt.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.values import atomic

FILE = "fidelity.json"
# Where each row of figures was measured (engine/fidelity.py says why they differ).
TENSORS_WHERE = "LiteRT's built-in kernels (XNNPACK keeps no intermediate tensors)"
OUTPUTS_WHERE = "LiteRT's default path (XNNPACK), as the app runs it"


@dataclass(frozen=True)
class TensorFidelity:
    """One tensor: mean squared error against the float model, and signal-to-noise
    ratio in dB (None: identical to the float model's)."""

    name: str
    layer: str
    mse: float
    snr_db: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "layer": self.layer, "mse": self.mse, "snr_db": self.snr_db}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TensorFidelity:
        snr = data.get("snr_db")
        return cls(
            str(data["name"]),
            str(data.get("layer", "")),
            float(data["mse"]),
            None if snr is None else float(snr),
        )


@dataclass(frozen=True)
class Fidelity:
    """A candidate's figures, or why there are none (`skipped`)."""

    samples: int = 0
    threads: int = 1
    tensors: tuple[TensorFidelity, ...] = ()
    outputs: tuple[TensorFidelity, ...] = ()
    skipped: str = ""
    note: str = ""  # what the figures do not show (set by the pipeline, e.g. blockwise int4)

    def worst(self, n: int = 10) -> list[TensorFidelity]:
        """The tensors furthest from float (lowest SNR) first; identical ones left out."""
        rated = [t for t in self.tensors if t.snr_db is not None and math.isfinite(t.snr_db)]
        return sorted(rated, key=lambda t: t.snr_db)[:n]

    def by_layer(self) -> dict[str, float]:
        """Each layer's lowest SNR over its tensors (dB): the per-layer view's figure."""
        out: dict[str, float] = {}
        for t in self.worst(len(self.tensors)):
            if t.layer and t.layer not in out:
                out[t.layer] = t.snr_db
        return out

    def output_snr(self, *, built_in: bool = False) -> float | None:
        """The outputs' lowest SNR (dB) on the default path, or (`built_in`) on the
        built-in kernels the per-tensor figures come from; None: identical to float."""
        names = {t.name for t in self.outputs}
        rows = [t for t in self.tensors if t.name in names] if built_in else self.outputs
        rated = [t.snr_db for t in rows if t.snr_db is not None]
        return min(rated) if rated else None

    def kernels_differ(self) -> bool:
        """The built-in kernels' outputs are far (over 6 dB) from XNNPACK's: the
        per-tensor figures then describe kernels the app does not run (blockwise int4
        in ai-edge-litert 2.3.0)."""
        default, built_in = self.output_snr(), self.output_snr(built_in=True)
        if default is None or built_in is None:
            return False
        return default - built_in > 6.0

    def summary(self) -> str:
        """One line for the report and the tab's header."""
        if self.skipped:
            return f"Per-tensor fidelity: not measured ({self.skipped})."
        snr = self.output_snr()
        out_text = f"outputs {snr:.1f} dB SNR" if snr is not None else "outputs identical to float"
        worst = self.worst(1)
        tensor_text = (
            f"; lowest tensor {worst[0].snr_db:.1f} dB ({worst[0].layer or worst[0].name})"
            if worst
            else ""
        )
        differ = ""
        if self.kernels_differ():
            differ = (
                f" LiteRT's built-in kernels give {self.output_snr(built_in=True):.1f} dB at "
                f"the outputs: the per-tensor figures (measured there) overstate the error "
                f"of the default path."
            )
        return (
            f"Per-tensor fidelity on {self.samples} evaluation samples, {self.threads} "
            f"thread(s): {out_text}{tensor_text}.{differ}{' ' + self.note if self.note else ''}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "threads": self.threads,
            "tensors_measured_with": TENSORS_WHERE,
            "outputs_measured_with": OUTPUTS_WHERE,
            "tensors": [t.to_dict() for t in self.tensors],
            "outputs": [t.to_dict() for t in self.outputs],
            "skipped": self.skipped,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fidelity:
        return cls(
            samples=int(data.get("samples", 0)),
            threads=int(data.get("threads", 1)),
            tensors=tuple(TensorFidelity.from_dict(t) for t in data.get("tensors", ())),
            outputs=tuple(TensorFidelity.from_dict(t) for t in data.get("outputs", ())),
            skipped=str(data.get("skipped", "")),
            note=str(data.get("note", "")),
        )

    def save(self, folder: Path) -> None:
        atomic.write_json(Path(folder) / FILE, self.to_dict())


def read(folder: str | Path) -> Fidelity | None:
    """A candidate folder's figures; None when it has none (float, older sessions) or the
    file is damaged (the figures are a view, never a reason to refuse a session)."""
    try:
        return Fidelity.from_dict(json.loads((Path(folder) / FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
