"""The runs view: past runs side by side, sortable, overlaid, reusable."""

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static

from tui_trainer.config import load_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import Trainer
from tui_trainer.formatting import duration, short_run_name
from tui_trainer.lab.advisor import Advisor
from tui_trainer.records.run_folder import RunStore
from tui_trainer.ui.messages import UseConfig
from tui_trainer.ui.screens.runs import OverlayPlot, RunsScreen
from tui_trainer.ui.widgets.advice import AdvicePane

RUNS = {  # learning rate -> what the run does
    "1e-3": "learns",
    "1e-6": "too low",
    "1e-1": "explodes",
}


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    names = {}
    for lr in RUNS:
        preset = load_preset("default", [f"train.learning_rate={lr}", "train.epochs=2"])
        data = load_dataset(preset.data)
        store = RunStore.create(root, preset, data)
        trainer = Trainer(preset, data, Advisor(store), run_id=store.run_id, on_epoch=store.on_epoch)
        trainer.run()
        store.save_best(trainer.best_params)
        names[lr] = store.path.name
    return root, names


class RunsApp(App):
    def __init__(self, runs_dir, session=()):
        super().__init__()
        self.runs_dir, self.session = runs_dir, session
        self.used = []

    def compose(self) -> ComposeResult:
        yield Static("workbench")

    def on_mount(self) -> None:
        self.push_screen(RunsScreen(self.runs_dir, session=self.session))

    def on_use_config(self, message: UseConfig) -> None:
        self.used.append(message)


def table_names(screen):
    table = screen.query_one(DataTable)
    return [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]


async def test_runs_are_listed_best_val_accuracy_first(runs_dir):
    root, names = runs_dir
    app = RunsApp(root, session=[names["1e-3"]])
    async with app.run_test(size=(140, 44)) as pilot:
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        order = table_names(screen)
        assert order == [names["1e-3"], names["1e-6"], names["1e-1"]]  # exploded: no val acc, last
        table = screen.query_one(DataTable)
        first = {key: table.get_cell(names["1e-3"], key) for key in ("mark", *screen.columns)}
        assert first["mark"].startswith("●")  # this session's run
        assert first["status"] == "finished" and float(first["val_acc"]) > 0.8
        assert first["learning_rate"] == "1.00e-03" and first["hidden"] == "50" and first["update"] == "momentum"
        assert first["epochs"] == "2"
        assert first["diff"] == "learning_rate=0.001"  # the one setting that differs between them
        assert table.get_cell(names["1e-1"], "status") == "exploded"
        await pilot.press("s")  # by date, newest first
        assert table_names(screen) == sorted(names.values(), reverse=True)
        await pilot.press("s")
        assert table_names(screen) == order


async def test_selected_runs_overlay_their_curves_and_advice_follows_the_cursor(runs_dir):
    root, names = runs_dir
    app = RunsApp(root)
    async with app.run_test(size=(140, 44)) as pilot:
        screen = app.screen
        loss = screen.query_one("#runs-loss", OverlayPlot)
        # nothing selected: the highlighted run's curves
        assert [n for n, _, _ in loss.runs] == [names["1e-3"]]
        await pilot.press("space")  # select the best run
        await pilot.press("down", "space")  # and the one with the low rate
        assert screen.selected == [names["1e-3"], names["1e-6"]]
        runs = {n: c for n, c, _ in loss.runs}
        assert set(runs) == set(screen.selected)
        assert runs[names["1e-3"]].loss.size == 40 and runs[names["1e-3"]].epochs == [1, 2]
        assert runs[names["1e-3"]].loss[-1] < runs[names["1e-6"]].loss[-1]
        colours = [c for _, _, c in loss.runs]
        assert len(set(colours)) == 2
        assert short_run_name(names["1e-6"]) in loss.border_subtitle and short_run_name(names["1e-6"]).startswith(
            "default-"
        )
        # the highlighted run's diagnoses, replayed from its metrics
        advice = screen.query_one(AdvicePane)
        assert {a.code for a in advice.advice} >= {"loss_flat"}
        await pilot.press("down")
        assert [a.code for a in advice.advice] == ["loss_exploding"]
        await pilot.press("up", "space")  # unselect
        assert screen.selected == [names["1e-3"]]


async def test_a_past_runs_config_becomes_the_next_runs(runs_dir):
    root, names = runs_dir
    app = RunsApp(root)
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.press("down")  # the lr 1e-6 run
        await pilot.press("u")
        await pilot.pause()
        assert not isinstance(app.screen, RunsScreen)  # back to the workbench
        (msg,) = app.used
        assert msg.run == names["1e-6"]
        assert msg.preset.train.learning_rate == 1e-6 and msg.preset.train.epochs == 2
        assert msg.preset == load_preset(root / names["1e-6"] / "config.toml")


async def test_an_empty_run_directory_says_how_to_start(tmp_path):
    app = RunsApp(tmp_path / "nothing-here")
    async with app.run_test(size=(100, 30)) as pilot:
        title = str(app.screen.query_one("#runs-title", Static).render())
        assert "No runs" in title
        await pilot.press("space", "u")  # nothing highlighted: nothing happens
        assert app.used == []
        await pilot.press("escape")
        assert not isinstance(app.screen, RunsScreen)


def test_durations_read_like_people_write_them():
    assert [duration(s) for s in (None, 3.25, 42, 125, 7300)] == ["", "3.2s", "42s", "2m 05s", "2h 01m"]
