"""Every keras.applications model, written by Keras 3 itself, loaded by camwatch and compared with Keras's logits.

    swift build -c release          # or pass .build/debug/camwatch
    ~/.cache/camwatch-keras/bin/python Scripts/keras/check_applications.py [BINARY] [--models A,B] [--keep DIR]

Each model is built with weights=None, classes=5, include_top=True and classifier_activation=None (so its output
is the logits), at a reduced input size (64 px; 75 where the family needs it), with seeded random weights and
batch-norm statistics moved off 0/1 (make_keras_fixtures.randomize), saved as `.keras`. Two seeded random 8-bit
images are written as PNGs of exactly the input size (camwatch does not resize them) and fed to both sides as
(pixel - 127.5) / 127.5: camwatch with `--scale 1 --mean 127.5 … --std 127.5 …`, Keras with the same float32
arithmetic. Models that carry their own preprocessing layers (Rescaling, Normalization) get that input too; both
sides see the same numbers, which is all the comparison needs.

Pass: max |camwatch - keras| <= 1e-4 * max |keras logit| over both images. One line per model, a summary, exit
status 1 when any model fails. The big models (ConvNeXtXLarge, EfficientNetB7, EfficientNetV2L, NASNetLarge)
take a while to save and load; the whole run takes several minutes.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Scripts", "fixtures"))
from make_keras_fixtures import randomize  # noqa: E402

SMALL = 64
# Input sizes below the family's minimum are refused by keras.applications.
MODELS = [
    ("ConvNeXtTiny", SMALL), ("ConvNeXtSmall", SMALL), ("ConvNeXtBase", SMALL), ("ConvNeXtLarge", SMALL),
    ("ConvNeXtXLarge", SMALL),
    ("DenseNet121", SMALL), ("DenseNet169", SMALL), ("DenseNet201", SMALL),
    ("EfficientNetB0", SMALL), ("EfficientNetB1", SMALL), ("EfficientNetB2", SMALL), ("EfficientNetB3", SMALL),
    ("EfficientNetB4", SMALL), ("EfficientNetB5", SMALL), ("EfficientNetB6", SMALL), ("EfficientNetB7", SMALL),
    ("EfficientNetV2B0", SMALL), ("EfficientNetV2B1", SMALL), ("EfficientNetV2B2", SMALL),
    ("EfficientNetV2B3", SMALL), ("EfficientNetV2S", SMALL), ("EfficientNetV2M", SMALL), ("EfficientNetV2L", SMALL),
    ("InceptionResNetV2", 75), ("InceptionV3", 75),
    ("MobileNet", SMALL), ("MobileNetV2", SMALL), ("MobileNetV3Small", SMALL), ("MobileNetV3Large", SMALL),
    ("NASNetMobile", SMALL), ("NASNetLarge", 75),
    ("ResNet50", SMALL), ("ResNet101", SMALL), ("ResNet152", SMALL),
    ("ResNet50V2", SMALL), ("ResNet101V2", SMALL), ("ResNet152V2", SMALL),
    ("VGG16", SMALL), ("VGG19", SMALL),
    ("Xception", 75),
]
TOLERANCE = 1e-4


def probe_images(directory, size, seed):
    """Two seeded 8-bit images as PNGs of the model's input size, and the float32 input Keras is given."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    paths = []
    for i, image in enumerate(pixels):
        path = os.path.join(directory, f"probe{size}_{i}.png")
        Image.fromarray(image, "RGB").save(path)
        paths.append(path)
    half = np.float32(127.5)
    return paths, (pixels.astype(np.float32) - half) / half


def build(keras, name, size):
    keras.utils.set_random_seed(0)
    constructor = getattr(keras.applications, name)
    return constructor(weights=None, include_top=True, classes=5, classifier_activation=None,
                       input_shape=(size, size, 3))


def camwatch_logits(binary, model_path, pngs, size):
    flags = ["--input-size", str(size), "--scale", "1", "--mean", "127.5", "127.5", "127.5",
             "--std", "127.5", "127.5", "127.5"]
    # Images first: --mean and --std take a variable number of values.
    run = subprocess.run([binary, "predict", *pngs, "--json", "--weights", model_path, *flags],
                         capture_output=True, text=True)
    if run.returncode != 0:
        return None, run.stderr.strip().splitlines()[-1] if run.stderr.strip() else f"exit {run.returncode}"
    rows = json.loads(run.stdout)["results"]
    return np.array([r["logits"] for r in rows], dtype=np.float32), None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default=os.path.join(ROOT, ".build", "release", "camwatch"))
    ap.add_argument("--models", help="comma-separated subset of the names below")
    ap.add_argument("--keep", help="keep the .keras files and probes in this directory")
    ap.add_argument("--size", type=int, help="one input size for every model instead of the small defaults")
    args = ap.parse_args()
    import keras
    wanted = MODELS if not args.models else [m for m in MODELS if m[0] in args.models.split(",")]
    if args.size:
        wanted = [(name, args.size) for name, _ in wanted]
    directory = args.keep or tempfile.mkdtemp(prefix="camwatch-keras-apps-")
    os.makedirs(directory, exist_ok=True)
    print(f"keras {keras.__version__} ({keras.backend.backend()}), camwatch {args.binary}, files in {directory}")
    failures = []
    for name, size in wanted:
        start = time.time()
        model = build(keras, name, size)
        randomize(model, 42)
        path = os.path.join(directory, f"{name}.keras")
        model.save(path)
        pngs, x = probe_images(directory, size, seed=size)
        reference = np.asarray(model(x, training=False), dtype=np.float32)
        params = model.count_params()
        del model
        keras.backend.clear_session()
        ours, error = camwatch_logits(args.binary, path, pngs, size)
        seconds = time.time() - start
        if ours is None or ours.shape != reference.shape:
            failures.append(name)
            why = error or f"logits of shape {ours.shape}, Keras {reference.shape}"
            print(f"{name:18s} {size:3d}px {params / 1e6:7.1f}M  FAIL  {why}", flush=True)
        else:
            worst = float(np.abs(ours - reference).max())
            largest = float(np.abs(reference).max())
            relative = worst / largest if largest > 0 else worst
            ok = relative <= TOLERANCE and bool(np.isfinite(ours).all())
            if not ok:
                failures.append(name)
            same_top = bool((ours.argmax(1) == reference.argmax(1)).all())
            print(f"{name:18s} {size:3d}px {params / 1e6:7.1f}M  {'ok  ' if ok else 'FAIL'}  "
                  f"max rel {relative:.1e} (|diff| {worst:.1e}, largest logit {largest:.3g}), "
                  f"top-1 {'same' if same_top else 'DIFFERS'}, {seconds:.0f} s", flush=True)
        if not args.keep:
            os.remove(path)
    print(f"{len(wanted) - len(failures)}/{len(wanted)} models match Keras to {TOLERANCE:g} relative"
          + (f"; failed: {', '.join(failures)}" if failures else ""))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
