#!/usr/bin/env python3
"""Soak test: one `camwatch watch` daemon fed N checkpoints in a row; resources must stay flat.

Writes checkpoints the way a trainer does (a temporary name, then a rename) into a scratch directory, one at a
time, waiting until each is committed to report.json before writing the next. At checkpoints 1, 100, 500 and N
(and every --every) it prints the daemon's resident memory (VmRSS, its reader children excluded), its open file
descriptors, the sizes of report.json and heatmaps.h5, and the time from the rename to the commit (report.json's
modification time, so the time this script takes to notice and parse the growing report is not counted),
averaged over the previous --window checkpoints. "Flat" means: RSS and fds do not grow with the count, and the time per
checkpoint at N is within --max-growth of the time at 100 (the first checkpoints pay for start-up).

Usage:
  /usr/bin/python3 Scripts/faults/soak.py [--camwatch .build/release/camwatch] [--count 1000] [--probes 3] [--every 100]
Runs with Debian's python3 (python3-h5py) or the reference environment; needs a release build
(`swift build -c release`). On a 2-core machine 1000 checkpoints of the sample net with 3 probes take
about 10-20 minutes. Exit status 0 when flat, 1 when something grew, 2 on a setup error.
"""
import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def machine_line():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"CPU: {model}, {os.cpu_count()} cores"


def make_probes(directory, count):
    """The first `count` sample probes with their manifest entries."""
    os.makedirs(directory)
    with open(os.path.join(REPO, "Probes", "probes.json")) as f:
        manifest = json.load(f)[:count]
    for entry in manifest:
        shutil.copy(os.path.join(REPO, "Probes", entry["file"]), directory)
    with open(os.path.join(directory, "probes.json"), "w") as f:
        json.dump(manifest, f)


def load_sources():
    """Tensors and attributes of the sample checkpoints, cycled through as the run goes on."""
    sources = []
    for path in sorted(glob.glob(os.path.join(REPO, "Checkpoints", "*.h5"))):
        with h5py.File(path, "r") as f:
            sources.append(({k: f[k][()] for k in f.keys()}, dict(f.attrs.items())))
    if not sources:
        sys.exit("soak: no sample checkpoints in Checkpoints/")
    return sources


def write_checkpoint(directory, index, source):
    tensors, attrs = source
    final = os.path.join(directory, f"epoch-{index:04d}.h5")
    temporary = final + ".tmp"
    with h5py.File(temporary, "w") as f:
        for key, value in attrs.items():
            f.attrs[key] = value
        f.attrs["epoch"] = index
        for key, value in tensors.items():
            f.create_dataset(key, data=value)
    os.rename(temporary, final)
    return os.path.basename(final)


class ReportWatch:
    """The number of entries in report.json, parsed again only when the file was replaced (the soak must not
    spend a core re-reading a report that grows to megabytes)."""

    def __init__(self, path):
        self.path, self.stamp, self.count = path, None, -1

    def committed(self):
        try:
            status = os.stat(self.path)
        except OSError:
            return -1
        stamp = (status.st_ino, status.st_mtime_ns, status.st_size)
        if stamp != self.stamp:
            try:
                with open(self.path) as f:
                    self.count = len(json.load(f).get("checkpoints", []))
                self.stamp = stamp
            except (OSError, ValueError):
                return -1
        return self.count

    def written_at(self):
        """When the daemon wrote the report now in place (wall clock): the commit, independent of how long
        this script takes to notice and parse it."""
        return self.stamp[1] / 1e9 if self.stamp else time.time()


def watcher_pid(pid):
    """The process that does the watching: `camwatch watch` started outside a session of its own re-runs itself
    as the leader of a new session under a small supervisor (to lower only its own CPU share), so the worker is
    the supervisor's `watch` child; measuring the supervisor would report its few MiB and three descriptors."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        return pid
    for child in children:
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"watch" in argv[1:2]:
            return child
    return pid


def resources(pid):
    rss_kb = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss_kb / 1024, fds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--camwatch", default=os.path.join(REPO, ".build", "release", "camwatch"))
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--probes", type=int, default=3)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--window", type=int, default=20, help="checkpoints averaged per time figure")
    parser.add_argument("--max-growth", type=float, default=1.25, help="allowed time-per-checkpoint growth")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    if not os.access(args.camwatch, os.X_OK):
        print(f"soak: {args.camwatch}: not an executable (build with `swift build -c release`)", file=sys.stderr)
        return 2

    scratch = tempfile.mkdtemp(prefix="camwatch-soak-")
    watched, out, probes = (os.path.join(scratch, name) for name in ("run", "out", "probes"))
    os.makedirs(watched)
    make_probes(probes, args.probes)
    sources = load_sources()
    config = os.path.join(scratch, "camwatch.yaml")
    with open(config, "w") as f:
        f.write("watch: {interval: 1, settle: 0.2}\n")
    log = open(os.path.join(scratch, "camwatch.log"), "w")
    daemon = subprocess.Popen(
        [args.camwatch, "watch", watched, "--probes", probes, "--out", out, "--config", config],
        stdout=log, stderr=subprocess.STDOUT)
    report = ReportWatch(os.path.join(out, "report.json"))
    print(machine_line())
    print(f"{args.count} checkpoints of the sample net, {args.probes} probes, one at a time; scratch {scratch}")
    print(f"{'checkpoint':>10} {'RSS MiB':>8} {'fds':>4} {'report.json KiB':>15} {'heatmaps.h5 KiB':>15} "
          f"{'rename->commit s':>16}")
    marks = sorted({1, 100, 500, args.count} | set(range(args.every, args.count + 1, args.every)))
    marks = [m for m in marks if m <= args.count]
    latencies, rows = [], {}
    status = 0
    try:
        for index in range(1, args.count + 1):
            write_checkpoint(watched, index, sources[(index - 1) % len(sources)])
            started, renamed_at = time.monotonic(), time.time()
            while report.committed() < index:
                if daemon.poll() is not None:
                    print(f"soak: camwatch exited with status {daemon.returncode} at checkpoint {index}",
                          file=sys.stderr)
                    return 1
                if time.monotonic() - started > 120:
                    print(f"soak: checkpoint {index} not committed within 120 s", file=sys.stderr)
                    return 1
                time.sleep(0.02)
            latencies.append(report.written_at() - renamed_at)
            if index in marks:
                rss, fds = resources(watcher_pid(daemon.pid))
                recent = latencies[-args.window:]
                seconds = sum(recent) / len(recent)
                sizes = [os.path.getsize(os.path.join(out, name)) / 1024 for name in ("report.json", "heatmaps.h5")]
                rows[index] = (rss, fds, seconds)
                print(f"{index:>10} {rss:>8.1f} {fds:>4} {sizes[0]:>15.0f} {sizes[1]:>15.0f} {seconds:>16.3f}",
                      flush=True)
        base = rows.get(100) or rows[min(rows)]
        last = rows[max(rows)]
        if last[1] > base[1] + 2:
            print(f"grew: open fds {base[1]} -> {last[1]}")
            status = 1
        if last[0] > base[0] * 1.25 + 16:
            print(f"grew: RSS {base[0]:.1f} -> {last[0]:.1f} MiB")
            status = 1
        if last[2] > base[2] * args.max_growth:
            print(f"grew: time per checkpoint {base[2]:.3f} -> {last[2]:.3f} s")
            status = 1
        print("flat" if status == 0 else "NOT flat")
        return status
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
        log.close()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
