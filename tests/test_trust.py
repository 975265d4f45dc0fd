"""Crafted model files: whatever their shape, code in them never runs without trust.

Each base file carries a live payload (a Lambda that writes a marker file when the model
is built).  Variants move, hide, wrap, rename and reorder it the ways an attacker would;
every variant must be refused before anything is deserialized, and the marker must not
appear.  Legitimate files of many kinds must still open without any question.
"""

from __future__ import annotations

import copy
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import tf_keras

from studio.engine.models import inspect_file, load_model, refusal
from studio.values import trust
from studio.values.errors import ModelError, UntrustedModelError


def payload(marker: Path) -> Callable:
    """A function that leaves `marker` behind when it runs (so we can tell it ran)."""
    return eval(f"lambda t: (open({str(marker)!r}, 'a').write('ran'), t)[1]")  # noqa: S307


# -- base files built by Keras itself ---------------------------------------------------


def tf_keras_model(marker: Path, shape: str) -> tf_keras.Model:
    k = tf_keras
    lam = k.layers.Lambda(payload(marker), name="evil")
    inp = k.Input((4, 3), name="x")
    if shape == "top":
        x = lam(inp)
    elif shape == "nested":
        inner_in = k.Input((4, 3))
        inner = k.Model(inner_in, lam(k.layers.Dense(3)(inner_in)), name="base")
        x = inner(inp)
    elif shape == "wrapper":
        x = k.layers.TimeDistributed(lam, name="td")(inp)
    elif shape == "shared":
        x = k.layers.Add()([lam(inp), lam(k.layers.Dense(3)(inp))])
    else:
        raise ValueError(shape)
    out = k.layers.Dense(2, name="head")(k.layers.Flatten()(x))
    return k.Model(inp, out, name="crafted")


def keras3_model(marker: Path, shape: str):
    import keras

    lam = keras.layers.Lambda(payload(marker), output_shape=(4, 3), name="evil")
    inp = keras.Input((4, 3), name="x")
    if shape == "top":
        x = lam(inp)
    elif shape == "nested":
        inner_in = keras.Input((4, 3))
        x = keras.Model(inner_in, lam(keras.layers.Dense(3)(inner_in)), name="base")(inp)
    elif shape == "wrapper":
        x = keras.layers.TimeDistributed(lam, name="td")(inp)
    else:
        raise ValueError(shape)
    out = keras.layers.Dense(2, name="head")(keras.layers.Flatten()(x))
    return keras.Model(inp, out, name="crafted")


def save(tmp: Path, marker: Path, flavour: str, shape: str) -> Path:
    """flavour: k2-h5, k2-keras, k3-keras, k3-h5."""
    suffix = ".h5" if flavour.endswith("h5") else ".keras"
    path = tmp / f"{flavour}-{shape}{suffix}"
    if flavour.startswith("k2"):
        tf_keras_model(marker, shape).save(path)
    else:
        keras3_model(marker, shape).save(path)
    marker.unlink(missing_ok=True)  # building the model ran the payload once
    return path


# -- the config inside a file, rewritten ------------------------------------------------


def read_config(path: Path) -> dict:
    if path.suffix == ".h5":
        with h5py.File(path, "r") as f:
            raw = f.attrs["model_config"]
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("config.json"))


def write_config(path: Path, config: dict) -> None:
    text = json.dumps(config)
    if path.suffix == ".h5":
        with h5py.File(path, "r+") as f:
            f.attrs["model_config"] = text
        return
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w") as dst:
        for item in src.infolist():
            data = src.read(item) if item.filename != "config.json" else text.encode()
            dst.writestr(item, data)
    tmp.replace(path)


def objects(tree, predicate):
    """Every dict in the tree for which predicate(dict) holds."""
    if isinstance(tree, dict):
        if predicate(tree):
            yield tree
        for value in tree.values():
            yield from objects(value, predicate)
    elif isinstance(tree, list):
        for item in tree:
            yield from objects(item, predicate)


def is_lambda(d):
    return d.get("class_name") == "Lambda"


def is_dense(d):
    return d.get("class_name") == "Dense"


def extra_layers_key(config):  # the reported bypass: the old scan skipped such entries
    for d in objects(config, is_lambda):
        d["layers"] = []


