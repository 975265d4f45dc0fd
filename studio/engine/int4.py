"""int4 weights through the LiteRT Quantizer (`litert-quantizer`, the optional extra
`.[int4]`): the TFLite converter stops at 8 bits.

The quantizer works on a float `.tflite`, so a candidate is converted in float first
(after pruning and clustering, whose zeros and shared values the int4 grid keeps: both
are read back from the file by the effect checks) and then quantized here, with
"dynamic" int4: int4 weights, float activations quantized on the fly by the kernels.

What runs where (litert-quantizer 0.11, ai-edge-litert 2.3.0's default interpreter):
int4 is offered for FULLY_CONNECTED and EMBEDDING_LOOKUP (per channel or in blocks of
32-256) and CONV_2D (per channel only); the other weighted ops the quantizer knows
(depthwise and transposed convolutions, batch matmul with constant weights) take int8
weights.  `rules` writes that table; a recipe's `op_rules` add rules after it (the
quantizer keeps the last rule that matches and that it supports).

Keras' Embedding converts to GATHER, which the quantizer does not quantize at all: a
text model's largest table would stay float.  `lookups` rewrites each GATHER of a
constant float table into RESHAPE → EMBEDDING_LOOKUP → RESHAPE, the op the quantizer
and LiteRT's hybrid kernel handle (rows are looked up from the int4 table; the table
is never dequantized whole, as the converter's int8 GATHER + DEQUANTIZE does).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from studio.engine.tflite_file import WEIGHT_INPUT, layer_of
from studio.values import modes
from studio.values.errors import ConversionError, RecipeError
from studio.values.recipe import Quantization


@dataclass(frozen=True)
class Rule:
    """One quantizer rule: ops whose output tensor name matches `pattern` (a regex,
    searched), of kind `op` ("*" for every kind the quantizer supports), get `bits`-bit
    weights (None: kept in float) in `granularity` ("CHANNELWISE", "BLOCKWISE_32"…)."""

    pattern: str
    op: str
    bits: int | None
    granularity: str = "CHANNELWISE"


# Where int4 runs in LiteRT's default CPU path, from the quantizer's policy
# (`default_policy.py`: dynamic_wi4_afp32 / dynamic_wi4_afp32_blockwise) and checked in
# ai-edge-litert 2.3.0 (tests/test_int4.py runs every zoo model's int4 file).
INT4_BLOCKWISE_OPS = modes.INT4_BLOCK_OPS
INT8_ONLY_OPS = ("DEPTHWISE_CONV_2D", "BATCH_MATMUL", "CONV_2D_TRANSPOSE")


@dataclass(frozen=True)
class Op:
    """A weighted operator of the float file, as the rules need it."""

    output: str  # its output tensor's name: what the quantizer's regexes are matched with
    kind: str  # "FULLY_CONNECTED", …
    layers: tuple[str, ...]  # the layer names a user's pattern is searched in
    width: int  # the weights' last dimension, along which blocks run (0: unknown)


def rules(q: Quantization, ops: list[Op]) -> list[Rule]:
    """The quantizer recipe of an int4 candidate, in order (later rules win).

    The quantizer matches a rule's regex against an op's *output* tensor name, which for
    a model's last layer is the signature's (`StatefulPartitionedCall:0`), not the
    layer's.  So a user's pattern is searched in the layer names the studio shows for an
    op (from its output's and its weights' names), not in whole tensor names (`digit`
    would match `digits_cnn/conv1/…`), and becomes a rule naming the matched outputs
    exactly.  A pattern that matches nothing is an error naming the field.

    Blocks: the quantizer refuses a layer whose input width is not a multiple of the
    block (a 12-feature Dense and blocks of 32); such layers keep one scale per channel.
    """

    def int4(chosen: list[Op] | None) -> list[Rule]:
        """int4 per channel wherever it runs, then blocks where they fit (None: all ops)."""
        scope = ".*" if chosen is None else _exact(chosen)
        out = [Rule(scope, op, 4) for op in modes.INT4_OPS]
        if q.block_size:
            fits = [
                o
                for o in (ops if chosen is None else chosen)
                if o.kind in INT4_BLOCKWISE_OPS and o.width and o.width % q.block_size == 0
            ]
            if fits:
                block = f"BLOCKWISE_{q.block_size}"
                out += [Rule(_exact(fits), op, 4, block) for op in INT4_BLOCKWISE_OPS]
        return out

    out = [Rule(".*", op, 8) for op in INT8_ONLY_OPS] + int4(None)
    for rule in q.op_rules:
        matched = [o for o in ops if any(re.search(rule.pattern, la) for la in o.layers)]
        if not matched:
            shown = ", ".join(sorted({la for o in ops for la in o.layers})[:12])
            raise RecipeError(
                f"quantization.op_rules: {rule.pattern!r} matches no weighted operator of "
                f"the converted model; its layers are {shown}"
            )
        if rule.precision == "float":
            out.append(Rule(_exact(matched), "*", None))
        elif rule.precision == "int8":
            out.append(Rule(_exact(matched), "*", 8))
        else:
            out += int4(matched)
    return out


def _exact(ops: list[Op]) -> str:
    """A regex matching these ops' quantizer "scope" exactly: the output names joined
    by ";", with one at the end."""
    return "^(?:" + "|".join(re.escape(o.output) for o in ops) + ");$"


def operators(model: bytes) -> list[Op]:
    """The weighted ops of a float file (the kinds `tflite_file.WEIGHT_INPUT` knows)."""
    from ai_edge_litert import schema_py_generated as schema

    graph_model = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    kinds = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    found = []
    for graph in graph_model.subgraphs:
        for op in graph.operators or []:
            code = graph_model.operatorCodes[op.opcodeIndex]
            kind = kinds.get(max(code.builtinCode, code.deprecatedBuiltinCode))
            if kind not in WEIGHT_INPUT:
                continue
            # The output and the weights; not the other inputs (an activation's name is
            # the layer before's).
            weights = op.inputs[WEIGHT_INPUT[kind]] if len(op.inputs) > WEIGHT_INPUT[kind] else -1
            names = [graph.tensors[i].name.decode() for i in [*op.outputs, weights] if i >= 0]
            shape = graph.tensors[weights].shape if weights >= 0 else None
            found.append(
                Op(
                    output=names[0],
                    kind=kind,
                    layers=tuple(dict.fromkeys(layer_of(n) for n in names if "/" in n)),
                    width=int(shape[-1]) if shape is not None and len(shape) else 0,
                )
            )
    return found


def quantize(float_model: bytes, q: Quantization) -> bytes:
    """The int4 candidate of a float `.tflite`, as the recipe asks."""
    quantizer, qtyping = _quantizer()
    float_model = lookups(float_model)
    tool = quantizer.Quantizer(bytearray(float_model))
    apply_rules(tool, qtyping, [dataclasses.astuple(r) for r in rules(q, operators(float_model))])
    try:
        result = tool.quantize(enable_progress_bar=False, enable_progress_report=False)
    except Exception as err:  # the quantizer raises plain ValueErrors from deep inside
        raise ConversionError(f"the LiteRT Quantizer failed on mode 'int4': {err}") from err
    return bytes(result.quantized_model)


def apply_rules(tool, qtyping, rules: list[tuple]) -> None:
    """Give the quantizer `tool` the rules, each (pattern, op or "*", bits or None for
    float, granularity), in order.  Self-contained: the reproduce script carries it."""
    for pattern, op, bits, granularity in rules:
        kind = qtyping.TFLOperationName.ALL_SUPPORTED if op == "*" else qtyping.TFLOperationName(op)
        if bits is None:
            tool.update_quantization_recipe(pattern, kind, algorithm_key="no_quantize")
        else:
            tool.add_dynamic_config(pattern, kind, bits, qtyping.QuantGranularity[granularity])


def _quantizer():
    """The quantizer's modules, or the one-line message naming the install command."""
    try:
        from litert_quantizer import qtyping, quantizer
    except ImportError as err:
        raise ConversionError(modes.missing("int4") or str(err)) from err
    return quantizer, qtyping


