#!/usr/bin/env bash
# Builds the Python environment the TensorBoard tests use: TensorBoard's own event reader
# (EventAccumulator) and, for the screenshot in docs/formats.md, its summary writer and server.
#
#   Scripts/tensorboard/make-env.sh            # → ~/.cache/camwatch-tensorboard
#   CAMWATCH_TENSORBOARD_ENV=/some/dir Scripts/tensorboard/make-env.sh
#
# The Swift tests look for $CAMWATCH_TENSORBOARD_ENV/bin/python (default ~/.cache/camwatch-tensorboard) and skip,
# saying so, when it is absent. Needs python3 with venv (Debian: python3-venv) and PyPI.
set -euo pipefail

env_dir="${CAMWATCH_TENSORBOARD_ENV:-$HOME/.cache/camwatch-tensorboard}"
if [ -x "$env_dir/bin/python" ] && "$env_dir/bin/python" -c "import tensorboard" 2>/dev/null; then
    echo "tensorboard env ready: $env_dir ($("$env_dir/bin/python" -c 'import tensorboard; print(tensorboard.__version__)'))"
    exit 0
fi
python3 -m venv "$env_dir"
"$env_dir/bin/pip" install --quiet --disable-pip-version-check "tensorboard==2.20.0" "setuptools<81"
"$env_dir/bin/python" -c "import tensorboard; print('tensorboard env ready:', '$env_dir', tensorboard.__version__)"
