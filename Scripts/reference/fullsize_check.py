"""Full-size check of camwatch against PyTorch (and pytorch-grad-cam) on torchvision resnet18 and mobilenet_v2,
and with --families on one model of every other torchvision CNN family (FAMILIES below).

    Scripts/reference-env.sh
    swift build -c release
    ~/.cache/camwatch-ref/bin/python Scripts/reference/fullsize_check.py [BINARY] [--scorecam] [--metrics] [--keep DIR]
        [--families | --arch A ...]
        [--methods [--methods-photos 2] [--method gradcam ...] [--sscam-runs 4 --sscam-samples 35]]

BINARY defaults to .build/release/camwatch. Not run in CI (it needs the reference environment and takes
a minute or two with --scorecam).

What it does:
1. Builds torchvision resnet18 and mobilenet_v2 (weights=None, torch.manual_seed(0) default init) with
   randomized BatchNorm running statistics (calibrated on smooth random images, then perturbed: see
   refcommon.randomize_bn_stats; purely random ones leave mobilenet_v2's output independent of the
   image), and exports each state_dict with h5py exactly as a user would
   (one dataset per key, attribute `arch`) into a temporary directory.
2. Saves skimage.data photos (astronaut, chelsea, coffee, rocket) as 224x224 RGB PNGs (centre crop +
   PIL bilinear resize), so camwatch does not resize them; Python reads the same PNGs back and applies
   camwatch's default preprocessing (x/255, ImageNet mean/std).
3. `camwatch predict PNG... --weights F --arch NAME --json` and compares every logit with PyTorch:
   prints max |d| per model and fails if it exceeds 1e-3 (--logit-atol).
4. With --scorecam: `camwatch explain PNG --weights F --arch NAME --layer L --class C --json` at
   resnet18 `layer4` and mobilenet_v2 `features.18`, against pytorch-grad-cam's
   `ScoreCAM(model, [module])(x, [ClassifierOutputTarget(C)])` with C = PyTorch's argmax. Prints Pearson r
   and max |d| per photo (the first 2, --scorecam-photos); fails if r < 0.999 (--min-r) or max |d| > 1e-3 (--heatmap-atol). Also prints
   max |cv2.resize - F.interpolate(bilinear, align_corners=False)| on pgc's own 7x7 map (pgc resizes
   with cv2).
5. With --metrics: `camwatch explain PNG … --metrics energy,drop,deletion,insertion --bbox 40,60,150,180 --json`
   on the first photo (--metrics-photos) of each model, and the references computed on camwatch's own
   heatmap (its JSON output): the energy pointing game by formula and by a transcription of the Score-CAM
   authors' energy_point_game, Y and O from pytorch-grad-cam's CamMultImageConfidenceChange
   (ClassifierOutputSoftmaxTarget), deletion/insertion AUC by the transcription of
   Scripts/fixtures/make_metric_fixtures.py (step 224, RISE's blur). Fails if any differs by more than
   1e-4 (--metric-atol); prints camwatch's seconds with and without the metrics.
6. With --methods: `camwatch explain ... --method M` for each method (--method, repeatable; default the six
   pytorch-grad-cam methods and iscam) on the first --methods-photos photos, at the same layers and classes:
   gradcam, gradcam++, xgradcam, layercam, hirescam against pytorch-grad-cam's class of that name called
   as above; eigencam against pytorch-grad-cam's EigenCAM pipeline on the sign-corrected projection
   (get_2d_projection_with_sign_correction; its shipped EigenCAM keeps LAPACK's sign, printed beside);
   iscam and sscam against torch-cam's ISCAM / SSCAM map (7x7) finished as pytorch-grad-cam finishes a
   map (ReLU, min-max, cv2.resize, min-max), which is what camwatch does to its own. SS-CAM is random:
   the means over --sscam-runs runs each (camwatch seeds 0, 1, ...; torch-cam torch seeds 0, 1, ...,
   --sscam-samples noise samples) are compared, and pass at r >= 0.99. Fails if r < --min-r (0.999) for
   the others.
Exit status 0 when every comparison passes, 1 otherwise, 2 when camwatch fails to run.
"""

