"""Markdown tables from sweeps of Benchmarks/onednn/run.sh (each figure: its median over the sweeps).

    python3 Benchmarks/onednn/summarize.py [--threads 1] [--base-label LABEL] [--new LABEL DIR,DIR,...] SWEEP_DIR ...

Per network: ms per batch of 16 at --threads (default 1) by layer kind (camwatch's kinds, Bench.swift), camwatch
as the environment sets OpenBLAS (`env`) and with OPENBLAS_CORETYPE removed (`unset`), beside oneDNN direct and
Winograd, with the reorders from and to NCHW ("NCHW incl. reorders") and in oneDNN's own layout. --new adds the
camwatch runs found in other sweep directories (another build, named LABEL) as two more columns; only their
camwatch files are read. camwatch's per-kind figures are means over its 5 timed passes (what `bench forward
--layers` prints); oneDNN's are sums of per-layer medians of 5. Then the convolutions among camwatch's ten slowest layers beside oneDNN's
figures for the same layers, and the convolution totals of every network at each thread count.
"""

import os
import re
import statistics
import sys
from collections import defaultdict

ARCHS = ("resnet18", "mobilenet_v2", "vgg16")
THREADS = ("1", "2")
ONEDNN_COLUMNS = [("oneDNN direct, NCHW incl. reorders", "direct nchw"), ("oneDNN direct, own layout", "direct own"),
                  ("oneDNN Winograd, NCHW incl. reorders", "winograd nchw"),
                  ("oneDNN Winograd, own layout", "winograd own"),
                  ("oneDNN best per layer, NCHW", "best nchw"), ("oneDNN best per layer, own layout", "best own")]
TOTALS = ("all convolutions", "whole forward (median)")


def parse_camwatch(path):
    kinds, layers, forward, section = {}, {}, None, None
    for line in open(path):
        if line.startswith("per pass:"):
            section = "kinds"
        elif line.startswith("slowest layers:"):
            section = "layers"
        elif line.startswith("forward "):
            forward = float(re.search(r"median ([0-9.]+) s", line).group(1)) * 1e3
        elif line.startswith("  ") and section:
            m = re.match(r"\s+(.+?)\s+([0-9.]+) ms", line)
            if m:
                (kinds if section == "kinds" else layers)[m.group(1)] = float(m.group(2))
    return {"kinds": kinds, "layers": layers, "forward": forward}


def parse_onednn(path):
    rows, isa = [], None
    for line in open(path):
        if line.startswith("# oneDNN"):
            isa = re.search(r"effective ISA (\S+),", line).group(1)
        if line.startswith("#") or line.startswith("arch\t"):
            continue
        f = line.rstrip("\n").split("\t")
        rows.append({"layer": f[1], "kind": f[3], "alg": f[4],
                     "nchw": float(f[9]) if f[9] != "-" else None, "own": float(f[10]) if f[10] != "-" else None})
    return rows, isa


def onednn_figures(rows):
    """Sums per kind and figures per layer: '<alg> nchw', '<alg> own', '<alg> count' for direct, winograd, best."""
    per_layer = defaultdict(dict)
    for r in rows:
        if r["nchw"] is not None:
            per_layer[(r["kind"], r["layer"])][r["alg"]] = (r["nchw"], r["own"])
    kinds, layers = defaultdict(lambda: defaultdict(float)), {}
    for (kind, layer), algs in per_layer.items():
        figures = {"best nchw": min(v[0] for v in algs.values()), "best own": min(v[1] for v in algs.values())}
        for alg, (n, o) in algs.items():
            figures[alg + " nchw"], figures[alg + " own"] = n, o
            kinds[kind][alg + " count"] += 1
        for key, value in figures.items():
            kinds[kind][key] += value
        layers[layer] = figures
    return {"kinds": kinds, "layers": layers, "count": len({r["layer"] for r in rows})}


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v):
    return "–" if v is None else (f"{v:.0f}" if v >= 100 else f"{v:.1f}")


def camwatch_value(run, row):
    if row == "all convolutions":
        return sum(v for k, v in run["kinds"].items() if k.startswith("conv"))
    if row == "whole forward (median)":
        return run["forward"]
    return run["kinds"].get(row)


def onednn_cell(runs, row, key):
    if row == "whole forward (median)" or not runs:
        return "–"
    if row != "all convolutions":
        return fmt(med([f["kinds"].get(row, {}).get(key) for f in runs]))
    alg = key.split()[0]
    vals = [sum(k.get(key, 0) for k in f["kinds"].values()) if any(key in k for k in f["kinds"].values()) else None
            for f in runs]
    text = fmt(med(vals))
    # Winograd covers only the 3x3 stride-1 layers: say how many layers the sum holds.
    done = int(sum(k.get(alg + " count", 0) for k in runs[0]["kinds"].values()))
    if alg != "best" and text != "–" and done < runs[0]["count"]:
        text += f" ({done} of {runs[0]['count']} layers)"
    return text


