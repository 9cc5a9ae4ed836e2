"""The rules more than one part reads, each with one home: the moving average (the
explosion rule, lr-find, the loss curves) and the expected loss at init with its
tolerance (the sanity check and the advisor), in engine/rules.py; the batch a run
takes (the trainer, its memory estimate, the workbench's batch key), in
engine/trainer.py."""

from __future__ import annotations

import dataclasses
import math

import pytest

from tui_trainer.config import load_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import Trainer
from tui_trainer.engine.events import Advice
from tui_trainer.engine.rules import (
    INITIAL_LOSS_TOL,
    ExplosionWatch,
    MovingAverage,
    expected_initial_loss,
    initial_loss_is_off,
)
from tui_trainer.engine.trainer import effective_batch_size, iterations_per_epoch
from tui_trainer.lab.advisor import Advisor
from tui_trainer.lab.checks import check_initial_loss
from tui_trainer.lab.lr_find import smooth


def test_the_moving_average_is_debiased_and_is_the_one_lr_find_and_the_explosion_rule_use():
    avg = MovingAverage(0.98)
    assert avg.update(5.0) == 5.0  # not pulled towards the 0 it starts from
    values = [2.0, 1.0, 4.0, 3.0]
    beta, ema, by_hand = 0.9, 0.0, []
    for t, x in enumerate(values, 1):
        ema = beta * ema + (1 - beta) * x
        by_hand.append(ema / (1 - beta**t))
    assert smooth(values, beta) == pytest.approx(by_hand)
    watch = ExplosionWatch(initial_loss=1.0, factor=3.0, window=10)
    for x in values:
        watch.update(x)
    assert watch.smoothed == pytest.approx(smooth(values, 0.9)[-1])


def test_the_expected_initial_loss_and_its_one_tolerance():
    assert expected_initial_loss("softmax", 10) == (math.log(10), "ln(10) = 2.303")
    assert expected_initial_loss("svm", 10) == (9.0, "C - 1 = 9")
    assert INITIAL_LOSS_TOL == 0.25
    assert not initial_loss_is_off(9.0 * 1.24, 9.0) and initial_loss_is_off(9.0 * 1.26, 9.0)
    assert initial_loss_is_off(math.inf, 2.3) and initial_loss_is_off(math.nan, 2.3)
    assert not initial_loss_is_off(0.3, 0.0)  # one class: nothing to judge


def test_the_check_and_the_advisor_agree_on_a_he_init():
    """They once disagreed: the check allowed 0.1 either way, the advisor a quarter.
    He init on spiral starts 12% above ln(3) (0.135): now neither complains."""
    preset = load_preset("spiral", ['model.init="he"', "train.epochs=1"])
    data = load_dataset(preset.data)
    check = check_initial_loss(preset, data)
    assert check.passed and check.expected == "ln(3) = 1.099 ± 25%"
    seen: list = []
    Trainer(preset, data, Advisor(seen.append)).run()
    assert not [e for e in seen if isinstance(e, Advice) and e.code == "initial_loss"]


def test_the_batch_a_run_takes():
    train = load_preset("digits-fast").train
    assert effective_batch_size(dataclasses.replace(train, batch_size=50), 1000) == 50
    assert effective_batch_size(dataclasses.replace(train, batch_size=5000), 1000) == 1000
    assert effective_batch_size(dataclasses.replace(train, batch_size=50, sample_batches=False), 1000) == 1000
    # as many whole mini-batches as fit (lr-find's sweep counts its epochs by this too)
    assert iterations_per_epoch(dataclasses.replace(train, batch_size=300), 1000) == 3
    assert iterations_per_epoch(dataclasses.replace(train, batch_size=5000), 1000) == 1
    assert iterations_per_epoch(dataclasses.replace(train, batch_size=50, sample_batches=False), 1000) == 1


def test_a_searched_hidden_size_fills_every_hidden_layer_and_gives_a_linear_classifier_one():
    from tui_trainer.lab.search.space import Trial
    from tui_trainer.lab.search.trial import trial_preset

    two_layers = load_preset("digits-fast", ["model.hidden=[50, 20]"])
    linear = load_preset("digits-fast", ["model.hidden=[]"])
    trial = Trial("t1", 1, 0, {"learning_rate": 1e-3, "reg": 1e-4, "hidden": 64}, 1)
    assert trial_preset(two_layers, trial).model.hidden == (64, 64)
    assert trial_preset(linear, trial).model.hidden == (64,)
