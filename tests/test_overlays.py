"""Model Explorer overlays (studio/values/overlays.py, studio/engine/overlays.py): every
key names an operator of the candidate's own graph, and every value is the figure read
from the file for that operator's weights."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert [p.name for p in paths] == [f"{o.key}.json" for o in OVERLAYS]  # no fidelity.json
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

    sys.path.insert(0, str(Path(__file__).parent))
    import zoo

    from studio.engine.convert import convert
    from studio.engine.models import load_model
    from studio.values.recipe import Quantization

    path, _ = zoo.saved("transformer", "keras3", tmp_path / "zoo")
    model = load_model(path)
    read = _check(convert(model, Quantization(mode="float16")), tmp_path)
    assert set(v["value"] for v in read["weight_bits"].values()) == {16}


def _candidate(tmp_path):
    """A candidate folder as optimize writes one: the demo model in int8."""
    import tf_keras as keras

    from studio.engine.convert import convert
    from studio.values.recipe import Quantization
    from studio.values.resources import DEMO_MODEL

    model = keras.models.load_model(DEMO_MODEL)
    x = np.random.RandomState(0).rand(20, *model.input_shape[1:]).astype(np.float32)
    folder = tmp_path / "c001"
    folder.mkdir()
    (folder / "model.tflite").write_bytes(convert(model, Quantization(mode="int8"), x))
    return folder


def _cli(*args, **kwargs):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "studio", *args], capture_output=True, text=True, **kwargs
    )


def test_explore_writes_the_overlays_or_names_what_is_missing(tmp_path):
    folder = _candidate(tmp_path)
    done = _cli("explore", str(folder), "--overlays", str(tmp_path / "out"), timeout=300)
    assert done.returncode == 0, done.stderr[-1000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "mapping.txt",
        "sparsity.json",
        "unique_values.json",
        "weight_bits.json",
    ]
    bad = _cli("explore", str(tmp_path / "nowhere"), "--no-browser", timeout=300)
    assert bad.returncode == 2 and "model.tflite does not exist" in bad.stderr
    assert "Traceback" not in bad.stderr
    # Two, side by side: each its copy, its graph named after its folder, its overlays.
    other = tmp_path / "c002"
    other.mkdir()
    (other / "model.tflite").write_bytes((folder / "model.tflite").read_bytes())
    both = _cli("explore", str(folder), str(other), "--overlays", str(tmp_path / "two"),
                timeout=300)  # fmt: skip
    assert both.returncode == 0, both.stderr[-1000:]
    for name in ("c001", "c002"):
        written = tmp_path / "two" / name
        assert (written / f"{name}.tflite").is_file()
        assert list(json.loads((written / "sparsity.json").read_text())) == [name]
    three = _cli("explore", str(folder), str(other), str(other), "--no-browser", timeout=300)
    assert three.returncode == 2 and "two to see side by side" in three.stderr


def test_explore_serves_the_graph_and_overlays_on_a_local_port_until_stopped(tmp_path):
    """The server starts on a free 127.0.0.1 port; through it, Model Explorer's TFLite
    adapter gives the graph whose node ids the overlays use; Ctrl+C stops it."""
    import signal
    import subprocess
    import sys
    import urllib.parse
    import urllib.request

    pytest.importorskip("model_explorer")
    from studio.jobs.explorer import free_port

    folder, port = _candidate(tmp_path), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "studio", "explore", str(folder), "--port", str(port),
         "--no-browser"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = process.stdout.readline()
        assert line.startswith(f"Model Explorer: http://127.0.0.1:{port}/?data="), line
        data = json.loads(urllib.parse.unquote(line.split("?data=", 1)[1].strip()))
        assert data["models"] == [{"url": str((folder / "model.tflite").absolute())}]
        assert len(data["nodeData"]) == 3

        def get(path: str) -> dict:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as r:
                return json.loads(r.read())

        command = {
            "extensionId": "builtin_tflite_flatbuffer",
            "cmdId": "convert",
            "modelPath": data["models"][0]["url"],
            "settings": {},
            "deleteAfterConversion": False,
        }
        reply = get("/api/v1/send_command?json=" + urllib.parse.quote(json.dumps(command)))
        [graph] = reply["graphCollections"][0]["graphs"]
        nodes = {n["id"]: n for n in graph["nodes"]}
        sparsity = data["nodeData"][0]
        overlay = json.loads(get("/api/v1/read_text_file?path=" + urllib.parse.quote(sparsity))
                             ["content"])  # fmt: skip
        [(graph_name, drawn)] = overlay.items()
        assert graph_name == graph["id"]
        for node in drawn["results"]:
            assert node in nodes and nodes[node]["label"] in ("conv_2d", "fully_connected")
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/check_health", timeout=2)


def test_the_window_opens_a_candidate_then_two_in_one_model_explorer_server(qtbot, tmp_path):
    """Open in Model Explorer (the action and the compare dialog's button): overlays are
    written into the candidate's folder, the page names its file and overlays, the
    server is reused for the second page and stopped with the window."""
    import urllib.parse
    import urllib.request

    pytest.importorskip("model_explorer")
    from conftest import stand_in_window
    from fakes import StandIns
    from studio.engine.tflite_file import graph_id, weight_figures
    from studio.values.recipe import Recipe

    blob = (_candidate(tmp_path) / "model.tflite").read_bytes()
    w = stand_in_window(qtbot, tmp_path, StandIns())
    w.start()
    qtbot.waitUntil(lambda: w.workbench.session.baseline is not None, timeout=10_000)
    ids = [w.workbench.run(Recipe()), w.workbench.run(Recipe())]
    session = w.workbench.session
    qtbot.waitUntil(lambda: all(session.candidates[i].status == "done" for i in ids), timeout=10_000)
    for cid in ids:
        session.tflite(cid).write_bytes(blob)
    opened = []
    w.open_url = opened.append

    w.state.select(ids[0])
    assert w.commands.explore.isEnabled()
    w.commands.explore.trigger()
    qtbot.waitUntil(lambda: len(opened) == 1, timeout=60_000)

    def shown(url: str) -> dict:
        return json.loads(urllib.parse.unquote(url.split("?data=", 1)[1]))

    first = shown(opened[0])
    assert first["models"] == [{"url": str(session.tflite(ids[0]).absolute())}]
    [pane] = first["uiState"]["paneStates"]
    assert (pane["selectedCollectionLabel"], pane["selectedGraphId"]) == ("model.tflite", "main")
    # The session's sensitivity pass (the stand-in's layer "dense", which this file has
    # not) is an overlay too, saying the layer maps to no operator.
    assert first["nodeDataTargets"] == [""] * 5
    overlays = session.candidate_dir(ids[0]) / "overlays"
    keys = ["sparsity", "unique_values", "weight_bits", "prune_sensitivity", "cluster_sensitivity"]
    assert first["nodeData"] == [str((overlays / f"{k}.json").absolute()) for k in keys]
    [pruned] = json.loads((overlays / "prune_sensitivity.json").read_text()).values()
    assert pruned["results"] == {} and "1 on none (mapping.txt)" in pruned["name"]
    assert "dense: no operator" in (overlays / "mapping.txt").read_text()
    port = urllib.parse.urlsplit(opened[0]).port
    dialog = w.compare(ids[0], ids[1])
    dialog.explore.click()
    qtbot.waitUntil(lambda: len(opened) == 2, timeout=60_000)
    second = shown(opened[1])
    graphs = [session.candidates[i].name for i in ids]
    names = [f"{graph}.tflite" for graph in graphs]
    assert [Path(m["url"]).name for m in second["models"]] == names
    for m, i, graph in zip(second["models"], ids, graphs, strict=True):
        # The same graph, its id the candidate's: Model Explorer would rename a second
        # "main", and neither the split view nor the overlays could name it.
        copy = Path(m["url"]).read_bytes()
        assert graph_id(copy) == graph and graph_id(session.tflite(i).read_bytes()) == "main"
        assert weight_figures(copy) == weight_figures(session.tflite(i).read_bytes())
        overlay = Path(second["nodeData"][5 * ids.index(i)])
        assert list(json.loads(overlay.read_text())) == [graph]
    assert second["nodeDataTargets"] == [names[0]] * 5 + [names[1]] * 5
    # Side by side in Model Explorer's split view, every operator drawn.
    panes = second["uiState"]["paneStates"]
    assert [(p["selectedCollectionLabel"], p["selectedGraphId"]) for p in panes] == list(
        zip(names, graphs, strict=True)
    )
    assert all(p["flattenLayers"] and p["widthFraction"] == 0.5 for p in panes)
    assert urllib.parse.urlsplit(opened[1]).port == port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/check_health", timeout=10):
        pass
    dialog.close()
    w.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/check_health", timeout=2)


@pytest.mark.slow
def test_a_quantized_candidate_gets_its_snr_per_layer_on_the_layers_operators(tmp_path):
    """The LiteRT Quantizer's per-tensor SNR (the candidate's fidelity.json) by layer,
    on every operator the converter made of the layer; the mapping is said."""
    from studio.engine import overlays
    from studio.engine.pipeline import optimize
    from studio.engine.tflite_file import graph_ops
    from studio.values import tensor_fidelity
    from studio.values.recipe import Quantization, Recipe
    from studio.values.sparse_speed import PASS_THROUGH

    pytest.importorskip("litert_quantizer")
    folder = tmp_path / "c001"
    optimize("demo", "demo", Recipe(quantization=Quantization(mode="int8")), folder)
    by_layer = tensor_fidelity.read(folder).by_layer()
    assert by_layer
    paths = overlays.write(folder / "model.tflite", folder / "overlays")
    assert paths[-1].name == "snr.json"
    [(graph, drawn)] = json.loads(paths[-1].read_text()).items()
    ops = [op for op in graph_ops((folder / "model.tflite").read_bytes())
           if op.kind not in PASS_THROUGH]  # fmt: skip
    expected = {
        str(op.index): round(by_layer[op.layer], 2) for op in ops if op.layer in by_layer
    }
    assert {k: v["value"] for k, v in drawn["results"].items()} == expected
    several = [layer for layer in by_layer if sum(op.layer == layer for op in ops) > 1]
    mapping = (folder / "overlays" / "mapping.txt").read_text()
    for layer in several:
        assert f"{layer}: " in mapping
    _check_tensor_snr(folder)


def _check_tensor_snr(folder: Path) -> None:
    """The per-tensor SNR overlays: each value is the fidelity figure of the tensor the
    operator makes (its output) or reads as its weights, found by name in the file."""
    from studio.engine.tflite_file import op_outputs, weight_figures
    from studio.values import tensor_fidelity

    blob = (folder / "model.tflite").read_bytes()
    snr = {t.name: t.snr_db for t in tensor_fidelity.read(folder).tensors if t.snr_db is not None}
    wanted = {
        "output_snr": op_outputs(blob),
        "weight_snr": [(f.op_index, f.tensor) for f in weight_figures(blob)],
    }
    for key, tensors in wanted.items():
        [drawn] = json.loads((folder / "overlays" / f"{key}.json").read_text()).values()
        expected: dict[str, float] = {}
        for index, name in tensors:
            if name in snr:
                value = round(snr[name], 2)
                expected[str(index)] = min(value, expected.get(str(index), value))
        assert expected, key  # the names match: the file's tensors are the validator's
        assert {k: v["value"] for k, v in drawn["results"].items()} == expected, key


def _sensitivity(layer: str, technique: str, value: float, metric: str = "top1"):
    from studio.values.sensitivity import LayerSensitivity

    baseline = 0.95 if metric == "top1" else 0.2
    return LayerSensitivity(layer, technique, 0.5 if technique == "prune" else 16, value,
                            baseline, metric)  # fmt: skip


def test_the_sensitivity_pass_is_drawn_on_the_operators_of_each_layer(tmp_path):
    """Each layer's drop (top-1 points, or the MAE's rise) on every operator the
    converter made of it; a layer the graph has not is said, in the overlay's name and
    in mapping.txt; the colour scale follows the metric, its fragile band last."""
    from studio.engine import overlays
    from studio.engine.tflite_file import graph_ops
    from studio.values.sensitivity import FRAGILE_MAE, FRAGILE_POINTS
    from studio.values.sparse_speed import PASS_THROUGH

    blob = (_candidate(tmp_path) / "model.tflite").read_bytes()
    results = [
        _sensitivity("conv1", "prune", 0.80),  # 15 points lost: fragile
        _sensitivity("dense1", "prune", 0.96),  # a gain: shown as no loss
        _sensitivity("gone", "prune", 0.90),
        _sensitivity("conv2", "cluster", 0.25, metric="mae"),  # +25 %
    ]
    data, mapping = overlays.node_data(blob, None, results)
    assert list(data) == ["sparsity", "unique_values", "weight_bits",
                          "prune_sensitivity", "cluster_sensitivity"]  # fmt: skip
    ops = [op for op in graph_ops(blob) if op.kind not in PASS_THROUGH]
    [pruned] = data["prune_sensitivity"].values()
    [clustered] = data["cluster_sensitivity"].values()
    layer_of = {str(op.index): op.layer for op in ops}
    assert {layer_of[k] for k in pruned["results"]} == {"conv1", "dense1"}
    for node, result in pruned["results"].items():
        assert result["value"] == {"conv1": 15.0, "dense1": 0.0}[layer_of[node]]
    assert {layer_of[k] for k in clustered["results"]} == {"conv2"}
    assert all(r["value"] == 25.0 for r in clustered["results"].values())
    assert [t["value"] for t in pruned["thresholds"]][2] == FRAGILE_POINTS
    assert [t["value"] for t in clustered["thresholds"]][2] == FRAGILE_MAE * 100
    assert pruned["name"].startswith("Layer pruned alone to 50%: top-1 points lost (no fine-")
    assert clustered["name"].startswith("Layer clustered alone to 16: MAE rise, % (no fine-tune)")
    assert "red (fragile)" in pruned["name"] and "1 on none (mapping.txt)" in pruned["name"]
    assert "gone: no operator of the graph" in "".join(mapping)


@pytest.mark.slow
def test_a_zoo_candidate_gets_the_sensitivity_pass_and_its_snr_on_its_own_operators(tmp_path):
    """A model we did not tune for (the zoo's small CNN, Keras 3): the session's real
    sensitivity pass and the int8 candidate's per-tensor figures land on operators of
    the candidate's graph, every measured layer on at least one."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    import zoo

    from studio.engine import overlays
    from studio.engine.pipeline import optimize, sensitivity
    from studio.engine.tflite_file import graph_ops
    from studio.values import sensitivity as saved
    from studio.values.recipe import Quantization, Recipe
    from studio.values.sensitivity import LayerSensitivity

    pytest.importorskip("litert_quantizer")
    model_path, data_path = zoo.saved("small_cnn", "keras3", tmp_path / "zoo")
    session = tmp_path / "session"
    results = [LayerSensitivity.from_dict(r) for r in sensitivity(model_path, data_path)]
    saved.save(session, results)
    folder = session / "c001"
    optimize(model_path, data_path, Recipe(quantization=Quantization(mode="int8")), folder)
    paths = overlays.write(folder / "model.tflite", folder / "overlays")
    names = [p.stem for p in paths]
    assert names[-2:] == ["prune_sensitivity", "cluster_sensitivity"] and "snr" in names
    # The stem and the pointwise convolution are fused with their BatchNormalization and
    # ReLU (the operator's output is named after the ReLU): found all the same.
    ops = graph_ops((folder / "model.tflite").read_bytes())
    stem, pw = [str(op.index) for op in ops if op.kind == "CONV_2D"]
    [digit] = [str(op.index) for op in ops if op.kind == "FULLY_CONNECTED"]
    for technique in ("prune", "cluster"):
        file = folder / "overlays" / f"{technique}_sensitivity.json"
        [drawn] = json.loads(file.read_text()).values()
        measured = {r.layer: max(0.0, r.drop) for r in results if r.technique == technique}
        assert set(measured) == {"stem", "pw", "digit"}
        assert {k: v["value"] for k, v in drawn["results"].items()} == {
            node: round(measured[layer], 2)
            for node, layer in ((stem, "stem"), (pw, "pw"), (digit, "digit"))
        }
        assert "on none" not in drawn["name"]
    _check_tensor_snr(folder)


def test_without_model_explorer_explore_says_how_to_install_it_in_one_line(tmp_path):
    import subprocess
    import sys

    folder = _candidate(tmp_path)
    code = (
        "import sys; sys.modules['model_explorer'] = None; from studio.cli import main; "
        f"sys.exit(main(['explore', {str(folder)!r}, '--no-browser']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        'error: Model Explorer (ai-edge-model-explorer) is an optional extra: '
        'pip install "tflite-studio[explorer]"'
    )
    assert not (folder / "overlays").exists()


def test_an_operator_fused_from_layers_with_figures_of_their_own_shows_the_worst():
    from studio.values.overlays import SNR, sensitivity_overlays

    ops = [(1, "stem_relu"), (1, "stem_bn"), (1, "stem"), (2, "head"), (3, "head")]
    drawn, mapping = SNR.node_data({"stem": 31.0, "stem_relu": 18.5, "head": 40}, ops, "main")
    assert drawn["main"]["results"] == {"1": {"value": 18.5}, "2": {"value": 40}, "3": {"value": 40}}
    assert "1 layer(s) on several operators, 1 operator(s) fused from several" in drawn["main"]["name"]
    assert mapping == [
        "head: 2 operators (2, 3), each shown with the layer's value",
        "operator 1 is made of stem, stem_relu (fused): it shows the worst of their values",
    ]
    [(overlay, values)] = sensitivity_overlays(
        [_sensitivity("stem", "prune", 0.90), _sensitivity("stem_bn", "prune", 0.80)]
    )
    drawn, _ = overlay.node_data(values, ops, "main")
    assert drawn["main"]["results"] == {"1": {"value": 15.0}}  # the larger loss
