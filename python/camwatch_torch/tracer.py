"""PyTorch nn.Module -> camwatch model spec (docs/model-spec.md), by tracing with torch.fx.

camwatch runs checkpoints in its own engine, which knows a fixed set of layer ops. The tracer walks the fx
graph once, in order, and keeps for every graph value what it is in engine terms (a `_Value`): a map
`[N, C, H, W]`, the same map seen channels-last after `permute(0, 2, 3, 1)`, a vector `[N, F]`, a parameter,
a shape number, one channel x[:, i], or one of the short-lived views of a channel shuffle or a chunk. The
kind decides the op (a Linear on a vector is `linear`, on a channels-last map `channel_linear`), and anything
the engine cannot run stops the trace with one ValueError naming the module path and the op.

Shapes from one example input (ShapeProp) only help decide the mapping (is this `view` a flatten?); no size
from them is written into the spec, so the spec binds at any input size and any number of classes.
A model fx cannot trace goes through torch.export instead (exported.py), with the same handlers.
"""

import math
import operator

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata

__all__ = ["to_spec", "unused_weights"]

UNSUPPORTED = "not supported by camwatch's engine"

# Elementwise activations: the spec op for each PyTorch module type / function / method name.
_ACTIVATION_MODULES = {
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.SiLU: "silu",
    nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid",
}
_ACTIVATION_NAMES = {
    "relu": "relu", "relu6": "relu6", "sigmoid": "sigmoid", "tanh": "tanh", "silu": "silu",
    "hardswish": "hardswish", "hardsigmoid": "hardsigmoid",
}
_IDENTITY_MODULES = (nn.Identity, nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.AlphaDropout,
                     nn.FeatureAlphaDropout)
# Leaf modules call_module maps (subclasses of these from other packages are traced through by fx).
_SUPPORTED_MODULES = (*_ACTIVATION_MODULES, *_IDENTITY_MODULES, nn.LeakyReLU, nn.GELU, nn.Hardtanh, nn.Softmax,
                      nn.Conv2d, nn.BatchNorm2d, nn.Linear, nn.LayerNorm, nn.GroupNorm, nn.MaxPool2d, nn.AvgPool2d,
                      nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten, nn.ZeroPad2d)
# Functions and methods that give back their input at inference, or the same values in another object.
_PASS_THROUGH = {"dropout", "dropout2d", "dropout1d", "alpha_dropout", "feature_alpha_dropout", "contiguous",
                 "clone", "detach", "stochastic_depth"}


class _Value:
    """What one fx value is, in engine terms.

    kind: "map" [N,C,H,W]; "cl" the same map channels-last (the engine keeps [N,C,H,W]); "vec" [N,F];
    "param" a state_dict tensor (`target`); "meta" a non-tensor (sizes, flags); "grouped"/"shuffled" the
    5-D views inside a channel shuffle (`groups`); "chunks" the pieces of chunk/split (`pieces`);
    "channel" one channel picked by x[:, i] (`channel`), a [N,H,W] tensor the engine has no form for, so
    that only unsqueeze(1) may read it (it becomes a one-channel `slice`).
    layer: the spec layer (or "input") that holds the tensor.
    """

    def __init__(self, kind, layer=None, **extra):
        self.kind, self.layer = kind, layer
        self.__dict__.update(extra)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _compact(v):
    """An int for a square pair, else a list: the spec's pair-valued keys take either."""
    v = _pair(v)
    return v[0] if v[0] == v[1] else list(v)


class _Refusal(ValueError):
    """Raised inside the tracer; to_spec turns it into the one ValueError the user sees."""


