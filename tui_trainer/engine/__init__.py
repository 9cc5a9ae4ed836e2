"""The training engine: layers, model, update rules, trainer, statistics.

NumPy, or CuPy on a GPU (backend.py: train.device); nothing in this package
imports textual, rich or plotext.
"""

from .events import Advice, Epoch, Event, ParamStats, Ratios, RunEnded, RunStarted, Sink, Step, from_dict, to_dict
from .model import FullyConnectedNet
from .optim import make_optimizer
from .trainer import RunControl, Trainer, build_net

__all__ = [
    "Advice",
    "Epoch",
    "Event",
    "FullyConnectedNet",
    "ParamStats",
    "Ratios",
    "RunControl",
    "RunEnded",
    "RunStarted",
    "Sink",
    "Step",
    "Trainer",
    "build_net",
    "from_dict",
    "make_optimizer",
    "to_dict",
]
