"""`tui-trainer runs [--runs-dir DIR]`: past runs, oldest first, newest next to the prompt.
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

import json
import tomllib
import zipfile
from pathlib import Path

import numpy as np

from .. import formatting as fmt
from ..errors import UserError
from ..lab.weights import first_layer_grid, grid_shape, write_png
from ..records.reading import read_lines, read_text
from ..records.run_folder import RunInfo, find_run, list_runs
from ..usertext import markup, one_line
from .console import listing_table, rich_console

STATUS_STYLE = {"finished": "green", "exploded": "red", "failed": "red", "stopped": "yellow", "incomplete": "dim"}


def command(args) -> int:
    if getattr(args, "export_weights", None):
        return export_weights(args)
    console = rich_console()
    if Path(args.runs_dir).exists() and not Path(args.runs_dir).is_dir():
        raise UserError(f"{args.runs_dir}: --runs-dir must be a folder, and this is a file")
    runs = list_runs(args.runs_dir)
    if not runs:
        console.print(
            f"no runs in {markup(args.runs_dir)}/ yet (start one with: tui-trainer run default)", highlight=False
        )
        return 0
    console.print(runs_table(runs, args.runs_dir, console.width))
    return 0


def runs_table(runs: list[RunInfo], runs_dir: str, width: int):
    from rich.text import Text

    full = max(len(r.name) for r in runs)
    others = 16 + max(len(r.status) for r in runs) + 7 + 7 + 7 + 5 + 2 * 6  # the other columns and the gaps
    short = width < full + others
    table = listing_table(f"Runs in {markup(runs_dir)}/")
    table.add_column("run", overflow="fold", min_width=min(full, 14))
    table.add_column("date", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for name in ("val acc", "lr", "reg", "batch"):
        table.add_column(name, justify="right", no_wrap=True)
    for r in runs:
        table.add_row(
            markup(fmt.short_run_name(r.name) if short else r.name),
            markup(r.started_at[5:16] if short else r.started_at[:16]),
            # a status edited into a summary is shown as written, unstyled
            Text(one_line(r.status), style=STATUS_STYLE.get(r.status, "")),
            "" if r.best_val_acc is None else f"{r.best_val_acc:.3f}",
            fmt.short_number(r.learning_rate),
            fmt.short_number(r.reg),
            "" if r.batch_size is None else str(r.batch_size),
        )
    return table


# --- --export-weights: RUN is a run folder's name in --runs-dir, or a path to one. The picture is
# drawn from the run's best parameters (best.npz) on the input image shape the run recorded
# (metrics.jsonl's run_started), one tile per hidden unit.


MAX_SCALE = 16


def export_weights(args) -> int:
    scale = getattr(args, "scale", 4)
    if not 1 <= scale <= MAX_SCALE:
        raise UserError(f"--scale {scale}: must be a whole number from 1 to {MAX_SCALE} (pixels per weight)")
    run_dir = resolve_run(args.export_weights, args.runs_dir)
    w1 = load_w1(run_dir)
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


def resolve_run(run: str, runs_dir: str | Path) -> Path:
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
    raise UserError(f"--export-weights {run}: {why}{hint}")


def load_w1(run_dir: Path) -> np.ndarray:
    path = run_dir / "best.npz"
    if not path.is_file():
        raise UserError(f"{path}: missing; the run saved no parameters (it ended before its first epoch?)")
    from ..datasets.limits import check_npz

    try:
        with np.load(path, allow_pickle=False) as f:
            if "W1" not in f.files:
                raise UserError(f"{path}: holds no W1 (found {', '.join(f.files) or 'nothing'})")
            check_npz(f, path, ("W1",))  # a header that lies is refused before it is read
            w1 = np.asarray(f["W1"])
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(f"{path}: not a readable .npz file ({e})") from None
    if w1.ndim != 2 or w1.shape[1] == 0 or not np.issubdtype(w1.dtype, np.floating):
        raise UserError(
            f"{path}: W1 must be a real (inputs, units) matrix with at least one unit; "
            f"found dtype {w1.dtype}, shape {w1.shape}"
        )
    if not np.all(np.isfinite(w1)):
        raise UserError(f"{path}: W1 holds NaN or infinite weights (the run exploded?); nothing to draw")
    return w1


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
