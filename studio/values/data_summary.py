"""What the loaded data holds, as a user checks it before trusting any figure.

A candidate's accuracy is only as meaningful as the data it is measured on: 60 test
samples, a class that never appears, or one class with 90 % of the samples (where
"always say that class" scores 90 %) change how a figure reads.  The engine counts;
this module holds the counts and says what they mean, without numpy or Qt.
(It travels inside the model summary, so it does not import `units`, which imports
the metrics module that holds the summary.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Largest over smallest class share above which the data reads as imbalanced: top-1
# accuracy then says little about the rare classes.
IMBALANCE = 3.0
FEW_EVAL = 100  # fewer evaluation samples: one sample moves top-1 by more than 1 point


@dataclass(frozen=True)
class ClassCount:
    name: str
    train: int
    eval: int

    @property
    def total(self) -> int:
        return self.train + self.eval


@dataclass(frozen=True)
class DataSummary:
    """Sample counts per split, and per class (classifiers) or the target's range."""

    source: str
    train: int  # fine-tune and calibration samples
    eval: int  # samples every candidate is measured on
    presplit: bool  # the file gave its own test split (else EVAL_FRACTION at random)
    labeled: bool
    output: str = ""  # the output the labels below belong to
    classes: tuple[ClassCount, ...] = ()
    target: tuple[float, float, float] | None = None  # min, mean, max of a score

    @property
    def total(self) -> int:
        return self.train + self.eval

    def shares(self) -> list[float]:
        total = sum(c.total for c in self.classes) or 1
        return [c.total / total for c in self.classes]

    def missing(self) -> list[str]:
        """Classes the model can predict that no evaluation sample has."""
        return [c.name for c in self.classes if c.eval == 0]

    def imbalanced(self) -> bool:
        present = [s for s in self.shares() if s > 0]
        return len(present) > 1 and max(present) / min(present) > IMBALANCE

    def split_text(self) -> str:
        how = (
            "the file's own test split"
            if self.presplit
            else f"{_percent(self.eval / max(1, self.total), 0)} held out at random"
        )
        return (
            f"{self.total:,} samples: {self.train:,} to fine-tune and calibrate, "
            f"{self.eval:,} to measure ({how})"
        )

    def labels_text(self) -> str:
        """One line on the labels: classes and their balance, or the target's range."""
        if not self.labeled:
            return "no labels: only post-training quantization, scored by agreement with float"
        of = f" (output {self.output})" if self.output else ""
        if self.target is not None:
            lo, mean, hi = self.target
            return f"target{of} from {lo:.4g} to {hi:.4g}, mean {mean:.4g}"
        shares = self.shares()
        present = [s for s in shares if s > 0]
        if not present:
            return f"no labeled samples{of}"
        balance = (
            "imbalanced" if self.imbalanced() else "balanced"
        ) + f" ({_percent(min(present), 1)}–{_percent(max(present), 1)} each)"
        return f"{len(self.classes)} classes{of}, {balance}"

    def warnings(self) -> list[str]:
        """What makes the accuracy figures read differently than they seem, and what to do."""
        out = []
        if self.labeled and self.eval < FEW_EVAL:
            out.append(
                f"only {self.eval} samples to measure on: one sample is "
                f"{_percent(1 / max(1, self.eval), 1)} of top-1; add data for figures "
                f"that can tell candidates apart"
            )
        missing = self.missing()
        if missing and self.classes:
            names = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
            out.append(
                f"{len(missing)} class(es) have no samples to measure on ({names}): "
                f"a candidate that loses them scores the same"
            )
        if self.imbalanced():
            big = max(self.classes, key=lambda c: c.total)
            share = big.total / max(1, sum(c.total for c in self.classes))
            out.append(
                f"class {big.name} has {_percent(share, 0)} of the samples: always "
                f"answering it scores that much; compare candidates by agreement too"
            )
        return out

    def per_class_text(self) -> str:
        """Every class's counts, for a tooltip."""
        return "\n".join(
            f"{c.name}: {c.train:,} fine-tune, {c.eval:,} measure ({_percent(s, 1)})"
            for c, s in zip(self.classes, self.shares(), strict=True)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "train": self.train,
            "eval": self.eval,
            "presplit": self.presplit,
            "labeled": self.labeled,
            "output": self.output,
            "classes": [[c.name, c.train, c.eval] for c in self.classes],
            "target": None if self.target is None else list(self.target),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataSummary:
        try:
            target = data.get("target")
            return cls(
                source=str(data["source"]),
                train=int(data["train"]),
                eval=int(data["eval"]),
                presplit=bool(data.get("presplit", False)),
                labeled=bool(data.get("labeled", True)),
                output=str(data.get("output", "")),
                classes=tuple(
                    ClassCount(str(n), int(t), int(e)) for n, t, e in data.get("classes", ())
                ),
                target=None
                if target is None
                else (float(target[0]), float(target[1]), float(target[2])),
            )
        except (TypeError, KeyError, IndexError) as err:
            raise ValueError(f"data summary: {err}") from err


def _percent(fraction: float, digits: int) -> str:
    return f"{100 * fraction:.{digits}f} %"
