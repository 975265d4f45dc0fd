"""Reading a .tflite flatbuffer directly: is it one, and what are its weights?

The effect checks (per-layer sparsity, number of distinct values) are read back from the
written file itself, not from the Keras model, so a technique that was lost in
conversion shows up.  Parsing uses LiteRT's generated schema and never runs the
interpreter, so it is safe on any file that passes `check_header`.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from studio.values.errors import MeasureError
from studio.values.metrics import LayerFigures
from studio.values.sparse_speed import GraphOp

# Operators whose weights matter, and which input holds them.
WEIGHT_INPUT = {
    "CONV_2D": 1,
    "DEPTHWISE_CONV_2D": 1,
    "FULLY_CONNECTED": 1,
    "TRANSPOSE_CONV": 1,
    "CONV_3D": 1,
    "EMBEDDING_LOOKUP": 1,
    "GATHER": 0,
    "BATCH_MATMUL": 1,
}
# The output-channel axis of a float weight, by the op that reads it.  The converter
# folds BatchNormalization into the kernel, scaling each output channel by its own
# factor: 16 clustered values become 16 per channel, not 16 per tensor (as int8's
# per-channel scales do).
FLOAT_CHANNEL_AXIS = {"CONV_2D": 0, "FULLY_CONNECTED": 0, "DEPTHWISE_CONV_2D": 3}
_NUMPY_TYPES = {
    "FLOAT32": np.float32,
    "FLOAT16": np.float16,
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FLOAT64": np.float64,
}


def layer_of(tensor_name: str) -> str:
    """The Keras layer a tensor came from: `model/quant_dense1/MatMul;…` -> `dense1`."""
    parts = tensor_name.split(";")[0].split("/")
    name = parts[1] if len(parts) > 2 else parts[0]
    return name.removeprefix("quant_")


def layers_in(tensor_name: str) -> tuple[str, ...]:
    """Every Keras layer a tensor's name holds: the converter names a fused operator's
    output after all it fused (`m/stem_relu/Relu;m/stem_bn/FusedBatchNormV3;m/stem/Conv2D`
    -> stem_relu, stem_bn, stem)."""
    return tuple(dict.fromkeys(layer_of(part) for part in tensor_name.split(";") if part))


def read_checked(path: str | Path) -> bytes:
    """The file's bytes, if it looks like a .tflite flatbuffer at all."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise MeasureError(f"{path} does not exist") from err
    except IsADirectoryError as err:
        raise MeasureError(f"{path} is a folder, not a .tflite file") from err
    except OSError as err:
        raise MeasureError(f"{path} cannot be read: {err.strerror}") from err
    if len(data) < 16 or data[4:8] != b"TFL3":
        raise MeasureError(
            f"{path} is not a .tflite model (no TFL3 identifier); it may be "
            f"truncated or another kind of file"
        )
    return data


def _parse(data: bytes):
    """The flatbuffer as LiteRT's schema objects; a malformed file is a MeasureError."""
    from ai_edge_litert import schema_py_generated as schema

    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
        if not model.subgraphs:
            raise ValueError("no subgraph")
        return model
    except Exception as err:  # a malformed flatbuffer raises from deep in the parser
        raise MeasureError(
            f"the .tflite flatbuffer is malformed ({type(err).__name__}); the file is damaged "
            f"or not a LiteRT model"
        ) from err


def flex_ops(data: bytes) -> list[str]:
    """The TensorFlow (select TF ops, "Flex") kernels the file needs, e.g.
    ["FlexMatrixDeterminant"]: LiteRT's Python runtime has none of them."""
    names = set()
    for code in _parse(data).operatorCodes or []:
        custom = code.customCode
        if custom is not None:
            name = custom.decode() if isinstance(custom, bytes) else str(custom)
            if name.startswith("Flex"):
                names.add(name)
    return sorted(names)


