"""Reading a .tflite flatbuffer directly: is it one, and what are its weights?

The effect checks (per-layer sparsity, number of distinct values) are read back from the
written file itself, not from the Keras model, so a technique that was lost in
conversion shows up.  Parsing uses LiteRT's generated schema and never runs the
interpreter, so it is safe on any file that passes `check_header`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from studio.values.errors import MeasureError
from studio.values.metrics import LayerFigures

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


def weight_figures(data: bytes) -> list[LayerFigures]:
    """Sparsity and distinct values of every weight tensor in subgraph 0."""
    from ai_edge_litert import schema_py_generated as schema

    model = _parse(data)
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    graph = model.subgraphs[0]
    producers = {}
    for op in graph.operators or []:
        for out in op.outputs if op.outputs is not None else []:
            producers[int(out)] = op
    figures, seen = [], set()
    for op in graph.operators or []:
        code = model.operatorCodes[op.opcodeIndex]
        op_name = op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?")
        if (
            op_name not in WEIGHT_INPUT
            or op.inputs is None
            or len(op.inputs) <= WEIGHT_INPUT[op_name]
        ):
            continue
        index = int(op.inputs[WEIGHT_INPUT[op_name]])
        # float16 and some int8 models store the weight behind a DEQUANTIZE op.
        producer = producers.get(index)
        if (
            producer is not None
            and op_names.get(model.operatorCodes[producer.opcodeIndex].builtinCode) == "DEQUANTIZE"
        ):
            index = int(producer.inputs[0])
        if index < 0 or index in seen:
            continue
        tensor = graph.tensors[index]
        buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
        raw = _buffer(data, buffer)
        dtype = type_names.get(tensor.type, "?")
        if raw is None or not raw.size or (dtype not in _NUMPY_TYPES and dtype != "INT4"):
            continue
        seen.add(index)
        if dtype == "INT4":
            values = _int4(raw, int(np.prod(tensor.shape)))
        else:
            values = raw.view(_NUMPY_TYPES[dtype])
        quant = tensor.quantization
        zero = 0
        if quant is not None and quant.zeroPoint is not None and len(quant.zeroPoint) == 1:
            zero = int(quant.zeroPoint[0])
        per_channel = quant is not None and quant.scale is not None and len(quant.scale) > 1
        name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
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
            )
        )
    return figures


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
    graph = _parse(data).subgraphs[0]
    names = []
    for op in graph.operators or []:
        for out in op.outputs if op.outputs is not None else []:
            raw = graph.tensors[int(out)].name
            names.append(raw.decode() if isinstance(raw, bytes) else str(raw))
    return names


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
