"""Is the model that was built the model the file describes?

A loader can accept a field it does not understand and quietly build something else:
tf_keras turned a Dense layer's activation `keras.utils.get_file` into no activation at
all, and the studio then measured a model that is not the one in the file, without a
word.  So after loading, each layer's class and the configuration fields that change its
meaning are compared with the file's; any difference refuses the model, naming the
layer, the field and both values.  No TensorFlow here: the engine passes the file's
configuration tree and the built layers' configurations.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

# Fields that change what a layer computes (names as both Keras flavours write them).
MEANING = (
    "activation",
    "units",
    "filters",
    "kernel_size",
    "strides",
    "padding",
    "pool_size",
    "dilation_rate",
    "depth_multiplier",
    "groups",
    "rate",
    "use_bias",
    "axis",
)
# Containers whose class differs between a file and what loads it (Functional/Model).
CONTAINERS = frozenset({"Functional", "Model", "Sequential", "InputLayer"})


def file_layers(tree: Any) -> dict[str, tuple[str, dict]]:
    """The file's layers by name: (class name, config).  A name used twice (nested
    models may repeat one) is left out rather than guessed."""
    seen: dict[str, tuple[str, dict]] = {}
    twice: set[str] = set()
    for cls, config in _objects(tree):
        name = config.get("name")
        if not isinstance(name, str) or not any(f in config for f in (*MEANING, "trainable")):
            continue
        if name in seen:
            twice.add(name)
        seen[name] = (cls, config)
    return {n: v for n, v in seen.items() if n not in twice}


def _objects(node: Any) -> Iterator[tuple[str, dict]]:
    if isinstance(node, list | tuple):
        for item in node:
            yield from _objects(item)
    elif isinstance(node, dict):
        config = node.get("config")
        if isinstance(node.get("class_name"), str) and isinstance(config, dict):
            yield node["class_name"], config
        for value in node.values():
            yield from _objects(value)


def differences(
    written: dict[str, tuple[str, dict]], built: Iterable[tuple[str, str, dict]]
) -> list[str]:
    """What differs, one phrase each: "layer 'dense': activation is 'linear' in the
    built model, 'get_file' in the file".  `built`: (name, class name, config)."""
    found = []
    for name, cls, config in built:
        if name not in written:
            continue
        file_cls, file_config = written[name]
        if cls != file_cls and not {cls, file_cls} & CONTAINERS:
            found.append(f"layer {name!r} is a {cls} in the built model, a {file_cls} in the file")
            continue
        for field in MEANING:
            if field not in file_config or field not in config:
                continue
            a, b = _plain(config[field]), _plain(file_config[field])
            if a != b:
                found.append(
                    f"layer {name!r}: {field} is {a!r} in the built model, {b!r} in the file"
                )
    return found


def _plain(value: Any) -> Any:
    """A field's value as both flavours can be compared: lists as tuples, a serialized
    function or object by its name."""
    if isinstance(value, dict):
        inner = value.get("config")
        if isinstance(inner, str):
            return inner
        if isinstance(inner, dict) and isinstance(inner.get("name"), str):
            return inner["name"]
        return value.get("class_name")
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    return value
