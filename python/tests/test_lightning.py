"""The Lightning callback, driven by a stand-in trainer (Lightning itself is optional)."""

import types

import h5py
import torch
import torch.nn as nn

from camwatch_torch.lightning import CamwatchCheckpoint


def test_saves_every_n_epochs(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    callback = CamwatchCheckpoint(str(tmp_path / "ckpt"), input_size=24, every_n_epochs=2, run="a")
    for epoch in range(5):
        trainer = types.SimpleNamespace(current_epoch=epoch, global_step=10 * (epoch + 1), is_global_zero=True,
                                        callback_metrics={"val/acc": torch.tensor(0.5 + epoch / 10)})
        callback.on_train_epoch_end(trainer, model)
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert files == ["epoch-001.h5", "epoch-003.h5"]
    with h5py.File(tmp_path / "ckpt" / "epoch-003.h5", "r") as f:
        assert (f.attrs["epoch"], f.attrs["step"], f.attrs["run"]) == (3, 40, "a")
        assert abs(f.attrs["val_acc"] - 0.8) < 1e-6 and f.attrs["input_size"].tolist() == [24, 24]
