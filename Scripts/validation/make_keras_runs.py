"""Train the Keras runs of the convergence validation suite (suites `dead` and `bnstats`).

Keras 3 on TensorFlow (CPU), the environment of Scripts/keras/make-env.sh (~/.cache/camwatch-keras). Every run
trains a small Keras CNN on the synthetic shapes task of Scripts/sample/shapes.py (64×64 RGB, five classes, the
same training / validation / probe streams as make_runs.py; inputs preprocessed the way camwatch does by default:
x/255, ImageNet mean/std, NHWC) and writes, under OUT/<run>/:

  checkpoints/ckpt-NNN.h5   the whole model in Keras's legacy HDF5 format (`model.save("ckpt-NNN.h5")`:
                            `model_config` + `model_weights/…`, what ModelCheckpoint("….h5") writes), read by
                            camwatch with its default pattern and no model spec;
  probes/                   probe PNGs and probes.json (make_runs.py's probe sets);
  weights.json              per checkpoint: the relative change of the trainable weights and of the batch-norm
                            moving statistics, val_acc, the liveness facts (liveness.py), and the run's ground truth.

The model (`cnn`): four blocks Conv2D 3×3 (16/32/48/64, no bias) → BatchNormalization → ReLU (the Activation
layer is named `blockN`, camwatch's `--layer blockN`) with 2×2 max pooling after the first three, global max
pooling, Dense(5) logits — SampleNet in Keras. `cnn-nobn` drops the batch norm (Conv2D with bias) and adds a
Dense(64, relu) `fc1` before the logits. Training: a hand-written loop of `train_on_batch` (AdamW or Adam, batch
32, the learning rate set per step), so the runs can do what a broken pipeline does:

- `poison` = {at[, until]}: from epoch `at` on (until epoch `until`, when the bug is fixed), the last batch of every epoch is fed without preprocessing (raw 0–255
  pixels, a loader bug); with BN momentum 0 the moving statistics are then that batch's, and at inference every
  image lands in the same corner of every BN layer: the output stops depending on the input (val_acc at
  chance) while training accuracy stays high. The BN momentum collapse.
- `bn_momentum` 0.995 with a learning rate annealed to ~0 (bnstats): the trainable weights stop while the
  moving statistics are still catching up, and val_acc keeps rising from the moving statistics alone.

Ground truth (independent of saliency). Weight change w_i over the trainable weights (as make_runs.py); BN-stat
change b_i = ‖s_i − s_{i−1}‖ / ‖s_{i−1}‖ over the moving means and variances. Settle of a sequence: its level E is
the highest median of 3 consecutive values, the settle checkpoint the first from which it stays below 0.15·E (the
rule of make_runs.py). `dead` runs: `settle` from w (as the PyTorch runs) plus the liveness (`dies_at`,
`recovers_at`). `bnstats` runs: settle = the latest of w's settle, b's settle and the val_acc plateau (the first
checkpoint from which val_acc never rises by more than VAL_PLATEAU_TOL above its value there); `never` when one
of them does not settle.

This module imports no TensorFlow at the top: make_runs.py imports KERAS_RUNS from it to collect
ground_truth.json.

    ~/.cache/camwatch-keras/bin/python Scripts/validation/make_keras_runs.py --suite dead   # or bnstats, all; --runs a,b
    ~/.cache/camwatch-ref/bin/python Scripts/validation/make_runs.py --collect            # then ground_truth.json
"""

import argparse
import glob
import json
import math
import os
import sys
import time
from collections import OrderedDict

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Scripts", "sample"))
sys.path.insert(0, HERE)

import shapes  # noqa: E402
from liveness import dead_spans, liveness_of  # noqa: E402

DEFAULT_OUT = "/work/validation-runs"
SETTLE_FRACTION = 0.15
EARLY_WINDOW = 3
VAL_SIZE = 300
BATCH = 32
VAL_PLATEAU_TOL = 0.02
BNSTATS_SETTLE_TEXT = (f"bnstats runs: settle = the latest of (trainable-weight change w settles), (BN moving-"
                       f"statistics change b settles) — each: below {SETTLE_FRACTION}·(highest median of "
                       f"{EARLY_WINDOW} consecutive values) to the end — and (val_acc plateau: the first checkpoint "
                       f"from which val_acc never rises more than {VAL_PLATEAU_TOL} above its value there); never "
                       f"when w or b does not settle")
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
# train_sample.PROBES / PROBE_KINDS (train_sample imports torch; make_runs.py's probe sets index this list).
PROBES = [("circle", "normal"), ("square", "normal"), ("triangle", "normal"), ("cross", "normal"),
          ("ring", "normal"), ("circle", "small"), ("triangle", "small"), ("cross", "small"),
          ("square", "clutter"), ("ring", "clutter")]
