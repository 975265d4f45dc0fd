"""Model Explorer overlays (studio/values/overlays.py, studio/engine/overlays.py): every
key names an operator of the candidate's own graph, and every value is the figure read
from the file for that operator's weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

import studio  # noqa: F401  (tf_keras before TensorFlow)

pytest.importorskip("tensorflow")


def _ops(blob: bytes):
    from studio.engine.tflite_file import graph_ops

    return {str(op.index): op for op in graph_ops(blob)}


def _check(blob: bytes, tmp_path) -> dict:
    from studio.engine import overlays
    from studio.engine.tflite_file import graph_id, weight_figures
    from studio.values.overlays import BITS, OVERLAYS

    model = tmp_path / "model.tflite"
    model.write_bytes(blob)
    paths = overlays.write(model, tmp_path / "overlays")
    assert [p.name for p in paths] == [f"{o.key}.json" for o in OVERLAYS]
    ops, graph = _ops(blob), graph_id(blob)
    by_op = {str(f.op_index): f for f in reversed(weight_figures(blob))}
    read = {}
    for path, overlay in zip(paths, OVERLAYS, strict=True):
        data = json.loads(path.read_text())
        assert list(data) == [graph]
        results = data[graph]["results"]
        assert results, overlay.key
        thresholds = [t["value"] for t in data[graph]["thresholds"]]
        assert thresholds == sorted(thresholds)
        for node, result in results.items():
            assert node in ops and ops[node].weights > 0, (overlay.key, node)
            f = by_op[node]
            want = {
                "sparsity": round(100 * f.sparsity, 2),
                "unique_values": f.unique_values,
                "weight_bits": BITS.get(f.dtype),
            }[overlay.key]
            assert result["value"] == want
        read[overlay.key] = results
    return read


def test_the_overlays_of_a_pruned_int8_demo_file_name_its_operators_and_figures(tmp_path):
    import tf_keras as keras

    from studio.engine.convert import convert
    from studio.values.recipe import Quantization
    from studio.values.resources import DEMO_MODEL

    model = keras.models.load_model(DEMO_MODEL)
    layer = model.get_layer("conv2")
    kernel, bias = layer.get_weights()
    kernel[np.abs(kernel) < np.quantile(np.abs(kernel), 0.8)] = 0
    layer.set_weights([kernel, bias])
    x = np.random.RandomState(0).rand(20, *model.input_shape[1:]).astype(np.float32)
    blob = convert(model, Quantization(mode="int8"), x)
    read = _check(blob, tmp_path)
    conv2 = next(i for i, op in _ops(blob).items() if op.layer == "conv2" and op.kind == "CONV_2D")
    assert read["sparsity"][conv2]["value"] >= 79
    assert set(v["value"] for v in read["weight_bits"].values()) == {8}


@pytest.mark.slow
def test_the_overlays_of_a_zoo_model_name_its_operators_and_figures(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import zoo

    from studio.engine.convert import convert
    from studio.engine.models import load_model
    from studio.values.recipe import Quantization

    path, _ = zoo.saved("transformer", "keras3", tmp_path / "zoo")
    model = load_model(path)
    read = _check(convert(model, Quantization(mode="float16")), tmp_path)
    assert set(v["value"] for v in read["weight_bits"].values()) == {16}
