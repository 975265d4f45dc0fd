"""The command-line contract: files written, figures that meet the issue's targets, errors
as one line with exit code 2, and no crash on a malformed .tflite."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio.cli import main
from studio.values.recipe import Recipe
from studio.values.resources import RECIPES

DEMO_RECIPE = RECIPES / "demo_prune_cluster_int8.json"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
def test_optimize_demo_prune_cluster_int8_meets_the_targets(tmp_path):
    out = tmp_path / "run"
    # the bundled recipe by its name, as the README shows it (no checkout path needed)
    done = run_cli(
        *f"optimize --model demo --data demo --recipe {DEMO_RECIPE.stem} --out {out}".split()
    )
    assert done.returncode == 0, done.stderr
    assert {p.name for p in out.iterdir()} >= {
        "model.tflite",
        "recipe.json",
        "metrics.json",
        "baseline.json",
    }
    metrics = json.loads((out / "metrics.json").read_text())
    baseline = json.loads((out / "baseline.json").read_text())
    assert set(baseline) <= set(metrics)
    assert baseline["gzip_bytes"] / metrics["gzip_bytes"] >= 8.0
    assert baseline["accuracy"] - metrics["accuracy"] <= 0.015
    assert metrics["latency_ms"]["threads"] == 1 and metrics["latency_ms"]["median"] > 0
    assert metrics["peak_memory_bytes"] > 0 and metrics["agreement"] > 0.95
    # the candidate's own stages: the float baseline is measured once, by its own job
    assert {"load", "prune", "cluster", "convert", "evaluate"} <= set(metrics["seconds"])
    assert "baseline" not in metrics["seconds"]
    assert (out / "baseline.tflite").is_file() and not list(tmp_path.glob(".run.*"))
    for layer in metrics["layers"]:
        assert layer["sparsity"] >= 0.79, layer
        assert layer["unique_values"] <= 17, layer  # 16 clusters (+ the preserved zero)
    assert Recipe.load(out / "recipe.json") == Recipe.load(DEMO_RECIPE)

    done = run_cli(
        "evaluate",
        "--tflite",
        str(out / "model.tflite"),
        "--data",
        "demo",
        "--baseline",
        "demo",
        "--threads",
        "2",
    )
    assert done.returncode == 0, done.stderr
    evaluated = json.loads(done.stdout)
    assert evaluated["accuracy"] == metrics["accuracy"]
    assert evaluated["agreement"] == metrics["agreement"]
    assert evaluated["latency_ms"]["threads"] == 2


def test_evaluate_without_baseline_reads_the_model_input(tmp_path, demo, capsys):
    from studio.engine.convert import convert
    from studio.values import atomic
    from studio.values.recipe import Quantization

    path = atomic.write_bytes(
        tmp_path / "q.tflite",
        convert(demo.model, Quantization(mode="int8", io_type="uint8"), demo.data.calibration(50)),
    )
    assert main(["evaluate", "--tflite", str(path), "--data", "demo"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["accuracy"] > 0.97 and metrics["agreement"] is None


def test_an_out_folder_holding_another_run_is_refused_before_any_work(tmp_path, capsys):
    """Issue 33: after Ctrl+C into a folder holding an earlier run, the new run's
    baseline.json sat beside the old run's model, metrics and recipe: two runs mixed."""
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps({"quantization": {"mode": "dynamic"}}))
    earlier = tmp_path / "run"
    earlier.mkdir()
    (earlier / "model.tflite").write_bytes(b"an earlier run")
    args = [
        "optimize",
        "--model",
        "demo",
        "--data",
        "demo",
        "--recipe",
        str(ok),
        "--out",
        str(earlier),
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "holds another run (model.tflite)" in err and "--overwrite" in err
    assert (earlier / "model.tflite").read_bytes() == b"an earlier run"
    sweep = ["sweep", "--model", "demo", "--data", "demo", "--grid", "demo_sweep_grid"]
    assert main([*sweep, "--out", str(earlier)]) == 2
    assert not list(tmp_path.glob(".run.*"))  # no staging folder left behind


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            "optimize --model demo --data demo --recipe {bad} --out {out}",
            "pruning.target_sparsity: must be in (0, 1), got 1.5",
        ),
        (
            "optimize --model {tmp}/none.keras --data demo --recipe {ok} --out {out}",
            "none.keras does not exist",
        ),
        (
            "optimize --model demo --data {tmp}/wrong.npz --recipe {ok} --out {out}",
            "expects (8, 8, 1)",
        ),
        (
            "optimize --model demo --data demo --recipe no_such_recipe --out {out}",
            "recipe file no_such_recipe does not exist",
        ),
        ("evaluate --tflite {tmp}/none.tflite --data demo", "none.tflite does not exist"),
        ("evaluate --tflite {ok} --data demo", "not a .tflite model"),
        (
            "optimize --model demo --data demo --recipe {ok} --out {out} --threads 0",
            "--threads must be 1 or more",
        ),
        (  # issue 33: said at once, not after ~10 s of loading
            "optimize --model demo --data demo --recipe {ok} --out {tmp}/ok.json",
            "ok.json is a file; give a folder",
        ),
        (
            "sweep --model demo --data {tmp}/none.npz --grid demo_sweep_grid --out {out}",
            "none.npz does not exist",
        ),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(tmp_path, capsys, args, message):
    (tmp_path / "bad.json").write_text(json.dumps({"pruning": {"target_sparsity": 1.5}}))
    (tmp_path / "ok.json").write_text(json.dumps({"quantization": {"mode": "dynamic"}}))
    np.savez(tmp_path / "wrong.npz", x=np.zeros((10, 28, 28, 1)), y=np.zeros(10, int))
    fill = {
        "bad": tmp_path / "bad.json",
        "ok": tmp_path / "ok.json",
        "out": tmp_path / "o",
        "tmp": tmp_path,
    }
    code = main(args.format(**fill).split())
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: ") and message in err[-1]
    assert not any("Traceback" in line for line in err)
    assert not (tmp_path / "o" / "model.tflite").exists()


