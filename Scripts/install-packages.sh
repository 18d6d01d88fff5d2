#!/usr/bin/env bash
# Installs the Debian packages camwatch needs (apt, with sudo when not root); only the missing ones.
#   Scripts/install-packages.sh            to build and run camwatch
#   Scripts/install-packages.sh --tests    … and to run its tests
set -euo pipefail

# Building and running: the C libraries camwatch links against. libcairo2-dev + fonts-dejavu-core draw
# timeline.png and drift.png; libcurl4 carries webhooks (FoundationNetworking).
packages=(pkg-config libhdf5-dev libpng-dev libopenblas-dev libcairo2-dev fonts-dejavu-core libcurl4)
if [ "${1:-}" = "--tests" ]; then
    # Testing: hdf5-tools (h5dump checks written files); Debian's python3 with h5py (the simulated trainer of
    # the end-to-end tests) and prometheus-client (parses camwatch.prom); systemd (the offline unit checks);
    # chromium renders index.html in a test; python3-venv builds TensorBoard's reader (Scripts/tensorboard);
    # groff-base formats the generated manual page in a test.
    packages+=(hdf5-tools python3 python3-h5py python3-prometheus-client systemd chromium python3-venv groff-base)
fi

missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
