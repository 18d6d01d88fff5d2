"""The torch.export fallback: the fx tracer's mapping over the graph torch.export makes of a model that
torch.fx cannot trace (Python control flow on a shape, such as `if x.shape[-1] > 100:`).

torch.export runs the model on the example input, so such a branch is decided at the example's size. Its
graph is at ATen level, with parameters and buffers lifted to inputs. The ATen ops of the functions the fx
tracer maps (aten.conv2d, aten.linear, aten.relu_, aten.add.Tensor, aten.mean.dim, aten.cat, aten.view …)
take the same arguments in the same order as torch's functions, so the fx tracer's handlers run them as they
are; this module maps only what differs: lifted inputs (the state_dict tensors they come from), batch
norm's argument order, ATen's slice, a tuple output, and layer names, which come from
node.meta["nn_module_stack"] so that weights are found by their state_dict keys.
"""

import types

import torch
import torch.fx

from .tracer import _Args, _first_line, _Tracer, _Value


class _ExportTracer(_Tracer):
    """One pass over an ExportedProgram's graph, building the spec's layer list."""

    def __init__(self, program, model):
        super().__init__(program.graph_module, type(model).__name__, set(model.state_dict()))
        signature = program.graph_signature
        self.lifted = {**signature.inputs_to_parameters, **signature.inputs_to_buffers}
        # The export graph has no submodules: the paths that keep their names are the model's.
        self.module_paths = {path for path, _ in model.named_modules() if path}
        leaf = torch.fx.Tracer().is_leaf_module
        self.leaves = {path for path, m in model.named_modules() if path and leaf(m, path)}

    def placeholder(self, node):
        """A lifted parameter or buffer is the state_dict tensor it was lifted from."""
        if node.name in self.lifted:
            return _Value("param", None, target=self.lifted[node.name], shape=self.shape(node))
        return super().placeholder(node)

    def output(self, node):
        """torch.export returns the outputs as a tuple; the logits must be its one element."""
        results = node.args[0]
        if len(results) != 1:
            self.refuse("output", "returns several values; camwatch needs the logits alone")
        return self.result(results[0])

    def functional_name(self, op):
        """The op of a leaf module (nn.ReLU, nn.MaxPool2d) is named by the module's path, as fx names the
        module's call; other ops as in the fx tracer (`<enclosing module path>.<op>`)."""
        stack = self.node.meta.get("nn_module_stack") or {}
        path = list(stack.values())[-1][0] if stack else ""
        if path in self.leaves:
            return self.unique(path)
        return super().functional_name(op)

    def fn_batch_norm(self, node, a):
        """aten.batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn)
        handed on in F.batch_norm's order (input, running_mean, running_var, weight, bias, …)."""
        if a.get(5, "training"):
            self.refuse("batch_norm", "in training mode (no running statistics)")
        x, weight, bias, mean, var = (a.get(i, n) for i, n in enumerate(
            ("input", "weight", "bias", "running_mean", "running_var")))
        reordered = types.SimpleNamespace(args=(x, mean, var, weight, bias, False, a.get(6, "momentum"),
                                                a.get(7, "eps")), kwargs={})
        return super().fn_batch_norm(node, _Args(reordered))

    def fn_slice(self, node, a):
        """aten.slice.Tensor(x, dim, start, end, step), what x[:, start:end] becomes; a slice that keeps a
        whole axis (x[:, :, :]) is the tensor itself."""
        source = a.get(0, "self")
        src = self.tensor(source, "tensor indexing")
        dim, bounds = a.get(1, "dim", 0), slice(a.get(2, "start", None), a.get(3, "end", None), a.get(4, "step", 1))
        size = self.shape(source)[dim]
        if bounds.indices(size) == (0, size, 1):
            return src
        if src.kind != "map" or dim not in (1, -3) or bounds.step != 1:
            self.refuse("tensor indexing", "only x[:, start:end] and x[:, i].unsqueeze(1) on channels")
        return self.channel_range(src, bounds, source)

    def fn_getitem(self, node, a):
        """Element 0 of a tuple-valued ATen op (aten.adaptive_max_pool2d's values, beside the indices) is
        the op's result."""
        source = node.args[0]
        if isinstance(source, torch.fx.Node) and isinstance(source.meta.get("val"), (tuple, list)) \
                and getattr(self.value(source), "kind", None) == "map" and node.args[1] == 0:
            return self.value(source)
        return super().fn_getitem(node, a)

    def fn_constant_pad_nd(self, node, a):
        """aten.constant_pad_nd(x, pad, value): F.pad's constant mode."""
        padded = types.SimpleNamespace(args=(a.get(0, "self"), a.get(1, "pad"), "constant", a.get(2, "value", 0)),
                                       kwargs={})
        return self.fn_pad(node, _Args(padded))

    def fn_alias(self, node, a):
        """aten.alias, what a no-op view such as contiguous() on a contiguous tensor becomes."""
        return self.value(node.args[0])

    fn_split_with_sizes = _Tracer.fn_split


def export_tracer(model, example, fx_error):
    """The tracer over torch.export's graph of `model` (in eval mode), or one ValueError with both reasons
    when torch.export cannot take the model either (control flow on the values of a tensor)."""
    try:
        program = torch.export.export(model, (example,))
    except Exception as error:  # export raises many kinds: UserError, GuardOnDataDependentSymNode …
        raise ValueError(f"{type(model).__name__}: torch.fx cannot trace it ({fx_error}), nor torch.export "
                         f"({_first_line(error)}); camwatch_torch needs a model without data-dependent control "
                         "flow") from None
    program.graph_module.graph.eliminate_dead_code()  # e.g. adaptive_max_pool2d's unread indices
    return _ExportTracer(program, model)