class _Tracer:
    """One pass over an fx GraphModule, building the spec's layer list."""

    def __init__(self, gm, root_name, state_keys):
        self.gm = gm
        self.root_name = root_name
        self.state_keys = state_keys
        self.layers = []
        self.values = {}
        self.names = set()
        # Functional ops never take a module's path, so that a module met later keeps its own name
        # (and with it the state_dict prefix its weights are found by).
        self.module_paths = {path for path, _ in gm.named_modules() if path}
        self.node = None

    # ---- naming and emitting -------------------------------------------------------------------------

    def where(self, node=None):
        """The module path a node belongs to (the root module's class name at the top)."""
        node = node or self.node
        if node.op == "call_module":
            return node.target
        stack = node.meta.get("nn_module_stack") or {}
        if stack:
            return list(stack.values())[-1][0] or self.root_name
        return self.root_name

    def refuse(self, what, reason=UNSUPPORTED):
        raise _Refusal(f"{self.where()} ({what}): {reason}")

    def unique(self, base):
        name, i = base, 0
        while name in self.names or name == "input" or (name != base and name in self.module_paths):
            i += 1
            name = f"{base}_{i}"
        return name

    def functional_name(self, op):
        stack = self.node.meta.get("nn_module_stack") or {}
        path = list(stack.values())[-1][0] if stack else ""
        base = f"{path}.{op}" if path else op
        name, i = base, 0
        while name in self.names or name in self.module_paths or name == "input":
            i += 1
            name = f"{base}_{i}"
        return name

    def emit(self, name, op, inputs, **keys):
        """Append a layer; `inputs` is omitted when it is the previous layer (the spec's default)."""
        self.names.add(name)
        layer = {"name": name, "op": op}
        previous = self.layers[-1]["name"] if self.layers else "input"
        if list(inputs) != [previous]:
            layer["inputs"] = list(inputs)
        layer.update(keys)
        self.layers.append(layer)
        return name

    def emit_fn(self, op, inputs, kind, **keys):
        """A functional op's layer, named `<enclosing module path>.<op>`; returns its value."""
        return _Value(kind, self.emit(self.functional_name(op), op, inputs, **keys))

    # ---- values --------------------------------------------------------------------------------------

    def value(self, arg):
        return self.values[arg] if isinstance(arg, torch.fx.Node) else arg

    @staticmethod
    def shape(node):
        """The example's shape of a tensor value, None for anything else (ShapeProp's tensor_meta, or the
        fake tensor torch.export keeps in `val`)."""
        tm = node.meta.get("tensor_meta", node.meta.get("val"))
        return tuple(tm.shape) if isinstance(tm, (TensorMetadata, torch.Tensor)) else None

    @staticmethod
    def shapes(node):
        """The example's shapes of a multi-output op (chunk, split)."""
        return [tuple(t.shape) for t in node.meta.get("tensor_meta", node.meta.get("val"))]

    def tensor(self, arg, what, kinds=("map", "cl", "vec")):
        """The value of a tensor argument, refused unless it is one of `kinds`."""
        v = self.value(arg)
        if not isinstance(v, _Value) or v.kind not in kinds:
            self.refuse(what, _applied_to(getattr(v, "kind", type(v).__name__)))
        return v

    # ---- the pass ------------------------------------------------------------------------------------

    def run(self):
        self.check_modules()
        for node in self.gm.graph.nodes:
            self.node = node
            if node.op == "placeholder":
                self.values[node] = self.placeholder(node)
            elif node.op == "get_attr":
                self.values[node] = _Value("param", None, target=node.target, shape=self.shape(node))
            elif node.op == "call_module":
                self.values[node] = self.call_module(node, self.gm.get_submodule(node.target))
            elif node.op in ("call_function", "call_method"):
                self.values[node] = self.call(node)
            elif node.op == "output":
                return self.output(node)
        raise _Refusal(f"{self.root_name}: the traced graph has no output")

    def placeholder(self, node):
        if any(v.layer == "input" for v in self.values.values()):
            self.refuse("a second input", "camwatch's engine takes one image tensor")
        return _Value("map", "input")

    def output(self, node):
        return self.result(node.args[0])

    def result(self, result):
        """The layer holding the model's output (its logits)."""
        if not isinstance(result, torch.fx.Node):
            self.refuse("output", "returns several values; camwatch needs the logits alone")
        v = self.tensor(result, "output")
        if v.layer == "input" or not self.layers:
            self.refuse("output", "the model computes nothing camwatch's engine can run")
        return v.layer

    # ---- modules -------------------------------------------------------------------------------------

    def check_modules(self):
        """Refuse a module the engine has no op for before anything else, so that the message names it
        (MultiheadAttention) rather than the reshape that prepares its input."""
        for node in self.gm.graph.nodes:
            if node.op == "call_module":
                m = self.gm.get_submodule(node.target)
                if not isinstance(m, _SUPPORTED_MODULES):
                    self.node = node
                    self.refuse(type(m).__name__)

    def call_module(self, node, m):
        what = type(m).__name__
        x = self.tensor(node.args[0], what) if node.args else None
        if len(node.args) != 1 or node.kwargs:
            self.refuse(what, "called with more than one argument")
        path = node.target
        has_weights = any(True for _ in m.parameters()) or any(True for _ in m.buffers())
        if path in self.names and has_weights:
            self.refuse(what, "called twice; camwatch finds a layer's weights by its name, so each module "
                              "with weights may run once")
        if isinstance(m, _IDENTITY_MODULES):
            return x

        def emit(op, kind=None, **keys):
            return _Value(kind or x.kind, self.emit(self.unique(path), op, [x.layer], **keys))

        if type(m) in _ACTIVATION_MODULES:
            return emit(_ACTIVATION_MODULES[type(m)])
        if isinstance(m, nn.LeakyReLU):
            return emit("leaky_relu", negative_slope=m.negative_slope)
        if isinstance(m, nn.GELU):
            if m.approximate != "none":
                self.refuse(f"GELU(approximate={m.approximate!r})")
            return emit("gelu")
        if isinstance(m, nn.Hardtanh):  # ReLU6 is a Hardtanh; a plain one only as relu6
            if (m.min_val, m.max_val) != (0.0, 6.0):
                self.refuse(f"Hardtanh({m.min_val}, {m.max_val})")
            return emit("relu6")
        if isinstance(m, nn.Softmax):
            if x.kind != "vec" or m.dim not in (1, -1):
                self.refuse(f"Softmax(dim={m.dim})", "only over the features of a vector")
            return emit("softmax")
        if type(m) is nn.Conv2d:
            self.need(x, "map", what)
            return emit("conv2d", "map", **self.conv_keys(m.weight.shape, m.stride, m.padding, m.dilation,
                                                          m.groups, m.padding_mode, what))
        if type(m) is nn.BatchNorm2d:
            self.need(x, "map", what)
            if not m.affine or m.running_mean is None:
                self.refuse(what, "needs affine=True and running statistics")
            return emit("batchnorm", "map", **_eps(m.eps))
        if type(m) is nn.Linear:
            if x.kind == "map":
                self.refuse(what, "applied to the last axis of a [N,C,H,W] map")
            return emit("linear" if x.kind == "vec" else "channel_linear")
        if type(m) is nn.LayerNorm:
            self.layernorm_check(x, m.normalized_shape, what)
            return emit("layernorm", **_eps(m.eps))
        if type(m) is nn.GroupNorm:
            self.need(x, "map", what)
            return emit("groupnorm", "map", groups=m.num_groups, **_eps(m.eps))
        if type(m) in (nn.MaxPool2d, nn.AvgPool2d):
            self.need(x, "map", what)
            op, keys = self.pool_keys(type(m) is nn.MaxPool2d, m, what)
            return emit(op, **keys)
        if type(m) is nn.AdaptiveAvgPool2d:
            self.need(x, "map", what)
            op, keys = self.adaptive(m.output_size, what)
            return emit(op, **keys)
        if type(m) is nn.AdaptiveMaxPool2d:
            self.need(x, "map", what)
            if _pair(m.output_size) != (1, 1) or m.return_indices:
                self.refuse(f"{what}({m.output_size})", "only output size 1")
            return emit("global_maxpool")
        if type(m) is nn.Flatten:
            return self.flatten(x, m.start_dim, m.end_dim, what, lambda: emit("flatten", "vec"))
        if type(m) is nn.ZeroPad2d:
            self.need(x, "map", what)
            left, right, top, bottom = m.padding
            return emit("zeropad", padding=[top, bottom, left, right])
        return self.refuse(what)

    def need(self, x, kind, what):
        """Refuses an op meant for one kind of value (a conv2d on a vector)."""
        if x.kind != kind:
            self.refuse(what, _applied_to(x.kind))

    def conv_keys(self, weight_shape, stride, padding, dilation, groups, padding_mode, what):
        """conv2d keys from a convolution's settings. `out_channels` is left to the weights (a head's class count
        varies); `kernel` is written, so that weights of another architecture fail to bind, naming the kernel."""
        if padding_mode != "zeros":
            self.refuse(f"{what}(padding_mode={padding_mode!r})")
        if len(weight_shape) != 4:
            self.refuse(what)
        kh, kw = weight_shape[-2:]
        dilation = _pair(dilation)
        if padding == "valid":
            padding = 0
        elif padding == "same":  # PyTorch's 'same' (stride 1): the odd pixel bottom/right
            th, tw = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
            padding = [th // 2, th - th // 2, tw // 2, tw - tw // 2]
        keys = {"kernel": _compact((kh, kw))}
        if _pair(stride) != (1, 1):
            keys["stride"] = _compact(stride)
        if isinstance(padding, (list, tuple)) and len(padding) == 4:
            if padding[0] == padding[1] and padding[2] == padding[3]:
                padding = (padding[0], padding[2])
            else:
                keys["padding"] = list(padding)
        if "padding" not in keys and _pair(padding) != (0, 0):
            keys["padding"] = _compact(padding)
        if dilation != (1, 1):
            keys["dilation"] = _compact(dilation)
        if groups != 1:
            keys["groups"] = groups
        return keys

    def pool_keys(self, is_max, m, what):
        """(op, keys) of max/avg pooling with PyTorch's settings."""
        if is_max and m.return_indices:
            self.refuse(f"{what}(return_indices=True)")
        if not is_max and m.divisor_override is not None:
            self.refuse(f"{what}(divisor_override={m.divisor_override})")
        kernel = _pair(m.kernel_size)
        stride = _pair(m.stride if m.stride not in (None, ()) else kernel)
        keys = {"kernel": _compact(kernel)}
        if stride != kernel:
            keys["stride"] = _compact(stride)
        if _pair(m.padding) != (0, 0):
            keys["padding"] = _compact(m.padding)
        if is_max and _pair(m.dilation) != (1, 1):
            keys["dilation"] = _compact(m.dilation)
        if m.ceil_mode:
            keys["ceil_mode"] = True
        if not is_max and not m.count_include_pad:
            keys["count_include_pad"] = False
        return ("maxpool" if is_max else "avgpool"), keys

    def adaptive(self, output_size, what):
        size = _pair(output_size)
        if None in size:
            self.refuse(f"{what}({output_size})", "an output size of None keeps an input size")
        if size == (1, 1):
            return "global_avgpool", {}
        return "adaptive_avgpool", {"output_size": _compact(size)}

    def layernorm_check(self, x, normalized_shape, what):
        """Layer norm is over channels only: the last axis of a channels-last map or of a vector."""
        if x.kind == "map":
            self.refuse(what, "over the last axis of a [N,C,H,W] map (normalise channels-last, as ConvNeXt "
                              "does, or use GroupNorm(1, C))")
        if len(tuple(normalized_shape)) != 1:
            self.refuse(f"{what}({tuple(normalized_shape)})", "only over one axis, the channels")

    def flatten(self, x, start, end, what, emit):
        if start != 1 or end not in (-1, x_dims(x) - 1):
            self.refuse(f"{what}(start_dim={start}, end_dim={end})", "only flatten(x, 1)")
        if x.kind == "vec":
            return x
        if x.kind == "cl":
            self.refuse(what, "flattens a channels-last map (permute back to [N,C,H,W] first)")
        return emit()

    # ---- functions and methods -----------------------------------------------------------------------

    def call(self, node):
        key = _function_key(node)
        if key in _PASS_THROUGH:
            return self.value(node.args[0])
        handler = getattr(self, f"fn_{key}", None)
        if handler is None:
            if not _holds_tensor(node):  # arithmetic on sizes, asserts: no tensor, nothing to run
                return _Value("meta")
            self.refuse(_describe(node))
        return handler(node, _Args(node))

    def fn_size(self, node, a):
        return _Value("meta")

    fn_getattr = fn_dim = fn_size

    def fn_getitem(self, node, a):
        src = self.value(node.args[0])
        idx = node.args[1]
        if not isinstance(src, _Value) or src.kind == "meta":
            return _Value("meta")
        if src.kind == "chunks":
            start, end = src.pieces[idx]
            return self.emit_fn("slice", [src.layer], "map", start=start, end=end)
        if src.kind == "param":
            return _Value("param", None, target=src.target, shape=self.shape(node))
        if src.kind == "map" and _channel_slice(idx):
            return self.channel_range(src, idx[1], node.args[0])
        if src.kind == "map" and _channel_index(idx):
            return self.channel(src, idx[1], node.args[0])
        return self.refuse("tensor indexing", "only x[:, start:end] and x[:, i].unsqueeze(1) on channels")

    def channel_range(self, src, s, source):
        """x[:, start:end] as a `slice` layer (nothing for all channels)."""
        c = self.shape(source)[1]
        start, end, _ = s.indices(c)
        if start >= end:
            self.refuse("tensor indexing", "selects no channel")
        if (start, end) == (0, c):
            return src
        return self.emit_fn("slice", [src.layer], "map", start=start, end=end)

    def channel(self, src, i, source):
        """x[:, i]: remembered, and emitted as a one-channel slice when unsqueeze(1) makes it a map again."""
        c = self.shape(source)[1]
        if not -c <= i < c:
            self.refuse("tensor indexing", f"channel {i} of {c}")
        return _Value("channel", src.layer, channel=i % c)

    def fn_select(self, node, a):
        """torch.select(x, 1, i) (and ATen's select.int, which x[:, i] becomes under torch.export)."""
        src = self.tensor(a.get(0, "input"), "select")
        dim, index = a.get(1, "dim"), a.get(2, "index")
        if src.kind != "map" or dim not in (1, -3) or not isinstance(index, int):
            self.refuse(f"select(dim={dim})", "only x[:, i].unsqueeze(1) on the channels of a [N,C,H,W] map")
        return self.channel(src, index, a.get(0, "input"))

    def activation(self, op, node, **keys):
        x = self.tensor(node.args[0], _describe(node))
        return self.emit_fn(op, [x.layer], x.kind, **keys)

    def _fn_activation(self, node, a):
        return self.activation(_ACTIVATION_NAMES[_function_key(node)], node)

    fn_relu = fn_relu6 = fn_sigmoid = fn_tanh = fn_silu = fn_hardswish = fn_hardsigmoid = _fn_activation

    def fn_gelu(self, node, a):
        if a.get(1, "approximate", "none") != "none":
            self.refuse(f"gelu(approximate={a.get(1, 'approximate')!r})")
        return self.activation("gelu", node)

    def fn_leaky_relu(self, node, a):
        return self.activation("leaky_relu", node, negative_slope=a.get(1, "negative_slope", 0.01))

    def fn_hardtanh(self, node, a):
        bounds = (a.get(1, "min_val", -1.0), a.get(2, "max_val", 1.0))
        if bounds != (0, 6):
            self.refuse(f"hardtanh{bounds}")
        return self.activation("relu6", node)

    def fn_clamp(self, node, a):
        low, high = a.get(1, "min", None), a.get(2, "max", None)
        if low != 0 or isinstance(high, torch.fx.Node):
            self.refuse(f"clamp({low}, {high})", "only clamp(x, 0) and clamp(x, 0, max)")
        if high is None:
            return self.activation("relu", node)
        if high == 6:
            return self.activation("relu6", node)
        return self.activation("relu", node, max_value=high)

    fn_clip = fn_clamp

    def fn_softmax(self, node, a):
        x = self.tensor(node.args[0], "softmax")
        if x.kind != "vec" or a.get(1, "dim", None) not in (1, -1):
            self.refuse("softmax", "only over the features of a vector")
        return self.emit_fn("softmax", [x.layer], "vec")

    def fn_max_pool2d(self, node, a):
        return self.functional_pool(node, a, True)

    def fn_avg_pool2d(self, node, a):
        return self.functional_pool(node, a, False)

    def functional_pool(self, node, a, is_max):
        what = _describe(node)
        x = self.tensor(node.args[0], what)
        self.need(x, "map", what)
        settings = _PoolSettings(
            kernel_size=a.get(1, "kernel_size"), stride=a.get(2, "stride", None), padding=a.get(3, "padding", 0))
        if is_max:
            settings.dilation = a.get(4, "dilation", 1)
            settings.ceil_mode = a.get(5, "ceil_mode", False)
            settings.return_indices = a.get(6, "return_indices", False)
        else:
            settings.ceil_mode = a.get(4, "ceil_mode", False)
            settings.count_include_pad = a.get(5, "count_include_pad", True)
            settings.divisor_override = a.get(6, "divisor_override", None)
        op, keys = self.pool_keys(is_max, settings, what)
        return self.emit_fn(op, [x.layer], "map", **keys)

    def fn_adaptive_avg_pool2d(self, node, a):
        what = _describe(node)
        x = self.tensor(node.args[0], what)
        self.need(x, "map", what)
        op, keys = self.adaptive(a.get(1, "output_size"), what)
        return self.emit_fn(op, [x.layer], "map", **keys)

    def fn_adaptive_max_pool2d(self, node, a):
        x = self.tensor(node.args[0], "adaptive_max_pool2d")
        self.need(x, "map", "adaptive_max_pool2d")
        if _pair(a.get(1, "output_size")) != (1, 1) or a.get(2, "return_indices", False):
            self.refuse("adaptive_max_pool2d", "only output size 1")
        return self.emit_fn("global_maxpool", [x.layer], "map")

    def fn_flatten(self, node, a):
        x = self.tensor(node.args[0], "flatten")
        return self.flatten(x, a.get(1, "start_dim", 0), a.get(2, "end_dim", -1), "flatten",
                            lambda: self.emit_fn("flatten", [x.layer], "vec"))

    def fn_mean(self, node, a):
        x = self.tensor(node.args[0], "mean")
        dims = a.get(1, "dim", None)
        keep = a.get(2, "keepdim", False)
        dims = {d % 4 for d in ((dims,) if isinstance(dims, int) else tuple(dims or ()))}
        spatial = {"map": {2, 3}, "cl": {1, 2}}.get(x.kind)
        if dims != spatial:
            self.refuse(f"mean(dim={a.get(1, 'dim', None)})", "only the mean over height and width")
        pooled = self.emit_fn("global_avgpool", [x.layer], x.kind)
        if keep:
            return pooled
        return self.emit_fn("flatten", [pooled.layer], "vec")

    def fn_cat(self, node, a):
        parts = [self.tensor(t, "cat") for t in a.get(0, "tensors")]
        dim = a.get(1, "dim", 0)
        kinds = {p.kind for p in parts}
        if len(kinds) != 1 or kinds.pop() != "map" or dim not in (1, -3):
            self.refuse(f"cat(dim={dim})", "only the concatenation of [N,C,H,W] maps along channels")
        if len(parts) == 1:
            return parts[0]
        return self.emit_fn("concat", [p.layer for p in parts], "map")

    fn_concat = fn_concatenate = fn_cat

    def fn_chunk(self, node, a):
        return self.pieces(node, a, "chunk")

    def fn_split(self, node, a):
        return self.pieces(node, a, "split")

    def pieces(self, node, a, what):
        """chunk/split along channels: the slices are emitted when a piece is read (getitem)."""
        x = self.tensor(node.args[0], what)
        dim = a.get(2, "dim", 0)
        if x.kind != "map" or dim not in (1, -3):
            self.refuse(f"{what}(dim={dim})", "only along the channels of a [N,C,H,W] map")
        sizes = [shape[1] for shape in self.shapes(node)]
        bounds = [0]
        for s in sizes:
            bounds.append(bounds[-1] + s)
        return _Value("chunks", x.layer, pieces=list(zip(bounds[:-1], bounds[1:])))

    def fn_permute(self, node, a):
        x = self.tensor(node.args[0], "permute")
        dims = node.args[1:] if len(node.args) > 2 else a.get(1, "dims")
        dims = tuple(int(d) % 4 for d in dims)
        if x.kind == "map" and dims == (0, 2, 3, 1):
            return _Value("cl", x.layer)
        if x.kind == "cl" and dims == (0, 3, 1, 2):
            return _Value("map", x.layer)
        return self.refuse(f"permute{dims}", "only permute(0, 2, 3, 1) to channels-last and back")

    def fn_transpose(self, node, a):
        x = self.tensor(node.args[0], "transpose", kinds=("grouped", "map", "cl", "vec"))
        dims = {a.get(1, "dim0") % 5, a.get(2, "dim1") % 5} if x.kind == "grouped" else None
        if dims != {1, 2}:
            self.refuse("transpose", "only inside a channel shuffle (view, transpose(1, 2), view)")
        return _Value("shuffled", x.layer, groups=x.groups, source_shape=x.source_shape)

    def fn_view(self, node, a):
        x = self.tensor(node.args[0], _function_key(node), kinds=("map", "cl", "vec", "grouped", "shuffled", "param"))
        src, out = self.shape(node.args[0]), self.shape(node)
        if x.kind == "param":
            return _Value("param", None, target=x.target, shape=out)
        if out == src:
            return x
        if x.kind == "map" and len(out) == 2 and out[0] == src[0] and out[1] == math.prod(src[1:]):
            return self.emit_fn("flatten", [x.layer], "vec")
        if x.kind == "cl" and len(out) == 2 and out[0] == src[0] and out[1] == math.prod(src[1:]):
            return self.emit_fn("reshape", [x.layer], "vec", target_shape=[-1])
        if x.kind == "vec" and len(out) == 4 and out[0] == src[0] and out[1:] == (src[1], 1, 1):
            return self.emit_fn("reshape", [x.layer], "map", target_shape=[1, 1, src[1]])  # SE's view(b, c, 1, 1)
        if x.kind == "map" and len(out) == 5 and out[0] == src[0] and out[3:] == src[2:] \
                and out[1] * out[2] == src[1]:
            return _Value("grouped", x.layer, groups=out[1], source_shape=src)
        if x.kind in ("grouped", "shuffled") and out == x.source_shape:
            if x.kind == "grouped":
                return _Value("map", x.layer)
            return self.emit_fn("channel_shuffle", [x.layer], "map", groups=x.groups)
        return self.refuse(f"{_function_key(node)} {list(src)} -> {list(out)}",
                           "only flattening (x.view(x.size(0), -1)) and the views of a channel shuffle")

    fn_reshape = fn_squeeze = fn_view

    def fn_unsqueeze(self, node, a):
        """x[:, i].unsqueeze(1) is x[:, i:i+1] (GoogLeNet's and Inception v3's transform_input); any other
        unsqueeze is a view."""
        x = self.value(node.args[0])
        if not isinstance(x, _Value) or x.kind != "channel":
            return self.fn_view(node, a)
        dim = a.get(1, "dim")
        if dim not in (1, -3):
            self.refuse(f"unsqueeze({dim})", "of one channel x[:, i]; only unsqueeze(1), which is x[:, i:i+1]")
        return self.emit_fn("slice", [x.layer], "map", start=x.channel, end=x.channel + 1)

    def fn_expand(self, node, a):
        """A [N,C,1,1] gate expanded over a map (`y.expand_as(x)` in squeeze-and-excitation): the engine's
        mul broadcasts it, so the value is the gate, marked so that only mul may read it."""
        x = self.tensor(node.args[0], _function_key(node))
        src, out = self.shape(node.args[0]), self.shape(node)
        if out == src:
            return x
        if x.kind != "map" or src[2:] != (1, 1) or out[:2] != src[:2]:
            self.refuse(f"{_function_key(node)} {list(src)} -> {list(out)}", "only a [N,C,1,1] gate over a map")
        return _Value("map", x.layer, gate=True)

    fn_expand_as = fn_expand

    def fn_add(self, node, a):
        return self.arithmetic(node, a, "add")

    def fn_sub(self, node, a):
        return self.arithmetic(node, a, "sub")

    def fn_mul(self, node, a):
        return self.arithmetic(node, a, "mul")

    def fn_truediv(self, node, a):
        return self.arithmetic(node, a, "div")

    fn_div = fn_truediv

    def fn_rsub(self, node, a):
        return self.arithmetic(node, a, "sub", swap=True)

    def fn_neg(self, node, a):
        x = self.tensor(node.args[0], "neg")
        return self.emit_fn("scalar_affine", [x.layer], x.kind, multiplier=-1.0)

    def arithmetic(self, node, a, op, swap=False):
        """+, -, *, / between tensors, parameters (layer scale) and Python numbers."""
        lhs, rhs = self.value(a.get(0, "input")), self.value(a.get(1, "other"))
        if swap:
            lhs, rhs = rhs, lhs
        what = {"add": "+", "sub": "-", "mul": "*", "div": "/"}[op]
        alpha = a.get(2, "alpha", 1) if op in ("add", "sub") else 1
        if op == "div" and a.get(2, "rounding_mode", None) is not None:
            self.refuse("div(rounding_mode=...)")
        numbers = [isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lhs, rhs)]
        if any(isinstance(v, _Value) and v.kind == "meta" for v in (lhs, rhs)):
            if all(isinstance(v, _Value) and v.kind == "meta" or n for v, n in zip((lhs, rhs), numbers)):
                return _Value("meta")
            self.refuse(what, "with a value computed from a tensor's shape, which depends on the input size")
        if numbers[0] and numbers[1]:
            return _Value("meta")
        if numbers[0] or numbers[1]:
            return self.scalar(op, lhs, rhs, numbers[0], alpha, what)
        for v in (lhs, rhs):
            if isinstance(v, _Value) and v.kind not in ("map", "cl", "vec", "param"):
                self.refuse(what, _applied_to(v.kind))
            if not isinstance(v, _Value):
                self.refuse(what)
        if lhs.kind == "param" or rhs.kind == "param":
            return self.layer_scale(op, lhs, rhs, what)
        if alpha != 1:
            self.refuse(f"{op}(alpha={alpha})")
        if op == "div":
            self.refuse("tensor / tensor")
        if lhs.kind != rhs.kind:
            self.refuse(what, "between a channels-last and a [N,C,H,W] map")
        gates = [getattr(v, "gate", False) for v in (lhs, rhs)]
        if any(gates):
            if op != "mul" or all(gates):
                self.refuse(what, "with an expanded [N,C,1,1] gate; only mul broadcasts it")
            return self.emit_fn(op, [lhs.layer, rhs.layer] if gates[1] else [rhs.layer, lhs.layer], lhs.kind)
        order = self.broadcast_order([a.get(0, "input"), a.get(1, "other")], op, what, swap)
        return self.emit_fn(op, [(lhs, rhs)[i].layer for i in order], lhs.kind)

    def broadcast_order(self, operands, op, what, swap):
        """The inputs' order for the engine: equal shapes as given; for mul, and the second operand of sub,
        a [N,C,1,1] gate may broadcast over a map (squeeze-and-excitation)."""
        shapes = [self.shape(n) for n in operands]
        if swap:
            shapes.reverse()
        if shapes[0] == shapes[1]:
            return [0, 1]
        gate = [s is not None and len(s) == 4 and s[2:] == (1, 1) for s in shapes]
        full = shapes[0] if gate[1] else shapes[1]
        fits = len(full) == 4 and all(shapes[i][:2] == full[:2] for i in (0, 1))
        if op == "mul" and fits and gate[1]:
            return [0, 1]
        if op == "mul" and fits and gate[0]:
            return [1, 0]
        if op == "sub" and fits and gate[1]:
            return [0, 1]
        return self.refuse(what, f"broadcasts {list(shapes[0])} with {list(shapes[1])}; only a [N,C,1,1] gate "
                                 "over a map (in mul, and as sub's second operand)")

    def scalar(self, op, lhs, rhs, number_first, alpha, what):
        """x + s, x - s, s - x, x * s, s * x, x / s as scalar_affine (multiplier, offset)."""
        x, s = (rhs, lhs) if number_first else (lhs, rhs)
        x = self.tensor_value(x, what)
        s = float(s)
        if op == "add":
            keys = {"offset": s * alpha}
        elif op == "sub":
            keys = {"multiplier": -float(alpha), "offset": s} if number_first else {"offset": -s * alpha}
        elif op == "mul":
            keys = {"multiplier": s}
        elif number_first:
            self.refuse(f"number {what} tensor")
        else:
            keys = {"multiplier": 1.0 / s}
        return self.emit_fn("scalar_affine", [x.layer], x.kind, **keys)

    def tensor_value(self, v, what):
        if v.kind == "param":
            self.refuse(what, "with a parameter; only a parameter times a tensor (layer scale) is supported")
        if v.kind not in ("map", "cl", "vec"):
            self.refuse(what, _applied_to(v.kind))
        return v

    def layer_scale(self, op, lhs, rhs, what):
        """parameter * x: one factor per channel (`scale` with `parameter`)."""
        if op != "mul" or (lhs.kind == "param") == (rhs.kind == "param"):
            self.refuse(what, "with a parameter; only a parameter times a tensor (layer scale) is supported")
        p, x = (lhs, rhs) if lhs.kind == "param" else (rhs, lhs)
        if p.target not in self.state_keys:
            self.refuse(what, f"with the tensor {p.target}, which is not in the state_dict")
        rank = {"map": 4, "cl": 4, "vec": 2}[x.kind]
        channel = {"map": 1, "cl": 3, "vec": 1}[x.kind]
        shape = (1,) * (rank - len(p.shape)) + tuple(p.shape)
        c = self.shape(self.node)[channel]
        wanted = tuple(c if i == channel else 1 for i in range(rank))
        if shape != wanted:
            self.refuse(what, f"with a parameter of shape {list(p.shape)}; only one factor per channel")
        return self.emit_fn("scale", [x.layer], x.kind, parameter=p.target)

    # ---- functional forms of layers with weights ------------------------------------------------------

    def weighted(self, node, what, op, slots, kind, **keys):
        """A functional op whose weights are module parameters (F.layer_norm inside ConvNeXt's LayerNorm2d):
        it is named by their common prefix, so that `<name>.weight` finds them."""
        x = self.tensor(node.args[0], what)
        prefix = None
        for suffix, arg in slots.items():
            if arg is None:
                continue
            v = self.value(arg)
            if not isinstance(v, _Value) or v.kind != "param" or not v.target.endswith("." + suffix) \
                    or v.target not in self.state_keys:
                self.refuse(what, f"needs its {suffix} to be a state_dict tensor named <module>.{suffix}")
            p = v.target[: -len(suffix) - 1]
            if prefix not in (None, p):
                self.refuse(what, "takes its tensors from different modules")
            prefix = p
        if prefix is None:
            return self.emit_fn(op, [x.layer], kind, **keys)
        if prefix in self.names:
            self.refuse(what, "runs a module's weights twice; camwatch finds weights by layer name")
        return _Value(kind, self.emit(prefix, op, [x.layer], **keys))

    def fn_layer_norm(self, node, a):
        x = self.tensor(node.args[0], "layer_norm")
        self.layernorm_check(x, a.get(1, "normalized_shape"), "layer_norm")
        return self.weighted(node, "layer_norm", "layernorm",
                             {"weight": a.get(2, "weight", None), "bias": a.get(3, "bias", None)}, x.kind,
                             **_eps(a.get(4, "eps", 1e-5)))

    def fn_group_norm(self, node, a):
        x = self.tensor(node.args[0], "group_norm")
        self.need(x, "map", "group_norm")
        return self.weighted(node, "group_norm", "groupnorm",
                             {"weight": a.get(2, "weight", None), "bias": a.get(3, "bias", None)}, "map",
                             groups=a.get(1, "num_groups"), **_eps(a.get(4, "eps", 1e-5)))

    def fn_batch_norm(self, node, a):
        x = self.tensor(node.args[0], "batch_norm")
        self.need(x, "map", "batch_norm")
        slots = {"running_mean": a.get(1, "running_mean"), "running_var": a.get(2, "running_var"),
                 "weight": a.get(3, "weight", None), "bias": a.get(4, "bias", None)}
        if None in slots.values():
            self.refuse("batch_norm", "needs running statistics, weight and bias")
        return self.weighted(node, "batch_norm", "batchnorm", slots, "map", **_eps(a.get(7, "eps", 1e-5)))

    def fn_linear(self, node, a):
        x = self.tensor(node.args[0], "linear")
        if x.kind == "map":
            self.refuse("linear", "applied to the last axis of a [N,C,H,W] map")
        op = "linear" if x.kind == "vec" else "channel_linear"
        return self.weighted(node, "linear", op, {"weight": a.get(1, "weight"), "bias": a.get(2, "bias", None)},
                             x.kind)

    def fn_conv2d(self, node, a):
        x = self.tensor(node.args[0], "conv2d")
        self.need(x, "map", "conv2d")
        weight = self.value(a.get(1, "weight"))
        if not isinstance(weight, _Value) or weight.kind != "param":
            self.refuse("conv2d", "needs its weight to be a state_dict tensor")
        keys = self.conv_keys(weight.shape, a.get(3, "stride", 1), a.get(4, "padding", 0), a.get(5, "dilation", 1),
                              a.get(6, "groups", 1), "zeros", "conv2d")
        return self.weighted(node, "conv2d", "conv2d", {"weight": a.get(1, "weight"), "bias": a.get(2, "bias", None)},
                             "map", **keys)

    def fn_pad(self, node, a):
        x = self.tensor(node.args[0], "pad")
        pad = tuple(a.get(1, "pad"))
        if x.kind != "map" or len(pad) != 4 or a.get(2, "mode", "constant") != "constant" \
                or a.get(3, "value", None) not in (None, 0, 0.0) or min(pad) < 0:
            self.refuse("pad", "only zero padding of the height and width of a [N,C,H,W] map")
        left, right, top, bottom = pad
        return self.emit_fn("zeropad", [x.layer], "map", padding=[top, bottom, left, right])