def stores_sparse(data: bytes) -> bool:
    """Whether any tensor is stored in the sparse format (`pruning.sparse_format`)."""
    return any(
        tensor.sparsity is not None
        for graph in _parse(data).subgraphs or []
        for tensor in graph.tensors or []
    )


def graph_id(data: bytes) -> str:
    """The id Model Explorer gives subgraph 0: its name, else its signature's key, else
    "main"."""
    model = _parse(data)
    name = _text(model.subgraphs[0].name or b"")
    if name:
        return name
    for signature in model.signatureDefs or []:
        if signature.subgraphIndex == 0 and signature.signatureKey:
            return _text(signature.signatureKey)
    return "main"


def with_graph_id(data: bytes, graph: str) -> bytes:
    """The file with subgraph 0 named `graph`, the id Model Explorer gives it: two
    candidates' graphs are both "main", and Model Explorer renames the second
    ("main (2)", by how often it added them), so neither its split view nor its overlays
    could name it.  A file that keeps weights after the flatbuffer (the LiteRT
    Quantizer's large models) is returned as it is."""
    import flatbuffers

    model = _parse(data)
    if any(int(getattr(b, "offset", 0) or 0) > 1 for b in model.buffers or []):
        return data
    model.subgraphs[0].name = graph.encode()
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def weight_figures(data: bytes) -> list[LayerFigures]:
    """Sparsity and distinct values of every weight tensor in subgraph 0."""
    from ai_edge_litert import schema_py_generated as schema

    model = _parse(data)
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    graph = model.subgraphs[0]
    producers = {out: op for op in graph.operators or [] for out in _outputs(op)}
    figures, seen = [], set()
    for op_index, op in enumerate(graph.operators or []):
        op_name = _kind(model, op)
        if (
            op_name not in WEIGHT_INPUT
            or op.inputs is None
            or len(op.inputs) <= WEIGHT_INPUT[op_name]
        ):
            continue
        index = _stored(model, producers, int(op.inputs[WEIGHT_INPUT[op_name]]))
        if index < 0 or index in seen:
            continue
        tensor = graph.tensors[index]
        values = _values(data, model, tensor)
        if values is None:
            continue
        seen.add(index)
        dtype = type_names.get(tensor.type, "?")
        quant = tensor.quantization
        zero = _zero_point(tensor)
        per_channel = quant is not None and quant.scale is not None and len(quant.scale) > 1
        name = _text(tensor.name)
        figures.append(
            LayerFigures(
                name=layer_of(name),
                tensor=name,
                op=op_name,
                dtype=dtype.lower(),
                count=int(values.size),
                sparsity=float(np.mean(values == zero)),
                unique_values=_unique(
                    values,
                    tensor.shape,
                    quant.quantizedDimension
                    if per_channel
                    else FLOAT_CHANNEL_AXIS.get(op_name)
                    if dtype in ("FLOAT16", "FLOAT32")
                    else None,
                ),
                op_index=op_index,
            )
        )
    return figures


def _stored(model, producers: dict, index: int) -> int:
    """The tensor that holds a weight's values: behind the DEQUANTIZE (float16, some
    int8 files) or DENSIFY (sparse storage) ops the converter puts before it."""
    while index >= 0 and (producer := producers.get(index)) is not None:
        if _kind(model, producer) not in ("DEQUANTIZE", "DENSIFY"):
            break
        index = int(producer.inputs[0])
    return index


def _values(data: bytes, model, tensor) -> np.ndarray | None:
    """A constant tensor's values, flat, dense (a sparse-stored one densified); None for
    a tensor without data or of a type not read here."""
    from ai_edge_litert import schema_py_generated as schema

    dtype = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}.get(
        tensor.type, "?"
    )
    buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    raw = _buffer(data, buffer)
    if raw is None or not raw.size or (dtype not in _NUMPY_TYPES and dtype != "INT4"):
        return None
    if dtype == "INT4":
        return _int4(raw, int(np.prod(tensor.shape)))
    values = raw.view(_NUMPY_TYPES[dtype])
    if tensor.sparsity is not None:
        values = _densified(values, tensor.shape, tensor.sparsity)
    return values


