"""Measure how the sample run's Score-CAM heatmaps settle: the phenomenon `camwatch watch` reports.

For every checkpoint in --checkpoints (epoch-*.h5, in epoch order) the network is rebuilt from the
checkpoint alone (its `camwatch_model` spec, interpreted with torch by Scripts/fixtures/spec_runner.py)
and pytorch-grad-cam's ScoreCAM computes each probe's heatmap (target layer: --layer, default `block4`,
i.e. the last conv block's output; class: the probe's true class from probes.json) at input resolution.
Then, as camwatch defines it (docs/architecture.md §5), between consecutive checkpoints:

  drift(probe)    = 1 − Pearson r of the two heatmaps (both constant → 0, one constant → 1);
  l1              = mean |difference|;  iou20 = IoU of the top-20 % pixels of each heatmap;
  checkpoint drift = mean over probes (max also shown);  dw = ‖w_i − w_{i−1}‖ / ‖w_{i−1}‖ over all
  float tensors (num_batches_tracked excluded).

It prints that table next to the checkpoints' lr / train_loss / val_acc attributes; which (threshold,
patience) pairs call the run stable — drift < threshold for `patience` consecutive checkpoints — and at
which epoch, and whether drift later rises above threshold × hysteresis; and, for the last checkpoint,
how much of each probe's heatmap mass falls inside the object's bounding box compared with the box's
share of the image (and whether the heatmap's peak is inside). It saves a montage (probes with their
boxes, then heatmaps at a few epochs) to --montage.

Run (reference environment, after train_sample.py; about a minute):
    ~/.cache/camwatch-ref/bin/python Scripts/sample/check_drift.py
    ~/.cache/camwatch-ref/bin/python Scripts/sample/check_drift.py --checkpoints /tmp/run --json /tmp/drift.json
"""

import argparse
import glob
import json
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Scripts", "fixtures"))

import pytorch_grad_cam.score_cam  # noqa: E402
from pytorch_grad_cam import ScoreCAM  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402
from spec_runner import apply_op, resolve, run_spec  # noqa: E402

pytorch_grad_cam.score_cam.tqdm.tqdm = lambda it, *a, **k: it  # no progress bars per image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class SpecNet(nn.Module):
    """A checkpoint's spec as an nn.Module; the target layer's output passes through `self.tap`
    (an identity module) so that pytorch-grad-cam can hook it."""

    def __init__(self, spec, tensors, target):
        super().__init__()
        self.spec, self.tensors = spec, tensors
        self.target = resolve(spec, target)
        self.tap = nn.Identity()
        self._anchor = nn.Parameter(torch.zeros(1), requires_grad=False)  # BaseCAM reads the device

    def forward(self, x):
        def op(layer, ins, w):
            y = apply_op(layer, ins, w)
            return self.tap(y) if layer["name"] == self.target else y
        return run_spec(self.spec, self.tensors, x, op_fn=op)[0]


def load_checkpoint(path):
    """(spec, {name: float tensor}, root attributes) of an HDF5 checkpoint (flat or nested names)."""
    tensors, attrs = {}, {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not name.endswith("num_batches_tracked"):
                tensors[name.replace("/", ".")] = torch.from_numpy(np.asarray(obj[()], dtype=np.float32))
        f.visititems(visit)
        for k, v in f.attrs.items():
            attrs[k] = v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v
    return json.loads(attrs["camwatch_model"]), tensors, attrs


def load_probes(directory):
    """(manifest list, float32 [N, 3, H, W] preprocessed like camwatch's default, uint8 [N, H, W, 3])."""
    from PIL import Image
    with open(os.path.join(directory, "probes.json")) as f:
        manifest = json.load(f)
    images = np.stack([np.asarray(Image.open(os.path.join(directory, p["file"])).convert("RGB"))
                       for p in manifest])
    x = (images.astype(np.float32) / np.float32(255.0) - MEAN) / STD
    return manifest, torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), images


def drift(a, b):
    """1 − Pearson r; both constant → 0, one constant → 1."""
    sa, sb = a.std(), b.std()
    if sa == 0 and sb == 0:
        return 0.0
    if sa == 0 or sb == 0:
        return 1.0
    return float(1.0 - np.corrcoef(a.ravel(), b.ravel())[0, 1])


def top_iou(a, b, frac=0.2):
    k = int(round(a.size * frac))
    ta = np.zeros(a.size, bool)
    tb = np.zeros(b.size, bool)
    ta[np.argsort(-a.ravel(), kind="stable")[:k]] = True
    tb[np.argsort(-b.ravel(), kind="stable")[:k]] = True
    return float((ta & tb).sum() / (ta | tb).sum())