class _PoolSettings:
    """A functional pooling call's arguments, shaped like the nn module's attributes."""

    def __init__(self, kernel_size, stride, padding):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.ceil_mode, self.count_include_pad = 1, False, True
        self.return_indices, self.divisor_override = False, None


class _Args:
    """A call's arguments by position or keyword (fx keeps them as written)."""

    def __init__(self, node):
        self.args, self.kwargs = node.args, node.kwargs

    def get(self, index, name, *default):
        if index < len(self.args):
            return self.args[index]
        if name in self.kwargs:
            return self.kwargs[name]
        if default:
            return default[0]
        raise _Refusal(f"missing argument {name}")


def _eps(eps):
    """The `eps` key, left out at the spec's default."""
    return {} if eps == 1e-5 else {"eps": eps}


def _applied_to(kind):
    if kind == "channel":
        return ("applied to one channel x[:, i]; camwatch's engine supports it only as x[:, i].unsqueeze(1) "
                "or x[:, i:i+1]")
    names = {"map": "a [N,C,H,W] map", "cl": "a channels-last map", "vec": "a [N,F] vector",
             "param": "a parameter", "meta": "a shape value"}
    return f"applied to {names.get(kind, kind)}, which camwatch's engine does not support"


def _channel_slice(idx):
    """Whether a subscript is x[:, a:b] (optionally followed by full slices), with constant bounds."""
    if not isinstance(idx, tuple) or len(idx) < 2 or idx[0] != slice(None):
        return False
    s = idx[1]
    return isinstance(s, slice) and all(i == slice(None) for i in idx[2:]) and s.step in (None, 1) \
        and all(b is None or isinstance(b, int) for b in (s.start, s.stop))


