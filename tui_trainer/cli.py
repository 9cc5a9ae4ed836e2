"""The command line: parses, then calls one face.

Exit statuses (DESIGN.md): 0 ok; 1 internal failure (or failed checks);
2 bad input, with one clear line on stderr; 3 a run exploded; 130 interrupted.
Each face module exposes `command(args) -> int`; `UserError` from any of them
becomes exit 2 here, so no face prints a traceback for bad input.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from . import __version__
from .errors import UserError
from .threads import apply_training_blas_threads

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT, EXIT_EXPLODED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors are bad input too: one line, exit 2
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see: {self.prog} --help)\n")


def _add_overrides(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a preset key, e.g. train.learning_rate=1e-4 or model.hidden=[100,50] (repeatable)")


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
    p.add_argument("--runs-dir", default="runs", help="where runs are recorded (default: runs)")
    p.set_defaults(module="ui")

    p = sub.add_parser("run", help="one headless run of a preset")
    p.add_argument("preset", help="preset name or .toml path")
    _add_overrides(p)
    p.add_argument("--json", action="store_true", help="write every event as one JSON line on stdout")
    p.add_argument("--runs-dir", default="runs", help="where runs are recorded (default: runs)")
    p.set_defaults(module="run")

    p = sub.add_parser("check", help="run the sanity checks on a preset")
    p.add_argument("preset", help="preset name or .toml path")
    _add_overrides(p)
    p.add_argument("--json", action="store_true", help="print one JSON object with the list of checks")
    p.set_defaults(module="check")

    p = sub.add_parser("search", help="coarse-to-fine hyperparameter search")
    p.add_argument("preset", help="preset name or .toml path")
    _add_overrides(p)
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: the number of cores)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="a Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--resume", action="store_true", help="continue the last search of this preset where it stopped")
    p.add_argument("--runs-dir", default="runs", help="where searches are recorded (default: runs)")
    p.add_argument("--json", action="store_true", help="write every search event as one JSON line on stdout")
    p.set_defaults(module="search")

    p = sub.add_parser("presets", help="list the shipped presets")
    p.set_defaults(module="presets")

    p = sub.add_parser("runs", help="list past runs")
    p.add_argument("--runs-dir", default="runs", help="where runs are recorded (default: runs)")
    p.add_argument("--export-weights", metavar="RUN", default=None,
                   help="write RUN's first-layer weights as a PNG grid (RUN: a run folder in --runs-dir, or its path)")
    p.add_argument("--out", metavar="FILE.png", default=None,
                   help="where --export-weights writes (default: RUN-W1.png in the current folder)")
    p.set_defaults(module="runs")

    p = sub.add_parser("data", help="data sets")
    data_sub = p.add_subparsers(dest="data_command", parser_class=_Parser, metavar="ACTION", required=True)
    f = data_sub.add_parser("fetch", help="download a public data set and verify its checksum")
    f.add_argument("name", choices=["cifar10", "mnist", "fashion-mnist"])
    f.add_argument("--dir", help="where to put it (default: $TUI_TRAINER_DATA_DIR, else ~/.cache/tui-trainer)")
    f.add_argument("--base-url", default=None, help=argparse.SUPPRESS)  # tests serve files locally
    f.set_defaults(module="data")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    if not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help", "--version")):
        # `tui-trainer`, `tui-trainer PRESET` and `tui-trainer --set K=V` open the workbench
        argv = ["ui", *argv]
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["ui", *argv])
    if args.module in ("run", "check", "ui"):
        # Before NumPy loads: the same BLAS threads policy for every face that
        # trains, so the workbench and a headless run are like for like.
        # (Search workers get one thread each; see search_core.)
        apply_training_blas_threads()
    if args.module != "ui":
        _broken_pipe_is_not_a_failure()
    try:
        module = importlib.import_module(f".commands.{args.module}", __package__)
        return int(module.command(args) or 0)
    except UserError as e:
        print(f"tui-trainer: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("tui-trainer: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `tui-trainer presets | head`: the reader has all it wanted. Point stdout
        # at /dev/null so the interpreter's last flush does not fail (exit 120).
        _stdout_to_devnull()
        return EXIT_OK
    except Exception:
        traceback.print_exc()
        print("tui-trainer: internal error (the traceback above is a bug; please report it)", file=sys.stderr)
        return EXIT_INTERNAL


def _broken_pipe_is_not_a_failure() -> None:
    """Rich's consoles answer a closed stdout with SystemExit(1), which reads as an
    internal failure (and skips main's handler). Let it surface as the
    BrokenPipeError it is, so a command piped into `head` exits 0 like print() does."""
    from rich.console import Console

    def on_broken_pipe(console: Console) -> None:
        console.quiet = True
        raise BrokenPipeError

    Console.on_broken_pipe = on_broken_pipe


def _stdout_to_devnull() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
