"""Train the convergence validation suite: small seeded training runs with known ground truth.

Every run trains one small model on the synthetic shapes task of Scripts/sample/shapes.py (64×64 RGB, five
classes) and writes, under OUT/<run>/:

  checkpoints/ckpt-NNN.h5   the state_dict (h5py datasets, float32 or float16) with root attributes epoch
                            (the epoch in progress, an integer), step, lr (the last step's), train_loss (mean
                            since the previous checkpoint), val_acc (300 held-out images), input_size (64),
                            epoch_progress (step / steps per epoch) and either camwatch_model (a model spec,
                            docs/model-spec.md) or arch (a camwatch zoo name);
  probes/                   probe PNGs and probes.json (the format of Probes/probes.json), 4, 6 or 10 probes;
  weights.json              the relative weight change w_i of every checkpoint and the run's ground truth.

Architectures: `sample` (Scripts/sample/train_sample.py's SampleNet, imported), `resse` (a residual net with
squeeze-excitation blocks, described by a camwatch model spec that is checked against the module with
Scripts/fixtures/spec_runner.py before the first checkpoint is written), and the torchvision zoo models
`mobilenet_v2` and `resnet18` (num_classes=5, trained at 64×64; camwatch loads them by the `arch` attribute
and needs `--input-size 64`).

Learning-rate schedules (per step, after an optional linear warm-up): `step` (multiply by each factor at its
milestone epoch), `cosine` (half a cosine from the peak to zero at the last step), `constant` (a control that
never settles) and `sgdr` (warm restarts: every cycle anneals the peak to 1e-3·peak along half a cosine over its
first `anneal` epochs, holds that floor for the rest of the cycle, then restarts at the peak — SGDR with a
hold, so that every cycle has a settled stretch of several checkpoints before the next restart).

Ground truth (independent of saliency): from the written weights, w_i = ‖θ_i − θ_{i−1}‖ / ‖θ_{i−1}‖ over the
learnable parameters (batch-norm running statistics and counters excluded: they follow the activations, not
the optimiser, and their scale — running variances — would dominate the norm). A run is cut into segments at
its warm restarts. In each segment the level E is the highest median of 3 consecutive w's (the moving level;
for most runs the median of its first 3 w's); the segment's settle checkpoint is the first one from which w stays below F·E until the
segment ends (F = SETTLE_FRACTION, see docs/convergence.md "Validation"). Constant-LR runs are "never" settling by construction (their
schedule never decays); the script still reports their w ratio. The restart checkpoints — the first checkpoint
trained after each restart — are the "moves", where a monitor must go back to `changing`.

Determinism: one torch thread, deterministic algorithms, every run seeded from its own seed only (runs do not
depend on which others ran before them in the same process); h5py writes no timestamps, so a rerun writes
byte-identical checkpoints.

Run (reference environment, ~/.cache/camwatch-ref/bin/python):
    Scripts/validation/make_runs.py --suite main          # or heldout, all; --runs a,b for single runs
    Scripts/validation/make_runs.py --collect             # only rewrite ground_truth.json from OUT
"""

import argparse
import glob
import json
import math
import os
import sys
import time
from collections import OrderedDict

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Scripts", "sample"))
sys.path.insert(0, os.path.join(ROOT, "Scripts", "fixtures"))
sys.path.insert(0, HERE)

import shapes  # noqa: E402
import train_sample  # noqa: E402
from liveness import DEAD_MAX_ACC, DEAD_MAX_SPREAD, DEAD_TOP_SHARE, dead_spans, liveness_of  # noqa: E402
from make_keras_runs import BNSTATS_SETTLE_TEXT, KERAS_RUNS  # noqa: E402  (run names only; no TensorFlow)
from spec_runner import run_spec  # noqa: E402

DEFAULT_OUT = "/work/validation-runs"
GROUND_TRUTH = os.path.join(HERE, "ground_truth.json")
SETTLE_FRACTION = 0.15
EARLY_WINDOW = 3
VAL_SIZE = 300
BATCH = 32
SGDR_FLOOR = 1e-3
LR_JUMP = 1.0  # dead-lr-jump: the learning rate from its jump epoch on

# Probe sets: indices into train_sample.PROBES (the sample run's 10 probes, same generator streams).
PROBE_SETS = {
    "p10": list(range(10)),
    "p6": [0, 1, 2, 3, 4, 8],
    "p4": [0, 2, 7, 9],
}

