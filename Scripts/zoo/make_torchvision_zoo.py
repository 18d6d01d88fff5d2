"""Writes Sources/CamwatchNN/Zoo/TorchvisionZoo+Specs.swift: the camwatch model spec of every torchvision CNN.

    Scripts/reference-env.sh
    ~/.cache/camwatch-ref/bin/python Scripts/zoo/make_torchvision_zoo.py [--only resnet18 ...] [--check-only]

Every classification builder of `torchvision.models.list_models(module=torchvision.models)` except the
transformers (vit_*, swin_*, maxvit_t) is built with `weights=None` and traced by camwatch_torch.to_spec
(python/). Before anything is written, each spec is checked: Scripts/fixtures/spec_runner.py runs it on the
model's own state_dict and must reproduce the model's eval output (max |difference| / max |output| <= 1e-4)
at a reduced input size (64 px, inception_v3 80 px) on two random images. Weights are seeded; every tensor
torchvision initialises to a constant (batch-norm weights and biases, ConvNeXt's layer scale, biases) is set
to seeded random values, and the batch-norm statistics are measured on random images and then moved by seeded
noise, so that a wrong eps, a missed batch norm or a dropped layer scale shows. The two images' logits must
differ (by 1% of the largest logit at least): otherwise the output would not depend on the layers checked.

Prints one line per architecture (error, layer count, unused state_dict keys) and a summary; exits 1 if any
architecture is refused or differs, without writing. It takes several minutes on 2 cores (regnet_y_128gf,
the VGGs and efficientnet_b7 are large even at 64 px).

The Swift file holds, per architecture, the compact spec JSON (one layer per line) in a raw string, with
`input_size` the size torchvision's weights were trained at (inception_v3 299, the others 224) and, where
the state_dict has tensors the eval-mode graph never reads (GoogLeNet's and Inception's auxiliary heads),
`ignore_weights` naming their module paths.
"""

import argparse
import json
import os
import sys
import time
import warnings

import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "Scripts", "fixtures"))
from camwatch_torch import to_spec, unused_weights  # noqa: E402
from spec_runner import run_spec  # noqa: E402

OUT = os.path.join(ROOT, "Sources", "CamwatchNN", "Zoo", "TorchvisionZoo+Specs.swift")
TOLERANCE = 1e-4
# The two check images' logits must differ by this fraction of the largest logit, or the check is vacuous.
MIN_SIGNAL = 0.01
TRANSFORMERS = ("vit_", "swin_", "maxvit_")


def architectures():
    """torchvision's CNN classification builders, sorted."""
    names = torchvision.models.list_models(module=torchvision.models)
    return sorted(n for n in names if not n.startswith(TRANSFORMERS))


def default_size(arch):
    return 299 if arch == "inception_v3" else 224


def check_size(arch):
    """The reduced size the spec is checked at: small enough for 2 cores, large enough for every pool."""
    return 80 if arch == "inception_v3" else 64


def perturb_constants(model, generator):
    """Replace every tensor torchvision initialises to one constant by seeded random values, in a range
    that keeps activations tame: weights and layer scales near 1, biases near 0."""
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if not tensor.is_floating_point() or tensor.numel() < 2 or not bool((tensor == tensor.flatten()[0]).all()):
                continue
            noise = torch.rand(tensor.shape, generator=generator)
            if key.endswith(("running_var", "weight", "layer_scale")):
                tensor.copy_(0.5 + noise)
            else:
                tensor.copy_((noise - 0.5) * 0.4)


