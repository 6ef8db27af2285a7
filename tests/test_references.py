"""The chapter 01-02 references against independent computations.

Every backward function is compared with central differences of its own
forward pass in float64 (relative error < 1e-7); forward functions are
compared with direct formulas written here.
"""

import warnings

import numpy as np
import pytest

from lstm_helpers import feedforward as ff
from lstm_helpers import rnn
from lstm_helpers.gradients import numerical_gradient
from conftest import rel_error

SHAPES = [(1, 1, 1, 1), (1, 3, 2, 4), (4, 2, 5, 3), (3, 1, 4, 2)]  # (T, N, D, H), incl. N=1 and T=1


# -- activations --------------------------------------------------------------

def test_sigmoid_matches_the_textbook_formula():
    x = np.linspace(-30, 30, 601)
    assert np.allclose(ff.sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("value", [1000.0, -1000.0, np.finfo(np.float64).max, -np.finfo(np.float64).max])
def test_sigmoid_never_overflows_or_warns(value):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            out = ff.sigmoid(np.array([value]))
    assert np.isfinite(out).all() and out[0] == (1.0 if value > 0 else 0.0)


def test_activations_keep_float32():
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    assert ff.sigmoid(x).dtype == np.float32
    assert ff.relu(x).dtype == np.float32


def test_relu():
    x = np.array([-2.0, -0.0, 0.5, 3.0])
    assert np.array_equal(ff.relu(x), np.array([0.0, 0.0, 0.5, 3.0]))


# -- dense layer --------------------------------------------------------------

@pytest.mark.parametrize("N,n_in,n_out", [(1, 1, 1), (1, 4, 3), (5, 2, 6)])
def test_dense_forward_is_affine(N, n_in, n_out):
    rng = np.random.default_rng(N * 100 + n_in)
    x, W, b = rng.standard_normal((N, n_in)), rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)
    y, _ = ff.dense_forward(x, W, b)
    expected = np.array([[sum(W[k, j] * x[n, j] for j in range(n_in)) + b[k] for k in range(n_out)]
                         for n in range(N)])
    assert np.allclose(y, expected, rtol=1e-12)


@pytest.mark.parametrize("N,n_in,n_out", [(1, 1, 1), (1, 4, 3), (5, 2, 6)])
def test_dense_backward_matches_central_differences(N, n_in, n_out):
    rng = np.random.default_rng(7 + N)
    x, W, b = rng.standard_normal((N, n_in)), rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)
    g = rng.standard_normal((N, n_out))

    def loss():
        return np.sum(ff.dense_forward(x, W, b)[0] * g)

    dx, dW, db = ff.dense_backward(g, ff.dense_forward(x, W, b)[1])
    for analytic, wrt in [(dx, x), (dW, W), (db, b)]:
        assert rel_error(analytic, numerical_gradient(loss, wrt)) < 1e-7


def test_dense_bad_shapes_name_the_argument():
    x, W, b = np.ones((2, 3)), np.ones((4, 3)), np.ones(4)
    with pytest.raises(ValueError, match=r"W has shape \(3, 4\), expected \(out, 3\)"):
        ff.dense_forward(x, W.T, b)
    with pytest.raises(ValueError, match=r"b has shape \(3,\), expected \(4,\)"):
        ff.dense_forward(x, W, np.ones(3))
    _, cache = ff.dense_forward(x, W, b)
    with pytest.raises(ValueError, match=r"dy has shape \(4, 2\), expected \(2, 4\)"):
        ff.dense_backward(np.ones((4, 2)), cache)


# -- RNN ----------------------------------------------------------------------

