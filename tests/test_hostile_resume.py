"""Resume that cannot cross tunes or folders, and records validated on read (issue 26):
a record is found by the exact name its preset.toml holds, the paths state.json names
lie inside the tune folder wherever it is, one process at a time works in a tune, and a
store or state edited by hand is one line naming the file and the field. No training:
the tunes are an earlier version's record (tests/old_records), replayed."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from tui_trainer.config import load_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.errors import EnvironmentProblem, UserError
from tui_trainer.lab.search.pool import TrialPool
from tui_trainer.lab.search.runner import recorded_results
from tui_trainer.lab.search.space import TrialResult
from tui_trainer.lab.tune.control import TuneControl
from tui_trainer.lab.tune.events import TuneStageEnded
from tui_trainer.lab.tune.runner import read_state, run_tune
from tui_trainer.records.run_folder import RunStore, read_metrics
from tui_trainer.records.search_store import SearchStore
from tui_trainer.records.tune_folder import TuneRecord

OLD = Path(__file__).parent / "old_records" / "tune-spiral-20261206-215722-50df3f"


def old_tune(where: Path) -> TuneRecord:
    """The earlier version's finished tune, copied as it is (its state.json names /tmp/fixrun/...)."""
    shutil.copytree(OLD, where / OLD.name)
    return TuneRecord(where / OLD.name, load_preset(where / OLD.name / "preset.toml"))


def edit_state(record: TuneRecord, change) -> None:
    state = json.loads(record.state_path.read_text())
    change(state)
    record.state_path.write_text(json.dumps(state))


def replay(record: TuneRecord) -> list:
    events: list = []
    with TrialPool.threads(1) as nothing_to_run:
        run_tune(record.preset, load_dataset(record.preset.data), record, events.append, TuneControl(), nothing_to_run)
    return events


# --- by exact identity -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "ours, theirs",
    [
        ("foo", "foo-bar"),  # a prefix of the other's folder name
        ("a" * 40 + "-one", "a" * 40 + "-two"),  # the same first 40 characters: the same folder prefix
        ("a b", "a-b"),  # the same name made safe for a path
    ],
)
def test_resume_finds_the_tune_and_the_search_of_exactly_that_preset(tmp_path, ours, theirs):
    spiral = load_preset("spiral")
    for name in (theirs,):
        TuneRecord.create(tmp_path, spiral.replace(name=name))
        SearchStore.create(tmp_path, spiral.replace(name=name)).close()
    with pytest.raises(UserError, match=f"no tune of preset {ours!r} to resume"):
        TuneRecord.latest(tmp_path, ours)
    with pytest.raises(UserError, match=f"no search of preset {ours!r} to resume"):
        SearchStore.latest(tmp_path, ours)
    mine = TuneRecord.create(tmp_path, spiral.replace(name=ours))
    store = SearchStore.create(tmp_path, spiral.replace(name=ours))
    store.close()
    assert TuneRecord.latest(tmp_path, ours).path == mine.path
    again = SearchStore.latest(tmp_path, ours)
    assert again.path == store.path
    again.close()
    assert TuneRecord.latest(tmp_path, theirs).preset.name == theirs


def test_a_tune_whose_preset_toml_cannot_be_read_is_not_taken_for_anothers(tmp_path):
    record = TuneRecord.create(tmp_path, load_preset("spiral"))
    (record.path / "preset.toml").write_text("name = ")
    with pytest.raises(UserError, match="no tune of preset 'spiral' to resume"):
        TuneRecord.latest(tmp_path, "spiral")


# --- paths inside the tune folder --------------------------------------------------------------


def test_an_old_tune_moved_elsewhere_resumes_from_any_working_directory(tmp_path, monkeypatch):
    record = old_tune(tmp_path / "moved")
    monkeypatch.chdir(tmp_path)
    events = replay(TuneRecord.latest("moved", "spiral"))
    paths = {e.stage: e.path for e in events if isinstance(e, TuneStageEnded)}
    assert paths["coarse"] == str(Path("moved") / OLD.name / "search-spiral-coarse-20261206-215722-21e8e1")
    assert all(Path(p).parent == Path("moved") / OLD.name for p in paths.values())
    assert os.path.isdir(paths["lr-find"]) and os.path.isdir(paths["final"])  # (the copy holds no searches)
    # written back, each path is its name inside the folder: the record reads the same from anywhere
    read_state(record).save(record)
    state = json.loads(record.state_path.read_text())
    assert state["coarse_folder"] == "search-spiral-coarse-20261206-215722-21e8e1"
    assert state["final"]["path"] == state["final"]["result"]["run"] == "20261206-215723-spiral-tuned-b91132"
    assert state["final"]["result"]["tuned_preset"] == "tuned.toml"
    monkeypatch.chdir(tmp_path / "moved" / OLD.name)
    assert (
        read_state(TuneRecord(Path("."), record.preset)).folder("coarse")
        == "search-spiral-coarse-20261206-215722-21e8e1"
    )


