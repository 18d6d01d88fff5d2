"""What camwatch costs a trainer beside it: a small PyTorch training job's epoch time with and without
`camwatch watch` running on its checkpoint directory, interleaved in one run.

    swift build -c release
    ~/.cache/camwatch-ref/bin/python Benchmarks/trainer_cost_bench.py [BINARY] [--rounds 3]
        [--epochs-per-block 2] [--priority idle|low|normal] [--threads N] [--images 1536]

BINARY defaults to .build/release/camwatch. The trainer is the job of the report that asked for this
measurement: torchvision resnet18, 10 classes, 48x48 inputs (a synthetic task: a coloured square whose
colour and position give the class, on noise), SGD, batch 32, torch on every core, data in memory (no
loader processes). After every epoch it saves a checkpoint exactly as the `save_checkpoint`
snippet of docs/formats.md does (state_dict datasets; root attributes epoch, step, val_acc, lr, arch, input_size, mean, std),
written to a temporary name and renamed. 8 probes (48x48 PNGs of the same task) with a probes.json.

camwatch runs as `camwatch watch CKPT --probes PROBES --out OUT` for the whole run (with a config file
holding `resources:` when --priority/--threads are given; otherwise its defaults), in its own process group.
The epochs come in blocks of --epochs-per-block; blocks alternate between "on" (camwatch running) and "off"
(camwatch's process group stopped with SIGSTOP: it exists, holds its memory, and takes no CPU), in the
order off-on, on-off, off-on, ... so that drift in the machine's load hits both sides alike. One warm-up
epoch (off) comes first and is not counted. An epoch's time includes saving its checkpoint.

Printed: the CPU model and core count, torch's version and threads, camwatch's settings, every epoch's
time, the median epoch time off and on and their ratio (the figure: camwatch's cost to the trainer), the
CPU seconds camwatch used while on, and then, with the trainer finished ("paused"), how long camwatch took
to catch up: every checkpoint `ok` in report.json (the run fails if one is missing or failed).
"""

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import torch
import torchvision

