"""Each PyTorch idiom the tracer maps, on a small module: the spec must reproduce the module's output."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from conftest import check, layer, ops

from camwatch_torch import to_spec


class Functional(nn.Module):
    """The functional forms of activations, pooling and dropout."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 4, 5)

    def forward(self, x):
        x = self.conv(x)
        x = F.relu(x) - 0.5
        x = torch.relu(x) + F.relu6(x * 4.0) + F.hardswish(x) + F.silu(x) + F.gelu(x) + torch.sigmoid(x)
        x = F.leaky_relu(x, 0.2) + torch.tanh(x) + F.hardsigmoid(x) + x.relu() + x.sigmoid()
        x = F.max_pool2d(x, 3, stride=2, ceil_mode=True)
        x = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        x = F.dropout(x, 0.3, training=self.training)
        x = F.adaptive_avg_pool2d(x, (2, 2))
        return self.fc(x.view(x.size(0), -1))


def test_functional_forms():
    spec = check(Functional())
    assert {"relu", "relu6", "hardswish", "silu", "gelu", "sigmoid", "leaky_relu", "tanh", "hardsigmoid",
            "maxpool", "avgpool", "adaptive_avgpool", "flatten", "linear", "add", "scalar_affine"} <= set(ops(spec))
    pools = [l for l in spec["layers"] if l["op"] in ("maxpool", "avgpool", "adaptive_avgpool")]
    assert pools[0] == {"name": "maxpool", "op": "maxpool", "kernel": 3, "stride": 2, "ceil_mode": True}
    assert pools[1] == {"name": "avgpool", "op": "avgpool", "kernel": 3, "stride": 1, "padding": 1,
                        "count_include_pad": False}
    assert pools[2] == {"name": "adaptive_avgpool", "op": "adaptive_avgpool", "output_size": 2}
    assert "dropout" not in ops(spec)


class Heads(nn.Module):
    """The ways people flatten: torch.flatten, reshape, nn.Flatten, mean over H and W."""

    def __init__(self, how):
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 6, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        x = self.conv(x)
        if self.how == "flatten":
            x = torch.flatten(self.pool(x), 1)
        elif self.how == "reshape":
            x = self.pool(x).reshape(x.shape[0], -1)
        elif self.how == "module":
            x = self.flat(self.pool(x))
        elif self.how == "mean":
            x = x.mean([2, 3])
        else:
            x = x.mean((2, 3), keepdim=True).flatten(1)
        return F.softmax(self.fc(x), dim=1)


def test_flatten_forms():
    for how in ("flatten", "reshape", "module", "mean", "mean_keepdim"):
        spec = check(Heads(how))
        assert ops(spec)[1:] == ["global_avgpool", "flatten", "linear", "softmax"], (how, ops(spec))


class Arithmetic(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 1)
        self.b = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        a, b = self.a(x), self.b(x)
        y = (a + b) * (a - b) + torch.add(a, b) - a.mean((2, 3), keepdim=True)
        y = 2 * y + 1 - (1 - y) / 4 - (-y) + y.mul(3).add(2)
        return torch.sub(y, 0.5)


def test_arithmetic():
    spec = check(Arithmetic())
    assert layer(spec, "scalar_affine") == {"name": "scalar_affine", "op": "scalar_affine", "multiplier": 2.0}
    affine = [{k: v for k, v in l.items() if k in ("multiplier", "offset")}
              for l in spec["layers"] if l["op"] == "scalar_affine"]
    assert affine == [{"multiplier": 2.0}, {"offset": 1.0}, {"multiplier": -1.0, "offset": 1.0},
                      {"multiplier": 0.25}, {"multiplier": -1.0}, {"multiplier": 3.0}, {"offset": 2.0},
                      {"offset": -0.5}]
    assert "sub" in ops(spec) and "mul" in ops(spec)


class SE(nn.Module):
    """Squeeze-and-excitation, gate on either side of the product."""

    def __init__(self, c, gate_first):
        super().__init__()
        self.gate_first = gate_first
        self.fc1 = nn.Conv2d(c, c // 2, 1)
        self.fc2 = nn.Conv2d(c // 2, c, 1)

    def forward(self, x):
        g = torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        return g * x if self.gate_first else x * g


class SENet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.se1 = SE(8, False)
        self.se2 = SE(8, True)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))

    def forward(self, x):
        return self.head(self.se2(self.se1(self.stem(x))))


def test_squeeze_excitation():
    spec = check(SENet())
    for name in ("se1.mul", "se2.mul"):
        assert layer(spec, name)["inputs"][0] in ("stem", "se1.mul")  # the map first, the gate second
    assert layer(spec, "se1.global_avgpool")["op"] == "global_avgpool"


