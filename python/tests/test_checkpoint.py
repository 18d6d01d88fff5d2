"""save_checkpoint: datasets, attributes, DataParallel prefixes, and an atomic write."""

import json
import os

import h5py
import numpy as np
import pytest
import torch
import torch.nn as nn

import camwatch_torch.checkpoint as checkpoint_module
from camwatch_torch import save_checkpoint, to_spec


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def test_datasets_and_attributes(tmp_path):
    model = Net().double()
    path = str(tmp_path / "epoch-003.h5")
    save_checkpoint(model.float(), path, input_size=(48, 40), mean=[0.5, 0.5, 0.5], std=(0.25, 0.25, 0.25),
                    epoch=3, step=300, val_acc=0.75, lr=np.float32(0.1), arch_note="tiny", channel_order="rgb")
    with h5py.File(path, "r") as f:
        assert set(f) == set(model.state_dict())  # flat datasets named by the state_dict keys
        assert f["conv.weight"].dtype == np.float32 and f["bn.num_batches_tracked"].dtype == np.int64
        assert f["bn.num_batches_tracked"].shape == ()
        attrs = dict(f.attrs)
    spec = json.loads(attrs["camwatch_model"])
    assert spec == to_spec(model, input_size=(48, 40))
    assert ": " not in attrs["camwatch_model"]  # compact JSON
    assert attrs["input_size"].tolist() == [48, 40] and attrs["input_size"].dtype == np.int64
    assert attrs["mean"].tolist() == [0.5] * 3 and attrs["std"].tolist() == [0.25] * 3
    assert (attrs["epoch"], attrs["step"], attrs["val_acc"], attrs["channel_order"]) == (3, 300, 0.75, "rgb")
    assert abs(attrs["lr"] - 0.1) < 1e-7 and attrs["arch_note"] == "tiny"


def test_square_size_without_normalization(tmp_path):
    path = str(tmp_path / "last.h5")
    save_checkpoint(Net(), path, input_size=32)
    with h5py.File(path, "r") as f:
        assert f.attrs["input_size"].tolist() == [32, 32]
        assert "mean" not in f.attrs and "std" not in f.attrs


def test_data_parallel_prefix_is_stripped(tmp_path):
    path = str(tmp_path / "dp.h5")
    save_checkpoint(nn.DataParallel(Net()), path, input_size=16)
    with h5py.File(path, "r") as f:
        assert "conv.weight" in f and not any(k.startswith("module") for k in f)
        assert json.loads(f.attrs["camwatch_model"])["layers"][0]["name"] == "conv"


def test_write_is_atomic(tmp_path, monkeypatch):
    """While the file is written only a hidden temporary name exists; the rename happens after close."""
    path = str(tmp_path / "epoch-001.h5")
    seen = []
    real_replace = os.replace

    def replace(src, dst):
        seen.append((os.path.basename(src), os.path.exists(dst), sorted(os.listdir(tmp_path))))
        with h5py.File(src, "r") as f:  # complete and closed before the rename
            assert "fc.weight" in f
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint_module.os, "replace", replace)
    save_checkpoint(Net(), path, input_size=16)
    (temp, target_existed, listing), = seen
    assert temp.startswith(".epoch-001.h5.") and temp.endswith(".tmp") and not target_existed
    assert listing == [temp]
    assert os.listdir(tmp_path) == ["epoch-001.h5"]
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "epoch-002.h5"
    path.write_bytes(b"previous checkpoint")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(h5py.Group, "create_dataset", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(Net(), str(path), input_size=16)
    assert os.listdir(tmp_path) == ["epoch-002.h5"] and path.read_bytes() == b"previous checkpoint"


def test_refused_model_writes_nothing(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Upsample(scale_factor=2))
    with pytest.raises(ValueError, match=r"^1 \(Upsample\)"):
        save_checkpoint(model, str(tmp_path / "x.h5"), input_size=16)
    assert os.listdir(tmp_path) == []


def test_bad_mean(tmp_path):
    with pytest.raises(ValueError, match="mean needs 3 values"):
        save_checkpoint(Net(), str(tmp_path / "x.h5"), input_size=16, mean=[0.5])
    assert os.listdir(tmp_path) == []


def test_name_in_charts(tmp_path):
    """The spec's name (camwatch's chart titles): `name`, else the `arch` attribute, else the class name."""
    def spec_name(**kwargs):
        path = str(tmp_path / "named.h5")
        save_checkpoint(Net(), path, input_size=16, **kwargs)
        with h5py.File(path, "r") as f:
            return json.loads(f.attrs["camwatch_model"])["name"], dict(f.attrs).get("arch")
    assert spec_name() == ("Net", None)
    assert spec_name(arch="tinynet") == ("tinynet", "tinynet")
    assert spec_name(arch="tinynet", name="Tiny net v2") == ("Tiny net v2", "tinynet")
    traced = to_spec(Net(), input_size=16)
    assert spec_name(spec=traced, name="given") == ("given", None)
    assert traced["name"] == "Net"  # the caller's spec is not modified
