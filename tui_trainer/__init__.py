"""tui-trainer: a terminal workbench for training small neural networks, the CS231n way."""

__version__ = "0.1.0"