class ClassicSE(nn.Module):
    """The squeeze-and-excitation of the original paper's code: Linear layers, view(b, c, 1, 1), expand_as."""

    def __init__(self, c):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(c, c // 2), nn.ReLU(inplace=True), nn.Linear(c // 2, c), nn.Sigmoid())

    def forward(self, x):
        b, c, _, _ = x.size()
        y = self.fc(self.pool(x).view(b, c)).view(b, c, 1, 1)
        return x * y.expand_as(x) + y.expand_as(x) * x


def test_classic_squeeze_excitation():
    spec = check(nn.Sequential(nn.Conv2d(3, 8, 3), ClassicSE(8), nn.Flatten(), nn.Linear(8 * 14 * 18, 2)))
    assert layer(spec, "1.reshape") == {"name": "1.reshape", "op": "reshape", "target_shape": [1, 1, 8]}
    assert [l["inputs"] for l in spec["layers"] if l["op"] == "mul"] == [["0", "1.reshape"], ["0", "1.reshape"]]


class LayerNorm2d(nn.LayerNorm):
    """ConvNeXt's channel layer norm on [N,C,H,W]."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    def __init__(self, c, cl_scale):
        super().__init__()
        self.cl_scale = cl_scale
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.pw1 = nn.Linear(c, 4 * c)
        self.act = nn.GELU()
        self.pw2 = nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(torch.full((c,) if cl_scale else (c, 1, 1), 1e-6))
        self.drop_path = nn.Identity()

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.pw2(self.act(self.pw1(self.norm(y))))
        if self.cl_scale:
            y = (self.gamma * y).permute(0, 3, 1, 2)
        else:
            y = self.gamma * y.permute(0, 3, 1, 2)
        return x + self.drop_path(y)


class ConvNeXtLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 4, stride=4), LayerNorm2d(8, eps=1e-6))
        self.stages = nn.Sequential(ConvNeXtBlock(8, False), ConvNeXtBlock(8, True))
        self.norm = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = self.stages(self.stem(x))
        return self.fc(self.norm(x.mean([-2, -1])))


def test_convnext_layer_norm_and_layer_scale():
    spec = check(ConvNeXtLike(), size=(16, 24))
    assert layer(spec, "stem.1") == {"name": "stem.1", "op": "layernorm", "eps": 1e-6}
    assert layer(spec, "stages.0.pw1")["op"] == "channel_linear"
    assert layer(spec, "stages.0.scale") == {"name": "stages.0.scale", "op": "scale", "parameter": "stages.0.gamma"}
    assert layer(spec, "stages.1.scale")["parameter"] == "stages.1.gamma"
    assert layer(spec, "norm")["op"] == "layernorm" and layer(spec, "fc")["op"] == "linear"
    assert "permute" not in str(spec)


def channel_shuffle(x, groups):
    n, c, h, w = x.size()
    x = x.view(n, groups, c // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(n, -1, h, w)


class ShuffleUnit(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.branch = nn.Sequential(nn.Conv2d(c // 2, c // 2, 1), nn.BatchNorm2d(c // 2), nn.ReLU(inplace=True))

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        y = torch.cat((a, self.branch(b)), dim=1)
        return channel_shuffle(y, 2)


class ShuffleLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.GroupNorm(3, 12)), nn.ReLU())
        self.units = nn.Sequential(ShuffleUnit(12), ShuffleUnit(12))
        self.fc = nn.Linear(12, 2)

    def forward(self, x):
        x = self.units(self.stem(x))
        p, q, r = torch.split(x, [4, 4, 4], dim=1)
        x = torch.cat([p, q * r, x[:, 2:6]], 1)[:, :12]
        return self.fc(x.mean((2, 3)))


def test_channel_shuffle_chunk_split_groupnorm_nested_sequential():
    spec = check(ShuffleLike())
    assert layer(spec, "stem.0.0")["op"] == "conv2d"
    assert layer(spec, "stem.0.1") == {"name": "stem.0.1", "op": "groupnorm", "groups": 3}
    assert layer(spec, "units.0.channel_shuffle")["groups"] == 2
    assert layer(spec, "units.0.slice") == {"name": "units.0.slice", "op": "slice", "start": 0, "end": 6}
    assert layer(spec, "units.0.slice_1")["start"] == 6


class Convs(nn.Module):
    """Asymmetric kernels and paddings, 'same', dilation, groups, batch norm eps, ceil-mode pooling."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 6, (1, 7), padding=(0, 3))
        self.b = nn.Conv2d(6, 6, (7, 1), padding=(3, 0), groups=3, bias=False)
        self.c = nn.Conv2d(6, 6, 4, padding="same")
        self.d = nn.Conv2d(6, 6, 3, dilation=2, padding=2, stride=(1, 2))
        self.bn = nn.BatchNorm2d(6, eps=1e-3)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.avg = nn.AvgPool2d(3, 1, 1, count_include_pad=True)
        self.pad = nn.ZeroPad2d((1, 0, 2, 0))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d((3, 2)), nn.Flatten(), nn.Dropout(0.5), nn.Linear(36, 3))

    def forward(self, x):
        x = self.pad(self.avg(self.pool(self.bn(self.d(self.c(self.b(self.a(x))))))))
        return self.head(F.pad(x, (0, 1, 1, 1)))


