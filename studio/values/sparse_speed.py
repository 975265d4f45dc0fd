"""Will pruning make this model faster on a phone's CPU?  The speed advisor.

LiteRT runs pruned weights faster only through XNNPACK's sparse inference, which takes
a float graph under strict rules (tensorflow/lite/delegates/xnnpack/README.md, "Sparse
Inference", and XNNPACK's `xnn_check_nchw_compatibility`), checked here in order on the
candidate's own converted graph (`studio.engine.tflite_file.graph_ops` reads it):

1. float weights (the sparse kernels are float only: unstructured zeros in an int8 or
   dynamic-range model run as dense maths);
2. weights stored sparse (the converter's sparse storage, `pruning.sparse_format`:
   `DENSIFY` ops in the file);
3. the sparse part starts with a 3x3, stride-2 `CONV_2D` on 3 input channels (an RGB
   image) padded by exactly 1 on each side;
4. in it only 1x1 `CONV_2D`s (stride 1), 3x3 or 5x5 depthwise convolutions (stride 1 or
   2) padded by exactly 1 (2) on each side, `ADD`/`MUL` of 4D tensors,
   `RESIZE_BILINEAR` and unary elementwise ops;
5. it ends with a `MEAN` over the spatial axes (or `DEPTH_TO_SPACE`): a Dense head after
   the mean runs dense, which is allowed, but a `RESHAPE` (a Flatten) before it is not;
6. at least 2/3 of the weights of its 1x1 convolutions are zeros.

"Padded by exactly 1 on each side" is where Keras models usually fail at stride 2:
XNNPACK turns a `padding="same"` convolution into explicit padding at stride 1 only; at
stride 2 it stays "TensorFlow SAME" (asymmetric on even sizes), which its sparse path
refuses.  An explicit `ZeroPadding2D(1)` before a stride-2 `padding="valid"`
convolution stays a `PAD` in the file, which XNNPACK folds into the convolution as
padding 1 on each side.  (Keras' own MobileNetV2 pads (0, 1) for even sizes: refused.)

The first rule that fails is named with its operator (index and layer) and what would
make it apply.  `LIMITS` says what does not speed up on phone CPUs today, whatever the
graph, so nobody fine-tunes for hours for a speed that will not come.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

MIN_ZEROS = 2 / 3  # of the 1x1 convolutions' weights, across the sparse part

UNARY = frozenset(
    {
        "ABS", "CEIL", "ELU", "FLOOR", "HARD_SWISH", "LEAKY_RELU", "LOGISTIC", "NEG",
        "RELU", "RELU6", "RELU_N1_TO_1", "ROUND", "SQUARE",
    }
)  # fmt: skip
# Operators the converter adds around weights or that cost nothing: not part of the rules.
PASS_THROUGH = frozenset({"DENSIFY", "DEQUANTIZE"})

LIMITS = {
    "avx": "XNNPACK uses its sparse kernels on ARM (phones) and on x86 CPUs without AVX "
    "only: on a desktop or laptop CPU with AVX it runs every model densely, so a sparse "
    "model's speed-up can only be measured on the phone.",
    "2:4": "2:4 structured sparsity does not speed up on phone CPUs today: no LiteRT CPU "
    "kernel uses it (it pays on GPUs with sparse tensor cores).",
    "int8": "Unstructured sparsity in int8 or dynamic-range models does not speed up on "
    "phone CPUs: XNNPACK's sparse kernels are float only. The zeros still make the "
    "download smaller (gzip, or sparse storage).",
    "dense": "Dense (fully connected) layers never run sparse: their zeros shrink the file "
    "only.",
}


@dataclass(frozen=True)
class GraphOp:
    """One operator of a converted graph, as much as the rules need."""

    index: int
    kind: str  # the builtin operator's name: "CONV_2D", "MEAN", ...
    layer: str  # the Keras layer it came from (its output tensor's name)
    kernel: tuple[int, int] | None = None  # convolutions: (height, width)
    stride: tuple[int, int] | None = None
    padding: str | None = None  # "SAME" or "VALID"
    pads: tuple[int, int, int, int] | None = None  # PAD: (top, bottom, left, right)
    source: int | None = None  # the operator whose output is its first input (None: the graph's input)
    dilation: tuple[int, int] | None = None
    in_channels: int | None = None  # CONV_2D: its filter's input channels
    weights: int = 0  # how many weights it has (0: none)
    zeros: float = 0.0  # their share of zeros
    weight_type: str = ""  # "float32", "int8", ... ("" without weights)
    sparse_storage: bool = False  # its weights come from a DENSIFY (stored sparse)
    spatial_mean: bool = False  # MEAN: over the height and width axes
    rank4: bool = True  # ADD/MUL: both inputs 4D (or a scalar / 1D constant)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> GraphOp:
        known = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        for key in ("kernel", "stride", "dilation", "pads"):
            if known.get(key) is not None:
                known[key] = tuple(known[key])
        return cls(**known)

    @property
    def name(self) -> str:
        return f"{self.kind} #{self.index} ({self.layer})"


@dataclass(frozen=True)
class Problem:
    rule: str  # "float", "storage", "start", "op", "end", "zeros"
    op: int | None  # the operator's index in the graph, if one is to blame
    layer: str
    message: str  # what fails, naming the op
    fix: str  # what would make it apply


@dataclass(frozen=True)
class SparseAdvice:
    """The verdict for one candidate's graph."""

    applies: bool
    problems: tuple[Problem, ...] = ()
    zeros: float | None = None  # across the sparse part's 1x1 convolutions
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        if self.applies:
            return (
                f"XNNPACK's sparse inference applies: {self.zeros:.0%} zeros across the "
                f"1x1 convolutions run as sparse maths on phone (ARM) CPUs, not on an x86 "
                f"CPU with AVX, where XNNPACK runs it densely: time it on the phone (on an "
                f"emulated CPU without AVX a MobileNetV2 pruned to 80 % ran 2.6x faster)."
            )
        first = self.problems[0]
        return f"No sparse speed-up: {first.message} To get one: {first.fix}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> SparseAdvice:
        return cls(
            applies=bool(raw["applies"]),
            problems=tuple(Problem(**p) for p in raw.get("problems", ())),
            zeros=raw.get("zeros"),
            notes=tuple(raw.get("notes", ())),
        )