# The suite. `layer`: camwatch's --layer (None: camwatch's default, the last conv-like layer);
# `ckpt_every`: checkpoint interval in steps (None: once per epoch); `dead_start`: SampleNet with block4's conv
# zero-initialised and frozen for the first epoch (head-first warm-up), so checkpoint 1's block4 activations are
# constant over each map and every probe's first heatmap is constant (drift 1.0 at checkpoint 2).
RUNS = OrderedDict()


def _run(name, suite, arch, schedule, **kw):
    cfg = dict(name=name, suite=suite, arch=arch, schedule=schedule, layer=None, seed=0, epochs=16,
               train_size=1536, optimizer="adamw", lr=3e-3, weight_decay=1e-2, warmup=1, ckpt_every=None,
               dtype="float32", probes="p10", dead_start=False, input_size=shapes.SIZE, kill=None)
    cfg.update(kw)
    RUNS[name] = cfg


# main: the lead tunes on these.
_run("sample-step", "main", "sample", dict(kind="step", milestones=[9, 13], factors=[0.3, 0.1]),
     layer="block4", probes="p10")
_run("sample-cosine-block3", "main", "sample", dict(kind="cosine"), layer="block3", probes="p4", seed=1,
     dtype="float16")
_run("sample-constant", "main", "sample", dict(kind="constant"), layer="block4", probes="p10", seed=2)
_run("sample-sgdr-half", "main", "sample", dict(kind="sgdr", cycle=6, anneal=3), layer="block4", probes="p6",
     seed=3, epochs=12, warmup=0, ckpt_every=24)
_run("sample-deadstart", "main", "sample", dict(kind="step", milestones=[10], factors=[0.05]), layer="block4",
     probes="p4", seed=4, epochs=14, dead_start=True)
_run("mnv2-step", "main", "mobilenet_v2", dict(kind="step", milestones=[7, 10], factors=[0.3, 0.1]),
     layer="features.13", probes="p6", seed=5, epochs=12, train_size=1216, lr=1e-3, dtype="float16")
_run("resse-cosine", "main", "resse", dict(kind="cosine"), layer=None, probes="p10", seed=6, epochs=14)
_run("resse-sgdr", "main", "resse", dict(kind="sgdr", cycle=8, anneal=4), layer="s2", probes="p4", seed=7,
     epochs=16, warmup=0)
# heldout: checked after tuning, never tuned on.
_run("resnet18-cosine-warmup", "heldout", "resnet18", dict(kind="cosine"), layer="layer3", probes="p6",
     seed=11, epochs=10, warmup=2, train_size=1024, lr=1e-3, dtype="float16")
_run("sample-3step-3of4", "heldout", "sample", dict(kind="step", milestones=[6, 10, 13], factors=[0.5, 0.5, 0.1]),
     layer="block4", probes="p6", seed=12, epochs=18, lr=2e-3, ckpt_every=24, train_size=1024)
_run("resse-sgdr-c7", "heldout", "resse", dict(kind="sgdr", cycle=7, anneal=4), layer="s3", probes="p10",
     seed=13, epochs=14, warmup=0, lr=2e-3, dtype="float16")
_run("mnv2-constant", "heldout", "mobilenet_v2", dict(kind="constant"), layer="features.13", probes="p4",
     seed=14, epochs=10, train_size=1024, lr=1e-3)
# dead: runs that stop learning — the model's output stops depending on its input — with the checkpoint
# at which that happens as ground truth (`dies_at`, from the held-out predictions, see liveness()); a run that
# comes back has `recovers_at`. Checked with the same defaults as main; never tuned on. The Keras runs of this
# suite and of `bnstats` are made by make_keras_runs.py (TensorFlow env).
_run("dead-lr-jump", "dead", "sample", dict(kind="jump", at=6, to=LR_JUMP), layer="block4", probes="p6", seed=21,
     epochs=14, weight_decay=0.0)
_run("dead-frozen-block4", "dead", "sample", dict(kind="cosine"), layer="block4", probes="p10", seed=22, epochs=14,
     kill=dict(at=8, layer="block4"))
_run("dead-recover-block4", "dead", "sample", dict(kind="cosine"), layer="block4", probes="p4", seed=23, epochs=16,
     kill=dict(at=5, layer="block4", revive=10))


# ---------------------------------------------------------------------------------------------------
# Models


