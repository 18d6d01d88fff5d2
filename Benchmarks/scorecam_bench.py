"""Score-CAM benchmark: `camwatch explain` vs pytorch-grad-cam's ScoreCAM at 224x224 on one photo.

    ../shared/tools/reference-env.sh
    swift build -c release
    ~/.cache/camwatch-ref/bin/python Benchmarks/scorecam_bench.py [BINARY] [--arch resnet18 --arch vgg16 ...]
                                                                   [--rounds 3] [--threads 2]

BINARY defaults to .build/release/camwatch. Architectures and target layers: resnet18 `layer4` (default),
vgg16 `features.29`, mobilenet_v2 `features.18` (add with --arch; vgg16 takes minutes per pgc run).
Weights: torchvision default init (torch.manual_seed(0)) with randomized BN running statistics, exported
with h5py. Image: skimage.data.astronaut() saved as a 224x224 PNG (no resize inside camwatch); class =
PyTorch's argmax, passed to both.

What is timed, interleaved round by round (median over --rounds):
- camwatch: wall time of the whole `camwatch explain PNG --weights F --arch A --layer L --class C --json
  --quiet --threads T` process (start-up, weight loading and PNG decoding included: conservative for
  camwatch). Its peak RSS is that process's ru_maxrss from os.wait4(), taken by a small launcher process
  (refcommon.launch_measured): spawned straight from this torch-laden interpreter, a child's ru_maxrss
  starts at the parent's RSS on Linux, and camwatch's would read as this script's ~450 MiB.
- pgc: only the `ScoreCAM(model, [module])(x, [ClassifierOutputTarget(C)])` call (default batch size 16),
  in a worker process (this script with --pgc-worker, also started through the launcher) that imports
  torch and loads the model before the first timed call and waits on stdin between calls, with
  torch.set_num_threads(T). Its peak RSS is the worker's own ru_maxrss; the worker also reports its RSS
  before the first call (imports + model), so the extra memory of Score-CAM itself is visible.
Prints the medians, the ratio camwatch / pgc (below 1: camwatch is faster), both peak RSS, and the Pearson r
and max |d| between the two heatmaps.
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

LAYERS = {"resnet18": "layer4", "vgg16": "features.29", "mobilenet_v2": "features.18"}


def load_model(arch, weights=None):
    import h5py
    import numpy as np
    import torch
    import torchvision
    torch.manual_seed(0)
    model = refcommon.randomize_bn_stats(getattr(torchvision.models, arch)(weights=None), seed=1)
    if weights is not None:
        with h5py.File(weights, "r") as f:
            model.load_state_dict({k: torch.from_numpy(np.asarray(f[k][()])) for k in model.state_dict()})
    return model.eval()


def pgc_worker(arch, weights, png, cls, threads, heatmap_out):
    """Child process: load everything, then one timed ScoreCAM call per 'run' line on stdin."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    import numpy as np
    import torch
    from PIL import Image
    from pytorch_grad_cam import ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    torch.set_num_threads(threads)
    model = load_model(arch, weights)
    module = model.get_submodule(LAYERS[arch])
    x = torch.from_numpy(refcommon.preprocess(np.asarray(Image.open(png).convert("RGB"), dtype=np.uint8)))
    print(json.dumps({"ready": True, "rss_mb": refcommon.own_peak_rss_mb()}), flush=True)
    heat = None
    for line in sys.stdin:
        if line.strip() != "run":
            break
        t0 = time.perf_counter()
        with ScoreCAM(model=model, target_layers=[module]) as cam:
            heat = cam(input_tensor=x, targets=[ClassifierOutputTarget(cls)])[0]
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


def bench(arch, args, work):
    import numpy as np
    import torch
    layer = LAYERS[arch]
    model = load_model(arch)
    weights = os.path.join(work, f"{arch}.h5")
    refcommon.save_state_dict_h5(model.state_dict(), weights, arch=arch)
    png = os.path.join(work, "astronaut.png")
    refcommon.save_png(refcommon.photo("astronaut", 224, 224), png)
    with torch.no_grad():
        from PIL import Image
        x = torch.from_numpy(refcommon.preprocess(np.asarray(Image.open(png).convert("RGB"), dtype=np.uint8)))
        cls = int(model(x)[0].argmax())
    del model

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    heat_file = os.path.join(work, f"{arch}-pgc.npy")
    worker = refcommon.launch_measured([sys.executable, os.path.abspath(__file__), "--pgc-worker", arch, weights, png,
                                        str(cls), str(args.threads), heat_file], os.path.join(work, "pgc.stats"),
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    ready = json.loads(worker.stdout.readline())
    cmd = [args.binary, "explain", png, "--weights", weights, "--arch", arch, "--layer", layer, "--class", str(cls),
           "--json", "--quiet", "--threads", str(args.threads)]
    cam_s, cam_rss, pgc_s, pgc_rss = [], [], [], []
    ours = None
    try:
        for r in range(args.rounds):
            s, rss, out = run_camwatch_timed(cmd, env, work)
            cam_s.append(s)
            cam_rss.append(rss)
            res = out["results"][0]
            ours = np.array(res["heatmap"], dtype=np.float32).reshape(res["height"], res["width"])
            worker.stdin.write("run\n")
            worker.stdin.flush()
            msg = json.loads(worker.stdout.readline())
            pgc_s.append(msg["seconds"])
            pgc_rss.append(msg["rss_mb"])
            print(f"{arch} round {r + 1}/{args.rounds}: camwatch {s:.2f} s ({rss:.0f} MiB), "
                  f"pgc {msg['seconds']:.2f} s ({msg['rss_mb']:.0f} MiB)", flush=True)
    finally:
        worker.stdin.close()
        worker.wait()
    heat = np.load(heat_file)
    cm, pm = statistics.median(cam_s), statistics.median(pgc_s)
    r = refcommon.pearson(ours, heat) if ours is not None and ours.shape == heat.shape else float("nan")
    d = float(np.abs(ours - heat).max()) if ours is not None and ours.shape == heat.shape else float("nan")
    print(f"\n{arch} {layer}, 224x224, class {cls}, {args.threads} threads, {args.rounds} rounds")
    print(f"camwatch explain (whole process)  median {cm:.2f} s, peak RSS {max(cam_rss):.0f} MiB")
    print(f"pgc ScoreCAM call                 median {pm:.2f} s, peak RSS {max(pgc_rss):.0f} MiB "
          f"(worker after imports + model: {ready['rss_mb']:.0f} MiB)")
    print(f"ratio camwatch / pgc: time {cm / pm:.2f}, peak RSS {max(cam_rss) / max(pgc_rss):.2f}")
    print(f"heatmaps: Pearson r = {r:.6f}, max |d| = {d:.2e}\n")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--pgc-worker":
        arch, weights, png, cls, threads, heat_out = sys.argv[2:8]
        pgc_worker(arch, weights, png, int(cls), int(threads), heat_out)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary", nargs="?", default=refcommon.DEFAULT_BINARY)
    ap.add_argument("--arch", action="append", choices=sorted(LAYERS), help="repeatable; default resnet18")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    refcommon.require_binary(args.binary)
    with tempfile.TemporaryDirectory(prefix="camwatch-scorecam-bench-") as work:
        for arch in args.arch or ["resnet18"]:
            bench(arch, args, work)


if __name__ == "__main__":
    main()
