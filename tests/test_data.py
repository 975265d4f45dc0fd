"""Data: the three sources, deterministic splits, and the checks against the model."""

import numpy as np
import pytest
from PIL import Image

from studio.engine.data import InputSpec, fit_to_model, load_data
from studio.values.errors import DataError

IMG = InputSpec("image", (8, 8, 1), "float32")
TEN = InputSpec("digit", (10,), "float32")


def test_demo_data_has_fixed_split():
    data = load_data("demo")
    assert data.x_train.shape[1:] == (8, 8, 1) and len(data.x_eval) == 359
    assert data.x_train.dtype == np.float32 and data.x_train.min() >= 0 and data.x_train.max() <= 1
    assert set(np.unique(data.y_eval)) == set(range(10))
    again = load_data("demo")
    np.testing.assert_array_equal(again.x_train, data.x_train)
    assert data.calibration(100).shape == (100, 8, 8, 1)


def test_npz_with_x_and_y_is_split_by_seed(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.random((50, 8, 8, 1)).astype(np.float32), rng.integers(0, 10, 50)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    a, b = load_data(tmp_path / "d.npz"), load_data(tmp_path / "d.npz")
    assert len(a.x_eval) == 10 and len(a.x_train) == 40
    np.testing.assert_array_equal(a.x_eval, b.x_eval)
    assert not np.array_equal(load_data(tmp_path / "d.npz", seed=1).x_eval, a.x_eval)
    # Every sample lands in exactly one part.
    rows = {r.tobytes() for r in np.concatenate([a.x_train, a.x_eval])}
    assert rows == {r.tobytes() for r in x}


def test_npz_without_labels_is_accepted_unlabeled(tmp_path):
    np.savez(tmp_path / "u.npz", x=np.zeros((10, 8, 8, 1), np.float32))
    data = load_data(tmp_path / "u.npz")
    assert not data.labeled


def test_image_folder_one_subfolder_per_class(tmp_path):
    for cls, value in (("cat", 10), ("dog", 200)):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.fromarray(np.full((8, 8), value + i, np.uint8), "L").save(
                tmp_path / cls / f"{i}.png"
            )
    data = load_data(tmp_path)
    assert data.class_names == ("cat", "dog")
    assert data.x_train.shape[1:] == (8, 8, 1) and data.x_train.max() <= 1.0
    x = np.concatenate([data.x_train, data.x_eval])
    y = np.concatenate([data.y_train, data.y_eval])
    assert np.all((x.mean(axis=(1, 2, 3)) > 0.5) == (y == 1))  # the dog images are the bright ones


def test_missing_channel_axis_is_added_and_ints_cast(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.ones((20, 8, 8), np.uint8), y=np.arange(20) % 10)
    data = fit_to_model(load_data(tmp_path / "d.npz"), (IMG,), (TEN,))
    assert data.x_train.shape[1:] == (8, 8, 1) and data.x_train.dtype == np.float32


@pytest.mark.parametrize(
    ("arrays", "spec", "message"),
    [
        (
            {"x": np.zeros((20, 28, 28, 1), np.float32), "y": np.zeros(20, int)},
            IMG,
            r"shape \(28, 28, 1\) but the model input 'image' expects \(8, 8, 1\)",
        ),
        (
            {"x": np.zeros((20, 8, 8, 1), np.float32), "y": np.arange(20)},
            IMG,
            r"labels go from 0 to 19 but the model has 10 outputs",
        ),
        (
            {"x": np.zeros((20, 8, 8, 1), np.float32), "y": np.full(20, -1)},
            IMG,
            r"labels go from -1",
        ),
        (
            {"x": np.zeros((20, 8, 8, 1), np.float32), "y": np.full(20, 0.5)},
            IMG,
            r"whole class numbers",
        ),
        ({"x": np.full((20, 8, 8, 1), np.nan, np.float32), "y": np.zeros(20, int)}, IMG, r"NaN"),
        (
            {"x": np.full((20, 16), 0.5, np.float32), "y": np.zeros(20, int)},
            InputSpec("tokens", (16,), "int32"),
            r"fractional numbers .* takes integers \(int32\)",
        ),
        (
            {
                "x_train": np.zeros((0, 8, 8, 1), np.float32),
                "y_train": np.zeros(0, int),
                "x_test": np.zeros((5, 8, 8, 1), np.float32),
                "y_test": np.zeros(5, int),
            },
            IMG,
            r"the fine-tune part is empty",
        ),
    ],
)
def test_data_that_does_not_fit_is_refused_with_the_reason(tmp_path, arrays, spec, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError, match=message) as err:
        fit_to_model(load_data(tmp_path / "d.npz"), (spec,), (TEN,))
    assert "d.npz" in str(err.value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, r"does not exist"),
        (lambda p: p.write_bytes(b"PK\x03\x04 truncated"), r"not a readable \.npz"),
        (lambda p: np.savez(p, x=np.zeros(1)), r"at least 2"),
        (lambda p: np.savez(p, x=np.zeros(0)), r"at least 2"),
        (
            lambda p: np.savez(p, images=np.zeros(3)),
            r"no array named x or x0 for the inputs \(found images\)",
        ),
        (lambda p: np.savez(p, x=np.zeros((4, 2)), y=np.zeros(3)), r"4 samples but y has 3"),
        (lambda p: np.savez(p, x=np.array([{"a": 1}], dtype=object)), r"pickled"),
    ],
)
def test_bad_data_files(tmp_path, make, message):
    path = tmp_path / "bad.npz"
    make(path)
    with pytest.raises(DataError, match=message):
        load_data(path)