PROBE_KINDS = {
    "normal": dict(size_range=(8.0, 13.0), difficulty=(0.4, 0.6)),
    "small": dict(size_range=(5.0, 6.5), difficulty=(0.5, 0.7)),
    "clutter": dict(size_range=(7.0, 11.0), difficulty=(0.95, 1.0), clutter=(9, 11)),
}
PROBE_SETS = {"p10": list(range(10)), "p6": [0, 1, 2, 3, 4, 8], "p4": [0, 2, 7, 9]}

KERAS_RUNS = OrderedDict()


def _krun(name, suite, schedule, **kw):
    cfg = dict(name=name, suite=suite, arch="cnn", schedule=schedule, layer="block4", seed=0, epochs=14,
               train_size=1536, optimizer="adamw", lr=3e-3, weight_decay=1e-2, warmup=1, bn_momentum=0.99,
               probes="p6", poison=None, input_size=shapes.SIZE, dtype="float32")
    cfg.update(kw)
    KERAS_RUNS[name] = cfg


# dead: the BN momentum collapse (the trial's MobileNetV2 whose inference output did not depend on the input), the
# same with the bug fixed after 4 epochs (a recovery), and the small CNN without BN that dies at lr 5e-3 (the
# trial's: accuracy 0.21 from epoch 3, every heatmap constant; this one is dead from its first checkpoint).
_krun("keras-bn-collapse", "dead", dict(kind="constant"), seed=31, epochs=14, bn_momentum=0.0, poison=dict(at=7))
_krun("keras-bn-collapse-fixed", "dead", dict(kind="constant"), seed=33, epochs=12, bn_momentum=0.0,
      poison=dict(at=5, until=9), probes="p4")
_krun("keras-lr5e-3-dead", "dead", dict(kind="constant"), arch="cnn-nobn", seed=32, epochs=12, optimizer="adam",
      lr=5e-3, warmup=0, weight_decay=0.0, probes="p10")
# bnstats: trainable weights settle early (learning rate annealed to 1e-3·peak by epoch 6 or 8), the BN moving
# statistics (momentum 0.995 / 0.999) keep moving val_acc for several epochs after (the 0.999 run to its end).
_krun("keras-bnstats-lag", "bnstats", dict(kind="anneal", anneal=6, floor=1e-3), seed=41, epochs=16,
      bn_momentum=0.995, probes="p6")
_krun("keras-bnstats-lag999", "bnstats", dict(kind="anneal", anneal=8, floor=1e-3), seed=42, epochs=16,
      bn_momentum=0.999, probes="p10")


def learning_rate(cfg, step, per_epoch):
    peak, sched = cfg["lr"], cfg["schedule"]
    warm = cfg["warmup"] * per_epoch
    if step < warm:
        return peak * (step + 1) / warm
    if sched["kind"] == "constant":
        return peak
    if sched["kind"] == "jump":  # the peak, then from epoch `at` on the learning rate `to`
        return sched["to"] if step >= (sched["at"] - 1) * per_epoch else peak
    if sched["kind"] == "anneal":  # half a cosine from the peak to floor·peak over `anneal` epochs, then hold
        floor = peak * sched["floor"]
        t = min((step - warm) / (sched["anneal"] * per_epoch - warm), 1.0)
        return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * t))
    raise ValueError(sched["kind"])


