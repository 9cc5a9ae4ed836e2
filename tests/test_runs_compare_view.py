"""The runs view as a comparison table: the settings that differ, `/` filter, grouping,
sorting by any column, tags and notes kept in the run folder, and 80x24."""

import json

import pytest
from test_runs_view import RunsApp, table_names
from textual.widgets import DataTable, Input, Static

from tui_trainer.config import load_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import Trainer
from tui_trainer.records.run_folder import LABELS_FILE, RunStore, list_runs
from tui_trainer.ui.screens.runs import RunsScreen


def record(root, name: str, *overrides: str, group: str | None = None) -> str:
    preset = load_preset(name, overrides)
    data = load_dataset(preset.data)
    store = RunStore.create(root, preset, data, group=group)
    Trainer(preset, data, store, run_id=store.run_id, on_epoch=store.on_epoch).run()
    return store.path.name


@pytest.fixture
def runs_dir(tmp_path):
    names = {
        "fast": record(tmp_path, "spiral", "train.epochs=2", "train.learning_rate=1.0"),
        "slow": record(tmp_path, "spiral", "train.epochs=2", "train.learning_rate=0.01", "train.reg=0.01"),
        "digits": record(tmp_path, "digits-fast", "train.epochs=1"),
    }
    return tmp_path, names


def title(screen) -> str:
    return str(screen.query_one("#runs-title", Static).render())


def diff_of(screen, name: str) -> str:
    return screen.query_one(DataTable).get_cell(name, "diff")


async def test_the_diff_column_holds_only_the_settings_that_differ_and_follows_the_filter(runs_dir):
    root, names = runs_dir
    app = RunsApp(root)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = app.screen
        assert "data.dataset" in screen.diff_keys and "train.learning_rate" in screen.diff_keys
        assert "dataset=digits" in diff_of(screen, names["digits"])
        await pilot.press("slash", *"spiral")
        assert set(table_names(screen)) == {names["fast"], names["slow"]}
        assert "2 match /spiral" in title(screen)
        assert screen.diff_keys == ["train.learning_rate", "train.reg"]  # only what differs among those shown
        assert diff_of(screen, names["slow"]) == "learning_rate=0.01 reg=0.01"
        await pilot.press("enter")  # keep the filter, back to the table
        assert screen.query_one(DataTable).has_focus and len(table_names(screen)) == 2
        await pilot.press("slash", "escape")  # escape while typing clears the filter, not the view
        assert isinstance(app.screen, RunsScreen) and len(table_names(screen)) == 3
        await pilot.press("slash", *"nothing matches")
        assert table_names(screen) == [] and "0 match" in title(screen)


async def test_tags_and_a_note_are_kept_in_the_run_folder_and_filter_by_tag(runs_dir):
    root, names = runs_dir
    app = RunsApp(root)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = app.screen
        first = table_names(screen)[0]
        await pilot.press("t", *"baseline, keep", "enter")
        await pilot.press("n", *"the one to beat", "enter")
        labels = json.loads((root / first / LABELS_FILE).read_text())
        assert labels == {"tags": ["baseline", "keep"], "note": "the one to beat"}
        table = screen.query_one(DataTable)
        assert table.get_cell(first, "tags") == "baseline keep" and table.get_cell(first, "note") == "the one to beat"
        await pilot.press("t", "escape")  # cancelled: nothing changes
        assert json.loads((root / first / LABELS_FILE).read_text())["tags"] == ["baseline", "keep"]
        await pilot.press("slash", *"keep", "enter")
        assert table_names(screen) == [first]
    (info,) = [r for r in list_runs(root) if r.name == first]
    assert info.tags == ("baseline", "keep") and info.note == "the one to beat"  # as every face reads it


