"""Writes resnet18.h5, mobilenet_v2.h5 and vgg16.h5 (the weights scorecam_bench.py uses) into a directory.

    ~/.cache/camwatch-ref/bin/python Benchmarks/onednn/export_weights.py /tmp/w
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "Scripts"))
import refcommon  # noqa: E402
import scorecam_bench  # noqa: E402

if len(sys.argv) != 2:
    sys.exit(__doc__)
os.makedirs(sys.argv[1], exist_ok=True)
for arch in ("resnet18", "mobilenet_v2", "vgg16"):
    path = os.path.join(sys.argv[1], f"{arch}.h5")
    refcommon.save_state_dict_h5(scorecam_bench.load_model(arch).state_dict(), path, arch=arch)
    print(path)
