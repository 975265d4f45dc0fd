"""Deciding from a model file's JSON alone whether loading it could run code.

A Keras file is a tree of JSON objects; the loaders turn every object with a
`class_name` into a Python object, wherever it sits.  So the whole tree is walked (every
value of every object and list, whatever its keys are called), and each object with a
`class_name` is classified:

- **code**: something that runs Python the file carries or names — a `Lambda` layer, a
  serialized lambda (`__lambda__`), marshalled bytecode (`function_type`), a `module`
  outside Keras (tf_keras imports any module a config names), a function that is not one
  of Keras' modelling functions (its activations, initializers, losses, metrics,
  regularizers, constraints — by name: `keras.utils.get_file` is in a Keras module too),
  or a tf_keras `TFOpLambda` naming a TensorFlow function off the allow-list
  below.  Loads only if the user trusts the file.
- a `TFOpLambda` (how tf_keras saves `tf.` calls in a functional graph, e.g. the hard-swish
  of `keras.applications.MobileNetV3Small`) naming a pure tensor function — `tf.math.*`,
  `tf.nn.*`, operators, `tf.reshape`, … (`TF_FUNCTIONS`) — is Keras' own: the function
  computes on tensors and its arguments are plain JSON values.  Anything else it could
  name (`tf.io.write_file`, `tf.py_function`, `tf.raw_ops.*`) still asks for trust.
- **unknown**: a class that is not on the allow-list of Keras' own classes (a custom layer,
  a class name that is not a string, a custom registered name).  The studio never imports
  the user's code, so trusting cannot make it load (except from a SavedModel, where
  tf_keras revives unknown layers from their traced graph without their code).
- anything else is one of Keras' own classes and is safe to deserialize.

This is an allow-list, not a schema: a `Lambda` hidden under an extra key, in a wrapper,
in a nested model or anywhere else is found because nothing is skipped.  Only the file's
own top-level compile section (a `.keras` root `compile_config`, an `.h5`
`training_config`) is never deserialized (models load with `compile=False`), so there
only bytecode counts (`code_only`).  A nested model's `compile_config` *is* deserialized
by Keras, so it is checked like everything else.

No TensorFlow here: the allow-list is passed in (see `studio.engine.models`).
"""

from __future__ import annotations

from collections.abc import Iterator, Set
from dataclasses import dataclass
from typing import Any

# Classes whose job is to run code they carry or name.
CODE_CLASSES = frozenset({"Lambda", "__lambda__", "TFOpLambda", "SlicingOpLambda"})
# TensorFlow functions a TFOpLambda may name without asking: pure tensor computations.
TF_NAMESPACES = ("math.", "nn.", "__operators__.", "linalg.", "signal.")
TF_FUNCTIONS = frozenset(
    [
        "abs",
        "add",
        "argmax",
        "argmin",
        "broadcast_to",
        "cast",
        "clip_by_value",
        "concat",
        "cumsum",
        "divide",
        "einsum",
        "exp",
        "expand_dims",
        "fill",
        "gather",
        "gather_nd",
        "identity",
        "image.resize",
        "matmul",
        "maximum",
        "minimum",
        "multiply",
        "one_hot",
        "ones",
        "ones_like",
        "pad",
        "range",
        "rank",
        "reduce_max",
        "reduce_mean",
        "reduce_min",
        "reduce_prod",
        "reduce_sum",
        "repeat",
        "reshape",
        "reverse",
        "roll",
        "sequence_mask",
        "shape",
        "sigmoid",
        "size",
        "slice",
        "split",
        "sqrt",
        "square",
        "squeeze",
        "stack",
        "strided_slice",
        "subtract",
        "tanh",
        "tile",
        "transpose",
        "unstack",
        "where",
        "zeros",
        "zeros_like",
        "compat.v1.shape",
        "compat.v1.gather",
        "compat.v1.squeeze",
    ]
)
# Keys under which tf_keras stores marshalled bytecode (a Lambda's function/output_shape).
CODE_KEYS = frozenset({"function_type", "output_shape_type"})
# Markers Keras' serializers use for plain values (tensors, tuples, numpy arrays, …).
VALUE_MARKERS = frozenset(
    {
        "__keras_tensor__",
        "__tensor__",
        "__numpy__",
        "__bytes__",
        "__tuple__",
        "__ellipsis__",
        "__slice__",
        "__typespec__",
    }
)
KERAS_PACKAGES = ("keras", "tf_keras")


@dataclass(frozen=True)
class Finding:
    """One object in the file that is not plainly Keras' own."""

    kind: str  # "code" or "unknown"
    what: str  # e.g. "a Lambda layer 'double'"
    where: str  # the layers it sits in, e.g. "model 'base' > 'wrapper'", or ""

    def describe(self) -> str:
        return f"{self.what} (in {self.where})" if self.where else self.what


