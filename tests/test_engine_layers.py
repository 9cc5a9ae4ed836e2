"""Each layer's backward against centred numerical gradients (float64), and known values."""

import math

import numpy as np
import pytest

from tui_trainer.engine.gradcheck import numerical_gradient, numerical_gradient_array, rel_error
from tui_trainer.engine.layers import (
    affine_backward,
    affine_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
    svm_loss,
)


@pytest.fixture
def rng():
    return np.random.default_rng(231)


def test_affine_backward_matches_numerical_gradients(rng):
    x, w, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((4, 3))
    out, cache = affine_forward(x, w, b)
    np.testing.assert_allclose(out, x @ w + b)
    dx, dw, db = affine_backward(dout, cache)

    assert rel_error(dx, numerical_gradient_array(lambda v: affine_forward(v, w, b)[0], x, dout)) < 1e-8
    assert rel_error(dw, numerical_gradient_array(lambda v: affine_forward(x, v, b)[0], w, dout)) < 1e-8
    assert rel_error(db, numerical_gradient_array(lambda v: affine_forward(x, w, v)[0], b, dout)) < 1e-8


def test_affine_backward_for_the_first_layer_skips_dx_and_fills_the_given_buffers(rng):
    x, w, b = rng.standard_normal((6, 4)), rng.standard_normal((4, 2)), np.zeros(2)
    dout = rng.standard_normal((6, 2))
    out_buf, dw_buf, db_buf = np.empty((6, 2)), np.empty((4, 2)), np.empty(2)
    out, cache = affine_forward(x, w, b, out=out_buf)
    dx, dw, db = affine_backward(dout, cache, dw=dw_buf, db=db_buf, need_dx=False)
    assert dx is None
    assert out is out_buf and dw is dw_buf and db is db_buf
    np.testing.assert_allclose(dw, x.T @ dout)
    np.testing.assert_allclose(db, dout.sum(axis=0))


def test_relu_backward_matches_numerical_gradient(rng):
    # Keep inputs away from the kink at 0, where the numerical gradient is undefined.
    x = rng.standard_normal((5, 7))
    x[np.abs(x) < 1e-3] = 0.5
    dout = rng.standard_normal((5, 7))
    out, cache = relu_forward(x)
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    dx = relu_backward(dout, cache)
    assert rel_error(dx, numerical_gradient_array(lambda v: relu_forward(v)[0], x, dout)) < 1e-8


def test_relu_in_place_gives_the_same_gradient_as_out_of_place(rng):
    x = rng.standard_normal((3, 8))
    dout = rng.standard_normal((3, 8))
    h, mask_buf = x.copy(), np.empty(x.shape, bool)
    out, mask = relu_forward(h, out=h, mask=mask_buf)
    assert out is h and mask is mask_buf
    np.testing.assert_array_equal(h, np.maximum(x, 0))
    d = dout.copy()
    dx = relu_backward(d, mask, out=d)
    assert dx is d
    np.testing.assert_array_equal(dx, dout * (x > 0))


@pytest.mark.parametrize("loss_fn", [softmax_loss, svm_loss], ids=["softmax", "svm"])
def test_loss_gradient_matches_numerical_gradient(rng, loss_fn):
    n, c = 6, 4
    scores = rng.standard_normal((n, c))
    y = rng.integers(0, c, n)
    loss, dscores = loss_fn(scores.copy(), y)
    numeric = numerical_gradient(lambda: loss_fn(scores.copy(), y)[0], scores)
    assert rel_error(dscores, numeric) < 1e-7
    assert loss == pytest.approx(loss_fn(scores.copy(), y)[0])


def test_softmax_loss_on_the_lecture_example():
    # CS231n: scores cat 3.2, car 5.1, frog -1.7 for a cat image -> P(cat) 0.13, loss 2.04.
    loss, dscores = softmax_loss(np.array([[3.2, 5.1, -1.7]]), np.array([0]))
    p = np.exp([3.2, 5.1, -1.7]) / np.exp([3.2, 5.1, -1.7]).sum()
    assert loss == pytest.approx(-math.log(p[0]))
    assert loss == pytest.approx(2.04, abs=0.005)
    np.testing.assert_allclose(dscores, [[p[0] - 1, p[1], p[2]]])


def test_softmax_loss_is_ln_c_for_zero_scores_and_finite_for_huge_ones():
    y = np.array([0, 1, 2, 3, 4])
    loss, _ = softmax_loss(np.zeros((5, 10)), y)
    assert loss == pytest.approx(math.log(10))
    scores = np.array([[1000.0, -1000.0, 0.0]] * 2)
    loss, dscores = softmax_loss(scores, np.array([0, 1]))
    assert math.isfinite(loss) and np.all(np.isfinite(dscores))
    assert loss == pytest.approx((0.0 + 2000.0) / 2)  # the second example's correct class is 2000 behind


def test_a_saturated_softmax_hands_no_subnormal_gradient_upstream():
    # He-initialised scores on raw pixels saturate the softmax: unlikely classes' probabilities
    # underflow, and products with subnormal floats run many times slower in every matmul
    # upstream. The gradient drops what a float32 weight could never register, and nothing else.
    from tui_trainer.engine.model import FullyConnectedNet

    rng = np.random.default_rng(0)
    X = (rng.integers(0, 256, (64, 3072)) - 127.5).astype(np.float32)
    y = rng.integers(0, 10, 64)
    net = FullyConnectedNet(3072, (100,), 10, init="he", seed=0)
    scores = net.scores(X)
    exact = np.exp(scores.astype(np.float64) - scores.max(axis=1, keepdims=True))
    assert (exact / exact.sum(axis=1, keepdims=True)).min() < 1e-38  # saturated: float32 would go subnormal
    _, dscores = softmax_loss(scores.copy(), y)
    tiny = np.finfo(np.float32).tiny
    assert not np.any((dscores != 0) & (np.abs(dscores) < tiny))
    net.loss(X, y, reg=0.0)
    dh = net._buffers_for(64)["grad"][0]  # d loss / d first hidden layer: what dW1's matmul reads
    assert not np.any((dh != 0) & (np.abs(dh) < tiny))
    # What is kept is the gradient: the same as float64 wherever float64's exceeds eps**2.
    _, d64 = softmax_loss(scores.astype(np.float64), y)
    big = np.abs(d64) > np.finfo(np.float32).eps ** 2
    np.testing.assert_allclose(dscores[big], d64[big], rtol=1e-4, atol=1e-9)


def test_svm_loss_on_the_lecture_example():
    # CS231n's three images (cat, car, frog) and their scores: losses 2.9, 0, 12.9; mean 5.27.
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    loss, dscores = svm_loss(scores, np.array([0, 1, 2]))
    assert loss == pytest.approx((2.9 + 0.0 + 12.9) / 3)
    # Each class with a positive margin gets +1/N; the correct class -count/N.
    np.testing.assert_allclose(dscores, np.array([[-1, 1, 0], [0, 0, 0], [1, 1, -2]]) / 3)


def test_loss_can_reuse_the_scores_buffer(rng):
    scores = rng.standard_normal((4, 3)).astype(np.float32)
    y = np.array([0, 2, 1, 1])
    for fn in (softmax_loss, svm_loss):
        expected_loss, expected = fn(scores.copy(), y)
        buf = scores.copy()
        loss, dscores = fn(buf, y, dscores=buf)
        assert dscores is buf
        assert dscores.dtype == np.float32
        assert loss == pytest.approx(expected_loss, rel=1e-6)
        np.testing.assert_allclose(dscores, expected, rtol=1e-6)
