"""User text (paths, names, values, server replies) shows as written: Rich markup
escaped, control characters and escape sequences gone, in every face."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from tui_trainer.errors import DataError, UserError
from tui_trainer.usertext import clean, markup, one_line, textual_markup

REPO = Path(__file__).resolve().parent.parent
MARKUPISH = st.text(alphabet=st.sampled_from(list("[]/\\ab =#@$:\x1b\x07\n\r\t\x00\x9b\u202e")), max_size=40)


@settings(max_examples=300, deadline=None)
@given(text=MARKUPISH | st.text(max_size=40))
def test_markup_of_any_text_renders_as_the_clean_text(text):
    # As the faces use it: inside other markup (a trailing backslash cannot escape the
    # tag after it), before plain text, on a console without :emoji: codes.
    shown = Text.from_markup(f"[bold]{markup(text)}[/bold] [dim]{markup(text)}[/] {markup(text)} x", emoji=False).plain
    assert shown.replace("\u200b", "") == f"{clean(text)} {clean(text)} {clean(text)} x".replace("\u200b", "")


@settings(max_examples=300, deadline=None)
@given(text=MARKUPISH | st.text(max_size=40))
def test_textual_markup_of_any_text_renders_as_the_clean_text(text):
    from textual.content import Content

    shown = Content.from_markup(f"[bold]{textual_markup(text)}[/bold] {textual_markup(text)}").plain
    assert shown.replace("\u200b", "") == f"{clean(text)} {clean(text)}".replace("\u200b", "")


@settings(max_examples=300, deadline=None)
@given(text=MARKUPISH | st.text(max_size=40))
def test_clean_text_holds_no_control_character(text):
    shown = clean(text)
    assert not any((ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F for c in shown)
    assert "\x1b" not in shown and "\u202e" not in shown
    assert "\n" not in one_line(text) and "\t" not in one_line(text)


def test_escape_sequences_go_whole_and_the_text_around_them_stays():
    assert clean("server says \x1b[2Jhi\x1b]0;title\x07 there\x1b[31m!") == "server says hi there!"
    assert clean("a\r\nb") == "a\nb"


def test_a_user_error_reads_on_one_clean_line():
    e = DataError("http://x/: 500 \x1b[2JInternal\r\nError")
    assert str(e) == "http://x/: 500 Internal Error"
    assert isinstance(e, UserError)


def test_the_run_summary_and_the_runs_table_show_bracketed_paths(tmp_path):
    from tui_trainer.commands.run_faces import Record, summary_table
    from tui_trainer.commands.runs import runs_table
    from tui_trainer.config import load_preset
    from tui_trainer.records.run_folder import list_runs

    preset = load_preset("spiral", ["name=[/b]odd[red]"])
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(summary_table(Record(), preset, Path("runs[/i]/x")))
    shown = console.export_text()
    assert "[/b]odd[red]" in shown and "runs[/i]/x" in shown

    runs_dir = tmp_path / "r[" / "i]"
    result = _cli("run", "spiral", "--set", "train.epochs=1", "--set", "name=[/b]x", "--runs-dir", str(runs_dir))
    assert result.returncode == 0, result.stderr
    console.print(runs_table(list_runs(runs_dir), str(runs_dir), 200))
    assert str(runs_dir) in console.export_text()


def _cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui_trainer", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )


def test_headless_commands_take_paths_with_markup(tmp_path):
    runs_dir = tmp_path / "runs[" / "i]"
    preset = tmp_path / "p[" / "b]" / "x.toml"
    preset.parent.mkdir(parents=True)
    preset.write_text((REPO / "presets" / "spiral.toml").read_text())
    result = _cli("run", str(preset), "--set", "train.epochs=1", "--runs-dir", str(runs_dir))
    assert result.returncode == 0 and "Traceback" not in result.stderr
    listed = _cli("runs", "--runs-dir", str(runs_dir))
    assert listed.returncode == 0, listed.stderr
    assert str(runs_dir) in "".join(listed.stdout.split())  # the title wraps in a narrow terminal
    missing = _cli("run", str(tmp_path / "q[" / "x]" / "nope.toml"))
    assert missing.returncode == 2 and "q[/x]/nope.toml: no such preset file" in missing.stderr


async def test_the_workbench_shows_markup_in_a_path_and_a_typed_value_and_stays(tmp_path):
    from test_ui import BIG, loaded, make_app

    app = make_app(tmp_path)
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        await pilot.press("o")
        await pilot.pause()
        path = app.screen.query_one("#open-path")
        path.focus()
        path.value = str(tmp_path / "a[" / "x]" / "no[red].toml")
        await pilot.press("enter")
        await pilot.pause()
        shown = str(app.screen.query_one("#open-error").render())
        assert "a[/x]/no[red].toml: no such preset file" in shown
        await pilot.press("escape")
        await pilot.press("e")
        await pilot.pause()
        form = app.screen
        form.query_one("#f-model-hidden").value = "[/b]"
        await pilot.press("enter")
        await pilot.pause()
        # The message shows under the field it names (the editor of issue 12), markup and all.
        assert "[/b]" in str(form.query_one("#f-model-hidden-error").render())
        assert app.is_running and app.screen is form


def test_a_preset_name_with_an_escape_sequence_is_refused_where_it_is_read():
    import pytest

    from tui_trainer.config import loads_preset
    from tui_trainer.errors import PresetError

    with pytest.raises(PresetError, match="name: holds control characters, escape sequences or line breaks"):
        loads_preset('name = "x\\u001b[2Jy"', source="p.toml")
    with pytest.raises(PresetError, match="--set name"):
        loads_preset('name = "ok"', source="p.toml", overrides=['name="a\\u0007b"'])
    assert loads_preset('name = "[/b]ok"\ndescription = "two\\nlines"', source="p.toml").name == "[/b]ok"