def _buffer(data: bytes, buffer) -> np.ndarray | None:
    """A buffer's bytes: inline, or (as the LiteRT Quantizer writes large weights) after
    the flatbuffer at `offset`, `size` bytes long."""
    if buffer is None:
        return None
    if buffer.data is not None:
        return np.asarray(buffer.data, np.uint8)
    offset, size = int(getattr(buffer, "offset", 0) or 0), int(getattr(buffer, "size", 0) or 0)
    if offset > 1 and size and offset + size <= len(data):
        return np.frombuffer(data, np.uint8, count=size, offset=offset)
    return None


def _densified(stored: np.ndarray, shape, sparsity) -> np.ndarray:
    """A tensor kept in LiteRT's sparse format (the converter's sparse storage: the
    non-zero values, and per dimension either a dense size or CSR segments and indices)
    as its dense values, flat in row-major order.  The same walk as LiteRT's
    FormatConverter::SparseToDense, level by level over numpy arrays."""
    order = [int(d) for d in sparsity.traversalOrder]
    block_map = [int(d) for d in (sparsity.blockMap if sparsity.blockMap is not None else [])]
    rank = len(shape)
    positions = np.zeros(1, np.int64)  # where each partial path points at this level
    coords = np.zeros((1, 0), np.int64)  # its index along each traversed dimension
    for meta in sparsity.dimMetadata:
        if meta.format == 0:  # DENSE
            size = int(meta.denseSize)
            step = np.arange(size, dtype=np.int64)
            positions = (positions[:, None] * size + step[None, :]).reshape(-1)
            coords = np.repeat(coords, size, axis=0)
            coords = np.concatenate([coords, np.tile(step, len(coords) // size)[:, None]], 1)
        else:  # SPARSE_CSR
            segments = np.asarray(meta.arraySegments.values, np.int64)
            indices = np.asarray(meta.arrayIndices.values, np.int64)
            starts, ends = segments[positions], segments[positions + 1]
            counts = ends - starts
            coords = np.repeat(coords, counts, axis=0)
            offsets = np.repeat(starts - np.cumsum(counts) + counts, counts)
            positions = np.arange(int(counts.sum()), dtype=np.int64) + offsets
            coords = np.concatenate([coords, indices[positions][:, None]], 1)
    original = np.zeros((len(coords), rank), np.int64)
    for level, dim in enumerate(order):
        if dim < rank:
            original[:, dim] = coords[:, level]
    for j, dim in enumerate(block_map):  # block dimensions: within-block offsets
        level = order.index(rank + j)
        block = int(sparsity.dimMetadata[level].denseSize)
        original[:, dim] = original[:, dim] * block + coords[:, level]
    dense = np.zeros(int(np.prod(shape)), stored.dtype)
    dense[np.ravel_multi_index(original.T, tuple(int(d) for d in shape))] = stored[: len(original)]
    return dense


def _int4(raw: np.ndarray, count: int) -> np.ndarray:
    """Packed int4 (two per byte, the low nibble first, as LiteRT stores them) as int8."""
    nibbles = np.empty(raw.size * 2, np.int8)
    nibbles[0::2], nibbles[1::2] = raw & 0x0F, raw >> 4
    return np.where(nibbles > 7, nibbles - 16, nibbles).astype(np.int8)[:count]


def _unique(values: np.ndarray, shape, channel_axis: int | None) -> int:
    """Distinct values; per channel (per-channel int8, float kernels), the most in any one.

    Each output channel of a per-channel int8 tensor has its own scale, so one clustered
    weight value becomes a different int8 number in every channel: counted over the
    whole tensor, 16 clusters look like 60.  Per channel, they are 16 again.
    """
    if values.dtype == np.float16:
        # numpy 2.4's float16 sort can return unsorted runs (seen on a clustered conv:
        # np.unique gave 29 "distinct" values where there were 16); float32 holds every
        # float16 value exactly.
        values = values.astype(np.float32)
    if channel_axis is None or shape is None or int(np.prod(shape)) != values.size:
        return int(np.unique(values).size)
    values = values.reshape(tuple(int(d) for d in shape))
    return max(
        int(np.unique(np.take(values, i, axis=channel_axis)).size)
        for i in range(values.shape[channel_axis])
    )


def tensor_names(data: bytes) -> list[str]:
    """Names of every operator output, used to find a layer's nodes for selective quantization."""
    return [name for _, name in op_outputs(data)]


def tensor_roles(data: bytes) -> dict[str, str]:
    """What each named tensor of subgraph 0 is: "constant" (weights, also behind the
    DEQUANTIZE or DENSIFY that unpacks them), "input", or the kind of the operator that
    computes it, seen through QUANTIZE/DEQUANTIZE of a computed tensor (an int8 file's
    softmax is dequantized into the model's output).  Two files' tensors of one name are
    the same tensor only when their roles agree: the converter shifts names when it adds
    operators (a float16 file's dequantized bias takes the name its float twin gives a
    convolution's output)."""
    model = _parse(data)
    graph = model.subgraphs[0]
    producers = {out: op for op in graph.operators or [] for out in _outputs(op)}
    inputs = {int(i) for i in (graph.inputs if graph.inputs is not None else [])}

    def role(index: int, depth: int = 0) -> str:
        op = producers.get(index)
        if op is None:
            return "input" if index in inputs else "constant"
        kind = _kind(model, op)
        if kind in ("QUANTIZE", "DEQUANTIZE", "DENSIFY") and depth < 8 and op.inputs is not None:
            return role(int(op.inputs[0]), depth + 1)
        return kind

    return {_text(t.name): role(i) for i, t in enumerate(graph.tensors or [])}


def op_outputs(data: bytes) -> list[tuple[int, str]]:
    """Every operator output of subgraph 0 as (operator index, tensor name)."""
    graph = _parse(data).subgraphs[0]
    return [
        (i, _text(graph.tensors[out].name))
        for i, op in enumerate(graph.operators or [])
        for out in _outputs(op)
    ]


def io_specs(data: bytes) -> tuple[dict, dict]:
    """Name, shape signature (-1 = any), dtype and scale of the first input and output.

    Read from the flatbuffer, so data can be checked against a .tflite before any
    interpreter touches it in this process.
    """
    from ai_edge_litert import schema_py_generated as schema

    graph = _parse(data).subgraphs[0]
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise MeasureError(
            f"the file has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; "
            f"measure it together with its Keras model (--baseline-model), which names them"
        )
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}

    def spec(index: int) -> dict:
        t = graph.tensors[index]
        shape = t.shapeSignature if t.shapeSignature is not None else t.shape
        scale = t.quantization.scale if t.quantization is not None else None
        return {
            "name": t.name.decode() if isinstance(t.name, bytes) else str(t.name),
            "shape": [int(d) for d in shape],
            "dtype": type_names.get(t.type, "?").lower(),
            "quantized": scale is not None and len(scale) > 0 and float(scale[0]) != 0.0,
        }

    return spec(int(graph.inputs[0])), spec(int(graph.outputs[0]))


def graph_ops(data: bytes) -> list[GraphOp]:
    """Subgraph 0's operators in order, with what the sparse-speed rules read
    (`studio.values.sparse_speed`): kernel, stride, padding, dilation and input channels
    of convolutions, their weights' count, zeros, type and storage, whether a MEAN is
    over the spatial axes, whether ADD/MUL combine 4D tensors."""
    from ai_edge_litert import schema_py_generated as schema

    model = _parse(data)
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    graph = model.subgraphs[0]
    producers = {out: op for op in graph.operators or [] for out in _outputs(op)}
    made_by = {out: i for i, op in enumerate(graph.operators or []) for out in _outputs(op)}

    def constant(index: int) -> np.ndarray | None:
        return _values(data, model, graph.tensors[index]) if index >= 0 else None

    ops = []
    for i, op in enumerate(graph.operators or []):
        kind = _kind(model, op)
        outputs = _outputs(op)
        raw = graph.tensors[int(outputs[0])].name if outputs else b""
        found: dict = {"index": i, "kind": kind, "layer": layer_of(_text(raw))}
        if op.inputs is not None and len(op.inputs):
            found["source"] = made_by.get(int(op.inputs[0]))
        if kind in ("PAD", "PADV2") and op.inputs is not None and len(op.inputs) > 1:
            pads = constant(int(op.inputs[1]))
            if pads is not None and pads.size == 8:
                p = [int(v) for v in pads]
                found["pads"] = (p[2], p[3], p[4], p[5])  # height before/after, width
        options = op.builtinOptions
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D") and options is not None:
            shape = [int(d) for d in graph.tensors[int(op.inputs[1])].shape]
            found.update(
                kernel=(shape[1], shape[2]),
                stride=(int(options.strideH), int(options.strideW)),
                padding="SAME" if options.padding == schema.Padding.SAME else "VALID",
                dilation=(int(options.dilationHFactor), int(options.dilationWFactor)),
                in_channels=shape[3] if kind == "CONV_2D" else None,
            )
        if kind in WEIGHT_INPUT and op.inputs is not None and len(op.inputs) > WEIGHT_INPUT[kind]:
            given = int(op.inputs[WEIGHT_INPUT[kind]])
            index = _stored(model, producers, given)
            values = constant(index)
            if values is not None and values.size:
                tensor = graph.tensors[index]
                found.update(
                    weights=int(values.size),
                    zeros=float(np.mean(values == _zero_point(tensor))),
                    weight_type=type_names.get(tensor.type, "?").lower(),
                    sparse_storage=tensor.sparsity is not None,
                )
        if kind == "MEAN" and op.inputs is not None and len(op.inputs) > 1:
            axes = constant(int(op.inputs[1]))
            rank = len(graph.tensors[int(op.inputs[0])].shape)
            if axes is not None:
                found["spatial_mean"] = rank == 4 and {int(a) % 4 for a in axes} == {1, 2}
        if kind in ("ADD", "MUL") and op.inputs is not None:
            found["rank4"] = all(_fits_4d(graph, model, data, int(t)) for t in op.inputs)
        ops.append(GraphOp(**found))
    return ops


def _outputs(op) -> list[int]:
    """An operator's output tensors (the flatbuffer gives a numpy array, or None)."""
    return [] if op.outputs is None else [int(out) for out in op.outputs]


def _text(raw) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


@functools.cache
def _operator_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def _kind(model, op) -> str:
    """An operator's builtin name ("CONV_2D", …; "?" for a custom one).  Codes above 127
    live in `builtinCode`, older ones in `deprecatedBuiltinCode`: the larger is right."""
    code = model.operatorCodes[op.opcodeIndex]
    return _operator_names().get(max(code.builtinCode, code.deprecatedBuiltinCode), "?")


def _zero_point(tensor) -> int:
    quant = tensor.quantization
    if quant is not None and quant.zeroPoint is not None and len(quant.zeroPoint) == 1:
        return int(quant.zeroPoint[0])
    return 0


def _fits_4d(graph, model, data: bytes, index: int) -> bool:
    """An ADD/MUL input XNNPACK's sparse path takes: a 4D tensor, or a constant that is
    a scalar or a 1D (per-channel) vector."""
    tensor = graph.tensors[index]
    shape = [int(d) for d in tensor.shape] if tensor.shape is not None else []
    if _values(data, model, tensor) is None:  # a feature map
        return len(shape) == 4
    return sum(d > 1 for d in shape) <= 1
