"""`tui-trainer data fetch cifar10|mnist|fashion-mnist [--dir DIR]`: download with a progress bar.

The work is datasets/fetch.py's; this face draws the bar on stderr and says
where the data landed and how a preset names it. The environment can point it
elsewhere: TUI_TRAINER_DATA_URL, a base address to fetch from (a mirror, or a
test's local server; --base-url does the same), and TUI_TRAINER_DATA_MD5, an
md5sum-style file whose lines replace the published checksums (for a mirror
that serves other bytes).

Exit status: 0 downloaded (or already there), 2 bad input or a download that failed.
"""

from __future__ import annotations

import os

from ..datasets import fetch as fetching
from .console import rich_console


def command(args) -> int:
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    base_url = args.base_url or os.environ.get(fetching.URL_ENV) or None
    md5_file = os.environ.get(fetching.MD5_ENV)
    checksums = fetching.read_checksum_file(md5_file) if md5_file else None
    out = rich_console(highlight=False)
    if (there := fetching.installed(args.name, args.dir)) is not None:
        out.print(f"{args.name} is already in {there}; nothing to download", markup=False)
        return 0

    bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   TimeRemainingColumn(), console=rich_console(stderr=True))
    tasks: dict[str, int] = {}

    def progress(filename: str, done: int, total: int | None) -> None:
        if filename not in tasks:
            bar.start()  # on the first byte: a failure to connect draws no empty bar
            tasks[filename] = bar.add_task(filename, total=total, completed=done)
        bar.update(tasks[filename], completed=done, total=total)

    try:
        path = fetching.fetch(args.name, args.dir, base_url=base_url, checksums=checksums, progress=progress)
    finally:
        if tasks:  # stopping a bar that never started prints a blank line
            bar.stop()
    out.print(f"{args.name}: downloaded, checksums match, ready in {path}", markup=False)
    out.print(f'use it in a preset: [data] dataset = "{args.name}", path = "{path}"', markup=False)
    return 0
