"""A real Keras training job whose ModelCheckpoint callbacks write each of Keras's three checkpoint formats
into directories camwatch watches (Scripts/keras/run_live_job.sh drives both and checks the reports).

    ~/.cache/camwatch-keras/bin/python Scripts/keras/live_job.py ROOT [--epochs N] [--epoch-seconds S]
    ~/.cache/camwatch-keras/bin/python Scripts/keras/live_job.py --fixtures Tests/Fixtures/keras/live

ROOT gets:
- keras/epoch-NN.keras          ModelCheckpoint("epoch-{epoch:02d}.keras")                (Keras 3 default)
- weights/epoch-NN.weights.h5   ModelCheckpoint(..., save_weights_only=True), and weights/model.json
                                (model.to_json(), the architecture camwatch finds beside the weights)
- legacy/epoch-NN.h5            ModelCheckpoint("epoch-{epoch:02d}.h5")                  (legacy HDF5)
- resave/last.h5                the same name re-saved in place (model.save, h5py mode "w") after every
                                training batch, while camwatch reads it: every save must succeed.
- saves.json                    what the job saved and every save that raised (there must be none).
The model: a small CNN (32x32x3 input, 4 classes) trained on synthetic images (a bright square in one of
four quadrants), so its Score-CAM maps move from epoch to epoch. --epoch-seconds pads each epoch with sleep
to act like a slower trainer. --fixtures writes three epochs of each format, small, for the CI test
(Tests/CamwatchCLITests/KerasWatchEndToEndTests.swift).
"""

import argparse
import json
import os
import shutil
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def data(n, size, rng):
    x = rng.uniform(0, 60, (n, size, size, 3)).astype("float32")
    y = rng.integers(0, 4, n)
    half = size // 2
    for i, label in enumerate(y):
        r, c = divmod(int(label), 2)
        x[i, r * half:(r + 1) * half, c * half:(c + 1) * half, :] += 150
    return x / 255.0, y


def build(keras, size):
    from keras import layers
    inp = keras.Input((size, size, 3), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.Conv2D(12, 3, strides=2, padding="same", name="conv2")(x)
    x = layers.Activation("relu", name="relu2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    out = layers.Dense(4, activation="softmax", name="classifier")(x)
    model = keras.Model(inp, out, name="live_cnn")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("root", nargs="?")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--epoch-seconds", type=float, default=0)
    parser.add_argument("--fixtures")
    args = parser.parse_args()
    import keras
    keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    fixtures = args.fixtures is not None
    size = 16 if fixtures else 32
    root = os.path.abspath(args.fixtures or args.root)
    epochs = 3 if fixtures else args.epochs
    dirs = {k: os.path.join(root, k) for k in ("keras", "weights", "legacy", "resave")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    model = build(keras, size)
    with open(os.path.join(dirs["weights"], "model.json"), "w") as f:
        f.write(model.to_json())
    x, y = data(256 if fixtures else 1024, size, rng)
    saves = {"resaves": 0, "failures": [], "epochs": []}

    class Resave(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            try:
                self.model.save(os.path.join(dirs["resave"], "last.h5"))
                saves["resaves"] += 1
            except Exception as error:  # recorded, not raised: the check reports it
                saves["failures"].append(f"resave after batch {batch}: {error!r}")

        def on_epoch_end(self, epoch, logs=None):
            saves["epochs"].append(epoch + 1)
            if args.epoch_seconds:
                time.sleep(args.epoch_seconds)

    callbacks = [
        keras.callbacks.ModelCheckpoint(os.path.join(dirs["keras"], "epoch-{epoch:02d}.keras")),
        keras.callbacks.ModelCheckpoint(os.path.join(dirs["weights"], "epoch-{epoch:02d}.weights.h5"),
                                        save_weights_only=True),
        keras.callbacks.ModelCheckpoint(os.path.join(dirs["legacy"], "epoch-{epoch:02d}.h5")),
    ]
    if not fixtures:
        callbacks.append(Resave())
    try:
        model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=callbacks)
    except Exception as error:  # a ModelCheckpoint save that failed stops fit
        saves["failures"].append(f"fit: {error!r}")
    if fixtures:
        shutil.rmtree(dirs["resave"])
    else:
        with open(os.path.join(root, "saves.json"), "w") as f:
            json.dump(saves, f)
    print(json.dumps({"root": root, "epochs": epochs, "resaves": saves["resaves"], "failures": saves["failures"]}))


if __name__ == "__main__":
    main()
