"""torchvision models that need more than the idioms of test_mapping, traced and run through spec_runner.

GoogLeNet and Inception v3 carry `transform_input`, which torchvision turns on whenever they are built with
ImageNet weights, i.e. for everyone fine-tuning from pretrained weights: it re-normalises each channel by
x[:, i].unsqueeze(1) * a + b and concatenates the three. The models are given seeded weights and measured
batch-norm statistics (as Scripts/zoo/make_torchvision_zoo.py does), so that their logits depend on the
image and a wrong transform shows.
"""

import os
import sys
import warnings

import pytest
import torch
import torch.fx
from conftest import ops
from spec_runner import run_spec

from camwatch_torch import to_spec, unused_weights

torchvision = pytest.importorskip("torchvision")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "Scripts", "zoo"))
from make_torchvision_zoo import calibrate_batch_norms, perturb_constants  # noqa: E402


def seeded(arch, size, **kwargs):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GoogLeNet/Inception's notice about their init
        model = torchvision.models.get_model(arch, weights=None, init_weights=True, **kwargs).eval()
    perturb_constants(model, generator)
    calibrate_batch_norms(model, size, generator)
    return model


@pytest.mark.parametrize("arch, size", [("googlenet", 64), ("inception_v3", 80)])
@pytest.mark.parametrize("aux_logits", [False, True])
def test_transform_input(arch, size, aux_logits):
    model = seeded(arch, size, transform_input=True, aux_logits=aux_logits)
    spec = to_spec(model, input_size=size, name=arch)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = model(x)
        actual, _, used = run_spec(spec, model.state_dict(), x)
    scale = expected.abs().max()
    assert float((actual - expected).abs().max() / scale) <= 1e-5
    assert float((expected[0] - expected[1]).abs().max() / scale) > 1e-2, "the output ignores the input"

    head = spec["layers"][: ops(spec).index("concat") + 1]
    assert [(l["op"], l.get("start")) for l in head if l["op"] != "scalar_affine"] == \
        [("slice", 0), ("slice", 1), ("slice", 2), ("concat", None)]
    assert all(l.get("inputs", ["input"]) == ["input"] for l in head if l["op"] == "slice")
    unused = unused_weights(spec, model.state_dict().keys())
    keys = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    assert used | set(unused) == keys and bool(unused) == aux_logits
    assert spec.get("ignore_weights", []) == (["aux1", "aux2"] if arch == "googlenet" else ["AuxLogits"]) * aux_logits


def test_transform_input_through_torch_export(monkeypatch):
    """GoogLeNet made to go through the torch.export fallback: the fx tracer's spec, layer for layer."""
    model = seeded("googlenet", 64, transform_input=True, aux_logits=True)
    expected = to_spec(model, input_size=64)
    monkeypatch.setattr(torch.fx, "symbolic_trace", _untraceable)
    assert to_spec(model, input_size=64) == expected


def _untraceable(model):
    raise torch.fx.proxy.TraceError("forced")