class SEBlock(nn.Module):
    """Residual block with squeeze-excitation: conv-BN-ReLU-conv-BN, channel gate, 1×1 projection shortcut."""

    def __init__(self, cin, cout, reduction=4):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.se = nn.Module()
        self.se.fc1 = nn.Conv2d(cout, cout // reduction, 1)
        self.se.fc2 = nn.Conv2d(cout // reduction, cout, 1)
        self.proj = nn.Conv2d(cin, cout, 1, bias=False)
        self.projbn = nn.BatchNorm2d(cout)

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        gate = torch.sigmoid(self.se.fc2(F.relu(self.se.fc1(y.mean(dim=(2, 3), keepdim=True)))))
        return F.relu(y * gate + self.projbn(self.proj(x)))


class ResSENet(nn.Module):
    """Stem conv (16) → pool → SE residual stages s1 (24), pool, s2 (40), pool, s3 (56) → global max pool → fc.

    Input [N, 3, 64, 64]; s1 [N, 24, 32, 32], s2 [N, 40, 16, 16], s3 [N, 56, 8, 8]."""

    WIDTHS = (24, 40, 56)

    def __init__(self, classes=len(shapes.CLASSES)):
        super().__init__()
        self.stem = nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 16, 3, padding=1, bias=False), bn=nn.BatchNorm2d(16)))
        cin = 16
        for i, w in enumerate(self.WIDTHS, 1):
            setattr(self, f"s{i}", SEBlock(cin, w))
            cin = w
        self.fc = nn.Linear(cin, classes)

    def forward(self, x, keep=None):
        x = F.max_pool2d(F.relu(self.stem(x)), 2)
        acts = {}
        for i in range(1, len(self.WIDTHS) + 1):
            x = getattr(self, f"s{i}")(x)
            acts[f"s{i}"] = x
            if i < len(self.WIDTHS):
                x = F.max_pool2d(x, 2)
        out = self.fc(x.amax(dim=(2, 3)))
        return (out, acts) if keep else out


def resse_spec():
    """ResSENet as a camwatch model spec; layer names are state_dict prefixes, `sK` is stage K's output."""
    layers = [{"name": "stem.conv", "op": "conv2d", "out_channels": 16, "kernel": 3, "padding": 1, "bias": False},
              {"name": "stem.bn", "op": "batchnorm"}, {"name": "stem.relu", "op": "relu"},
              {"name": "pool0", "op": "maxpool", "kernel": 2}]
    prev = "pool0"
    for i, w in enumerate(ResSENet.WIDTHS, 1):
        s = f"s{i}"
        layers += [
            {"name": f"{s}.conv1", "op": "conv2d", "out_channels": w, "kernel": 3, "padding": 1, "bias": False,
             "inputs": [prev]},
            {"name": f"{s}.bn1", "op": "batchnorm"}, {"name": f"{s}.relu1", "op": "relu"},
            {"name": f"{s}.conv2", "op": "conv2d", "out_channels": w, "kernel": 3, "padding": 1, "bias": False},
            {"name": f"{s}.bn2", "op": "batchnorm"},
            {"name": f"{s}.se.pool", "op": "global_avgpool"},
            {"name": f"{s}.se.fc1", "op": "conv2d", "kernel": 1},
            {"name": f"{s}.se.relu", "op": "relu"},
            {"name": f"{s}.se.fc2", "op": "conv2d", "kernel": 1},
            {"name": f"{s}.se.gate", "op": "sigmoid"},
            {"name": f"{s}.se.scale", "op": "mul", "inputs": [f"{s}.bn2", f"{s}.se.gate"]},
            {"name": f"{s}.proj", "op": "conv2d", "kernel": 1, "bias": False, "inputs": [prev]},
            {"name": f"{s}.projbn", "op": "batchnorm"},
            {"name": f"{s}.add", "op": "add", "inputs": [f"{s}.se.scale", f"{s}.projbn"]},
            {"name": f"{s}.relu", "op": "relu"},
        ]
        prev = f"{s}.relu"
        if i < len(ResSENet.WIDTHS):
            layers.append({"name": f"pool{i}", "op": "maxpool", "kernel": 2})
            prev = f"pool{i}"
    layers += [{"name": "gmp", "op": "global_maxpool"}, {"name": "flatten", "op": "flatten"},
               {"name": "fc", "op": "linear"}]
    return {"name": "camwatch-validation-resse", "input_channels": 3, "input_size": shapes.SIZE, "layers": layers}


