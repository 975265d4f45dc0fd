"""The exported script reproduces the studio's candidate with TF, tf_keras and tfmot alone."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from studio.values.recipe import Clustering, OpRule, Pruning, Quantization, Recipe

RECIPES = {
    "ptq_int8": Recipe(quantization=Quantization(mode="int8")),
    "prune_int8": Recipe(
        pruning=Pruning(target_sparsity=0.7), quantization=Quantization(mode="int8")
    ),
    "cluster_qat": Recipe(
        clustering=Clustering(clusters=16), quantization=Quantization(mode="int8", qat=True)
    ),
    # Every other recipe shape the engine handles (issue 31: script and engine must not
    # drift): the other modes, integer I/O, layers kept in float, 2:4 structure.
    "dynamic": Recipe(quantization=Quantization(mode="dynamic")),
    "float16": Recipe(quantization=Quantization(mode="float16")),
    "int16x8_io": Recipe(quantization=Quantization(mode="int16x8", io_type="int16")),
    "structured_selective": Recipe(
        pruning=Pruning(target_sparsity=0.5, structure="2:4", schedule="constant", epochs=1),
        quantization=Quantization(mode="int8", io_type="int8", float_layers=("dense1",)),
    ),
    # Sparse storage (issue 37): an int8 file the default XNNPACK delegate cannot prepare.
    "prune_sparse_int8": Recipe(
        pruning=Pruning(target_sparsity=0.8, sparse_format=True),
        quantization=Quantization(mode="int8"),
    ),
    # int4 through the LiteRT Quantizer's own API, a rule keeping a layer in float.
    "prune_int4_rules": Recipe(
        pruning=Pruning(target_sparsity=0.5),
        quantization=Quantization(
            mode="int4", block_size=32, op_rules=(OpRule("^digit$", "float"),)
        ),
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RECIPES))
def test_the_script_reproduces_the_candidate(tmp_path, name):
    from studio.engine.pipeline import optimize

    recipe = RECIPES[name]
    studio = optimize("demo", "demo", recipe, tmp_path / "studio")

    recipe_file = tmp_path / "recipe.json"
    recipe_file.write_text(recipe.to_json())
    script = tmp_path / "reproduce.py"
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "studio",
            "export-script",
            "--recipe",
            str(recipe_file),
            "--model",
            "demo",
            "--data",
            "demo",
            "--out",
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert made.returncode == 0, made.stderr[-2000:]
    text = script.read_text()
    assert "import studio" not in text and "from studio" not in text

    out = tmp_path / "script.tflite"
    env_free = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    ran = subprocess.run(
        [sys.executable, str(script), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
        env=env_free,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    accuracy = float(
        re.search(r"top-1 accuracy on \d+ evaluation samples: ([0-9.]+)", ran.stdout).group(1)
    )
    size = out.stat().st_size
    assert abs(size - studio.metrics.size_bytes) <= 0.02 * studio.metrics.size_bytes, (
        size,
        studio.metrics.size_bytes,
    )
    assert abs(accuracy - studio.metrics.accuracy) <= 0.01, (accuracy, studio.metrics.accuracy)


def test_scripts_explain_each_step_and_name_the_layers():
    from studio.engine.codegen import script_for

    text = script_for(
        "demo",
        "demo",
        Recipe(
            pruning=Pruning(target_sparsity=0.5, layers=("conv2", "dense1")),
            quantization=Quantization(mode="int8", float_layers=("digit",), io_type="int8"),
        ),
    )
    compile(text, "reproduce.py", "exec")
    assert "PRUNED_LAYERS = ['conv2', 'dense1']" in text
    assert "FLOAT_LAYERS = ['digit']" in text
    assert "converter.inference_input_type = tf.int8" in text
    assert "# --- Pruning" in text and "# --- Conversion" in text and "# --- Evaluation" in text
    comments = [line for line in text.splitlines() if line.strip().startswith("#")]
    assert len(comments) >= 25


def test_image_folders_and_keras3_files_are_refused_with_a_reason(tmp_path):
    from test_keras3 import small_cnn

    from studio.engine.codegen import script_for
    from studio.values.errors import StudioError

    (tmp_path / "imgs" / "a").mkdir(parents=True)
    with pytest.raises(StudioError, match="reads .npz data"):
        script_for("demo", tmp_path / "imgs", Recipe())
    small_cnn().save(tmp_path / "k3.keras")
    with pytest.raises(StudioError, match="Keras 3 file"):
        script_for(tmp_path / "k3.keras", "demo", Recipe())