def scan(
    tree: Any, allowed: Set[str], *, unknown_allowed: bool = False, code_only: bool = False
) -> list[Finding]:
    """Every finding in `tree`, code first.  `unknown_allowed`: a SavedModel's metadata,
    whose unknown classes tf_keras revives from the traced graph without their code.
    `code_only`: a part the loader never deserializes; only bytecode in it counts."""
    findings = _walk(tree, allowed, (), code_only=code_only, in_code=False)
    first: dict[tuple[str, str], Finding] = {}  # a SavedModel repeats each layer per node
    for f in findings:
        if not (unknown_allowed and f.kind == "unknown"):
            first.setdefault((f.kind, f.what), f)
    return sorted(first.values(), key=lambda f: f.kind != "code")


def _walk(
    node: Any, allowed: Set[str], where: tuple[str, ...], *, code_only: bool, in_code: bool
) -> Iterator[Finding]:
    """`in_code`: inside an object already reported as code (its insides are no news:
    the file asks for trust already)."""
    if isinstance(node, list | tuple):
        for item in node:
            yield from _walk(item, allowed, where, code_only=code_only, in_code=in_code)
        return
    if not isinstance(node, dict):
        return
    here = where
    if "class_name" in node:
        if not in_code:
            yield from _classify(node, allowed, where, code_only=code_only)
        in_code = in_code or _runs_code(node)
        name = _name_of(node)
        if name:
            here = (*where, name)
    for key in CODE_KEYS & node.keys():
        if node[key] not in (None, "raw") and not in_code:
            yield Finding("code", f"marshalled Python bytecode ({key!r})", _where(where))
    for value in node.values():
        yield from _walk(value, allowed, here, code_only=code_only, in_code=in_code)


def _classify(
    node: dict, allowed: Set[str], where: tuple[str, ...], *, code_only: bool
) -> Iterator[Finding]:
    cls = node["class_name"]
    name = _name_of(node)
    label = f"{cls} {name!r}" if name else str(cls)
    at = _where(where)
    if not isinstance(cls, str):
        if not code_only:
            yield Finding("unknown", f"an object whose class_name is {cls!r}", at)
        return
    if cls in CODE_CLASSES and not _runs_code(node):
        return
    if cls in CODE_CLASSES:
        kinds = {
            "Lambda": f"a Lambda layer {name!r}" if name else "a Lambda layer",
            "__lambda__": "a serialized Python function",
            "TFOpLambda": f"a call to TensorFlow function {_tf_function(node)}",
            "SlicingOpLambda": f"a call to TensorFlow function {_tf_function(node)}",
        }
        yield Finding("code", kinds[cls], at)
        return
    if code_only:
        return
    module = node.get("module")
    known = cls in allowed or cls in VALUE_MARKERS or (cls == "function" and module is not None)
    if cls == "function" and module is not None:
        # A function by name from Keras' modelling functions, not by module prefix:
        # `keras.utils.get_file` is in a Keras module too (CVE-2025-8747 had this shape).
        function = node.get("config")
        if not isinstance(function, str) or function_entry(function) not in allowed:
            yield Finding("code", f"function {module}.{function} (not a modelling function)", at)
            return
    if not known:  # a custom class: refused whatever module it names
        yield Finding("unknown", cls + (f" ({name!r})" if name else ""), at)
    elif module is not None and not _keras_module(module, cls):
        # tf_keras imports the module a config names: a Keras class name is no excuse
        yield Finding("code", f"{label} from module {module!r}, outside Keras", at)
    else:
        registered = node.get("registered_name")
        plain = cls in VALUE_MARKERS or cls == "function"
        if not plain and registered not in (None, cls) and registered not in allowed:
            yield Finding("unknown", f"{label} registered as {registered!r}", at)


def function_entry(name: str) -> str:
    """How a Keras function is named in the `allowed` set (beside class names)."""
    return f"function:{name}"


def _keras_module(module: Any, cls: str) -> bool:
    if not isinstance(module, str):
        return False
    if module == "builtins":  # Keras' way of naming its own functions ("relu")
        return cls == "function"
    return any(module == p or module.startswith(p + ".") for p in KERAS_PACKAGES)


def _name_of(node: dict) -> str:
    config = node.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    name = name if isinstance(name, str) else node.get("name")
    return name if isinstance(name, str) else ""


def _tf_function(node: dict) -> str:
    config = node.get("config")
    function = config.get("function") if isinstance(config, dict) else None
    return f"tf.{function}" if isinstance(function, str) else "(unnamed)"


def _runs_code(node: dict) -> bool:
    """Whether the object is one of the code classes (a TFOpLambda naming an allow-listed
    TensorFlow function is not: see TF_FUNCTIONS)."""
    cls = node["class_name"]
    if not isinstance(cls, str) or cls not in CODE_CLASSES:
        return False
    config = node.get("config")
    function = config.get("function") if isinstance(config, dict) else None
    if not cls.endswith("OpLambda") or not isinstance(function, str) or "raw_ops" in function:
        return True
    return not (function in TF_FUNCTIONS or function.startswith(TF_NAMESPACES))


def _where(path: tuple[str, ...]) -> str:
    return " > ".join(repr(p) for p in path)


def summarize(findings: list[Finding], limit: int = 3) -> str:
    """The first few findings as one phrase, and how many more there are."""
    shown = "; ".join(f.describe() for f in findings[:limit])
    more = len(findings) - limit
    return shown + (f"; and {more} more" if more > 0 else "")
