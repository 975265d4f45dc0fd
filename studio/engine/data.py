"""Data sets: loading, deterministic splits, and checks against the model.

A data set is split once into a fine-tune part and an evaluation part; calibration
samples for int8 conversion are drawn from the fine-tune part, so evaluation data never
leaks into anything that shapes the model.  Splits are seeded: the same file gives the
same split on every machine.

Every check runs before any work starts and names the problem in the user's terms
("labels go up to 12 but the model has 10 outputs"), because a shape error deep inside a
fine-tune is unreadable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from studio.engine.arrays import Arrays, count, pack, parts, take
from studio.values import splits
from studio.values.data_summary import ClassCount, DataSummary
from studio.values.errors import DataError
from studio.values.metrics import InputSpec
from studio.values.resources import DEMO, DEMO_DATA

EVAL_FRACTION = 0.2
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


@dataclass(frozen=True, eq=False)
class Dataset:
    """Arrays ready for a model.  `y_*` is None for unlabeled data.

    With several inputs `x_*` is a tuple (one array per input, in the model's order), and
    with several outputs `y_*` is a tuple (one array per output); see `arrays.py`."""

    source: str
    x_train: Arrays
    y_train: Arrays | None
    x_eval: Arrays
    y_eval: Arrays | None
    class_names: tuple[str, ...] | None = None
    inputs: tuple[str, ...] = ()  # the model's input and output names, once fitted to it
    outputs: tuple[str, ...] = ()
    presplit: bool = False  # the file gave its own test split

    @property
    def labeled(self) -> bool:
        return self.y_eval is not None

    def calibration(self, n: int) -> Arrays:
        """The first `n` fine-tune samples (already in seeded random order)."""
        return take(self.x_train, slice(0, max(1, min(n, count(self.x_train)))))


def load_data(
    source: str | os.PathLike,
    *,
    seed: int = 0,
    inputs: Sequence[InputSpec] = (),
    outputs: Sequence[InputSpec] = (),
) -> Dataset:
    """`demo`, a `.npz` file, or an image folder with one sub-folder per class; a
    source ending in "::search" or "::holdout" is that half of its evaluation samples
    (`studio.values.splits`).

    `inputs`/`outputs` (the model's) name the arrays a .npz holds for a model with
    several of either, and let an image folder of the wrong size be refused from the
    image headers, before thousands of large images are decoded."""
    names = {
        "x": tuple(s.name for s in inputs) or ("",),  # "" = one, name unknown
        "y": tuple(s.name for s in outputs) or ("",),
    }
    base, part = splits.parse(str(source))
    data = _load_whole(base, seed, inputs, names)
    return data if part is None else _part(data, part)


def _part(data: Dataset, part: str) -> Dataset:
    """One of the evaluation split's two halves (see `studio.values.splits`)."""
    n = count(data.x_eval)
    if n < 2:
        raise DataError(
            f"{data.source}: has {n} evaluation sample(s); holding some out for the "
            f"search's final check needs at least 2 (give more data)"
        )
    search, _ = splits.halves(n)
    order = np.random.default_rng(splits.SHUFFLE_SEED).permutation(n)
    chosen = np.sort(order[:search] if part == splits.SEARCH else order[search:])
    return replace(
        data,
        source=f"{data.source} ({part} part)",
        x_eval=take(data.x_eval, chosen),
        y_eval=None if data.y_eval is None else take(data.y_eval, chosen),
    )


def _load_whole(
    source: str, seed: int, inputs: Sequence[InputSpec], names: Names
) -> Dataset:
    if str(source) == DEMO:
        return _load_npz(DEMO_DATA, seed, "the bundled demo data", {"x": ("",), "y": ("",)})
    path = Path(source)
    if not path.exists():
        raise DataError(f"data {path} does not exist; give a .npz file, an image folder or 'demo'")
    if path.is_dir():
        if len(inputs) > 1:
            raise DataError(
                f"data {path}: an image folder feeds one input, but the model has "
                f"{len(inputs)} ({', '.join(names['x'])}); save a .npz file with one "
                f"array per input, named after the input"
            )
        return _load_image_folder(path, seed, inputs[0] if inputs else None)
    if path.suffix.lower() == ".npz":
        return _load_npz(path, seed, str(path), names)
    raise DataError(
        f"data {path}: unsupported kind of file; give a .npz file (arrays x and y, "
        f"or x_train/y_train/x_test/y_test), an image folder, or 'demo'"
    )


def array_keys(names: Sequence[str], kind: str, i: int) -> list[str]:
    """The .npz array names that can hold input (kind "x") or output ("y") number `i` of
    a model whose inputs or outputs are `names`: `x`/`y` for a model with one, the
    model's own name for it, and `x0`, `y1`, …"""
    keys = [kind] if len(names) == 1 else []
    return keys + ([names[i]] if names[i] else []) + [f"{kind}{i}"]


Names = dict[str, tuple[str, ...]]  # "x": the model's input names, "y": its output names


def _load_npz(path: Path, seed: int, label: str, names: Names) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ValueError as err:
        raise DataError(
            f"{label}: holds Python objects (pickled arrays), which the studio "
            f"does not load; save plain numeric arrays"
        ) from err
    except Exception as err:  # zipfile.BadZipFile, OSError, EOFError...
        raise DataError(
            f"{label} is not a readable .npz file ({err}); save it with numpy.savez"
        ) from err
    first = array_keys(names["x"], "x", 0)
    presplit = any(f"{k}_train" in arrays and f"{k}_test" in arrays for k in first)
    if presplit:
        x_train = _arrays(label, arrays, names, "x", "_train")
        x_eval = _arrays(label, arrays, names, "x", "_test")
        y_train = _arrays(label, arrays, names, "y", "_train", optional=True)
        y_eval = _arrays(label, arrays, names, "y", "_test", optional=True)
        if (y_train is None) != (y_eval is None):
            raise DataError(f"{label}: has only one of y_train and y_test; give both or neither")
        _same_length(label, "the fine-tune arrays", x_train, y_train)
        _same_length(label, "the test arrays", x_eval, y_eval)
        order = np.random.default_rng(seed).permutation(count(x_train))
        return Dataset(
            label,
            take(x_train, order),
            None if y_train is None else take(y_train, order),
            x_eval,
            y_eval,
            presplit=True,
        )
    train_only = not any(k in arrays for k in first) and any(f"{k}_train" in arrays for k in first)
    suffix = "_train" if train_only else ""
    x = _arrays(label, arrays, names, "x", suffix)
    y = _arrays(label, arrays, names, "y", suffix, optional=True)
    _same_length(label, "the arrays", x, y)
    return split(label, x, y, seed=seed)


def _arrays(
    label: str, arrays: dict, names: Names, kind: str, suffix: str, *, optional: bool = False
) -> Arrays | None:
    """One array per input (kind "x") or output ("y"), found by `array_keys`; labels
    (`optional`) are None when no output has any."""
    n = len(names[kind])
    keys = [[k + suffix for k in array_keys(names[kind], kind, i)] for i in range(n)]
    chosen = [next((k for k in options if k in arrays), None) for options in keys]
    if optional and not any(chosen):
        return None
    for options, key in zip(keys, chosen, strict=True):
        if key is None:
            what = "inputs" if kind == "x" else "labels"
            if n == 1:
                fix = "name the inputs x and the labels y"
            else:
                one = "input" if kind == "x" else "output"
                fix = f"save one array per {one}, named after it or {kind}0, {kind}1, …"
            raise DataError(
                f"{label}: has no array named {' or '.join(options)} for the {what} (found "
                f"{', '.join(sorted(arrays)) or 'none'}); {fix}"
            )
        if arrays[key].ndim == 0:
            raise DataError(f"{label}: {key} is a single number, not an array of samples")
    return pack([arrays[key] for key in chosen])


def _same_length(label: str, what: str, x: Arrays, y: Arrays | None) -> None:
    lengths = {len(a) for a in parts(x) + (parts(y) if y is not None else ())}
    if len(lengths) > 1:
        if y is not None and len(parts(x)) == 1 and len(parts(y)) == 1:
            raise DataError(
                f"{label}: x has {count(x)} samples but y has {count(y)} labels; "
                f"they must match one to one"
            )
        raise DataError(
            f"{label}: {what} hold different numbers of samples ({sorted(lengths)}); "
            f"every input and label array needs one row per sample"
        )


def split(
    label: str,
    x: Arrays,
    y: Arrays | None,
    *,
    seed: int = 0,
    class_names: tuple[str, ...] | None = None,
) -> Dataset:
    """Seeded shuffle, then EVAL_FRACTION for evaluation and the rest for fine-tuning."""
    n = count(x)
    if n < 2:
        raise DataError(
            f"{label}: has {n} sample(s); the studio needs at least 2 "
            f"(some to fine-tune and calibrate, some to evaluate)"
        )
    order = np.random.default_rng(seed).permutation(n)
    n_eval = max(1, int(round(n * EVAL_FRACTION)))
    ev, tr = order[:n_eval], order[n_eval:]
    return Dataset(
        label,
        take(x, tr),
        None if y is None else take(y, tr),
        take(x, ev),
        None if y is None else take(y, ev),
        class_names,
    )


MAX_IMAGE_BYTES = 4 * 2**30  # decoded as float32; more than this does not fit a worker


def _check_headers(path: Path, files: list[tuple[Path, int]], expect: InputSpec | None) -> None:
    """Sizes from the image headers (nothing decoded): refuse what cannot fit the model
    or memory before decoding it."""
    from PIL import Image, UnidentifiedImageError

    sizes: dict[tuple[int, int], Path] = {}
    for f, _ in files:
        try:
            with Image.open(f) as im:
                sizes.setdefault(im.size, f)
        except (UnidentifiedImageError, OSError) as err:
            raise DataError(f"image {f} cannot be read ({err}); remove or replace it") from err
    (width, height), first = next(iter(sizes.items()))
    shape = expect.shape if expect is not None else ()
    if len(shape) == 3 and None not in shape[:2] and (height, width) != tuple(shape[:2]):
        raise DataError(
            f"images in {path} are {width}x{height} pixels (e.g. {first.name}) but the model "
            f"input {expect.name!r} expects {shape[1]}x{shape[0]}; resize the images to "
            f"{shape[1]}x{shape[0]}"
        )
    needed = max(w * h for w, h in sizes) * 3 * 4 * len(files)  # float32 RGB, worst case
    if needed > MAX_IMAGE_BYTES:
        raise DataError(
            f"images in {path} are too large to load: {len(files)} images of "
            f"{width}x{height} pixels need about {needed / 2**30:.1f} GB; resize them to the "
            f"model's input size"
        )


def _load_image_folder(path: Path, seed: int, expect: InputSpec | None = None) -> Dataset:
    from PIL import Image, UnidentifiedImageError

    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(
            f"image folder {path} has no sub-folders; put each class's images in "
            f"a sub-folder named after the class"
        )
    files: list[tuple[Path, int]] = []
    for index, name in enumerate(classes):
        files += [
            (f, index)
            for f in sorted((path / name).iterdir())
            if f.suffix.lower() in IMAGE_SUFFIXES
        ]
    if not files:
        raise DataError(f"image folder {path} has no images (.png, .jpg, ...) in its sub-folders")
    with_images = sorted({classes[label] for _, label in files})
    if len(with_images) < 2:
        raise DataError(
            f"image folder {path} has images of one class only ({with_images[0]!r}); a "
            f"classifier needs at least two sub-folders with images, one per class"
        )
    _check_headers(path, files, expect)
    images, sizes = [], set()
    for f, _ in files:
        try:
            with Image.open(f) as im:
                images.append(np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im))
        except (UnidentifiedImageError, OSError) as err:
            raise DataError(f"image {f} cannot be read ({err}); remove or replace it") from err
        sizes.add(images[-1].shape)
    if len(sizes) > 1:
        raise DataError(
            f"images in {path} differ in size or colour ({len(sizes)} different shapes, "
            f"e.g. {sorted(sizes)[:2]}); resize them to one size"
        )
    x = np.stack(images).astype(np.float32) / 255.0
    if x.ndim == 3:
        x = x[..., None]
    y = np.array([label for _, label in files], dtype=np.int64)
    return split(f"image folder {path}", x, y, seed=seed, class_names=tuple(classes))


def fit_to_model(
    data: Dataset, inputs: Sequence[InputSpec], outputs: Sequence[InputSpec]
) -> Dataset:
    """Check the data against the model's inputs and outputs; return it in their dtypes.

    The only change made is one that cannot alter meaning: a missing trailing channel
    axis of size 1 is added (N x 28 x 28 data for an N x 28 x 28 x 1 model), and integer
    data is cast to a float input.  Everything else that does not fit is an error.
    """
    label = data.source
    for part, x in (("fine-tune part", data.x_train), ("evaluation part", data.x_eval)):
        if count(x) == 0:
            raise DataError(f"{label}: the {part} is empty; the studio needs samples in both parts")
    if len(parts(data.x_train)) != len(inputs):
        raise DataError(
            f"{label}: holds {len(parts(data.x_train))} input array(s) but the model has "
            f"{len(inputs)} input(s)"
        )
    fitted = [
        _fit_input(label, xt, xe, spec)
        for xt, xe, spec in zip(parts(data.x_train), parts(data.x_eval), inputs, strict=True)
    ]
    x_train, x_eval = pack([f[0] for f in fitted]), pack([f[1] for f in fitted])
    y_train, y_eval = data.y_train, data.y_eval
    if y_eval is not None:
        if len(parts(y_eval)) != len(outputs):
            raise DataError(
                f"{label}: holds {len(parts(y_eval))} label array(s) but the model has "
                f"{len(outputs)} output(s)"
            )
        train_parts = parts(y_train) if y_train is not None else (None,) * len(outputs)
        ys = []
        for yt, ye, spec in zip(train_parts, parts(y_eval), outputs, strict=True):
            everything = ye if yt is None else np.concatenate([yt, ye])
            named = label if len(outputs) == 1 else f"{label} (output {spec.name!r})"
            dtype = _check_labels(named, everything, spec)
            ys.append((None if yt is None else yt.astype(dtype), ye.astype(dtype)))
        y_train = None if y_train is None else pack([t for t, _ in ys])
        y_eval = pack([e for _, e in ys])
    return Dataset(
        label,
        x_train,
        y_train,
        x_eval,
        y_eval,
        data.class_names,
        inputs=tuple(s.name for s in inputs),
        outputs=tuple(s.name for s in outputs),
        presplit=data.presplit,
    )


def describe(data: Dataset, outputs: Sequence[InputSpec]) -> DataSummary:
    """Counts per split, and per class of the first output (or its target's range)."""
    summary = DataSummary(
        source=data.source,
        train=count(data.x_train),
        eval=count(data.x_eval),
        presplit=data.presplit,
        labeled=data.labeled,
        output=outputs[0].name if len(outputs) > 1 else "",
    )
    if not data.labeled or not outputs:
        return summary
    train = parts(data.y_train)[0] if data.y_train is not None else None
    test = parts(data.y_eval)[0]
    units = int(outputs[0].shape[-1] or 1) if outputs[0].shape else 1
    if units == 1:
        values = np.concatenate([a.ravel() for a in (train, test) if a is not None])
        target = (float(values.min()), float(values.mean()), float(values.max()))
        return replace(summary, target=target)

    def per_class(y: np.ndarray | None) -> np.ndarray:
        if y is None:
            return np.zeros(units, dtype=int)
        labels = y.argmax(axis=-1) if y.ndim > 1 and y.shape[-1] == units else y
        return np.bincount(labels.astype(int).ravel(), minlength=units)[:units]

    names = data.class_names if data.class_names and len(data.class_names) == units else None
    counts = zip(per_class(train), per_class(test), strict=True)
    classes = tuple(
        ClassCount(names[i] if names else str(i), int(t), int(e)) for i, (t, e) in enumerate(counts)
    )
    return replace(summary, classes=classes)


def _fit_input(
    label: str, x_train: np.ndarray, x_eval: np.ndarray, inp: InputSpec
) -> tuple[np.ndarray, np.ndarray]:
    """One input's arrays, checked against its spec and cast to its dtype."""
    want = inp.shape
    if x_train.ndim - 1 == len(want) - 1 and want and want[-1] == 1:
        x_train, x_eval = x_train[..., None], x_eval[..., None]
    for x in (x_train, x_eval):
        got = x.shape[1:]
        if len(got) != len(want) or any(
            w is not None and w != g for w, g in zip(want, got, strict=True)
        ):
            shown_want = tuple("any" if w is None else w for w in want)
            raise DataError(
                f"{label}: samples have shape {got} but the model input "
                f"'{inp.name}' expects {shown_want}; reshape or resize the data"
            )
    if not np.issubdtype(x_train.dtype, np.number) or x_train.dtype == np.bool_:
        raise DataError(
            f"{label}: the array for input '{inp.name}' has dtype {x_train.dtype}; "
            f"it must be numbers"
        )
    if np.issubdtype(np.dtype(inp.dtype), np.integer):
        for x in (x_train, x_eval):
            if np.issubdtype(x.dtype, np.floating) and not np.all(np.mod(x, 1) == 0):
                raise DataError(
                    f"{label}: x holds fractional numbers but the model input "
                    f"'{inp.name}' takes integers ({inp.dtype}), e.g. token ids"
                )
    elif np.issubdtype(x_train.dtype, np.floating):
        for x in (x_train, x_eval):
            if not np.all(np.isfinite(x)):
                raise DataError(
                    f"{label}: the array for input '{inp.name}' contains NaN or infinite "
                    f"values; clean the data"
                )
    return x_train.astype(inp.dtype, copy=False), x_eval.astype(inp.dtype, copy=False)


def _check_labels(label: str, y: np.ndarray, out: InputSpec) -> type:
    """The dtype labels are trained with: int64 class numbers, or float32 targets."""
    classes = out.shape[-1] if out.shape else 1
    if classes is not None and classes > 1 and y.ndim == 1:
        if not np.issubdtype(y.dtype, np.number) or (
            np.issubdtype(y.dtype, np.floating) and not np.all(np.mod(y, 1) == 0)
        ):
            raise DataError(
                f"{label}: labels y must be whole class numbers for a classifier "
                f"with {classes} outputs, got dtype {y.dtype}"
            )
        if len(y) and (y.min() < 0 or y.max() >= classes):
            raise DataError(
                f"{label}: labels go from {int(y.min())} to {int(y.max())} but the "
                f"model has {classes} outputs (classes 0 to {classes - 1})"
            )
        return np.int64
    want = tuple(out.shape)
    if y.shape[1:] != want and not (y.ndim == 1 and want == (1,)):
        raise DataError(
            f"{label}: labels have shape {y.shape[1:]} per sample but the model "
            f"output has shape {want}"
        )
    return np.float32
