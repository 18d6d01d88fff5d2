"""Full-size keras.applications checks on a release build: MobileNetV2, ResNet50, VGG16 and EfficientNetB0 at
224x224 with seeded random weights (and batch-norm statistics moved off 0/1), saved as `.keras` by Keras 3,
and `camwatch predict --json` on PNG photos against Keras's own logits (pre-softmax, 1e-4 relative to the
largest logit), each with its family's preprocessing given as camwatch flags:

    MobileNetV2     x/127.5 - 1                 --scale 0.00784313725490196 --mean 1 1 1 --std 1 1 1
    EfficientNetB0  raw 0-255 (its own Rescaling and Normalization layers do the rest)
                                                --scale 1 --mean 0 0 0 --std 1 1 1
    ResNet50, VGG16 caffe: BGR, minus the ImageNet BGR mean
                                                --bgr --scale 1 --mean 103.939 116.779 123.68 --std 1 1 1

    swift build -c release
    ~/.cache/camwatch-keras/bin/python Scripts/keras/fullsize_check.py [BINARY] [--models a,b] [--keep DIR]

Photos: Tests/Fixtures/cli/chelsea.png and coffee.png, centre-cropped and resized to 224x224 with PIL and
saved as PNG, so camwatch and Keras see the same pixels. Exits 1 when a model misses the tolerance.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Scripts", "fixtures"))
from make_keras_fixtures import logits_model, randomize  # noqa: E402

FAMILIES = {
    "mobilenetv2": ("MobileNetV2", ["--scale", "0.00784313725490196", "--mean", "1", "1", "1", "--std", "1", "1", "1"],
                    lambda x: x / 127.5 - 1),
    "efficientnetb0": ("EfficientNetB0", ["--scale", "1", "--mean", "0", "0", "0", "--std", "1", "1", "1"], lambda x: x),
    "resnet50": ("ResNet50", ["--bgr", "--scale", "1", "--mean", "103.939", "116.779", "123.68", "--std", "1", "1", "1"],
                 lambda x: x[..., ::-1] - np.array([103.939, 116.779, 123.68], dtype="float32")),
    "vgg16": ("VGG16", ["--bgr", "--scale", "1", "--mean", "103.939", "116.779", "123.68", "--std", "1", "1", "1"],
              lambda x: x[..., ::-1] - np.array([103.939, 116.779, 123.68], dtype="float32")),
}


def photos(directory):
    from PIL import Image
    paths, arrays = [], []
    for name in ["chelsea", "coffee"]:
        img = Image.open(os.path.join(ROOT, "Tests", "Fixtures", "cli", f"{name}.png")).convert("RGB")
        w, h = img.size
        side = min(w, h)
        img = img.crop(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
        img = img.resize((224, 224), Image.BILINEAR)
        path = os.path.join(directory, f"{name}.png")
        img.save(path)
        paths.append(path)
        arrays.append(np.asarray(img, dtype="float32"))
    return paths, np.stack(arrays)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default=os.path.join(ROOT, ".build", "release", "camwatch"))
    ap.add_argument("--models", default=",".join(FAMILIES))
    ap.add_argument("--keep")
    args = ap.parse_args()
    import keras
    directory = args.keep or tempfile.mkdtemp(prefix="camwatch-keras-fullsize-")
    os.makedirs(directory, exist_ok=True)
    pngs, pixels = photos(directory)
    failed = False
    for key in args.models.split(","):
        cls, flags, preprocess = FAMILIES[key]
        keras.utils.set_random_seed(0)
        model = getattr(keras.applications, cls)(weights=None, input_shape=(224, 224, 3))
        randomize(model, 42)
        path = os.path.join(directory, f"{key}.keras")
        model.save(path)
        reference = np.asarray(logits_model(keras, model)(preprocess(pixels.copy()), training=False))
        start = time.time()
        # Images first: --mean and --std take a variable number of values.
        run = subprocess.run([args.binary, "predict", *pngs, "--json", "--weights", path, *flags],
                             capture_output=True, text=True)
        seconds = time.time() - start
        if run.returncode != 0:
            print(f"{key}: camwatch failed: {run.stderr.strip()}")
            failed = True
            continue
        result = json.loads(run.stdout)
        rows = result if isinstance(result, list) else result.get("images", result.get("results", []))
        ours = np.array([r["logits"] for r in rows], dtype="float32")
        worst = float(np.abs(ours - reference).max())
        scale = float(max(np.abs(reference).max(), 1))
        ok = worst <= 1e-4 * scale
        failed |= not ok
        print(f"{key}: {sum(int(np.prod(w.shape)) for w in model.weights)} parameters, {os.path.getsize(path) >> 20} MiB; "
              f"max |logit diff| {worst:.2e} (largest logit {scale:.2f}, relative {worst / scale:.2e}); "
              f"top-1 {'same' if (ours.argmax(1) == reference.argmax(1)).all() else 'DIFFERS'}; "
              f"camwatch predict {seconds:.1f} s -> {'ok' if ok else 'FAIL'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
