"""Forward-pass benchmark: camwatch's engine vs PyTorch CPU on torchvision resnet18, batch 16 at 224x224.

    Scripts/reference-env.sh
    swift build -c release
    ~/.cache/camwatch-ref/bin/python Benchmarks/forward_bench.py [BINARY] [--rounds 7] [--threads 2]

BINARY defaults to .build/release/camwatch. The same weights (torchvision resnet18, torch.manual_seed(0)
default init, randomized BN running statistics, exported with h5py to a temporary file) run in both.

Measurement, interleaved so machine noise hits both sides alike: PyTorch first does one warm-up forward;
then each round times --per-round PyTorch forwards (torch.set_num_threads(THREADS), torch.no_grad(),
time.perf_counter) and runs one `camwatch bench forward --weights F --arch resnet18 --batch 16
--input-size 224 --repeat PER_ROUND --threads THREADS --json` process, which does its own warm-up pass
and reports `{"seconds": [...]}` per timed forward (process start and weight loading are not timed).
Prints every sample, both medians and the ratio camwatch / PyTorch (below 1: camwatch is faster).
Inputs differ (PyTorch: torch.randn; camwatch: its own seeded uniform batch); a dense CNN's cost does
not depend on the values.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Scripts"))
import refcommon  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary", nargs="?", default=refcommon.DEFAULT_BINARY)
    ap.add_argument("--arch", default="resnet18", choices=["resnet18", "resnet34", "resnet50", "vgg16", "mobilenet_v2",
                                                           "alexnet"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds (>= 5)")
    ap.add_argument("--per-round", type=int, default=1, help="timed forwards per side per round")
    args = ap.parse_args()
    refcommon.require_binary(args.binary)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    print(refcommon.machine_header(args.binary), flush=True)

    import torch
    import torchvision
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = refcommon.randomize_bn_stats(getattr(torchvision.models, args.arch)(weights=None), seed=1,
                                         size=args.size)
    x = torch.randn(args.batch, 3, args.size, args.size)

    with tempfile.TemporaryDirectory(prefix="camwatch-bench-") as work:
        weights = os.path.join(work, f"{args.arch}.h5")
        refcommon.save_state_dict_h5(model.state_dict(), weights, arch=args.arch)
        cmd = ["bench", "forward", "--weights", weights, "--arch", args.arch, "--batch", str(args.batch),
               "--input-size", str(args.size), "--repeat", str(args.per_round), "--threads", str(args.threads),
               "--json"]
        torch_s, cam_s = [], []
        with torch.no_grad():
            model(x)                                    # warm-up
            for r in range(args.rounds):
                for _ in range(args.per_round):
                    t0 = time.perf_counter()
                    model(x)
                    torch_s.append(time.perf_counter() - t0)
                try:
                    out = refcommon.run_camwatch(args.binary, cmd)
                except RuntimeError as e:
                    sys.exit(f"error: {e}")
                cam_s.extend(float(s) for s in out["seconds"])
                print(f"round {r + 1}/{args.rounds}: PyTorch {torch_s[-1]:.3f} s, camwatch "
                      f"{' '.join(f'{float(s):.3f}' for s in out['seconds'])} s", flush=True)

    tm, cm = statistics.median(torch_s), statistics.median(cam_s)
    print(f"\n{args.arch} forward, batch {args.batch} at {args.size}x{args.size}, {args.threads} threads, "
          f"torch {torch.__version__} ({os.cpu_count()} CPUs visible)")
    print(f"PyTorch  median {tm:.3f} s over {len(torch_s)} (min {min(torch_s):.3f}, max {max(torch_s):.3f})")
    print(f"camwatch median {cm:.3f} s over {len(cam_s)} (min {min(cam_s):.3f}, max {max(cam_s):.3f})")
    print(f"ratio camwatch / PyTorch = {cm / tm:.2f}")


if __name__ == "__main__":
    main()