def _rnn_problem(T, N, D, H, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = {"W_h": rng.standard_normal((H, H + D)) * 0.7, "b_h": rng.standard_normal(H) * 0.5}
    params = {k: v.astype(dtype) for k, v in params.items()}
    x = rng.standard_normal((T, N, D)).astype(dtype)
    h0 = rng.standard_normal((N, H)).astype(dtype)
    return x, h0, params


def test_rnn_cell_forward_follows_the_equation_elementwise():
    x, h0, p = _rnn_problem(1, 2, 3, 4)
    h_t, _ = rnn.rnn_cell_forward(x[0], h0, p)
    H = 4
    for n in range(2):
        for k in range(H):
            a = sum(p["W_h"][k, j] * h0[n, j] for j in range(H)) + sum(p["W_h"][k, H + j] * x[0, n, j] for j in range(3))
            assert np.isclose(h_t[n, k], np.tanh(a + p["b_h"][k]), rtol=1e-12)


def test_rnn_forward_equals_repeated_cell():
    x, h0, p = _rnn_problem(5, 2, 3, 4)
    h, _ = rnn.rnn_forward(x, h0, p)
    h_prev = h0
    for t in range(5):
        h_prev = np.tanh(np.concatenate([h_prev, x[t]], axis=1) @ p["W_h"].T + p["b_h"])
        assert np.allclose(h[t], h_prev, rtol=1e-12)


@pytest.mark.parametrize("T,N,D,H", SHAPES)
def test_rnn_cell_backward_matches_central_differences(T, N, D, H):
    x, h0, p = _rnn_problem(1, N, D, H, seed=T + 10 * N)
    rng = np.random.default_rng(1)
    g = rng.standard_normal((N, H))

    def loss():
        return np.sum(rnn.rnn_cell_forward(x[0], h0, p)[0] * g)

    dx, dh_prev, grads = rnn.rnn_cell_backward(g, rnn.rnn_cell_forward(x[0], h0, p)[1])
    for analytic, wrt in [(dx, x[0]), (dh_prev, h0), (grads["W_h"], p["W_h"]), (grads["b_h"], p["b_h"])]:
        assert rel_error(analytic, numerical_gradient(loss, wrt)) < 1e-7


@pytest.mark.parametrize("T,N,D,H", SHAPES)
def test_rnn_backward_matches_central_differences(T, N, D, H):
    x, h0, p = _rnn_problem(T, N, D, H, seed=3 + T)
    g = np.random.default_rng(2).standard_normal((T, N, H))

    def loss():
        return np.sum(rnn.rnn_forward(x, h0, p)[0] * g)

    dx, dh0, grads = rnn.rnn_backward(g, rnn.rnn_forward(x, h0, p)[1])
    assert set(grads) == set(p)
    for analytic, wrt in [(dx, x), (dh0, h0), (grads["W_h"], p["W_h"]), (grads["b_h"], p["b_h"])]:
        assert rel_error(analytic, numerical_gradient(loss, wrt)) < 1e-7


def test_rnn_keeps_float32():
    x, h0, p = _rnn_problem(3, 2, 3, 4, dtype=np.float32)
    h, cache = rnn.rnn_forward(x, h0, p)
    dx, dh0, grads = rnn.rnn_backward(np.ones_like(h), cache)
    assert h.dtype == dx.dtype == dh0.dtype == grads["W_h"].dtype == grads["b_h"].dtype == np.float32


def test_rnn_bad_input_names_argument_and_shape():
    x, h0, p = _rnn_problem(3, 2, 3, 4)
    with pytest.raises(ValueError, match=r"params\['W_h'\] has shape \(4, 6\), expected \(4, 7\)"):
        rnn.rnn_forward(x, h0, {"W_h": p["W_h"][:, :6], "b_h": p["b_h"]})
    with pytest.raises(ValueError, match=r"missing 'W_h'"):
        rnn.rnn_cell_forward(x[0], h0, {"b_h": p["b_h"]})
    with pytest.raises(ValueError, match=r"h0 has shape \(3, 4\), expected \(2, 4\)"):
        rnn.rnn_forward(x, np.zeros((3, 4)), p)
    with pytest.raises(ValueError, match=r"x has shape \(2, 3\), expected \(T, N, D\)"):
        rnn.rnn_forward(x[0], h0, p)
    h, cache = rnn.rnn_forward(x, h0, p)
    with pytest.raises(ValueError, match=r"dh has shape \(2, 2, 4\), expected \(3, 2, 4\)"):
        rnn.rnn_backward(h[:2], cache)


def test_numerical_gradient_of_a_known_function():
    x = np.array([0.3, -1.2, 2.0])
    grad = numerical_gradient(lambda: float(np.sum(np.sin(x) * x ** 2)), x)
    assert np.allclose(grad, np.cos(x) * x ** 2 + 2 * x * np.sin(x), rtol=1e-8)
    assert np.array_equal(x, [0.3, -1.2, 2.0])  # restored after perturbing
