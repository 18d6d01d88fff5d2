"""What camwatch's engine cannot run is refused with one ValueError naming the module path and the op."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from camwatch_torch import to_spec
from conftest import ValueBranch


class Wrap(nn.Module):
    """features.1.<name> = the module under test, between a conv and a linear head."""

    def __init__(self, inner, channels=4):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.Sequential(inner))
        self.fc = nn.Linear(channels, 2)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


class Lambda(nn.Module):
    def __init__(self, fn, **modules):
        super().__init__()
        self.fn = fn
        for name, m in modules.items():
            setattr(self, name, m)

    def forward(self, x):
        return self.fn(self, x)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 1, batch_first=True)

    def forward(self, x):
        n, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        return self.attn(t, t, t)[0].transpose(1, 2).reshape(n, c, h, w)


CASES = [
    (Attention(), r"^features\.1\.0\.attn \(MultiheadAttention\): not supported by camwatch's engine$"),
    (nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"),
     r"^features\.1\.0 \(Conv2d\(padding_mode='reflect'\)\): not supported by camwatch's engine$"),
    (nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular"), r"Conv2d\(padding_mode='circular'\)"),
    (nn.Upsample(scale_factor=2), r"^features\.1\.0 \(Upsample\): not supported by camwatch's engine$"),
    (Lambda(lambda self, x: torch.cat([x, x], dim=2)[:, :, :4]), r"^features\.1\.0 \(cat\(dim=2\)\): only"),
    (Lambda(lambda self, x: F.interpolate(x, scale_factor=2)), r"^features\.1\.0 \(F\.interpolate\): not supported"),
    (Lambda(lambda self, x: torch.roll(x, 1, 2)), r"^features\.1\.0 \(torch\.roll\): not supported"),
    (Lambda(lambda self, x: self.norm(x), norm=nn.LayerNorm(16)), r"features\.1\.0\.norm \(LayerNorm\): over the last axis"),
    (Lambda(lambda self, x: x * x.mean((1,), keepdim=True)), r"\(mean\(dim=\(1,\)\)\): only the mean over height"),
    (Lambda(lambda self, x: x * x[:, :1]), r"\(\*\): broadcasts \[2, 4, 16, 16\] with \[2, 1, 16, 16\]"),
    (Lambda(lambda self, x: x + self.p, p=nn.Parameter(torch.ones(4, 1, 1))), r"\(\+\): with a parameter"),
    (Lambda(lambda self, x: x * self.p, p=nn.Parameter(torch.ones(1, 16, 1))), r"only one factor per channel"),
    (Lambda(lambda self, x: self.c(self.c(x)), c=nn.Conv2d(4, 4, 1)), r"features\.1\.0\.c \(Conv2d\): called twice"),
    (Lambda(lambda self, x: x * x.shape[2]), r"\(\*\): with a value computed from a tensor's shape"),
    (Lambda(lambda self, x: F.gelu(x, approximate="tanh")), r"gelu\(approximate='tanh'\)"),
    (nn.BatchNorm2d(4, affine=False), r"\(BatchNorm2d\): needs affine=True"),
    (nn.AdaptiveAvgPool2d((None, 2)), r"AdaptiveAvgPool2d\(\(None, 2\)\)"),
    (nn.AvgPool2d(2, divisor_override=3), r"AvgPool2d\(divisor_override=3\)"),
    # One channel x[:, i] is a [N,H,W] tensor: only unsqueeze(1) turns it back into a map.
    (Lambda(lambda self, x: (x[:, 0] * x[:, 1]).unsqueeze(1).expand_as(x)),
     r"^features\.1\.0 \(\*\): applied to one channel x\[:, i\]; camwatch's engine supports it only as "
     r"x\[:, i\]\.unsqueeze\(1\) or x\[:, i:i\+1\]$"),
    (Lambda(lambda self, x: (x[:, 0] + 1).unsqueeze(1).expand_as(x)), r"^features\.1\.0 \(\+\): applied to one channel"),
    (Lambda(lambda self, x: x[:, 1].unsqueeze(2).transpose(1, 2).expand_as(x)),
     r"^features\.1\.0 \(unsqueeze\(2\)\): of one channel x\[:, i\]; only unsqueeze\(1\)"),
    (Lambda(lambda self, x: x[:, 1].reshape(-1, 1, 16, 16).expand_as(x)),
     r"^features\.1\.0 \(reshape\): applied to one channel x\[:, i\]"),
    (Lambda(lambda self, x: torch.stack([x[:, 0], x[:, 1], x[:, 2], x[:, 3]], 1)),
     r"^features\.1\.0 \(torch\.stack\): not supported"),
    (Lambda(lambda self, x: x * x[:, 0, 1:].sum()),
     r"^features\.1\.0 \(tensor indexing\): only x\[:, start:end\] and x\[:, i\]\.unsqueeze\(1\) on channels$"),
]


@pytest.mark.parametrize("inner, message", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_refused(inner, message):
    with pytest.raises(ValueError, match=message) as info:
        to_spec(Wrap(inner), input_size=16)
    assert type(info.value) is ValueError and info.value.__cause__ is None


def test_linear_on_a_map_and_vector_ops():
    class LinearOnMap(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(self.conv(x)).flatten(1)

    with pytest.raises(ValueError, match=r"^fc \(Linear\): applied to the last axis of a \[N,C,H,W\] map"):
        to_spec(LinearOnMap(), input_size=8)


def test_untraceable_model():
    with pytest.raises(ValueError, match=r"^ValueBranch: torch\.fx cannot trace it"):
        to_spec(ValueBranch(), input_size=8)


def test_model_that_fails_on_the_example_input():
    with pytest.raises(ValueError, match=r"^Wrap: running an input of 16x16 failed: Given normalized_shape=\[4\]"):
        to_spec(Wrap(nn.LayerNorm(4)), input_size=16)


def test_several_outputs():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)

        def forward(self, x):
            y = self.conv(x)
            return y, y

    with pytest.raises(ValueError, match=r"^Two \(output\): returns several values"):
        to_spec(Two(), input_size=8)