def stable_epoch(drifts, epochs, threshold, patience):
    """The epoch at which drift < threshold has held for `patience` consecutive checkpoints, or None.
    drifts[i] belongs to epochs[i + 1] (drift needs a previous checkpoint)."""
    run = 0
    for i, d in enumerate(drifts):
        run = run + 1 if d < threshold else 0
        if run >= patience:
            return epochs[i + 1]
    return None


def jet(v):
    """[H, W] in [0, 1] -> uint8 RGB, matplotlib's jet."""
    v = np.clip(v, 0, 1)
    r = np.clip(1.5 - np.abs(4 * v - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * v - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * v - 1), 0, 1)
    return (np.stack([r, g, b], -1) * 255).astype(np.uint8)


def montage(path, images, manifest, heatmaps, epochs, shown, scale=2):
    """Rows: probes. Columns: the probe with its box, then its heatmap over the image at `shown` epochs."""
    from PIL import Image, ImageDraw
    n, h, w = heatmaps.shape[1:]
    cols = 1 + len(shown)
    pad, top = 4, 14
    W, H = w * scale, h * scale
    sheet = Image.new("RGB", (cols * (W + pad) + pad, top + len(manifest) * (H + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((pad, 1), "probe", fill="black")
    for j, e in enumerate(shown):
        draw.text((pad + (j + 1) * (W + pad), 1), f"epoch {e}", fill="black")
    for i, p in enumerate(manifest):
        y = top + i * (H + pad)
        img = Image.fromarray(images[i]).resize((W, H), Image.NEAREST)
        d = ImageDraw.Draw(img)
        x0, y0, x1, y1 = p["bbox"]
        d.rectangle([x0 * scale, y0 * scale, x1 * scale - 1, y1 * scale - 1], outline=(255, 255, 255))
        sheet.paste(img, (pad, y))
        for j, e in enumerate(shown):
            hm = heatmaps[epochs.index(e), i]
            over = (0.5 * images[i] + 0.5 * jet(hm)).astype(np.uint8)
            tile = Image.fromarray(over).resize((W, H), Image.NEAREST)
            ImageDraw.Draw(tile).rectangle([x0 * scale, y0 * scale, x1 * scale - 1, y1 * scale - 1],
                                           outline=(255, 255, 255))
            sheet.paste(tile, (pad + (j + 1) * (W + pad), y))
    sheet.save(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoints", default=os.path.join(ROOT, "Checkpoints"))
    ap.add_argument("--probes", default=os.path.join(ROOT, "Probes"))
    ap.add_argument("--layer", default="block4")
    ap.add_argument("--montage", default="/tmp/camwatch-sample-montage.png")
    ap.add_argument("--json", help="also write per-checkpoint, per-probe numbers here")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    manifest, x, images = load_probes(args.probes)
    paths = sorted(glob.glob(os.path.join(args.checkpoints, "epoch-*.h5")))
    if len(paths) < 2:
        sys.exit(f"{args.checkpoints}: need at least two epoch-*.h5 checkpoints")

    epochs, attrs_list, heatmaps, preds, dws = [], [], [], [], []
    prev_tensors = None
    for path in paths:
        spec, tensors, attrs = load_checkpoint(path)
        net = SpecNet(spec, tensors, args.layer)
        cam = ScoreCAM(model=net, target_layers=[net.tap])
        cam.batch_size = 64
        hm = cam(input_tensor=x, targets=[ClassifierOutputTarget(p["class"]) for p in manifest])
        with torch.no_grad():
            preds.append(net(x).argmax(1).numpy())
        heatmaps.append(hm)
        epochs.append(int(attrs["epoch"]))
        attrs_list.append(attrs)
        if prev_tensors is not None:
            num = sum(float(((tensors[k] - prev_tensors[k]) ** 2).sum()) for k in tensors)
            den = sum(float((prev_tensors[k] ** 2).sum()) for k in tensors)
            dws.append(np.sqrt(num / den))
        prev_tensors = tensors
    heatmaps = np.stack(heatmaps)  # [checkpoints, probes, H, W]
    n_ck, n_pr = heatmaps.shape[:2]

    d = np.array([[drift(heatmaps[i - 1, p], heatmaps[i, p]) for p in range(n_pr)] for i in range(1, n_ck)])
    l1 = np.abs(heatmaps[1:] - heatmaps[:-1]).mean(axis=(2, 3))
    iou = np.array([[top_iou(heatmaps[i - 1, p], heatmaps[i, p]) for p in range(n_pr)] for i in range(1, n_ck)])
    mean_drift = d.mean(axis=1)

    print(f"{len(paths)} checkpoints in {args.checkpoints}, {n_pr} probes, Score-CAM target {args.layer}\n")
    print(f"{'epoch':>5} {'lr':>9} {'loss':>7} {'val_acc':>7} {'probes ok':>9} {'dw':>7} "
          f"{'drift':>7} {'max':>6} {'l1':>6} {'iou20':>6}")
    for i, a in enumerate(attrs_list):
        ok = int((preds[i] == np.array([p["class"] for p in manifest])).sum())
        head = f"{epochs[i]:5d} {a['lr']:9.2e} {a['train_loss']:7.4f} {a['val_acc']:7.3f} {ok:5d}/{n_pr:<3d}"
        if i == 0:
            print(head)
        else:
            print(f"{head} {dws[i - 1]:7.4f} {mean_drift[i - 1]:7.4f} {d[i - 1].max():6.3f} "
                  f"{l1[i - 1].mean():6.3f} {iou[i - 1].mean():6.3f}")

    third = n_ck - (n_ck // 3)
    early = mean_drift[:n_ck // 3 - 1]
    late = mean_drift[third - 1:]
    print(f"\nmean drift, first third (epochs {epochs[1]}–{epochs[n_ck // 3 - 1]}): {early.mean():.4f} "
          f"(min {early.min():.4f});  last third (epochs {epochs[third]}–{epochs[-1]}): {late.mean():.4f} "
          f"(max {late.max():.4f})")

    print("\nconvergence: epoch at which drift < threshold for `patience` consecutive checkpoints "
          "(— never; * = drift later exceeds threshold × 1.5)")
    thresholds = [0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.1]
    print("threshold " + "".join(f"  p={p:<4d}" for p in (1, 2, 3, 4, 5)))
    for t in thresholds:
        cells = []
        for p in (1, 2, 3, 4, 5):
            e = stable_epoch(mean_drift, epochs, t, p)
            if e is None:
                cells.append(f"{'—':>8s}")
            else:
                after = mean_drift[epochs.index(e):]
                flag = "*" if (after > 1.5 * t).any() else " "
                cells.append(f"{e:7d}{flag}")
        print(f"{t:9.3f} " + "".join(cells))

    print(f"\nlocalization at epoch {epochs[-1]}: heatmap mass inside the bbox vs the bbox's area share")
    print(f"{'probe':30s} {'pred':>8s} {'mass in':>8s} {'area':>6s} {'ratio':>6s} {'peak in':>7s}")
    final = heatmaps[-1]
    labels = {p["class"]: p["label"] for p in manifest}
    fracs, areas, peaks = [], [], []
    for i, p in enumerate(manifest):
        x0, y0, x1, y1 = p["bbox"]
        hm = final[i]
        inside = np.zeros_like(hm, bool)
        inside[y0:y1, x0:x1] = True
        mass = float(hm[inside].sum() / max(hm.sum(), 1e-12))
        area = float(inside.mean())
        py, px = np.unravel_index(np.argmax(hm), hm.shape)
        peak = bool(inside[py, px])
        fracs.append(mass)
        areas.append(area)
        peaks.append(peak)
        c = int(preds[-1][i])
        pred = labels.get(c, str(c)) if c != p["class"] else "ok"
        print(f"{p['id']:30s} {pred:>8s} "
              f"{mass:8.3f} {area:6.3f} {mass / area:6.1f} {'yes' if peak else 'no':>7s}")
    print(f"{'mean':30s} {'':8s} {np.mean(fracs):8.3f} {np.mean(areas):6.3f} "
          f"{np.mean(np.array(fracs) / np.array(areas)):6.1f} {sum(peaks):4d}/{len(peaks)}")

    shown = sorted(set([epochs[0], epochs[1], epochs[2], epochs[len(epochs) // 4], epochs[len(epochs) // 2],
                        epochs[(3 * len(epochs)) // 4], epochs[-2], epochs[-1]]))
    montage(args.montage, images, manifest, heatmaps, epochs, shown)
    print(f"\nmontage: {args.montage}")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"epochs": epochs, "probes": [p["id"] for p in manifest],
                       "val_acc": [float(a["val_acc"]) for a in attrs_list],
                       "lr": [float(a["lr"]) for a in attrs_list],
                       "drift": d.tolist(), "l1": l1.tolist(), "iou20": iou.tolist(), "dw": dws,
                       "bbox_mass": fracs, "bbox_area": areas, "peak_in_bbox": peaks}, f, indent=1)


if __name__ == "__main__":
    main()
