"""`tui-trainer serve [--host H] [--port N] [--allow-remote] [--runs-dir DIR] [--verbose] [PRESET | watch [DIR]]`:
the workbench in a browser.

textual-serve (the `web` extra) runs one workbench process per browser
connection, `python -m tui_trainer ui PRESET` (or `watch DIR`), and relays its
screen and keys over a WebSocket to xterm.js in the page: each tab is its own
session over the same runs folder. Closing a tab, or stopping the server (Ctrl+C,
SIGTERM), quits its workbench as q does; a workbench whose server is killed
outright sees it gone and quits the same way (ui/terminal.py).

Whoever reaches the port can start runs and write to the runs folder, so the
server binds to the loopback unless --allow-remote says otherwise, and answers
only pages named by a loopback host (a DNS-rebinding page cannot reach it) and
WebSockets opened from its own page (another site's page cannot drive it).

Everything that can be wrong is found before the server starts: a host that is
not the loopback (without --allow-remote), a port out of range or taken, a preset
that does not validate, textual-serve not installed.

Exit status: 0 when stopped (Ctrl+C, SIGTERM), 2 bad input.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import shlex
import socket
import sys
from typing import Any
from urllib.parse import urlsplit

from ..config import load_preset
from ..errors import EnvironmentProblem, UserError
from . import console
from .watch import watched_folder

QUIT_S = 5.0  # how long stopping the server waits for its workbenches to quit as q does
LOOPBACK_NAMES = ("localhost",)


def command(args) -> int:
    child = child_command(args.what, args.runs_dir)
    check_port_number(args.port)
    check_host(args.host, args.allow_remote)
    server_class = _textual_serve()
    check_port_free(args.host, args.port)
    if args.allow_remote:
        print(
            f"tui-trainer: warning: serving on {args.host} with --allow-remote: anyone who can reach port "
            f"{args.port} can start runs and write to the runs folder",
            file=sys.stderr,
        )
    server = server_class(
        shell_command(child), host=args.host, port=args.port, title=f"tui-trainer {' '.join(args.what) or 'default'}"
    )
    server.loopback_only = not args.allow_remote
    server.verbose = args.verbose
    server.run(reach_text(args.host, args.port))
    return console.OK


# --- what each connection runs ------------------------------------------------------


def child_command(what: list[str], runs_dir: str | None) -> list[str]:
    """The command each browser connection runs: this interpreter, `-m tui_trainer`, and
    `ui PRESET --runs-dir DIR` or `watch DIR`; a preset is validated here, as `ui` would."""
    base = [sys.executable, "-m", "tui_trainer"]
    if what and what[0] == "watch":
        if len(what) > 2:
            raise UserError(f"serve watch takes one folder, not {len(what) - 1}: tui-trainer serve watch [DIR]")
        if len(what) == 2 and runs_dir is not None:
            raise UserError("serve watch: give the folder once, as watch DIR or as --runs-dir, not both")
        folder = watched_folder(what[1] if len(what) == 2 else runs_dir or console.RUNS_DIR)
        return [*base, "watch", "--", str(folder)]
    if len(what) > 1:
        raise UserError(
            f"serve takes one preset, not {len(what)} ({' '.join(what)}): tui-trainer serve [PRESET | watch [DIR]]"
        )
    preset = what[0] if what else "default"
    load_preset(preset)  # the message `tui-trainer ui PRESET` gives for a bad one
    # `--` and `--runs-dir=`: a name that starts with a dash stays a name
    return [*base, "ui", f"--runs-dir={runs_dir or console.RUNS_DIR}", "--", preset]


def shell_command(argv: list[str]) -> str:
    """`argv` as textual-serve runs it, through /bin/sh: every word quoted, so a preset's
    path is a path and never shell syntax; `exec`, so the shell becomes the workbench and
    what the server stops is the workbench, not a shell above it."""
    return f"exec {shlex.join(argv)}"


# --- where it listens ---------------------------------------------------------------


def check_port_number(port: int) -> None:
    if not 1 <= port <= 65535:
        raise UserError(f"--port {port}: a port is 1 to 65535 (default: 8000)")


def host_addresses(host: str) -> list[str]:
    """The addresses `host` resolves to (a name or an address)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise UserError(f"--host {host}: cannot resolve it ({e}); give an address such as 127.0.0.1") from None
    return sorted({str(info[4][0]) for info in infos})