import argparse
import os
import shutil
import sys
import tempfile

os.environ.setdefault("TQDM_DISABLE", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures"))
import refcommon  # noqa: E402

MODELS = {"resnet18": "layer4", "mobilenet_v2": "features.18"}
# One model per other family of torchvision's CNNs (--families), each at the module pytorch-grad-cam's README
# recommends as the target (camwatch resolves a module path to the module's output) — except DenseNet: its
# forward applies F.relu(inplace=True) to the output of `features`, so pgc's hooks there keep the ReLU'd tensor as
# the activations while the gradients are those of the tensor before it (r = 0.86 against the module's output, the
# map camwatch explains); `features.denseblock4`, which nothing modifies in place, is compared instead.
FAMILIES = {
    "alexnet": "features", "convnext_tiny": "features", "densenet121": "features.denseblock4", "efficientnet_b0": "features",
    "efficientnet_v2_s": "features", "googlenet": "inception5b", "inception_v3": "Mixed_7c", "mnasnet1_0": "layers",
    "mobilenet_v3_large": "features", "regnet_y_400mf": "trunk_output", "resnext50_32x4d": "layer4",
    "shufflenet_v2_x1_0": "conv5", "squeezenet1_1": "features", "vgg16_bn": "features", "wide_resnet50_2": "layer4",
}


def build(arch):
    torch.manual_seed(0)
    extra = {"init_weights": True} if arch in ("googlenet", "inception_v3") else {}
    model = getattr(torchvision.models, arch)(weights=None, **extra)
    if arch in MODELS:  # the statistics every earlier figure of these two was measured with
        return refcommon.randomize_bn_stats(model, seed=1).eval()
    size = 299 if arch == "inception_v3" else 224
    return refcommon.randomize_bn_stats(model, seed=1, size=size, images=refcommon.calibration_batch(size)).eval()


def load_png(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)


def by_image(results, paths):
    """camwatch's results, in the order of `paths` (matched on the `image` field, by basename)."""
    table = {os.path.basename(r["image"]): r for r in results}
    missing = [p for p in paths if os.path.basename(p) not in table]
    if missing:
        raise RuntimeError(f"camwatch returned no result for {missing}")
    return [table[os.path.basename(p)] for p in paths]


def pgc_scorecam(model, layer, x, c):
    """pgc's heatmap [H, W] and its low-resolution map (for the cv2 vs interpolate check)."""
    from pytorch_grad_cam import ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    captured = {}

    class Capturing(ScoreCAM):
        def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
            w = super().get_cam_weights(input_tensor, target_layer, targets, activations, grads)
            captured["low"] = np.maximum((w[:, :, None, None] * activations).sum(axis=1)[0], 0)
            return w

    with Capturing(model=model, target_layers=[model.get_submodule(layer)]) as cam:
        heat = cam(input_tensor=x, targets=[ClassifierOutputTarget(c)])[0]
    low = captured["low"] - captured["low"].min()
    low = np.float32(low / (1e-7 + low.max()))
    h, w = x.shape[-2:]
    t = F.interpolate(torch.from_numpy(low)[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
    return heat, float(np.abs(cv2.resize(low, (w, h)) - t.numpy()).max())


BOX = [40, 60, 150, 180]


def check_metrics(args, arch, layer, model, weights, png, extra):
    """camwatch's four metrics on one photo against the references on its own heatmap; the failure count,
    or None when camwatch fails to run."""
    import time
    from make_metric_fixtures import causal, energy_authors, energy_formula, rise_kernel, blur
    from pytorch_grad_cam.metrics.cam_mult_image import CamMultImageConfidenceChange
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    base = ["explain", png, "--weights", weights, "--arch", arch, "--layer", layer, "--json", "--quiet", *extra]
    try:
        start = time.monotonic()
        refcommon.run_camwatch(args.binary, base)
        plain = time.monotonic() - start
        start = time.monotonic()
        out = refcommon.run_camwatch(args.binary, base + ["--metrics", "energy,drop,deletion,insertion",
                                                          "--bbox", ",".join(map(str, BOX))])
        with_metrics = time.monotonic() - start
        r0 = by_image(out["results"], [png])[0]
        heat = np.array(r0["heatmap"], dtype=np.float32).reshape(r0["height"], r0["width"])
        got = r0["metrics"]
    except (RuntimeError, KeyError, ValueError) as e:
        print(f"{arch}: camwatch explain --metrics failed: {e}", file=sys.stderr)
        return None
    c = int(r0["class"])
    x = torch.from_numpy(refcommon.preprocess(load_png(png)))
    cam = CamMultImageConfidenceChange()
    target = [ClassifierOutputSoftmaxTarget(c)]
    with torch.no_grad():
        y = float(torch.softmax(model(x), dim=-1)[0, c])
    o = float(cam(x, heat[None], target, model, return_diff=False)[0])
    _, k2 = rise_kernel()
    w = x.shape[-1]
    refs = {
        "energy": energy_formula(heat, BOX),
        "energy (authors)": energy_authors(BOX, torch.from_numpy(heat.T.copy())),
        "confidence (Y)": y,
        "explanation_confidence (O, pgc)": o,
        "drop": max(0.0, y - o) / y,
        "deletion": causal(model, x, heat, c, "del", w, None)[1],
        "insertion": causal(model, x, heat, c, "ins", w, blur(x, k2))[1],
    }
    keys = {"energy (authors)": "energy", "confidence (Y)": "confidence",
            "explanation_confidence (O, pgc)": "explanation_confidence"}
    failures = 0
    for name, ref in refs.items():
        ours = float(got[keys.get(name, name)])
        d = abs(ours - ref)
        ok = d <= args.metric_atol
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {arch} metrics {os.path.basename(png)} class {c} {name}: camwatch {ours:.6f}, "
              f"reference {ref:.6f}, |d| = {d:.1e}")
    print(f"     {arch} explain {os.path.basename(png)}: {plain:.2f} s without metrics, {with_metrics:.2f} s with all four")
def finish_like_pgc(low, h, w):
    """pgc's finishing of a map: ReLU, min-max (1e-7), cv2.resize to (w, h), min-max."""
    low = np.maximum(np.float32(low), 0)
    low = low - low.min()
    low = low / (1e-7 + low.max())
    high = cv2.resize(np.float32(low), (w, h))
    high = high - high.min()
    return high / (1e-7 + high.max())


def reference_method(model, layer, x, c, method, seed=0, samples=None):
    """The reference heatmap [H, W] of one method, and a note."""
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection_with_sign_correction
    module = model.get_submodule(layer)
    h, w = x.shape[-2:]
    names = {"gradcam": "GradCAM", "gradcam++": "GradCAMPlusPlus", "xgradcam": "XGradCAM", "layercam": "LayerCAM",
             "hirescam": "HiResCAM"}
    if method in names:
        with getattr(pytorch_grad_cam, names[method])(model=model, target_layers=[module]) as cam:
            return cam(input_tensor=x, targets=[ClassifierOutputTarget(c)])[0], ""
    if method == "eigencam":
        acts = {}
        handle = module.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o.detach().numpy()))
        with torch.no_grad():
            model(x)
        handle.remove()
        corrected = finish_like_pgc(get_2d_projection_with_sign_correction(acts["a"])[0], h, w)
        with pytorch_grad_cam.EigenCAM(model=model, target_layers=[module]) as cam:
            shipped = cam(input_tensor=x, targets=None)[0]
        return corrected, f"shipped EigenCAM r = {refcommon.pearson(shipped, corrected):+.3f} against it"
    import torchcam.methods
    torch.manual_seed(seed)
    kind = torchcam.methods.ISCAM if method == "iscam" else torchcam.methods.SSCAM
    kwargs = {"num_samples": samples} if samples else {}
    with kind(model, layer, batch_size=16, input_shape=tuple(x.shape[1:]), **kwargs) as extractor:
        low = extractor(class_idx=c, scores=model(x))[0][0].detach().numpy()
    return finish_like_pgc(low, h, w), ""


