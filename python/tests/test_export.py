"""The torch.export fallback for models torch.fx cannot trace: the same ops and layer names as the fx
tracer, with the branches of Python control flow on shapes decided at the example's size."""

import pytest
import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from conftest import ValueBranch, check, ops

import test_mapping
from camwatch_torch import to_spec


class ShapeBranch(nn.Module):
    """What fx cannot trace and torch.export can: `if` on a size. Around it, the modules whose ATen form
    differs from their torch function (batch norm's argument order, ZeroPad2d, AdaptiveMaxPool2d's
    indices, split with sizes, x[:, i]) and a reused weightless module."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.ZeroPad2d((1, 0, 2, 1)), nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6),
                                  nn.ReLU(inplace=True))
        self.act = nn.Hardswish()
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        if x.shape[-1] > 100:  # large inputs are halved first
            x = F.avg_pool2d(x, 2)
        x = self.stem(x)
        a, b = torch.split(x, [2, 4], dim=1)
        x = torch.cat([self.act(b), self.act(a), x[:, 5].unsqueeze(1) * 0.5, x[:, 1:3]], 1)[:, :6]
        return self.fc(torch.flatten(self.pool(x), 1))


def test_fx_cannot_trace_it():
    with pytest.raises(torch.fx.proxy.TraceError):
        torch.fx.symbolic_trace(ShapeBranch())


def test_shape_branch_decided_at_the_example_size():
    small = check(ShapeBranch(), size=(16, 20))
    assert "avgpool" not in ops(small)
    assert ops(small)[:5] == ["zeropad", "conv2d", "batchnorm", "relu", "slice"]
    assert [l["name"] for l in small["layers"][:4]] == ["stem.0", "stem.1", "stem.2", "stem.3"]
    assert [l["name"] for l in small["layers"] if l["op"] == "hardswish"] == ["act", "act_1"]
    assert small["layers"][-3:] == [{"name": "pool", "op": "global_maxpool"}, {"name": "flatten", "op": "flatten"},
                                    {"name": "fc", "op": "linear"}]
    large = check(ShapeBranch(), size=(24, 104))
    assert ops(large) == ["avgpool"] + ops(small)


MAPPING_MODELS = {
    "functional": (test_mapping.Functional, {}),
    "arithmetic": (test_mapping.Arithmetic, {}),
    "squeeze_excitation": (test_mapping.SENet, {}),
    "convnext": (test_mapping.ConvNeXtLike, {"size": (16, 24)}),
    "shuffle": (test_mapping.ShuffleLike, {}),
    "convolutions": (test_mapping.Convs, {"size": (21, 17)}),
    "reuse": (test_mapping.Reuse, {}),
    "channel_picking": (test_mapping.ChannelPicking, {}),
    "mean_head": (lambda: test_mapping.Heads("mean"), {}),
}


@pytest.mark.parametrize("build, sizes", MAPPING_MODELS.values(), ids=MAPPING_MODELS.keys())
def test_export_gives_the_fx_spec(build, sizes, monkeypatch):
    """Every idiom of test_mapping, made to go through torch.export: the same spec, layer for layer."""
    expected = check(build(), **sizes)
    monkeypatch.setattr(torch.fx, "symbolic_trace", _untraceable)
    assert check(build(), **sizes) == expected


def _untraceable(model):
    raise torch.fx.proxy.TraceError("symbolically traced variables cannot be used as inputs to control flow")


def test_control_flow_on_values_is_refused_with_both_reasons():
    with pytest.raises(ValueError) as info:
        to_spec(ValueBranch(), input_size=8)
    message = str(info.value)
    assert message.startswith("ValueBranch: torch.fx cannot trace it (symbolically traced variables cannot be "
                              "used as inputs to control flow), nor torch.export (")
    assert message.endswith("); camwatch_torch needs a model without data-dependent control flow")
    assert "\n" not in message and info.value.__cause__ is None


class Upsampling(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Upsample(scale_factor=2))

    def forward(self, x):
        if x.shape[-1] > 100:
            x = x[..., ::2]
        return self.head(x).mean((2, 3))


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.conv(self.conv(x)).mean((2, 3))


@pytest.mark.parametrize("model, message", [
    (Upsampling(), r"^head\.1 \(aten\.upsample_nearest2d\): not supported by camwatch's engine$"),
    (Twice(), r"^conv \(conv2d\): runs a module's weights twice; camwatch finds weights by layer name$"),
], ids=["unsupported_op", "weights_run_twice"])
def test_refusals_name_the_module_and_the_aten_op(model, message, monkeypatch):
    monkeypatch.setattr(torch.fx, "symbolic_trace", _untraceable)
    with pytest.raises(ValueError, match=message):
        to_spec(model, input_size=8)
