"""`tui-trainer runs [--runs-dir DIR]`: past runs, oldest first, newest next to the prompt.
`tui-trainer runs --json`: one JSON document, every run (summary and settings) and every seed group.
`tui-trainer runs --export-csv FILE [RUN ...]`: every curve of the runs named (default: all) as a
tidy long CSV, one row per step or epoch and metric, for pandas or polars as it is.
`tui-trainer runs --export-weights RUN [--out FILE.png] [--scale N]`: a run's first-layer weights
as a PNG, each weight NxN pixels (default 4), written to RUN/W1.png unless --out names a file.

Each row: the run's name, when it started, how it ended, its best val accuracy,
learning rate, reg and batch size. A run folder is named DATE-TIME-PRESET-ID;
when the terminal is too narrow for the whole name next to the date column,
the name is shown without its date-time prefix (the date column has it), and
it wraps rather than being cut.

Exit status: 0 listed or written, 2 bad input (no such run, no weights to draw, a bad --out or --scale).
"""

from __future__ import annotations

import csv
import json
import sys
import tomllib
from pathlib import Path

import numpy as np

from .. import formatting as fmt
from ..errors import UserError
from ..lab.compare import CSV_COLUMNS, Group, curve_rows, group_runs, rows_of, runs_document, spread_text
from ..lab.weights import first_layer_grid, grid_shape, write_png
from ..records.reading import read_lines, read_text
from ..records.run_folder import RunInfo, find_run, list_runs, read_w1
from ..usertext import clean, markup, one_line
from .console import listing_table, rich_console

STATUS_STYLE = {
    "finished": "green",
    "exploded": "red",
    "failed": "red",
    "stopped": "yellow",
    "running": "cyan",
    "incomplete": "dim",
}


def command(args) -> int:
    if getattr(args, "export_weights", None):
        return export_weights(args)
    if getattr(args, "runs", None) and not getattr(args, "export_csv", None):
        raise UserError(f"{args.runs[0]}: naming runs is for --export-csv (the listing shows every run)")
    if Path(args.runs_dir).exists() and not Path(args.runs_dir).is_dir():
        raise UserError(f"{args.runs_dir}: --runs-dir must be a folder, and this is a file")
    runs = list_runs(args.runs_dir)
    if getattr(args, "export_csv", None):
        return export_csv(args, runs)
    if getattr(args, "json", False):
        print(json.dumps(runs_document(runs), indent=2))
        return 0
    console = rich_console()
    if not runs:
        console.print(
            f"no runs in {markup(args.runs_dir)}/ yet (start one with: tui-trainer run default)", highlight=False
        )
        return 0
    console.print(runs_table(runs, args.runs_dir, console.width))
    return 0


def runs_table(runs: list[RunInfo], runs_dir: str, width: int):
    """One row per lone run, and one per seed group: its mean ± sample std of best val acc
    over the n runs that recorded one (lab.compare.group_runs)."""
    from rich.text import Text

    rows = rows_of(runs)
    has_groups = any(isinstance(r, Group) for r in rows)
    names = [_row_name(r) for r in rows]
    full = max(len(n) for n in names)
    others = 16 + max(len(r.status) for r in rows) + 7 + 7 + 7 + 5 + 2 * 6  # the other columns and the gaps
    if has_groups:
        others += 11 - 7 + 3 + 2  # a wider val acc column, and n
    short = width < full + others
    table = listing_table(f"Runs in {markup(runs_dir)}/")
    if has_groups:
        table.caption = "a seed group's val acc: the mean ± sample std of its n runs' best"
    table.add_column("run", overflow="fold", min_width=min(full, 14))
    table.add_column("date", no_wrap=True)
    table.add_column("status", no_wrap=True)
    if has_groups:
        table.add_column("n", justify="right", no_wrap=True)
    for name in ("val acc", "lr", "reg", "batch"):
        table.add_column(name, justify="right", no_wrap=True)
    for row, name in zip(rows, names, strict=True):
        first = row.runs[0] if isinstance(row, Group) else row
        if isinstance(row, Group):
            acc, n = spread_text(row, n=False), [str(row.n)]
        else:
            acc, n = ("" if row.best_val_acc is None else f"{row.best_val_acc:.3f}"), ([""] if has_groups else [])
        table.add_row(
            markup(fmt.short_run_name(name) if short else name),
            markup(first.started_at[5:16] if short else first.started_at[:16]),
            # a status edited into a summary is shown as written, unstyled
            Text(one_line(row.status), style=STATUS_STYLE.get(row.status, "")),
            *n,
            acc,
            fmt.short_number(first.learning_rate),
            fmt.short_number(first.reg),
            "" if first.batch_size is None else str(first.batch_size),
        )
    return table


def _row_name(row: RunInfo | Group) -> str:
    return row.id if isinstance(row, Group) else row.name