def verify_resse(model, spec, x):
    """run_spec on the state_dict must reproduce ResSENet (eval mode), logits and every stage output."""
    model.eval()
    tensors = dict(model.state_dict())
    with torch.no_grad():
        ref, ref_acts = model(x, keep=True)
        out, acts, used = run_spec(spec, tensors, x, keep=list(ref_acts))
    unused = {k for k in tensors if not k.endswith("num_batches_tracked")} - used
    errs = [float((out - ref).abs().max())] + [float((acts[k] - ref_acts[k]).abs().max()) for k in ref_acts]
    if unused or max(errs) > 1e-4:
        sys.exit(f"resse spec does not describe ResSENet: unused {sorted(unused)}, max diffs {errs}")
    print(f"  spec check: run_spec == ResSENet (max |diff| {max(errs):.2g}, {len(used)} tensors used)")


def build_model(cfg):
    """(module, root attributes naming the architecture)."""
    arch = cfg["arch"]
    if arch == "sample":
        model = train_sample.SampleNet()
        if cfg["dead_start"]:
            with torch.no_grad():
                model.block4.conv.weight.zero_()
                model.block4.bn.bias.fill_(0.5)  # > 0 so block4's ReLU passes gradient once the conv unfreezes
        return model, {"camwatch_model": json.dumps(train_sample.model_spec(), separators=(",", ":"))}
    if arch == "resse":
        return ResSENet(), {"camwatch_model": json.dumps(resse_spec(), separators=(",", ":"))}
    import torchvision
    return getattr(torchvision.models, arch)(num_classes=len(shapes.CLASSES)), {"arch": arch}


def switch_layer(model, kill, epoch):
    """`kill` = {at, layer[, revive]}: at the start of epoch `at` the layer's conv weight is zeroed and frozen, so
    the block's output — and so the logits — no longer depend on the input (the rest keeps training). With
    `revive`, the block's BN weight and bias are frozen too (bias set to 0.5, so its ReLU passes gradient later),
    and at the start of epoch `revive` all three are unfrozen: the conv relearns from zero (like dead_start)."""
    block = getattr(model, kill["layer"])
    bn_params = [block.bn.weight, block.bn.bias]
    if epoch == kill["at"]:
        with torch.no_grad():
            block.conv.weight.zero_()
            if kill.get("revive"):
                block.bn.bias.fill_(0.5)
        block.conv.weight.requires_grad_(False)
        if kill.get("revive"):
            for p in bn_params:
                p.requires_grad_(False)
    if kill.get("revive") and epoch == kill["revive"]:
        for p in [block.conv.weight] + bn_params:
            p.requires_grad_(True)


# ---------------------------------------------------------------------------------------------------
# Schedules


def learning_rate(cfg, step, per_epoch, total):
    """Learning rate of training step `step` (0-based)."""
    peak, sched = cfg["lr"], cfg["schedule"]
    warm = cfg["warmup"] * per_epoch
    if step < warm:
        return peak * (step + 1) / warm
    kind = sched["kind"]
    if kind == "constant":
        return peak
    if kind == "jump":  # constant peak, then (from epoch `at` on) a learning rate far too high
        return sched["to"] if step >= (sched["at"] - 1) * per_epoch else peak
    if kind == "step":
        lr = peak
        for m, f in zip(sched["milestones"], sched["factors"]):
            if step >= (m - 1) * per_epoch:
                lr *= f
        return lr
    if kind == "cosine":
        t = (step - warm) / (total - warm)
        return 0.5 * peak * (1 + math.cos(math.pi * t))
    if kind == "sgdr":
        p = (step - warm) % (sched["cycle"] * per_epoch)
        floor = peak * SGDR_FLOOR
        anneal = sched["anneal"] * per_epoch
        if p >= anneal:
            return floor
        return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * p / anneal))
    raise ValueError(kind)


def restart_steps(cfg, per_epoch, total):
    """Steps at which a warm restart sets the learning rate back to the peak."""
    if cfg["schedule"]["kind"] != "sgdr":
        return []
    warm = cfg["warmup"] * per_epoch
    cycle = cfg["schedule"]["cycle"] * per_epoch
    return list(range(warm + cycle, total, cycle))


def decay_steps(cfg, per_epoch):
    """Steps of the step schedule's decays (for the sanity check of the ground truth)."""
    if cfg["schedule"]["kind"] != "step":
        return []
    return [(m - 1) * per_epoch for m in cfg["schedule"]["milestones"]]


