"""Make the bundled demo: a handwritten-digits data set and a small CNN trained on it.

The studio works offline, so the demo cannot download MNIST.  scikit-learn ships the
UCI handwritten digits (1,797 scans of 8x8 pixels, 16 grey levels) inside its wheel;
this script turns them into `digits.npz` (float32 images in [0, 1], shape N x 8 x 8 x 1,
with a fixed, seeded train/test split) and trains `digits_cnn.keras` with tf_keras.

Run it again with:  pip install -e ".[demo]" && python resources/demo/make_demo.py
The outputs are committed, so neither the studio nor its tests need scikit-learn.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED = 1234


def make_data() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[..., None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(SEED).permutation(len(x))
    n_test = len(x) // 5
    test, train = order[:n_test], order[n_test:]
    return {"x_train": x[train], "y_train": y[train], "x_test": x[test], "y_test": y[test]}


def build_model():
    import tf_keras as keras

    inputs = keras.Input(shape=(8, 8, 1), name="image")
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(name="pool1")(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv3")(x)
    x = keras.layers.MaxPooling2D(name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(128, activation="relu", name="dense1")(x)
    x = keras.layers.Dropout(0.25, name="dropout")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="digit")(x)
    return keras.Model(inputs, outputs, name="digits_cnn")


def main() -> None:
    import tf_keras as keras

    data = make_data()
    np.savez_compressed(HERE / "digits.npz", **data)
    keras.utils.set_random_seed(SEED)
    model = build_model()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(data["x_train"], data["y_train"], epochs=40, batch_size=32, verbose=2)
    _, acc = model.evaluate(data["x_test"], data["y_test"], verbose=0)
    print(f"test top-1: {acc:.4f}")
    if acc < 0.97:
        raise SystemExit("the demo model must reach 97% top-1; not saved")
    model.save(HERE / "digits_cnn.keras")


if __name__ == "__main__":
    main()
