"""Tests of lstm_helpers.variants: peephole LSTM, coupled gates (CIFG) and the GRU.

Every backward pass is compared with central differences of its own forward
pass; the forward passes are compared with plain-Python loops written from
the equations and with the chapter-04 LSTM where a variant reduces to it.
"""

import math

import numpy as np
import pytest

from lstm_helpers import lstm, rnn, variants as V
from lstm_helpers.gradients import numerical_gradient
from conftest import copy_of, rel_error

# (T, N, D, H): includes N = 1, T = 1, D = 1, H = 1 and D != H
SHAPES = [(1, 1, 2, 3), (3, 2, 4, 3), (2, 3, 1, 2), (4, 1, 3, 1)]


def random_params(rng, shapes, scale=1.0):
    """A different random draw for every key (weights, biases and peepholes alike)."""
    return {key: scale * rng.standard_normal(shape) for key, shape in shapes.items()}


def assert_grads_match(analytic, f, arrays):
    """Compare each analytic gradient with central differences of the scalar f."""
    for name, arr in arrays.items():
        numeric = numerical_gradient(f, arr)
        err = rel_error(analytic[name], numeric)
        assert err < 1e-7, f"gradient of {name}: relative error {err:.2e}"


# --------------------------------------------------------------------------
# Gradient checks, cells
# --------------------------------------------------------------------------

@pytest.mark.parametrize("T, N, D, H", SHAPES)
@pytest.mark.parametrize(
    "forward, backward, shapes",
    [
        (V.peephole_lstm_cell_forward, V.peephole_lstm_cell_backward, V.peephole_lstm_param_shapes),
        (V.cifg_lstm_cell_forward, V.cifg_lstm_cell_backward, V.cifg_lstm_param_shapes),
    ],
    ids=["peephole", "cifg"],
)
def test_lstm_variant_cell_backward_matches_numerical_gradient(forward, backward, shapes, T, N, D, H):
    rng = np.random.default_rng(100 + T * 7 + N * 5 + D * 3 + H)
    x_t, h_prev, c_prev = rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    params = random_params(rng, shapes(D, H), scale=0.5)  # unsaturated gates: no vanishing gradients
    w_h, w_c = rng.standard_normal((N, H)), rng.standard_normal((N, H))

    def loss():
        h_t, c_t, _ = forward(x_t, h_prev, c_prev, params)
        return np.sum(w_h * h_t) + np.sum(w_c * c_t)

    _, _, cache = forward(x_t, h_prev, c_prev, params)
    dx_t, dh_prev, dc_prev, grads = backward(w_h, w_c, cache)
    assert set(grads) == set(params)
    analytic = {"x_t": dx_t, "h_prev": dh_prev, "c_prev": dc_prev, **grads}
    assert_grads_match(analytic, loss, {"x_t": x_t, "h_prev": h_prev, "c_prev": c_prev, **params})


@pytest.mark.parametrize("T, N, D, H", SHAPES)
@pytest.mark.parametrize("reset_after", [False, True])
def test_gru_cell_backward_matches_numerical_gradient(reset_after, T, N, D, H):
    rng = np.random.default_rng(200 + T * 7 + N * 5 + D * 3 + H)
    x_t, h_prev = rng.standard_normal((N, D)), rng.standard_normal((N, H))
    params = random_params(rng, V.gru_param_shapes(D, H), scale=0.5)
    w_h = rng.standard_normal((N, H))

    def loss():
        return np.sum(w_h * V.gru_cell_forward(x_t, h_prev, params, reset_after)[0])

    _, cache = V.gru_cell_forward(x_t, h_prev, params, reset_after)
    dx_t, dh_prev, grads = V.gru_cell_backward(w_h, cache)
    assert set(grads) == set(params)
    assert_grads_match({"x_t": dx_t, "h_prev": dh_prev, **grads}, loss, {"x_t": x_t, "h_prev": h_prev, **params})


# --------------------------------------------------------------------------
# Gradient checks, sequences
# --------------------------------------------------------------------------

