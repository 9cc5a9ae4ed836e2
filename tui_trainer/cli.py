"""The command line: parse it, then hand the arguments to one command module.

Each subcommand has a module in commands/ with `command(args) -> int`, whose
docstring gives its command line and exit statuses; COMMANDS below is the
table from name to module. A module is imported only once its command is
chosen, and imports what it needs when it runs, after the BLAS threads policy
it needs (threads.py): so `tui-trainer presets` loads neither NumPy nor Textual.

The exit statuses all commands share are in commands/console.py. A `UserError`
from any command becomes exit 2 here, with one line on stderr, so no command
prints a traceback for bad input.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
import traceback
from pathlib import Path

from . import __version__
from .commands import console
from .errors import UserError

# Each subcommand and the module that runs it.
COMMANDS = {
    "ui": "tui_trainer.commands.ui",
    "run": "tui_trainer.commands.run",
    "check": "tui_trainer.commands.check",
    "search": "tui_trainer.commands.search",
    "lr-find": "tui_trainer.commands.lr_find",
    "tune": "tui_trainer.commands.tune",
    "presets": "tui_trainer.commands.presets",
    "runs": "tui_trainer.commands.runs",
    "data": "tui_trainer.commands.data",
    "serve": "tui_trainer.commands.serve",
    "watch": "tui_trainer.commands.watch",
}
RUNS_DIR = console.RUNS_DIR


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors are bad input too: one line, exit 2
        self.exit(console.BAD_INPUT, f"{self.prog}: {message} (see: {self.prog} --help)\n")


def _add_overrides(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a preset key, e.g. train.learning_rate=1e-4 or model.hidden=[100,50] (repeatable)",
    )


def _add_runs_dir(p: argparse.ArgumentParser, what: str = "runs") -> None:
    p.add_argument("--runs-dir", default=RUNS_DIR, help=f"where {what} are recorded (default: {RUNS_DIR})")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tui-trainer",
        description="A terminal workbench for training neural networks, the CS231n way.",
    )
    parser.add_argument("--version", action="version", version=f"tui-trainer {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    p = sub.add_parser("ui", help="open the workbench (the default command)")
    p.add_argument("preset", nargs="?", default="default", help="preset name or .toml path (default: default)")
    _add_overrides(p)
    _add_runs_dir(p)
    p.add_argument(
        "--screenshots",
        metavar="DIR",
        default=None,
        help="where the palette's Screenshot saves (default: screenshots/ next to the runs folder)",
    )

    p = sub.add_parser("run", help="one headless run of a preset")
    p.add_argument("preset", help="preset name or .toml path")
    _add_overrides(p)
    p.add_argument("--json", action="store_true", help="write every event as one JSON line on stdout")
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        metavar="N",
        help="run N train seeds of the preset (train.seed, +1, ...; the data split stays), recorded as one group",
    )
    _add_runs_dir(p)

    p = sub.add_parser("check", help="run the sanity checks on a preset")
    p.add_argument("preset", help="preset name or .toml path")
    _add_overrides(p)
    p.add_argument("--json", action="store_true", help="print one JSON object with the list of checks")

    p = sub.add_parser("search", help="coarse-to-fine hyperparameter search")
    p.add_argument("preset", nargs="?", default=None, help="preset name or .toml path (not with --refine)")
    _add_overrides(p)
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: the number of cores)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--resume", action="store_true", help="continue the last search of this preset where it stopped")
    p.add_argument(
        "--refine",
        metavar="SEARCH_FOLDER",
        default=None,
        help="run the next, finer search a finished search suggests (its next.toml)",
    )
    _add_runs_dir(p, "searches")
    p.add_argument("--json", action="store_true", help="write every search event as one JSON line on stdout")

    p = sub.add_parser("lr-find", help="learning-rate range test: suggested rates over 3 seeds, with a plot")
    p.add_argument("preset", help="preset name or .toml path")
    _add_overrides(p)
    p.add_argument("--json", action="store_true", help="write every lr-find event as one JSON line on stdout")
    _add_runs_dir(p, "lr-find curves")

    p = sub.add_parser("tune", help="the lecture's sequence: checks, lr-find, coarse and fine search, final run")
    p.add_argument("preset", help="preset name or .toml path")
    _add_overrides(p)
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: the number of cores)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--resume", action="store_true", help="continue the last tune of this preset where it stopped")
    p.add_argument("--json", action="store_true", help="write every tune event as one JSON line on stdout")
    _add_runs_dir(p, "tunes")

    sub.add_parser("presets", help="list the shipped presets")

    p = sub.add_parser("runs", help="list past runs")
    _add_runs_dir(p)
    p.add_argument("runs", nargs="*", metavar="RUN", help="with --export-csv: the runs to export (default: every run)")
    p.add_argument("--json", action="store_true", help="print one JSON document: every run and every seed group")
    p.add_argument(
        "--export-csv",
        metavar="FILE",
        default=None,
        help="write every curve as a tidy CSV (run, group, seed, epoch, iteration, metric, value, smoothed; - stdout)",
    )
    p.add_argument(
        "--export-weights",
        metavar="RUN",
        default=None,
        help="write RUN's first-layer weights as a PNG grid (RUN: a run folder in --runs-dir, or its path)",
    )
    p.add_argument(
        "--out",
        metavar="FILE.png",
        default=None,
        help="where --export-weights writes (default: W1.png in the run's folder)",
    )
    p.add_argument(
        "--scale",
        metavar="N",
        type=int,
        default=4,
        help="--export-weights draws each weight as NxN pixels, 1 to 16 (default: 4)",
    )

    p = sub.add_parser("data", help="data sets")
    data_sub = p.add_subparsers(dest="data_command", parser_class=_Parser, metavar="ACTION", required=True)
    f = data_sub.add_parser("fetch", help="download a public data set and verify its checksum")
    f.add_argument("name", choices=["cifar10", "mnist", "fashion-mnist"])
    f.add_argument(
        "--dir",
        help="where to put it (default: $TUI_TRAINER_DATA_DIR, else $XDG_CACHE_HOME/tui-trainer, "
        "else ~/.cache/tui-trainer; presets find it there)",
    )
    f.add_argument("--base-url", default=None, help=argparse.SUPPRESS)  # tests serve files locally

    p = sub.add_parser(
        "serve",
        usage="tui-trainer serve [-h] [--host HOST] [--port PORT] [--allow-remote] [--runs-dir DIR] [--verbose] "
        "[PRESET | watch [DIR]]",
        help="the workbench in a browser (needs tui-trainer[web]); each tab is its own session",
        description="Serve the workbench to a browser: each tab runs its own workbench over the same runs folder. "
        "It listens on 127.0.0.1; from another machine, forward the port: ssh -L 8000:localhost:8000 HOST, "
        "then open http://localhost:8000.",
    )
    p.add_argument(
        "what",
        nargs="*",
        metavar="PRESET | watch [DIR]",
        help="the preset each session opens (default: default), or watch and the runs folder to follow",
    )
    p.add_argument("--host", default="127.0.0.1", help="where to listen (default: 127.0.0.1; loopback only)")
    p.add_argument("--port", type=int, default=8000, help="the port to listen on, 1 to 65535 (default: 8000)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host other than the loopback: anyone who can reach the port can start runs",
    )
    p.add_argument("--runs-dir", default=None, metavar="DIR", help=f"where runs are recorded (default: {RUNS_DIR})")
    p.add_argument("--verbose", action="store_true", help="log every request and textual-serve's own messages")

    p = sub.add_parser(
        "watch",
        help="follow the runs, searches and tunes other processes write (read-only)",
        description="Follow, live and read-only, the runs, searches, tunes and lr-finds that other processes "
        "(a headless run, a search under nohup or tmux) write in DIR: start them detached on a remote box, "
        "log out, log back in and watch. Enter opens a run in the workbench's panes, or a search in its "
        "view; quitting leaves them running.",
    )
    p.add_argument("dir", nargs="?", default=RUNS_DIR, metavar="DIR", help=f"the runs folder (default: {RUNS_DIR})")
    return parser


def misspelt_command(word: str) -> str | None:
    """The command `word` probably meant, when it is no command, no shipped preset
    and no file (those open the workbench), but close to a command's name."""
    if word in COMMANDS or word.startswith("-") or Path(word).exists():
        return None
    from .config import PRESETS_DIR  # the standard library only: no NumPy

    if (PRESETS_DIR / f"{word}.toml").is_file():
        return None
    close = difflib.get_close_matches(word, COMMANDS, n=1, cutoff=0.6)
    return close[0] if close else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    console.fill_closed_std_streams()
    console.tolerate_unencodable(sys.stdout, sys.stderr)
    if argv and (meant := misspelt_command(argv[0])):
        print(
            f"tui-trainer: {argv[0]!r} is not a command; did you mean {meant!r}? "
            f"Commands: {', '.join(COMMANDS)} (see: tui-trainer --help)",
            file=sys.stderr,
        )
        return console.BAD_INPUT
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version")):
        # `tui-trainer`, `tui-trainer PRESET` and `tui-trainer --set K=V` open the workbench
        argv = ["ui", *argv]
    args = build_parser().parse_args(argv)
    try:
        status = importlib.import_module(COMMANDS[args.command]).command(args)
        if status == console.INTERRUPTED:
            console.ignore_further_signals()  # the record is kept; late repeats must not kill the exit
        return status
    except UserError as e:
        print(f"tui-trainer: {e}", file=sys.stderr)
        return console.BAD_INPUT
    except KeyboardInterrupt:
        console.ignore_further_signals()
        print("tui-trainer: interrupted", file=sys.stderr)
        return console.INTERRUPTED
    except BrokenPipeError:
        # `tui-trainer presets | head`: the reader has all it wanted.
        console.silence(sys.stdout)
        return console.OK
    except Exception:
        traceback.print_exc()
        print("tui-trainer: internal error (the traceback above is a bug; please report it)", file=sys.stderr)
        return console.INTERNAL