def describe_schedule(cfg):
    s, lr = cfg["schedule"], cfg["lr"]
    warm = f", {cfg['warmup']}-epoch warm-up" if cfg["warmup"] else ""
    if s["kind"] == "constant":
        text = f"constant {lr:g}{warm}"
    elif s["kind"] == "jump":
        text = f"constant {lr:g}, {s['to']:g} from epoch {s['at']}{warm}"
    else:
        text = f"cosine {lr:g} → {s['floor']:g}·peak over {s['anneal']} epochs, then hold{warm}"
    extra = [f"{cfg['optimizer']}", f"BN momentum {cfg['bn_momentum']:g}" if cfg["arch"] == "cnn" else "no BN"]
    if cfg["poison"]:
        until = f" to {cfg['poison']['until'] - 1}" if cfg["poison"].get("until") else ""
        extra.append(f"last batch of each epoch unpreprocessed from epoch {cfg['poison']['at']}{until}")
    return text + " (" + ", ".join(extra) + ")"


def preprocess(images):
    """uint8 [N, H, W, 3] → float32 NHWC, x/255 then ImageNet mean/std (camwatch's default preprocessing)."""
    return (images.astype(np.float32) / np.float32(255.0) - MEAN) / STD


def augment(images, rng):
    """A random element of the dihedral group per image (every class is invariant under it), NHWC uint8."""
    out = np.empty_like(images)
    flips = rng.integers(0, 2, (len(images), 2))
    turns = rng.integers(0, 4, len(images))
    for i, img in enumerate(images):
        if flips[i, 0]:
            img = img[:, ::-1]
        if flips[i, 1]:
            img = img[::-1]
        out[i] = np.rot90(img, int(turns[i]), axes=(0, 1))
    return out


