#!/usr/bin/env bash
# Builds the Python environment the Keras fixture scripts and the live Keras job use: TensorFlow (CPU) with its
# Keras 3, tf-keras (the Keras 2 format, selected with TF_USE_LEGACY_KERAS=1), tf-keras-vis (the Scorecam
# reference) and h5py.
#
#   Scripts/keras/make-env.sh            # → ~/.cache/camwatch-keras
#   CAMWATCH_KERAS_ENV=/some/dir Scripts/keras/make-env.sh
#
# Needs python3 with venv and PyPI. The Swift tests never need this env: they read committed fixtures.
set -euo pipefail

env_dir="${CAMWATCH_KERAS_ENV:-$HOME/.cache/camwatch-keras}"
if [ -x "$env_dir/bin/python" ] && "$env_dir/bin/python" -c "import tensorflow, tf_keras, tf_keras_vis, h5py" 2>/dev/null; then
    echo "keras env ready: $env_dir"
    exit 0
fi
python3 -m venv "$env_dir"
"$env_dir/bin/pip" install --quiet --disable-pip-version-check tensorflow-cpu tf-keras tf-keras-vis h5py numpy pillow
"$env_dir/bin/python" -c "import tensorflow as tf, keras, tf_keras; print('keras env ready:', '$env_dir', tf.__version__, keras.__version__, tf_keras.__version__)"
