#!/usr/bin/env python3
"""A simulated trainer for camwatch's end-to-end tests: writes checkpoints into a watched directory the
ways real trainers do (docs/architecture.md §9.1), using h5py as PyTorch users do.

Usage: sim_trainer.py SOURCE_DIR TARGET_DIR SCENARIO [--pace S] [--wait-for OUT]
  SOURCE_DIR: complete checkpoints to copy tensors and attributes from (e.g. Checkpoints/), in name order.
  SCENARIO:
    mixed     slow in-place write, temp-name-then-rename, a reused last.h5 (twice), a checkpoint deleted
              before it settles, a processed checkpoint deleted later, a corrupt file, a writer killed
              mid-write, then a last normal checkpoint. Prints one line per action.
    resave N  re-saves TARGET_DIR/last.h5 N times in place (mode "w") as fast as possible and exits 1 if any
              save fails (the trainer must never be disturbed by the watcher).
    killed    child helper: starts writing TARGET_DIR/killed.h5 in place and SIGKILLs itself mid-write.
  --wait-for OUT: after each checkpoint that must get a report entry, wait (up to 300 s) until OUT/report.json
  lists it, like a trainer whose epochs take longer than camwatch's analysis. Without it, a version of a
  reused name that lives shorter than one analysis may never be seen (as with any watcher).
Runs with Debian's python3-h5py or the reference environment.
"""
import glob
import os
import signal
import subprocess
import sys
import time

import h5py


def sources(source_dir):
    return sorted(glob.glob(os.path.join(source_dir, "*.h5")))


def read(path):
    with h5py.File(path, "r") as f:
        tensors = {k: f[k][()] for k in f.keys()}
        attrs = dict(f.attrs.items())
    return tensors, attrs


def write(path, tensors, attrs, pause=0.0):
    """In place, the way `h5py.File(path, "w")` + create_dataset per state_dict key writes."""
    with h5py.File(path, "w") as f:
        for k, v in attrs.items():
            f.attrs[k] = v
        for i, (k, v) in enumerate(tensors.items()):
            f.create_dataset(k, data=v)
            if pause and i % 4 == 0:
                f.flush()
                time.sleep(pause)


def log(message):
    print(message, flush=True)


WAIT_FOR = None
EXPECTED = 0


def settled():
    """Counts one more expected report entry and, with --wait-for, waits until the report has it."""
    global EXPECTED
    EXPECTED += 1
    if WAIT_FOR is None:
        return
    import json
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            with open(os.path.join(WAIT_FOR, "report.json")) as f:
                if len(json.load(f).get("checkpoints", [])) >= EXPECTED:
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    sys.exit(f"camwatch did not record entry {EXPECTED} within 300 s")


def mixed(source_dir, target, pace):
    src = sources(source_dir)
    # 1. Slow in-place write (the file is open for writing for ~2 s).
    t, a = read(src[0])
    write(os.path.join(target, "epoch-001.h5"), t, a, pause=0.25)
    log("wrote epoch-001.h5 in place, slowly")
    settled()
    time.sleep(pace)
    # 2. Temp name, then rename into place.
    t, a = read(src[1])
    tmp = os.path.join(target, ".epoch-002.h5.tmp")
    write(tmp, t, a)
    os.rename(tmp, os.path.join(target, "epoch-002.h5"))
    log("renamed .epoch-002.h5.tmp to epoch-002.h5")
    settled()
    time.sleep(pace)
    # 3. A reused name: last.h5 with epoch 3's weights.
    t, a = read(src[2])
    write(os.path.join(target, "last.h5"), t, a)
    log("wrote last.h5 (epoch 3)")
    settled()
    time.sleep(pace)
    # 4. A checkpoint deleted before it could settle (max_to_keep racing the watcher).
    t, a = read(src[3])
    write(os.path.join(target, "epoch-gone.h5"), t, a)
    os.remove(os.path.join(target, "epoch-gone.h5"))
    log("wrote and at once deleted epoch-gone.h5")
    # 5. A corrupt file.
    with open(os.path.join(target, "epoch-004.h5"), "wb") as f:
        f.write(os.urandom(4096))
    log("wrote corrupt epoch-004.h5")
    settled()
    time.sleep(pace)
    # 6. A writer killed mid-write.
    subprocess.run([sys.executable, os.path.abspath(__file__), source_dir, target, "killed"], check=False)
    log("writer of killed.h5 was killed mid-write")
    settled()
    time.sleep(pace)
    # 7. last.h5 reused again, with epoch 5's weights: a new checkpoint under the same name.
    t, a = read(src[4])
    write(os.path.join(target, "last.h5"), t, a)
    log("rewrote last.h5 (epoch 5)")
    settled()
    time.sleep(pace)
    # 8. The oldest checkpoint deleted after it was processed (max_to_keep).
    os.remove(os.path.join(target, "epoch-001.h5"))
    log("deleted epoch-001.h5")
    # 9. A last normal checkpoint.
    t, a = read(src[5])
    write(os.path.join(target, "epoch-006.h5"), t, a)
    log("wrote epoch-006.h5")
    settled()


def killed(source_dir, target):
    t, a = read(sources(source_dir)[0])
    f = h5py.File(os.path.join(target, "killed.h5"), "w")
    for k, v in a.items():
        f.attrs[k] = v
    for i, (k, v) in enumerate(t.items()):
        f.create_dataset(k, data=v)
        if i == len(t) // 2:
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)


def resave(source_dir, target, count):
    t, a = read(sources(source_dir)[0])
    path = os.path.join(target, "last.h5")
    failures = 0
    for i in range(count):
        try:
            write(path, t, dict(a, step=int(a.get("step", 0)) + i))
        except OSError as error:  # h5py raises OSError "unable to lock file" when someone holds a lock
            failures += 1
            log(f"save {i} failed: {error}")
        time.sleep(0.02)
    log(f"{count - failures}/{count} saves succeeded")
    return 1 if failures else 0


def main():
    source_dir, target, scenario = sys.argv[1], sys.argv[2], sys.argv[3]
    global WAIT_FOR
    pace = float(sys.argv[sys.argv.index("--pace") + 1]) if "--pace" in sys.argv else 1.5
    WAIT_FOR = sys.argv[sys.argv.index("--wait-for") + 1] if "--wait-for" in sys.argv else None
    os.makedirs(target, exist_ok=True)
    if scenario == "mixed":
        mixed(source_dir, target, pace)
    elif scenario == "killed":
        killed(source_dir, target)
    elif scenario == "resave":
        sys.exit(resave(source_dir, target, int(sys.argv[4])))
    else:
        sys.exit(f"unknown scenario {scenario}")


if __name__ == "__main__":
    main()
