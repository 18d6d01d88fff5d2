"""Train camwatch's sample model and write the checkpoints and probes the README's quickstart uses.

The task (shapes.py): 64×64 RGB images, each with one coloured shape — circle, square, triangle, cross
or ring, the class — at a random position, size and rotation, on a cluttered background (stripes,
checks, colour noise, pixel noise, distractor blobs/lines/dots in other hues). Images are generated on
the fly from the seed: 2,000 training images (stream 0, randomly flipped/rotated by 90° each epoch),
500 validation images (stream 1) and the probes (stream 2), so probes and validation are held out.

The model (SampleNet) is four conv blocks (3×3 conv without bias, batch norm, ReLU; 2×2 max pool after
the first three) with 16/32/48/64 channels, global *max* pooling and a linear layer: 47 k parameters.
(With global average pooling the net sat at chance for the whole CPU budget: averaging drowns the one
small object in the clutter's responses.) Score-CAM target: `block4`, i.e. block4.relu, [64, 8, 8] —
also camwatch's default target for this spec. The camwatch model spec (docs/model-spec.md) names every
layer by its state_dict prefix (`block1.conv`, `block1.bn`, …, `fc`); before the first checkpoint is
written the script checks, with Scripts/fixtures/spec_runner.py's `run_spec`, that the spec computes the
same logits and block4 activations as the module from the state_dict.

Training: AdamW (weight decay 1e-2), batch 32, 63 steps per epoch, 24 epochs; learning rate 3e-3
warmed up linearly over the first epoch, then cosine-decayed per step to 3e-6 at the end.
`--schedule constant` keeps 3e-3 throughout: a control run whose validation accuracy saturates the
same way but whose heatmaps never stop moving. Input preprocessing is camwatch's default: x/255, then
ImageNet mean/std, RGB; the spec stores `input_size: 64`, so camwatch resizes probes to 64x64 by itself.

Outputs:
  Probes/probe-NN-<label>[-small|-clutter].png and Probes/probes.json (written first, before training):
      a list of {"id", "file", "class", "label", "bbox": [x0, y0, x1, y1]} (pixels, x1/y1 exclusive);
  Checkpoints/epoch-NNN.h5, one per epoch, written the way a PyTorch user does
      (`for k, v in model.state_dict().items(): f.create_dataset(k, data=v.numpy())`) with root
      attributes epoch, step, val_acc, train_loss (epoch mean), lr (last step's) and camwatch_model
      (the spec as JSON); about 200 kB each.
Existing epoch-*.h5 files in the output directory are deleted first. With the same --seed and
--threads the files are byte-identical from run to run (h5py stores no timestamps by default).

Run (reference environment, Scripts/reference-env.sh; about 3 minutes of one core):
    ~/.cache/camwatch-ref/bin/python Scripts/sample/train_sample.py
    # feeding a watched directory live, one checkpoint every 20 s, atomically renamed into place
    # (written as .epoch-NNN.h5.tmp first):
    ~/.cache/camwatch-ref/bin/python Scripts/sample/train_sample.py --out /tmp/run --pace 20 --write-mode rename
Then Scripts/sample/check_drift.py measures how the probes' Score-CAM heatmaps settle.
"""

import argparse
import glob
import json
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
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "Scripts", "fixtures"))

import shapes  # noqa: E402
from spec_runner import run_spec  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
WIDTHS = (16, 32, 48, 64)
TRAIN_SIZE, VAL_SIZE = 2000, 500

# The probes: (class, kind); kind picks the difficulty. Every class appears at normal difficulty, and
# some as small objects or on heavy clutter.
PROBES = [("circle", "normal"), ("square", "normal"), ("triangle", "normal"), ("cross", "normal"),
          ("ring", "normal"), ("circle", "small"), ("triangle", "small"), ("cross", "small"),
          ("square", "clutter"), ("ring", "clutter")]
PROBE_KINDS = {
    "normal": dict(size_range=(8.0, 13.0), difficulty=(0.4, 0.6)),
    "small": dict(size_range=(5.0, 6.5), difficulty=(0.5, 0.7)),
    "clutter": dict(size_range=(7.0, 11.0), difficulty=(0.95, 1.0), clutter=(9, 11)),
}