def extra_layer_key(config):
    for d in objects(config, is_lambda):
        d["layer"] = {}
        d["config"]["layers"] = []


def reversed_keys(config):
    def rev(node):
        if isinstance(node, dict):
            return {k: rev(node[k]) for k in reversed(list(node))}
        if isinstance(node, list):
            return [rev(v) for v in node]
        return node

    return rev(config)


def hidden_under_odd_key(config):
    lam = copy.deepcopy(next(objects(config, is_lambda)))
    for d in objects(config, is_dense):
        d["config"]["zz_extra"] = {"deeper": [lam]}


def renamed_lambda(config):  # the bytecode stays, the class name lies
    for d in objects(config, is_lambda):
        d["class_name"] = "Dense"


def non_string_class(config):
    for d in objects(config, is_lambda):
        d["class_name"] = ["Lambda"]


def foreign_module(config):
    for d in list(objects(config, is_dense)):
        d["module"] = "antigravity"


def custom_registered(config):
    for d in list(objects(config, is_dense)):
        d["registered_name"] = "evil>Dense"


MUTATIONS = {
    "as-saved": lambda c: None,
    "extra-layers-key": extra_layers_key,
    "extra-layer-key": extra_layer_key,
    "reversed-keys": reversed_keys,
    "hidden-under-odd-key": hidden_under_odd_key,
    "renamed-lambda": renamed_lambda,
    "non-string-class": non_string_class,
}
FLAVOURS = ["k2-h5", "k2-keras", "k3-keras", "k3-h5"]
SHAPES = {"k2": ["top", "nested", "wrapper", "shared"], "k3": ["top", "nested", "wrapper"]}
CASES = [
    (flavour, shape, mutation)
    for flavour in FLAVOURS
    for shape in SHAPES[flavour[:2]]
    for mutation in MUTATIONS
]


@pytest.mark.parametrize(("flavour", "shape", "mutation"), CASES)
def test_crafted_variant_is_refused_and_its_code_does_not_run(tmp_path, flavour, shape, mutation):
    marker = tmp_path / "ran.txt"
    path = save(tmp_path, marker, flavour, shape)
    config = read_config(path)
    changed = MUTATIONS[mutation](config)
    write_config(path, changed if changed is not None else config)
    with pytest.raises(UntrustedModelError) as refused:  # its bytecode is still in the file
        load_model(path)
    assert not marker.exists(), "the payload ran while the file was refused"
    assert "trust" in str(refused.value) and path.name in str(refused.value)


@pytest.mark.parametrize("mutation", ["foreign-module", "custom-registered"])
@pytest.mark.parametrize("flavour", ["k2-keras", "k3-keras"])
def test_names_outside_keras_are_refused(tmp_path, flavour, mutation):
    path = tmp_path / f"{flavour}.keras"
    if flavour == "k2-keras":
        inp = tf_keras.Input((3,))
        tf_keras.Model(inp, tf_keras.layers.Dense(2)(inp)).save(path)
    else:
        import keras

        inp = keras.Input((3,))
        keras.Model(inp, keras.layers.Dense(2)(inp)).save(path)
    config = read_config(path)
    (foreign_module if mutation == "foreign-module" else custom_registered)(config)
    write_config(path, config)
    expected = UntrustedModelError if mutation == "foreign-module" else ModelError
    with pytest.raises(
        expected, match="antigravity" if expected is UntrustedModelError else "evil"
    ):
        load_model(path)


def test_the_reported_bypass_carries_a_live_payload(tmp_path):
    """The `"layers": []` file really runs code once trusted: the refusal is not vacuous."""
    marker = tmp_path / "ran.txt"
    path = save(tmp_path, marker, "k2-h5", "top")
    config = read_config(path)
    extra_layers_key(config)
    write_config(path, config)
    with pytest.raises(UntrustedModelError, match=r"Lambda layer 'evil'"):
        load_model(path)
    assert not marker.exists()
    load_model(path, trust=True)
    assert marker.exists(), "trusted, the crafted file's code runs (so the check matters)"


