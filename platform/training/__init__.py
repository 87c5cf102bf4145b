"""The training service: task kinds, the trainer, callbacks, checkpoints."""

from plexus.platform.training.callbacks import Callback, EarlyStopping, PruningHook, StopTraining, TimeLimit
from plexus.platform.training.checkpoint import load_checkpoint, save_checkpoint
from plexus.platform.training.run import train_model
from plexus.platform.training.tasks import TASKS, Task, make_task
from plexus.platform.training.trainer import Trainer, pick_device, seed_everything

__all__ = [
    "TASKS",
    "Callback",
    "EarlyStopping",
    "PruningHook",
    "StopTraining",
    "Task",
    "TimeLimit",
    "Trainer",
    "load_checkpoint",
    "make_task",
    "pick_device",
    "save_checkpoint",
    "seed_everything",
    "train_model",
]
