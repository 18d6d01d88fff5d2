#!/usr/bin/env bash
# Tests of the Python helper package (python/, camwatch-torch): a small venv with the CPU torch wheel, h5py,
# numpy and pytest; the package installed from ./python as a user would; then pytest python/tests.
#
#   Scripts/python-helper/test.sh [pytest arguments]      env: ~/.cache/camwatch-python-helper
#
# The first run builds the venv (torch==2.13.0+cpu, as Scripts/reference-env.sh installs it: the default
# torch wheel pulls several GB of CUDA libraries). Later runs only reinstall the package, offline: setuptools
# is in the venv and the build runs without isolation, so nothing is downloaded.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
env_dir="${CAMWATCH_PYTHON_HELPER_ENV:-$HOME/.cache/camwatch-python-helper}"
python="$env_dir/bin/python"
if ! { [ -x "$python" ] && "$python" -c 'import torch, h5py, numpy, pytest, setuptools' 2>/dev/null; }; then
    echo "python-helper: building $env_dir (once)" >&2
    python3 -m venv "$env_dir"
    "$python" -m pip install -q "torch==2.13.0+cpu"
    "$python" -m pip install -q h5py numpy pytest setuptools
fi
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
# A copy, so that setuptools' build/ and *.egg-info never land in the source tree.
cp -r "$root/python" "$build/src"
"$python" -m pip install -q --no-deps --no-build-isolation --force-reinstall "$build/src"
cd "$root"
"$python" -m pytest python/tests -q -p no:cacheprovider "$@"