class SampleNet(nn.Module):
    """Four conv blocks (conv 3×3 → BN → ReLU [→ max pool 2]), global max pool, linear.

    Input [N, 3, 64, 64] (normalized); output logits [N, classes]. block4's output is [N, 64, 8, 8].
    """

    def __init__(self, widths=WIDTHS, classes=len(shapes.CLASSES)):
        super().__init__()
        cin = 3
        for i, w in enumerate(widths, 1):
            parts = [("conv", nn.Conv2d(cin, w, 3, padding=1, bias=False)), ("bn", nn.BatchNorm2d(w)),
                     ("relu", nn.ReLU())]
            if i < len(widths):
                parts.append(("pool", nn.MaxPool2d(2)))
            setattr(self, f"block{i}", nn.Sequential(OrderedDict(parts)))
            cin = w
        self.blocks = len(widths)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        for i in range(1, self.blocks + 1):
            x = getattr(self, f"block{i}")(x)
        return self.fc(x.amax(dim=(2, 3)))


def model_spec(widths=WIDTHS):
    """SampleNet as a camwatch model spec (docs/model-spec.md); layer names are state_dict prefixes."""
    layers = []
    for i, w in enumerate(widths, 1):
        layers += [{"name": f"block{i}.conv", "op": "conv2d", "out_channels": w, "kernel": 3, "padding": 1,
                    "bias": False},
                   {"name": f"block{i}.bn", "op": "batchnorm"},
                   {"name": f"block{i}.relu", "op": "relu"}]
        if i < len(widths):
            layers.append({"name": f"block{i}.pool", "op": "maxpool", "kernel": 2})
    layers += [{"name": "gmp", "op": "global_maxpool"}, {"name": "flatten", "op": "flatten"},
               {"name": "fc", "op": "linear"}]
    return {"name": "camwatch-sample-shapes", "input_channels": 3, "input_size": shapes.SIZE, "layers": layers}