def calibrate_batch_norms(model, size, generator):
    """Batch-norm statistics measured on random images, then moved by seeded noise.

    Statistics far from the activations a net computes (the identity, or arbitrary values) make deep nets
    with squeeze-and-excitation (EfficientNet, MobileNetV3, MNASNet) forget their input: the logits come out
    the same for every image and the comparison proves nothing. Measured statistics keep every layer's
    output near unit scale; the noise keeps them off the identity."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a plain average over the calibration batch
    model.eval()  # only the batch norms measure: auxiliary heads and dropout stay as at inference
    for m in norms:
        m.train()
    with torch.no_grad():
        model(torch.randn(4, 3, size, size, generator=generator))
        for m in norms:
            std = m.running_var.sqrt()
            m.running_mean.add_(0.2 * std * torch.randn(m.running_mean.shape, generator=generator))
            m.running_var.mul_(0.7 + 0.6 * torch.rand(m.running_var.shape, generator=generator))
    model.eval()


def check(arch):
    """(spec, relative error, unused keys) of one architecture; the error is inf when the spec fails to run."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GoogLeNet/Inception's notice about their init
        model = torchvision.models.get_model(arch, weights=None).eval()
    size = check_size(arch)
    perturb_constants(model, generator)
    calibrate_batch_norms(model, size, generator)
    spec = to_spec(model, input_size=size, name=arch)
    spec["input_size"] = default_size(arch)
    x = torch.randn(2, 3, size, size, generator=generator)
    state = model.state_dict()
    with torch.no_grad():
        reference = model(x)
        output, _, _ = run_spec(spec, state, x)
    scale = float(reference.abs().max())
    error = float((output - reference).abs().max()) / scale if scale > 0 else float("inf")
    signal = float((reference[0] - reference[1]).abs().max()) / scale if scale > 0 else 0.0
    return spec, error, signal, unused_weights(spec, state.keys())


def spec_text(spec):
    """The spec as compact JSON with one layer per line (diffs of the generated file stay readable)."""
    head = {k: v for k, v in spec.items() if k != "layers"}
    first = json.dumps(head, separators=(",", ":"))[:-1] + ',"layers":['
    layers = ",\n".join(json.dumps(layer, separators=(",", ":")) for layer in spec["layers"])
    text = f"{first}\n{layers}\n]}}"
    assert json.loads(text) == spec
    assert '"#' not in text and "\\#" not in text, "the raw string delimiter appears in the JSON"
    return text


def swift_source(specs):
    """The generated Swift file: one raw string per architecture and the table TorchvisionZoo reads."""
    lines = [
        "// GENERATED FILE: do not edit.",
        "// Made by `~/.cache/camwatch-ref/bin/python Scripts/zoo/make_torchvision_zoo.py`",
        f"// from torchvision {torchvision.__version__} (torch {torch.__version__}), builders with weights=None;",
        f"// every spec was checked against the model's eval output (max relative error <= {TOLERANCE:g}).",
        "",
        "extension TorchvisionZoo {",
        "    /// Every architecture's spec JSON, by torchvision builder name.",
        "    static let specsByName: [String: String] = [",
    ]
    lines += [f'        "{arch}": {arch},' for arch in specs]
    lines += ["    ]", ""]
    for arch, spec in specs.items():
        lines += [f"    static let {arch} = #\"\"\"", spec_text(spec), "\"\"\"#", ""]
    lines[-1:] = ["}", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", help="check these architectures only (implies --check-only)")
    parser.add_argument("--check-only", action="store_true", help="check, write nothing")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    names = args.only or architectures()
    specs, failures, started = {}, [], time.time()
    print(f"torchvision {torchvision.__version__}, torch {torch.__version__}: {len(names)} architectures")
    for arch in names:
        t0 = time.time()
        try:
            spec, error, signal, unused = check(arch)
        except Exception as problem:  # a refusal (ValueError) or a spec the runner cannot run
            failures.append(arch)
            print(f"{arch:22s} FAILED {type(problem).__name__}: {problem}", flush=True)
            continue
        ok = error <= TOLERANCE and signal >= MIN_SIGNAL
        if ok:
            specs[arch] = spec
        else:
            failures.append(arch)
        ignored = f" ignore_weights {spec['ignore_weights']} ({len(unused)} keys)" if unused else ""
        print(f"{arch:22s} {'ok' if ok else 'FAILED'}  max rel err {error:.2e}  input effect {signal:.2f}"
              f"  {len(spec['layers']):4d} layers"
              f"  {time.time() - t0:5.1f} s{ignored}", flush=True)
    print(f"{len(names) - len(failures)}/{len(names)} architectures ok, {time.time() - started:.0f} s"
          + (f"; failed: {', '.join(failures)}" if failures else ""))
    if failures:
        return 1
    if args.only or args.check_only:
        return 0
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(swift_source(specs))
    print(f"wrote {os.path.relpath(args.out, ROOT)} ({os.path.getsize(args.out) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
