"""camwatch-torch: save PyTorch training checkpoints that camwatch can watch without being told the model.

    from camwatch_torch import save_checkpoint
    save_checkpoint(model, f"ckpt/epoch-{epoch:03d}.h5", input_size=224, epoch=epoch, step=step)

writes the state_dict as HDF5 with the model's camwatch spec (`to_spec`) and the preprocessing attributes
camwatch reads, atomically. `camwatch_torch.lightning.CamwatchCheckpoint` does the same from a Lightning
Trainer.
"""

from .checkpoint import save_checkpoint
from .tracer import to_spec, unused_weights, used_weights

__all__ = ["save_checkpoint", "to_spec", "unused_weights", "used_weights"]
__version__ = "0.1.0"
