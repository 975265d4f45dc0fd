"""The quantization modes, as one table every part reads: the recipe's checks, the
panel's choices and tooltip, the sweep dialog, the recommendation's full-integer
tie-break, the file checks and the converter and script generator.

Adding a mode is one entry here plus the engine code that makes it
(`studio/engine/convert.py`, `studio/engine/codegen.py`); see docs/architecture.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.values import extras


@dataclass(frozen=True)
class Mode:
    name: str  # as recipes spell it ("quantization.mode")
    label: str  # the panel's choice
    short: str  # the sweep dialog's tick box
    tooltip: str  # one line of the panel's tooltip
    weights: str  # how the file stores most weights: "float32", "int8", "float16", "int4"
    activations: str  # what the maths runs in
    calibrated: bool  # needs representative samples (calibration_samples applies)
    full_integer: bool  # integer all the way: what NPUs/DSPs and XNNPACK's int8 paths run
    io_types: tuple[str, ...] = ("float32",)  # quantization.io_type values it allows
    maker: str = "TFLite converter"  # which engine makes it
    offered: bool = True  # shown as a choice in the panel and the sweep dialog
    swept: bool = False  # ticked in the sweep dialog by default
    # An optional extra the maker needs: (module to import, pip extra that installs it).
    needs: tuple[str, str] | None = None


MODES: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode(
            "none",
            "None (float32)",
            "float32",
            "None: the float model as it is.",
            weights="float32",
            activations="float32",
            calibrated=False,
            full_integer=False,
            offered=False,
        ),
        Mode(
            "dynamic",
            "Dynamic range (int8 weights)",
            "dynamic range",
            "Dynamic range: int8 weights, float maths (no data needed).",
            weights="int8",
            activations="float32",
            calibrated=False,
            full_integer=False,
            swept=True,
        ),
        Mode(
            "float16",
            "Float16 weights",
            "float16",
            "Float16: half-size weights, best accuracy.",
            weights="float16",
            activations="float32",
            calibrated=False,
            full_integer=False,
            swept=True,
        ),
        Mode(
            "int8",
            "Full integer int8",
            "full int8",
            "Full integer int8: everything in int8, fastest on phone CPUs and NPUs.",
            weights="int8",
            activations="int8",
            calibrated=True,
            full_integer=True,
            io_types=("float32", "int8", "uint8"),
            swept=True,
        ),
        Mode(
            "int16x8",
            "16x8 (int16 activations)",
            "16x8",
            "16x8: int16 activations with int8 weights, for accuracy-sensitive models.",
            weights="int8",
            activations="int16",
            calibrated=True,
            full_integer=True,
            io_types=("float32", "int16"),
        ),
        Mode(
            "int4",
            "Int4 weights (LiteRT Quantizer)",
            "int4",
            "Int4: 4-bit weights for Dense, Embedding and convolution layers (others int8), "
            "float maths; about half of dynamic range's size, usually a little less accurate; "
            "runs on LiteRT's default CPU path (XNNPACK).",
            weights="int4",
            activations="float32",
            calibrated=False,
            full_integer=False,
            maker="LiteRT Quantizer",
            needs=("litert_quantizer", "int4"),
        ),
    )
}

NAMES = tuple(MODES)
# The ops int4 weights run in on LiteRT's default CPU path (the LiteRT Quantizer's
# policy, checked in ai-edge-litert 2.3.0); the other weighted ops of an int4 candidate
# take int8 weights.  Dense and Embedding tables also take blocks of 32-256 weights.
INT4_OPS = ("FULLY_CONNECTED", "EMBEDDING_LOOKUP", "CONV_2D")
INT4_BLOCK_OPS = ("FULLY_CONNECTED", "EMBEDDING_LOOKUP")
IO_TYPES = tuple(dict.fromkeys(t for m in MODES.values() for t in m.io_types))


def mode(name: str) -> Mode:
    """The table's entry (KeyError for a name no recipe can hold: recipes are checked)."""
    return MODES[name]


def offered() -> list[Mode]:
    """The modes a user chooses from, in the table's order (some may be `missing`)."""
    return [m for m in MODES.values() if m.offered]


def usable() -> list[Mode]:
    """The offered modes this installation can make (what a search explores)."""
    return [m for m in offered() if not missing(m.name)]


def missing(name: str) -> str | None:
    """None when the mode can be made here, else one line naming the install command."""
    needs = MODES[name].needs if name in MODES else None
    if needs is None or extras.importable(needs[0]):
        return None
    return (
        f"mode {name!r} needs the {MODES[name].maker} ({needs[0]}), an optional extra: "
        f"{install_command(name)}"
    )


def install_command(name: str) -> str:
    """The pip command that installs what a mode needs ('' when it needs nothing)."""
    needs = MODES[name].needs
    return extras.install_command(needs[1]) if needs else ""


def full_integer(name: str) -> bool:
    return name in MODES and MODES[name].full_integer


def calibrated(name: str) -> bool:
    return name in MODES and MODES[name].calibrated