@pytest.mark.slow
def test_malformed_tflite_does_not_crash_the_command(tmp_path, demo):
    from studio.engine.convert import convert
    from studio.values.recipe import Quantization

    blob = convert(demo.model, Quantization())
    bad = tmp_path / "bad.tflite"
    rng = np.random.default_rng(1)
    bad.write_bytes(blob[:8] + rng.integers(0, 256, len(blob) // 4, dtype=np.uint8).tobytes())
    done = run_cli("evaluate", "--tflite", str(bad), "--data", "demo")
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: LiteRT") and "bad.tflite" in last
    assert "Traceback" not in done.stderr


def test_help_lists_both_commands():
    done = run_cli("--help")
    assert done.returncode == 0 and "optimize" in done.stdout and "evaluate" in done.stdout
    assert "--session" in done.stdout and "MODEL" in done.stdout  # the window's too (issue 33)


def test_unreadable_files_are_explained_in_words(tmp_path):
    """Issue 33: "'utf-8' codec can't decode byte 0x99" and "JSONDecodeError" reached users."""
    from studio.values.errors import StudioError
    from studio.values.grid import Grid
    from studio.values.recipe import Recipe

    binary = tmp_path / "photo.json"
    binary.write_bytes(b"\x89PNG\x99\x00 not a recipe")
    with pytest.raises(StudioError) as caught:
        Recipe.load(binary)
    assert "not a text file" in str(caught.value) and "codec" not in str(caught.value)
    cut = tmp_path / "grid.json"
    cut.write_text('{"quantization.mode": ["int8"')
    with pytest.raises(StudioError, match="not valid JSON at line 1"):
        Grid.load(cut)


@pytest.mark.slow  # the command line end to end: a worker loads TensorFlow
def test_lambda_model_needs_trust_on_the_command_line(tmp_path, capsys):
    import tf_keras as keras

    inp = keras.Input((8, 8, 1))
    x = keras.layers.Lambda(lambda t: t * 1.0)(inp)
    out = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x))
    keras.Model(inp, out).save(tmp_path / "lam.keras")
    recipe = tmp_path / "r.json"
    recipe.write_text("{}")
    args = [
        "optimize",
        "--model",
        str(tmp_path / "lam.keras"),
        "--data",
        "demo",
        "--recipe",
        str(recipe),
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(args) == 2
    assert "Lambda layer" in capsys.readouterr().err
    assert main([*args, "--trust", "--quiet"]) == 0
    assert Path(tmp_path / "o" / "model.tflite").exists()


@pytest.mark.slow  # the command line end to end: a worker loads TensorFlow
def test_unlabeled_data_is_refused_before_any_work_for_fine_tunes(tmp_path, capsys):
    np.savez(tmp_path / "u.npz", x=np.random.default_rng(0).random((30, 8, 8, 1)))
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"pruning": {"target_sparsity": 0.5}}))
    args = [
        "optimize",
        "--model",
        "demo",
        "--data",
        str(tmp_path / "u.npz"),
        "--recipe",
        str(recipe),
        "--out",
        str(tmp_path / "o"),
        "--quiet",
    ]
    assert main(args) == 2
    assert "u.npz: has no labels, and pruning fine-tune" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # refused before the baseline was even converted
    # Post-training quantization needs no labels: figures come without accuracy.
    recipe.write_text(json.dumps({"quantization": {"mode": "int8"}}))
    assert main(args) == 0
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["accuracy"] is None and metrics["agreement"] > 0.9


@pytest.mark.slow
def test_optimize_takes_a_keras3_file_like_any_other(tmp_path):
    from test_keras3 import small_cnn

    model = tmp_path / "k3_cnn.h5"
    small_cnn().save(model)
    recipe = tmp_path / "recipe.json"
    recipe.write_text(
        json.dumps(
            {"pruning": {"target_sparsity": 0.5, "epochs": 1}, "quantization": {"mode": "dynamic"}}
        )
    )
    out = tmp_path / "run"
    done = run_cli(*f"optimize --model {model} --data demo --recipe {recipe} --out {out}".split())
    assert done.returncode == 0, done.stderr
    layers = {x["name"]: x for x in json.loads((out / "metrics.json").read_text())["layers"]}
    assert layers["dense1"]["sparsity"] >= 0.45


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--budget", "-1", "the budget must be 0 or more"),
        ("--time-limit", "0", "the time limit must be more than 0"),
        ("--max-trials", "0", "the most trials"),
        ("--objective", "speed", "invalid choice"),
    ],
)
def test_autotune_refuses_bad_settings_before_any_work(tmp_path, option, value, said):
    args = ["autotune", "--model", "demo", "--data", "demo", "--budget", "1"]
    args += ["--out", str(tmp_path / "o"), option, value]
    run = subprocess.run(
        [sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2, run.stderr
    assert said in run.stderr
    assert not (tmp_path / "o").exists()
