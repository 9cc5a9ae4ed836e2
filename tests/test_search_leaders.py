"""[search] leader_seeds: the leaders re-run over train seeds, the best chosen by the mean,
and a lead within seed noise said to be one; synthetic trials whose noise is known."""

from __future__ import annotations

import math

from test_search import SMALL

from tui_trainer.config import loads_preset
from tui_trainer.lab.compare import within_seed_noise
from tui_trainer.lab.search.leaders import leader_lines
from tui_trainer.lab.search.pool import TrialPool
from tui_trainer.lab.search.runner import SearchControl, run_search
from tui_trainer.lab.search.space import TrialResult
from tui_trainer.lab.search.trial import TrialSpec
from tui_trainer.records.search_store import SearchStore

NOISE = {0: 0.0, 1: 0.0, 2: 0.0}  # train seed -> what it adds to val acc


def noisy_trial(spec: TrialSpec) -> TrialResult:
    """Val acc rises with log lr a little (0.01 a decade), plus the train seed's noise."""
    t = spec.trial
    acc = 0.5 + 0.01 * math.log10(t.params["learning_rate"]) + NOISE[spec.preset.train.seed]
    outcome = dict(status="finished", reason="", best_val_acc=acc, best_epoch=1, epochs=1, iterations=1, elapsed_s=0)
    return TrialResult.of(t, **outcome)


def search(tmp_path, leader_seeds: int = 0):
    text = SMALL.replace(
        "stages = [{ trials = 6, epochs = 3 }, { trials = 3, epochs = 6 }]", "stages = [{ trials = 8, epochs = 1 }]"
    )
    preset = loads_preset(text).replace(**{"search.leader_seeds": leader_seeds})
    store = SearchStore.create(tmp_path, preset)
    with TrialPool.threads(2) as pool:
        ended = run_search(preset, pool, store, lambda e: None, SearchControl(), trial_fn=noisy_trial)
    store.close()
    return ended


def test_within_seed_noise_is_a_difference_under_twice_its_standard_error():
    assert within_seed_noise([0.90, 0.92, 0.94], [0.91, 0.93, 0.95])
    assert not within_seed_noise([0.90, 0.901, 0.902], [0.95, 0.951, 0.952])
    assert within_seed_noise([0.9], [0.5])  # one run a side: no spread to tell by


def test_off_by_default_the_search_is_as_before(tmp_path):
    ended = search(tmp_path)
    assert ended.leaders == () and ended.best == ended.ranking[0]


def test_leaders_within_seed_noise_are_said_to_be_and_the_best_mean_is_chosen(tmp_path, monkeypatch):
    monkeypatch.setitem(NOISE, 1, 0.05)
    monkeypatch.setitem(NOISE, 2, -0.05)
    ended = search(tmp_path, 3)
    assert [len(leader.accs) for leader in ended.leaders] == [3, 3]  # min(LEADERS, keep = 2)
    assert ended.best == ended.leaders[0].result and ended.leaders[0].result == ended.ranking[0]
    first = ended.leaders[0]
    assert math.isclose(first.accs[1] - first.accs[0], 0.05) and math.isclose(first.accs[2] - first.accs[0], -0.05)
    lines = leader_lines(ended.leaders)
    assert lines[0] == "leaders over 3 train seeds (best val acc, mean ± sample std):"
    assert f"{first.result.trial_id} and {ended.leaders[1].result.trial_id} are within seed noise" in lines[-1]


def test_a_lead_beyond_seed_noise_is_said_to_be_one(tmp_path, monkeypatch):
    monkeypatch.setitem(NOISE, 1, 1e-6)
    monkeypatch.setitem(NOISE, 2, -1e-6)
    ended = search(tmp_path, 3)
    lines = leader_lines(ended.leaders)
    assert lines[-1].endswith(f"leads {ended.leaders[1].result.trial_id} by more than seed noise")


def test_tunes_state_keeps_a_search_stages_leaders_and_its_report_says_them(tmp_path, monkeypatch):
    import json

    from tui_trainer.lab.tune.results import SearchStageResult
    from tui_trainer.records.typed_json import read_as

    monkeypatch.setitem(NOISE, 1, 0.05)
    ended = search(tmp_path, 2)
    result = SearchStageResult(ended.best, ended.ranking, (), ended.next_ranges, ended.trials, ended.leaders)
    text = json.dumps(result.to_json())
    back = read_as(SearchStageResult, json.loads(text), "fine")
    assert back == result and back.leaders[0].accs == ended.leaders[0].accs  # what --resume reads back
    plain = SearchStageResult(ended.best, ended.ranking, (), ended.next_ranges, ended.trials)
    assert "leaders" not in plain.to_json()  # without leader_seeds, state.json as before