def describe_schedule(cfg):
    s, lr = cfg["schedule"], cfg["lr"]
    warm = f", {cfg['warmup']}-epoch warm-up" if cfg["warmup"] else ""
    if s["kind"] == "step":
        ms = ", ".join(f"×{f:g} at epoch {m}" for m, f in zip(s["milestones"], s["factors"]))
        return f"step {lr:g}, {ms}{warm}"
    if s["kind"] == "cosine":
        return f"cosine {lr:g} → 0{warm}"
    if s["kind"] == "constant":
        return f"constant {lr:g}{warm}"
    if s["kind"] == "jump":
        return f"constant {lr:g}, jumps to {s['to']:g} at epoch {s['at']}{warm}"
    return (f"sgdr {lr:g}: cycles of {s['cycle']} epochs, cosine to {SGDR_FLOOR:g}·peak over {s['anneal']}, "
            f"then hold{warm}")


# ---------------------------------------------------------------------------------------------------
# Data

_DATA = {}


def dataset(seed, stream, count):
    """Preprocessed images [count, 3, 64, 64] and labels; image i depends only on (seed, stream, i)."""
    key = (seed, stream)
    have = _DATA.get(key)
    if have is None or have[0].shape[0] < count:
        imgs, labels, _ = shapes.make_set(seed, stream, count)
        have = (train_sample.preprocess(imgs), torch.from_numpy(labels))
        _DATA[key] = have
    return have[0][:count], have[1][:count]


