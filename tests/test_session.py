"""The one composition of a run (lab/session.py): every recorded run is recorded,
advised and fed to its faces the same way; a search trial is the same run
without a folder and without advice."""

from __future__ import annotations

import json

from tui_trainer.config import load_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import RunControl
from tui_trainer.engine.events import Advice, Epoch, RunStarted, Step, to_dict
from tui_trainer.lab.session import record_run
from tui_trainer.records.run_folder import read_metrics


def digits(*overrides: str):
    preset = load_preset("digits-fast", list(overrides))
    return preset, load_dataset(preset.data)


def test_a_recorded_run_writes_its_advice_into_the_record_and_every_face(tmp_path):
    # init_std 1e-1 starts digits-fast's loss about 30% above ln(10): the initial_loss advice
    preset, data = digits("model.init_std=1e-1", "train.epochs=2")
    seen: list = []
    run = record_run(preset, data, tmp_path, RunControl(), seen.append)
    assert run.path is not None and run.path.parent == tmp_path
    ended = run.run()
    assert ended.status == "finished"
    assert [a.code for a in seen if isinstance(a, Advice)][:1] == ["initial_loss"]
    assert read_metrics(run.path) == [to_dict(e) for e in seen]  # the record and the face saw the same stream
    assert seen[0].run_id == run.path.name
    assert {p.name for p in run.path.iterdir()} >= {"config.toml", "metrics.jsonl", "summary.json", "best.npz"}
    assert run.advisor is not None and [a.code for a in run.advisor.diagnoses][:1] == ["initial_loss"]


def test_a_face_added_after_the_folder_exists_sees_the_whole_run(tmp_path):
    preset, data = digits("train.epochs=1")
    run = record_run(preset, data, tmp_path)
    seen: list = []
    run.watch(seen.append)  # as `run` adds its plain face, which prints the folder's path
    run.run()
    assert isinstance(seen[0], RunStarted) and seen[-1].status == "finished"


def test_a_run_without_a_folder_records_nothing_and_without_advice_says_none(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    preset, data = digits("model.init_std=1e-1", "train.epochs=1")
    seen: list = []
    run = record_run(preset, data, None, None, seen.append, advise=False, run_id="trial-7")
    assert run.path is None and run.advisor is None
    assert run.run().status == "finished"
    assert seen[0].run_id == "trial-7"
    assert not any(isinstance(e, Advice) for e in seen)
    assert list(tmp_path.iterdir()) == []


def test_a_run_stopped_before_its_first_epoch_saves_no_best_parameters(tmp_path):
    """Headless and the workbench alike: best.npz holds the best epoch's weights, and
    there is none yet (`runs --export-weights` says so)."""
    preset, data = digits()
    control = RunControl()

    def stop_at_once(event):
        if isinstance(event, Step):
            control.stop("stopped by the test")

    run = record_run(preset, data, tmp_path, control, stop_at_once)
    assert run.run().status == "stopped"
    assert run.path is not None and not (run.path / "best.npz").exists()
    assert json.loads((run.path / "summary.json").read_text())["status"] == "stopped"


def test_a_face_hook_runs_after_the_stores_each_epoch(tmp_path):
    preset, data = digits("train.epochs=2")
    on_disk: list[bool] = []
    run = record_run(preset, data, tmp_path, on_epoch=lambda t: on_disk.append((run.path / "best.npz").exists()))
    run.run()
    assert on_disk == [True, True]  # the store saved the first epoch's best before the face looked


def test_a_search_trial_trains_as_a_run_does(tmp_path):
    from tui_trainer.lab.search.pool import MemoryFlag
    from tui_trainer.lab.search.space import Trial
    from tui_trainer.lab.search.trial import TrialSpec, run_trial, trial_preset

    preset, data = digits("train.epochs=2")
    trial = Trial("t1", 1, 0, {"learning_rate": preset.train.learning_rate, "reg": preset.train.reg}, 2)
    result = run_trial(TrialSpec(preset, trial, MemoryFlag()))
    seen: list = []
    record_run(trial_preset(preset, trial), data, None, None, seen.append, advise=False).run()
    epochs = [e for e in seen if isinstance(e, Epoch)]
    assert (result.status, result.epochs) == ("finished", 2)
    assert result.best_val_acc == max(e.val_acc for e in epochs)
