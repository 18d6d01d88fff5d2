"""Checks a run of Scripts/keras/run_live_job.sh: waits (up to 300 s) until camwatch's reports list every
epoch, then asserts every epoch-NN file appears once, in epoch order, with status ok, that the resave/
directory's in-place last.h5 was processed without a failure, and that no Keras save failed.

    python3 Scripts/keras/check_live_job.py ROOT EPOCHS
"""

import json
import os
import sys
import time


def entries(root, kind):
    try:
        with open(os.path.join(root, f"out-{kind}", "report.json")) as f:
            return json.load(f).get("checkpoints", [])
    except (OSError, ValueError):
        return []


def main(root, epochs):
    names = {
        "keras": [f"epoch-{e:02d}.keras" for e in range(1, epochs + 1)],
        "weights": [f"epoch-{e:02d}.weights.h5" for e in range(1, epochs + 1)],
        "legacy": [f"epoch-{e:02d}.h5" for e in range(1, epochs + 1)],
    }
    deadline = time.time() + 300
    while time.time() < deadline and any(len(entries(root, k)) < len(v) for k, v in names.items()):
        time.sleep(1)
    time.sleep(3)  # the last in-place resave settles
    failures = []
    for kind, expected in names.items():
        got = entries(root, kind)
        seen = [e["name"] for e in got]
        bad = [f'{e["name"]}: {e.get("error")}' for e in got if e.get("status") != "ok"]
        print(f"{kind}: {len(got)} entries, order {'ok' if seen == expected else 'WRONG'}, "
              f"epochs {[e.get('epoch') for e in got]}, failed {len(bad)}")
        if seen != expected:
            failures.append(f"{kind}: expected {expected}, got {seen}")
        failures += bad
    resave = entries(root, "resave")
    resave_bad = [e.get("error") for e in resave if e.get("status") != "ok"]
    print(f"resave: {len(resave)} versions of last.h5 processed, failed {len(resave_bad)}")
    failures += [f"resave: {e}" for e in resave_bad]
    with open(os.path.join(root, "saves.json")) as f:
        saves = json.load(f)
    print(f"keras saves: {saves['resaves']} in-place re-saves of last.h5, epochs {saves['epochs']}, "
          f"failed saves {len(saves['failures'])}")
    failures += saves["failures"]
    if saves["epochs"] != list(range(1, epochs + 1)):
        failures.append(f"the job finished epochs {saves['epochs']}")
    print("PASS" if not failures else "FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
