"""Each diagnosis on real runs: one run where it must fire (with the remedy's key and
value), one where it must not (a near miss where there is one: the harder cases of
issue 22), on the bundled data and on generated sets (tests/gensets.py: random
labels, label noise, a 95/5 imbalance, features on a 1e4 scale or on scales decades
apart, circles, moons), each small enough to train in well under a second."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import gensets as g
import pytest

from tui_trainer.config import load_preset
from tui_trainer.datasets import load_dataset
from tui_trainer.engine import Trainer
from tui_trainer.engine.events import Advice
from tui_trainer.lab import advisor as adv
from tui_trainer.lab.advisor import Advisor
from tui_trainer.lab.evidence import fit_words
from tui_trainer.lab.history import History

STD = 'data.preprocess=["mean", "std"]'


@functools.cache
def generated() -> dict[str, tuple[Path, int, int]]:
    """The generated sets as npz files (once per session): name -> (path, num_train, num_val)."""
    folder = Path(tempfile.mkdtemp(prefix="tui-trainer-gensets-"))
    sets = {
        "random": (g.random_labels(*g.blobs(600, 20, 4)), 400, 200),
        "imbalance": (g.imbalanced(1500), 1000, 500),
        "noise": (g.label_noise(*g.blobs(1500, 10, 3, spread=0.7), 0.3), 1000, 500),
        "ceiling": (g.label_noise(*g.blobs(1500, 10, 3, spread=0.5), 0.35), 1125, 375),
        "scale": (g.scaled(*g.blobs(600, 20, 4, spread=1.5), 1e4, 1e4), 400, 200),
        "unequal": (g.scaled(*g.blobs(600, 20, 4, spread=1.5), 1e-1, 1e3), 400, 200),
        "blobs": (g.blobs(600, 20, 4, spread=1.5), 400, 200),
        "circles": (g.circles(900), 600, 300),
        "moons": (g.moons(900), 600, 300),
    }
    return {name: (g.write(folder, name, *xy), n_train, n_val) for name, (xy, n_train, n_val) in sets.items()}


@functools.cache
def events_of(name: str, *overrides: str) -> tuple:
    """The events of one run, advice included: a shipped preset, or `@set` for a generated set
    on the default preset."""
    if name.startswith("@"):
        path, n_train, n_val = generated()[name[1:]]
        preset = g.npz_preset(path, n_train, n_val, *overrides)
    else:
        preset = load_preset(name, list(overrides))
    data = load_dataset(preset.data, source=preset.source)
    out: list = []
    Trainer(preset, data, Advisor(out.append)).run()
    return tuple(out)


def advice_of(name: str, *overrides: str) -> dict[str, Advice]:
    return {e.code: e for e in events_of(name, *overrides) if isinstance(e, Advice)}


DEFAULT = ("default", "train.epochs=4")
BATCH_1 = ("default", "train.batch_size=1", "train.learning_rate=1e-5", "train.epochs=1")
XAVIER_SGD = ("default", "model.init=xavier", "train.update=sgd", "train.learning_rate_decay=1.0", "train.epochs=3")
RANDOM = ("@random", STD, "model.hidden=[200]", "model.init=he", "train.batch_size=50", "train.learning_rate=0.05")
IMBALANCE = ("@imbalance", STD, "train.batch_size=20", "train.learning_rate=0.01", "train.epochs=4")
# the best rate of the label-noise set at the lecture's init: the loss sits on its plateau for 113 iterations
NOISE_PLATEAU = ("@noise", STD, "train.batch_size=50", "train.learning_rate=0.03", "train.epochs=3")
CIRCLES = ("@circles", STD, "model.init=xavier", "train.batch_size=50")
# a small net on circles, full batch (one step an epoch), slow but learning: val 0.99 by epoch 300
FULL_BATCH = (*CIRCLES, "model.hidden=[10]", "train.sample_batches=false", "train.learning_rate=0.02")

# code: (a run where it fires, what its remedy says, a run where it must not fire)
CASES = {
    "loss_exploding": (("lr-too-high",), "train.learning_rate = 0.1): lower it, by 10x", BATCH_1),
    # features on a 1e4 scale: the scores grow with the inputs, not the init; he on unit-scale inputs is fine
    "initial_loss": (
        ("@scale", "model.init_std=1e-2", "train.epochs=1"),
        "data.preprocess = ['mean', 'std']",
        ("@blobs", STD, "model.init=he", "train.epochs=1"),
    ),
    # Adam at 0.01 on the default: the loss rises in its first epoch; at 1e-3 it falls
    "loss_rising": (
        ("default", "train.update=adam", "train.learning_rate=0.01", "train.epochs=2"),
        "lower it, by 10x to start with (to 0.001)",
        ("default", "train.update=adam", "train.epochs=2"),
    ),
    # the near miss: the default at 3e-4, whose small init sits flat for its first 37 iterations, where
    # "raise the rate 10x" was once said at the first epoch's end
    "loss_flat": (
        ("lr-too-low", "train.epochs=2"),
        "raise it about 100x, to 0.0001",
        ("default", "train.learning_rate=3e-4", "train.epochs=3"),
    ),
    # not once training has converged and the rate has decayed on schedule (60 epochs: train acc 1.00, lr 0.13x)
    "ratio_low": (("lr-too-low", "train.epochs=3"), "raise it about 100x, to 0.0001", ("default", "train.epochs=60")),
    "ratio_high": (
        ("default", "train.learning_rate=5e-3", "train.epochs=3"),
        "lower it, by 10x to start with (to 0.0005)",
        DEFAULT,
    ),
    # the near miss: a net that learns nothing that carries over is not overfitting (val at chance)
    "overfitting": (
        ("default", "data.num_train=200", "train.reg=0", "train.batch_size=50", "train.epochs=15"),
        "train.reg = 0): try 1e-3",
        (*RANDOM, "train.epochs=10"),
    ),
    "overfit_small": (("overfit-small", "train.epochs=60"), "Nothing to fix", DEFAULT),
    # the near miss: on a plateau every score is near zero and one class wins every answer: not yet
    "one_class": (IMBALANCE, "Judge this run by its loss", NOISE_PLATEAU),
    "val_at_chance": ((*RANDOM, "train.epochs=10"), "check the labels and the data", ("overfit-small",)),
    # the near miss: the same net at 1e-4 has the early drop
    "loss_linear": (
        (*XAVIER_SGD, "train.learning_rate=3e-5"),
        "9e-05 to 0.0003",
        (*XAVIER_SGD, "train.learning_rate=1e-4"),
    ),
    # the near miss: a net that answers the majority class; its noise is how many minority examples a batch holds
    "loss_noisy": (BATCH_1, "train.batch_size = 1): try 4", IMBALANCE),
    # a linear classifier on circles; the near miss: full batch, one step an epoch, still learning at epoch 40
    "underfitting": (
        (*CIRCLES, "model.hidden=[]", "train.learning_rate=0.1", "train.epochs=12"),
        "model.hidden = []): try [100]",
        (*FULL_BATCH, "train.learning_rate_decay=1.0", "train.epochs=150"),
    ),
    # the near miss: train accuracy at the majority's share is chance, not "accuracy without loss"
    "accuracy_without_loss": (
        ("default", "train.learning_rate=1e-6"),
        "raise it about 10x, to 1e-05",
        ("@imbalance", STD, "train.reg=1.0", "train.epochs=5"),
    ),
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


def test_no_run_is_told_to_raise_and_lower_the_rate():
    """Every run above: the remedies agree on the rate's direction."""
    for fires, _, quiet in CASES.values():
        for run in (fires, quiet):
            remedies = " ".join(a.remedy for a in advice_of(*run).values())
            assert not ("too low" in remedies and "too high" in remedies), (run, remedies)


