"""Score-CAM benchmark: `camwatch explain` vs pytorch-grad-cam's and torch-cam's ScoreCAM at 224x224 on one photo.

    Scripts/reference-env.sh
    swift build -c release
    ~/.cache/camwatch-ref/bin/python Benchmarks/scorecam_bench.py [BINARY] [--arch resnet18 --arch vgg16 ...]
        [--rounds 5] [--rounds-for vgg16=1] [--threads 2] [--no-torchcam] [--markdown]
        [--method gradcam --method gradcam++ ...]

Run on demand, not in CI (vgg16 alone takes ~4 min per pytorch-grad-cam call on 2 cores). BINARY defaults to
.build/release/camwatch. Architectures and target layers (all three by default): resnet18 `layer4`, vgg16
`features.29`, mobilenet_v2 `features.18`; with --arch also efficientnet_b0, convnext_tiny and mobilenet_v3_large
at `features`, regnet_y_400mf at `trunk_output` (pgc's recommended modules), densenet121 at
`features.denseblock4` (DenseNet's in-place ReLU after `features` alters what pgc's hooks keep there). Weights: torchvision default init (torch.manual_seed(0)) with
randomized BN running statistics, exported with h5py. Image: skimage.data.astronaut() saved as a 224x224
PNG (no resize inside camwatch); class = PyTorch's argmax, passed to all three.

What is timed, interleaved round by round (median over the rounds; --rounds-for ARCH=N overrides --rounds):
- camwatch: wall time of the whole `camwatch explain PNG --weights F --arch A --layer L --class C --json
  --quiet --threads T` process (start-up, weight loading and PNG decoding included: conservative for
  camwatch). Its peak RSS is that process's ru_maxrss from os.wait4(), taken by a small launcher process
  (refcommon.launch_measured): spawned straight from this torch-laden interpreter, a child's ru_maxrss
  starts at the parent's RSS on Linux, and camwatch's would read as this script's ~450 MiB.
- pgc: only the `ScoreCAM(model, [module])(x, [ClassifierOutputTarget(C)])` call (default batch size 16),
  in a worker process (this script with --worker pgc, also started through the launcher) that imports
  torch and loads the model before the first timed call and waits on stdin between calls, with
  torch.set_num_threads(T). Its peak RSS is the worker's own ru_maxrss (imports + model + Score-CAM); the
  worker also reports its RSS before the first call.
- torch-cam: the same for `torchcam.methods.ScoreCAM(model, L, batch_size=16)`: the hooked forward of the
  image and the extractor call (--worker torchcam). torch-cam's definition differs from pgc's (masks
  normalized over all channels, softmax of score differences to a baseline), so its heatmap agreement is
  printed for information only; its 7x7 map is resized bilinearly (half-pixel) and min-max scaled.

Also printed per model: the Pearson r and max |d| of camwatch's heatmap against pgc's, and camwatch's
effective rate: the direct-convolution FLOPs Score-CAM needs by definition ((K + 1) forward passes of one
image, K = channels of the target layer; 2 FLOPs per multiply-add of every Conv2d and Linear, counted with
forward hooks) divided by camwatch's median wall time, beside this machine's sgemm rate measured in the same
run by `camwatch bench sgemm` (1024^3; T products at once on single-threaded BLAS, as Score-CAM runs, and one
product on T BLAS threads; the better of the two is shown). --markdown ends with one table row per model.

--method M (repeatable; gradcam, gradcam++, xgradcam, layercam, hirescam, eigencam, sscam, iscam) adds, per
model, a row per method: camwatch's `bench cam` (in-process: preparing the method for the network and
explaining the image; per round a fresh process makes one untimed call, then 3 timed calls whose median is the
round's figure) against the peer's call of the same method in a worker as above (also the median of 3 calls per
round, the worker staying up), with a second's pause before each side (pytorch-grad-cam's GradCAM, GradCAMPlusPlus, XGradCAM, LayerCAM, HiResCAM,
EigenCAM; torch-cam's SSCAM and ISCAM, which pytorch-grad-cam lacks), interleaved round by round, with the
heatmap agreement (torch-cam's 7x7 maps resized as above; SS-CAM is random, so its r is informational).
With --method the Score-CAM rows run only when `scorecam` is among the methods.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Scripts"))
import refcommon  # noqa: E402

LAYERS = {"resnet18": "layer4", "vgg16": "features.29", "mobilenet_v2": "features.18",
          # Families beyond the three defaults, at the module pytorch-grad-cam recommends as the target.
          "efficientnet_b0": "features", "convnext_tiny": "features", "densenet121": "features.denseblock4",
          "mobilenet_v3_large": "features", "regnet_y_400mf": "trunk_output"}
PEERS = ("pgc", "torchcam")
PGC_METHODS = {"scorecam": "ScoreCAM", "gradcam": "GradCAM", "gradcam++": "GradCAMPlusPlus", "xgradcam": "XGradCAM",
               "layercam": "LayerCAM", "hirescam": "HiResCAM", "eigencam": "EigenCAM"}
TORCHCAM_METHODS = {"scorecam": "ScoreCAM", "sscam": "SSCAM", "iscam": "ISCAM"}
# --method rows: calls per side and round (a round's figure is their median); both sides are warm.
CALLS_PER_ROUND = 3


def load_model(arch, weights=None):
    import h5py
    import numpy as np
    import torch
    import torchvision
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None)
    if arch in ("resnet18", "vgg16", "mobilenet_v2"):  # the statistics of every earlier figure of these three
        model = refcommon.randomize_bn_stats(model, seed=1)
    else:  # measured on photos: noise leaves EfficientNet's logits at 10^4 and its heatmaps meaningless
        model = refcommon.randomize_bn_stats(model, seed=1, images=refcommon.calibration_batch(224))
    if weights is not None:
        with h5py.File(weights, "r") as f:
            model.load_state_dict({k: torch.from_numpy(np.asarray(f[k][()])) for k in model.state_dict()})
    return model.eval()


def direct_flops(model, x):
    """2 x multiply-adds of every Conv2d and Linear for one forward pass of x (batch 1)."""
    import torch
    total = [0]

    def conv_hook(m, _, out):
        total[0] += 2 * out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear_hook(m, _, out):
        total[0] += 2 * out.numel() * m.in_features

    handles = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    handles += [m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return total[0]


def worker(kind, arch, weights, png, cls, threads, heatmap_out):
    """Child process: load everything, then one timed CAM call per 'run' line on stdin (kind = pgc or
    torchcam, optionally `:method`, Score-CAM by default)."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    kind, _, method = kind.partition(":")
    method = method or "scorecam"
    import numpy as np
    import torch
    from PIL import Image
    torch.set_num_threads(threads)
    model = load_model(arch, weights)
    x = torch.from_numpy(refcommon.preprocess(np.asarray(Image.open(png).convert("RGB"), dtype=np.uint8)))
    if kind == "pgc":
        import pytorch_grad_cam
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
        module = model.get_submodule(LAYERS[arch])
        method_class = getattr(pytorch_grad_cam, PGC_METHODS[method])

        def call():
            with method_class(model=model, target_layers=[module]) as cam:
                return cam(input_tensor=x, targets=[ClassifierOutputTarget(cls)])[0]
    else:
        import torch.nn.functional as F
        import torchcam.methods
        method_class = getattr(torchcam.methods, TORCHCAM_METHODS[method])

        def call():
            with method_class(model, LAYERS[arch], batch_size=16) as extractor:
                with torch.no_grad():
                    model(x)
                low = extractor(class_idx=cls)[0]
            up = F.interpolate(low.reshape(1, 1, *low.shape[-2:]), size=x.shape[2:], mode="bilinear",
                               align_corners=False)[0, 0]
            up = up - up.min()
            return (up / (up.max() + 1e-7)).numpy()
    print(json.dumps({"ready": True, "rss_mb": refcommon.own_peak_rss_mb()}), flush=True)
    heat = None
    for line in sys.stdin:
        if line.strip() != "run":
            break
        t0 = time.perf_counter()
        heat = call()
        seconds = time.perf_counter() - t0
        print(json.dumps({"seconds": seconds, "rss_mb": refcommon.own_peak_rss_mb()}), flush=True)
    if heat is not None:
        np.save(heatmap_out, heat)


