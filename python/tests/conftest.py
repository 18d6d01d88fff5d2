"""Shared helpers: the spec interpreter and the comparison every mapping test makes.

The spec interpreter is the repository's Scripts/fixtures/spec_runner.py (imported by path), so the tests
check the tracer against the same reading of docs/model-spec.md that the fixtures and the engine use.
"""

import os
import sys

import pytest
import torch

RUNNER_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "Scripts", "fixtures"))
sys.path.insert(0, RUNNER_DIR)
from spec_runner import run_spec  # noqa: E402

from camwatch_torch import to_spec, used_weights  # noqa: E402


def randomize(model, seed=0):
    """Seeded values for every tensor initialised to a constant (batch-norm statistics and affine, layer
    scales, biases), so that a dropped or misread tensor changes the output."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if not tensor.is_floating_point() or tensor.numel() < 2 or bool((tensor != tensor.flatten()[0]).any()):
                continue
            noise = torch.rand(tensor.shape, generator=generator)
            near_one = key.endswith(("running_var", "weight", "gamma", "scale"))
            tensor.copy_(0.5 + noise if near_one else (noise - 0.5) * 0.4)
    return model


def check(model, size=(16, 20), channels=3, rel=1e-5, name=None):
    """Trace `model`, run the spec on its state_dict, and require the model's eval output (max relative
    error <= rel) and that the spec reads every tensor. Returns the spec."""
    torch.manual_seed(0)
    model = randomize(model).eval()
    spec = to_spec(model, input_size=size, name=name, input_channels=channels)
    x = torch.randn(2, channels, *size)
    with torch.no_grad():
        expected = model(x)
        actual, _, used = run_spec(spec, model.state_dict(), x)
    assert actual.shape == expected.shape
    scale = expected.abs().max()
    error = float((actual - expected).abs().max() / scale)
    assert error <= rel, f"max relative error {error:.3g}"
    assert float((expected[0] - expected[1]).abs().max() / scale) > 1e-3, "the output ignores the input"
    keys = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    assert used == keys, "the spec must read every tensor"
    assert keys <= used_weights(spec)
    return spec


def ops(spec):
    return [layer["op"] for layer in spec["layers"]]


def layer(spec, name):
    return next(l for l in spec["layers"] if l["name"] == name)


@pytest.fixture
def checked():
    return check


class ValueBranch(torch.nn.Module):
    """Python control flow on a tensor's values: neither torch.fx nor torch.export can trace it."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return self.conv(x) if x.sum() > 0 else -self.conv(x)
