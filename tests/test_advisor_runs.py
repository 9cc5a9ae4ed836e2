"""Each diagnosis on real runs of the bundled data: one run where it must fire (with
the remedy's key and value), one where it must not (a near miss where there is one)."""

from __future__ import annotations

import functools

import pytest

from tui_trainer.config import load_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import Trainer
from tui_trainer.engine.events import Advice
from tui_trainer.lab import advisor as adv
from tui_trainer.lab.advisor import Advisor


@functools.cache
def advice_of(name: str, *overrides: str) -> dict[str, Advice]:
    preset = load_preset(name, list(overrides))
    data = load_dataset(preset.data, source=preset.source)
    out: list = []
    Trainer(preset, data, Advisor(out.append)).run()
    return {e.code: e for e in out if isinstance(e, Advice)}


DEFAULT = ("default", "train.epochs=4")
BATCH_1 = ("default", "train.batch_size=1", "train.learning_rate=1e-5", "train.epochs=1")
XAVIER_SGD = ("default", "model.init=xavier", "train.update=sgd", "train.learning_rate_decay=1.0", "train.epochs=3")

# code: (a run where it fires, what its remedy says, a run where it must not fire)
CASES = {
    "loss_exploding": (("lr-too-high",), "train.learning_rate = 0.01", BATCH_1),
    "initial_loss": (("default", "model.init_std=1e-1", "train.epochs=1"), "try model.init_std = 0.01", DEFAULT),
    "loss_flat": (("lr-too-low", "train.epochs=2"), "try it 10x higher, 1e-05", DEFAULT),
    # not once training has converged and the rate has decayed on schedule (60 epochs: train acc 1.00, lr 0.13x)
    "ratio_low": (("lr-too-low", "train.epochs=3"), "raise it about 100x, to 0.0001", ("default", "train.epochs=60")),
    "ratio_high": (("default", "train.learning_rate=5e-3", "train.epochs=3"), "lower it about 10x, to 0.0005", DEFAULT),
    "overfitting": (("overfit-small", "train.epochs=5"), "train.reg = 0): try 1e-3", ("default", "train.epochs=10")),
    # the near miss: the same net at 1e-4 has the early drop
    "loss_linear": (
        (*XAVIER_SGD, "train.learning_rate=3e-5"),
        "9e-05 to 0.0003",
        (*XAVIER_SGD, "train.learning_rate=1e-4"),
    ),
    "loss_noisy": (BATCH_1, "train.batch_size = 1): try 4", DEFAULT),
    # spiral's 2-100-3 net climbs from val 0.57 at epoch 4 to 1.00: not underfitting; a linear classifier is
    "underfitting": (("spiral", "model.hidden=[]", "train.epochs=10"), "model.hidden = []): try [100]", ("spiral",)),
    "accuracy_without_loss": (("default", "train.learning_rate=1e-6"), "try it 10x higher, 1e-05", DEFAULT),
}


def test_every_code_has_a_real_run_case():
    assert set(CASES) == set(adv.SEVERITY)


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_diagnosis_fires_on_a_real_run_that_shows_it_and_not_on_one_that_does_not(code):
    fires, remedy, quiet = CASES[code]
    found = advice_of(*fires)
    assert code in found, (fires, sorted(found))
    assert remedy in found[code].remedy, found[code].remedy
    assert "-0.0" not in found[code].message + found[code].remedy
    assert code not in advice_of(*quiet), (quiet, advice_of(*quiet)[code])
