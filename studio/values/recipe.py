"""Recipes: which techniques to apply, with which parameters, as a frozen value.

A recipe crosses every boundary of the studio (panels -> job -> worker -> files -> CLI),
so it is an immutable, validated value with one JSON form.  Validation happens when the
value is made: an impossible value (sparsity 1.5, 0 clusters) is rejected with the
dotted field name, so the panel or the CLI can point at it.  Nothing is silently fixed.

This module imports no TensorFlow: the window builds recipes too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.values import modes
from studio.values.errors import RecipeError, reading_problem

QUANT_MODES = modes.NAMES
IO_TYPES = modes.IO_TYPES
SCHEDULES = ("constant", "polynomial")
STRUCTURES = (None, "2:4")
CENTROID_INITS = ("kmeans++", "linear", "density", "random")
BLOCK_SIZES = (0, 32, 64, 128, 256)  # int4: 0 per output channel, else blocks of N weights
PRECISIONS = ("float", "int8", "int4")  # what a per-op rule keeps an op's weights in


def _fail(field_name: str, message: str) -> None:
    raise RecipeError(f"{field_name}: {message}")


def _check_number(
    name: str,
    value: Any,
    lo: float,
    hi: float,
    *,
    integer: bool = False,
    lo_open: bool = False,
    hi_open: bool = False,
) -> None:
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        _fail(name, f"must be {kind}, got {value!r}")
    if not math.isfinite(value):
        _fail(name, f"must be a finite number, got {value!r}")
    too_low = value <= lo if lo_open else value < lo
    too_high = value >= hi if hi_open else value > hi
    if too_low or too_high:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        _fail(name, f"must be in {left}{lo:g}, {hi:g}{right}, got {value!r}")


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        shown = ", ".join("null" if c is None else repr(c) for c in choices)
        _fail(name, f"must be one of {shown}, got {value!r}")


def _check_layers(name: str, value: Any, *, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value):
        _fail(
            name, f"must be a list of layer names{' or null' if allow_none else ''}, got {value!r}"
        )


AUTO_STEPS = 300
AUTO_MAX_EPOCHS = 50


@dataclass(frozen=True)
class Pruning:
    """Magnitude pruning during a short fine-tune (tfmot prune_low_magnitude)."""

    target_sparsity: float = 0.5
    schedule: str = "polynomial"
    initial_sparsity: float = 0.0
    structure: str | None = None
    layers: tuple[str, ...] | None = None
    # None: "auto", see `epochs_for`.
    epochs: int | None = None
    # Adam's default: at 1e-4 a short fine-tune cannot recover from the zeros
    # (MobileNetV2 pruned 50 %: 54 % top-1 at 1e-4, 82 % at 1e-3, float 91 %).
    learning_rate: float = 1e-3
    batch_size: int = 32
    # Store the pruned weights in the converter's sparse format (only the non-zeros and
    # their positions): a smaller raw file, and the only way to XNNPACK's sparse kernels
    # (values/sparse_speed.py).  Off by default: a sparse int8 file needs LiteRT's
    # built-in kernels (the default XNNPACK delegate cannot prepare it).
    sparse_format: bool = False

    def __post_init__(self) -> None:
        _check_number(
            "pruning.target_sparsity", self.target_sparsity, 0, 1, lo_open=True, hi_open=True
        )
        _check_choice("pruning.schedule", self.schedule, SCHEDULES)
        _check_number("pruning.initial_sparsity", self.initial_sparsity, 0, 1, hi_open=True)
        if self.schedule == "polynomial" and self.initial_sparsity > self.target_sparsity:
            _fail(
                "pruning.initial_sparsity",
                f"must not exceed target_sparsity ({self.target_sparsity}) for the polynomial schedule",
            )
        _check_choice("pruning.structure", self.structure, STRUCTURES)
        if self.structure == "2:4" and self.target_sparsity != 0.5:
            _fail(
                "pruning.target_sparsity",
                "2:4 structured pruning always zeroes 2 of every 4 weights; set target_sparsity to 0.5",
            )
        _check_layers("pruning.layers", self.layers)
        if self.epochs is not None:
            _check_number("pruning.epochs", self.epochs, 1, 1000, integer=True)
        _check_number("pruning.learning_rate", self.learning_rate, 0, 1, lo_open=True)
        _check_number("pruning.batch_size", self.batch_size, 1, 65536, integer=True)
        _check_choice("pruning.sparse_format", self.sparse_format, (True, False))

    def epochs_for(self, samples: int) -> int:
        """The epochs this fine-tune runs on `samples` training examples.

        "Auto" (None) aims at AUTO_STEPS optimizer steps, at least 2 and at most 50
        epochs: a network needs a few hundred steps to recover from its zeros, and the
        schedule leaves only the last 40 % of them at the final sparsity.  Two epochs of a
        few hundred samples are ~60 steps (MobileNetV2 pruned 50 %: 82 % top-1 after 2
        epochs, 93 % after 10, float 91 %; a regressor's MAE +45 % after 2 epochs)."""
        if self.epochs is not None:
            return self.epochs
        steps = max(1, math.ceil(samples / self.batch_size))
        return min(AUTO_MAX_EPOCHS, max(2, math.ceil(AUTO_STEPS / steps)))


@dataclass(frozen=True)
class Clustering:
    """Weight clustering (tfmot cluster_weights): each layer keeps `clusters` distinct values."""

    clusters: int = 16
    init: str = "kmeans++"
    per_channel: bool = False
    preserve_sparsity: bool = True
    layers: tuple[str, ...] | None = None
    epochs: int = 1
    learning_rate: float = 1e-5
    batch_size: int = 32

    def __post_init__(self) -> None:
        _check_number("clustering.clusters", self.clusters, 2, 256, integer=True)
        _check_choice("clustering.init", self.init, CENTROID_INITS)
        _check_choice("clustering.per_channel", self.per_channel, (True, False))
        _check_choice("clustering.preserve_sparsity", self.preserve_sparsity, (True, False))
        _check_layers("clustering.layers", self.layers)
        _check_number("clustering.epochs", self.epochs, 0, 1000, integer=True)
        _check_number("clustering.learning_rate", self.learning_rate, 0, 1, lo_open=True)
        _check_number("clustering.batch_size", self.batch_size, 1, 65536, integer=True)


@dataclass(frozen=True)
class OpRule:
    """A per-op rule of an int4 recipe: the weights of the operators of layers whose name
    matches `pattern` (a regular expression, searched: `dense` matches `dense_1`,
    `^dense$` only `dense`) are kept in `precision`.  Later rules win over earlier ones."""

    pattern: str
    precision: str = "float"

    def __post_init__(self) -> None:
        if not isinstance(self.pattern, str) or not self.pattern:
            _fail("quantization.op_rules.pattern", f"must be a non-empty text, got {self.pattern!r}")
        try:
            re.compile(self.pattern)
        except re.error as err:
            _fail(
                "quantization.op_rules.pattern",
                f"{self.pattern!r} is not a regular expression ({err}); "
                f"a layer's name alone is one",
            )
        _check_choice("quantization.op_rules.precision", self.precision, PRECISIONS)

    @classmethod
    def from_dict(cls, data: Any) -> OpRule:
        if isinstance(data, OpRule):
            return data
        if not isinstance(data, dict):
            _fail(
                "quantization.op_rules",
                f'each rule must be an object like {{"pattern": "dense_1", '
                f'"precision": "float"}}, got {data!r}',
            )
        _reject_unknown("quantization.op_rules", data, {"pattern", "precision"})
        return cls(**data)

    def to_dict(self) -> dict[str, str]:
        return {"pattern": self.pattern, "precision": self.precision}


@dataclass(frozen=True)
class Quantization:
    """How the model is converted: post-training mode, optional QAT, float-kept layers."""

    mode: str = "none"
    qat: bool = False
    epochs: int = 1
    # 1e-4, not 1e-5: one QAT epoch at 1e-5 barely moved the weights towards their int8
    # grid, and EfficientNet-B0 came out 3 points *below* plain int8 (93.5 vs 96.5 %);
    # at 1e-4 it is 97.3 %, and MobileNetV2/V3, a small CNN and a regressor keep or gain
    # (benchmarks/RESULTS.md, "QAT learning rate").
    learning_rate: float = 1e-4
    batch_size: int = 32
    calibration_samples: int = 100
    io_type: str = "float32"
    float_layers: tuple[str, ...] = ()
    # Let the converter fall back to TensorFlow's own kernels ("select TF ops", Flex) for
    # operations TFLite's builtin set cannot express.  Opt-in: the app then ships the
    # select-TF-ops runtime, several MB larger, and LiteRT here cannot run those kernels.
    select_tf_ops: bool = False
    # int4 (the LiteRT Quantizer): per-channel scales (0) or one per block of N weights
    # of Dense and Embedding tables; and per-op rules, applied in order after the mode's.
    block_size: int = 0
    op_rules: tuple[OpRule, ...] = ()

    def __post_init__(self) -> None:
        _check_choice("quantization.mode", self.mode, QUANT_MODES)
        if not isinstance(self.op_rules, tuple):
            _fail("quantization.op_rules", f"must be a list of rules, got {self.op_rules!r}")
        object.__setattr__(self, "op_rules", tuple(OpRule.from_dict(r) for r in self.op_rules))
        _check_choice("quantization.block_size", self.block_size, BLOCK_SIZES)
        if self.block_size and self.mode != "int4":
            _fail("quantization.block_size", f'blocks are for mode "int4" (it is {self.mode!r}); use 0')
        if self.op_rules and self.mode != "int4":
            _fail(
                "quantization.op_rules",
                f'per-op rules are for mode "int4" (it is {self.mode!r}); for int8 keep '
                f"layers in float with quantization.float_layers",
            )
        _check_choice("quantization.select_tf_ops", self.select_tf_ops, (True, False))
        _check_choice("quantization.qat", self.qat, (True, False))
        if self.qat and self.mode != "int8":
            _fail(
                "quantization.qat",
                f"quantization-aware training produces an int8 model; "
                f'set quantization.mode to "int8" (it is {self.mode!r})',
            )
        _check_number("quantization.epochs", self.epochs, 1, 1000, integer=True)
        _check_number("quantization.learning_rate", self.learning_rate, 0, 1, lo_open=True)
        _check_number("quantization.batch_size", self.batch_size, 1, 65536, integer=True)
        _check_number(
            "quantization.calibration_samples", self.calibration_samples, 1, 100000, integer=True
        )
        _check_choice("quantization.io_type", self.io_type, IO_TYPES)
        if self.io_type not in modes.mode(self.mode).io_types:
            needed = next(m.name for m in modes.MODES.values() if self.io_type in m.io_types)
            _fail(
                "quantization.io_type",
                f"{self.io_type!r} inputs and outputs need mode "
                f"{needed!r}; with mode {self.mode!r} use 'float32'",
            )
        _check_layers("quantization.float_layers", self.float_layers, allow_none=False)
        if self.float_layers and self.mode != "int8":
            _fail(
                "quantization.float_layers",
                'keeping layers in float (selective quantization) needs mode "int8"',
            )


@dataclass(frozen=True)
class Recipe:
    """A candidate's techniques.  Absent sections are switched off."""

    pruning: Pruning | None = None
    clustering: Clustering | None = None
    quantization: Quantization = field(default_factory=Quantization)
    seed: int = 0

    def __post_init__(self) -> None:
        _check_number("seed", self.seed, 0, 2**31 - 1, integer=True)
        if self.clustering and self.clustering.per_channel and self.quantization.qat:
            _fail(
                "clustering.per_channel",
                "per-channel clustering cannot be combined with "
                "cluster-preserving QAT in tfmot 0.8; switch one of them off",
            )
        if self.pruning and self.pruning.sparse_format and self.quantization.mode == "int4":
            _fail(
                "pruning.sparse_format",
                "the LiteRT Quantizer (int4) starts from a densely stored float file and "
                "writes dense int4 weights; switch sparse storage off (int4's zeros still "
                "shrink the gzip size)",
            )

    # -- JSON form -------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any) -> Recipe:
        if not isinstance(data, dict):
            raise RecipeError(f"a recipe must be a JSON object, got {type(data).__name__}")
        sections = {"pruning": Pruning, "clustering": Clustering, "quantization": Quantization}
        _reject_unknown("", data, set(sections) | {"seed"})
        kwargs: dict[str, Any] = {}
        for name, kind in sections.items():
            value = data.get(name)
            if value is None:
                continue
            if not isinstance(value, dict):
                raise RecipeError(f"{name}: must be an object or null, got {value!r}")
            kwargs[name] = _section(kind, name, value)
        if "seed" in data:
            kwargs["seed"] = data["seed"]
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        def plain(section: Any) -> Any:
            if section is None:
                return None
            return {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(section).items()
            }

        return {
            "pruning": plain(self.pruning),
            "clustering": plain(self.clustering),
            "quantization": plain(self.quantization),
            "seed": self.seed,
        }

    @classmethod
    def from_json(cls, text: str, source: str = "recipe") -> Recipe:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise RecipeError(f"{source}: {reading_problem(err)}") from err
        return cls.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> Recipe:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as err:
            raise RecipeError(f"recipe file {path} does not exist") from err
        except (OSError, UnicodeDecodeError) as err:
            raise RecipeError(f"cannot read recipe file {path}: {reading_problem(err)}") from err
        try:
            return cls.from_json(text, source=f"recipe file {path}")
        except RecipeError as err:
            raise RecipeError(f"{path}: {err}") from err

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def fine_tune_key(self) -> tuple:
        """What the pruning and clustering fine-tunes depend on: candidates equal in it
        share one (a sweep's groups, the cluster's prefix cache).  Sparse storage is the
        converter's business, not the fine-tune's."""
        pruning = self.pruning and dataclasses.replace(self.pruning, sparse_format=False)
        return (pruning, self.clustering, self.seed)

    def stages(self) -> tuple[str, ...]:
        """The pipeline stages this recipe goes through, in order (for overall progress)."""
        optional = {
            "prune": self.pruning,
            "cluster": self.clustering,
            "qat": self.quantization.qat,
        }
        return (
            "load",
            "baseline",
            *(name for name, on in optional.items() if on),
            "convert",
            "evaluate",
            "done",
        )

    def progress(self, stage: str, fraction: float | None) -> float:
        """Overall fraction done, from the current stage and the fraction of that stage."""
        stages = self.stages()
        if stage not in stages:
            return 0.0
        return min(1.0, (stages.index(stage) + (fraction or 0.0)) / (len(stages) - 1))

    def describe(self) -> str:
        """A short label that tells any two recipes with different effects apart.

        The technique comes first ('prune 80% + 16 clusters + int8'); whatever differs
        from the defaults follows the technique it belongs to, in brackets ('prune 50%
        (10 ep, lr 1e-4) + int8 (conv1 in float)').  Users compare candidates by their
        labels, so two candidates that differ only in a float-kept layer or the epochs
        must not read alike.  Fields with no effect (QAT's epochs without QAT) are left
        out: see `effective`.
        """
        r = self.effective()
        parts = []
        if r.pruning:
            p = r.pruning
            name = "prune 2:4" if p.structure else f"prune {p.target_sparsity:.0%}"
            parts.append(_with(name, _extras(p, Pruning(), _PRUNING_TEXT)))
        if r.clustering:
            c = r.clustering
            parts.append(_with(f"{c.clusters} clusters", _extras(c, Clustering(), _CLUSTER_TEXT)))
        q = r.quantization
        extras = _extras(q, Quantization(), _QUANT_TEXT)
        if q.qat:
            parts.append(_with("QAT int8", extras))
        elif q.mode != "none":
            parts.append(_with(q.mode, extras))
        label = " + ".join(parts) or "float"
        return f"{label}, seed {r.seed}" if r.seed else label

    def effective(self) -> Recipe:
        """The same recipe with the fields that change nothing set to their defaults.

        QAT's epochs, rate and batch do nothing without QAT; calibration samples nothing
        without an integer mode.  Layer lists are sets: their order changes nothing."""
        q = self.quantization
        default = Quantization()
        if not q.qat:
            q = dataclasses.replace(
                q,
                epochs=default.epochs,
                learning_rate=default.learning_rate,
                batch_size=default.batch_size,
            )
        if not modes.calibrated(q.mode):
            q = dataclasses.replace(q, calibration_samples=default.calibration_samples)
        q = dataclasses.replace(q, float_layers=tuple(sorted(q.float_layers)))
        pruning, clustering = self.pruning, self.clustering
        if pruning is not None:
            if pruning.schedule == "constant":
                pruning = dataclasses.replace(pruning, initial_sparsity=0.0)
            pruning = dataclasses.replace(pruning, layers=_sorted(pruning.layers))
        if clustering is not None:
            clustering = dataclasses.replace(clustering, layers=_sorted(clustering.layers))
        return dataclasses.replace(self, pruning=pruning, clustering=clustering, quantization=q)


def _sorted(layers: tuple[str, ...] | None) -> tuple[str, ...] | None:
    return None if layers is None else tuple(sorted(layers))


def _number(x: float) -> str:
    """1e-4 -> '1e-4', 0.003 -> '3e-3', 0.25 -> '0.25': learning rates read at a glance."""
    if x >= 0.01:
        return f"{x:g}"
    mantissa, exponent = f"{x:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def _layers(layers: tuple[str, ...], suffix: str = "") -> str:
    """'conv1, dense' when short, else '5 layers #3fa1' (a digest tells two sets apart;
    the tooltip and the details pane list them)."""
    tail = f" {suffix}" if suffix else ""
    shown = ", ".join(layers)
    if len(layers) <= 2 and len(shown) <= 24:
        return f"{shown or 'no layers'}{tail}"
    digest = hashlib.sha1("\n".join(layers).encode()).hexdigest()[:4]
    return f"{len(layers)} layers #{digest}{tail}"


# For each field: how a non-default value reads in a label.  A field missing here is
# shown as 'name value', so a new field can never make two recipes read alike.
# A fine-tune's settings read the same in every technique.
_FINE_TUNE_TEXT = {
    "layers": lambda v: _layers(v),
    "epochs": lambda v: f"{v} ep",
    "learning_rate": lambda v: f"lr {_number(v)}",
    "batch_size": lambda v: f"batch {v}",
}
_PRUNING_TEXT = {
    "target_sparsity": None,  # in the technique's name
    "structure": None,
    "schedule": lambda v: v,
    "initial_sparsity": lambda v: f"from {v:.0%}",
    "sparse_format": lambda v: "sparse storage" if v else "dense storage",
    **_FINE_TUNE_TEXT,
}
_CLUSTER_TEXT = {
    "clusters": None,
    "init": lambda v: f"{v} init",
    "per_channel": lambda v: "per channel" if v else "per layer",
    "preserve_sparsity": lambda v: "zeros kept" if v else "zeros not kept",
    **_FINE_TUNE_TEXT,
}
_QUANT_TEXT = {
    "mode": None,
    "qat": None,
    **_FINE_TUNE_TEXT,
    "calibration_samples": lambda v: f"{v} calibration samples",
    "io_type": lambda v: f"{v} I/O",
    "float_layers": lambda v: _layers(v, "in float"),
    "select_tf_ops": lambda v: "TF ops" if v else "builtin ops",
    "block_size": lambda v: f"blocks of {v}",
    "op_rules": lambda v: _rules(v),
}


def _rules(rules: tuple[OpRule, ...]) -> str:
    """'dense_1 float' when short, else '3 op rules #3fa1' (as `_layers`)."""
    shown = ", ".join(f"{r.pattern} {r.precision}" for r in rules)
    if len(rules) <= 2 and len(shown) <= 28:
        return shown
    digest = hashlib.sha1(shown.encode()).hexdigest()[:4]
    return f"{len(rules)} op rules #{digest}"


def _extras(section: Any, default: Any, texts: dict) -> list[str]:
    out = []
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if value == getattr(default, f.name):
            continue
        text = texts.get(f.name, lambda v, n=f.name: f"{n} {v}")
        if text is not None:
            out.append(text(value))
    return out


def _with(name: str, extras: list[str]) -> str:
    return f"{name} ({', '.join(extras)})" if extras else name


def _reject_unknown(prefix: str, data: dict, known: set[str]) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise RecipeError(
            f"{where}{unknown[0]}: unknown recipe field; known fields are "
            f"{', '.join(sorted(known))}"
        )


def _section(kind: type, name: str, value: dict) -> Any:
    known = {f.name for f in dataclasses.fields(kind)}
    _reject_unknown(name, value, known)
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
    if args.get("float_layers", ()) is None:
        args["float_layers"] = ()
    return kind(**args)
