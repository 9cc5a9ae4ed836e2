"""tune: the lecture's sequence in one command, its events, record, exit statuses and resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from tui_trainer.config import load_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.engine.trainer import build_net
from tui_trainer.formatting import accuracy, hyperparameter
from tui_trainer.lab.advisor import diagnose
from tui_trainer.records.run_folder import read_metrics

SMALL = [
    "--set",
    "tune.coarse_trials=6",
    "--set",
    "tune.coarse_epochs=20",
    "--set",
    "tune.fine_trials=3",
    "--set",
    "tune.fine_epochs=40",
    "--set",
    "tune.final_epochs=60",
]
STAGES = ["checks", "lr-find", "coarse", "fine", "final"]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui_trainer", *args], capture_output=True, text=True, timeout=180)


def events(out) -> list[dict]:
    return [json.loads(line) for line in out.stdout.splitlines()]


def evs_plan(evs: list[dict], stage: str) -> str:
    return next(e["plan"] for e in evs if e["event"] == "tune_stage_started" and e["stage"] == stage)


def tune_events(evs: list[dict]) -> list[tuple[str, str]]:
    return [(e["event"], e.get("stage", "")) for e in evs if e["event"].startswith("tune_")]


def test_tune_on_spiral_runs_every_stage_and_leaves_a_tuned_preset_and_a_report(tmp_path):
    # spiral's own [tune]: 12 x 20 epochs coarse, 6 x 60 fine, a 100-epoch final run; a few seconds
    out = cli("tune", "spiral", "--workers", "2", "--json", "--runs-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    evs = events(out)
    expected = [("tune_started", "")]
    for s in STAGES:
        expected += [("tune_stage_started", s), ("tune_stage_ended", s)]
    assert tune_events(evs) == [*expected, ("tune_ended", "")]
    assert {e["event"] for e in evs} >= {"trial_ended", "epoch"}  # progress of the searches and the final run
    ended = {e["stage"]: e for e in evs if e["event"] == "tune_stage_ended"}
    assert ended["checks"]["verdict"] == "passed"
    assert all(ended[s]["verdict"] == "done" for s in STAGES[1:])
    # the coarse search's lr range comes from lr-find's spread; the fine one from the coarse suggestion
    lo, hi = ended["lr-find"]["result"]["spread"]
    coarse = next(e for e in evs if e["event"] == "tune_stage_started" and e["stage"] == "coarse")
    assert f"lr {hyperparameter(float(f'{lo / 3:.3g}'))}..{hyperparameter(float(f'{hi * 3:.3g}'))}" in coarse["plan"]
    nxt = ended["coarse"]["result"]["next_ranges"]
    fine_trials = [e for e in evs if e["event"] == "trial_ended"][-6:]
    assert all(nxt["learning_rate"][0] <= t["learning_rate"] <= nxt["learning_rate"][1] for t in fine_trials)

    last = evs[-1]
    assert last["event"] == "tune_ended" and last["status"] == "finished"
    assert last["best_val_acc"] > 0.9  # spiral is learnable: 3 arms, far above chance (0.33)
    tuned = load_preset(last["tuned_preset"])
    assert tuned.train.epochs == 100 and tuned.name == "spiral-tuned"
    # the final stage continues the best 3 fine trials (their exact values and seed) and keeps the best,
    # so tune never reports less than its best fine trial
    fine = ended["fine"]["result"]
    final = ended["final"]["result"]
    assert [c["trial"] for c in final["candidates"]] == [r["trial_id"] for r in fine["ranking"][:3]]
    assert "the best 3 fine trials continued to 100 epochs" in evs_plan(evs, "final")
    chosen = next(r for r in fine["ranking"] if r["trial_id"] == final["trial"])
    assert (tuned.train.learning_rate, tuned.train.reg) == (chosen["learning_rate"], chosen["reg"])
    assert last["best_val_acc"] == max(c["best_val_acc"] for c in final["candidates"])
    assert last["best_val_acc"] >= fine["best"]["best_val_acc"]
    # the final run is advised as every run is (lab/session.py): its record holds the advice it got
    metrics = read_metrics(final["run"])
    advice = [e["code"] for e in metrics if e["event"] == "advice"]
    assert advice and advice == [d.code for d in diagnose(metrics)]
    folder = Path(last["path"])
    assert folder.parent == tmp_path and (folder / "state.json").is_file()
    report = Path(last["report"]).read_text()
    for words in (
        "Sanity checks: passed",
        "Learning-rate range test",
        "Why the coarse search takes lr",
        "Coarse search",
        "Suggested next ranges",
        "Fine search",
        "Final run",
        "tui-trainer run",
    ):
        assert words in report
    # which hyperparameter mattered, over every trial of each search (not only the five in its table)
    assert report.count("Which hyperparameter mattered") == 2 and report.count("importance: Spearman") == 2
    assert "val acc against each searched value (12 trials; * the best)" in report  # the coarse search's
    # the held-out figure, once, at the end: the final run's best parameters on the test split
    best = np.load(Path(final["run"]) / "best.npz")
    data = load_dataset(tuned.data)
    net = build_net(tuned, data.input_dim, data.num_classes)
    net.set_params(dict(best))
    assert last["n_test"] == 150 and last["test_acc"] == net.accuracy(data.X_test, data.y_test)
    assert final["test_acc"] == last["test_acc"]
    held_out = f"held-out test acc {accuracy(last['test_acc'])} on 150 test examples, read once now"
    assert report.count("held-out test acc") == 1 and held_out in report
    assert f"(val acc {accuracy(last['best_val_acc'])} chose this configuration" in report
    assert "held-out" not in json.dumps(ended)  # not in any stage's summary: said once, at the end
    # the tuned preset trains as any preset does
    run = cli("run", last["tuned_preset"], "--set", "train.epochs=2", "--runs-dir", str(tmp_path / "r"))
    assert run.returncode == 0, run.stderr


def test_a_failing_sanity_check_stops_tune_with_its_remedy_and_exit_1(tmp_path):
    out = cli("tune", "spiral", "--set", "model.init_std=10", "--json", "--workers", "1", "--runs-dir", str(tmp_path))
    assert out.returncode == 1, out.stderr
    evs = events(out)
    assert tune_events(evs) == [
        ("tune_started", ""),
        ("tune_stage_started", "checks"),
        ("tune_stage_ended", "checks"),
        ("tune_ended", ""),
    ]
    checks = evs[-2]
    assert checks["verdict"] == "failed" and checks["result"]["failed"] == "initial-loss"
    assert "Remedy:" in checks["summary"] and "model.init" in checks["summary"]
    assert evs[-1]["status"] == "failed" and evs[-1]["tuned_preset"] is None
    assert "tune failed at checks: initial-loss failed" in out.stderr


def test_bad_input_exits_2_with_one_line(tmp_path):
    for args, words in [
        (["tune", "no-such"], "unknown preset 'no-such'"),
        (["tune", "spiral", "--workers", "0"], "--workers 0"),
        (["tune", "spiral", "--set", "tune.fine_trials=0"], "tune.fine_trials"),
        (["tune", "spiral", "--set", "tune.final_candidates=0"], "tune.final_candidates"),
        (["tune", "spiral", "--resume"], "no tune of preset 'spiral' to resume"),
    ]:
        out = cli(*args, "--runs-dir", str(tmp_path))
        assert out.returncode == 2, (args, out.stderr)
        assert words in out.stderr and "Traceback" not in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    # a state.json edited by hand: --resume names the file and the field
    old = Path(__file__).parent / "old_records" / "tune-spiral-20261206-215722-50df3f"
    folder = tmp_path / "edited" / old.name
    shutil.copytree(old, folder)
    state = json.loads((folder / "state.json").read_text())
    state["lr-find"]["result"]["spread"] = "wide"
    (folder / "state.json").write_text(json.dumps(state))
    out = cli("tune", "spiral", "--resume", "--runs-dir", str(tmp_path / "edited"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == (
        f'tui-trainer: {folder / "state.json"}: lr-find.result.spread: expected a list, got "wide"; '
        "mend it, or start a new tune without --resume"
    )


def _start_and_kill_in_coarse(tmp_path, sig) -> subprocess.Popen:
    slow = [*SMALL, "--set", "tune.coarse_trials=6", "--set", "tune.coarse_epochs=150"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_trainer", "tune", "spiral", *slow, "--workers", "1", "--json"]
        + ["--runs-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        e = json.loads(line)
        if e["event"] == "trial_ended":  # in the coarse search, with a trial recorded
            os.kill(proc.pid, sig)
            break
    return proc


def test_ctrl_c_keeps_what_is_done_and_resume_after_a_kill_continues(tmp_path):
    proc = _start_and_kill_in_coarse(tmp_path, signal.SIGINT)
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert json.loads(rest.splitlines()[-1])["status"] == "stopped"
    assert "tui-trainer tune spiral --resume" in err

    proc = _start_and_kill_in_coarse(tmp_path / "k", signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    (folder,) = (tmp_path / "k").iterdir()
    # the search begun before the kill, named inside the tune folder
    begun = str(folder / json.loads((folder / "state.json").read_text())["coarse_folder"])
    out = cli("tune", "spiral", "--resume", "--json", "--workers", "1", "--runs-dir", str(tmp_path / "k"))
    assert out.returncode == 0, out.stderr
    evs = events(out)
    assert evs[0]["event"] == "tune_started" and evs[0]["resumed"]
    ended = {e["stage"]: e for e in evs if e["event"] == "tune_stage_ended"}
    assert ended["checks"]["resumed"] and ended["lr-find"]["resumed"]
    assert not ended["coarse"]["resumed"]  # reopened: its recorded trials are not run again
    assert ended["coarse"]["path"] == begun and list((tmp_path / "k").iterdir()) == [folder]
    assert evs[-1]["status"] == "finished" and Path(evs[-1]["tuned_preset"]).is_file()


def test_ctrl_c_in_the_final_stage_stops_its_candidates_on_the_workers_too(tmp_path):
    slow = [*SMALL, "--set", "tune.final_epochs=100000"]  # the final candidates would train for minutes
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_trainer", "tune", "spiral", *slow, "--workers", "2", "--json"]
        + ["--runs-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        e = json.loads(line)
        if e["event"] == "epoch":  # the first candidate trains here, the others on the workers
            os.kill(proc.pid, signal.SIGINT)
            break
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    evs = [json.loads(x) for x in rest.splitlines()]
    final = next(e for e in evs if e["event"] == "tune_stage_ended")
    assert final["stage"] == "final" and final["verdict"] == "stopped"
    assert [c["status"] for c in final["result"]["candidates"]] == ["stopped"] * 3
    (folder,) = tmp_path.iterdir()
    assert not list(folder.glob(".stop-*"))  # the workers' stop flag does not outlive the stage


def test_on_a_dask_cluster_tune_tunes_to_the_same_preset_as_on_local_workers(tmp_path):
    import distributed  # the cluster extra, also in the test extra

    sets = [w for item in ("tune.coarse_trials=6", "tune.fine_trials=3") for w in ("--set", item)]
    with distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None, host="127.0.0.1"
    ) as cluster:
        dask = cli(
            "tune",
            "spiral",
            *sets,
            "--json",
            "--scheduler",
            cluster.scheduler_address,
            "--runs-dir",
            str(tmp_path / "dask"),
        )
    local = cli("tune", "spiral", *sets, "--json", "--workers", "2", "--runs-dir", str(tmp_path / "local"))
    assert dask.returncode == 0 and local.returncode == 0, dask.stderr + local.stderr
    d, lo = events(dask), events(local)
    assert d[0]["where"].startswith(f"Dask scheduler {cluster.scheduler_address}")
    tuned = [load_preset(e[-1]["tuned_preset"]) for e in (d, lo)]
    assert tuned[0].train == tuned[1].train and d[-1]["best_val_acc"] == lo[-1]["best_val_acc"]