def _channel_index(idx):
    """Whether a subscript is x[:, i] (optionally followed by full slices) with a constant channel i."""
    return isinstance(idx, tuple) and len(idx) >= 2 and idx[0] == slice(None) and type(idx[1]) is int \
        and all(i == slice(None) for i in idx[2:])


def _holds_tensor(node):
    """Whether an op produced a tensor (or several) on the example input."""
    meta = node.meta.get("tensor_meta", node.meta.get("val"))
    tensor = (TensorMetadata, torch.Tensor)
    items = meta if isinstance(meta, (tuple, list)) and not isinstance(meta, tensor) else (meta,)
    return any(isinstance(m, tensor) for m in items)


def x_dims(x):
    return {"map": 4, "cl": 4, "vec": 2}.get(x.kind, 4)


# fx targets -> the handler key: functions by their identity, methods by name (in-place forms alike).
_FUNCTIONS = {
    operator.add: "add", operator.iadd: "add", operator.sub: "sub", operator.isub: "sub",
    operator.mul: "mul", operator.imul: "mul", operator.truediv: "truediv", operator.itruediv: "truediv",
    operator.neg: "neg", operator.getitem: "getitem", getattr: "getattr",
    torch.add: "add", torch.sub: "sub", torch.mul: "mul", torch.div: "div", torch.rsub: "rsub",
    torch.neg: "neg",
}