def load(arch, sweeps, camwatch_only=False):
    cw = {(b, t): [] for b in ("env", "unset") for t in THREADS}
    dn = {t: [] for t in THREADS}
    isa = None
    for s in sweeps:
        for t in THREADS:
            for b in ("env", "unset"):
                p = os.path.join(s, f"camwatch-{arch}-t{t}-{b}.txt")
                if os.path.exists(p):
                    cw[(b, t)].append(parse_camwatch(p))
            p = os.path.join(s, f"onednn-{arch}-t{t}.tsv")
            if not camwatch_only and os.path.exists(p):
                rows, isa = parse_onednn(p)
                dn[t].append(onednn_figures(rows))
    return cw, dn, isa


def main():
    args, threads, base_label, new_label, new_dirs = sys.argv[1:], "1", "", None, []
    while args[:1] in (["--threads"], ["--base-label"], ["--new"]):
        if args[0] == "--threads":
            threads, args = args[1], args[2:]
        elif args[0] == "--base-label":
            base_label, args = args[1], args[2:]
        else:
            new_label, new_dirs, args = args[1], args[2].split(","), args[3:]
    sweeps = args
    if not sweeps or threads not in THREADS:
        sys.exit(__doc__)
    builds = [(base_label, sweeps)] + ([(new_label, new_dirs)] if new_label else [])
    camwatch_columns = [(f"camwatch{' ' + label if label else ''}, {blas}", label, b)
                        for label, _ in builds for blas, b in (("Haswell BLAS (as is)", "env"),
                                                               ("Cooperlake BLAS (`env -u`)", "unset"))]
    header = [c[0] for c in camwatch_columns] + [c[0] for c in ONEDNN_COLUMNS]
    isa, totals = None, []
    for arch in ARCHS:
        cw = {}
        for label, dirs in builds:
            runs, dn, found = load(arch, dirs, camwatch_only=dirs is not sweeps)
            cw.update({(label,) + k: v for k, v in runs.items()})
            if dirs is sweeps:
                onednn, isa = dn, found or isa
        kinds = []
        for runs in cw.values():
            for run in runs:
                kinds += [k for k in run["kinds"] if k.startswith("conv") and k not in kinds]
        counts = ", ".join(f"{label or 'base'}: {len(cw[(label, 'unset', threads)])}" for label, _ in builds)
        print(f"\n### {arch}, batch 16, {threads} thread(s), ms per batch (sweeps: oneDNN {len(onednn[threads])}, "
              f"camwatch {counts})\n")
        print("| layer kind | " + " | ".join(header) + " |")
        print("|---" * (len(header) + 1) + "|")
        for t in THREADS:
            totals.append((f"{arch}, {t}", [fmt(med([camwatch_value(r, 'all convolutions') for r in cw[(l, b, t)]]))
                                            for _, l, b in camwatch_columns]
                           + [onednn_cell(onednn[t], "all convolutions", key) for _, key in ONEDNN_COLUMNS]))
        for row in kinds + list(TOTALS):
            label = f"**{row}**" if row in TOTALS else f"`{row}`"
            cells = [fmt(med([camwatch_value(r, row) for r in cw[(l, b, threads)]])) for _, l, b in camwatch_columns]
            cells += [onednn_cell(onednn[threads], row, key) for _, key in ONEDNN_COLUMNS]
            print(f"| {label} | " + " | ".join(cells) + " |")

        # camwatch's slowest convolutions (Cooperlake BLAS, newest build) beside oneDNN's figures for them.
        names = defaultdict(list)
        for (label, b, t), runs in cw.items():
            if t == threads:
                for run in runs:
                    for name, v in run["layers"].items():
                        names[(name, label, b)].append(v)
        newest = builds[-1][0]
        convolutions = {name for f in onednn[threads] for name in f["layers"]}
        order = sorted({n for n, *_ in names if not convolutions or n in convolutions},
                       key=lambda n: -(med(names.get((n, newest, "unset"), [])) or 0))
        print(f"\n{arch}, camwatch's ten slowest convolutions{' (' + newest + ')' if newest else ''}, Cooperlake BLAS, "
              f"{threads} thread(s), ms per batch:\n")
        print("| layer | " + " | ".join(c[0] for c in camwatch_columns) + " | oneDNN direct NCHW / own | "
              "oneDNN Winograd NCHW / own |")
        print("|---" * (len(camwatch_columns) + 3) + "|")
        for name in order[:10]:
            d = [f["layers"].get(name, {}) for f in onednn[threads]]
            direct = f"{fmt(med([x.get('direct nchw') for x in d]))} / {fmt(med([x.get('direct own') for x in d]))}"
            w = [x.get("winograd nchw") for x in d]
            wino = (f"{fmt(med(w))} / {fmt(med([x.get('winograd own') for x in d]))}"
                    if any(v is not None for v in w) else "unsupported")
            cells = [fmt(med(names.get((name, l, b), []))) for _, l, b in camwatch_columns]
            print(f"| `{name}` | " + " | ".join(cells) + f" | {direct} | {wino} |")

    print("\n### All convolutions, ms per batch of 16\n")
    print("| network, threads | " + " | ".join(header) + " |")
    print("|---" * (len(header) + 1) + "|")
    for name, cells in totals:
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\noneDNN effective ISA: {isa}")


if __name__ == "__main__":
    main()