@pytest.mark.parametrize("T, N, D, H", SHAPES)
@pytest.mark.parametrize(
    "forward, backward, shapes",
    [
        (V.peephole_lstm_forward, V.peephole_lstm_backward, V.peephole_lstm_param_shapes),
        (V.cifg_lstm_forward, V.cifg_lstm_backward, V.cifg_lstm_param_shapes),
    ],
    ids=["peephole", "cifg"],
)
def test_lstm_variant_sequence_backward_matches_numerical_gradient(forward, backward, shapes, T, N, D, H):
    rng = np.random.default_rng(300 + T * 7 + N * 5 + D * 3 + H)
    x, h0, c0 = rng.standard_normal((T, N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    params = random_params(rng, shapes(D, H), scale=0.5)
    w_h, w_c = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))

    def loss():
        h, c, _ = forward(x, h0, c0, params)
        return np.sum(w_h * h) + np.sum(w_c * c[-1])  # the last cell state feeds the loss too

    h, c, cache = forward(x, h0, c0, params)
    assert h.shape == c.shape == (T, N, H)
    dx, dh0, dc0, grads = backward(w_h, cache, dc_last=w_c)
    assert set(grads) == set(params)
    analytic = {"x": dx, "h0": dh0, "c0": dc0, **grads}
    assert_grads_match(analytic, loss, {"x": x, "h0": h0, "c0": c0, **params})


@pytest.mark.parametrize("T, N, D, H", SHAPES)
@pytest.mark.parametrize("reset_after", [False, True])
def test_gru_sequence_backward_matches_numerical_gradient(reset_after, T, N, D, H):
    rng = np.random.default_rng(400 + T * 7 + N * 5 + D * 3 + H)
    x, h0 = rng.standard_normal((T, N, D)), rng.standard_normal((N, H))
    params = random_params(rng, V.gru_param_shapes(D, H), scale=0.5)
    w_h = rng.standard_normal((T, N, H))

    def loss():
        return np.sum(w_h * V.gru_forward(x, h0, params, reset_after)[0])

    h, cache = V.gru_forward(x, h0, params, reset_after=reset_after)
    assert h.shape == (T, N, H)
    dx, dh0, grads = V.gru_backward(w_h, cache)  # the reset placement comes from the cache
    assert set(grads) == set(params)
    assert_grads_match({"x": dx, "h0": dh0, **grads}, loss, {"x": x, "h0": h0, **params})


# --------------------------------------------------------------------------
# Forward passes against plain-Python loops written from the equations
# --------------------------------------------------------------------------

def _sig(a):
    return 1.0 / (1.0 + math.exp(-a))


def _affine(W, b, inputs, j):
    """Row j of W times the list ``inputs``, plus b[j], in plain Python."""
    return sum(W[j, k] * inputs[k] for k in range(len(inputs))) + b[j]


