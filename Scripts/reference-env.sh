#!/usr/bin/env bash
# The Python reference environment: the frameworks camwatch's fixtures, validation runs and benchmarks are
# produced with — PyTorch (CPU wheel), torchvision, h5py, pytorch-grad-cam (PyPI `grad-cam`), torch-cam, Keras 3.
# camwatch itself never needs Python; only Scripts/ and Benchmarks/ do.
#
#   Scripts/reference-env.sh [DIR]          default DIR: ~/.cache/camwatch-ref (about 5 minutes, 1.5 GB)
#   DIR/bin/python Scripts/sample/train_sample.py
#
# Why the pins and the patch:
# - torch==2.13.0+cpu: the default torch wheel pulls several GB of CUDA libraries this machine kind cannot use.
# - torchvision is installed without dependencies (it would pull that CUDA torch back in). Its wheel's compiled
#   operators (nms, roi_align …) do not load beside the CPU torch and its __init__ fails registering them; the
#   models and transforms we use are pure Python, so the registration import is made optional below.
# - Keras runs on the torch backend: export KERAS_BACKEND=torch.
set -euo pipefail
env_dir="${1:-$HOME/.cache/camwatch-ref}"
python="$env_dir/bin/python"
if [ -x "$python" ] && "$python" -c 'import torch, torchvision, h5py, pytorch_grad_cam, torchcam' 2>/dev/null; then
    echo "reference environment ready: $python"
    exit 0
fi
python3 -m venv "$env_dir"
"$python" -m pip install -q --upgrade pip
"$python" -m pip install -q "torch==2.13.0+cpu"
"$python" -m pip install -q --no-deps "torchvision==0.28.0"
"$python" -m pip install -q numpy pillow h5py scikit-image opencv-python-headless ttach tqdm matplotlib scikit-learn
"$python" -m pip install -q --no-deps grad-cam torchcam
"$python" -m pip install -q keras
"$python" - <<'PY'
import importlib.util
path = importlib.util.find_spec("torchvision").origin
source = open(path).read()
eager = "from torchvision import (\n    _autograd_registrations,\n    _meta_registrations,\n"
optional = ("try:\n    from torchvision import _autograd_registrations, _meta_registrations\n"
            "except Exception:  # compiled operators of a CUDA wheel beside the CPU torch\n    pass\n"
            "from torchvision import (\n")
if eager in source:
    open(path, "w").write(source.replace(eager, optional))
PY
"$python" -c 'import torch, torchvision, h5py, pytorch_grad_cam, torchcam; print("torch", torch.__version__, "torchvision", torchvision.__version__)'
echo "reference environment ready: $python"
