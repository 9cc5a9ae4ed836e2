"""Every field of every record type through every face that shows it (issue 26): text
from a run folder (summary.json, config.toml, metrics.jsonl), a search's store, a
tune's state.json and its lr-find's result.json, and a preset, each string set to
escape sequences (the clipboard's OSC 52, a title, clear screen, C1 CSI), controls, a
bidirectional override and markup. What reaches a terminal holds no control
character and none of what those sequences carried; a JSON face holds them escaped.
No training: the records are written here, or copied from an earlier version's."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tui_trainer.cli import main
from tui_trainer.config import load_preset, to_toml
from tui_trainer.engine.events import Advice, Epoch, RunEnded, RunStarted
from tui_trainer.lab.search.space import TrialResult, ranges_of, stage_trials
from tui_trainer.records.run_folder import LABELS_FILE, RunStore, write_labels
from tui_trainer.records.search_store import SearchStore

OLD_TUNE = Path(__file__).parent / "old_records" / "tune-spiral-20261206-215722-50df3f"
# What escape sequences carry: seen on a screen or in a log only if a sequence got through.
CARRIED = ("SGVsbG8=", "OWNED")
BAD = "\x1b]52;c;SGVsbG8=\x07 \x1b]0;OWNED\x07\x1b[2J\x9b31m\u202e[/x][bold]\x00\x07\x08\r"
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def assert_shown_safely(text: str, face: str) -> None:
    """No control character, and nothing an escape sequence carried."""
    assert not CONTROLS.search(text), f"{face}: {CONTROLS.findall(text)[:5]} reached the terminal"
    assert not any(c in text for c in CARRIED), f"{face}: an escape sequence's payload is shown"


def assert_json_lines(text: str, face: str) -> None:
    """JSON for programs: the text as it was, escaped, each line valid JSON."""
    assert not CONTROLS.search(text), face
    for line in text.splitlines():
        json.loads(line)


def hostile(value, keep=lambda path: False, path=""):
    """A JSON value with BAD in every string (kept where `keep(path)` says the reader checks it)."""
    if isinstance(value, dict):
        return {k: hostile(v, keep, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [hostile(v, keep, f"{path}[]") for v in value]
    if isinstance(value, str) and not keep(path):
        return value + BAD
    return value


# --- a run folder -----------------------------------------------------------------------------------


@pytest.fixture
def hostile_run(tmp_path) -> Path:
    preset = load_preset("digits-fast").replace(description="about " + BAD)
    runs = tmp_path / "runs"
    store = RunStore.create(runs, preset)
    for event in (
        RunStarted(store.run_id, preset.to_dict(), 10, 100, 50, 2, 4, 2.3, (BAD,) * 10, (8, 8, 1)),
        Epoch(1, 1.0, 0.5, 0.4, 1e-2, 1.0),
        Advice(2, "bad-thing", BAD, "fix " + BAD),
        RunEnded("failed", "RuntimeError: " + BAD, 0.4, 1, 2, 1.0),
    ):
        store(event)
    summary = json.loads((store.path / "summary.json").read_text())
    (store.path / "summary.json").write_text(json.dumps(hostile(summary)))
    config = (store.path / "config.toml").read_text()
    (store.path / "config.toml").write_text(config.replace('name = "digits-fast"', 'name = "digits\\u001b[2J"'))
    return runs


def test_runs_lists_a_hostile_run_safely(hostile_run, capsys):
    assert main(["runs", "--runs-dir", str(hostile_run)]) == 0
    out = capsys.readouterr()
    assert_shown_safely(out.out + out.err, "runs")


def test_export_weights_says_what_is_wrong_with_a_hostile_run_safely(hostile_run, capsys):
    (run,) = hostile_run.iterdir()
    lines = (run / "metrics.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["image_shape"] = [BAD]
    (run / "metrics.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    assert main(["runs", "--runs-dir", str(hostile_run), "--export-weights", run.name]) == 2
    out = capsys.readouterr()
    assert_shown_safely(out.out + out.err, "runs --export-weights")


async def test_the_runs_view_and_the_workbench_notes_show_hostile_text_safely(hostile_run, tmp_path):
    from test_ui import BIG, loaded

    from tui_trainer.ui.app import WorkbenchApp
    from tui_trainer.ui.screens.runs import RunsScreen

    preset = load_preset("digits-fast").replace(description="about " + BAD)
    app = WorkbenchApp(preset, runs_dir=hostile_run, engine="thread")
    async with app.run_test(size=BIG) as pilot:
        await loaded(pilot)
        await pilot.pause()
        assert_shown_safely(app.export_screenshot(), "the workbench's notes")
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("space")  # select the run: its curves and legend overlay
        await pilot.pause(0.2)
        assert_shown_safely(app.export_screenshot(), "the runs view")
        assert app.is_running


# --- a search's store -------------------------------------------------------------------------------


SEARCH = ["--set", "search.stages=[{trials=3,epochs=1}]"]


@pytest.fixture
def hostile_search(tmp_path) -> Path:
    """A search whose every trial is recorded (failed, its reason and worker hostile): resuming it trains nothing."""
    preset = load_preset("spiral", [SEARCH[1]]).replace(description="about " + BAD)
    (tmp_path / "spiral.toml").write_text(to_toml(preset))
    store = SearchStore.create(tmp_path / "runs", preset)
    for t in stage_trials(preset.search.seed, 1, 3, 1, ranges_of(preset.search)):
        store.record(
            TrialResult.of(
                t,
                status="failed",
                reason="ValueError: " + BAD,
                best_val_acc=None,
                best_epoch=None,
                epochs=0,
                iterations=0,
                elapsed_s=0.1,
                worker=BAD,
            ).json_fields()
        )
    store.set_meta("status", BAD)
    store.close()
    return tmp_path


@pytest.mark.parametrize("json_lines", [False, True])
def test_resuming_a_hostile_search_shows_it_safely(hostile_search, capsys, json_lines):
    argv = ["search", str(hostile_search / "spiral.toml"), "--resume", "--workers", "1"]
    status = main([*argv, "--runs-dir", str(hostile_search / "runs"), *(["--json"] if json_lines else [])])
    assert status == 1  # every trial failed, not on bad input: the first failure's reason says why
    out = capsys.readouterr()
    assert_shown_safely(out.err, "search --resume's stderr")
    (assert_json_lines if json_lines else assert_shown_safely)(out.out, "search --resume")


# --- a tune's state.json and its lr-find's result.json ----------------------------------------------------


def _checked_by_the_reader(path: str) -> bool:
    """Fields whose value the reader checks (a verdict, a path inside the tune folder, a trial's
    id the next stage looks up, a status): hostile there is bad input, one line (test_hostile_resume)."""
    last = path.rsplit(".", 1)[-1]
    return last in ("verdict", "path", "run", "tuned_preset", "trial", "trial_id", "status") or path.endswith("_folder")


@pytest.fixture
def hostile_tune(tmp_path) -> Path:
    runs = tmp_path / "runs"
    tune = runs / OLD_TUNE.name
    shutil.copytree(OLD_TUNE, tune)
    state = json.loads((tune / "state.json").read_text())
    (tune / "state.json").write_text(json.dumps(hostile(state, _checked_by_the_reader)))
    result = next(tune.glob("lr-find-*")) / "result.json"
    sweeps = json.loads(result.read_text())
    result.write_text(json.dumps(hostile(sweeps, lambda p: p.startswith("sweeps") and p.count(".") > 1)))
    return runs


@pytest.mark.parametrize("json_lines", [False, True])
def test_resuming_a_hostile_tune_shows_it_safely(hostile_tune, capsys, json_lines):
    argv = ["tune", "spiral", "--resume", "--workers", "1", "--runs-dir", str(hostile_tune)]
    assert main([*argv, *(["--json"] if json_lines else [])]) == 0  # every stage replayed from the record
    out = capsys.readouterr()
    assert_shown_safely(out.err, "tune --resume's stderr")
    (assert_json_lines if json_lines else assert_shown_safely)(out.out, "tune --resume")
    if not json_lines:
        assert "OWNED" not in out.out and "[6/5]" not in out.out and out.out.count("(done earlier)") == 5


# --- record files that are no record, in the runs view ----------------------------------------------


def test_the_runs_view_opens_over_a_fifo_a_device_and_a_huge_config_and_q_still_quits(hostile_run):
    """`h` froze the workbench (q too) on a summary.json that is a FIFO. Run in a thread of its
    own, joined with a hang guard: a read that waits for a writer would block the app's loop."""
    import asyncio
    import os
    import threading

    (run,) = hostile_run.iterdir()
    others = []
    for kind in ("fifo", "devzero", "huge"):
        other = run.parent / f"{run.name[:-6]}{kind[:6]:0<6}"
        shutil.copytree(run, other)
        others.append(other.name)
        if kind == "fifo":
            (other / "summary.json").unlink()
            os.mkfifo(other / "summary.json")
        elif kind == "devzero":
            (other / "metrics.jsonl").unlink()
            (other / "metrics.jsonl").symlink_to("/dev/zero")
        else:
            with open(other / "config.toml", "ab") as f:
                f.truncate(1 << 30)  # sparse: a gigabyte
    seen: list = []

    async def look() -> None:
        from test_ui import BIG

        from tui_trainer.ui.app import WorkbenchApp
        from tui_trainer.ui.screens.runs import RunsScreen

        app = WorkbenchApp(load_preset("digits-fast"), runs_dir=hostile_run, engine="thread")
        async with app.run_test(size=BIG) as pilot:
            await pilot.press("h")
            await pilot.pause()
            assert isinstance(app.screen, RunsScreen)
            seen.extend(app.screen.runs)
            for _ in others:
                await pilot.press("down", "space")  # each overlays its curves
            await pilot.pause(0.2)
            await pilot.press("q")
            await pilot.pause()
        seen.append(app.return_code)

    thread = threading.Thread(target=asyncio.run, args=(look(),), daemon=True)
    thread.start()
    thread.join(120)  # a hang guard
    assert not thread.is_alive(), "the runs view blocked on a record file"
    assert sorted(seen[:-1]) == sorted([run.name, *others]) and seen[-1] == 0