def write_probes(directory, seed, probe_set):
    from PIL import Image
    os.makedirs(directory, exist_ok=True)
    for stale in glob.glob(os.path.join(directory, "*.png")):
        os.remove(stale)
    manifest = []
    for i in PROBE_SETS[probe_set]:
        label, kind = PROBES[i]
        cls = shapes.CLASSES.index(label)
        img, cls, bbox = shapes.make_image(shapes.rng_for(seed, shapes.STREAM_PROBE, i), cls=cls, **PROBE_KINDS[kind])
        pid = f"probe-{i:02d}-{label}" + ("" if kind == "normal" else f"-{kind}")
        Image.fromarray(img, "RGB").save(os.path.join(directory, pid + ".png"))
        manifest.append({"id": pid, "file": pid + ".png", "class": cls, "label": label, "bbox": bbox})
    with open(os.path.join(directory, "probes.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    return len(manifest)


def build(keras, cfg):
    from keras import layers
    inp = keras.Input((cfg["input_size"], cfg["input_size"], 3), name="image")
    x = inp
    bn = cfg["arch"] == "cnn"
    for i, w in enumerate((16, 32, 48, 64), 1):
        x = layers.Conv2D(w, 3, padding="same", use_bias=not bn, name=f"block{i}_conv")(x)
        if bn:
            x = layers.BatchNormalization(momentum=cfg["bn_momentum"], name=f"block{i}_bn")(x)
        x = layers.Activation("relu", name=f"block{i}")(x)
        if i < 4:
            x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    x = layers.GlobalMaxPooling2D(name="gmp")(x)
    if not bn:
        x = layers.Dense(64, activation="relu", name="fc1")(x)
    out = layers.Dense(len(shapes.CLASSES), name="fc")(x)
    model = keras.Model(inp, out, name=f"validation_{cfg['arch'].replace('-', '_')}")
    if cfg["optimizer"] == "adamw":
        opt = keras.optimizers.AdamW(learning_rate=cfg["lr"], weight_decay=cfg["weight_decay"])
    else:
        opt = keras.optimizers.Adam(learning_rate=cfg["lr"])
    model.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def snapshot(model):
    """(trainable weights, BN moving statistics) as float64 arrays."""
    trainable = [np.asarray(v.numpy(), dtype=np.float64) for v in model.trainable_weights]
    stats = [np.asarray(v.numpy(), dtype=np.float64) for v in model.non_trainable_weights
             if "moving" in v.path or "moving" in v.name]
    return trainable, stats


def rel_change(cur, prev):
    if not prev:
        return None
    num = sum(float(((c - p) ** 2).sum()) for c, p in zip(cur, prev))
    den = sum(float((p ** 2).sum()) for p in prev)
    return math.sqrt(num / den)


def settle_of(seq):
    """(settle, level): the rule of make_runs.py on a sequence with None for checkpoint 1."""
    ws = [(i, v) for i, v in enumerate(seq, 1) if v is not None]
    vals = [v for _, v in ws]
    if not vals:
        return None, None
    level = max(float(np.median(vals[k:k + EARLY_WINDOW])) for k in range(max(len(vals) - EARLY_WINDOW + 1, 1)))
    settle = None
    for i, v in reversed(ws):
        if v < SETTLE_FRACTION * level:
            settle = i
        else:
            break
    return settle, level


def val_plateau(vals):
    for i, v in enumerate(vals, 1):
        if max(vals[i - 1:]) - v <= VAL_PLATEAU_TOL:
            return i
    return None


def train(cfg, out):
    os.environ["TF_DETERMINISTIC_OPS"] = "1"
    import keras
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    name = cfg["name"]
    run_dir = os.path.join(out, name)
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    os.makedirs(ckpt_dir, exist_ok=True)
    for stale in glob.glob(os.path.join(ckpt_dir, "*.h5")):
        os.remove(stale)
    done_marker = os.path.join(run_dir, "weights.json")
    if os.path.exists(done_marker):
        os.remove(done_marker)

    seed = cfg["seed"]
    keras.utils.set_random_seed(seed)
    nprobes = write_probes(os.path.join(run_dir, "probes"), seed, cfg["probes"])
    train_imgs, train_y, _ = shapes.make_set(seed, shapes.STREAM_TRAIN, cfg["train_size"])
    val_imgs, val_y, _ = shapes.make_set(seed, shapes.STREAM_VAL, VAL_SIZE)
    val_x = preprocess(val_imgs)
    model = build(keras, cfg)
    rng = np.random.default_rng(seed)
    per_epoch = cfg["train_size"] // BATCH
    total = per_epoch * cfg["epochs"]

    t_cpu, t_wall = time.process_time(), time.time()
    print(f"{name}: keras {keras.__version__} {cfg['arch']}, {describe_schedule(cfg)}, {cfg['epochs']} checkpoints, "
          f"{nprobes} probes", flush=True)
    prev_w, prev_s = None, None
    rows = []
    step = 0
    for epoch in range(1, cfg["epochs"] + 1):
        order = rng.permutation(cfg["train_size"])
        losses, accs = [], []
        for b in range(per_epoch):
            idx = order[b * BATCH:(b + 1) * BATCH]
            imgs = augment(train_imgs[idx], rng)
            poison = cfg["poison"]
            poisoned = (poison and poison["at"] <= epoch < poison.get("until", cfg["epochs"] + 1)
                        and b == per_epoch - 1)
            x = imgs.astype(np.float32) if poisoned else preprocess(imgs)
            lr = learning_rate(cfg, step, per_epoch)
            model.optimizer.learning_rate.assign(lr)
            loss, acc = model.train_on_batch(x, train_y[idx])
            losses.append(float(loss))
            accs.append(float(acc))
            step += 1
        logits = np.asarray(model(val_x, training=False))
        live = liveness_of(logits, val_y)
        cur_w, cur_s = snapshot(model)
        row = dict(live, ckpt=epoch, step=step, lr=float(lr), train_loss=float(np.mean(losses)),
                   train_acc=float(np.mean(accs)), w=rel_change(cur_w, prev_w), b=rel_change(cur_s, prev_s))
        prev_w, prev_s = cur_w, cur_s
        finite = all(np.isfinite(a).all() for a in cur_w + cur_s)
        row["weights_finite"] = bool(finite)
        rows.append(row)
        model.save(os.path.join(ckpt_dir, f"ckpt-{epoch:03d}.h5"))
        print(f"  ckpt {epoch:3d} step {step:5d} lr {lr:9.2e} loss {row['train_loss']:.4f} train_acc "
              f"{row['train_acc']:.3f} val_acc {live['val_acc']} top {live['top_share']} spread "
              f"{live['pred_spread']} w {row['w'] if row['w'] is None else round(row['w'], 5)} b "
              f"{row['b'] if row['b'] is None else round(row['b'], 5)}{'' if finite else ' NON-FINITE'}",
              flush=True)
    cpu, wall = time.process_time() - t_cpu, time.time() - t_wall
    gt = ground_truth(cfg, rows)
    gt["train_cpu_seconds"] = round(cpu, 1)
    gt["train_wall_seconds"] = round(wall, 1)
    gt["framework"] = f"keras {keras.__version__} / tensorflow {tf.__version__}"
    with open(done_marker, "w") as f:
        json.dump(gt, f, indent=1)
        f.write("\n")
    print(f"  {name}: {cpu:.0f} CPU-s ({wall:.0f} s wall); settle {gt['settle']}, dies_at {gt['dies_at']}, "
          f"recovers_at {gt['recovers_at']}", flush=True)
    return gt


def ground_truth(cfg, rows):
    n = len(rows)
    w = [r["w"] for r in rows]
    b = [r["b"] for r in rows]
    vals = [r["val_acc"] for r in rows]
    settle_w, level_w = settle_of(w)
    settle_b, level_b = settle_of(b) if cfg["arch"] == "cnn" else (None, None)
    plateau = val_plateau(vals) if all(v is not None for v in vals) else None
    never = cfg["schedule"]["kind"] == "constant"
    if cfg["suite"] == "bnstats":
        parts = [settle_w, settle_b, plateau]
        settle = None if any(p is None for p in parts) else max(parts)
    else:
        settle = None if never else settle_w
    seg = {"start": 1, "end": n, "early_level": level_w, "settle_raw": settle_w,
           "final_ratio": (w[-1] / level_w) if level_w else None, "settle": settle,
           "expect_stable": settle is not None and settle + 2 <= n,
           "settle_weights": settle_w, "settle_bn_stats": settle_b, "val_plateau": plateau,
           "bn_stats_level": level_b}
    dies, recovers, spans = dead_spans([bool(r["dead"]) for r in rows])
    sanity = []
    bad = [r["ckpt"] for r in rows if not (r["finite"] and r["weights_finite"])]
    if bad:
        sanity.append(f"non-finite weights or logits at checkpoints {bad} (a failed run, not a collapsed one)")
    return {
        "name": cfg["name"], "suite": cfg["suite"], "arch": f"keras-{cfg['arch']}", "layer": cfg["layer"],
        "schedule": cfg["schedule"]["kind"], "schedule_text": describe_schedule(cfg), "optimizer": cfg["optimizer"],
        "seed": cfg["seed"], "epochs": cfg["epochs"], "train_size": cfg["train_size"],
        "checkpoint_every_steps": cfg["train_size"] // BATCH, "steps_per_epoch": cfg["train_size"] // BATCH,
        "dtype": cfg["dtype"], "probes": len(PROBE_SETS[cfg["probes"]]), "dead_start": False, "checkpoints": n,
        "format": "keras legacy .h5 (model.save)", "bn_momentum": cfg["bn_momentum"] if cfg["arch"] == "cnn" else None,
        "poison": cfg["poison"], "camwatch_args": ["--layer", cfg["layer"]],
        "settle": [settle], "moves": [], "segments": [seg], "decay_checkpoints": [], "sanity": sanity,
        "weight_change": [None if v is None else round(v, 6) for v in w],
        "bn_stats_change": [None if v is None else round(v, 6) for v in b],
        "lr": [float(f"{r['lr']:.4g}") for r in rows], "val_acc": vals,
        "train_acc": [round(r["train_acc"], 4) for r in rows],
        "dies_at": dies, "recovers_at": recovers, "dead_spans": spans,
        "dead": [r["dead"] for r in rows], "top_share": [r["top_share"] for r in rows],
        "pred_spread": [r["pred_spread"] for r in rows], "logit_std": [r["logit_std"] for r in rows],
        "kill": None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", choices=["dead", "bnstats", "all"], default="all")
    ap.add_argument("--runs", help="comma-separated run names (overrides --suite)")
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    if args.runs:
        names = args.runs.split(",")
        unknown = [n for n in names if n not in KERAS_RUNS]
        if unknown:
            sys.exit(f"make_keras_runs.py: unknown run(s) {', '.join(unknown)}; known: {', '.join(KERAS_RUNS)}")
    else:
        names = [n for n, c in KERAS_RUNS.items() if args.suite in ("all", c["suite"])]
    for n in names:
        train(KERAS_RUNS[n], args.out)
    print("now collect: ~/.cache/camwatch-ref/bin/python Scripts/validation/make_runs.py --collect")


if __name__ == "__main__":
    main()