def _function_key(node):
    if node.op == "call_method":
        name = node.target
        return name[:-1] if name.endswith("_") and not name.startswith("_") else name
    target = node.target
    if target in _FUNCTIONS:
        return _FUNCTIONS[target]
    if isinstance(target, torch._ops.OpOverload):  # torch.export's ATen ops: aten.relu_.default -> relu
        name = target.overloadpacket.__name__
        return name[:-1] if name.endswith("_") and not name.startswith("_") else name
    name = getattr(target, "__name__", str(target))
    if name.endswith("_") and not name.startswith("_"):
        name = name[:-1]
    module = getattr(target, "__module__", "") or ""
    if module.startswith(("torch", "torchvision")) or module == "" or name in _PASS_THROUGH:
        return name
    return f"{module}.{name}"


def _describe(node):
    """How a function or method appears in a message: torch.roll, F.interpolate, Tensor.roll."""
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    target = node.target
    if isinstance(target, torch._ops.OpOverload):
        return f"aten.{target.overloadpacket.__name__}"
    module = getattr(target, "__module__", None) or "torch"
    name = getattr(target, "__name__", str(target))
    if module.startswith("torch.nn.functional"):
        return f"F.{name}"
    if module.startswith("torch._C") or module == "torch":
        return f"torch.{name}"
    return f"{module}.{name}"


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _example(model, channels, h, w):
    """Two random images on the weights' device and in their dtype."""
    first = next(iter(model.parameters()), None)
    example = torch.randn(2, channels, h, w, device=first.device if first is not None else "cpu")
    if first is not None and first.is_floating_point():
        example = example.to(first.dtype)
    return example