def test_bad_sources(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"notes\.txt: unsupported kind of file"):
        load_data(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"has no sub-folders"):
        load_data(tmp_path / "empty")
    (tmp_path / "empty" / "a").mkdir()
    with pytest.raises(DataError, match=r"has no images"):
        load_data(tmp_path / "empty")
    (tmp_path / "empty" / "a" / "x.png").write_bytes(b"not a png")
    (tmp_path / "empty" / "b").mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8), "L").save(tmp_path / "empty" / "b" / "y.png")
    with pytest.raises(DataError, match=r"x\.png cannot be read"):
        load_data(tmp_path / "empty")


def _image_folder(root, classes, size=(8, 8), count=3):
    for cls in classes:
        (root / cls).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full(size[::-1], 20 * i, np.uint8), "L").save(
                root / cls / f"{i}.png"
            )


def test_an_image_folder_with_one_class_is_refused(tmp_path):
    _image_folder(tmp_path, ["cat"])
    (tmp_path / "empty_dog").mkdir()
    with pytest.raises(DataError, match=r"images of one class only \('cat'\).*two sub-folders"):
        load_data(tmp_path)


def test_image_sizes_are_read_from_headers_before_decoding(tmp_path, monkeypatch):
    _image_folder(tmp_path, ["a", "b"], size=(300, 200))
    decoded = []
    real = np.asarray
    monkeypatch.setattr(
        "studio.engine.data.np.asarray", lambda *a, **k: decoded.append(1) or real(*a, **k)
    )
    with pytest.raises(DataError, match=r"are 300x200 pixels \(e\.g\. 0\.png\).*expects 8x8"):
        load_data(tmp_path, inputs=(IMG,))
    assert not decoded  # refused from the headers: no image was decoded
    monkeypatch.setattr("studio.engine.data.MAX_IMAGE_BYTES", 1000)
    with pytest.raises(DataError, match=r"too large to load: 6 images of 300x200"):
        load_data(tmp_path)


IMAGE = InputSpec("image", (8, 8, 1), "float32")
ANSWERS = InputSpec("answers", (4,), "float32")
LEVEL = InputSpec("level", (3,), "float32")
SCORE = InputSpec("score", (1,), "float32")


@pytest.mark.parametrize(
    "keys",
    [("image", "answers", "level", "score"), ("x0", "x1", "y0", "y1")],
)
def test_several_inputs_and_outputs_come_by_name_or_number(tmp_path, keys):
    rng = np.random.default_rng(0)
    image, answers = rng.random((30, 8, 8), np.float32), rng.random((30, 4), np.float32)
    level, score = np.arange(30) % 3, rng.random((30, 1))
    np.savez(tmp_path / "d.npz", **dict(zip(keys, (image, answers, level, score), strict=True)))
    ins, outs = (IMAGE, ANSWERS), (LEVEL, SCORE)
    data = fit_to_model(load_data(tmp_path / "d.npz", inputs=ins, outputs=outs), ins, outs)
    (x_img, x_ans), (y_level, y_score) = data.x_train, data.y_train
    assert x_img.shape == (24, 8, 8, 1) and x_ans.shape == (24, 4)  # channel axis added
    assert y_level.dtype == np.int64 and y_score.dtype == np.float32
    assert data.inputs == ("image", "answers") and data.outputs == ("level", "score")
    # One shuffle for all arrays: each sample's parts stay together.
    rows = {a.tobytes(): b.tobytes() for a, b in zip(answers, image, strict=True)}
    for a, b in zip(x_ans, x_img[..., 0], strict=True):
        assert rows[a.tobytes()] == b.tobytes()
    assert len(data.calibration(5)) == 2 and data.calibration(5)[0].shape == (5, 8, 8, 1)


