"""Each update rule against steps worked out by hand from the CS231n formulas.

w = [1.0, -2.0], learning rate 0.1; first gradient [0.5, 0.25], second [-0.5, 1.0].
The expected numbers below are the formulas evaluated by hand, not the code's output.
"""

import numpy as np
import pytest

from tui_trainer.engine.optim import make_optimizer

W0 = [1.0, -2.0]
G1 = [0.5, 0.25]
G2 = [-0.5, 1.0]
LR = 0.1


def two_steps(rule, dtype=np.float64):
    opt = make_optimizer(rule, LR)
    w = np.array(W0, dtype)
    params = {"W1": w}
    opt.step(params, {"W1": np.array(G1, dtype)})
    after_one = w.copy()
    opt.step(params, {"W1": np.array(G2, dtype)})
    assert params["W1"] is w  # in place
    return opt, after_one, w


def test_sgd():
    # w -= lr * dw
    _, one, two = two_steps("sgd")
    np.testing.assert_allclose(one, [1.0 - 0.05, -2.0 - 0.025])
    np.testing.assert_allclose(two, [0.95 + 0.05, -2.025 - 0.1])


def test_momentum():
    # v = 0.9 v - lr dw; w += v
    # step 1: v = [-0.05, -0.025];                 w = [0.95, -2.025]
    # step 2: v = [-0.045 + 0.05, -0.0225 - 0.1] = [0.005, -0.1225]; w = [0.955, -2.1475]
    _, one, two = two_steps("momentum")
    np.testing.assert_allclose(one, [0.95, -2.025])
    np.testing.assert_allclose(two, [0.955, -2.1475])


def test_nesterov():
    # v_prev = v; v = 0.9 v - lr dw; w += -0.9 v_prev + 1.9 v
    # step 1: v_prev = 0, v = [-0.05, -0.025]; w += 1.9 v = [-0.095, -0.0475] -> [0.905, -2.0475]
    # step 2: v_prev = [-0.05, -0.025], v = [0.005, -0.1225];
    #         w += [0.045 + 0.0095, 0.0225 - 0.23275] = [0.0545, -0.21025] -> [0.9595, -2.25775]
    _, one, two = two_steps("nesterov")
    np.testing.assert_allclose(one, [0.905, -2.0475])
    np.testing.assert_allclose(two, [0.9595, -2.25775])


def test_rmsprop():
    # cache = 0.99 cache + 0.01 dw^2; w -= lr dw / (sqrt(cache) + 1e-8)
    # step 1: cache = [0.0025, 0.000625], sqrt = [0.05, 0.025]
    # step 2: cache = [0.002475 + 0.0025, 0.00061875 + 0.01] = [0.004975, 0.01061875]
    _, one, two = two_steps("rmsprop")
    w1 = [1.0 - 0.1 * 0.5 / (0.05 + 1e-8), -2.0 - 0.1 * 0.25 / (0.025 + 1e-8)]
    np.testing.assert_allclose(one, w1)
    w2 = [w1[0] + 0.1 * 0.5 / (0.004975**0.5 + 1e-8), w1[1] - 0.1 * 1.0 / (0.01061875**0.5 + 1e-8)]
    np.testing.assert_allclose(two, w2)


def test_adam():
    # m = 0.9 m + 0.1 dw; v = 0.999 v + 0.001 dw^2
    # w -= lr (m / (1 - 0.9^t)) / (sqrt(v / (1 - 0.999^t)) + 1e-8)
    # step 1: m = [0.05, 0.025], v = [0.00025, 0.0000625]; m_hat = [0.5, 0.25], v_hat = [0.25, 0.0625]
    # step 2: m = [0.045 - 0.05, 0.0225 + 0.1] = [-0.005, 0.1225]
    #         v = [0.00024975 + 0.00025, 0.0000624375 + 0.001] = [0.00049975, 0.0010624375]
    #         1 - 0.9^2 = 0.19, 1 - 0.999^2 = 0.001999
    opt, one, two = two_steps("adam")
    w1 = [1.0 - 0.1 * 0.5 / (0.5 + 1e-8), -2.0 - 0.1 * 0.25 / (0.25 + 1e-8)]
    np.testing.assert_allclose(one, w1)
    w2 = [
        w1[0] - 0.1 * (-0.005 / 0.19) / ((0.00049975 / 0.001999) ** 0.5 + 1e-8),
        w1[1] - 0.1 * (0.1225 / 0.19) / ((0.0010624375 / 0.001999) ** 0.5 + 1e-8),
    ]
    np.testing.assert_allclose(two, w2)
    assert opt.t == 2


