"""Where the public data sets live once fetched: one per-user cache folder.

    data_dir()                 # ~/.cache/tui-trainer, or as the environment says
    fetched_path("cifar10")    # data_dir() / "cifar-10-batches-py"

`tui-trainer data fetch` downloads into data_dir() unless given --dir, and a
preset that names cifar10, mnist or fashion-mnist without a data.path reads
fetched_path(dataset). Nothing is downloaded into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import cifar

DATA_DIR_ENV = "TUI_TRAINER_DATA_DIR"  # the folder itself, overriding the cache location

# The folder each public data set occupies in data_dir(), as fetch installs it.
FOLDERS = {"cifar10": cifar.FOLDER, "mnist": "mnist", "fashion-mnist": "fashion-mnist"}


def data_dir() -> Path:
    """$TUI_TRAINER_DATA_DIR, else $XDG_CACHE_HOME/tui-trainer, else ~/.cache/tui-trainer.

    The XDG base directory specification says a relative XDG_CACHE_HOME is
    invalid and must be ignored, so it is.
    """
    if chosen := os.environ.get(DATA_DIR_ENV):
        return Path(chosen).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    cache = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return cache / "tui-trainer"


def fetched_path(dataset: str) -> Path:
    """Where `tui-trainer data fetch DATASET` puts a public data set by default."""
    return data_dir() / FOLDERS[dataset]