async def test_rows_group_by_preset_then_data_set_and_sort_by_any_column(runs_dir):
    root, names = runs_dir
    app = RunsApp(root)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = app.screen
        table = screen.query_one(DataTable)
        await pilot.press("g")
        assert "grouped by preset" in title(screen)
        order = table_names(screen)
        assert order[0] == names["digits"] and set(order[1:]) == {names["fast"], names["slow"]}
        assert [table.get_cell(n, "group") for n in order] == ["digits-fast", "spiral", ""]  # once per group
        await pilot.press("g")
        assert "grouped by data set" in title(screen) and table.get_cell(order[0], "group") == "digits"
        await pilot.press("g")
        assert "grouped" not in title(screen)
        # o: the next column; a header click: that column, again to reverse
        await pilot.press("o")
        assert screen.sort_by == "date" and table_names(screen) == sorted(names.values(), reverse=True)
        reg = table.columns[next(k for k in table.columns if k.value == "reg")]
        table.post_message(DataTable.HeaderSelected(table, reg.key, 0, reg.label))
        await pilot.pause()
        by_name = {r.name: r.reg for r in list_runs(root)}
        regs = [by_name[n] for n in table_names(screen)]
        assert screen.sort_by == "reg" and regs == sorted(regs)
        table.post_message(DataTable.HeaderSelected(table, reg.key, 0, reg.label))
        await pilot.pause()
        assert [by_name[n] for n in table_names(screen)] == sorted(regs, reverse=True)


async def test_at_80x24_columns_collapse_and_the_diff_stays(runs_dir):
    root, names = runs_dir
    app = RunsApp(root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await pilot.pause()
        assert {"val_acc", "diff", "status"} <= set(screen.columns)
        assert "duration" not in screen.columns  # the least needed went first
        table = screen.query_one(DataTable)
        assert table.virtual_size.width <= 80  # no column cut off past the edge
        assert table.get_cell(names["digits"], "run") == names["digits"].split("-", 2)[2]  # without its stamp
        assert "dataset=digits" in diff_of(screen, names["digits"])
        assert isinstance(screen.query_one("#runs-input", Input), Input)


async def test_a_seed_group_is_one_row_drawn_as_its_mean_with_a_band(tmp_path):
    lone = record(tmp_path, "spiral", "train.epochs=3")
    members = [record(tmp_path, "spiral", "train.epochs=3", f"train.seed={s}", group="g-spiral") for s in (1, 2)]
    infos = {r.name: r for r in list_runs(tmp_path)}
    accs = [infos[m].best_val_acc for m in members]
    app = RunsApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert set(table_names(screen)) == {lone, "g-spiral"}  # the group's runs are one row
        table = screen.query_one(DataTable)
        mean, std = sum(accs) / 2, abs(accs[0] - accs[1]) / 2**0.5
        assert table.get_cell("g-spiral", "val_acc") == f"{mean:.3f}±{std:.3f}"
        assert table.get_cell("g-spiral", "run").endswith("(2 seeds)")
        assert screen.diff_keys == ["train.seed"]  # the group's first run against the lone one
        assert table.get_cell("g-spiral", "diff") == "seed=1..2" and table.get_cell(lone, "diff") == "seed=0"
        while screen._highlighted() != "g-spiral":
            await pilot.press("down")
        await pilot.press("space")
        (curve,) = [c for n, c, _ in screen.query_one("#runs-accuracy").runs if n == "g-spiral"]
        runs = [screen._run_curves(m, infos[m].path) for m in members]
        assert curve.val_acc == [(a + b) / 2 for a, b in zip(runs[0].val_acc, runs[1].val_acc)]
        lo, hi = curve.val_band
        assert lo == [min(a, b) for a, b in zip(runs[0].val_acc, runs[1].val_acc)] and len(hi) == 3
        await pilot.press("t", *"seeded", "enter")  # a group's tags go on each of its runs
    assert {r.name: r.tags for r in list_runs(tmp_path)} == {lone: (), members[0]: ("seeded",), members[1]: ("seeded",)}
