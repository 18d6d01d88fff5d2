#!/usr/bin/env python3
"""Bounded fuzz of camwatch's checkpoint reader (docs/reliability.md): damaged copies of good and hostile checkpoints
go through `camwatch inspect` (which parses in the reader child), and every run must end as a verdict.

    Scripts/faults/fuzz_reader.py [--camwatch .build/debug/camwatch] [--runs 200] [--seed 1]

Seeds: Tests/Fixtures/checkpoints/*.h5 and the files of Scripts/fixtures/make_hostile_checkpoints.py. Each
run copies one seed and flips 1-8 random bytes (or truncates it, or repeats a block). A run passes when
camwatch exits 0 (loaded) or 1 with exactly one stderr line naming the file, within the time limit, and
nothing of the planted secret appears in its output. Prints one line per failure and a summary; exits 1 on
any failure. Slow (a second or so per run in a debug build): not part of `swift test`.
"""
import argparse
import glob
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Debian's python3 has python3-h5py (the tests use it too); a virtualenv's python may not.
H5PY_PYTHON = "/usr/bin/python3"
SECRET = "https://hooks.example.com/services/T000/B000/FUZZSECRET0123456789abcdef\n"


def seeds(scratch):
    secret = os.path.join(scratch, "secret.txt")
    with open(secret, "w") as f:
        f.write(SECRET)
    hostile = os.path.join(scratch, "hostile")
    subprocess.run(
        [H5PY_PYTHON, os.path.join(ROOT, "Scripts/fixtures/make_hostile_checkpoints.py"), hostile, secret],
        check=True)
    files = sorted(glob.glob(os.path.join(ROOT, "Tests/Fixtures/checkpoints/*.h5")))
    return files + sorted(glob.glob(os.path.join(hostile, "*.h5")))


def mutate(data, rng):
    data = bytearray(data)
    choice = rng.random()
    if choice < 0.7:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif choice < 0.85:
        data = data[: rng.randrange(1, len(data))]
    else:
        start = rng.randrange(len(data))
        length = rng.randint(1, 512)
        at = rng.randrange(len(data))
        data[at:at] = data[start : start + length]
    return bytes(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--camwatch", default=os.path.join(ROOT, ".build/debug/camwatch"))
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=400, help="seconds per run (the reader's own is 300)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    scratch = tempfile.mkdtemp(prefix="camwatch-fuzz-")
    failures = 0
    outcomes = {"loaded": 0, "refused": 0}
    slowest = 0.0
    try:
        pool = seeds(scratch)
        for run in range(args.runs):
            seed = rng.choice(pool)
            with open(seed, "rb") as f:
                data = mutate(f.read(), rng)
            path = os.path.join(scratch, f"run-{run:05d}.h5")
            with open(path, "wb") as f:
                f.write(data)
            start = time.monotonic()
            try:
                result = subprocess.run(
                    [args.camwatch, "inspect", path], capture_output=True, text=True, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                print(f"FAIL run {run} ({os.path.basename(seed)}): no verdict within {args.timeout} s")
                failures += 1
                continue
            elapsed = time.monotonic() - start
            slowest = max(slowest, elapsed)
            lines = result.stderr.strip().splitlines()
            problem = None
            if "FUZZSECRET" in result.stdout + result.stderr:
                problem = "the secret appears in the output"
            elif result.returncode == 0:
                outcomes["loaded"] += 1
            elif result.returncode != 1:
                problem = f"exit status {result.returncode}"
            elif len(lines) != 1 or path not in lines[0]:
                problem = f"stderr is not one line naming the file: {result.stderr.strip()[:300]!r}"
            else:
                outcomes["refused"] += 1
            if problem:
                failures += 1
                kept = os.path.join(tempfile.gettempdir(), f"camwatch-fuzz-failure-{args.seed}-{run}.h5")
                shutil.copy(path, kept)
                print(f"FAIL run {run} ({os.path.basename(seed)}): {problem}; kept {kept}")
            os.remove(path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"{args.runs} runs (seed {args.seed}): {outcomes['loaded']} loaded, {outcomes['refused']} refused with one "
        f"line, {failures} failures; slowest {slowest:.1f} s")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
