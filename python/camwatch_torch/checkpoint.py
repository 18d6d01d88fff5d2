"""Writing a checkpoint camwatch reads: the state_dict as HDF5 datasets plus root attributes."""

import json
import os
import tempfile

import h5py
import numpy as np
import torch

from .tracer import to_spec


def _state_dict(model):
    """The state_dict with DataParallel's `module.` prefix removed (camwatch reads plain module paths)."""
    state = model.state_dict()
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _unwrap(model):
    """The model inside nn.DataParallel / DistributedDataParallel, which is what gets traced."""
    return getattr(model, "module", model) if isinstance(
        model, (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)) else model


def _attribute(value):
    """An HDF5-storable form of an attribute value: sequences as float or int arrays, dicts as JSON."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, (list, tuple)):
        array = np.asarray(value)
        return array.astype(np.int64 if array.dtype.kind in "iub" else np.float64)
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_checkpoint(model, path, *, input_size, mean=None, std=None, spec=None, name=None, **attributes):
    """Write `model`'s state_dict to the HDF5 file `path` for camwatch, atomically.

    Datasets: every state_dict tensor under its key, float32 (int64 for num_batches_tracked), so that
    camwatch's engine binds them by name. Root attributes: `camwatch_model` (the compact JSON of `to_spec`,
    or of `spec` when given: tracing costs a forward pass, so a training loop may trace once and pass it),
    `input_size` [H, W], `mean` and `std` when given (3 values, in channel order, for pixels already
    multiplied by `scale`), and every extra keyword (`epoch`, `step`, `val_acc`, `scale`,
    `channel_order="bgr"`, …).

    name: the model's name in camwatch's charts, page and logs (the traced spec's `name`); by default the `arch`
    attribute when one is given, else the model's class name.

    The file is written under a temporary name in the same directory and renamed into place, so a watcher
    never sees a partial file (camwatch ignores the temporary name).
    """
    h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if spec is None:
        spec = to_spec(_unwrap(model), input_size=(h, w), name=name or attributes.get("arch"))
    elif name is not None:
        spec = {**spec, "name": name}
    for name, value in (("mean", mean), ("std", std)):
        if value is not None and len(value) != 3:
            raise ValueError(f"{name} needs 3 values (one per channel), got {value!r}")
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            for key, tensor in _state_dict(model).items():
                data = tensor.detach().cpu()
                data = data.to(torch.int64) if key.endswith("num_batches_tracked") else data.to(torch.float32)
                f.create_dataset(key, data=data.numpy())
            f.attrs["camwatch_model"] = json.dumps(spec, separators=(",", ":"))
            f.attrs["input_size"] = np.asarray([h, w], dtype=np.int64)
            if mean is not None:
                f.attrs["mean"] = np.asarray(mean, dtype=np.float64)
            if std is not None:
                f.attrs["std"] = np.asarray(std, dtype=np.float64)
            for key, value in attributes.items():
                f.attrs[key] = _attribute(value)
            f.flush()
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _umask():
    """The process umask (mkstemp creates 0600 files; a checkpoint should get the usual permissions)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
