#!/usr/bin/env bash
# Sets camwatch up on a fresh Debian/Ubuntu machine (Swift 6.3 already installed) and runs its main job on
# the sample training run shipped in Checkpoints/ and Probes/:
#   - installs the C libraries camwatch links against (apt, with sudo when not root),
#   - builds camwatch in release mode,
#   - watches Checkpoints/ once (`camwatch watch … --once`): Score-CAM of every probe at every checkpoint,
#     drift, convergence, and the outputs in out/sample/ (report.json, timeline.png, drift.png, heatmaps.h5,
#     camwatch.prom),
#   - prints the convergence summary (`camwatch report`).
set -euo pipefail
cd "$(dirname "$0")/.."

Scripts/install-packages.sh

swift build -c release --product camwatch
camwatch=.build/release/camwatch

# A fresh output directory each time, so the run is the whole sample (watch resumes from what is there).
rm -rf out/sample
"$camwatch" watch Checkpoints --probes Probes --out out/sample --once
echo
"$camwatch" report out/sample
echo
echo "outputs in out/sample/: report.json, timeline.png, drift.png, heatmaps.h5, camwatch.prom"