def test_convolutions_and_pools():
    spec = check(Convs(), size=(21, 17))
    assert layer(spec, "a") == {"name": "a", "op": "conv2d", "kernel": [1, 7], "padding": [0, 3]}
    assert layer(spec, "b") == {"name": "b", "op": "conv2d", "kernel": [7, 1], "padding": [3, 0], "groups": 3}
    assert layer(spec, "c") == {"name": "c", "op": "conv2d", "kernel": 4, "padding": [1, 2, 1, 2]}
    assert layer(spec, "d") == {"name": "d", "op": "conv2d", "kernel": 3, "stride": [1, 2], "padding": 2,
                                "dilation": 2}
    assert layer(spec, "bn") == {"name": "bn", "op": "batchnorm", "eps": 1e-3}
    assert layer(spec, "pad") == {"name": "pad", "op": "zeropad", "padding": [2, 0, 1, 0]}
    assert layer(spec, "zeropad") == {"name": "zeropad", "op": "zeropad", "padding": [1, 1, 0, 1]}
    assert layer(spec, "head.0")["output_size"] == [3, 2]
    assert all(k not in l for l in spec["layers"] for k in ("out_channels", "out_features") if l["op"] != "maxpool")


class Reuse(nn.Module):
    """One activation module called three times, and a functional op beside a module of the same name."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(4, 4, 3)
        self.relu = nn.ReLU()
        self.block = nn.Sequential(nn.Conv2d(4, 4, 1))

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        return self.relu(self.block(x) + x).flatten(1)


def test_names_follow_module_paths():
    spec = check(Reuse())
    assert [l["name"] for l in spec["layers"]] == ["conv1", "relu", "conv2", "relu_1", "block.0", "add",
                                                   "relu_2", "flatten"]
    assert layer(spec, "add")["inputs"] == ["block.0", "relu_1"]
    assert spec["input_size"] == [16, 20] and spec["name"] == "Reuse"


def test_spec_does_not_depend_on_the_input_size():
    model = ConvNeXtLike().eval()
    a = to_spec(model, input_size=32)
    b = to_spec(model, input_size=(64, 48))
    a.pop("input_size"), b.pop("input_size")
    assert a == b


def test_spec_runs_at_another_size():
    """Traced at 16x20, run at 40x36: the same output as the module."""
    from conftest import randomize
    from spec_runner import run_spec
    model = randomize(SENet()).eval()
    spec = to_spec(model, input_size=(16, 20))
    x = torch.randn(1, 3, 40, 36)
    with torch.no_grad():
        assert torch.allclose(run_spec(spec, model.state_dict(), x)[0], model(x), rtol=1e-5, atol=1e-6)


def test_training_mode_is_restored():
    model = SENet().train()
    to_spec(model, input_size=8)
    assert model.training


class Aux(nn.Module):
    """A training-only auxiliary head (GoogLeNet): its weights are listed in ignore_weights."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.aux = nn.Sequential(nn.Conv2d(4, 2, 1), nn.BatchNorm2d(2))
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = self.conv(x)
        if self.training:
            self.aux(x)
        return self.fc(x.mean((2, 3)))


def test_unused_weights_are_ignored_by_module_path():
    model = Aux()
    spec = to_spec(model, input_size=12)
    assert spec["ignore_weights"] == ["aux"]


class Renormalise(nn.Module):
    """GoogLeNet's transform_input, written the ways people write it: one channel at a time by integer
    index and unsqueeze (method, function, negative index) or by a one-wide slice, rescaled and re-joined."""

    def forward(self, x):
        r = torch.unsqueeze(x[:, 0], 1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
        g = x[:, 1].unsqueeze(dim=1) * 0.448 - 0.088
        b = 0.45 * x[:, -1, :, :].unsqueeze(-3) - 0.188
        return torch.cat((r, g, b, x[:, 1:2] / 2), 1)


class ChannelPicking(nn.Module):
    def __init__(self):
        super().__init__()
        self.prep = Renormalise()
        self.conv = nn.Conv2d(4, 5, 3)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        x = self.conv(self.prep(x))
        x = torch.cat([x, x[:, 3].unsqueeze(1)], dim=1)  # a channel of an inner map, too
        return self.fc(x.mean((2, 3)))


def test_channel_picked_by_index_and_unsqueezed():
    spec = check(ChannelPicking())
    slices = [(l["name"], l["start"], l["end"]) for l in spec["layers"] if l["op"] == "slice"]
    assert slices == [("prep.slice", 0, 1), ("prep.slice_1", 1, 2), ("prep.slice_2", 2, 3),
                      ("prep.slice_3", 1, 2), ("slice", 3, 4)]
    assert ops(spec)[ops(spec).index("concat") - 1] == "scalar_affine"