@pytest.mark.parametrize(
    "field, change",
    [
        ("coarse_folder", lambda s, out: s.update(coarse_folder=str(out))),
        ("coarse_folder", lambda s, out: s.update(coarse_folder="../elsewhere")),
        ("fine_folder", lambda s, out: s.update(fine_folder="..")),
        ("fine_folder", lambda s, out: s.update(fine_folder="search-x/../../elsewhere")),
        ("lr-find.path", lambda s, out: s["lr-find"].update(path=str(out / "lr-find-x"))),
        ("final.result.run", lambda s, out: s["final"]["result"].update(run="/etc")),
        ("final.result.tuned_preset", lambda s, out: s["final"]["result"].update(tuned_preset=str(out / "t.toml"))),
    ],
)
def test_a_state_json_naming_a_folder_outside_the_tune_is_refused_naming_the_field(tmp_path, field, change):
    record = old_tune(tmp_path / "runs")
    outside = tmp_path / "outside"
    outside.mkdir()
    edit_state(record, lambda s: change(s, outside))
    with pytest.raises(UserError) as e:
        read_state(record)
    assert str(e.value).startswith(f"{record.state_path}: {field}: ") and "not in the tune folder" in str(e.value)
    assert list(outside.iterdir()) == []


def test_a_begun_search_linked_to_a_folder_outside_is_refused(tmp_path):
    record = old_tune(tmp_path / "runs")
    outside = tmp_path / "outside"
    outside.mkdir()
    (record.path / "search-link").symlink_to(outside)
    edit_state(record, lambda s: [s.pop(k) for k in ("coarse", "fine", "fine_folder", "final")] and None)
    edit_state(record, lambda s: s.update(coarse_folder="search-link"))
    with pytest.raises(UserError, match=r"coarse_folder: 'search-link' is a link"):
        replay(record)
    assert list(outside.iterdir()) == []


# --- one process at a time ----------------------------------------------------------------------


def test_a_tune_being_resumed_cannot_be_resumed_again_until_it_ends(tmp_path):
    record = old_tune(tmp_path)
    other = TuneRecord(record.path, record.preset)  # a second `tune --resume` of the same folder
    with record.locked():
        with pytest.raises(EnvironmentProblem, match="this tune is still running; wait for it to end"):
            replay(other)
        with record.locked():  # the holder itself may nest (the command, then run_tune)
            pass
        with pytest.raises(EnvironmentProblem):
            replay(other)
    assert [e.resumed for e in replay(other) if isinstance(e, TuneStageEnded)] == [True] * 5


# --- a run the tune left without its end ---------------------------------------------------------


def test_resume_ends_the_record_of_a_final_run_the_stop_cut_off(tmp_path):
    record = old_tune(tmp_path)
    run = RunStore.create(record.path, record.preset)  # a final run killed mid-way: no summary, no run_ended
    run.close()
    assert not (run.path / "summary.json").exists()
    replay(record)
    summary = json.loads((run.path / "summary.json").read_text())
    assert summary["status"] == "stopped" and "--resume" in summary["reason"]
    assert read_metrics(run.path)[-1]["event"] == "run_ended"


# --- a search's store edited by hand ----------------------------------------------------------------


def store_with_trials(tmp_path: Path) -> SearchStore:
    store = SearchStore.create(tmp_path, load_preset("spiral"))
    for i in range(3):
        result = TrialResult(
            f"s1-00{i}", 1, i, {"learning_rate": 0.1 * (i + 1), "reg": 1e-4}, "finished", "", 0.5, 2, 3, 18, 0.4
        )
        store.record(result.json_fields())
    return store


@pytest.mark.parametrize(
    "sql, where",
    [
        (
            "UPDATE trials SET best_val_acc = 'abc' WHERE idx = 1",
            "trials row 2 (s1-001), column best_val_acc: expected a number",
        ),
        (
            "UPDATE trials SET epochs = 'many' WHERE idx = 0",
            "trials row 1 (s1-000), column epochs: expected an integer",
        ),
        ("UPDATE trials SET learning_rate = 'fast' WHERE idx = 2", "column learning_rate: expected a number"),
        ("UPDATE trials SET status = 'great' WHERE idx = 0", 'column status: "great" is not one of finished'),
        ("UPDATE trials SET trial_id = x'00' WHERE idx = 0", "column trial_id: expected a string"),
        ("ALTER TABLE trials DROP COLUMN best_epoch", "trials row 1 (s1-000), column best_epoch: missing"),
    ],
)
def test_a_store_edited_by_hand_is_one_line_naming_the_file_the_row_and_the_column(tmp_path, sql, where):
    store = store_with_trials(tmp_path)
    con = sqlite3.connect(store.db_path)
    con.execute(sql)
    con.commit()
    con.close()
    with pytest.raises(UserError) as e:
        recorded_results(store)
    store.close()
    assert str(e.value).startswith(f"{store.db_path}: ") and where in str(e.value), str(e.value)


def test_a_store_that_is_not_a_database_is_one_line(tmp_path):
    store = store_with_trials(tmp_path)
    store.close()
    for f in store.path.glob("search.sqlite*"):
        f.write_bytes(b"not sqlite " * 100)
    with pytest.raises(UserError, match="search.sqlite: not a readable search database"):
        SearchStore.open(store.path).close()
