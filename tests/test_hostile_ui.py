"""The workbench under hostile conditions: `q` while the data load, presets that
cannot be opened. It leaves within a second, or shows the message and stays."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


SLOW_LOAD = """
import time
import tui_trainer.datasets as datasets

_real = datasets.load_dataset


def load_dataset(*args, **kwargs):  # a 2M-row set takes half a minute to load
    time.sleep(60)
    return _real(*args, **kwargs)


datasets.load_dataset = load_dataset
"""


def test_q_leaves_at_once_while_the_data_are_still_loading(tmp_path):
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time

    (tmp_path / "sitecustomize.py").write_text(SLOW_LOAD)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_trainer", "ui", "spiral", "--runs-dir", str(tmp_path / "runs")],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}:{REPO}", "TERM": "xterm-256color"},
        start_new_session=True,
    )
    os.close(slave)
    out = b""
    try:
        deadline = time.monotonic() + 30
        while b"loading" not in out.lower() and time.monotonic() < deadline:  # the screen is up, the data not
            if select.select([master], [], [], 0.1)[0]:
                out += os.read(master, 65536)
        time.sleep(0.5)
        t0 = time.monotonic()
        os.write(master, b"q")
        while proc.poll() is None and time.monotonic() - t0 < 10:
            if select.select([master], [], [], 0.05)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    break
        proc.wait(timeout=10)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert took < 1.5, took
    assert proc.returncode == 0


async def test_the_workbench_survives_opening_a_folder_and_a_preset_nested_too_deep(tmp_path):
    from test_ui import BIG, loaded, make_app

    (tmp_path / "deep.toml").write_text("a = " + "[" * 1000 + "]" * 1000)
    (tmp_path / "folder.toml").mkdir()
    app = make_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        for path, says in (("deep.toml", "nested too deep"), ("folder.toml", "a folder, not a preset file")):
            await pilot.press("o")
            await pilot.pause()
            box = app.screen.query_one("#open-path")
            box.focus()
            box.value = str(tmp_path / path)
            await pilot.press("enter")
            await pilot.pause()
            assert says in str(app.screen.query_one("#open-error").render())
            await pilot.press("escape")
            await pilot.pause()
        assert app.is_running and app.data is not None