def _fx_tracer(gm, model, example):
    """The tracer over fx's graph, with the example's shapes (ShapeProp) for deciding the mapping."""
    gm.graph.eliminate_dead_code()
    gm.recompile()
    with torch.no_grad():
        try:
            ShapeProp(gm).propagate(example)
        except Exception as error:
            cause = error.__cause__ or error  # ShapeProp wraps the model's own error
            h, w = example.shape[2:]
            raise ValueError(f"{type(model).__name__}: running an input of {h}x{w} failed: "
                             f"{_first_line(cause)}") from None
    return _Tracer(gm, type(model).__name__, set(model.state_dict()))


def _tracer(model, example):
    """torch.fx's symbolic trace, which keeps the spec independent of the input size; torch.export's graph
    (exported.py) when fx cannot trace the model, e.g. for Python control flow on a shape."""
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception as error:  # fx raises many kinds: TraceError, TypeError, NotImplementedError …
        from .exported import export_tracer  # exported.py builds on this module
        return export_tracer(model, example, _first_line(error))
    return _fx_tracer(gm, model, example)


def to_spec(model, *, input_size, name=None, input_channels=3):
    """The camwatch model spec (a dict; json.dumps it) of `model`, traced in eval mode.

    input_size: the size the model is trained at, N or (H, W). It is recorded as the spec's `input_size` and
    used once to run an example input through the graph; no layer depends on it (except with torch.export,
    the fallback for models fx cannot trace: that graph holds the branches taken at this size).
    Raises ValueError naming the module path and the op of the first thing camwatch's engine cannot run.
    """
    h, w = _pair(input_size)
    was_training = model.training
    model.eval()
    try:
        tracer = _tracer(model, _example(model, input_channels, h, w))
        try:
            output = tracer.run()
        except _Refusal as refusal:
            raise ValueError(str(refusal)) from None
    finally:
        model.train(was_training)
    spec = {"name": name or type(model).__name__}
    if input_channels != 3:
        spec["input_channels"] = input_channels
    spec["input_size"] = h if h == w else [h, w]
    spec["layers"] = tracer.layers
    if output != tracer.layers[-1]["name"]:
        spec["output"] = output
    ignored = _ignore_prefixes(spec, model.state_dict().keys())
    if ignored:
        spec["ignore_weights"] = ignored
    return spec


