"""A Lightning callback that saves camwatch checkpoints every N epochs.

Lightning is optional: the callback subclasses `lightning.pytorch.Callback` (or the older
`pytorch_lightning.Callback`) when one is installed, and a plain class otherwise, so that importing this
module never requires Lightning. The spec is traced once, at the first save.
"""

import os

from .checkpoint import save_checkpoint
from .tracer import to_spec

try:
    from lightning.pytorch import Callback as _Base
except ImportError:
    try:
        from pytorch_lightning import Callback as _Base
    except ImportError:
        _Base = object


class CamwatchCheckpoint(_Base):
    """Save `<directory>/epoch-<NNN>.h5` after every `every_n_epochs`-th training epoch (rank 0 only).

    input_size, mean, std and extra `attributes` go to `save_checkpoint`; `epoch`, `step` and the logged
    scalar metrics of the epoch (`trainer.callback_metrics`, e.g. `val_acc`) are added to each file.
    """

    def __init__(self, directory, *, input_size, every_n_epochs=1, mean=None, std=None, **attributes):
        super().__init__()
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be at least 1, got {every_n_epochs}")
        self.directory, self.input_size, self.every_n_epochs = directory, input_size, every_n_epochs
        self.mean, self.std, self.attributes = mean, std, attributes
        self.spec = None

    def on_train_epoch_end(self, trainer, pl_module):
        epoch = trainer.current_epoch
        if (epoch + 1) % self.every_n_epochs or not getattr(trainer, "is_global_zero", True):
            return
        if self.spec is None:
            self.spec = to_spec(pl_module, input_size=self.input_size)
        metrics = {k.replace("/", "_"): float(v) for k, v in getattr(trainer, "callback_metrics", {}).items()
                   if getattr(v, "numel", lambda: 1)() == 1}
        os.makedirs(self.directory, exist_ok=True)
        save_checkpoint(pl_module, os.path.join(self.directory, f"epoch-{epoch:03d}.h5"),
                        input_size=self.input_size, mean=self.mean, std=self.std, spec=self.spec,
                        **{**metrics, **self.attributes, "epoch": epoch, "step": trainer.global_step})