def test_peephole_and_cifg_cells_match_scalar_loops():
    rng = np.random.default_rng(11)
    N, D, H = 2, 3, 4
    x_t, h_prev, c_prev = rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    pp = random_params(rng, V.peephole_lstm_param_shapes(D, H))
    cp = random_params(rng, V.cifg_lstm_param_shapes(D, H))
    h_pp, c_pp, _ = V.peephole_lstm_cell_forward(x_t, h_prev, c_prev, pp)
    h_cp, c_cp, _ = V.cifg_lstm_cell_forward(x_t, h_prev, c_prev, cp)
    for n in range(N):
        hx = list(h_prev[n]) + list(x_t[n])
        for j in range(H):
            f = _sig(_affine(pp["W_f"], pp["b_f"], hx, j) + pp["p_f"][j] * c_prev[n, j])
            i = _sig(_affine(pp["W_i"], pp["b_i"], hx, j) + pp["p_i"][j] * c_prev[n, j])
            c = f * c_prev[n, j] + i * math.tanh(_affine(pp["W_c"], pp["b_c"], hx, j))
            o = _sig(_affine(pp["W_o"], pp["b_o"], hx, j) + pp["p_o"][j] * c)
            assert c_pp[n, j] == pytest.approx(c, rel=1e-12, abs=1e-14)
            assert h_pp[n, j] == pytest.approx(o * math.tanh(c), rel=1e-12, abs=1e-14)

            f = _sig(_affine(cp["W_f"], cp["b_f"], hx, j))
            c = f * c_prev[n, j] + (1 - f) * math.tanh(_affine(cp["W_c"], cp["b_c"], hx, j))
            o = _sig(_affine(cp["W_o"], cp["b_o"], hx, j))
            assert c_cp[n, j] == pytest.approx(c, rel=1e-12, abs=1e-14)
            assert h_cp[n, j] == pytest.approx(o * math.tanh(c), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("reset_after", [False, True])
def test_gru_cell_matches_scalar_loop(reset_after):
    rng = np.random.default_rng(12)
    N, D, H = 2, 3, 4
    x_t, h_prev = rng.standard_normal((N, D)), rng.standard_normal((N, H))
    p = random_params(rng, V.gru_param_shapes(D, H))
    h_t, _ = V.gru_cell_forward(x_t, h_prev, p, reset_after=reset_after)
    for n in range(N):
        hx = list(h_prev[n]) + list(x_t[n])
        z = [_sig(_affine(p["W_z"], p["b_z"], hx, j)) for j in range(H)]
        r = [_sig(_affine(p["W_r"], p["b_r"], hx, j)) for j in range(H)]
        for j in range(H):
            if reset_after:
                W_h_h = sum(p["W_h"][j, k] * h_prev[n, k] for k in range(H))
                W_h_x = sum(p["W_h"][j, H + k] * x_t[n, k] for k in range(D))
                h_tilde = math.tanh(r[j] * W_h_h + W_h_x + p["b_h"][j])
            else:
                rh_x = [r[k] * h_prev[n, k] for k in range(H)] + list(x_t[n])
                h_tilde = math.tanh(_affine(p["W_h"], p["b_h"], rh_x, j))
            want = (1 - z[j]) * h_prev[n, j] + z[j] * h_tilde
            assert h_t[n, j] == pytest.approx(want, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("reset_after", [False, True])
def test_gru_forward_chains_the_cell(reset_after):
    rng = np.random.default_rng(13)
    x, h0 = rng.standard_normal((4, 2, 3)), rng.standard_normal((2, 5))
    p = random_params(rng, V.gru_param_shapes(3, 5))
    h, cache = V.gru_forward(x, h0, p, reset_after=reset_after)
    assert cache["reset_after"] is reset_after
    h_prev = h0
    for t in range(4):
        h_prev, _ = V.gru_cell_forward(x[t], h_prev, p, reset_after)
        np.testing.assert_array_equal(h[t], h_prev)


# --------------------------------------------------------------------------
# Equivalences
# --------------------------------------------------------------------------

def test_peephole_with_zero_peepholes_is_the_lstm():
    rng = np.random.default_rng(21)
    T, N, D, H = 3, 2, 4, 3
    lstm_params = random_params(rng, lstm.lstm_param_shapes(D, H))
    pp = {**lstm_params, "p_f": np.zeros(H), "p_i": np.zeros(H), "p_o": np.zeros(H)}
    x, h0, c0 = rng.standard_normal((T, N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    dh_t, dc_t = rng.standard_normal((N, H)), rng.standard_normal((N, H))

    h_l, c_l, cache_l = lstm.lstm_cell_forward(x[0], h0, c0, lstm_params)
    h_p, c_p, cache_p = V.peephole_lstm_cell_forward(x[0], h0, c0, pp)
    np.testing.assert_allclose(h_p, h_l, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(c_p, c_l, rtol=1e-13, atol=1e-15)
    back_l = lstm.lstm_cell_backward(dh_t, dc_t, cache_l)
    back_p = V.peephole_lstm_cell_backward(dh_t, dc_t, cache_p)
    for a, b in zip(back_p[:3], back_l[:3]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    for key in lstm_params:
        np.testing.assert_allclose(back_p[3][key], back_l[3][key], rtol=1e-12, atol=1e-14)

    h_l, c_l, cache_l = lstm.lstm_forward(x, h0, c0, lstm_params)
    h_p, c_p, cache_p = V.peephole_lstm_forward(x, h0, c0, pp)
    np.testing.assert_allclose(h_p, h_l, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_p, c_l, rtol=1e-12, atol=1e-14)
    dh, dc_last = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))
    back_l = lstm.lstm_backward(dh, cache_l, dc_last=dc_last)
    back_p = V.peephole_lstm_backward(dh, cache_p, dc_last=dc_last)
    for a, b in zip(back_p[:3], back_l[:3]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    for key in lstm_params:
        np.testing.assert_allclose(back_p[3][key], back_l[3][key], rtol=1e-12, atol=1e-14)


def test_nonzero_peepholes_change_every_gate():
    rng = np.random.default_rng(22)
    N, D, H = 2, 3, 4
    x_t, h_prev, c_prev = rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    pp = random_params(rng, V.peephole_lstm_param_shapes(D, H))
    _, _, cache = V.peephole_lstm_cell_forward(x_t, h_prev, c_prev, pp)
    for key, gate in [("p_f", "f"), ("p_i", "i"), ("p_o", "o")]:
        _, _, other = V.peephole_lstm_cell_forward(x_t, h_prev, c_prev, {**pp, key: np.zeros(H)})
        assert not np.allclose(other[gate], cache[gate]), f"{key} does not reach gate {gate}"


def test_cifg_is_an_lstm_whose_input_gate_is_one_minus_forget():
    # An LSTM with W_i = -W_f and b_i = -b_f has i = σ(-a_f) = 1 - σ(a_f) = 1 - f.
    rng = np.random.default_rng(23)
    T, N, D, H = 4, 3, 2, 5
    cifg = random_params(rng, V.cifg_lstm_param_shapes(D, H))
    tied = {**cifg, "W_i": -cifg["W_f"], "b_i": -cifg["b_f"]}
    x, h0, c0 = rng.standard_normal((T, N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))

    h_l, c_l, cache_l = lstm.lstm_cell_forward(x[0], h0, c0, tied)
    h_c, c_c, cache_c = V.cifg_lstm_cell_forward(x[0], h0, c0, cifg)
    np.testing.assert_allclose(cache_l["i"], 1 - cache_c["f"], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(h_c, h_l, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_c, c_l, rtol=1e-12, atol=1e-14)

    h_l, c_l, cache_l = lstm.lstm_forward(x, h0, c0, tied)
    h_c, c_c, cache_c = V.cifg_lstm_forward(x, h0, c0, cifg)
    np.testing.assert_allclose(h_c, h_l, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_c, c_l, rtol=1e-12, atol=1e-14)

    # Backward: W_f acts in the f slot and, negated, in the i slot of the tied LSTM.
    dh, dc_last = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))
    dx_l, dh0_l, dc0_l, g_l = lstm.lstm_backward(dh, cache_l, dc_last=dc_last)
    dx_c, dh0_c, dc0_c, g_c = V.cifg_lstm_backward(dh, cache_c, dc_last=dc_last)
    for a, b in [(dx_c, dx_l), (dh0_c, dh0_l), (dc0_c, dc0_l)]:
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g_c["W_f"], g_l["W_f"] - g_l["W_i"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g_c["b_f"], g_l["b_f"] - g_l["b_i"], rtol=1e-10, atol=1e-12)
    for key in ("W_c", "b_c", "W_o", "b_o"):
        np.testing.assert_allclose(g_c[key], g_l[key], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reset_after", [False, True])
def test_gru_with_update_gate_closed_keeps_its_state(reset_after):
    rng = np.random.default_rng(24)
    T, N, D, H = 5, 2, 3, 4
    p = random_params(rng, V.gru_param_shapes(D, H))
    p["W_z"], p["b_z"] = np.zeros((H, H + D)), np.full(H, -1e3)  # z = σ(-1000) = 0 exactly
    x, h0 = rng.standard_normal((T, N, D)), rng.standard_normal((N, H))
    h, _ = V.gru_forward(x, h0, p, reset_after=reset_after)
    for t in range(T):
        np.testing.assert_array_equal(h[t], h0)


def test_gru_reset_placements_agree_when_the_reset_gate_is_open_and_differ_otherwise():
    rng = np.random.default_rng(25)
    N, D, H = 3, 2, 4
    x_t, h_prev = rng.standard_normal((N, D)), rng.standard_normal((N, H))
    p = random_params(rng, V.gru_param_shapes(D, H))
    before, _ = V.gru_cell_forward(x_t, h_prev, p, reset_after=False)
    after, _ = V.gru_cell_forward(x_t, h_prev, p, reset_after=True)
    assert not np.allclose(before, after)
    p_open = {**p, "W_r": np.zeros((H, H + D)), "b_r": np.full(H, 1e3)}  # r = 1
    before, _ = V.gru_cell_forward(x_t, h_prev, p_open, reset_after=False)
    after, _ = V.gru_cell_forward(x_t, h_prev, p_open, reset_after=True)
    np.testing.assert_allclose(before, after, rtol=1e-13, atol=1e-15)


# --------------------------------------------------------------------------
# Parameter counts and initialisation
# --------------------------------------------------------------------------

@pytest.mark.parametrize("D, H", [(1, 1), (3, 5), (7, 2), (10, 32)])
def test_param_count_equals_the_size_of_initialised_params(D, H):
    rng = np.random.default_rng(31)
    inits = {
        "rnn": rnn.init_rnn_params(D, H, rng),
        "lstm": lstm.init_lstm_params(D, H, rng),
        "peephole": V.init_peephole_lstm_params(D, H, rng),
        "cifg": V.init_cifg_lstm_params(D, H, rng),
        "gru": V.init_gru_params(D, H, rng),
    }
    for variant, params in inits.items():
        assert V.param_count(variant, D, H) == sum(a.size for a in params.values()), variant


def test_param_count_closed_forms():
    D, H = 3, 5  # one gate: H(H + D) + H = 45
    assert V.param_count("rnn", D, H) == 45
    assert V.param_count("lstm", D, H) == 180
    assert V.param_count("peephole", D, H) == 195
    assert V.param_count("cifg", D, H) == 135
    assert V.param_count("gru", D, H) == 135
    with pytest.raises(ValueError, match="unknown variant 'transformer'.*'gru'"):
        V.param_count("transformer", D, H)


def test_init_helpers_use_the_given_generator_and_shapes():
    for init, shapes in [
        (V.init_peephole_lstm_params, V.peephole_lstm_param_shapes),
        (V.init_cifg_lstm_params, V.cifg_lstm_param_shapes),
        (V.init_gru_params, V.gru_param_shapes),
    ]:
        a = init(3, 4, np.random.default_rng(7))
        b = init(3, 4, np.random.default_rng(7))
        c = init(3, 4, np.random.default_rng(8))
        assert {k: v.shape for k, v in a.items()} == shapes(3, 4)
        assert all(np.array_equal(a[k], b[k]) for k in a)
        assert not np.array_equal(a["W_o" if "W_o" in a else "W_z"], c["W_o" if "W_o" in c else "W_z"])
        weights = [k for k in a if k.startswith("W_")]
        assert all(not np.array_equal(a[k1], a[k2]) for k1 in weights for k2 in weights if k1 != k2)
        assert all(v.dtype == np.float32 for v in init(3, 4, np.random.default_rng(7), dtype=np.float32).values())
    assert np.all(V.init_peephole_lstm_params(3, 4, np.random.default_rng(0))["b_f"] == 1.0)
    assert np.all(V.init_cifg_lstm_params(3, 4, np.random.default_rng(0), forget_bias=0.0)["b_f"] == 0.0)


# --------------------------------------------------------------------------
# Dtypes
# --------------------------------------------------------------------------

def _all_float32(arrays):
    return all(np.asarray(a).dtype == np.float32 for a in arrays)


def test_float32_stays_float32_and_integers_become_float64():
    rng = np.random.default_rng(41)
    T, N, D, H = 3, 2, 3, 4
    f32 = lambda shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    x, h0, c0 = f32((T, N, D)), f32((N, H)), f32((N, H))
    dh, dc = f32((T, N, H)), f32((N, H))
    for forward, backward, cell_f, cell_b, shapes in [
        (V.peephole_lstm_forward, V.peephole_lstm_backward, V.peephole_lstm_cell_forward,
         V.peephole_lstm_cell_backward, V.peephole_lstm_param_shapes),
        (V.cifg_lstm_forward, V.cifg_lstm_backward, V.cifg_lstm_cell_forward,
         V.cifg_lstm_cell_backward, V.cifg_lstm_param_shapes),
    ]:
        p = {k: f32(s) for k, s in shapes(D, H).items()}
        h_t, c_t, cache = cell_f(x[0], h0, c0, p)
        dx_t, dh_prev, dc_prev, g = cell_b(dh[0], dc, cache)
        assert _all_float32([h_t, c_t, dx_t, dh_prev, dc_prev, *g.values()])
        h, c, cache = forward(x, h0, c0, p)
        dx, dh0, dc0, g = backward(dh, cache, dc_last=dc)
        assert _all_float32([h, c, dx, dh0, dc0, *g.values()])
    p = {k: f32(s) for k, s in V.gru_param_shapes(D, H).items()}
    for reset_after in (False, True):
        h_t, cache = V.gru_cell_forward(x[0], h0, p, reset_after)
        dx_t, dh_prev, g = V.gru_cell_backward(dh[0], cache)
        assert _all_float32([h_t, dx_t, dh_prev, *g.values()])
        h, cache = V.gru_forward(x, h0, p, reset_after)
        dx, dh0, g = V.gru_backward(dh, cache)
        assert _all_float32([h, dx, dh0, *g.values()])

    p = {k: np.ones(s, dtype=np.int64) for k, s in V.gru_param_shapes(D, H).items()}
    h, _ = V.gru_forward(np.ones((T, N, D), dtype=int), np.zeros((N, H), dtype=int), p)
    assert h.dtype == np.float64


@pytest.mark.filterwarnings("error")
def test_sigmoid_gates_do_not_overflow_or_warn():
    N, D, H = 2, 3, 4
    huge = {k: np.full(s, 1e4) for k, s in V.peephole_lstm_param_shapes(D, H).items()}
    with np.errstate(all="raise"):
        h_t, c_t, _ = V.peephole_lstm_cell_forward(np.full((N, D), -50.0), np.ones((N, H)), np.ones((N, H)), huge)
        assert np.all(np.isfinite(h_t)) and np.all(np.isfinite(c_t))
        g = {k: np.full(s, -1e4) for k, s in V.gru_param_shapes(D, H).items()}
        h_t, _ = V.gru_cell_forward(np.ones((N, D)), np.ones((N, H)), g, reset_after=True)
        assert np.all(np.isfinite(h_t))


# --------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------

def _gru_args(rng, D=3, H=4, N=2):
    return rng.standard_normal((N, D)), rng.standard_normal((N, H)), random_params(rng, V.gru_param_shapes(D, H))


@pytest.mark.parametrize("bad", ["True", 1, 0, None, "after", 1.0])
def test_reset_after_must_be_a_bool(bad):
    rng = np.random.default_rng(51)
    x_t, h_prev, p = _gru_args(rng)
    with pytest.raises(ValueError, match="reset_after must be True or False"):
        V.gru_cell_forward(x_t, h_prev, p, reset_after=bad)
    with pytest.raises(ValueError, match="reset_after must be True or False"):
        V.gru_forward(x_t[None], h_prev, p, reset_after=bad)


def test_reset_after_accepts_numpy_bools():
    rng = np.random.default_rng(52)
    x_t, h_prev, p = _gru_args(rng)
    h_np, cache = V.gru_cell_forward(x_t, h_prev, p, reset_after=np.bool_(True))
    assert cache["reset_after"] is True
    np.testing.assert_array_equal(h_np, V.gru_cell_forward(x_t, h_prev, p, reset_after=True)[0])


def test_missing_peepholes_are_named_with_their_shapes():
    rng = np.random.default_rng(53)
    N, D, H = 2, 3, 5
    p = random_params(rng, lstm.lstm_param_shapes(D, H))  # a plain LSTM: no peepholes
    x_t, h_prev, c_prev = rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    with pytest.raises(ValueError, match=r"missing 'p_f' \(5,\), 'p_i' \(5,\), 'p_o' \(5,\)"):
        V.peephole_lstm_cell_forward(x_t, h_prev, c_prev, p)
    with pytest.raises(ValueError, match=r"peephole LSTM parameters are missing 'p_o' \(5,\)"):
        V.peephole_lstm_forward(x_t[None], h_prev, c_prev, {**p, "p_f": np.zeros(H), "p_i": np.zeros(H)})
    with pytest.raises(ValueError, match=r"params\['p_i'\] has shape \(5, 5\), expected \(5,\)"):
        V.peephole_lstm_cell_forward(
            x_t, h_prev, c_prev, {**p, "p_f": np.zeros(H), "p_i": np.eye(H), "p_o": np.zeros(H)}
        )


def test_other_bad_inputs_name_the_argument():
    rng = np.random.default_rng(54)
    x_t, h_prev, p = _gru_args(rng, D=3, H=4)
    with pytest.raises(ValueError, match=r"GRU parameters are missing 'W_r' \(4, 7\)"):
        V.gru_cell_forward(x_t, h_prev, {k: v for k, v in p.items() if k != "W_r"})
    with pytest.raises(ValueError, match=r"h_prev has shape \(2, 3\), expected \(2, 4\)"):
        V.gru_cell_forward(x_t, h_prev[:, :3], p)
    with pytest.raises(ValueError, match=r"h0 has shape \(2, 3\), expected \(2, 4\)"):
        V.gru_forward(x_t[None], h_prev[:, :3], p)
    with pytest.raises(ValueError, match="at least one time step"):
        V.gru_forward(np.zeros((0, 2, 3)), h_prev, p)
    with pytest.raises(ValueError, match=r"x has shape \(2, 3\)"):
        V.gru_forward(x_t, h_prev, p)
    cp = random_params(rng, V.cifg_lstm_param_shapes(3, 4))
    with pytest.raises(ValueError, match=r"c_prev has shape \(2, 5\), expected \(2, 4\)"):
        V.cifg_lstm_cell_forward(x_t, h_prev, np.zeros((2, 5)), cp)
    with pytest.raises(ValueError, match=r"c0 has shape \(2, 5\), expected \(2, 4\)"):
        V.cifg_lstm_forward(x_t[None], h_prev, np.zeros((2, 5)), cp)
    with pytest.raises(ValueError, match=r"params\['W_f'\] has shape \(4, 6\), expected \(4, 7\)"):
        V.cifg_lstm_cell_forward(x_t, h_prev, h_prev, {**cp, "W_f": np.zeros((4, 6))})
    h, cache = V.gru_forward(x_t[None], h_prev, p)
    with pytest.raises(ValueError, match=r"dh has shape \(2, 2, 4\), expected \(1, 2, 4\)"):
        V.gru_backward(np.zeros((2, 2, 4)), cache)
    _, _, cache = V.cifg_lstm_forward(x_t[None], h_prev, h_prev, cp)
    with pytest.raises(ValueError, match=r"dc_last has shape \(4,\), expected \(2, 4\)"):
        V.cifg_lstm_backward(np.zeros((1, 2, 4)), cache, dc_last=np.zeros(4))


# --------------------------------------------------------------------------
# The chapter's exercise checks: the reference passes, every mistake is named
# --------------------------------------------------------------------------

def _reference_copy(name):
    return copy_of(getattr(V, name))


def test_gru_exercise_names_a_reset_placement_that_is_the_wrong_way_round():
    from lstm_helpers import exercises
    from lstm_helpers.exercises import hidden
    from lstm_helpers.exercises import CheckFailed

    gru = _reference_copy("gru_cell_forward")

    def swapped(x_t, h_prev, params, reset_after):
        return gru(x_t, h_prev, params, not reset_after)

    for check in (exercises.check, hidden.hidden_check):  # both try reset_after=False first
        with pytest.raises(AssertionError, match="with reset_after=False the reset gate scales h_prev before"):
            check("gru_cell_forward", swapped)
    with pytest.raises(CheckFailed, match="with reset_after=True the reset gate scales the product"):
        exercises.check("gru_cell_forward", lambda x_t, h_prev, params, reset_after: gru(x_t, h_prev, params, False))


def test_gru_exercise_tries_both_reset_placements():
    from lstm_helpers import exercises
    from lstm_helpers.exercises.hidden import fresh_checks

    seen = []
    exercises.check("gru_cell_forward", lambda x_t, h_prev, params, reset_after: (
        seen.append(reset_after) or V.gru_cell_forward(x_t, h_prev, params, reset_after)))
    assert seen == [False, True]
    exercise, rng = fresh_checks().EXERCISES["gru_cell_forward"], np.random.default_rng()
    hidden = [exercise.make_inputs(rng, True)["reset_after"] for _ in range(exercise.hidden_trials)]
    assert hidden == [False, True] * (exercise.hidden_trials // 2)
