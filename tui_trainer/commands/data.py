"""`tui-trainer data fetch cifar10|mnist|fashion-mnist [--dir DIR]`: download with a progress bar.

The work is datasets/fetch.py's; this face draws the bar on stderr and says
where the data landed and how a preset names it. DIR defaults to the per-user
cache folder (datasets/cache.py: TUI_TRAINER_DATA_DIR, else
$XDG_CACHE_HOME/tui-trainer, else ~/.cache/tui-trainer), where a preset
without a data.path finds the data. The environment can point the download
elsewhere: TUI_TRAINER_DATA_URL, a base address to fetch from (a mirror, or a
test's local server; --base-url does the same), and TUI_TRAINER_DATA_MD5, an
md5sum-style file whose lines replace the published checksums (for a mirror
that serves other bytes).

Exit status: 0 downloaded (or already there), 2 bad input or a download that failed.
"""

from __future__ import annotations

import os

from ..datasets import fetch as fetching
from ..datasets.cache import data_dir
from .console import rich_console


def command(args) -> int:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    base_url = args.base_url or os.environ.get(fetching.URL_ENV) or None
    md5_file = os.environ.get(fetching.MD5_ENV)
    checksums = fetching.read_checksum_file(md5_file) if md5_file else None
    out = rich_console(highlight=False, soft_wrap=True)  # a long path is never broken across lines
    directory = args.dir if args.dir is not None else data_dir()
    if (there := fetching.installed(args.name, directory)) is not None:
        out.print(f"{args.name} is already in {there}; nothing to download", markup=False)
        return 0

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=rich_console(stderr=True),
    )
    tasks: dict[str, TaskID] = {}

    def progress(filename: str, done: int, total: int | None) -> None:
        if filename not in tasks:
            bar.start()  # on the first byte: a failure to connect draws no empty bar
            tasks[filename] = bar.add_task(filename, total=total, completed=done)
        bar.update(tasks[filename], completed=done, total=total)

    try:
        path = fetching.fetch(args.name, directory, base_url=base_url, checksums=checksums, progress=progress)
    finally:
        if tasks:  # stopping a bar that never started prints a blank line
            bar.stop()
    out.print(f"{args.name}: downloaded, checksums match, ready in {path}", markup=False)
    if args.dir is None:  # where a preset without a path looks
        out.print(f'use it in a preset: [data] dataset = "{args.name}" (no path needed)', markup=False)
    else:
        out.print(f'use it in a preset: [data] dataset = "{args.name}", path = "{path}"', markup=False)
    return 0