def run_camwatch_timed(cmd, env, work):
    """(wall seconds, peak RSS MiB, parsed JSON stdout) of one camwatch process (through the launcher)."""
    stats = os.path.join(work, "camwatch.stats")
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = refcommon.launch_measured(cmd, stats, stdout=out, stderr=err, env=env)
        proc.wait()
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"camwatch exited {proc.returncode}: {err.read().strip()}")
        seconds, rss = refcommon.read_measured(stats)
        return seconds, rss, json.loads(out.read())


def sgemm_rate(binary, threads, env):
    """This machine's best sgemm GFLOP/s now: T single-threaded products at once, or one on T threads."""
    rates = []
    for extra in (["--workers", str(threads)], ["--threads", str(threads)]):
        out = refcommon.run_camwatch(binary, ["bench", "sgemm", "--size", "1024", "--repeat", "5", "--json", *extra],
                                     env=env)
        rates.append(float(out["gflops"]))
    return max(rates)


def prepare(arch, work):
    """The model, its weights file, the 224x224 PNG, its input tensor and the argmax class for one architecture."""
    import numpy as np
    import torch
    from PIL import Image
    model = load_model(arch)
    weights = os.path.join(work, f"{arch}.h5")
    refcommon.save_state_dict_h5(model.state_dict(), weights, arch=arch)
    png = os.path.join(work, "astronaut.png")
    refcommon.save_png(refcommon.photo("astronaut", 224, 224), png)
    x = torch.from_numpy(refcommon.preprocess(np.asarray(Image.open(png).convert("RGB"), dtype=np.uint8)))
    with torch.no_grad():
        cls = int(model(x)[0].argmax())
    return model, weights, png, x, cls