def advise(ops: list[GraphOp], structure: str | None = None) -> SparseAdvice:
    """Check the rules in order; the first failing one decides (later ones would only
    matter once it is fixed).  `structure`: the pruning's (`pruning.structure`), whose
    limit is said whatever the graph."""
    weighted = [op for op in ops if op.weights]
    notes = tuple(
        f"{op.name} is a Dense layer: its {op.zeros:.0%} zeros shrink the file only."
        for op in weighted
        if op.kind == "FULLY_CONNECTED" and op.zeros >= 0.3
    )
    if structure == "2:4":
        notes = (LIMITS["2:4"], *notes)
    problem = _check(ops, weighted)
    zeros = _zeros_1x1(_sparse_part(ops))
    if problem is None:
        return SparseAdvice(True, (), zeros, notes)
    return SparseAdvice(False, (problem,), zeros, notes)


def _check(ops: list[GraphOp], weighted: list[GraphOp]) -> Problem | None:
    quantized = [op for op in weighted if op.weight_type not in ("float32", "float16", "")]
    convs = [op for op in weighted if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    if not convs:
        return Problem(
            "start", None, "",
            "the model has no convolutions; XNNPACK's sparse inference is for "
            "convolutional image models (MobileNet-like).",
            "nothing for this model: prune it for a smaller download only.",
        )  # fmt: skip
    if quantized and any(op in quantized for op in convs):
        op = next(op for op in convs if op in quantized)
        return Problem(
            "float", op.index, op.layer,
            f"{op.name} has {op.weight_type} weights; XNNPACK's sparse kernels are float only.",
            "keep this candidate float (quantization off) with sparse storage; int8 makes "
            "it smaller, not faster from its zeros.",
        )  # fmt: skip
    part = _sparse_part(ops)
    if not any(op.sparse_storage for op in part if op.weights):
        return Problem(
            "storage", None, "",
            "its weights are stored dense (zeros kept as zeros).",
            "turn on sparse storage (pruning.sparse_format) so the file keeps only the "
            "non-zero weights.",
        )  # fmt: skip
    by_index = {op.index: op for op in ops}
    stem = next((op for op in part if op.kind != "PAD"), None)
    if stem is None or stem.kind != "CONV_2D" or not _is_stem(stem, by_index):
        shown = stem or part[0]
        return Problem(
            "start", shown.index, shown.layer,
            f"the graph starts with {shown.name}{_shape(shown, by_index)}; the sparse part "
            f"must start with a 3x3, stride-2 convolution on 3 input channels padded by 1 "
            f"on each side.",
            "begin the network with ZeroPadding2D(1) then Conv2D(filters, 3, strides=2, "
            "padding='valid') on the RGB image (padding='same' is not taken; no rescaling "
            "op before it in the graph).",
        )  # fmt: skip
    for op in part:
        if op is stem or op.kind in PASS_THROUGH or op.kind == "MEAN":
            continue
        if op.kind == "PAD" and _feeds_allowed_conv(op, ops):
            continue
        if _allowed(op, by_index):
            continue
        return Problem("op", op.index, op.layer, *_why_not(op, by_index))
    end = _end(ops)
    if end is None:
        last = part[-1]
        return Problem(
            "end", last.index, last.layer,
            f"the convolutions are not followed by a spatial mean ({last.name} comes "
            f"first).",
            "end the convolutional part with GlobalAveragePooling2D (a MEAN over height "
            "and width) instead of Flatten.",
        )  # fmt: skip
    zeros = _zeros_1x1(part)
    if zeros is None:
        return Problem(
            "op", None, "",
            "the sparse part has no 1x1 convolution, the only layers that run sparse.",
            "use depthwise-separable blocks (depthwise 3x3 then 1x1 convolution).",
        )  # fmt: skip
    if zeros < MIN_ZEROS:
        return Problem(
            "zeros", None, "",
            f"its 1x1 convolutions are {zeros:.0%} zeros; sparse kernels need at least "
            f"{MIN_ZEROS:.0%}.",
            "prune the 1x1 convolutions to 75 % or more (pruning.target_sparsity, "
            "pruning.layers); the first convolution and the head may stay dense.",
        )  # fmt: skip
    return None


def _padding(op: GraphOp, by_index: dict[int, GraphOp]) -> tuple[int, int, int, int] | None:
    """The padding XNNPACK sees for a convolution: a PAD before a "valid" one folds into
    it; "same" at stride 1 becomes symmetric padding, at stride 2 it stays "TensorFlow
    SAME" (None), which the sparse path refuses."""
    if op.padding == "SAME":
        if op.stride not in (None, (1, 1)):
            return None
        kh, kw = op.kernel or (1, 1)
        return ((kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2)
    before = by_index.get(op.source) if op.source is not None else None
    if before is not None and before.kind == "PAD" and before.pads is not None:
        return before.pads
    return (0, 0, 0, 0)


def _is_stem(op: GraphOp, by_index: dict[int, GraphOp]) -> bool:
    return (
        op.kernel == (3, 3)
        and op.stride == (2, 2)
        and op.dilation in (None, (1, 1))
        and op.in_channels == 3
        and _padding(op, by_index) == (1, 1, 1, 1)
    )


def _shape(op: GraphOp, by_index: dict[int, GraphOp]) -> str:
    if op.kernel is None:
        return ""
    kh, kw = op.kernel
    sh, _ = op.stride or (1, 1)
    pads = _padding(op, by_index)
    padded = "TensorFlow 'same'" if pads is None else "padded " + "/".join(map(str, pads))
    channels = f", {op.in_channels} input channel(s)" if op.in_channels else ""
    return f": {kh}x{kw}, stride {sh}, {padded}{channels}"


def _allowed(op: GraphOp, by_index: dict[int, GraphOp]) -> bool:
    if op.kind == "CONV_2D":
        return op.kernel == (1, 1) and op.stride in (None, (1, 1))
    if op.kind == "DEPTHWISE_CONV_2D":
        if op.kernel not in ((3, 3), (5, 5)) or op.stride not in ((1, 1), (2, 2)):
            return False
        side = op.kernel[0] // 2
        return op.dilation in (None, (1, 1)) and _padding(op, by_index) == (side,) * 4
    if op.kind in ("ADD", "MUL"):
        return op.rank4
    return op.kind in UNARY or op.kind in ("RESIZE_BILINEAR", "MEAN")


def _feeds_allowed_conv(pad: GraphOp, ops: list[GraphOp]) -> bool:
    """A PAD XNNPACK folds into the convolution after it (which is checked itself)."""
    return any(op.source == pad.index and op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D") for op in ops)


def _why_not(op: GraphOp, by_index: dict[int, GraphOp]) -> tuple[str, str]:
    if op.kind == "CONV_2D":
        return (
            f"{op.name}{_shape(op, by_index)} is a full convolution; inside the sparse "
            f"part only 1x1 convolutions (stride 1) are allowed.",
            "replace it with a depthwise 3x3 followed by a 1x1 convolution "
            "(SeparableConv2D / a MobileNet block).",
        )
    if op.kind == "DEPTHWISE_CONV_2D":
        same = _padding(op, by_index) is None
        return (
            f"{op.name}{_shape(op, by_index)} is a depthwise convolution XNNPACK's sparse "
            f"path does not take"
            + (" ('same' at stride 2 reaches it as TensorFlow SAME)." if same else "."),
            "use a 3x3 (or 5x5) kernel: padding='same' at stride 1; at stride 2, "
            "ZeroPadding2D(1) (2 for 5x5) then padding='valid'.",
        )
    if op.kind == "PAD":
        return (
            f"{op.name} pads a tensor no convolution takes next.",
            "pad only right before a convolution (ZeroPadding2D then padding='valid').",
        )
    if op.kind in ("RESHAPE", "FULLY_CONNECTED"):
        return (
            f"{op.name} flattens the feature maps before any spatial mean.",
            "use GlobalAveragePooling2D before the Dense head instead of Flatten.",
        )
    if op.kind in ("ADD", "MUL"):
        return (
            f"{op.name} combines tensors that are not both 4D.",
            "keep additions and multiplications between feature maps (or by a scalar / "
            "per-channel constant).",
        )
    return (
        f"{op.name} is an operator XNNPACK's sparse path does not take.",
        "remove it from the convolutional part, or move it after the global average "
        "pooling.",
    )


def _sparse_part(ops: list[GraphOp]) -> list[GraphOp]:
    """The operators that are not pass-through, up to the spatial mean (or the end of
    the graph)."""
    body = [op for op in ops if op.kind not in PASS_THROUGH]
    end = _end(ops)
    return [op for op in body if end is None or op.index <= end.index]


def _end(ops: list[GraphOp]) -> GraphOp | None:
    for op in ops:
        if (op.kind == "MEAN" and op.spatial_mean) or op.kind == "DEPTH_TO_SPACE":
            return op
        if op.kind in ("RESHAPE", "FULLY_CONNECTED"):
            return None
    return None


def _zeros_1x1(part: list[GraphOp]) -> float | None:
    pointwise = [op for op in part if op.kind == "CONV_2D" and op.kernel == (1, 1) and op.weights]
    total = sum(op.weights for op in pointwise)
    if not total:
        return None
    return sum(op.zeros * op.weights for op in pointwise) / total