@pytest.mark.parametrize("rule", ["sgd", "momentum", "nesterov", "rmsprop", "adam"])
def test_rules_keep_float32_state_per_parameter_and_reuse_it(rule):
    opt = make_optimizer(rule, 1e-2)
    params = {"W1": np.ones((3, 2), np.float32), "b1": np.zeros(2, np.float32)}
    grads = {k: np.full_like(v, 0.5) for k, v in params.items()}
    opt.step(params, {k: g.copy() for k, g in grads.items()})
    state_ids = {k: {n: id(a) for n, a in s.items()} for k, s in opt.state.items()}
    opt.step(params, {k: g.copy() for k, g in grads.items()})
    assert {k: {n: id(a) for n, a in s.items()} for k, s in opt.state.items()} == state_ids
    for k, v in params.items():
        assert v.dtype == np.float32
        assert np.all(v < (1.0 if k == "W1" else 0.0))  # moved against the positive gradient
    for s in opt.state.values():
        assert all(a.dtype == np.float32 for a in s.values())


def test_learning_rate_is_read_at_each_step():
    opt = make_optimizer("sgd", 0.1)
    w = np.array([1.0])
    opt.step({"W1": w}, {"W1": np.array([1.0])})
    opt.learning_rate *= 0.5
    opt.step({"W1": w}, {"W1": np.array([1.0])})
    np.testing.assert_allclose(w, [1.0 - 0.1 - 0.05])


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="adagrad"):
        make_optimizer("adagrad", 1e-3)


@pytest.mark.parametrize("rule", ["sgd", "momentum", "nesterov", "rmsprop", "adam"])
def test_each_rule_keeps_the_update_it_applied_for_the_ratio(rule):
    # The update/weight ratio reads opt.applied instead of a copy of the weights
    # taken before the step: it must be exactly what the step added (float64 here).
    opt = make_optimizer(rule, LR)
    w = np.array(W0, np.float64)
    for g in (G1, G2):
        before = w.copy()
        opt.step({"W1": w}, {"W1": np.array(g, np.float64)})
        np.testing.assert_allclose(opt.applied["W1"], w - before, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("rule", ["sgd", "momentum", "nesterov", "rmsprop", "adam"])
def test_reg_added_by_the_update_gives_the_same_steps_as_reg_in_the_gradient(rule):
    # The trainer leaves reg * W out of the model's gradients and lets the rule add
    # it block by block (one pass over memory instead of two); the weights must come
    # out the same to the bit, over blocks (W1 has more elements than one block).
    from tui_trainer.engine.model import FullyConnectedNet
    from tui_trainer.engine.optim import BLOCK

    rng = np.random.default_rng(3)
    X = rng.standard_normal((32, 800)).astype(np.float32)
    y = rng.integers(0, 10, 32)
    nets = [FullyConnectedNet(800, (100,), 10, init="he", seed=1) for _ in range(2)]
    assert nets[0].params["W1"].size > BLOCK
    opts = [make_optimizer(rule, 1e-2) for _ in range(2)]
    for _ in range(3):
        nets[0].loss(X, y, reg=0.1)
        opts[0].step(nets[0].params, nets[0].grads)
        nets[1].loss(X, y, reg=0.1, reg_grads=False)
        opts[1].step(nets[1].params, nets[1].grads, reg=0.1, decayed=nets[1].weight_names)
    for k in nets[0].params:
        np.testing.assert_array_equal(nets[0].params[k], nets[1].params[k])


@pytest.mark.parametrize("rule", ["momentum", "adam"])
def test_a_step_shared_between_threads_gives_the_same_weights(rule):
    # Past PARALLEL_MIN elements a step's blocks are shared out between threads
    # (the trainer gives the rule as many as the BLAS has); blocks are independent,
    # so the weights must be the same to the bit as one thread's.
    from tui_trainer.engine.optim import PARALLEL_MIN

    rng = np.random.default_rng(5)
    shapes = {"W1": (1200, 1000), "b1": (1000,), "W2": (1000, 10), "b2": (10,)}
    assert sum(int(np.prod(s)) for s in shapes.values()) >= PARALLEL_MIN
    start = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    results = []
    for threads in (1, 3):
        opt = make_optimizer(rule, 1e-2)
        opt.threads = threads
        params = {k: v.copy() for k, v in start.items()}
        for i in range(3):
            grads = {k: np.random.default_rng(i).standard_normal(s).astype(np.float32) for k, s in shapes.items()}
            opt.step(params, grads, reg=1e-3, decayed=("W1", "W2"))
        assert (opt._pool is not None) == (threads > 1)
        opt.close()
        results.append(params)
    for k in shapes:
        np.testing.assert_array_equal(results[0][k], results[1][k])
