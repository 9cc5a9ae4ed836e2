"""The search's pure decisions, in-process and fast: sampling from the table of
searched keys, ranking, the best trial, narrowing, edge warnings, the next
search, the one way values reach a preset, the JSON forms and the store's round
trip (old stores included); and that a searched key is one entry in the table."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest

from tui_trainer.config import loads_preset, to_toml
from tui_trainer.engine.events import to_dict
from tui_trainer.errors import UserError
from tui_trainer.lab.search.pool import TrialPool
from tui_trainer.lab.search.refine import NEXT_PRESET, next_preset, next_ranges_dict
from tui_trainer.lab.search.runner import SearchControl, TrialEnded, TrialStarted, recorded_results, run_search
from tui_trainer.lab.search.space import (
    Trial,
    TrialResult,
    apply_params,
    best_trial,
    edge_warnings,
    narrow,
    range_changes,
    ranges_of,
    rank,
    sample_trial,
    stage_trials,
    suggest_next,
    union,
)
from tui_trainer.lab.search.texts import fmt_next, fmt_range, fmt_values
from tui_trainer.lab.search.trial import TrialSpec, trial_preset
from tui_trainer.records.search_store import SearchStore
from tui_trainer.searched import LOG, SEARCHED, Searched

SMALL = (Path(__file__).parent / "digits-search.toml").read_text()  # hidden searched: [20, 40]


def ranges(**given) -> dict:
    return {name: tuple(given.get(name, ())) for name in SEARCHED}


def result(trial_id="s1-000", lr=1e-3, reg=1e-3, acc=0.5, status="finished", stage=1, index=0, **more):
    return TrialResult(
        trial_id,
        stage,
        index,
        {"learning_rate": lr, "reg": reg, **more},
        status,
        "",
        acc,
        1 if acc is not None else None,
        1,
        10,
        0.1,
    )


# --- sampling ---------------------------------------------------------------------


def test_the_same_seed_samples_the_same_trials_whatever_the_order():
    r = ranges(learning_rate=(1e-6, 1e-1), reg=(1e-5, 1e1), hidden=(20, 50, 100))
    trials = stage_trials(seed=3, stage=1, count=30, epochs=1, ranges=r)
    assert trials == stage_trials(seed=3, stage=1, count=30, epochs=1, ranges=r)
    # trial 17 alone is trial 17 of the whole stage: order of sampling or completion never matters
    assert sample_trial(3, 1, 17, r, 1) == trials[17]
    assert [t.trial_id for t in trials[:2]] == ["s1-000", "s1-001"]
    other_seed = stage_trials(seed=4, stage=1, count=30, epochs=1, ranges=r)
    assert [t.params for t in other_seed] != [t.params for t in trials]
    other_stage = stage_trials(seed=3, stage=2, count=30, epochs=1, ranges=r)
    assert [t.params for t in other_stage] != [t.params for t in trials]


def test_sampling_is_uniform_in_log_space_within_the_ranges():
    r = ranges(learning_rate=(1e-6, 1e-1), reg=(1e-5, 1e1), hidden=(20, 50, 100), batch_size=(32, 64))
    trials = stage_trials(seed=0, stage=1, count=2000, epochs=1, ranges=r)
    logs = [math.log10(t.params["learning_rate"]) for t in trials]
    assert min(logs) >= -6 and max(logs) <= -1
    # log-uniform: each decade holds about a fifth of the samples (a linear draw puts ~90% in the top one)
    per_decade = [sum(lo <= v < lo + 1 for v in logs) / len(logs) for lo in range(-6, -1)]
    assert all(0.15 < share < 0.25 for share in per_decade), per_decade
    assert all(1e-5 <= t.params["reg"] <= 1e1 for t in trials)
    assert {t.params["hidden"] for t in trials} == {20, 50, 100}
    assert {t.params["batch_size"] for t in trials} == {32, 64}


def test_a_trial_has_values_for_the_keys_searched_only():
    (t,) = stage_trials(seed=0, stage=1, count=1, epochs=2, ranges=ranges(learning_rate=(1e-4, 1e-2), reg=(1e-3, 1)))
    assert set(t.params) == {"learning_rate", "reg"} and t.epochs == 2


def test_a_trials_values_stay_when_a_choice_is_searched_or_a_key_is_added(monkeypatch):
    base = ranges(learning_rate=(1e-6, 1e-1), reg=(1e-5, 1e1))
    before = [t.params for t in stage_trials(5, 1, 20, 1, base)]
    with_hidden = [t.params for t in stage_trials(5, 1, 20, 1, base | {"hidden": (20, 40)})]
    assert [{k: p[k] for k in ("learning_rate", "reg")} for p in with_hidden] == before
    monkeypatch.setitem(SEARCHED, "momentum", Searched(LOG, "train.momentum", "mom", (0.5, 0.99)))
    with_momentum = [t.params for t in stage_trials(5, 1, 20, 1, base | {"momentum": (0.5, 0.99)})]
    assert [{k: p[k] for k in ("learning_rate", "reg")} for p in with_momentum] == before
    assert all(0.5 <= p["momentum"] <= 0.99 for p in with_momentum)


# --- ranking and the best ------------------------------------------------------------


def test_ranking_puts_finished_trials_by_val_accuracy_first():
    ranked = rank(
        [
            result("a", acc=0.4),
            result("b", acc=0.9, status="exploded"),
            result("c", acc=0.7),
            result("d", acc=None, status="failed"),
            result("e", acc=0.7, stage=2),
            result("f", acc=0.7, index=3),
        ]
    )
    assert [r.trial_id for r in ranked] == ["e", "c", "f", "a", "b", "d"]


def test_the_best_trial_is_the_first_of_the_ranking():
    results = [result("a", acc=0.4), result("b", acc=0.9, status="exploded"), result("c", acc=0.7)]
    assert best_trial(results) is rank(results)[0] is results[2]  # finished beats exploded at a higher acc
    exploded = result("b", acc=0.9, status="exploded")
    assert best_trial([exploded, result("d", acc=None, status="failed")]) is exploded  # when nothing finished
    # stopped trials did not run their epochs (a resume runs them again): never the best
    assert best_trial([result("s", acc=0.99, status="stopped"), exploded]) is exploded
    assert best_trial([result("d", acc=None, status="failed")]) is None and best_trial([]) is None


# --- narrowing and the region explored ------------------------------------------------


def test_the_next_stage_spans_the_kept_trials_widened_a_little():
    r = ranges(learning_rate=(1e-6, 1e-1), reg=(1e-5, 1e1), hidden=(20, 50, 100))
    kept = [result(lr=1e-3, reg=1e-2, hidden=50), result(lr=1e-2, reg=1e-4, hidden=100)]
    nxt = narrow(r, kept)
    lo, hi = nxt["learning_rate"]
    assert 1e-3 * 10**-0.15 < lo < 1e-3 and 1e-2 < hi < 1e-2 * 10**0.15
    assert nxt["reg"][0] < 1e-4 and nxt["reg"][1] > 1e-2
    assert nxt["hidden"] == (50, 100) and nxt["batch_size"] == ()  # not searched stays not searched
    one = narrow(r, [result(lr=1e-3)])  # one kept trial still leaves a range to sample
    assert one["learning_rate"][0] < 1e-3 < one["learning_rate"][1]
    assert narrow(r, [result(acc=None, status="failed")]) == r


def test_the_region_explored_is_the_widest_over_the_stages():
    explored = union(
        [
            ranges(learning_rate=(1e-6, 1e-1), reg=(1e-5, 1e1), hidden=(20,)),
            ranges(learning_rate=(1e-3, 2e-1), reg=(1e-4, 1e-2), hidden=(50, 20)),
        ]
    )
    assert explored == ranges(learning_rate=(1e-6, 2e-1), reg=(1e-5, 1e1), hidden=(20, 50))


# --- edge warnings -------------------------------------------------------------------


def test_a_best_value_at_the_edge_of_the_searched_range_is_worrying():
    explored = ranges(learning_rate=(1e-6, 2e-1), reg=(1e-5, 1e1))
    assert edge_warnings([result(lr=1e-3, reg=1e-2)], explored) == []
    (w,) = edge_warnings([result(lr=1.5e-1, reg=1e-2)], explored)
    assert (w.key, w.edge, w.rule) == ("learning_rate", "high", "edge")
    assert "worrying" in w.message and "search.learning_rate" in w.message
    (w,) = edge_warnings([result(lr=1e-3, reg=1.2e-5)], explored)
    assert (w.key, w.edge) == ("reg", "low")
    assert "low edge" in w.message and "search.reg" in w.message


def test_the_edge_of_a_range_is_measured_in_log_space():
    explored = ranges(learning_rate=(1e-6, 1e-1), reg=(1e-5, 1e1))

    def edges(lr, **kw):
        return [(w.key, w.edge) for w in edge_warnings([result(lr=lr, reg=1e-2, **kw)], explored)]

    assert edges(8e-2) == [("learning_rate", "high")]
    assert edges(1e-6) == [("learning_rate", "low")]
    assert edges(1e-3) == []  # mid-range
    assert edges(2e-2) == []  # 86% of the way up in log space: not in the outer tenth
    assert edges(8e-2, acc=None, status="failed") == [] and edge_warnings([], explored) == []


def test_a_choice_key_never_warns_of_an_edge():
    explored = ranges(learning_rate=(1e-6, 1e-1), reg=(1e-5, 1e1), hidden=(20, 40))
    assert edge_warnings([result(lr=1e-3, reg=1e-2, hidden=40)], explored) == []


# --- the next, finer search --------------------------------------------------------


def test_the_next_search_spans_the_good_trials_and_keeps_the_choices_they_used():
    explored = ranges(learning_rate=(1e-5, 1e0), reg=(1e-5, 1e1), hidden=(20, 40, 80))
    results = [
        result("a", lr=2e-3, reg=1e-3, acc=0.90, hidden=40),
        result("b", lr=5e-3, reg=1e-2, acc=0.88, hidden=80),
        result("c", lr=1e-1, reg=1e-4, acc=0.50, hidden=20),  # under 90% of the best: says nothing
        result("d", lr=1e-4, reg=1e-4, acc=None, status="exploded", hidden=20),
    ]
    nxt = suggest_next(results, explored, keep=5)
    lo, hi = nxt["learning_rate"]
    assert lo < 2e-3 and 5e-3 < hi < 1e-2 and (lo, hi) == (float(f"{lo:.2g}"), float(f"{hi:.2g}"))
    assert nxt["hidden"] == (40, 80) and nxt["batch_size"] == ()
    # the JSON form (SearchEnded.next_ranges) names the keys searched only
    assert set(next_ranges_dict(nxt)) == {"learning_rate", "reg", "hidden"}
    assert fmt_next(next_ranges_dict(nxt)).endswith(", hidden [40, 80]")
    assert suggest_next([result(acc=None, status="failed")], explored, keep=5) is None


def test_a_next_range_reaches_a_decade_past_an_edge_it_warned_of():
    explored = ranges(learning_rate=(1e-6, 1e-1), reg=(1e-5, 1e1))
    nxt = suggest_next([result(lr=9e-2, reg=1e-2, acc=0.9)], explored, keep=5)
    assert nxt["learning_rate"][1] == pytest.approx(1.0)
    assert set(next_ranges_dict(nxt)) == {"learning_rate", "reg"}  # hidden, batch_size: not searched


def test_the_next_preset_samples_the_ranges_for_longer_and_trains_the_best_so_far():
    preset = loads_preset(SMALL)  # stages 6 x 3, 3 x 6; model.hidden [40]
    best = result("s2-001", lr=0.0123456, reg=3.456789e-4, acc=0.95, stage=2, index=1, hidden=20)
    nxt_ranges = ranges(learning_rate=(0.0081, 0.019), reg=(1e-4, 1e-3), hidden=(20,))
    p = next_preset(preset, nxt_ranges, best, "search-digits-search-x")
    assert p.name == "digits-search-refined" and "best s2-001 (val acc 0.950)" in p.description
    assert ranges_of(p.search) == nxt_ranges
    assert [(s.trials, s.epochs) for s in p.search.stages] == [(4, 30)]  # half of 3, at least 4; 5x the epochs
    # the best trial's values, a log value to 3 digits: `tui-trainer run next.toml` trains it
    assert (p.train.learning_rate, p.train.reg, p.model.hidden) == (0.0123, 0.000346, (20,))
    assert loads_preset(to_toml(p)) == p
    again = next_preset(p, nxt_ranges, None, "search-digits-search-refined-y")  # refining a refined search
    assert again.name == "digits-search-refined" and again.train == p.train


# --- values into a preset, one way ---------------------------------------------------------


def test_a_trials_values_set_the_keys_the_table_names():
    preset = loads_preset(SMALL).replace(**{"model.hidden": [40, 30]})
    params = {"learning_rate": 0.05, "reg": 1e-4, "hidden": 20, "batch_size": 64}
    p = apply_params(preset, params, **{"train.epochs": 3})
    assert (p.train.learning_rate, p.train.reg, p.train.batch_size, p.train.epochs) == (0.05, 1e-4, 64, 3)
    assert p.model.hidden == (20, 20)  # a searched hidden size sizes every hidden layer
    linear = apply_params(preset.replace(**{"model.hidden": []}), {"hidden": 20})
    assert linear.model.hidden == (20,)  # ...and one layer when the preset has none
    assert apply_params(preset, {}) == preset
    trial = Trial("s1-004", 1, 4, params, epochs=7)
    assert trial_preset(preset, trial) == apply_params(preset, params, **{"train.epochs": 7})


def test_ranges_reach_the_search_section_as_the_preset_keys_they_always_were():
    preset = loads_preset(SMALL)
    old_json = {"learning_rate": [0.001, 0.01], "reg": [1e-4, 1e-2]}  # next_ranges in an older state.json
    p = preset.replace(**range_changes(old_json))
    assert ranges_of(p.search) == ranges(learning_rate=(0.001, 0.01), reg=(1e-4, 1e-2))
    # an older next.toml: the same [search] keys, read the same way
    old_next = 'name = "x-refined"\n[search]\nlearning_rate = [0.0029, 0.0055]\nreg = [2.8e-5, 1.9e-4]\nhidden = [20]\n'
    assert ranges_of(loads_preset(old_next).search) == ranges(
        learning_rate=(0.0029, 0.0055), reg=(2.8e-5, 1.9e-4), hidden=(20,)
    )


# --- JSON forms -------------------------------------------------------------------------


def test_a_trials_json_spells_its_values_out_as_it_always_did():
    trial = Trial("s1-002", 1, 2, {"learning_rate": 0.01, "reg": 1e-3}, epochs=3)
    started = to_dict(TrialStarted.of(trial))
    assert started == {
        "event": "trial_started",
        "trial_id": "s1-002",
        "stage": 1,
        "index": 2,
        "learning_rate": 0.01,
        "reg": 1e-3,
        "hidden": None,
        "batch_size": None,
        "epochs": 3,
    }
    r = result("s1-002", lr=0.01, reg=1e-3, acc=0.75, hidden=40)
    ended = to_dict(TrialEnded.from_result(r, resumed=True))
    assert (ended["hidden"], ended["best_val_acc"], ended["resumed"]) == (40, 0.75, True)
    assert TrialResult.from_dict(r.json_fields()) == r
    # an entry of an older tune state.json (dataclasses.asdict of the per-field TrialResult)
    old = {"trial_id": "s1-000", "stage": 1, "index": 0, "learning_rate": 0.01, "reg": 0.001, "hidden": None}
    old |= {"batch_size": None, "status": "finished", "reason": "", "best_val_acc": 0.5, "best_epoch": 1}
    old |= {"epochs": 1, "iterations": 10, "elapsed_s": 0.1, "worker": "h:1"}
    assert TrialResult.from_dict(old).params == {"learning_rate": 0.01, "reg": 0.001}


def test_no_searched_key_shares_a_name_with_a_trials_own_fields():
    own = {"event", "resumed", "kind", *TrialResult.__dataclass_fields__, *Trial.__dataclass_fields__}
    assert not own & set(SEARCHED)


# --- the store ----------------------------------------------------------------------------


def test_the_store_gives_back_what_it_recorded(tmp_path):
    store = SearchStore.create(tmp_path, loads_preset(SMALL))
    a = result("s1-000", lr=0.01, reg=1e-3, acc=0.5)
    b = result("s1-001", lr=0.02, reg=1e-4, acc=None, status="exploded", index=1, hidden=40)
    for r in (b, a):
        store.record(r.json_fields())
    store.save_stage(1, ranges(learning_rate=(1e-4, 1e-1), reg=(1e-5, 1e-1), hidden=(20, 40)))
    store.close()
    again = SearchStore.open(store.path)
    try:
        assert recorded_results(again) == [a, b]  # by stage, then index
        with pytest.raises(sqlite3.IntegrityError):  # a trial is recorded once
            again.record(a.json_fields())
    finally:
        again.close()


OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    trial_id TEXT PRIMARY KEY,
    stage INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    learning_rate REAL NOT NULL,
    reg REAL NOT NULL,
    hidden INTEGER,
    batch_size INTEGER,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    best_val_acc REAL,
    best_epoch INTEGER,
    epochs INTEGER NOT NULL,
    iterations INTEGER NOT NULL,
    elapsed_s REAL NOT NULL,
    worker TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stages (
    stage INTEGER PRIMARY KEY,
    ranges TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""  # search.sqlite as tui-trainer wrote it before the searched values became one mapping (schema 1)


def scored(spec: TrialSpec) -> TrialResult:
    """A trial that trains nothing: val accuracy rises with the learning rate."""
    t = spec.trial
    acc = 0.5 + 0.1 * math.log10(t.params["learning_rate"] * 1e4)
    return TrialResult.of(t, status="finished", reason="", best_val_acc=acc, best_epoch=t.epochs,
                          epochs=t.epochs, iterations=t.epochs, elapsed_s=0.0)  # fmt: skip


def test_a_store_of_the_old_schema_opens_and_resumes(tmp_path):
    preset = loads_preset(SMALL)  # 6 + 3 trials, hidden searched
    folder = tmp_path / "search-digits-search-20250101-120000-abcdef"
    folder.mkdir()
    (folder / "preset.toml").write_text(to_toml(preset))
    con = sqlite3.connect(folder / "search.sqlite")
    con.executescript(OLD_SCHEMA)
    con.execute("PRAGMA user_version = 1")
    first = stage_trials(preset.search.seed, 1, 6, 3, ranges_of(preset.search))[:4]  # killed after 4
    for t in first:
        p = t.params
        con.execute(
            "INSERT INTO trials VALUES (?, 1, ?, ?, ?, ?, NULL, 'finished', '', 0.5, 3, 3, 36, 0.1, 'h:1', 'then')",
            (t.trial_id, t.index, p["learning_rate"], p["reg"], p["hidden"]),
        )
    con.execute("INSERT INTO meta VALUES ('status', 'running')")
    con.commit()
    con.close()

    store = SearchStore.latest(tmp_path, "digits-search")  # what --resume opens
    assert [r.params for r in recorded_results(store)] == [t.params for t in first]
    seen = []
    with TrialPool.threads(2) as pool:
        ended = run_search(store.preset, pool, store, seen.append, SearchControl(), trial_fn=scored)
    store.close()
    assert ended.status == "finished" and ended.trials == 9
    resumed = {e.trial_id for e in seen if isinstance(e, TrialEnded) and e.resumed}
    ran = [e.trial_id for e in seen if isinstance(e, TrialStarted)]
    assert resumed == {t.trial_id for t in first} and not resumed & set(ran) and len(ran) == 5
    con = sqlite3.connect(folder / "search.sqlite")
    try:
        assert con.execute("SELECT count(*), count(hidden) FROM trials").fetchone() == (9, 9)
        assert con.execute("PRAGMA user_version").fetchone()[0] == 1  # still readable by the tui-trainer that made it
    finally:
        con.close()


def test_resuming_with_a_preset_that_samples_other_values_is_refused(tmp_path):
    preset = loads_preset(SMALL)
    store = SearchStore.create(tmp_path, preset)
    (t,) = stage_trials(preset.search.seed, 1, 1, 3, ranges_of(preset.search))
    store.record(scored(TrialSpec(preset, t, None)).json_fields())
    store.close()
    store = SearchStore.open(store.path)
    with TrialPool.threads(1) as pool, pytest.raises(UserError, match="was recorded with learning_rate"):
        run_search(preset.replace(**{"search.seed": 8}), pool, store, lambda e: None, trial_fn=scored)
    store.close()


# --- one more searched key is one table entry ---------------------------------------------


def momentum_trial(spec: TrialSpec) -> TrialResult:
    """Checks the preset a trial trains carries its momentum; scores a momentum near 0.8 best."""
    t = spec.trial
    assert trial_preset(spec.preset, t).train.momentum == t.params["momentum"]
    acc = 0.9 - abs(t.params["momentum"] - 0.8)
    return TrialResult.of(t, status="finished", reason="", best_val_acc=acc, best_epoch=t.epochs,
                          epochs=t.epochs, iterations=t.epochs, elapsed_s=0.0)  # fmt: skip


def test_a_searched_key_added_to_the_table_is_sampled_stored_shown_and_applied(tmp_path, monkeypatch):
    monkeypatch.setitem(SEARCHED, "momentum", Searched(LOG, "train.momentum", "mom"))
    preset = loads_preset(SMALL.replace("keep = 2", "keep = 2\nmomentum = [0.5, 0.95]"))
    assert ranges_of(preset.search)["momentum"] == (0.5, 0.95)
    assert "momentum = [0.5, 0.95]" in to_toml(preset)
    store = SearchStore.create(tmp_path, preset)
    seen = []
    with TrialPool.threads(2) as pool:
        ended = run_search(preset, pool, store, seen.append, SearchControl(), trial_fn=momentum_trial)
    store.close()
    assert ended.status == "finished" and ended.trials == 9
    values = [e.params["momentum"] for e in seen if isinstance(e, TrialEnded)]
    assert len(values) == 9 and all(0.5 <= v <= 0.95 for v in values)
    assert "momentum" in to_dict(seen[-1])["best"] and f"mom {ended.best.params['momentum']:.3g}" in fmt_values(
        ended.best.params
    )
    assert "momentum 0.5..0.95" in fmt_range(seen[0].ranges)
    # stored: a column of its own, read back with the rest
    again = SearchStore.open(store.path)
    assert sorted(r.params["momentum"] for r in recorded_results(again)) == sorted(values)
    # applied: next.toml searches it and trains the best trial's value
    nxt = loads_preset((store.path / NEXT_PRESET).read_text())
    assert nxt.train.momentum == float(f"{ended.best.params['momentum']:.3g}")
    assert "momentum" in ended.next_ranges and ranges_of(nxt.search)["momentum"] == tuple(ended.next_ranges["momentum"])
    # and a resume finds every trial recorded, momentum and all
    seen.clear()
    with TrialPool.threads(2) as pool:
        run_search(preset, pool, again, seen.append, SearchControl(), trial_fn=momentum_trial)
    again.close()
    assert not [e for e in seen if isinstance(e, TrialStarted)]
    assert json.loads(json.dumps(to_dict(seen[-1])))["trials"] == 9