# --- a seed group's id (group.txt), a run's tags and note (labels.json) ---------------------------------

OSC52 = "\x1b]52;c;aGk=\x07"


@pytest.fixture
def labelled_runs(tmp_path) -> tuple[Path, str, str]:
    """A seed group of two runs named with an escape sequence and markup, one run's tags and note
    the same, one run whose labels.json a hand edit left wrong and one whose labels.json is a FIFO."""
    group = f"g{OSC52}[/b]"
    runs = tmp_path / "runs"
    preset = load_preset("spiral")
    for _ in range(2):
        RunStore.create(runs, preset, group=group)
    tagged = RunStore.create(runs, preset).path
    write_labels(tagged, (f"tag{OSC52}[/b]", "plain"), f"note {OSC52}[/b]")
    broken = RunStore.create(runs, preset).path
    (broken / LABELS_FILE).write_text('{"tags": "not a list", "note": ["not", "text"]}')
    os.mkfifo(RunStore.create(runs, preset).path / LABELS_FILE)  # a plain read would wait for a writer
    return runs, group, tagged.name


def test_runs_and_runs_json_show_a_hostile_group_tag_and_note_safely(labelled_runs, capsys):
    runs, group, _ = labelled_runs
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    out = capsys.readouterr()
    assert_shown_safely(out.out + out.err, "runs")
    assert "aGk=" not in out.out and "g[/b]" in out.out  # the group's row, its markup shown as written
    assert main(["runs", "--runs-dir", str(runs), "--json"]) == 0
    out = capsys.readouterr()
    assert not CONTROLS.search(out.out) and out.err == ""
    doc = json.loads(out.out)  # data for programs: the text as it was, its controls escaped
    assert [g["id"] for g in doc["groups"]] == [group]
    labels = {(tuple(r["tags"]), r["note"]) for r in doc["runs"]}
    assert labels == {((), ""), ((f"tag{OSC52}[/b]", "plain"), f"note {OSC52}[/b]")}  # the broken ones read as none


async def test_the_runs_view_shows_a_hostile_group_tag_and_note_safely(labelled_runs):
    from rich.text import Text
    from test_runs_view import RunsApp
    from textual.widgets import DataTable

    runs, group, tagged = labelled_runs
    app = RunsApp(runs)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert group in app.screen.groups and table.row_count == 4  # the group, the tagged, the broken two
        shown = [Text.from_markup(str(c)).plain for row in range(table.row_count) for c in table.get_row_at(row)]
        assert "g[/b] (2 seeds)" in shown and "tag[/b] plain" in shown and "note [/b]" in shown
        await pilot.press("g")  # grouped by preset: a column more
        await pilot.pause()
        assert_shown_safely(app.export_screenshot(), "the runs view")
        assert_shown_safely("\n".join(shown), "the runs view's cells")
        table.move_cursor(row=table.get_row_index(tagged))
        await pilot.press("t")  # the input line offers the tags as text
        assert app.screen.query_one("#runs-input").value == "tag[/b] plain"
        assert app.is_running
