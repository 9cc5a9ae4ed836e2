"""`tui-trainer presets`: the shipped presets with their descriptions, in the
order the lecture meets them: a baseline, the sanity check, the two learning
rate failures, the two search stages, the real thing.

Exit status: 0.
"""

from __future__ import annotations

from ..config import PRESETS_DIR, Preset, list_presets
from .console import listing_table, rich_console

LESSON_ORDER = (
    "default",
    "digits-fast",
    "spiral",
    "overfit-small",
    "lr-too-low",
    "lr-too-high",
    "coarse-search",
    "fine-search",
    "cifar10-2layer",
)

# Where a user meets train.reg: the convention differs from CS231n's assignment 1.
L2_NOTE = (
    "train.reg is L2 regularization: the loss adds 0.5 * reg * sum(W^2) over the weights "
    "(CS231n's assignment 1 adds reg * sum(W^2), so a reg copied from there is worth half as much here: double it)."
)


def ordered(presets: list[Preset]) -> list[Preset]:
    """Shipped presets in LESSON_ORDER, any others after them by name."""
    rank = {name: i for i, name in enumerate(LESSON_ORDER)}
    return sorted(presets, key=lambda p: (rank.get(p.name, len(rank)), p.name))


def command(args) -> int:
    console = rich_console()
    table = listing_table("Presets: tui-trainer run NAME, tui-trainer ui NAME")
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("data", no_wrap=True)
    table.add_column("what it teaches", overflow="fold")
    for p in ordered(list_presets()):
        table.add_row(p.name, p.data.dataset, p.description)
    console.print(table)
    console.print(f"\n{L2_NOTE}", highlight=False)
    console.print(
        f"To make your own, copy one from {PRESETS_DIR}/ and run it by path; "
        "any key can also be changed with --set KEY=VALUE.",
        style="dim",
        highlight=False,
    )
    return 0