def bench(arch, rounds, args, work):
    import numpy as np
    layer = LAYERS[arch]
    model, weights, png, x, cls = prepare(arch, work)
    channels = []
    handle = model.get_submodule(layer).register_forward_hook(lambda m, i, o: channels.append(o.shape[1]))
    flops_per_pass = direct_flops(model, x)
    handle.remove()
    passes = channels[0] + 1
    del model

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    sgemm = sgemm_rate(args.binary, args.threads, env)
    peers = [p for p in PEERS if p != "torchcam" or not args.no_torchcam]
    workers, ready, heat_files = {}, {}, {}
    for peer in peers:
        heat_files[peer] = os.path.join(work, f"{arch}-{peer}.npy")
        workers[peer] = refcommon.launch_measured(
            [sys.executable, os.path.abspath(__file__), "--worker", peer, arch, weights, png, str(cls),
             str(args.threads), heat_files[peer]], os.path.join(work, f"{peer}.stats"),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        ready[peer] = json.loads(workers[peer].stdout.readline())
    cmd = [args.binary, "explain", png, "--weights", weights, "--arch", arch, "--layer", layer, "--class", str(cls),
           "--json", "--quiet", "--threads", str(args.threads)]
    seconds = {p: [] for p in ["camwatch", *peers]}
    rss = {p: [] for p in ["camwatch", *peers]}
    ours = None
    try:
        for r in range(rounds):
            s, m, out = run_camwatch_timed(cmd, env, work)
            seconds["camwatch"].append(s)
            rss["camwatch"].append(m)
            res = out["results"][0]
            ours = np.array(res["heatmap"], dtype=np.float32).reshape(res["height"], res["width"])
            for peer in peers:
                workers[peer].stdin.write("run\n")
                workers[peer].stdin.flush()
                msg = json.loads(workers[peer].stdout.readline())
                seconds[peer].append(msg["seconds"])
                rss[peer].append(msg["rss_mb"])
            print(f"{arch} round {r + 1}/{rounds}: "
                  + ", ".join(f"{p} {seconds[p][-1]:.2f} s ({rss[p][-1]:.0f} MiB)" for p in seconds), flush=True)
    finally:
        for w in workers.values():
            w.stdin.close()
            w.wait()
    med = {p: statistics.median(v) for p, v in seconds.items()}
    peak = {p: max(v) for p, v in rss.items()}
    agreement = {}
    for peer in peers:
        heat = np.load(heat_files[peer])
        if ours is not None and ours.shape == heat.shape:
            agreement[peer] = (refcommon.pearson(ours, heat), float(np.abs(ours - heat).max()))
        else:
            agreement[peer] = (float("nan"), float("nan"))
    effective = flops_per_pass * passes / med["camwatch"] / 1e9
    print(f"\n{arch} {layer}, 224x224, class {cls}, {args.threads} threads, {rounds} rounds, "
          f"{passes} forward passes of {flops_per_pass / 1e9:.2f} GFLOP")
    print(f"camwatch explain (whole process)  median {med['camwatch']:.2f} s (min {min(seconds['camwatch']):.2f}), "
          f"peak RSS {peak['camwatch']:.0f} MiB")
    names = {"pgc": "pgc ScoreCAM call", "torchcam": "torch-cam ScoreCAM call"}
    for peer in peers:
        print(f"{names[peer]:<34}median {med[peer]:.2f} s (min {min(seconds[peer]):.2f}), peak RSS {peak[peer]:.0f} MiB "
              f"(worker after imports + model: {ready[peer]['rss_mb']:.0f} MiB)")
    for peer in peers:
        print(f"ratio camwatch / {peer}: time {med['camwatch'] / med[peer]:.2f}, "
              f"peak RSS {peak['camwatch'] / peak[peer]:.2f}")
    r, d = agreement["pgc"]
    print(f"heatmap vs pgc: Pearson r = {r:.6f}, max |d| = {d:.2e}")
    if "torchcam" in agreement:
        print(f"heatmap vs torch-cam (different definition): Pearson r = {agreement['torchcam'][0]:.4f}")
    print(f"camwatch effective {effective:.1f} GFLOP/s (direct-convolution FLOPs / wall time); "
          f"machine sgemm {sgemm:.1f} GFLOP/s\n", flush=True)
    return {"arch": arch, "layer": layer, "rounds": rounds, "med": med, "peak": peak, "r": r, "d": d,
            "effective": effective, "sgemm": sgemm}


def bench_method(arch, method, rounds, args, work):
    """camwatch's in-process call of one CAM method against the peer's call of the same method."""
    import numpy as np
    layer = LAYERS[arch]
    _, weights, png, _, cls = prepare(arch, work)
    peer = "pgc" if method in PGC_METHODS else "torchcam"
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    heat_file = os.path.join(work, f"{arch}-{method}-{peer}.npy")
    proc = refcommon.launch_measured(
        [sys.executable, os.path.abspath(__file__), "--worker", f"{peer}:{method}", arch, weights, png, str(cls),
         str(args.threads), heat_file], os.path.join(work, f"{peer}-{method}.stats"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    json.loads(proc.stdout.readline())
    cmd = ["bench", "cam", png, "--weights", weights, "--arch", arch, "--layer", layer, "--class", str(cls),
           "--method", method, "--repeat", str(CALLS_PER_ROUND), "--threads", str(args.threads)]
    ours_seconds, peer_seconds, ours = [], [], None
    try:
        for r in range(rounds):
            # A second's pause before each side: PyTorch's OpenMP threads spin for a while after a call, and a
            # sub-second call started in that window measures the spinning, not itself.
            time.sleep(1)
            out = refcommon.run_camwatch(args.binary, cmd, env=env)
            ours_seconds.append(statistics.median(out["seconds"]))
            ours = np.array(out["heatmap"], dtype=np.float32).reshape(out["height"], out["width"])
            time.sleep(1)
            calls = []
            for _ in range(CALLS_PER_ROUND):
                proc.stdin.write("run\n")
                proc.stdin.flush()
                calls.append(json.loads(proc.stdout.readline())["seconds"])
            peer_seconds.append(statistics.median(calls))
            print(f"{arch} {method} round {r + 1}/{rounds}: camwatch {ours_seconds[-1]:.3f} s, "
                  f"{peer} {peer_seconds[-1]:.3f} s", flush=True)
    finally:
        proc.stdin.close()
        proc.wait()
    heat = np.load(heat_file)
    r = refcommon.pearson(ours, heat) if ours is not None and ours.shape == heat.shape else float("nan")
    med, peer_med = statistics.median(ours_seconds), statistics.median(peer_seconds)
    print(f"{arch} {layer} {method}: camwatch median {med:.3f} s, {peer} median {peer_med:.3f} s, "
          f"ratio {med / peer_med:.2f}, heatmap r = {r:.5f}\n", flush=True)
    return {"arch": arch, "layer": layer, "method": method, "peer": peer, "rounds": rounds, "camwatch": med,
            "peer_seconds": peer_med, "r": r}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, arch, weights, png, cls, threads, heat_out = sys.argv[2:9]
        worker(kind, arch, weights, png, int(cls), int(threads), heat_out)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary", nargs="?", default=refcommon.DEFAULT_BINARY)
    ap.add_argument("--arch", action="append", choices=sorted(LAYERS), help="repeatable; default all three")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rounds-for", action="append", default=[], metavar="ARCH=N", help="e.g. vgg16=1")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-torchcam", action="store_true")
    ap.add_argument("--markdown", action="store_true", help="end with a Markdown table")
    ap.add_argument("--method", action="append", choices=sorted(set(PGC_METHODS) | set(TORCHCAM_METHODS)),
                    help="repeatable: rows of this CAM method beside the peer's same method")
    args = ap.parse_args()
    refcommon.require_binary(args.binary)
    per_arch = {}
    for item in args.rounds_for:
        arch, _, n = item.partition("=")
        if arch not in LAYERS or not n.isdigit() or int(n) < 1:
            ap.error(f"--rounds-for wants ARCH=N with ARCH in {sorted(LAYERS)}, got {item!r}")
        per_arch[arch] = int(n)
    print(refcommon.machine_header(args.binary), flush=True)
    rows, method_rows = [], []
    with tempfile.TemporaryDirectory(prefix="camwatch-scorecam-bench-") as work:
        for arch in args.arch or ["resnet18", "mobilenet_v2", "vgg16"]:
            rounds = per_arch.get(arch, args.rounds)
            if not args.method or "scorecam" in args.method:
                rows.append(bench(arch, rounds, args, work))
            for method in [m for m in args.method or [] if m != "scorecam"]:
                method_rows.append(bench_method(arch, method, rounds, args, work))
    if args.markdown and method_rows:
        names = {"pgc": "pytorch-grad-cam", "torchcam": "torch-cam"}
        print("| model, layer (rounds) | method | camwatch | peer (same method) | ratio | r vs peer |")
        print("|---|---|---|---|---|---|")
        for x in method_rows:
            print(f"| {x['arch']} `{x['layer']}` ({x['rounds']}) | {x['method']} | {x['camwatch']:.3f} s | "
                  f"{names[x['peer']]} {x['peer_seconds']:.3f} s | {x['camwatch'] / x['peer_seconds']:.2f} | "
                  f"{x['r']:.5f} |")
    if args.markdown and rows:
        tc = not args.no_torchcam
        print("| model, layer (rounds) | camwatch | pytorch-grad-cam | ratio | " + ("torch-cam | ratio | " if tc else "")
              + "peak RSS camwatch / pgc | r vs pgc | camwatch GFLOP/s (sgemm) |")
        print("|---|---|---|---|" + ("---|---|" if tc else "") + "---|---|---|")
        for x in rows:
            m, p = x["med"], x["peak"]
            tcc = f"{m['torchcam']:.1f} s | {m['camwatch'] / m['torchcam']:.2f} | " if tc else ""
            print(f"| {x['arch']} `{x['layer']}` ({x['rounds']}) | {m['camwatch']:.1f} s | {m['pgc']:.1f} s | "
                  f"{m['camwatch'] / m['pgc']:.2f} | {tcc}{p['camwatch']:.0f} / {p['pgc']:.0f} MiB = "
                  f"{p['camwatch'] / p['pgc']:.2f} | {x['r']:.6f} | {x['effective']:.0f} ({x['sgemm']:.0f}) |")


if __name__ == "__main__":
    main()