def used_weights(spec):
    """The state_dict keys the spec's layers read (num_batches_tracked aside)."""
    suffixes = {"conv2d": ("weight", "bias"), "linear": ("weight", "bias"), "channel_linear": ("weight", "bias"),
                "batchnorm": ("weight", "bias", "running_mean", "running_var"),
                "layernorm": ("weight", "bias"), "groupnorm": ("weight", "bias"), "affine": ("weight", "bias")}
    used = set()
    for layer in spec["layers"]:
        for s in suffixes.get(layer["op"], ()):
            used.add(f"{layer['name']}.{s}")
        if layer["op"] == "scale":
            used.add(layer.get("parameter", f"{layer['name']}.weight"))
    return used


def unused_weights(spec, keys):
    """The state_dict keys no layer of the spec reads (num_batches_tracked aside), in key order:
    GoogLeNet's and Inception's auxiliary heads, which run in training mode only."""
    used = used_weights(spec)
    return [k for k in keys if k not in used and not k.endswith("num_batches_tracked")]


def _ignore_prefixes(spec, keys):
    """The unused keys as the fewest module paths (`aux1`) that hold only unused tensors: the spec's
    `ignore_weights`, which lets the binder accept a state_dict with heads the spec does not run."""
    keys = list(keys)
    unused = set(unused_weights(spec, keys))
    if not unused:
        return []
    relevant = [k for k in keys if not k.endswith("num_batches_tracked")]
    prefixes = []
    for key in keys:
        if key not in unused or any(key.startswith(p + ".") or key == p for p in prefixes):
            continue
        parts = key.split(".")
        choice = key
        for n in range(1, len(parts)):
            p = ".".join(parts[:n])
            if all(k in unused for k in relevant if k.startswith(p + ".")):
                choice = p
                break
        prefixes.append(choice)
    return prefixes