def is_loopback(host: str) -> bool:
    """Whether `host` names only this machine: 127.0.0.0/8, ::1, or a name (localhost) that resolves to those."""
    return all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in host_addresses(host))


def check_host(host: str, allow_remote: bool) -> None:
    if not allow_remote and not is_loopback(host):
        raise UserError(
            f"--host {host}: not a loopback address; without --allow-remote serve listens only on "
            "127.0.0.0/8, ::1 or localhost (reach it over SSH: ssh -L PORT:localhost:PORT HOST)"
        )


def check_port_free(host: str, port: int) -> None:
    """Bind each address the server will bind, as it will (SO_REUSEADDR), and let go."""
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(address)
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    raise EnvironmentProblem(
                        f"--port {port}: already in use on {host}; stop what listens there or choose another port"
                    ) from None
                raise EnvironmentProblem(
                    f"--port {port}: cannot listen on {host} ({e.strerror or e}); choose another port or host"
                ) from None


def reach_text(host: str, port: int) -> str:
    """How to open it, here and from another machine through SSH."""
    shown = f"[{host}]" if ":" in host else host
    return (
        f"tui-trainer: the workbench is served at http://{shown}:{port} (each browser tab is its own session)\n"
        f"  from another machine: ssh -L {port}:localhost:{port} HOST, then open http://localhost:{port}\n"
        "  Ctrl+C stops the server and its sessions"
    )


def host_name(authority: str) -> str:
    """The host of a `Host` header or an origin's authority, without the port or brackets."""
    return urlsplit(f"//{authority}").hostname or ""


def loopback_name(authority: str) -> bool:
    """Whether a request's Host names the loopback (localhost or a loopback address) without a lookup."""
    name = host_name(authority)
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# --- the server ---------------------------------------------------------------------


def _textual_serve() -> type:
    try:
        from textual_serve.server import Server
    except ImportError:
        raise EnvironmentProblem(
            "serve needs textual-serve, which is not installed: pip install 'tui-trainer[web]'"
        ) from None
    return _server_class(Server)


def _server_class(Server: type) -> type:  # noqa: N803 - the class textual-serve names so
    from aiohttp import web

    class WorkbenchServer(Server):  # type: ignore[misc,valid-type]
        """textual-serve's server, with its links made from the address the browser used
        (so a tunnel's port works), requests from other sites refused, its own log
        quiet, and its sessions quit when it stops."""

        loopback_only = True
        verbose = False

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.sessions: set[asyncio.Task[Any]] = set()

        def initialize_logging(self) -> None:
            if self.verbose:
                super().initialize_logging()
            else:
                logging.getLogger("textual-serve").setLevel(logging.WARNING)

        def _refuse_foreign(self, request: web.Request) -> None:
            if self.loopback_only and not loopback_name(request.host):
                raise web.HTTPForbidden(text="tui-trainer serve: open it as http://localhost:PORT\n")
            origin = request.headers.get("Origin")
            if origin is not None and urlsplit(origin).netloc != request.host:
                raise web.HTTPForbidden(text="tui-trainer serve: another site's page cannot open a session\n")

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            self._refuse_foreign(request)
            # The page's links are absolute: made from the address the browser used, a
            # tunnel's (ssh -L 9000:localhost:8000) works as well as the server's own.
            # (No await comes between setting it and the page reading it.)
            self.public_url = f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

        async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
            self._refuse_foreign(request)
            task = asyncio.current_task()
            assert task is not None
            self.sessions.add(task)
            try:
                return await super().handle_websocket(request)
            finally:
                self.sessions.discard(task)

        async def on_startup(self, app: web.Application) -> None:
            pass  # serve() says where it listens once it does

        async def on_shutdown(self, app: web.Application) -> None:
            # A session cancelled tells its workbench to quit (as q does) and waits for it to end.
            for task in self.sessions:
                task.cancel()
            if self.sessions:
                await asyncio.wait(self.sessions, timeout=QUIT_S)

        def run(self, reach: str) -> None:
            self.initialize_logging()
            try:
                web.run_app(
                    self._make_app(),
                    host=self.host,
                    port=self.port,
                    print=lambda _: print(reach, flush=True),
                    access_log=logging.getLogger("aiohttp.access") if self.verbose else None,
                    shutdown_timeout=QUIT_S,
                )
            except OSError as e:  # taken between the check and the bind
                raise EnvironmentProblem(
                    f"--port {self.port}: cannot listen on {self.host} ({e.strerror or e}); choose another port"
                ) from None

    return WorkbenchServer
