#!/usr/bin/env bash
# Sets camwatch up on a fresh Debian/Ubuntu machine (Swift 6.3 already installed) and runs it on the
# sample training run shipped in Checkpoints/ and Probes/:
#   - installs the C libraries camwatch links against (apt, with sudo when not root),
#   - builds camwatch in release mode,
#   - classifies the probes with the last checkpoint and writes Score-CAM heatmaps of every probe for the
#     first and the last checkpoint into out/ (so you can see the saliency settle on the objects).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(pkg-config libhdf5-dev libpng-dev libopenblas-dev)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

swift build -c release --product camwatch
camwatch=.build/release/camwatch

checkpoints=(Checkpoints/*.h5)
first=${checkpoints[0]}
last=${checkpoints[${#checkpoints[@]}-1]}
size=64   # the sample network's input size (Scripts/sample/train_sample.py)

echo "== predict with $last"
"$camwatch" predict Probes/*.png --weights "$last" --input-size "$size"
for checkpoint in "$first" "$last"; do
    name=$(basename "$checkpoint" .h5)
    echo "== Score-CAM with $checkpoint → out/$name/"
    "$camwatch" explain Probes/*.png --weights "$checkpoint" --input-size "$size" --out "out/$name" --quiet
done
echo "heatmaps written under out/"
