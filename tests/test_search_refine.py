"""The search's judgments for a student: the edge warning on a trend, the next, finer
search it suggests (next_ranges, next.toml, --refine), and the shipped fine-search
following from what coarse-search finds. (The plain face's next-search lines and
--refine's bad input: test_search.py; the next preset's making: test_search_space.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tui_trainer.config import load_preset
from tui_trainer.lab.search.space import TrialResult, edge_warnings, spearman, suggest_next


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui_trainer", *args], capture_output=True, text=True, timeout=120)


def ended_event(out: subprocess.CompletedProcess) -> dict:
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert events[-1]["event"] == "search_ended"
    return events[-1]


def trial(i, lr, acc, reg=1e-3, status="finished"):
    return TrialResult(f"s1-{i:03d}", 1, i, {"learning_rate": lr, "reg": reg}, status, "", acc, 1, 1, 20, 0.1)


# The low learning-rate search: 1e-6..1e-5 is far too low for mnist-5k.
EXPLORED = {"learning_rate": (1e-6, 1e-5), "reg": (1e-5, 1e1), "hidden": (), "batch_size": ()}


def test_a_trend_toward_the_end_warns_though_the_best_is_not_in_the_outer_tenth():
    # accuracy rises with the learning rate across the range; the best, 7.8e-6, is 89% up
    lrs = [1e-6 * 10 ** (0.89 * k / 11) for k in range(12)]
    results = [trial(i, lr, 0.14 + 0.004 * i) for i, lr in enumerate(lrs)]
    (w,) = edge_warnings(results, EXPLORED)
    assert (w.key, w.edge, w.rule) == ("learning_rate", "high", "trend")
    assert "keeps rising toward the high end of search.learning_rate" in w.message
    # the suggested next range extends a decade past that edge
    nxt = suggest_next(results, EXPLORED, keep=5)
    assert nxt is not None and nxt["learning_rate"][1] == pytest.approx(1e-4)
    assert nxt["learning_rate"][0] < lrs[-1]
    # rising toward the low end instead: the same rule, the other edge
    lows = [1e-5 / 10 ** (0.89 * k / 11) for k in range(12)]  # the best, 1.3e-6, is 11% up
    (w,) = edge_warnings([trial(i, lr, 0.14 + 0.004 * i) for i, lr in enumerate(lows)], EXPLORED)
    assert (w.key, w.edge, w.rule) == ("learning_rate", "low", "trend")


def test_no_trend_when_beyond_the_best_it_gets_worse_or_the_scores_are_flat():
    lrs = [1e-6 * 10 ** (0.89 * k / 11) for k in range(12)]
    rising = [trial(i, lr, 0.14 + 0.004 * i) for i, lr in enumerate(lrs)]
    # one trial above the best exploded: the optimum is inside
    assert edge_warnings([*rising, trial(12, 9.5e-6, None, status="exploded")], EXPLORED) == []
    # one trial above the best scored clearly lower
    assert edge_warnings([*rising, trial(12, 9.5e-6, 0.15)], EXPLORED) == []
    # flat scores with noise: no rank correlation
    flat = [trial(i, lr, 0.5 + 0.001 * ((i * 7) % 5)) for i, lr in enumerate(lrs)]
    assert [w for w in edge_warnings(flat, EXPLORED) if w.rule == "trend"] == []
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0) and spearman([1, 2], [5, 5]) == 0.0


def test_coarse_search_suggests_the_shipped_fine_search_and_refine_runs_it(tmp_path):
    coarse = ended_event(cli("search", "coarse-search", "--json", "--workers", "2", "--runs-dir", str(tmp_path)))
    fine = load_preset("fine-search").search.ranges
    # the shipped fine stage follows from what coarse-search finds (its best trials: lr 4.5e-3..7.5e-3)
    assert coarse["next_ranges"] == {"learning_rate": list(fine["learning_rate"]), "reg": list(fine["reg"])}
    assert fine["learning_rate"][0] < coarse["best"]["learning_rate"] < fine["learning_rate"][1]
    folder = Path(coarse["path"])
    nxt = load_preset(folder / "next.toml")
    assert nxt.name == "coarse-search-refined"
    assert (nxt.search.ranges["learning_rate"], nxt.search.ranges["reg"]) == (fine["learning_rate"], fine["reg"])
    assert [(s.trials, s.epochs) for s in nxt.search.stages] == [(10, 5)]

    out = cli("search", "--refine", str(folder), "--json", "--workers", "2", "--runs-dir", str(tmp_path))
    refined = ended_event(out)
    started = json.loads(out.stdout.splitlines()[0])
    assert started["preset"] == "coarse-search-refined"
    assert started["ranges"]["learning_rate"] == list(fine["learning_rate"])
    assert refined["best"]["best_val_acc"] > coarse["best"]["best_val_acc"]  # five epochs beat one
    assert refined["next_ranges"]["learning_rate"][1] < fine["learning_rate"][1]  # finer again


def test_presets_and_their_comments_state_the_l2_convention():
    out = cli("presets")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    assert "the loss adds 0.5 * reg * sum(W^2)" in text and "assignment 1 adds reg * sum(W^2)" in text
    shipped = Path(__file__).parent.parent / "presets"
    for path in shipped.glob("*.toml"):
        assert "0.5 * reg * sum(W^2)" in path.read_text(), path  # every preset sets train.reg
