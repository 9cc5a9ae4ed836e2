"""The searched keys: what a search may vary, and how each is sampled.

A key's range is `[search] NAME` (config.SearchConfig checks it); a trial samples a value
from it (lab/search/space.py) and sets the preset key `sets` to it. Adding a searched key is
one entry in SEARCHED: the search's store, events and views follow. Imports nothing: the
foundation's config builds [search] from it, the search's modules read it.
"""

from __future__ import annotations

from dataclasses import dataclass

LOG = "log"  # a float, log-uniform in [low, high]
CHOICE = "choice"  # uniformly one of a list of integers


@dataclass(frozen=True)
class Searched:
    sample: str  # LOG | CHOICE
    sets: str  # the preset key a trial's value sets; a list (model.hidden) gets it for each item
    label: str  # its name in a line of values: "lr 0.0012  reg 3.4e-05"
    default: tuple[float, ...] = ()  # the range a preset without one searches; (): not searched


SEARCHED: dict[str, Searched] = {
    "learning_rate": Searched(LOG, "train.learning_rate", "lr", (1e-6, 1e-1)),
    "reg": Searched(LOG, "train.reg", "reg", (1e-5, 1e1)),
    "hidden": Searched(CHOICE, "model.hidden", "hidden"),
    "batch_size": Searched(CHOICE, "train.batch_size", "batch"),
}
