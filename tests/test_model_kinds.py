"""Not only images: a token-id text classifier (Embedding) and an MFCC keyword model
(Conv1D) go through pruning, clustering and int8 like the demo does."""

import json

import numpy as np
import pytest

from conftest import make_mfcc_model, make_text_model, mfcc_data, text_data, train
from studio.engine.measure import interpreter
from studio.engine.pipeline import optimize
from studio.values.recipe import Recipe

RECIPE = Recipe.from_dict(
    {
        "pruning": {"target_sparsity": 0.5, "epochs": 2, "learning_rate": 1e-3},
        "clustering": {"clusters": 8, "epochs": 1},
        "quantization": {"mode": "int8", "calibration_samples": 50},
    }
)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["text", "mfcc"])
def test_other_model_kinds_are_optimized(tmp_path, kind):
    make, data = (make_text_model, text_data) if kind == "text" else (make_mfcc_model, mfcc_data)
    x, y = data()
    model = train(make(), x, y, epochs=8)
    model.save(tmp_path / "m.keras")
    np.savez(tmp_path / "d.npz", x=x, y=y)
    result = optimize(tmp_path / "m.keras", tmp_path / "d.npz", RECIPE, tmp_path / "out")
    m, b = result.metrics, result.baseline
    assert b.accuracy > 0.8
    assert m.accuracy >= b.accuracy - 0.1
    prunable = [la for la in m.layers if la.op in ("FULLY_CONNECTED", "CONV_2D")]
    assert prunable and all(la.sparsity >= 0.45 for la in prunable), prunable
    inp = interpreter(tmp_path / "out" / "model.tflite").get_input_details()[0]
    if kind == "text":
        # Token ids stay int32 in a full-integer model (SPEC §7), and the embedding table
        # is pruned and clustered like any other weight.
        assert inp["dtype"] == np.int32
        table = next(la for la in m.layers if la.op in ("GATHER", "EMBEDDING_LOOKUP"))
        assert table.sparsity >= 0.45 and table.unique_values <= 9
    else:
        assert inp["dtype"] == np.float32
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["accuracy"] == m.accuracy