def test_lambda_in_a_savedmodel_is_refused(tmp_path):
    marker = tmp_path / "ran.txt"
    folder = tmp_path / "sm"
    tf_keras_model(marker, "nested").save(folder, save_format="tf")
    marker.unlink(missing_ok=True)
    with pytest.raises(UntrustedModelError, match=r"Lambda layer 'evil' \(in .*'base'"):
        load_model(folder)
    assert not marker.exists()


def test_where_the_code_sits_is_named(tmp_path):
    marker = tmp_path / "ran.txt"
    path = save(tmp_path, marker, "k2-h5", "wrapper")
    with pytest.raises(UntrustedModelError, match=r"Lambda layer 'evil' \(in 'crafted' > 'td'\)"):
        load_model(path)


def test_keras_safe_mode_refusal_reads_as_the_trust_question():
    keras_words = ValueError(
        "Requested the deserialization of a Python lambda. This carries a potential risk "
        "of arbitrary code execution and thus it is disallowed by default. If you trust "
        "the source of the artifact, you can override this error by passing "
        "`safe_mode=False` to the loading function"
    )
    err = refusal(Path("m.keras"), keras_words)
    assert isinstance(err, UntrustedModelError)
    assert "safe_mode" not in str(err) and "Trust and open" in str(err)
    assert str(err).endswith(")")  # whole words, nothing cut


# -- legitimate files open without a question -------------------------------------------


def legit_tf_keras(tmp_path: Path) -> list[Path]:
    k = tf_keras
    paths = []
    tokens = k.Input((12,), dtype="int32")
    x = k.layers.Embedding(40, 8, mask_zero=True)(tokens)
    x = k.layers.Bidirectional(k.layers.LSTM(6))(x)
    rnn = k.Model(tokens, k.layers.Dense(3, activation="softmax")(x))
    rnn.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    img = k.Input((16, 16, 3))
    y = k.layers.Conv2D(4, 3, kernel_regularizer=k.regularizers.L2(1e-4))(img)
    y = k.layers.BatchNormalization()(y)
    y = k.layers.DepthwiseConv2D(3, depthwise_constraint=k.constraints.MaxNorm(2))(y)
    base = k.Model(img, k.layers.GlobalAveragePooling2D()(y), name="base")
    outer_in = k.Input((16, 16, 3))
    transfer = k.Model(outer_in, k.layers.Dense(2)(base(outer_in)))
    transfer.compile("sgd", "mse")
    for i, model in enumerate([rnn, transfer]):
        for suffix in (".h5", ".keras"):
            path = tmp_path / f"legit{i}{suffix}"
            model.save(path)
            paths.append(path)
    return paths