def preprocess(images):
    """uint8 [N, H, W, 3] RGB -> float32 [N, 3, H, W]: x/255, ImageNet mean/std (camwatch's default)."""
    x = (images.astype(np.float32) / np.float32(255.0) - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def verify_spec(model, spec, x):
    """The spec, interpreted by run_spec on the state_dict, must reproduce the module (eval mode)."""
    model.eval()
    tensors = {k: v for k, v in model.state_dict().items()}
    with torch.no_grad():
        ref_feat = model.block4(model.block3(model.block2(model.block1(x))))
        ref = model(x)
        out, acts, used = run_spec(spec, tensors, x, keep=["block4"])
    unused = {k for k in tensors if not k.endswith("num_batches_tracked")} - used
    err = float((out - ref).abs().max())
    err_feat = float((acts["block4"] - ref_feat).abs().max())
    if unused or err > 1e-4 or err_feat > 1e-4:
        sys.exit(f"model spec does not describe SampleNet: unused {sorted(unused)}, "
                 f"max |logit diff| {err:.3g}, max |block4 diff| {err_feat:.3g}")
    print(f"spec check: run_spec == SampleNet (max |logit diff| {err:.2g}, block4 {err_feat:.2g}, "
          f"{len(used)} tensors used)")


def write_probes(directory, seed):
    """Probe PNGs and probes.json from held-out stream 2."""
    from PIL import Image
    os.makedirs(directory, exist_ok=True)
    manifest = []
    for i, (label, kind) in enumerate(PROBES):
        cls = shapes.CLASSES.index(label)
        img, cls, bbox = shapes.make_image(shapes.rng_for(seed, shapes.STREAM_PROBE, i), cls=cls,
                                           **PROBE_KINDS[kind])
        pid = f"probe-{i:02d}-{label}" + ("" if kind == "normal" else f"-{kind}")
        Image.fromarray(img, "RGB").save(os.path.join(directory, pid + ".png"))
        manifest.append({"id": pid, "file": pid + ".png", "class": cls, "label": label, "bbox": bbox})
    with open(os.path.join(directory, "probes.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"wrote {len(manifest)} probes and probes.json to {directory}")


def learning_rate(step, total, per_epoch, schedule, peak):
    """Per-step learning rate: one epoch of linear warm-up, then the schedule's decay."""
    if step < per_epoch:
        return peak * (step + 1) / per_epoch
    t = (step - per_epoch) / max(total - per_epoch - 1, 1)
    if schedule == "cosine":
        final = peak * 1e-3
        return final + 0.5 * (peak - final) * (1 + np.cos(np.pi * t))
    return peak


def augment(x, generator):
    """Random element of the dihedral group per image (every class is invariant under it)."""
    flips = torch.randint(0, 2, (x.shape[0], 2), generator=generator)
    turns = torch.randint(0, 4, (x.shape[0],), generator=generator)
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        xi = x[i]
        if flips[i, 0]:
            xi = xi.flip(-1)
        if flips[i, 1]:
            xi = xi.flip(-2)
        out[i] = torch.rot90(xi, int(turns[i]), dims=(-2, -1))
    return out


def save_checkpoint(model, path, write_mode, attrs):
    """One checkpoint, as a PyTorch user writes it; `rename` writes .<name>.tmp then os.replace."""
    target = path if write_mode == "inplace" else os.path.join(os.path.dirname(path),
                                                               "." + os.path.basename(path) + ".tmp")
    with h5py.File(target, "w") as f:
        for k, v in model.state_dict().items():
            f.create_dataset(k, data=v.numpy())
        for k, v in attrs.items():
            f.attrs[k] = v
    if target != path:
        os.replace(target, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "Checkpoints"), help="checkpoint directory")
    ap.add_argument("--probes", default=os.path.join(ROOT, "Probes"), help="probe directory")
    ap.add_argument("--epochs", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pace", type=float, default=0.0, help="seconds to sleep after each checkpoint")
    ap.add_argument("--write-mode", choices=["inplace", "rename"], default="inplace",
                    help="write epoch-NNN.h5 directly, or a temporary name then os.replace")
    ap.add_argument("--schedule", choices=["cosine", "constant"], default="cosine",
                    help="cosine decay (default) or a constant learning rate (a control run)")
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (results depend on it)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)
    write_probes(args.probes, args.seed)

    t0 = time.time()
    train_x, train_y, _ = shapes.make_set(args.seed, shapes.STREAM_TRAIN, TRAIN_SIZE)
    val_x, val_y, _ = shapes.make_set(args.seed, shapes.STREAM_VAL, VAL_SIZE)
    train_x, val_x = preprocess(train_x), preprocess(val_x)
    train_y, val_y = torch.from_numpy(train_y), torch.from_numpy(val_y)
    print(f"generated {TRAIN_SIZE} training and {VAL_SIZE} validation images in {time.time() - t0:.1f} s")

    model = SampleNet()
    spec = model_spec()
    spec_json = json.dumps(spec, separators=(",", ":"))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-2)
    gen = torch.Generator().manual_seed(args.seed)
    batch = 32
    per_epoch = (TRAIN_SIZE + batch - 1) // batch
    total = per_epoch * args.epochs

    os.makedirs(args.out, exist_ok=True)
    for stale in glob.glob(os.path.join(args.out, "epoch-*.h5")) + glob.glob(os.path.join(args.out, ".epoch-*.tmp")):
        os.remove(stale)

    step = 0
    print(f"{'epoch':>5} {'step':>5} {'lr':>9} {'loss':>7} {'val_acc':>7} {'sec':>5}")
    for epoch in range(1, args.epochs + 1):
        t0 = time.time()
        model.train()
        order = torch.randperm(TRAIN_SIZE, generator=gen)
        losses = []
        for b in range(per_epoch):
            idx = order[b * batch:(b + 1) * batch]
            lr = learning_rate(step, total, per_epoch, args.schedule, args.lr)
            for g in opt.param_groups:
                g["lr"] = lr
            loss = F.cross_entropy(model(augment(train_x[idx], gen)), train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
        model.eval()
        with torch.no_grad():
            val_acc = float((model(val_x).argmax(1) == val_y).float().mean())
        if epoch == 1:
            verify_spec(model, spec, val_x[:32])
        train_loss = float(np.mean(losses))
        save_checkpoint(model, os.path.join(args.out, f"epoch-{epoch:03d}.h5"), args.write_mode,
                        {"epoch": epoch, "step": step, "val_acc": val_acc, "train_loss": train_loss,
                         "lr": float(lr), "camwatch_model": spec_json})
        print(f"{epoch:5d} {step:5d} {lr:9.2e} {train_loss:7.4f} {val_acc:7.3f} {time.time() - t0:5.1f}",
              flush=True)
        if args.pace > 0 and epoch < args.epochs:
            time.sleep(args.pace)


if __name__ == "__main__":
    main()