CLASSES = 10
SIZE = 48
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def make_images(count, seed):
    """Uint8 images [count, 48, 48, 3] and labels: class c = a square of colour c % 5 in half c // 5."""
    rng = np.random.default_rng(seed)
    palette = np.array([[230, 40, 40], [40, 200, 40], [40, 80, 230], [230, 210, 40], [200, 40, 200]], np.float32)
    images = rng.normal(110, 35, size=(count, SIZE, SIZE, 3)).clip(0, 255).astype(np.float32)
    labels = rng.integers(0, CLASSES, size=count)
    for i, label in enumerate(labels):
        side = int(rng.integers(12, 20))
        top = int(rng.integers(0, SIZE - side))
        half = label // 5
        left = int(rng.integers(0, SIZE // 2 - side // 2)) + half * (SIZE // 2 - side // 2)
        left = min(left, SIZE - side)
        images[i, top:top + side, left:left + side] = palette[label % 5]
    return images.astype(np.uint8), labels


def to_tensor(images):
    x = torch.from_numpy(images).float().div(255).permute(0, 3, 1, 2)
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def save_checkpoint(model, path, epoch, step, val_acc, lr):
    """The snippet of docs/formats.md, "PyTorch checkpoints"."""
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        for name, tensor in model.state_dict().items():
            f.create_dataset(name, data=tensor.detach().cpu().numpy())
        f.attrs["epoch"], f.attrs["step"], f.attrs["val_acc"], f.attrs["lr"] = epoch, step, val_acc, lr
        f.attrs["arch"] = "resnet18"
        f.attrs["input_size"] = SIZE
        f.attrs["mean"], f.attrs["std"] = MEAN, STD
    os.replace(tmp, path)


def write_probes(directory):
    from PIL import Image
    os.makedirs(directory, exist_ok=True)
    images, labels = make_images(8, seed=99)
    manifest = []
    for i, (image, label) in enumerate(zip(images, labels)):
        name = f"probe{i}.png"
        Image.fromarray(image).save(os.path.join(directory, name))
        manifest.append({"id": f"probe{i}", "file": name, "class": int(label)})
    with open(os.path.join(directory, "probes.json"), "w") as f:
        json.dump(manifest, f)


def process_cpu_seconds(pid):
    """utime + stime of a process and its waited-for children, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = sum(int(v) for v in fields[11:15])
        return ticks / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def report_status(out):
    try:
        with open(os.path.join(out, "report.json")) as f:
            report = json.load(f)
    except (OSError, ValueError):
        return {}
    return {c["name"]: c["status"] for c in report.get("checkpoints", [])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("binary", nargs="?", default=".build/release/camwatch")
    parser.add_argument("--rounds", type=int, default=3, help="pairs of blocks (off+on)")
    parser.add_argument("--epochs-per-block", type=int, default=2)
    parser.add_argument("--images", type=int, default=1536, help="training images per epoch")
    parser.add_argument("--priority", choices=["idle", "low", "normal"], help="resources.priority (default: camwatch's)")
    parser.add_argument("--threads", type=int, help="resources.threads (default: camwatch's)")
    parser.add_argument("--catch-up-timeout", type=float, default=1800)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary}: not an executable (swift build -c release first)")

    work = tempfile.mkdtemp(prefix="camwatch-trainer-bench-")
    ckpt, probes, out = (os.path.join(work, d) for d in ("checkpoints", "probes", "out"))
    os.makedirs(ckpt)
    write_probes(probes)
    command = [binary, "watch", ckpt, "--probes", probes, "--out", out]
    resources = {k: v for k, v in (("priority", args.priority), ("threads", args.threads)) if v is not None}
    if resources:
        config = os.path.join(work, "camwatch.yaml")
        with open(config, "w") as f:
            f.write("resources: {" + ", ".join(f"{k}: {v}" for k, v in resources.items()) + "}\n")
        command += ["--config", config]

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=CLASSES)
    train_images, train_labels = make_images(args.images, seed=1)
    val_images, val_labels = make_images(256, seed=2)
    x_train, y_train = to_tensor(train_images), torch.from_numpy(train_labels)
    x_val, y_val = to_tensor(val_images), torch.from_numpy(val_labels)
    lr = 0.05
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    step = 0

    def epoch(number):
        nonlocal step
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(x_train))
        for i in range(0, len(order), 32):
            batch = order[i:i + 32]
            optimizer.zero_grad()
            loss_fn(model(x_train[batch]), y_train[batch]).backward()
            optimizer.step()
            step += 1
        model.eval()
        with torch.no_grad():
            val_acc = float((model(x_val).argmax(1) == y_val).float().mean())
        save_checkpoint(model, os.path.join(ckpt, f"epoch-{number:03d}.h5"), number, step, val_acc, lr)
        return time.perf_counter() - start, val_acc

    print(f"CPU: {cpu_model()}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; resnet18, {CLASSES} classes, "
          f"{SIZE}x{SIZE}, {args.images} images per epoch, batch 32")
    print(f"camwatch: {' '.join(command[:1] + command[1:2])} ... resources: {resources or 'defaults'}")
    camwatch = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "camwatch.log"), "w"),
                                start_new_session=True)
    camwatch_on = True

    def set_camwatch(on):
        nonlocal camwatch_on
        if on != camwatch_on:
            os.killpg(camwatch.pid, signal.SIGCONT if on else signal.SIGSTOP)
            camwatch_on = on

    times = {"off": [], "on": []}
    cpu_on = 0.0
    number = 1
    set_camwatch(False)
    warmup, _ = epoch(number)
    print(f"epoch {number:3d}  warm-up  {warmup:6.2f} s")
    for round_index in range(args.rounds):
        order = ["off", "on"] if round_index % 2 == 0 else ["on", "off"]
        for side in order:
            set_camwatch(side == "on")
            cpu_before = process_cpu_seconds(camwatch.pid)
            for _ in range(args.epochs_per_block):
                number += 1
                seconds, val_acc = epoch(number)
                times[side].append(seconds)
                print(f"epoch {number:3d}  {side:7s}  {seconds:6.2f} s  val_acc {val_acc:.3f}", flush=True)
            if side == "on":
                cpu_on += process_cpu_seconds(camwatch.pid) - cpu_before
            if camwatch.poll() is not None:
                sys.exit(f"camwatch exited with status {camwatch.returncode}; see {work}/camwatch.log")

    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    done_at_pause = sum(1 for s in report_status(out).values() if s == "ok")
    print(f"median epoch: off {off:.2f} s, on {on:.2f} s; ratio on/off {on / off:.3f} "
          f"({len(times['on'])} epochs each side); camwatch used {cpu_on:.1f} CPU-s while on "
          f"({cpu_on / sum(times['on']):.2f} cores)")

    # The trainer pauses: camwatch must now catch up with every checkpoint.
    set_camwatch(True)
    names = sorted(n for n in os.listdir(ckpt) if n.endswith(".h5"))
    start = time.perf_counter()
    status = {}
    while time.perf_counter() - start < args.catch_up_timeout:
        status = report_status(out)
        if all(n in status for n in names) or camwatch.poll() is not None:
            break
        time.sleep(1)
    catch_up = time.perf_counter() - start
    os.killpg(camwatch.pid, signal.SIGTERM)
    camwatch.wait(timeout=60)
    ok = sum(1 for n in names if status.get(n) == "ok")
    print(f"trainer paused with {done_at_pause}/{len(names)} checkpoints analysed; camwatch caught up in "
          f"{catch_up:.1f} s: {ok}/{len(names)} ok; load average {os.getloadavg()[0]:.2f} at the end")
    print(f"RESULT ratio {on / off:.3f} off {off:.2f} on {on:.2f} caught_up {ok}/{len(names)} in {catch_up:.0f} s "
          f"CPU '{cpu_model()}'")
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if ok != len(names):
        sys.exit(f"camwatch did not catch up: {ok}/{len(names)} checkpoints ok")


if __name__ == "__main__":
    main()