def check_methods(args, model, arch, layer, weights, pngs, x, ref, extra):
    """--methods: every method's heatmap against its reference; returns the number of failures (or None
    when camwatch fails to run)."""
    failures = 0
    for i, png in enumerate(pngs[:args.methods_photos]):
        c = int(ref[i].argmax())
        for method in args.method or ["gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "eigencam", "iscam"]:
            runs = args.sscam_runs if method == "sscam" else 1
            samples = ["--samples", str(args.sscam_samples)] if method == "sscam" else []
            ours, theirs, note = 0, 0, ""
            for run in range(runs):
                try:
                    out = refcommon.run_camwatch(args.binary, [
                        "explain", png, "--weights", weights, "--arch", arch, "--layer", layer, "--class", str(c),
                        "--method", method, "--seed", str(run), "--json", "--quiet", *samples, *extra])
                except RuntimeError as e:
                    print(f"{arch}: camwatch explain --method {method} failed: {e}", file=sys.stderr)
                    return None
                r0 = by_image(out["results"], [png])[0]
                ours = ours + np.array(r0["heatmap"], dtype=np.float32).reshape(r0["height"], r0["width"]) / runs
                heat, note = reference_method(model, layer, x[i:i + 1], c, method, seed=run,
                                              samples=args.sscam_samples if method == "sscam" else None)
                theirs = theirs + heat / runs
            r = refcommon.pearson(ours, theirs)
            limit = 0.99 if method == "sscam" else args.min_r
            ok = r >= limit
            failures += not ok
            mean = f" (means of {runs} runs)" if runs > 1 else ""
            print(f"{'ok  ' if ok else 'FAIL'} {arch} {method} {layer} {os.path.basename(png)} class {c}: "
                  f"r = {r:.6f}{mean}, max |d| = {float(np.abs(ours - theirs).max()):.2e}{'; ' + note if note else ''}",
                  flush=True)
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary", nargs="?", default=refcommon.DEFAULT_BINARY)
    ap.add_argument("--scorecam", action="store_true", help="also compare Score-CAM heatmaps with pgc")
    ap.add_argument("--photos", type=int, default=len(refcommon.PHOTOS), help="photos for predict (1-4)")
    ap.add_argument("--scorecam-photos", type=int, default=2, help="photos for --scorecam (pgc takes ~1 min each)")
    ap.add_argument("--logit-atol", type=float, default=1e-3)
    ap.add_argument("--min-r", type=float, default=0.999)
    ap.add_argument("--heatmap-atol", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=None, help="passed to camwatch and torch")
    ap.add_argument("--keep", metavar="DIR", help="write the checkpoints and PNGs here and keep them")
    ap.add_argument("--metrics", action="store_true", help="also check the heatmap metrics against references")
    ap.add_argument("--metrics-photos", type=int, default=1, help="photos for --metrics")
    ap.add_argument("--metric-atol", type=float, default=1e-4)
    ap.add_argument("--methods", action="store_true", help="compare the other CAM methods with their references")
    ap.add_argument("--method", action="append", help="with --methods: only these (repeatable)")
    ap.add_argument("--methods-photos", type=int, default=2)
    ap.add_argument("--arch", action="append", choices=sorted({**MODELS, **FAMILIES}),
                    help="only these models (repeatable)")
    ap.add_argument("--families", action="store_true", help="one model of every other torchvision CNN family")
    ap.add_argument("--sscam-runs", type=int, default=4)
    ap.add_argument("--sscam-samples", type=int, default=35)
    args = ap.parse_args()
    refcommon.require_binary(args.binary)
    if args.threads:
        torch.set_num_threads(args.threads)
    work = args.keep or tempfile.mkdtemp(prefix="camwatch-fullsize-")
    os.makedirs(work, exist_ok=True)
    # The photos are 224×224; --input-size keeps camwatch there for inception_v3 too, whose default is 299.
    extra = ["--input-size", "224"] + (["--threads", str(args.threads)] if args.threads else [])
    failures = 0
    try:
        pngs = []
        for name in refcommon.PHOTOS[:args.photos]:
            path = os.path.join(work, f"{name}.png")
            refcommon.save_png(refcommon.photo(name, 224, 224), path)
            pngs.append(path)
        x = torch.from_numpy(np.concatenate([refcommon.preprocess(load_png(p)) for p in pngs]))

        for arch, layer in ({**FAMILIES} if args.families else {**MODELS, **FAMILIES}).items():
            if (args.arch and arch not in args.arch) or (not args.arch and not args.families and arch not in MODELS):
                continue
            model = build(arch)
            weights = os.path.join(work, f"{arch}.h5")
            refcommon.save_state_dict_h5(model.state_dict(), weights, arch=arch)
            with torch.no_grad():
                ref = model(x).numpy()
            try:
                out = refcommon.run_camwatch(args.binary, ["predict", *pngs, "--weights", weights, "--arch", arch,
                                                           "--json", *extra])
                got = np.array([r["logits"] for r in by_image(out["results"], pngs)], dtype=np.float32)
            except (RuntimeError, KeyError) as e:
                print(f"{arch}: camwatch predict failed: {e}", file=sys.stderr)
                return 2
            if got.shape != ref.shape:
                print(f"FAIL {arch}: logits shape {got.shape}, PyTorch {ref.shape}")
                failures += 1
                continue
            d = float(np.abs(got - ref).max())
            same = int((got.argmax(1) == ref.argmax(1)).sum())
            ok = d <= args.logit_atol
            failures += not ok
            # Default-initialized nets give small, weakly input-dependent logits (mobilenet_v2: |logit| ~ 0.1),
            # so also show the error relative to the logits' spread across the photos.
            spread = float(np.abs(ref - ref.mean(0)).max())
            print(f"{'ok  ' if ok else 'FAIL'} {arch} predict: max |d logits| = {d:.2e} (limit {args.logit_atol:g}; "
                  f"max |logit| {np.abs(ref).max():.3f}, spread across photos {spread:.3f}; "
                  f"argmax agrees on {same}/{len(pngs)})")

            if args.metrics:
                for png in pngs[:args.metrics_photos]:
                    result = check_metrics(args, arch, layer, model, weights, png, extra)
                    if result is None:
                        return 2
                    failures += result
            if args.methods:
                found = check_methods(args, model, arch, layer, weights, pngs, x, ref, extra)
                if found is None:
                    return 2
                failures += found
            if not args.scorecam:
                continue
            for i, png in enumerate(pngs[:args.scorecam_photos]):
                c = int(ref[i].argmax())
                heat, cv_d = pgc_scorecam(model, layer, x[i:i + 1], c)
                try:
                    out = refcommon.run_camwatch(args.binary, ["explain", png, "--weights", weights, "--arch", arch,
                                                               "--layer", layer, "--class", str(c), "--json",
                                                               "--quiet", *extra])
                    r0 = by_image(out["results"], [png])[0]
                    ours = np.array(r0["heatmap"], dtype=np.float32).reshape(r0["height"], r0["width"])
                except (RuntimeError, KeyError, ValueError) as e:
                    print(f"{arch}: camwatch explain failed: {e}", file=sys.stderr)
                    return 2
                if ours.shape != heat.shape:
                    print(f"FAIL {arch} {layer} {os.path.basename(png)}: heatmap {ours.shape}, pgc {heat.shape}")
                    failures += 1
                    continue
                r = refcommon.pearson(ours, heat)
                d = float(np.abs(ours - heat).max())
                ok = r >= args.min_r and d <= args.heatmap_atol
                failures += not ok
                print(f"{'ok  ' if ok else 'FAIL'} {arch} explain {layer} {os.path.basename(png)} class {c}: "
                      f"r = {r:.6f}, max |d| = {d:.2e} (cv2 vs F.interpolate on pgc's map: {cv_d:.1e})")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("all comparisons passed" if failures == 0 else f"{failures} comparison(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
