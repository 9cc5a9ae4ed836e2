"""`tui-trainer serve` in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright.

The page draws the terminal with xterm.js on a canvas (WebGL, or 2-D as a fallback), so
its text is not in the DOM: the test reads xterm.js's own screen buffer, what the canvas
shows. textual-serve's script keeps its Terminal to itself; the test hands the page that
script with one assignment added that keeps it on `window` as well (REVEAL).

Without Chromium or Playwright the tests skip and say why; CI sets
TUI_TRAINER_REQUIRE_BROWSER=1 (.ci/run installs Chromium), where a skip would hide that
the browser never ran, so there it fails instead.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# --disable-background-networking and the like: this machine's network is closed, and
# Chromium's own connections (updates, sync) would be refused and slow its start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# textual-serve's script makes its xterm.js Terminal as `this.terminal=new v.Terminal(...)`.
REVEAL = ("this.terminal=new ", "this.terminal=window.__terminal=new ")
SCREEN_JS = """() => {
  const t = window.__terminal;
  if (!t) return "";
  const b = t.buffer.active, rows = [];
  for (let i = 0; i < t.rows; i++) {
    const line = b.getLine(b.viewportY + i);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
}"""
WAIT_S = 20.0


def _missing(browser: bool) -> str | None:
    try:
        import textual_serve  # noqa: F401
    except ImportError:
        return "textual-serve is not installed (pip install -e '.[test]')"
    if not browser:
        return None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    return None


def _need(browser: bool) -> None:
    why = _missing(browser)
    if why is None:
        return
    if os.environ.get("TUI_TRAINER_REQUIRE_BROWSER") == "1":
        pytest.fail(f"TUI_TRAINER_REQUIRE_BROWSER=1 but {why}")
    pytest.skip(why)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (Linux: /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        if int(text.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(check, what: str, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout:.0f} s: {what}")
        time.sleep(0.1)


class Served:
    """`tui-trainer serve --port PORT long-spiral.toml` (or WHAT) in a folder of its own."""

    def __init__(self, tmp: Path, *what: str):
        # spiral for long enough that a run started in a tab is still running when it closes
        preset = tmp / "long-spiral.toml"
        text = (ROOT / "presets" / "spiral.toml").read_text()
        preset.write_text(
            text.replace('name = "spiral"', 'name = "long-spiral"').replace("epochs = 100\n", "epochs = 10000\n")
        )
        self.runs = tmp / "runs"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tui_trainer", "serve", "--port", str(self.port), *(what or [str(preset)])],
            cwd=tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a group of its own, as a shell gives a command: killpg is Ctrl+C
        )
        assert self.process.stdout is not None
        self.greeting = self.process.stdout.readline()  # printed once it listens

    def workbenches(self) -> set[int]:
        return {pid for pid in children(self.process.pid) if alive(pid)}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def open_tab(browser, url: str):
    page = browser.new_page(viewport={"width": 1200, "height": 800})

    def reveal(route):
        response = route.fetch()
        script = response.text()
        assert script.count(REVEAL[0]) == 1, "textual-serve's script no longer makes its Terminal as REVEAL expects"
        route.fulfill(response=response, body=script.replace(*REVEAL))

    page.route("**/static/js/textual.js", reveal)
    page.goto(url)
    return page


def screen(page) -> str:
    return page.evaluate(SCREEN_JS)


def wait_for_text(page, text: str) -> str:
    return wait_until(lambda: text in (shown := screen(page)) and shown, f"{text!r} on the page:\n{screen(page)}")


@pytest.fixture(scope="module")
def browser():
    _need(browser=True)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def served(tmp_path):
    _need(browser=False)
    s = Served(tmp_path)
    yield s
    s.stop()


def test_the_page_shows_the_workbench_and_a_key_reaches_it(browser, served):
    assert f"http://127.0.0.1:{served.port}" in served.greeting
    page = open_tab(browser, served.url)
    shown = wait_for_text(page, "space starts a run")
    assert "spiral" in shown and "Sanity checks" in shown and "workbench keys" not in shown
    page.locator(".xterm-helper-textarea").focus()
    page.keyboard.press("?")
    wait_for_text(page, "workbench keys")  # the help screen, drawn by the workbench for this key
    page.close()


def test_two_tabs_are_two_sessions_and_a_closed_tab_ends_its_own(browser, served):
    first = open_tab(browser, served.url)
    wait_for_text(first, "space starts a run")
    (one,) = wait_until(lambda: len(w := served.workbenches()) == 1 and w, "one workbench for one tab")
    second = open_tab(browser, served.url)
    wait_for_text(second, "space starts a run")
    both = wait_until(lambda: len(w := served.workbenches()) == 2 and w, "a second workbench for a second tab")
    second.locator(".xterm-helper-textarea").focus()
    second.keyboard.press("?")
    wait_for_text(second, "workbench keys")
    assert "workbench keys" not in screen(first)  # a key in one tab reaches only its own session
    second.keyboard.press("Escape")
    wait_until(lambda: "workbench keys" not in screen(second), "the help closed")
    second.keyboard.press("Space")  # a run, which closing the tab must stop with its record whole
    wait_until(lambda: list(served.runs.glob("*/metrics.jsonl")), f"the second tab's run started:\n{screen(second)}")
    second.close()
    wait_until(lambda: served.workbenches() == {one}, "the closed tab's workbench gone, the other's left")
    (summary,) = served.runs.glob("*/summary.json")
    assert json.loads(summary.read_text())["status"] == "stopped"
    assert all(not alive(pid) for pid in both - {one})
    first.close()
    wait_until(lambda: not served.workbenches(), "no workbench once every tab is closed")


def test_stopping_the_server_ends_its_sessions(browser, served):
    page = open_tab(browser, served.url)
    wait_for_text(page, "space starts a run")
    workbenches = wait_until(served.workbenches, "a workbench for the tab")
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(15) == 0
    wait_until(lambda: not any(alive(pid) for pid in workbenches), "the workbench ended with its server", 5)
    page.close()


def test_ctrl_c_at_the_servers_terminal_stops_a_tabs_run_once_as_closing_it_does(browser, served):
    """Ctrl+C in the terminal that runs `serve` signals its whole foreground group; only the
    server may act on it, so the run reads as a closed workbench, not "interrupted twice"."""
    page = open_tab(browser, served.url)
    wait_for_text(page, "space starts a run")
    page.locator(".xterm-helper-textarea").focus()
    page.keyboard.press("Space")
    wait_until(lambda: list(served.runs.glob("*/metrics.jsonl")), f"the run started:\n{screen(page)}")
    os.killpg(served.process.pid, signal.SIGINT)  # what the terminal does on Ctrl+C
    assert served.process.wait(15) == 0
    (summary,) = wait_until(lambda: list(served.runs.glob("*/summary.json")), "the run's summary")
    ended = json.loads(summary.read_text())
    assert ended["status"] == "stopped" and ended["reason"] == "the workbench closed", ended
    page.close()


def test_a_killed_server_leaves_no_workbench_behind(browser, served):
    page = open_tab(browser, served.url)
    wait_for_text(page, "space starts a run")
    workbenches = wait_until(served.workbenches, "a workbench for the tab")
    served.process.kill()  # no chance to tell its sessions: each sees it gone and quits as q does
    served.process.wait()
    try:
        wait_until(lambda: not any(alive(pid) for pid in workbenches), "the orphaned workbench quit", 5)
    finally:
        for pid in workbenches:  # failing, leave no process behind
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    page.close()


def test_links_follow_the_address_used_and_other_hosts_and_sites_are_refused(served):
    def get(path: str, **headers: str) -> tuple[int, str]:
        request = urllib.request.Request(served.url + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, ""

    def status(path: str, **headers: str) -> int:
        return get(path, **headers)[0]

    assert status("/") == 200
    # through a tunnel on another port (ssh -L 9000:localhost:PORT), the page's links go through it too
    assert 'data-session-websocket-url="ws://localhost:9000/ws"' in get("/", Host="localhost:9000")[1]
    assert status("/", Host=f"localhost:{served.port}") == 200
    assert status("/", Host=f"rebound.example:{served.port}") == 403  # DNS rebinding
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
    key = {"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    assert status("/ws", Origin="http://evil.example", **upgrade, **key) == 403
    assert not served.workbenches()


def test_serve_watch_follows_a_runs_folder_in_the_browser(browser, tmp_path):
    from tui_trainer.cli import COMMANDS

    if "watch" not in COMMANDS:  # `tui-trainer watch` arrives on its own branch
        pytest.skip("this tui-trainer has no watch command")
    runs = tmp_path / "elsewhere"
    subprocess.run(
        [sys.executable, "-m", "tui_trainer", "run", "spiral", "--set", "train.epochs=2", "--runs-dir", str(runs)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        check=True,
    )
    (run,) = (folder.name for folder in runs.iterdir())
    served = Served(tmp_path, "watch", str(runs))
    try:
        page = open_tab(browser, served.url)
        wait_for_text(page, run)  # the run another process recorded, in the follow view
        assert f"Runs in {runs}" in wait_for_text(page, "finished")
        page.close()
    finally:
        served.stop()
