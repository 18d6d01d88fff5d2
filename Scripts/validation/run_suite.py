#!/usr/bin/env python3
"""Run camwatch over the convergence validation suite and score its verdicts against the ground truth.

For every run in ground_truth.json (written by make_runs.py) this runs, one after another,

    camwatch watch DATA/<run>/checkpoints --probes DATA/<run>/probes --out OUT/<run> --once
                   [--input-size N] [--layer L] [--config FILE]

(OUT/<run> is deleted first, so no state carries over from an older binary), reads OUT/<run>/report.json and
compares the `state` of each checkpoint entry with the ground truth:

  stable at         checkpoints where the state becomes `stable`;
  changing at       checkpoints where it goes from `stable` back to `changing`;
  lag               per settling segment: (first `stable` checkpoint at or after the ground-truth settle
                    checkpoint) − settle;
  false stable      checkpoints that are `stable` while the ground truth says the weights still move: before
                    the settle checkpoint of their segment, or anywhere in a run that never settles. The
                    `stable` state carried over into a restart's first checkpoints is not counted here as long
                    as the restart is detected in time (it is the restart's lag);
  missed restarts   restarts (ground-truth "moves") after which the state is not `changing` within 2
                    checkpoints (at the restart checkpoint r, r+1 or r+2).

  collapsed at      checkpoints where the state becomes `collapsed` (letter X in --verbose);
  false collapsed   `collapsed` at a checkpoint the ground truth calls alive (liveness: the held-out predictions,
                    make_runs.py / liveness.py), except at a recovery's first checkpoints r, r+1 while camwatch
                    leaves `collapsed` in time.

Acceptance, suites main and heldout (healthy): 0 false stable; every settling segment that has at least 3 settled
checkpoints before it ends (settle … settle+2; ground truth `expect_stable`) declared `stable` inside the segment
with lag ≤ 3, i.e. by settle+3 or the segment's last checkpoint, whichever comes first; constant-LR runs never
`stable`; every restart back to `changing` within 2 checkpoints; 0 false collapsed.
Suite dead: never `stable` at a dead checkpoint (nor before the weight settle, as above); every dead span flagged
`collapsed` at its first checkpoint `dies_at`, +1 or +2 (while still dead); after a recovery (`recovers_at` r)
out of `collapsed` at r, r+1 or r+2; 0 false collapsed. A dead run whose ground truth has no death is an error.
Suite bnstats: no `stable` before the settle that includes the BN moving statistics and the val_acc plateau (any
`stable` when that settle is `never`); 0 false collapsed; the lag is reported, not required.
Exit status 0 when accepted, 1 when not, 2 when camwatch or the data failed.

Only the Python standard library is needed. Report fields other than `name`, `state`, `drift.mean` and
`weight_drift` are optional (a checkpoint entry's `convergence` object is shown with --verbose when present, and
the `collapse` evidence object of the first checkpoint of each `collapsed` stretch).

    Scripts/validation/run_suite.py [--suite main|heldout|dead|bnstats|all] [--camwatch PATH] [--out DIR] [--data DIR]
                                    [--config FILE] [--runs a,b] [--reuse] [--verbose] [--markdown]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DEFAULT_DATA = "/work/validation-runs"
MAX_LAG = 3
RESTART_WINDOW = 2
COLLAPSE_WINDOW = 2
STATE_LETTER = {"warming-up": "w", "changing": "c", "stable": "S", "collapsed": "X"}


def checkpoint_index(entry):
    """1-based checkpoint number from the file name ckpt-NNN.h5."""
    m = re.search(r"ckpt-(\d+)\.h5$", str(entry.get("name", "")))
    return int(m.group(1)) if m else None


def read_report(path):
    """{index: entry} from report.json; entries that are not ckpt-NNN.h5 are ignored."""
    with open(path) as f:
        report = json.load(f)
    entries = {}
    for entry in report.get("checkpoints") or []:
        i = checkpoint_index(entry)
        if i is not None:
            entries[i] = entry
    return report, entries


def evaluate(gt, entries):
    """Score one run. Returns a dict of findings; `ok` says whether it passes acceptance."""
    n = gt["checkpoints"]
    states = {i: (entries[i].get("state") if i in entries else None) for i in range(1, n + 1)}
    missing = [i for i in range(1, n + 1) if i not in entries or entries[i].get("status", "ok") != "ok"]
    stable_at = [i for i in range(1, n + 1) if states[i] == "stable" and (i == 1 or states[i - 1] != "stable")]
    changing_at = [i for i in range(2, n + 1) if states[i] == "changing" and states[i - 1] == "stable"]

    restarts = []
    carried = set()
    for r in gt["moves"]:
        hit = next((i for i in range(r, min(r + RESTART_WINDOW, n) + 1) if states[i] == "changing"), None)
        restarts.append({"restart": r, "lag": None if hit is None else hit - r})
        if hit is not None:
            carried.update(range(r, hit))
    missed = [x["restart"] for x in restarts if x["lag"] is None]

    # Liveness ground truth (absent from an older ground_truth.json: every checkpoint alive).
    dead = [bool(d) for d in (gt.get("dead") or [False] * n)]
    dead_set = {i for i in range(1, n + 1) if dead[i - 1]}

    false_stable, lags, late = [], [], []
    for seg in gt["segments"]:
        settle = seg["settle"]
        for i in range(seg["start"], seg["end"] + 1):
            if states[i] == "stable" and (((settle is None or i < settle) and i not in carried) or i in dead_set):
                false_stable.append(i)
        if settle is None:
            continue
        first = next((i for i in range(settle, seg["end"] + 1) if states[i] == "stable"), None)
        lag = None if first is None else first - settle
        lags.append(lag)
        if seg["expect_stable"] and (lag is None or lag > MAX_LAG):
            late.append(settle)

    # `collapsed`: each dead span must be flagged at its first checkpoint d, d+1 or d+2 (while still dead); a
    # recovery at r must leave `collapsed` at r, r+1 or r+2; `collapsed` anywhere else (alive checkpoints outside
    # those leaving windows) is a false collapse.
    collapsed_at = [i for i in range(1, n + 1) if states[i] == "collapsed" and (i == 1 or states[i - 1] != "collapsed")]
    left_at = [i for i in range(2, n + 1) if states[i - 1] == "collapsed" and states[i] not in (None, "collapsed")]
    detections, leaves, grace = [], [], set()
    for start, end in (gt.get("dead_spans") or []):
        hit = next((i for i in range(start, min(start + COLLAPSE_WINDOW, end) + 1) if states[i] == "collapsed"), None)
        detections.append({"dies": start, "lag": None if hit is None else hit - start})
        if end < n:
            r = end + 1
            out = next((i for i in range(r, min(r + COLLAPSE_WINDOW, n) + 1)
                        if states[i] not in (None, "collapsed")), None)
            leaves.append({"recovers": r, "lag": None if out is None else out - r})
            grace.update(range(r, (out if out is not None else min(r + COLLAPSE_WINDOW, n) + 1)))
    false_collapsed = [i for i in range(1, n + 1) if states[i] == "collapsed" and i not in dead_set and i not in grace]
    missed_collapse = [d["dies"] for d in detections if d["lag"] is None]
    stuck = [x["recovers"] for x in leaves if x["lag"] is None]
    dead_flagged = sum(1 for i in dead_set if states[i] == "collapsed")

    suite = gt.get("suite")
    if suite == "dead":
        # Collapse detection is required where the ground truth has a death; never stable while dead.
        ok = not false_stable and not missed_collapse and not stuck and not false_collapsed and not missing
    elif suite == "bnstats":
        # Only: no `stable` before the settle that includes the BN statistics and the val_acc plateau.
        ok = not false_stable and not false_collapsed and not missing
    else:
        ok = not false_stable and not late and not missed and not missing and not false_collapsed
    return {"states": states, "stable_at": stable_at, "changing_at": changing_at, "false_stable": false_stable,
            "lags": lags, "late": late, "restarts": restarts, "missed": missed, "missing": missing,
            "collapsed_at": collapsed_at, "left_at": left_at, "detections": detections, "leaves": leaves,
            "false_collapsed": false_collapsed, "missed_collapse": missed_collapse, "stuck": stuck,
            "dead_count": len(dead_set), "dead_flagged": dead_flagged, "ok": ok}


def fmt_list(values, none="–"):
    if not values:
        return none
    return ", ".join("never" if v is None else str(v) for v in values)


def fmt_seq(values, digits=3):
    return " ".join("   - " if v is None else f"{v:.{digits}f}"[:5] for v in values)


def run_camwatch(camwatch, gt, data, out_dir, config):
    run_dir = os.path.join(data, gt["name"])
    cmd = [camwatch, "watch", os.path.join(run_dir, "checkpoints"), "--probes", os.path.join(run_dir, "probes"),
           "--out", out_dir, "--once"] + list(gt.get("camwatch_args", []))
    if config:
        cmd += ["--config", config]
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    t0 = time.time()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds = time.time() - t0
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {last}")
    return seconds


def verbose_block(gt, entries, result):
    n = gt["checkpoints"]
    sal = [(entries.get(i, {}).get("drift") or {}).get("mean") for i in range(1, n + 1)]
    wd = [entries.get(i, {}).get("weight_drift") for i in range(1, n + 1)]
    lines = [f"--- {gt['name']} ({gt['arch']}, layer {gt['layer']}, {gt['schedule_text']}, {gt['probes']} probes, "
             f"{n} checkpoints every {gt['checkpoint_every_steps']} steps, {gt['dtype']})",
             f"  ckpt        {' '.join(f'{i:5d}' for i in range(1, n + 1))}",
             f"  lr/peak     {fmt_seq([v / max(gt['lr']) for v in gt['lr']])}",
             f"  saliency    {fmt_seq(sal)}",
             f"  weight(cw)  {fmt_seq(wd, 4)}",
             f"  weight(gt)  {fmt_seq(gt['weight_change'], 4)}",
             "  state       " + " ".join(f"{STATE_LETTER.get(result['states'][i], '?'):>5}" for i in range(1, n + 1))]
    if gt.get("val_acc"):
        lines.append(f"  val_acc     {fmt_seq(gt['val_acc'])}")
    if gt.get("top_share"):
        lines.append(f"  top share   {fmt_seq(gt['top_share'])}")
    if gt.get("bn_stats_change"):
        lines.append(f"  BN stats    {fmt_seq(gt['bn_stats_change'], 4)}")
    dead = gt.get("dead") or [False] * n
    gt_marks = []
    for i in range(1, n + 1):
        mark = ""
        if i in gt["moves"]:
            mark = "R"
        for seg in gt["segments"]:
            if seg["settle"] == i:
                mark += "T"
        if dead[i - 1]:
            mark += "D"
        if gt.get("recovers_at") == i:
            mark += "L"
        gt_marks.append(mark or ".")
    lines.append(f"  truth       {' '.join(f'{m:>5}' for m in gt_marks)}   (T settle, R restart, D dead, L alive again)")
    for i in range(1, n + 1):
        entry = entries.get(i, {})
        if entry.get("state") == "collapsed" and (i == 1 or entries.get(i - 1, {}).get("state") != "collapsed"):
            evidence = entry.get("collapse", entry.get("evidence"))
            lines.append(f"  collapsed at {i}: {json.dumps(evidence, sort_keys=True)[:400]}")
    conv = [entries.get(i, {}).get("convergence") for i in range(1, n + 1)]
    if any(isinstance(c, dict) for c in conv):
        keys = []
        for c in conv:
            if isinstance(c, dict):
                keys += [k for k, v in c.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                         and k not in keys]
        for k in keys:
            vals = [c.get(k) if isinstance(c, dict) and isinstance(c.get(k), (int, float)) else None for c in conv]
            lines.append(f"  {k[:11]:<11} {fmt_seq([None if v is None else float(v) for v in vals])}")
    for seg in gt["segments"]:
        lines.append(f"  segment {seg['start']}-{seg['end']}: early w {seg['early_level']:.4g}, settle "
                     f"{seg['settle'] if seg['settle'] is not None else 'never'} (w ratio at end "
                     f"{seg['final_ratio']:.3f}), stable required: {'yes' if seg['expect_stable'] else 'no'}")
    return "\n".join(lines)


def table_kind(gt):
    return {"dead": "dead", "bnstats": "bnstats"}.get(gt.get("suite"), "healthy")


def verdict_text(result):
    reasons = []
    if result["false_stable"]:
        reasons.append("false stable")
    if result["late"] and result.get("kind") == "healthy":
        reasons.append("late/never stable")
    if result["missed"]:
        reasons.append("missed restart")
    if result["missed_collapse"] and result.get("kind") == "dead":
        reasons.append("collapse missed")
    if result["stuck"] and result.get("kind") == "dead":
        reasons.append("stuck in collapsed")
    if result["false_collapsed"]:
        reasons.append("false collapsed")
    if result["missing"]:
        reasons.append(f"missing/failed {fmt_list(result['missing'])}")
    return ("ok" if result["ok"] else "FAIL") + (" (" + "; ".join(reasons) + ")" if reasons else "")


def row(gt, result, seconds):
    kind = table_kind(gt)
    result["kind"] = kind
    base = [gt["name"], f"{gt['arch']} / {gt['layer']}", gt["schedule"], str(gt["probes"]), str(gt["checkpoints"])]
    secs = "" if seconds is None else f"{seconds:.0f}"
    fs, fc = fmt_list(result["false_stable"], "0"), fmt_list(result["false_collapsed"], "0")
    if kind == "dead":
        dies = gt.get("dies_at")
        return base + [
            "never" if dies is None else str(dies),
            "–" if gt.get("recovers_at") is None else str(gt["recovers_at"]),
            fmt_list(result["collapsed_at"]), fmt_list(result["left_at"]),
            fmt_list([d["lag"] for d in result["detections"]]) if result["detections"] else "–",
            fmt_list([x["lag"] for x in result["leaves"]]) if result["leaves"] else "–",
            f"{result['dead_flagged']}/{result['dead_count']}",
            fmt_list(result["stable_at"]), fs, fc, verdict_text(result), secs]
    if kind == "bnstats":
        seg = gt["segments"][0]
        parts = ", ".join("never" if v is None else str(v)
                          for v in (seg.get("settle_weights"), seg.get("settle_bn_stats"), seg.get("val_plateau")))
        val = gt.get("val_acc") or []
        return base + [parts, fmt_list(gt["settle"], "never"),
                       f"{val[0]:.2f} → {val[-1]:.2f}" if val else "–",
                       fmt_list(result["stable_at"]), fmt_list(result["lags"]), fs, fc, verdict_text(result), secs]
    moves = fmt_list(gt["moves"])
    restart = ", ".join(f"{x['restart']}→{'missed' if x['lag'] is None else '+' + str(x['lag'])}"
                        for x in result["restarts"]) or "–"
    return base + [fmt_list(gt["settle"], "never"), moves, fmt_list(result["stable_at"]),
                   fmt_list(result["changing_at"]), fmt_list(result["lags"]), fs, restart, fc, verdict_text(result),
                   secs]


HEADERS = {
    "healthy": ["run", "arch / layer", "schedule", "probes", "ckpts", "truth: settle", "truth: restarts", "stable at",
                "back to changing", "lag", "false stable", "restart → changing", "false collapsed", "verdict",
                "camwatch s"],
    "dead": ["run", "arch / layer", "schedule", "probes", "ckpts", "truth: dies at", "truth: recovers at",
             "collapsed at", "left collapsed at", "detect lag", "leave lag", "dead ckpts collapsed", "stable at",
             "false stable", "false collapsed", "verdict", "camwatch s"],
    "bnstats": ["run", "arch / layer", "schedule", "probes", "ckpts", "truth: settle w, BN stats, val plateau",
                "truth: settle", "val_acc first → last", "stable at", "lag", "false stable", "false collapsed",
                "verdict", "camwatch s"],
}


def print_table(header, rows, markdown):
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", choices=["main", "heldout", "dead", "bnstats", "all"], default="main")
    ap.add_argument("--runs", help="comma-separated run names (overrides --suite)")
    ap.add_argument("--camwatch", default=os.path.join(ROOT, ".build", "release", "camwatch"))
    ap.add_argument("--data", default=DEFAULT_DATA, help="where make_runs.py wrote the runs")
    ap.add_argument("--out", help="camwatch output directories (default DATA/out)")
    ap.add_argument("--config", help="camwatch watch config (YAML) passed to every run")
    ap.add_argument("--ground-truth", default=os.path.join(HERE, "ground_truth.json"))
    ap.add_argument("--reuse", action="store_true", help="score existing OUT/<run>/report.json, do not run camwatch")
    ap.add_argument("--verbose", action="store_true", help="per run: drift, weight drift, states, ground truth")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args()
    out = args.out or os.path.join(args.data, "out")

    try:
        with open(args.ground_truth) as f:
            truth = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"run_suite.py: {args.ground_truth}: {e}")
    runs = truth["runs"]
    if args.runs:
        wanted = args.runs.split(",")
        unknown = set(wanted) - {r["name"] for r in runs}
        if unknown:
            sys.exit(f"run_suite.py: {args.ground_truth}: no run(s) {', '.join(sorted(unknown))}")
        runs = [r for r in runs if r["name"] in wanted]
    else:
        runs = [r for r in runs if args.suite in ("all", r["suite"])]
    if not runs:
        sys.exit(f"run_suite.py: {args.ground_truth}: no runs for suite {args.suite}")
    if not args.reuse and not os.access(args.camwatch, os.X_OK):
        sys.exit(f"run_suite.py: {args.camwatch}: not an executable camwatch binary (build it or pass --camwatch)")

    rows, failed, errors, rule_shown = {}, 0, 0, False
    runs_false_stable = runs_false_collapsed = 0
    if not args.reuse:
        st = os.stat(args.camwatch)
        print(f"camwatch: {args.camwatch} (modified {time.strftime('%Y-%m-%d %H:%M', time.gmtime(st.st_mtime))} UTC)"
              + (f", config {args.config}" if args.config else ""))
    for gt in runs:
        out_dir = os.path.join(out, gt["name"])
        seconds = None
        try:
            timing = os.path.join(out_dir, "camwatch_seconds.txt")
            if not args.reuse:
                seconds = run_camwatch(args.camwatch, gt, args.data, out_dir, args.config)
                with open(timing, "w") as f:
                    f.write(f"{seconds:.1f}\n")
            elif os.path.exists(timing):
                with open(timing) as f:
                    seconds = float(f.read())
            report, entries = read_report(os.path.join(out_dir, "report.json"))
        except (RuntimeError, OSError, ValueError) as e:
            print(f"run_suite.py: {gt['name']}: {e}", file=sys.stderr)
            errors += 1
            continue
        if gt.get("suite") == "dead" and gt.get("dies_at") is None:
            print(f"run_suite.py: {gt['name']}: the ground truth has no dead checkpoint (the run did not die)",
                  file=sys.stderr)
            errors += 1
            continue
        result = evaluate(gt, entries)
        rule = (report.get("convergence") or {}).get("rule") if isinstance(report, dict) else None
        if rule is not None and not rule_shown:
            print(f"convergence rule (from {gt['name']}'s report.json): {json.dumps(rule, sort_keys=True)}")
            rule_shown = True
        if args.verbose:
            print(verbose_block(gt, entries, result), flush=True)
        rows.setdefault(table_kind(gt), []).append(row(gt, result, seconds))
        failed += not result["ok"]
        runs_false_stable += bool(result["false_stable"])
        runs_false_collapsed += bool(result["false_collapsed"])
    if args.verbose:
        print()
    for kind in ("healthy", "dead", "bnstats"):
        if kind in rows:
            if len(rows) > 1:
                print(f"\n{kind}:")
            print_table(HEADERS[kind], rows[kind], args.markdown)
    accepted = failed == 0 and errors == 0
    scored = sum(len(r) for r in rows.values())
    print(f"\nacceptance: {'PASS' if accepted else 'FAIL'} — {scored - failed} of {len(runs)} runs ok"
          f"{f', {errors} could not be scored' if errors else ''}; runs with false stable: {runs_false_stable}; "
          f"runs with false collapsed: {runs_false_collapsed}")
    sys.exit(2 if errors else (0 if accepted else 1))


if __name__ == "__main__":
    main()