def write_probes(directory, seed, probe_set):
    """Probe PNGs (probe i of the sample run's list, from stream 2 of this run's seed) and probes.json."""
    from PIL import Image
    os.makedirs(directory, exist_ok=True)
    for stale in glob.glob(os.path.join(directory, "*.png")):
        os.remove(stale)
    manifest = []
    for i in PROBE_SETS[probe_set]:
        label, kind = train_sample.PROBES[i]
        cls = shapes.CLASSES.index(label)
        img, cls, bbox = shapes.make_image(shapes.rng_for(seed, shapes.STREAM_PROBE, i), cls=cls,
                                           **train_sample.PROBE_KINDS[kind])
        pid = f"probe-{i:02d}-{label}" + ("" if kind == "normal" else f"-{kind}")
        Image.fromarray(img, "RGB").save(os.path.join(directory, pid + ".png"))
        manifest.append({"id": pid, "file": pid + ".png", "class": cls, "label": label, "bbox": bbox})
    with open(os.path.join(directory, "probes.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    return len(manifest)


# ---------------------------------------------------------------------------------------------------
# Training


def save_checkpoint(model, path, dtype, attrs):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with h5py.File(tmp, "w") as f:
        for k, v in model.state_dict().items():
            a = v.detach().cpu()
            if dtype == "float16" and a.is_floating_point():
                a = a.half()
            f.create_dataset(k, data=a.numpy())
        for k, v in attrs.items():
            f.attrs[k] = v
    os.replace(tmp, path)


def train(cfg, out):
    name = cfg["name"]
    run_dir = os.path.join(out, name)
    ckpt_dir = os.path.join(run_dir, "checkpoints")
    os.makedirs(ckpt_dir, exist_ok=True)
    for stale in glob.glob(os.path.join(ckpt_dir, "*.h5")) + glob.glob(os.path.join(ckpt_dir, ".*.tmp")):
        os.remove(stale)
    done_marker = os.path.join(run_dir, "weights.json")
    if os.path.exists(done_marker):
        os.remove(done_marker)

    seed = cfg["seed"]
    torch.manual_seed(seed)
    nprobes = write_probes(os.path.join(run_dir, "probes"), seed, cfg["probes"])
    train_x, train_y = dataset(seed, shapes.STREAM_TRAIN, cfg["train_size"])
    val_x, val_y = dataset(seed, shapes.STREAM_VAL, VAL_SIZE)

    model, arch_attrs = build_model(cfg)
    if cfg["arch"] == "resse":
        verify_resse(model, json.loads(arch_attrs["camwatch_model"]), val_x[:16])
    if cfg["optimizer"] == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    else:
        opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"], momentum=0.9, weight_decay=cfg["weight_decay"])
    gen = torch.Generator().manual_seed(seed)
    per_epoch = cfg["train_size"] // BATCH
    total = per_epoch * cfg["epochs"]
    every = cfg["ckpt_every"] or per_epoch
    frozen = [model.block4.conv.weight] if cfg["dead_start"] else []
    for p in frozen:
        p.requires_grad_(False)
    kill = cfg["kill"]

    t_cpu, t_wall = time.process_time(), time.time()
    print(f"{name}: {cfg['arch']}, {describe_schedule(cfg)}, {total // every} checkpoints, {nprobes} probes")
    step, index, losses, order = 0, 0, [], None
    model.train()
    while step < total:
        epoch0 = step // per_epoch
        if step % per_epoch == 0:
            order = torch.randperm(cfg["train_size"], generator=gen)
            if frozen and epoch0 == 1:
                for p in frozen:
                    p.requires_grad_(True)
            if kill:
                switch_layer(model, kill, epoch0 + 1)
        b = step % per_epoch
        idx = order[b * BATCH:(b + 1) * BATCH]
        lr = learning_rate(cfg, step, per_epoch, total)
        for g in opt.param_groups:
            g["lr"] = lr
        loss = F.cross_entropy(model(train_sample.augment(train_x[idx], gen)), train_y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        if step % every == 0:
            index += 1
            model.eval()
            with torch.no_grad():
                val_acc = float((model(val_x).argmax(1) == val_y).float().mean())
            model.train()
            attrs = {"epoch": int(math.ceil(step / per_epoch)), "step": step, "lr": float(lr),
                     "train_loss": float(np.mean(losses)), "val_acc": val_acc, "input_size": cfg["input_size"],
                     "epoch_progress": step / per_epoch}
            attrs.update(arch_attrs)
            save_checkpoint(model, os.path.join(ckpt_dir, f"ckpt-{index:03d}.h5"), cfg["dtype"], attrs)
            print(f"  ckpt {index:3d} step {step:5d} lr {lr:9.2e} loss {attrs['train_loss']:.4f} "
                  f"val_acc {val_acc:.3f}", flush=True)
            losses = []
    cpu, wall = time.process_time() - t_cpu, time.time() - t_wall
    gt = ground_truth(cfg, run_dir)
    gt["train_cpu_seconds"] = round(cpu, 1)
    gt["train_wall_seconds"] = round(wall, 1)
    with open(done_marker, "w") as f:
        json.dump(gt, f, indent=1)
        f.write("\n")
    print(f"  {name}: {cpu:.0f} CPU-s ({wall:.0f} s wall); settle {gt['settle']}, moves {gt['moves']}")
    return gt


# ---------------------------------------------------------------------------------------------------
# Ground truth


def is_parameter(name):
    return not (name.endswith("running_mean") or name.endswith("running_var") or name.endswith("num_batches_tracked"))


def read_bn_stats(path):
    """Batch-norm running means and variances (float64), for the reported BN-statistics change."""
    with h5py.File(path, "r") as f:
        out = {}
        f.visititems(lambda k, d: out.__setitem__(k, np.asarray(d[()], dtype=np.float64))
                     if isinstance(d, h5py.Dataset) and (k.endswith("running_mean") or k.endswith("running_var"))
                     else None)
    return out


def read_weights(path):
    with h5py.File(path, "r") as f:
        out = {}
        f.visititems(lambda k, d: out.__setitem__(k, np.asarray(d[()], dtype=np.float64))
                     if isinstance(d, h5py.Dataset) and d.dtype.kind == "f" and is_parameter(k) else None)
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items() if k != "camwatch_model"}
    return out, attrs


def load_model(cfg, path):
    """The run's module with a written checkpoint's state_dict (float16 files widened), in eval mode."""
    model, _ = build_model(cfg)
    state = model.state_dict()
    with h5py.File(path, "r") as f:
        loaded = {k: torch.from_numpy(np.asarray(f[k][()])).to(state[k].dtype).reshape(state[k].shape)
                  for k in state}
    model.load_state_dict(loaded)
    return model.eval()


def liveness(cfg, run_dir):
    """Liveness of every written checkpoint: the module loaded from the file (what camwatch reads), run in eval mode
    on the run's 300 held-out validation images (stream 1 of its seed)."""
    files = sorted(glob.glob(os.path.join(run_dir, "checkpoints", "ckpt-*.h5")))
    val_x, val_y = dataset(cfg["seed"], shapes.STREAM_VAL, VAL_SIZE)
    rows = []
    rng_state = torch.get_rng_state()
    for path in files:
        model = load_model(cfg, path)
        with torch.no_grad():
            rows.append(liveness_of(model(val_x).numpy(), val_y.numpy()))
    torch.set_rng_state(rng_state)
    return rows


def ground_truth(cfg, run_dir):
    """The run's weight-change sequence and its settle / move checkpoints (1-based checkpoint indices)."""
    files = sorted(glob.glob(os.path.join(run_dir, "checkpoints", "ckpt-*.h5")))
    prev, w, lrs, steps, vals = None, [None], [], [], []
    prev_bn, bn_change = None, [None]
    for path in files:
        cur_bn = read_bn_stats(path)
        if prev_bn:
            bn_change.append(math.sqrt(sum(float(((cur_bn[k] - prev_bn[k]) ** 2).sum()) for k in prev_bn)
                                       / sum(float((prev_bn[k] ** 2).sum()) for k in prev_bn)))
        elif prev_bn is not None:
            bn_change.append(None)
        prev_bn = cur_bn
        cur, attrs = read_weights(path)
        lrs.append(attrs["lr"])
        steps.append(int(attrs["step"]))
        vals.append(attrs["val_acc"])
        if prev is not None:
            num = sum(float(((cur[k] - prev[k]) ** 2).sum()) for k in prev)
            den = sum(float((prev[k] ** 2).sum()) for k in prev)
            w.append(math.sqrt(num / den))
        prev = cur
    n = len(files)
    per_epoch = cfg["train_size"] // BATCH
    total = per_epoch * cfg["epochs"]
    every = cfg["ckpt_every"] or per_epoch
    # Checkpoint k (1-based) holds the weights after step k·every; the first checkpoint trained after a
    # restart at step s is the one with k·every > s.
    moves = [s // every + 1 for s in restart_steps(cfg, per_epoch, total)]
    starts = [1] + moves
    segments = []
    for j, start in enumerate(starts):
        end = (starts[j + 1] - 1) if j + 1 < len(starts) else n
        ws = [(i, w[i - 1]) for i in range(start, end + 1) if w[i - 1] is not None]
        # The segment's level while training moves: the highest median of EARLY_WINDOW consecutive w's.
        # (The first three alone would do for most runs, but a run that starts slowly — dead-start's frozen
        # first epoch — reaches its full speed of change only later.)
        seq = [v for _, v in ws]
        early = max(float(np.median(seq[k:k + EARLY_WINDOW])) for k in range(max(len(seq) - EARLY_WINDOW + 1, 1)))
        settle = None
        for i, v in reversed(ws):
            if v < SETTLE_FRACTION * early:
                settle = i
            else:
                break
        seg = {"start": start, "end": end, "early_level": early, "settle_raw": settle,
               "final_ratio": ws[-1][1] / early}
        never = cfg["schedule"]["kind"] == "constant"
        seg["settle"] = None if never else settle
        # At least 3 settled checkpoints (settle … settle+2) before the segment ends: then a monitor must call
        # it stable by settle+3 or the segment's end, whichever comes first.
        seg["expect_stable"] = seg["settle"] is not None and seg["settle"] + 2 <= end
        segments.append(seg)
    decays = [s // every + 1 for s in decay_steps(cfg, per_epoch)]
    sanity = []
    for seg in segments:
        if seg["settle"] is None:
            continue
        seg_decays = [d for d in decays if seg["start"] <= d <= seg["end"]]
        if seg_decays and seg["settle"] < max(seg_decays):
            sanity.append(f"segment {seg['start']}-{seg['end']} settles at {seg['settle']}, before the last "
                          f"decay at {max(seg_decays)}")
        lr_ratio = lrs[seg["settle"] - 1] / cfg["lr"]
        seg["lr_ratio_at_settle"] = lr_ratio
    live = liveness(cfg, run_dir)
    dies, recovers, spans = dead_spans([bool(r["dead"]) for r in live])
    nonfinite = [i for i, r in enumerate(live, 1) if not r["finite"]]
    if nonfinite:
        sanity.append(f"non-finite logits at checkpoints {nonfinite} (a failed run, not a collapsed one)")
    camwatch_args = ["--input-size", str(cfg["input_size"])]
    if cfg["layer"]:
        camwatch_args += ["--layer", cfg["layer"]]
    return {
        "name": cfg["name"], "suite": cfg["suite"], "arch": cfg["arch"], "layer": cfg["layer"] or "default",
        "schedule": cfg["schedule"]["kind"], "schedule_text": describe_schedule(cfg), "optimizer": cfg["optimizer"],
        "seed": cfg["seed"], "epochs": cfg["epochs"], "train_size": cfg["train_size"],
        "checkpoint_every_steps": every, "steps_per_epoch": per_epoch, "dtype": cfg["dtype"],
        "probes": len(PROBE_SETS[cfg["probes"]]), "dead_start": cfg["dead_start"], "checkpoints": n,
        "camwatch_args": camwatch_args,
        "settle": [s["settle"] for s in segments], "moves": moves, "segments": segments,
        "decay_checkpoints": decays, "sanity": sanity,
        "weight_change": [None if v is None else round(v, 6) for v in w],
        "bn_stats_change": [None if v is None else round(v, 6) for v in bn_change],
        "lr": [float(f"{v:.4g}") for v in lrs], "val_acc": [round(v, 4) for v in vals],
        "dies_at": dies, "recovers_at": recovers, "dead_spans": spans,
        "dead": [r["dead"] for r in live], "top_share": [r["top_share"] for r in live],
        "pred_spread": [r["pred_spread"] for r in live], "logit_std": [r["logit_std"] for r in live],
        "kill": cfg["kill"],
    }


def collect(out):
    """ground_truth.json from every finished run in OUT (its weights.json), in suite order."""
    runs = []
    for name in list(RUNS) + list(KERAS_RUNS):
        path = os.path.join(out, name, "weights.json")
        if os.path.exists(path):
            with open(path) as f:
                runs.append(json.load(f))
    doc = {
        "definition": (f"w_i = ||theta_i - theta_(i-1)|| / ||theta_(i-1)|| over learnable parameters (BN running "
                       f"statistics excluded); per segment (split at warm restarts) the level E is the highest median "
                       f"of {EARLY_WINDOW} consecutive w's; settle = first checkpoint from which w < {SETTLE_FRACTION}·E "
                       f"to the segment's end; constant-LR runs: never; moves = first checkpoint after each restart. "
                       f"Checkpoint numbers are 1-based positions in processing order."),
        "liveness": (f"a checkpoint is dead when, loaded from its file and run in eval mode on the run's "
                     f"{VAL_SIZE} held-out images, val_acc <= {DEAD_MAX_ACC} (chance 0.2) and either one class takes "
                     f">= {DEAD_TOP_SHARE} of the predictions or pred_spread <= {DEAD_MAX_SPREAD}; dies_at = first dead checkpoint; recovers_at = the "
                     f"checkpoint after the first dead span when the run is alive from there to its end; "
                     f"pred_spread = mean total-variation distance of an image's softmax from the mean softmax."),
        "bnstats_settle": BNSTATS_SETTLE_TEXT,
        "settle_fraction": SETTLE_FRACTION, "early_window": EARLY_WINDOW, "runs": runs,
    }
    tmp = GROUND_TRUTH + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(tmp, GROUND_TRUTH)
    print(f"wrote {GROUND_TRUTH} ({len(runs)} runs)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", choices=["main", "heldout", "dead", "all"], default="main",
                    help="all: every PyTorch run (the Keras runs of dead and bnstats: make_keras_runs.py)")
    ap.add_argument("--runs", help="comma-separated run names (overrides --suite)")
    ap.add_argument("--out", default=DEFAULT_OUT, help=f"where the runs go (default {DEFAULT_OUT})")
    ap.add_argument("--collect", action="store_true", help="only rewrite ground_truth.json from OUT")
    ap.add_argument("--recompute", action="store_true",
                    help="recompute each finished run's ground truth from its checkpoints (no training)")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    if args.runs:
        names = args.runs.split(",")
        unknown = [n for n in names if n not in RUNS]
        if unknown:
            sys.exit(f"make_runs.py: unknown run(s) {', '.join(unknown)}; known: {', '.join(RUNS)}")
    else:
        names = [n for n, c in RUNS.items() if args.suite in ("all", c["suite"])]
    if args.recompute:
        for n in names:
            path = os.path.join(args.out, n, "weights.json")
            if not os.path.exists(path):
                continue
            with open(path) as f:
                old = json.load(f)
            gt = ground_truth(RUNS[n], os.path.join(args.out, n))
            gt["train_cpu_seconds"], gt["train_wall_seconds"] = old["train_cpu_seconds"], old["train_wall_seconds"]
            with open(path, "w") as f:
                json.dump(gt, f, indent=1)
                f.write("\n")
        args.collect = True
    if not args.collect:
        for n in names:
            train(RUNS[n], args.out)
    collect(args.out)


if __name__ == "__main__":
    main()
