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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.values.errors import DataError
from studio.values.metrics import InputSpec
from studio.values.resources import DEMO, DEMO_DATA

EVAL_FRACTION = 0.2
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


@dataclass(frozen=True, eq=False)
class Dataset:
    """Arrays ready for a model.  `y_*` is None for unlabeled data."""

    source: str
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_eval: np.ndarray
    y_eval: np.ndarray | None
    class_names: tuple[str, ...] | None = None

    @property
    def labeled(self) -> bool:
        return self.y_eval is not None

    def calibration(self, n: int) -> np.ndarray:
        """The first `n` fine-tune samples (already in seeded random order)."""
        return self.x_train[: max(1, min(n, len(self.x_train)))]


def load_data(
    source: str | os.PathLike, *, seed: int = 0, expect: InputSpec | None = None
) -> Dataset:
    """`demo`, a `.npz` file, or an image folder with one sub-folder per class.

    `expect` (the model's input) lets an image folder of the wrong size be refused from
    the image headers, before thousands of large images are decoded."""
    if str(source) == DEMO:
        return _load_npz(DEMO_DATA, seed, label="the bundled demo data")
    path = Path(source)
    if not path.exists():
        raise DataError(f"data {path} does not exist; give a .npz file, an image folder or 'demo'")
    if path.is_dir():
        return _load_image_folder(path, seed, expect)
    if path.suffix.lower() == ".npz":
        return _load_npz(path, seed, label=str(path))
    raise DataError(
        f"data {path}: unsupported kind of file; give a .npz file (arrays x and y, "
        f"or x_train/y_train/x_test/y_test), an image folder, or 'demo'"
    )


def _load_npz(path: Path, seed: int, label: str) -> Dataset:
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
    if "x_train" in arrays and "x_test" in arrays:
        x_train, x_eval = arrays["x_train"], arrays["x_test"]
        y_train, y_eval = arrays.get("y_train"), arrays.get("y_test")
        if (y_train is None) != (y_eval is None):
            raise DataError(f"{label}: has only one of y_train and y_test; give both or neither")
        _same_length(label, "x_train", x_train, "y_train", y_train)
        _same_length(label, "x_test", x_eval, "y_test", y_eval)
        order = np.random.default_rng(seed).permutation(len(x_train))
        return Dataset(
            label, x_train[order], None if y_train is None else y_train[order], x_eval, y_eval
        )
    x_key = "x" if "x" in arrays else "x_train" if "x_train" in arrays else None
    if x_key is None:
        raise DataError(
            f"{label}: has no array named x (found {', '.join(sorted(arrays)) or 'none'}); "
            f"name the inputs x and the labels y"
        )
    x = arrays[x_key]
    y = arrays.get("y" if x_key == "x" else "y_train")
    _same_length(label, x_key, x, "y", y)
    return split(label, x, y, seed=seed)


def _same_length(label: str, x_name: str, x: np.ndarray, y_name: str, y: np.ndarray | None) -> None:
    if x.ndim == 0:
        raise DataError(f"{label}: {x_name} is a single number, not an array of samples")
    if y is not None and len(y) != len(x):
        raise DataError(
            f"{label}: {x_name} has {len(x)} samples but {y_name} has {len(y)} labels; "
            f"they must match one to one"
        )


def split(
    label: str,
    x: np.ndarray,
    y: np.ndarray | None,
    *,
    seed: int = 0,
    class_names: tuple[str, ...] | None = None,
) -> Dataset:
    """Seeded shuffle, then EVAL_FRACTION for evaluation and the rest for fine-tuning."""
    if len(x) < 2:
        raise DataError(
            f"{label}: has {len(x)} sample(s); the studio needs at least 2 "
            f"(some to fine-tune and calibrate, some to evaluate)"
        )
    order = np.random.default_rng(seed).permutation(len(x))
    n_eval = max(1, int(round(len(x) * EVAL_FRACTION)))
    ev, tr = order[:n_eval], order[n_eval:]
    return Dataset(
        label, x[tr], None if y is None else y[tr], x[ev], None if y is None else y[ev], class_names
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


def fit_to_model(data: Dataset, inp: InputSpec, out: InputSpec) -> Dataset:
    """Check the data against the model's input and output; return it in the model's dtype.

    The only change made is one that cannot alter meaning: a missing trailing channel
    axis of size 1 is added (N x 28 x 28 data for an N x 28 x 28 x 1 model), and integer
    data is cast to a float input.  Everything else that does not fit is an error.
    """
    label = data.source
    for part, x in (("fine-tune part", data.x_train), ("evaluation part", data.x_eval)):
        if len(x) == 0:
            raise DataError(f"{label}: the {part} is empty; the studio needs samples in both parts")
    x_train, x_eval = data.x_train, data.x_eval
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
        raise DataError(f"{label}: x has dtype {x_train.dtype}; it must be numbers")
    model_int = np.issubdtype(np.dtype(inp.dtype), np.integer)
    if model_int:
        for x in (x_train, x_eval):
            if np.issubdtype(x.dtype, np.floating) and not np.all(np.mod(x, 1) == 0):
                raise DataError(
                    f"{label}: x holds fractional numbers but the model input "
                    f"'{inp.name}' takes integers ({inp.dtype}), e.g. token ids"
                )
    elif np.issubdtype(x_train.dtype, np.floating):
        for x in (x_train, x_eval):
            if not np.all(np.isfinite(x)):
                raise DataError(f"{label}: x contains NaN or infinite values; clean the data")
    x_train = x_train.astype(inp.dtype, copy=False)
    x_eval = x_eval.astype(inp.dtype, copy=False)
    y_train, y_eval = data.y_train, data.y_eval
    if y_eval is not None:
        everything = y_eval if y_train is None else np.concatenate([y_train, y_eval])
        dtype = _check_labels(label, everything, out)
        y_train = None if y_train is None else y_train.astype(dtype)
        y_eval = y_eval.astype(dtype)
    return Dataset(label, x_train, y_train, x_eval, y_eval, data.class_names)


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
