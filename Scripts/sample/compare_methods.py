"""Watches the sample run once with each of two CAM methods and draws their drift side by side.

    swift build -c release
    ~/.cache/camwatch-ref/bin/python Scripts/sample/compare_methods.py [BINARY] [--methods scorecam gradcam]
        [--out docs/methods-drift.png] [--threads 2]

For each method: `camwatch watch Checkpoints --probes Probes --out <tmp>/<method> --once` with a config holding
`saliency: {method: M}` (and `resources: {priority: normal, threads: T}`), then reads report.json. The figure
has one panel per method (mean and max saliency drift per epoch on a log axis, the epoch the run was called
stable marked) and a panel of the seconds each checkpoint took (report.json `seconds`: loading, the CAM of
all 10 probes, drift) for every method. Prints per method: the total and median seconds per checkpoint,
the stable epoch, and the Pearson r between the methods' mean-drift curves.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import refcommon  # noqa: E402

NAMES = {"scorecam": "Score-CAM", "gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "xgradcam": "XGrad-CAM",
         "layercam": "LayerCAM", "hirescam": "HiResCAM", "eigencam": "Eigen-CAM", "sscam": "SS-CAM",
         "iscam": "IS-CAM"}


def watch(binary, method, work, threads):
    out = os.path.join(work, method)
    config = os.path.join(work, f"{method}.yaml")
    with open(config, "w") as f:
        f.write(f"saliency: {{method: {method}}}\nresources: {{priority: normal, threads: {threads}}}\n")
    subprocess.run([binary, "watch", os.path.join(refcommon.ROOT, "Checkpoints"), "--probes",
                    os.path.join(refcommon.ROOT, "Probes"), "--out", out, "--once", "--config", config],
                   check=True, capture_output=True)
    with open(os.path.join(out, "report.json")) as f:
        return json.load(f)


def series(report):
    ok = [c for c in report["checkpoints"] if c["status"] == "ok"]
    epochs = [c["epoch"] for c in ok]
    mean = [c["drift"]["mean"] if c["drift"] else None for c in ok]
    peak = [c["drift"]["max"] if c["drift"] else None for c in ok]
    seconds = [c["seconds"] for c in ok]
    stable = report["convergence"].get("converged_at")
    stable_epoch = next((c["epoch"] for c in ok if c["id"] == stable or c["name"] == stable), None)
    return epochs, mean, peak, seconds, stable_epoch


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary", nargs="?", default=refcommon.DEFAULT_BINARY)
    ap.add_argument("--methods", nargs="+", default=["scorecam", "gradcam"], choices=sorted(NAMES))
    ap.add_argument("--out", default=os.path.join(refcommon.ROOT, "docs", "methods-drift.png"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    refcommon.require_binary(args.binary)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    with tempfile.TemporaryDirectory(prefix="camwatch-methods-") as work:
        data = {m: series(watch(args.binary, m, work, args.threads)) for m in args.methods}
    fig, axes = plt.subplots(1, len(args.methods) + 1, figsize=(5 * (len(args.methods) + 1), 3.8), dpi=110)
    for ax, method in zip(axes, args.methods):
        epochs, mean, peak, seconds, stable = data[method]
        xs = [e for e, v in zip(epochs, mean) if v is not None]
        ax.semilogy(xs, [v for v in mean if v is not None], "o-", label="mean drift", color="tab:blue")
        ax.semilogy(xs, [v for v in peak if v is not None], "s--", label="max drift", color="tab:orange", alpha=0.7)
        if stable is not None:
            ax.axvline(stable, color="tab:green", linestyle=":", label=f"stable at epoch {stable}")
        ax.set_title(f"{NAMES[method]}: median {statistics.median(seconds):.2f} s / checkpoint")
        ax.set_xlabel("epoch")
        ax.set_ylabel("saliency drift (1 - Pearson r)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    ax = axes[-1]
    for method in args.methods:
        epochs, _, _, seconds, _ = data[method]
        ax.plot(epochs, seconds, "o-", label=NAMES[method])
    ax.set_yscale("log")
    ax.set_title("seconds per checkpoint (10 probes)")
    ax.set_xlabel("epoch")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")
    for method in args.methods:
        epochs, mean, _, seconds, stable = data[method]
        print(f"{NAMES[method]}: {sum(seconds):.1f} s in all, median {statistics.median(seconds):.3f} s per checkpoint, "
              f"stable at epoch {stable}")
    if len(args.methods) >= 2:
        a, b = (np.array([v for v in data[m][1] if v is not None]) for m in args.methods[:2])
        if len(a) == len(b):
            print(f"mean-drift curves {args.methods[0]} vs {args.methods[1]}: Pearson r = "
                  f"{refcommon.pearson(np.log(a), np.log(b)):.3f} (of log drift)")


if __name__ == "__main__":
    main()