def export_csv(args, runs: list[RunInfo]) -> int:
    """Write the curves of the runs named (every run when none is) to args.export_csv; a
    seed group's id, as `runs` lists its row, names every run of the group."""
    if args.runs:
        by_path = {r.path.resolve(): r for r in runs}
        groups = {g.id: g for g in group_runs(runs)}
        groups.update({fmt.short_run_name(gid): g for gid, g in list(groups.items())})
        chosen = []
        for name in args.runs:
            if name in groups and find_run(name, args.runs_dir) is None:
                chosen += [r for r in groups[name].runs if r not in chosen]
                continue
            path = resolve_run(name, args.runs_dir, "--export-csv").resolve()
            info = by_path.get(path) or _info_of(path)
            if info not in chosen:
                chosen.append(info)
        runs = chosen
    out = args.export_csv
    try:
        f = sys.stdout if out == "-" else open(out, "w", encoding="utf-8", newline="")
    except OSError as e:
        raise UserError(f"--export-csv {out}: cannot write: {e.strerror or e}") from None
    rows = 0
    try:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        # On a terminal, a run's name made of escape sequences is shown cleaned; in a file, as it is.
        shown = clean if f is sys.stdout and f.isatty() else (lambda v: v)
        for r in runs:
            for row in curve_rows(r):
                writer.writerow(["" if row[c] is None else shown(row[c]) for c in CSV_COLUMNS])
                rows += 1
    except BrokenPipeError:
        if f is sys.stdout:
            raise  # `--export-csv - | head`: the reader has all it wanted (cli: no failure)
        raise UserError(f"--export-csv {out}: cannot write: the pipe it names was closed") from None
    except OSError as e:
        raise UserError(f"--export-csv {out}: cannot write: {e.strerror or e}") from None
    finally:
        if f is not sys.stdout:
            f.close()
    if out != "-":
        print(f"wrote {out}: {rows} rows from {len(runs)} run{'s' if len(runs) != 1 else ''}")
    return 0


def _info_of(path: Path) -> RunInfo:
    """A run folder outside --runs-dir, read as list_runs reads one."""
    (info,) = [r for r in list_runs(path.parent) if r.path.resolve() == path]
    return info


# --- --export-weights: RUN is a run folder's name in --runs-dir, or a path to one. The picture is
# drawn from the run's best parameters (best.npz) on the input image shape the run recorded
# (metrics.jsonl's run_started), one tile per hidden unit.


MAX_SCALE = 16


def export_weights(args) -> int:
    scale = getattr(args, "scale", 4)
    if not 1 <= scale <= MAX_SCALE:
        raise UserError(f"--scale {scale}: must be a whole number from 1 to {MAX_SCALE} (pixels per weight)")
    run_dir = resolve_run(args.export_weights, args.runs_dir)
    w1 = read_w1(run_dir)
    shape = image_shape_of(run_dir)
    grid = first_layer_grid(w1, shape)  # WeightsError (a UserError) for data that are not images
    grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)  # each weight a scale x scale block
    out = Path(args.out) if args.out else run_dir / "W1.png"
    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out}: the file name must end in .png")
    try:
        write_png(out, grid)
    except OSError as e:
        raise UserError(f"--out {out}: cannot write: {e.strerror or e}") from None
    rows, cols = grid_shape(w1.shape[1])
    print(
        f"wrote {out}: {grid.shape[1]}x{grid.shape[0]} pixels, {w1.shape[1]} units in {rows} rows of "
        f"{cols} tiles, each {shape[0]}x{shape[1]} weights of {scale}x{scale} pixels"
    )
    return 0


def resolve_run(run: str, runs_dir: str | Path, option: str = "--export-weights") -> Path:
    """The run folder RUN names (records.run_folder.find_run: a path, a folder name in
    runs_dir, or the name as `runs` lists it), else one line saying what is there."""
    found = find_run(run, runs_dir)
    if found is not None:
        return found
    names = sorted(p.parent.name for p in Path(runs_dir).glob("*/config.toml"))
    if names:
        hint = "; latest runs there: " + ", ".join(names[-5:])
    else:
        hint = f"; there are no runs in {runs_dir}/"
    shorts = [fmt.short_run_name(n) for n in names]
    if shorts.count(run) > 1:
        why = f"{shorts.count(run)} runs in {runs_dir}/ end in {run}: name one by its whole folder name"
    else:
        why = f"no such run (neither a run folder nor a run in {runs_dir}/)"
    raise UserError(f"{option} {run}: {why}{hint}")


def image_shape_of(run_dir: Path) -> tuple[int, ...]:
    """The input image shape the run recorded in run_started; for a run recorded
    before that field existed, the shape of its bundled data set."""
    try:
        for line in read_lines(run_dir / "metrics.jsonl"):
            try:
                event = json.loads(line)
            except (ValueError, RecursionError):
                break
            if isinstance(event, dict) and event.get("event") == "run_started" and "image_shape" in event:
                return _valid_shape(run_dir, event["image_shape"])
    except OSError:
        pass
    try:
        cfg = tomllib.loads(read_text(run_dir / "config.toml"))
    except (OSError, ValueError, RecursionError):
        cfg = {}
    from ..datasets.bundled import BUNDLED

    data = cfg.get("data")
    dataset = data.get("dataset", "") if isinstance(data, dict) else ""
    if dataset in BUNDLED:
        return tuple(BUNDLED[dataset][1])
    raise UserError(f"{run_dir}: cannot tell the input image shape (no run_started in metrics.jsonl)")


def _valid_shape(run_dir: Path, shape: object) -> tuple[int, ...]:
    """run_started's image_shape: () for data that are not images, else (H, W, C) of sizes >= 1."""
    if (
        isinstance(shape, list)
        and len(shape) in (0, 3)
        and all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 65535 for s in shape)
    ):
        return tuple(shape)
    raise UserError(
        f"{run_dir / 'metrics.jsonl'}: run_started's image_shape is {str(shape)[:60]}; "
        "expected [height, width, channels] of sizes from 1 to 65535 (or [] for data that are not images)"
    )
