"""Shared helpers for the fixture, reference and benchmark scripts (not run on its own).

Imported by Scripts/fixtures/*.py, Scripts/reference/*.py and Benchmarks/*.py after they put Scripts/ on
sys.path. Needs the reference environment:

    Scripts/reference-env.sh
    ~/.cache/camwatch-ref/bin/python Scripts/...   (any of the scripts that import this)

Contents: sample photos from skimage.data cropped/resized with PIL, camwatch's default preprocessing
(x/255, ImageNet mean/std, RGB, NCHW float32), exporting a state_dict to HDF5 the way a PyTorch user does,
smooth random images, randomized (calibrated, then perturbed) BatchNorm running statistics, running the camwatch CLI, Pearson r, peak RSS.
"""

import json
import os
import resource
import subprocess
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DEFAULT_BINARY = os.path.join(ROOT, ".build", "release", "camwatch")
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
PHOTOS = ["astronaut", "chelsea", "coffee", "rocket"]


def photo(name, height, width):
    """skimage.data.<name>() as uint8 RGB [height, width, 3]: the largest centred crop with the target
    aspect ratio, resized with PIL bilinear (antialiased)."""
    import skimage.data
    from PIL import Image
    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    h, w = img.shape[:2]
    scale = min(h / height, w / width)
    ch, cw = int(round(height * scale)), int(round(width * scale))
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = Image.fromarray(img[top:top + ch, left:left + cw, :3])
    return np.asarray(crop.resize((width, height), Image.BILINEAR), dtype=np.uint8)


def preprocess(rgb_uint8):
    """camwatch's default preprocessing without resize: [H, W, 3] uint8 -> [1, 3, H, W] float32,
    x/255 then (x - mean) / std per channel (ImageNet)."""
    x = rgb_uint8.astype(np.float32) / np.float32(255.0)
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def save_png(rgb_uint8, path):
    from PIL import Image
    Image.fromarray(rgb_uint8, "RGB").save(path)


def save_state_dict_h5(state_dict, path, arch=None, **attrs):
    """Exactly what a PyTorch user writes: one h5py dataset per state_dict key."""
    import h5py
    with h5py.File(path, "w") as f:
        for k, v in state_dict.items():
            f.create_dataset(k, data=v.detach().cpu().numpy())
        if arch is not None:
            f.attrs["arch"] = arch
        for k, v in attrs.items():
            f.attrs[k] = v


