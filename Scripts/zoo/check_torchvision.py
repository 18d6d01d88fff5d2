"""camwatch's logits against torchvision's for every CNN classification builder, loaded by name and through the
trainer-side helper.

    Scripts/reference-env.sh
    swift build -c release --product camwatch
    ~/.cache/camwatch-ref/bin/python Scripts/zoo/check_torchvision.py [BINARY] [--arch A ...] [--size 64]
        [--classes 7] [--no-helper] [--keep DIR]

BINARY defaults to .build/release/camwatch. Not run in CI: it builds all 68 architectures (some have hundreds of
millions of parameters) and takes about 20 minutes on 2 cores.

For each architecture of `torchvision.models.list_models(module=torchvision.models)` except the transformers:
1. builds it with `weights=None`, `num_classes=--classes` (so that the class count comes from the weights, not
   from ImageNet), `torch.manual_seed(0)`, and moves every BatchNorm's running statistics off identity
   (refcommon.randomize_bn_stats: measured on eight photos), as a trained network has them —
   statistics measured on noise leave EfficientNet so ill-conditioned that PyTorch's own float32 logits are 1e-2
   away from its float64 ones;
2. saves two photos at --size × --size (64 by default; inception_v3 at 96, its smallest valid size rounded up)
   as PNGs, so camwatch does not resize them, and PyTorch's eval-mode logits for them after camwatch's default
   preprocessing (x / 255, ImageNet mean and std);
3. writes the state_dict with h5py exactly as a user does, with root attributes `arch` and `input_size` only, and
   runs `camwatch predict PNG PNG --weights F --json` — no --arch, no --input-size: both come from the file;
4. unless --no-helper, writes the same model with `camwatch_torch.save_checkpoint` (the traced `camwatch_model`
   spec) and runs predict on that file too.
A check passes when max |camwatch − PyTorch| ≤ 1e-4 · max |PyTorch logit| (--rtol), PyTorch's logits computed in
float64 — or, where PyTorch's own float32 logits are further than that from its float64 ones (the deepest nets:
up to 2.7e-4), within twice PyTorch's own error. Each line shows both. One line per architecture
and file, a summary, exit status 0 only when every check passes (2 when camwatch cannot run at all).
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))
import refcommon  # noqa: E402

TRANSFORMERS = ("vit_", "swin_", "maxvit_")
# Sizes below the default for architectures that need more than --size to produce a valid map; inception_v3's
# stem alone needs 75 pixels, and its calibration forward (train mode) runs the auxiliary head, which needs about 299.
MIN_SIZE = {"inception_v3": 96}
CALIBRATION_SIZE = {"inception_v3": 299}


def cnn_builders():
    names = torchvision.models.list_models(module=torchvision.models)
    return sorted(n for n in names if not n.startswith(TRANSFORMERS))


def build(arch, classes):
    torch.manual_seed(0)
    kwargs = {"weights": None, "num_classes": classes}
    if arch in ("googlenet", "inception_v3"):
        kwargs["init_weights"] = True
    model = getattr(torchvision.models, arch)(**kwargs)
    size = CALIBRATION_SIZE.get(arch, 64)
    return refcommon.randomize_bn_stats(model, seed=1, size=size, images=refcommon.calibration_batch(size)).eval()


def compare(binary, arch, weights, pngs, ref, rtol, label, torch_error):
    start = time.monotonic()
    try:
        out = refcommon.run_camwatch(binary, ["predict", *pngs, "--weights", weights, "--json"])
        table = {os.path.basename(r["image"]): r for r in out["results"]}
        got = np.array([table[os.path.basename(p)]["logits"] for p in pngs], dtype=np.float32)
    except (RuntimeError, KeyError) as e:
        print(f"FAIL {arch:22s} {label:7s} camwatch predict failed: {e}")
        return False
    seconds = time.monotonic() - start
    if got.shape != ref.shape:
        print(f"FAIL {arch:22s} {label:7s} logits shape {got.shape}, PyTorch {ref.shape}")
        return False
    scale = float(np.abs(ref).max())
    rel = float(np.abs(got - ref).max()) / max(scale, 1e-12)
    # On these weights the deepest nets (resnet152, efficientnet_v2_l) are conditioned so that PyTorch's own float32
    # logits are up to 2.7e-4 from float64; two float32 implementations summing in different orders then differ by
    # a small multiple of that, so the bar is rtol or twice PyTorch's own error, whichever is larger.
    ok = rel <= max(rtol, 2 * torch_error)
    agree = int((got.argmax(1) == ref.argmax(1)).sum())
    print(f"{'ok  ' if ok else 'FAIL'} {arch:22s} {label:7s} max rel error {rel:.1e} (max |logit| {scale:.3f}, "
          f"PyTorch float32 {torch_error:.1e}; argmax agrees {agree}/{len(pngs)}, camwatch {seconds:.1f} s)", flush=True)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary", nargs="?", default=os.path.join(ROOT, ".build/release/camwatch"))
    ap.add_argument("--arch", action="append", help="check only these (repeatable)")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--classes", type=int, default=7)
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--no-helper", action="store_true", help="skip the camwatch_torch.save_checkpoint files")
    ap.add_argument("--keep", help="write the files here and keep them")
    args = ap.parse_args()
    refcommon.require_binary(args.binary)
    torch.set_num_threads(2)
    archs = args.arch or cnn_builders()
    if not args.no_helper:
        import camwatch_torch
    work = args.keep or tempfile.mkdtemp(prefix="camwatch-zoo-")
    os.makedirs(work, exist_ok=True)
    print(f"{refcommon.machine_header(args.binary)}\ntorchvision {torchvision.__version__}; "
          f"{len(archs)} architectures, {args.classes} classes", flush=True)
    failed = []
    try:
        for arch in archs:
            size = max(args.size, MIN_SIZE.get(arch, 0))
            pngs = []
            for name in ("astronaut", "chelsea"):
                path = os.path.join(work, f"{name}-{size}.png")
                if not os.path.exists(path):
                    refcommon.save_png(refcommon.photo(name, size, size), path)
                pngs.append(path)
            x = torch.from_numpy(np.concatenate([refcommon.preprocess(refcommon.photo(n, size, size))
                                                 for n in ("astronaut", "chelsea")]))
            model = build(arch, args.classes)
            with torch.no_grad():
                ref32 = model(x).numpy()
                # The reference is PyTorch in float64 (the exact answer the float32 results approximate): deep
                # EfficientNets are conditioned so that PyTorch's own float32 logits are up to 5e-5 off it.
                ref = model.double()(x.double()).float().numpy()
                model.float()
            torch_error = float(np.abs(ref32 - ref).max()) / max(float(np.abs(ref).max()), 1e-12)
            weights = os.path.join(work, f"{arch}.h5")
            refcommon.save_state_dict_h5(model.state_dict(), weights, arch=arch, input_size=[size, size])
            if not compare(args.binary, arch, weights, pngs, ref, args.rtol, "by name", torch_error):
                failed.append(f"{arch} (by name)")
            os.remove(weights)
            if not args.no_helper:
                traced = os.path.join(work, f"{arch}-traced.h5")
                try:
                    camwatch_torch.save_checkpoint(model, traced, input_size=(size, size))
                except ValueError as e:
                    print(f"FAIL {arch:22s} traced  save_checkpoint refused: {e}")
                    failed.append(f"{arch} (traced)")
                else:
                    if not compare(args.binary, arch, traced, pngs, ref, args.rtol, "traced", torch_error):
                        failed.append(f"{arch} (traced)")
                    os.remove(traced)
            del model
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    checks = len(archs) * (1 if args.no_helper else 2)
    print(f"{checks - len(failed)}/{checks} checks passed" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