def test_a_flat_loss_names_the_inputs_scale_when_features_are_decades_apart():
    found = advice_of("@unequal", "train.learning_rate=1e-4", "train.batch_size=50", "train.epochs=10")
    assert "data.preprocess = ['mean', 'std']" in found["loss_flat"].remedy
    assert "train.learning_rate" not in found["loss_flat"].remedy  # one cause named


def test_a_flat_loss_past_the_plateau_names_the_small_init_not_the_rate():
    found = advice_of(*NOISE_PLATEAU[:-1], "train.learning_rate=0.01", "train.epochs=10")
    assert 'model.init = "he"' in found["loss_flat"].remedy and "train.learning_rate" not in found["loss_flat"].remedy
    assert "one_class" not in found  # the plateau answers one class, but the loss never fell


def test_a_high_ratio_on_weights_held_at_zero_names_the_regularization():
    found = advice_of("@imbalance", STD, "train.reg=1.0", "train.learning_rate=0.1")
    assert found["ratio_high"].remedy.startswith("Not the learning rate")
    assert "train.reg = 0.1" in found["ratio_high"].remedy
    assert "the majority" in found["one_class"].message and "train.reg = 1): try 0.1" in found["one_class"].remedy


def test_underfitting_is_hedged_where_the_labels_cap_accuracy():
    # 35% of the labels replaced: val stops near 0.65, the ceiling, whatever the net
    found = advice_of(
        "@ceiling", STD, "model.init=he", "train.learning_rate=0.01", "train.batch_size=100", "train.epochs=25"
    )
    remedy = found["underfitting"].remedy
    assert "try [100]" in remedy and "If a bigger net does not raise train accuracy either" in remedy


def test_tunes_report_reads_a_final_run_against_chance_as_the_advisor_does():
    def words(*run: str) -> str:
        return fit_words(History.from_events(events_of(*run)))

    assert "sits at chance (25%: 1/4 classes)" in words(*RANDOM, "train.epochs=10")  # not "more capacity"
    assert "predicts one class only" in words(*IMBALANCE)
    assert "a bigger model may use more capacity, unless the data cap accuracy" in words(*DEFAULT)