def smooth_noise(n, h, w, generator):
    """[n, 3, h, w] images that look like normalized photos more than white noise: coarse random fields
    upsampled bilinearly, plus a little fine noise."""
    import torch
    import torch.nn.functional as F
    coarse = torch.randn(n, 3, max(h // 6, 2), max(w // 6, 2), generator=generator)
    x = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    return x + 0.2 * torch.randn(n, 3, h, w, generator=generator)


# Photos a calibration forward may measure batch-norm statistics on (randomize_bn_stats(images=...)).
CALIBRATION_PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "cat", "hubble_deep_field", "immunohistochemistry",
                      "coins"]


def calibration_batch(size):
    """CALIBRATION_PHOTOS at size × size after camwatch's default preprocessing: [8, 3, size, size] float32."""
    return np.concatenate([preprocess(photo(n, size, size)) for n in CALIBRATION_PHOTOS])


def randomize_bn_stats(model, seed, size=224, images=None):
    """Random, non-trivial BatchNorm running statistics for a default-initialized model.

    The statistics are first calibrated (one train-mode forward of 8 smooth random images, cumulative
    average), then perturbed: mean += 0.1 * std * N(0, 1), var *= exp(0.2 * N(0, 1)). Purely random
    statistics (e.g. mean ~ N(0, 0.1), var ~ U(0.5, 1.5)) make default-init nets nearly input-independent:
    mobilenet_v2's logits then vary by < 1e-4 across photos, which would make a 1e-3 logit comparison
    and Score-CAM meaningless. Affine weights keep torchvision's init (1 and 0).

    With `images` ([N, 3, size, size], e.g. calibration_batch(size)) the statistics are measured on them and
    left as measured: through EfficientNet's 16 blocks even the 0.1/0.2 perturbation compounds into logits of
    10^4, where PyTorch's own float32 result is 1e-2 away from its float64 one.
    """
    import torch
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
        # Only the batch norms measure: dropout and stochastic depth (EfficientNet) stay in eval mode, else
        # the statistics describe a network with blocks dropped and the eval-mode activations explode.
        model.eval()
        for m in bns:
            m.train()
        # Smooth noise suits the shallow nets of the fixtures; deep ones (EfficientNet: logits of 10^4, PyTorch's own
        # float32 result 1e-2 away from float64) need statistics of photos, as a trained network has them.
        model(smooth_noise(8, size, size, g) if images is None else torch.as_tensor(images))
        model.eval()
        for m in bns:
            c = m.num_features
            m.momentum = 0.1
            if images is not None:
                continue  # statistics of photos are a trained network's kind already; noise on them compounds
            m.running_mean.add_(0.1 * m.running_var.sqrt() * torch.randn(c, generator=g))
            m.running_var.mul_(torch.exp(0.2 * torch.randn(c, generator=g)))
    return model.eval()


def pearson(a, b):
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    da, db = a - a.mean(), b - b.mean()
    saa, sbb = (da * da).sum(), (db * db).sum()
    if saa == 0 and sbb == 0:
        return 1.0
    if saa == 0 or sbb == 0:
        return 0.0
    return float((da * db).sum() / np.sqrt(saa * sbb))


def run_camwatch(binary, args, env=None):
    """Run `binary args...`; returns the parsed JSON on stdout. Raises with stderr on failure."""
    proc = subprocess.run([binary, *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{os.path.basename(binary)} {' '.join(args[:2])} exited {proc.returncode}: "
                           f"{proc.stderr.strip()}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise RuntimeError(f"camwatch printed no JSON ({e}): {proc.stdout[:200]!r}") from e


def require_binary(binary):
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        sys.exit(f"error: camwatch binary not found at {binary} (swift build -c release, or pass its path)")


def machine_header(binary):
    """Two lines for a benchmark's head: the CPU and its vectors, the BLAS kernels camwatch runs there (after its
    start-up check) and the width of its own kernels (`camwatch bench cpu`), plus the torch version and its CPU
    capability."""
    machine = run_camwatch(binary, ["bench", "cpu", "--json"])
    lines = [f"CPU: {machine['cpu']} ({machine['vendor']}, {machine['cores']} cores), vectors {machine['vectors']}; "
             f"camwatch's OpenBLAS core: {machine['blasCore']} ({machine['blasCoreVectors']}), "
             f"camwatch's own kernels: {machine.get('kernels', 'baseline')}"]
    if machine.get("note"):
        lines.append(f"  ({machine['note']})")
    try:
        import torch
        lines.append(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    except ImportError:
        pass
    return "\n".join(lines)


# Runs argv[3:] and writes "<wall seconds> <child ru_maxrss KiB>" to argv[1]. Started as `python -S -c`, so
# it is a small process: on Linux a child's ru_maxrss starts at the high-water RSS of the address space
# it was spawned from (exec records the old mm's peak), so spawning camwatch straight from this
# torch-laden interpreter would report at least this interpreter's RSS (measured: /bin/true "used"
# 311 MiB when spawned from a 300 MiB Python process, 8 MiB through this launcher).
_LAUNCHER = """import os, sys, time
t0 = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - t0
with open(sys.argv[1], "w") as f:
    f.write(f"{seconds} {usage.ru_maxrss}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def launch_measured(cmd, stats_file, **popen_kwargs):
    """subprocess.Popen of cmd through the small launcher above; read its numbers with read_measured."""
    import subprocess
    return subprocess.Popen([sys.executable, "-S", "-c", _LAUNCHER, stats_file, *cmd], **popen_kwargs)


def read_measured(stats_file):
    """(wall seconds, peak RSS MiB) of the process a launch_measured call ran."""
    with open(stats_file) as f:
        seconds, kib = f.read().split()
    return float(seconds), int(kib) / 1024.0


def own_peak_rss_mb():
    """Peak resident set size of this process in MiB (Linux ru_maxrss is in KiB). Meaningful only for a
    process started through launch_measured (see _LAUNCHER)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