def legit_keras3(tmp_path: Path) -> list[Path]:
    import keras

    tokens = keras.Input((12,), dtype="int32")
    x = keras.layers.Embedding(40, 8, mask_zero=True)(tokens)  # masking saves NotEqual
    x = keras.layers.GRU(6)(x)
    model = keras.Model(tokens, keras.layers.Dense(3, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    paths = []
    for suffix in (".h5", ".keras"):
        path = tmp_path / f"legit3{suffix}"
        model.save(path)
        paths.append(path)
    return paths


def test_ordinary_models_raise_no_finding(tmp_path):
    for path in legit_tf_keras(tmp_path) + legit_keras3(tmp_path) + ["demo"]:
        info = inspect_file(path)
        assert info.findings == (), (path, info.findings)


def test_walker_sees_every_depth_and_key_without_tensorflow():
    allowed = {"Dense", "Functional"}
    hidden = {"a": [{"b": {"c": {"class_name": "Lambda", "config": {"name": "x"}}}}]}
    tree = {"class_name": "Functional", "config": {"name": "m", "weird": hidden}}
    [finding] = trust.scan(tree, allowed)
    assert finding.kind == "code" and finding.where == "'m'"
    assert trust.scan({"class_name": "Mystery"}, allowed)[0].kind == "unknown"
    assert trust.scan({"class_name": "Mystery"}, allowed, unknown_allowed=True) == []
    bytecode = {"class_name": "Dense", "config": {"function_type": "lambda"}}
    assert trust.scan(bytecode, allowed)[0].kind == "code"
    # the root compile section is never deserialized: only bytecode counts there
    assert trust.scan({"class_name": "MyLoss", "module": "__main__"}, allowed, code_only=True) == []
    assert trust.scan({"class_name": "__lambda__"}, allowed, code_only=True)[0].kind == "code"
    assert np.all([f.kind == "code" for f in trust.scan([bytecode, bytecode], allowed)])


def test_tensorflow_function_calls_on_the_allow_list_open_without_trust(tmp_path):
    """tf_keras saves `tf.` calls (MobileNetV3's hard-swish) as TFOpLambda layers naming
    the function: pure tensor functions are Keras' own; anything else still asks."""
    import tensorflow as tf

    k = tf_keras
    inp = k.Input((8,))
    x = tf.nn.relu6(inp + 3.0) * (1.0 / 6.0)
    x = tf.reshape(tf.concat([x, inp[:, :2]], axis=-1), (-1, 10))
    model = k.Model(inp, tf.reduce_mean(x, axis=-1, keepdims=True))
    for suffix in (".keras", ".h5"):
        path = tmp_path / f"ops{suffix}"
        model.save(path)
        assert inspect_file(path).findings == (), path
        loaded = load_model(path)
        sample = np.ones((2, 8), np.float32)
        np.testing.assert_allclose(loaded(sample), model(sample), rtol=1e-6)
    config = json.loads(model.to_json())
    op = next(la for la in config["config"]["layers"] if la["class_name"] == "TFOpLambda")
    for function in ("io.write_file", "py_function", "raw_ops.WriteFile", "nn.raw_ops.X"):
        crafted = copy.deepcopy(op)
        crafted["config"]["function"] = function
        [finding] = trust.scan(crafted, {"TFOpLambda"})
        assert finding.kind == "code" and f"tf.{function}" in finding.what


@pytest.mark.parametrize("flavour", ["k2-keras", "k3-keras"])
def test_a_keras_function_that_is_not_a_modelling_function_asks_for_trust(tmp_path, flavour):
    """Issue 33: an activation `{"module": "keras.utils", "class_name": "function",
    "config": "get_file"}` passed as Keras' own (CVE-2025-8747 had this shape); tf_keras
    then silently dropped it. Functions are allowed by name, not by module prefix."""
    path = tmp_path / f"{flavour}.keras"
    if flavour == "k2-keras":
        inp = tf_keras.Input((3,))
        tf_keras.Model(inp, tf_keras.layers.Dense(2, activation="relu")(inp)).save(path)
    else:
        import keras

        inp = keras.Input((3,))
        keras.Model(inp, keras.layers.Dense(2, activation="relu")(inp)).save(path)
    load_model(path)  # relu is one of Keras' activations: no question
    config = read_config(path)
    for d in list(objects(config, is_dense)):
        d["config"]["activation"] = {
            "module": "keras.utils",
            "class_name": "function",
            "config": "get_file",
            "registered_name": "get_file",
        }
    write_config(path, config)
    with pytest.raises(UntrustedModelError, match=r"keras\.utils\.get_file"):
        load_model(path)


def test_a_model_built_unlike_its_file_is_refused_naming_layer_field_and_values(tmp_path):
    """Issue 33: a loader that quietly builds something else (tf_keras turned an
    activation it did not know into none) made the studio measure another model than
    the file's.  What was built is compared with the file, layer by layer."""
    from studio.engine.models import check_built

    path = tmp_path / "m.keras"
    inp = tf_keras.Input((3,), name="x")
    hidden = tf_keras.layers.Dense(4, activation="relu", name="hidden")(inp)
    tf_keras.Model(inp, tf_keras.layers.Dense(2, name="out")(hidden)).save(path)
    info = inspect_file(path)
    assert check_built(info, load_model(path))  # as the file says: no complaint
    inp = tf_keras.Input((3,), name="x")
    quiet = tf_keras.layers.Dense(4, activation="linear", name="hidden")(inp)  # "nothing"
    other = tf_keras.Model(inp, tf_keras.layers.Dense(2, name="out")(quiet))
    with pytest.raises(
        ModelError,
        match=r"layer 'hidden': activation is 'linear' in the built model, 'relu' in the file",
    ):
        check_built(info, other)