def test_a_missing_input_array_is_named_with_what_to_do(tmp_path):
    np.savez(tmp_path / "d.npz", image=np.zeros((10, 8, 8)), y=np.zeros(10, int))
    with pytest.raises(DataError, match=r"no array named answers or x1 for the inputs.*x0, x1"):
        load_data(tmp_path / "d.npz", inputs=(IMAGE, ANSWERS), outputs=(LEVEL,))
    with pytest.raises(DataError, match=r"image folder feeds one input.*image, answers"):
        load_data(tmp_path, inputs=(IMAGE, ANSWERS))


def test_labels_for_only_some_outputs_are_refused(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((10, 4)), level=np.zeros(10, int))
    with pytest.raises(DataError, match=r"no array named score or y1 for the labels"):
        load_data(tmp_path / "d.npz", inputs=(ANSWERS,), outputs=(LEVEL, SCORE))


def test_the_data_summary_counts_splits_and_classes_and_warns_when_figures_mislead(tmp_path):
    from studio.engine.data import describe
    from studio.values.data_summary import DataSummary

    rng = np.random.default_rng(0)
    y = np.array([0] * 400 + [1] * 40 + [2] * 20)  # class 0: 87 % of the samples
    path = tmp_path / "skewed.npz"
    np.savez(path, x=rng.random((460, 4), dtype=np.float32), y=y)
    spec_in, spec_out = InputSpec("x", (4,), "float32"), InputSpec("y", (3,), "float32")
    data = fit_to_model(load_data(path), [spec_in], [spec_out])
    s = describe(data, [spec_out])
    assert (s.train, s.eval, s.presplit) == (368, 92, False)
    assert [c.total for c in s.classes] == [400, 40, 20]
    assert sum(c.eval for c in s.classes) == 92
    assert "460 samples: 368 to fine-tune and calibrate, 92 to measure (20 % held out" in (
        s.split_text()
    )
    assert s.imbalanced() and "3 classes, imbalanced" in s.labels_text()
    warnings = " ".join(s.warnings())
    assert "class 0 has 87 %" in warnings and "only 92 samples to measure on" in warnings
    assert DataSummary.from_dict(s.to_dict()) == s

    # A file's own test split is said to be one; a class absent from it is named.
    presplit = tmp_path / "presplit.npz"
    np.savez(
        presplit,
        x_train=rng.random((300, 4), dtype=np.float32),
        y_train=np.arange(300) % 3,
        x_test=rng.random((150, 4), dtype=np.float32),
        y_test=np.arange(150) % 2,  # never class 2
    )
    s = describe(fit_to_model(load_data(presplit), [spec_in], [spec_out]), [spec_out])
    assert s.presplit and "the file's own test split" in s.split_text()
    assert s.missing() == ["2"] and not s.imbalanced()
    assert "balanced" in s.labels_text() and "no samples to measure on (2)" in s.warnings()[0]


def test_a_score_is_summarized_by_its_range_and_unlabeled_data_says_so(tmp_path):
    from studio.engine.data import describe

    path = tmp_path / "scores.npz"
    np.savez(path, x=np.zeros((200, 2), np.float32), y=np.linspace(1, 5, 200, dtype=np.float32))
    spec_in, spec_out = InputSpec("x", (2,), "float32"), InputSpec("score", (1,), "float32")
    s = describe(fit_to_model(load_data(path), [spec_in], [spec_out]), [spec_out])
    assert s.target == pytest.approx((1.0, 3.0, 5.0)) and "from 1 to 5, mean 3" in s.labels_text()
    unlabeled = tmp_path / "x.npz"
    np.savez(unlabeled, x=np.zeros((200, 2), np.float32))
    s = describe(fit_to_model(load_data(unlabeled), [spec_in], [spec_out]), [spec_out])
    assert not s.labeled and "no labels" in s.labels_text() and s.warnings() == []
