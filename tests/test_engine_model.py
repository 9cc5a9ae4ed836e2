"""The fully-connected net: gradients at several depths, the reg term, init, dtype, buffers."""

import math

import numpy as np
import pytest

import tui_trainer.engine.model as model_module
from tui_trainer.engine.gradcheck import gradient_check, numerical_gradient
from tui_trainer.engine.model import FullyConnectedNet
from tui_trainer.engine.optim import Momentum


def small_problem(n=5, d=6, c=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.integers(0, c, n)


@pytest.mark.parametrize("hidden", [(), (7,), (7, 5, 6)], ids=["0-hidden", "1-hidden", "3-hidden"])
@pytest.mark.parametrize("loss", ["softmax", "svm"])
def test_whole_net_gradients_match_numerical_ones(hidden, loss):
    X, y = small_problem()
    net = FullyConnectedNet(6, hidden, 4, loss=loss, init="he", dtype="float64", seed=1)
    # Biases away from zero so their gradients and the reg-free biases are exercised.
    for k, v in net.params.items():
        if k.startswith("b"):
            v[...] = np.random.default_rng(2).standard_normal(v.shape) * 0.1
    reg = 0.3
    net.loss(X, y, reg=reg)
    analytic = {k: v.copy() for k, v in net.grads.items()}
    for name, param in net.params.items():
        numeric = numerical_gradient(lambda: net.loss(X, y, reg=reg, grads=False), param)
        err = np.linalg.norm(analytic[name] - numeric) / (np.linalg.norm(analytic[name]) + np.linalg.norm(numeric))
        assert err < 1e-7, f"{name}: relative error {err:.2e}"


@pytest.mark.parametrize("hidden", [(), (8,), (8, 8, 8)], ids=["0-hidden", "1-hidden", "3-hidden"])
@pytest.mark.parametrize("loss", ["softmax", "svm"])
def test_gradient_check_passes_for_a_correct_net(hidden, loss):
    X, y = small_problem(n=5, d=10, c=3)
    net = FullyConnectedNet(10, hidden, 3, loss=loss, dtype="float64")
    report = gradient_check(net, X, y, reg=0.1, entries_per_param=40)
    assert set(report.errors) == set(net.params)
    assert max(report.errors.values()) < 1e-7
    assert report.checked > 0


def test_gradient_check_catches_a_wrong_backward(monkeypatch):
    X, y = small_problem(n=5, d=10, c=3)
    net = FullyConnectedNet(10, (8,), 3, dtype="float64")

    def ungated(dout, cache, out=None):  # forgets to zero the gradient where the unit was off
        return dout

    monkeypatch.setattr(model_module, "relu_backward", ungated)
    report = gradient_check(net, X, y, reg=0.1)
    assert report.errors["W1"] > 1e-3 and report.errors["b1"] > 1e-3
    assert report.errors["W2"] < 1e-7  # the layer above the ReLU is untouched


def test_loss_adds_half_reg_times_squared_weights_but_not_biases():
    X, y = small_problem()
    net = FullyConnectedNet(6, (5,), 4, init="he", dtype="float64")
    net.params["b1"][...] = 3.0  # biases must not count
    base = net.loss(X, y, reg=0.0, grads=False)
    squares = sum(np.sum(net.params[k] ** 2) for k in ("W1", "W2"))
    assert net.loss(X, y, reg=2.0, grads=False) == pytest.approx(base + 0.5 * 2.0 * squares)


def test_loss_at_small_init_is_ln_c():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 30)).astype(np.float32)
    y = rng.integers(0, 10, 200)
    net = FullyConnectedNet(30, (20,), 10, init_std=1e-4)
    assert net.loss(X, y, grads=False) == pytest.approx(math.log(10), abs=1e-3)
    svm = FullyConnectedNet(30, (20,), 10, loss="svm", init_std=1e-4)
    assert svm.loss(X, y, grads=False) == pytest.approx(9.0, abs=1e-2)


@pytest.mark.parametrize("init,std", [("gaussian", 0.02), ("xavier", math.sqrt(1 / 400)), ("he", math.sqrt(2 / 400))])
def test_init_scales_weights_and_zeroes_biases(init, std):
    net = FullyConnectedNet(400, (300,), 10, init=init, init_std=0.02, seed=3)
    assert float(net.params["W1"].std()) == pytest.approx(std, rel=0.02)
    assert not net.params["b1"].any() and not net.params["b2"].any()


def test_init_is_seeded():
    a, b, c = (FullyConnectedNet(20, (10,), 3, seed=s) for s in (5, 5, 6))
    np.testing.assert_array_equal(a.params["W1"], b.params["W1"])
    assert not np.array_equal(a.params["W1"], c.params["W1"])


def test_float32_by_default():
    X, y = small_problem()
    net = FullyConnectedNet(6, (5, 5), 4)
    net.loss(X.astype(np.float32), y, reg=1e-3)
    for name in net.params:
        assert net.params[name].dtype == np.float32, name
        assert net.grads[name].dtype == np.float32, name
    assert net.scores(X.astype(np.float32)).dtype == np.float32


def test_first_layer_computes_no_input_gradient(monkeypatch):
    calls = []
    real = model_module.affine_backward

    def spy(dout, cache, dx=None, dw=None, db=None, need_dx=True):
        calls.append((cache[1].shape, need_dx))
        return real(dout, cache, dx=dx, dw=dw, db=db, need_dx=need_dx)

    monkeypatch.setattr(model_module, "affine_backward", spy)
    X, y = small_problem(d=6)
    FullyConnectedNet(6, (5, 3), 4).loss(X.astype(np.float32), y)
    assert calls == [((3, 4), True), ((5, 3), True), ((6, 5), False)]


def test_buffers_params_and_grads_are_reused_across_steps():
    rng = np.random.default_rng(0)
    net = FullyConnectedNet(12, (9, 7), 5, init="he")
    opt = Momentum(1e-2)
    params = {k: id(v) for k, v in net.params.items()}
    grads = {k: id(v) for k, v in net.grads.items()}
    seen = set()
    for _ in range(4):
        X = rng.standard_normal((8, 12)).astype(np.float32)
        net.loss(X, rng.integers(0, 5, 8), reg=1e-3)
        opt.step(net.params, net.grads)
        buf = net._buffers[8]
        seen.add(tuple(id(a) for group in buf.values() for a in group))
        net.accuracy(rng.standard_normal((30, 12)).astype(np.float32), rng.integers(0, 5, 30))
    assert len(seen) == 1  # the same activation, gradient and mask arrays every step
    assert {k: id(v) for k, v in net.params.items()} == params  # updated in place
    assert {k: id(v) for k, v in net.grads.items()} == grads


def test_scores_in_chunks_equal_one_pass():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((25, 6)).astype(np.float32)
    net = FullyConnectedNet(6, (4,), 3, init="he")
    one = net.scores(X, chunk=100)
    np.testing.assert_allclose(net.scores(X, chunk=7), one, rtol=1e-6)
    np.testing.assert_allclose(one, np.maximum(X @ net.params["W1"], 0) @ net.params["W2"], rtol=1e-5, atol=1e-6)
    assert net.predict(X).shape == (25,)
