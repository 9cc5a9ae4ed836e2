"""No key sequence takes the workbench down: every key of every screen, in every
state (data loading, idle, running, ended, finished), at a grid size and at a
tabbed one, with the log scale toggled before, during and after runs.

The keys that start a job (s, f, g) are pressed where they are refused (data
loading, a run going); where they start one, the views' test drives them.

The keys come from the screens' BINDINGS, so a key added later is pressed too.
A crash in a handler or a render ends a Pilot test with the app's exception;
each press is also followed by a check that the app is still up.
"""

from __future__ import annotations

from test_ui import LONG, loaded, make_app, run_to_end, wait_for

from tui_trainer.ui.app import GLOBAL_KEYS
from tui_trainer.ui.screens.edit_form import EditForm
from tui_trainer.ui.screens.help import HelpScreen
from tui_trainer.ui.screens.open_preset import OpenPreset
from tui_trainer.ui.screens.runs import RunsScreen
from tui_trainer.ui.screens.search import SearchScreen
from tui_trainer.ui.screens.tune import LrFindScreen, TuneScreen
from tui_trainer.ui.screens.workbench import WorkbenchScreen

SMALL_JOBS = """
[search]
learning_rate = [1e-3, 3e-1]
reg = [1e-5, 1e-1]
stages = [{ trials = 3, epochs = 1 }, { trials = 2, epochs = 1 }]
keep = 2
[tune]
coarse_trials = 2
coarse_epochs = 1
fine_trials = 2
fine_epochs = 1
final_epochs = 2
"""
# Keys that change the state on purpose: pressed where the test means them to.
STATE_KEYS = {"space", "x", "q"}


def keys(bindings) -> list[str]:
    return [k.strip() for b in bindings for k in b.key.split(",")]


WORKBENCH_KEYS = [k for k in keys([*WorkbenchScreen.BINDINGS, *GLOBAL_KEYS]) if k not in STATE_KEYS]
WORKBENCH_KEYS.append("ctrl+p")  # the command palette
JOB_KEYS = {"s", "f", "g"}


async def alive(pilot) -> None:
    await pilot.pause()
    app = pilot.app
    assert app.is_running and app._exception is None, app._exception


async def back_to_the_workbench(pilot) -> None:
    """Leave whatever the key opened (a view, a form, the palette) with escape."""
    app = pilot.app
    for _ in range(4):
        if app.screen is app.workbench:
            return
        await pilot.press("escape")
        await alive(pilot)
    assert app.screen is app.workbench, f"escape did not leave {type(app.screen).__name__}"


async def press_every_key(pilot, *, jobs: bool) -> None:
    for key in WORKBENCH_KEYS:
        if key in JOB_KEYS and not jobs:
            continue
        await pilot.press(key)
        await alive(pilot)
        await back_to_the_workbench(pilot)


async def test_every_workbench_key_in_every_state_of_a_run(tmp_path):
    app = make_app(tmp_path, **{**LONG, "epochs": 2000})  # still going while every key is pressed
    async with app.run_test(size=(120, 36)) as pilot:
        await press_every_key(pilot, jobs=True)  # the data still loading: the jobs refused
        await loaded(pilot)
        await pilot.press("y")  # the log scale before a run
        await press_every_key(pilot, jobs=False)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.session.current.iteration >= 2, what="the run to start")
        await pilot.press("y")  # during it (the first steps on a log axis)
        await press_every_key(pilot, jobs=True)  # the jobs refused while a run goes
        assert app.session.running, "the run was meant to go on while the keys were pressed"
        await pilot.press("space")  # a restart mid-run
        await alive(pilot)
        await wait_for(pilot, lambda: len(app.session.runs) == 2, what="the restart")
        await pilot.press("x")
        await run_to_end(pilot, 2)
        await press_every_key(pilot, jobs=False)  # after it
        await pilot.press("y", "y")
        await alive(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


# A view's keys, those that leave it last; the key that opens it on the workbench.
VIEWS = [
    ("h", RunsScreen, ["space", "s", "o", "g", "j", "k", "f5", "slash", "escape", "t", "escape", "n", "escape", "u"]),
    ("e", EditForm, ["tab", "down", "ctrl+s", "escape"]),
    ("o", OpenPreset, ["down", "up", "tab", "enter"]),
    ("question_mark", HelpScreen, ["down", "q"]),
    ("f", LrFindScreen, ["u", "escape"]),
    ("s", SearchScreen, ["t", "i", "down", "pagedown", "i", "f", "j", "k", "down", "x", "u", "enter", "escape"]),
    ("g", TuneScreen, ["u", "x", "escape"]),
]


async def test_every_key_of_each_view_after_a_finished_run_on_a_small_screen(tmp_path):
    for _, view, view_keys in VIEWS:
        bound = set(keys(view.BINDINGS)) - {"ctrl+c"}
        assert bound <= set(view_keys) | {"escape", "question_mark", "enter", "ctrl+s"}, f"{view.__name__}'s keys"
    app = make_app(tmp_path, epochs=2, extra=SMALL_JOBS, engine="thread")
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        await pilot.press("y")
        await pilot.press("space")
        await run_to_end(pilot)
        await press_every_key(pilot, jobs=False)
        for opener, view, view_keys in VIEWS:
            for key in view_keys:
                if not isinstance(app.screen, view):
                    await back_to_the_workbench(pilot)
                    await pilot.press(opener)
                    await alive(pilot)
                    if not isinstance(app.screen, view):  # refused (its job still stopping): fine
                        continue
                await pilot.press(key)
                await alive(pilot)
            await back_to_the_workbench(pilot)