def lookups(model: bytes) -> bytes:
    """`model` with every GATHER of a constant float table by int32 ids (axis 0) made
    RESHAPE(ids → 1-D) → EMBEDDING_LOOKUP → RESHAPE(back): the same values, in the op
    the quantizer can give int4 weights.  Other GATHERs, and ids with more than one
    open dimension (the shape back would be unknown), are left alone.

    Self-contained (numpy and LiteRT's schema only): the reproduce script carries its
    source (codegen.py)."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    ops = schema.BuiltinOperator
    graph_model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    codes = graph_model.operatorCodes

    def kind(op) -> int:
        code = codes[op.opcodeIndex]
        return max(code.builtinCode, code.deprecatedBuiltinCode)

    def code_index(builtin: int) -> int:
        for i, code in enumerate(codes):
            if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
                return i
        code = schema.OperatorCodeT()
        code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, builtin, 1
        codes.append(code)
        return len(codes) - 1

    def add_tensor(graph, name: bytes, shape, signature, dtype, data=None) -> int:
        tensor = schema.TensorT()
        tensor.name, tensor.type, tensor.buffer = name, dtype, 0
        tensor.shape, tensor.shapeSignature = list(shape), list(signature)
        if data is not None:
            buffer = schema.BufferT()
            buffer.data = np.frombuffer(data.tobytes(), np.uint8)
            graph_model.buffers.append(buffer)
            tensor.buffer = len(graph_model.buffers) - 1
        graph.tensors.append(tensor)
        return len(graph.tensors) - 1

    def operator(code: int, inputs, outputs):
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = code, list(inputs), list(outputs)
        return op

    changed = False
    for graph in graph_model.subgraphs:
        rewritten = []
        for op in graph.operators or []:
            if kind(op) != ops.GATHER or not _lookup_like(graph_model, graph, op):
                rewritten.append(op)
                continue
            table, ids_index = op.inputs
            ids, out = graph.tensors[ids_index], graph.tensors[op.outputs[0]]
            rows = int(np.prod(ids.shape))
            out_sig = list(out.shapeSignature if out.shapeSignature is not None else out.shape)
            width = list(graph.tensors[table].shape[1:])
            int32 = schema.TensorType.INT32
            flat = add_tensor(graph, ids.name + b"/flat", [rows], [-1], int32)
            flat_shape = add_tensor(
                graph, ids.name + b"/flat_shape", [1], [1], int32, np.array([-1], np.int32)
            )
            found = add_tensor(graph, out.name + b"/rows", [rows, *width], [-1, *width], out.type)
            back = np.array([int(d) for d in out_sig], np.int32)
            back_shape = add_tensor(
                graph, out.name + b"/shape", [back.size], [back.size], int32, back
            )
            reshape, lookup = code_index(ops.RESHAPE), code_index(ops.EMBEDDING_LOOKUP)
            rewritten += [
                operator(reshape, [ids_index, flat_shape], [flat]),
                operator(lookup, [flat, table], [found]),
                operator(reshape, [found, back_shape], op.outputs),
            ]
            changed = True
        graph.operators = rewritten
    if not changed:
        return model
    return bytes(flatbuffer_utils.convert_object_to_bytearray(graph_model))


def _lookup_like(graph_model, graph, op) -> bool:
    """A GATHER that is an embedding lookup: a constant float32 table, int32 ids,
    axis 0, no batch dimensions, and at most one open dimension in the ids."""
    from ai_edge_litert import schema_py_generated as schema

    if len(op.inputs) != 2 or op.builtinOptions is None:
        return False
    if op.builtinOptions.axis != 0 or op.builtinOptions.batchDims != 0:
        return False
    table, ids = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    buffer = graph_model.buffers[table.buffer] if table.buffer < len(graph_model.buffers) else None
    if buffer is None or buffer.data is None or table.type != schema.TensorType.FLOAT32:
        return False
    signature = ids.shapeSignature if ids.shapeSignature is not None else ids.shape
    return ids.type == schema.TensorType.INT32 and sum(int(d) < 0 for d in signature) <= 1
