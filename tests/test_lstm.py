"""Tests for the LSTM reference (lstm_helpers.lstm) and its exercise exercises.

The expected values come from independent computations: the equations
written out again here (with the textbook logistic 1 / (1 + exp(-a))) and
central differences. tests/test_torch_interop.py compares the LSTM with
torch.nn.LSTM.
"""

import numpy as np
import pytest

from lstm_helpers import exercises
from lstm_helpers import lstm as L
from lstm_helpers import variants as V
from lstm_helpers.experiment import fast_lstm
from lstm_helpers.exercises import CheckFailed
from lstm_helpers.exercises import lstm as lstm_checks
from lstm_helpers.exercises._core import run_exercise
from lstm_helpers.gradients import numerical_gradient
from lstm_helpers.exercises.hidden import hidden_check
from conftest import rel_error

GATES = ("f", "i", "c", "o")
# (T, N, D, H): D != H, and the edge cases N = 1, T = 1, H = 1
SHAPES = [(3, 2, 3, 4), (1, 1, 2, 3), (4, 1, 5, 2), (2, 3, 1, 1), (1, 3, 4, 4)]


def random_params(rng, D, H, dtype=np.float64):
    """Distinct weights and biases for every gate, large enough to matter."""
    params = {}
    for g in GATES:
        params[f"W_{g}"] = (0.6 * rng.standard_normal((H, H + D))).astype(dtype)
        params[f"b_{g}"] = (0.5 * rng.standard_normal(H)).astype(dtype)
    return params


def textbook_cell(x_t, h_prev, c_prev, p):
    """The LSTM equations written out independently of the package."""
    def logistic(a):
        return 1.0 / (1.0 + np.exp(-a))

    hx = np.hstack([h_prev, x_t])
    f = logistic(hx @ p["W_f"].T + p["b_f"])
    i = logistic(hx @ p["W_i"].T + p["b_i"])
    g = np.tanh(hx @ p["W_c"].T + p["b_c"])
    o = logistic(hx @ p["W_o"].T + p["b_o"])
    c_t = f * c_prev + i * g
    return o * np.tanh(c_t), c_t


def make_sequence(rng, T, N, D, H, dtype=np.float64):
    x = rng.standard_normal((T, N, D)).astype(dtype)
    h0 = rng.uniform(-1, 1, (N, H)).astype(dtype)
    c0 = rng.standard_normal((N, H)).astype(dtype)
    return x, h0, c0, random_params(rng, D, H, dtype)


# ---------------------------------------------------------------------------
# Forward pass
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_cell_and_sequence_match_textbook_equations(shape):
    rng = np.random.default_rng(1)
    T, N, D, H = shape
    x, h0, c0, p = make_sequence(rng, T, N, D, H)
    h, c, _ = L.lstm_forward(x, h0, c0, p)
    h_prev, c_prev = h0, c0
    for t in range(T):
        h_want, c_want = textbook_cell(x[t], h_prev, c_prev, p)
        h_cell, c_cell, _ = L.lstm_cell_forward(x[t], h_prev, c_prev, p)
        np.testing.assert_allclose(h_cell, h_want, rtol=0, atol=1e-13)
        np.testing.assert_allclose(c_cell, c_want, rtol=0, atol=1e-13)
        np.testing.assert_allclose(h[t], h_want, rtol=0, atol=1e-13)
        np.testing.assert_allclose(c[t], c_want, rtol=0, atol=1e-13)
        h_prev, c_prev = h_want, c_want


def test_step_functions_follow_the_equations():
    rng = np.random.default_rng(2)
    N, D, H = 3, 2, 4
    p = random_params(rng, D, H)
    hx = rng.standard_normal((N, H + D))
    c_prev = rng.standard_normal((N, H))

    def logistic(a):
        return 1.0 / (1.0 + np.exp(-a))

    f = L.forget_gate(hx, p)
    i, c_tilde = L.input_gate_and_candidate(hx, p)
    c_t = L.cell_update(f, c_prev, i, c_tilde)
    o, h_t = L.output_gate_and_hidden(hx, c_t, p)
    np.testing.assert_allclose(f, logistic(hx @ p["W_f"].T + p["b_f"]), atol=1e-14)
    np.testing.assert_allclose(i, logistic(hx @ p["W_i"].T + p["b_i"]), atol=1e-14)
    np.testing.assert_allclose(c_tilde, np.tanh(hx @ p["W_c"].T + p["b_c"]), atol=1e-14)
    np.testing.assert_allclose(c_t, f * c_prev + i * c_tilde, atol=1e-14)
    np.testing.assert_allclose(o, logistic(hx @ p["W_o"].T + p["b_o"]), atol=1e-14)
    np.testing.assert_allclose(h_t, o * np.tanh(c_t), atol=1e-14)


def test_cell_cache_has_the_documented_keys():
    rng = np.random.default_rng(3)
    x, h0, c0, p = make_sequence(rng, 1, 2, 3, 4)
    h_t, c_t, cache = L.lstm_cell_forward(x[0], h0, c0, p)
    assert set(cache) == {"hx", "c_prev", "f", "i", "c_tilde", "o", "c_t", "tanh_c", "params"}
    np.testing.assert_array_equal(cache["hx"], np.hstack([h0, x[0]]))
    np.testing.assert_array_equal(cache["c_prev"], c0)
    np.testing.assert_array_equal(cache["c_t"], c_t)
    np.testing.assert_allclose(cache["tanh_c"], np.tanh(c_t), atol=1e-15)
    assert set(cache["params"]) == set(p)


def test_sequence_cache_steps_are_cell_caches():
    rng = np.random.default_rng(4)
    T, N, D, H = 5, 2, 3, 4
    x, h0, c0, p = make_sequence(rng, T, N, D, H)
    _, _, cache = L.lstm_forward(x, h0, c0, p)
    assert len(cache["steps"]) == T
    h_prev, c_prev = h0, c0
    for t in range(T):
        h_prev, c_prev, cell_cache = L.lstm_cell_forward(x[t], h_prev, c_prev, p)
        step = cache["steps"][t]
        assert set(step) == set(cell_cache)
        for key in cell_cache:
            if key != "params":
                np.testing.assert_allclose(step[key], cell_cache[key], rtol=0, atol=1e-13, err_msg=key)


def test_forward_leaves_inputs_alone_and_accepts_strided_x():
    rng = np.random.default_rng(5)
    x_batch_major = rng.standard_normal((2, 6, 3))  # (N, T, D)
    x = x_batch_major.transpose(1, 0, 2)  # time-major view, not contiguous
    _, h0, c0, p = make_sequence(rng, 6, 2, 3, 4)
    saved = [a.copy() for a in (x, h0, c0)] + [v.copy() for v in p.values()]
    h, c, _ = L.lstm_forward(x, h0, c0, p)
    h2, c2, _ = L.lstm_forward(np.ascontiguousarray(x), h0, c0, p)
    np.testing.assert_array_equal(h, h2)
    np.testing.assert_array_equal(c, c2)
    for before, after in zip(saved, [x, h0, c0, *p.values()]):
        np.testing.assert_array_equal(before, after)


# ---------------------------------------------------------------------------
# Backward passes against central differences (float64)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_cell_backward_matches_numerical_gradient(shape):
    rng = np.random.default_rng(10)
    _, N, D, H = shape
    x, h_prev, c_prev, p = make_sequence(rng, 1, N, D, H)
    x_t = x[0]
    dh_t = rng.standard_normal((N, H))
    dc_t = rng.standard_normal((N, H))

    def loss():
        h_t, c_t, _ = L.lstm_cell_forward(x_t, h_prev, c_prev, p)
        return np.sum(dh_t * h_t) + np.sum(dc_t * c_t)

    _, _, cache = L.lstm_cell_forward(x_t, h_prev, c_prev, p)
    dx_t, dh_prev, dc_prev, grads = L.lstm_cell_backward(dh_t, dc_t, cache)
    assert set(grads) == set(p)
    for name, analytic, wrt in [("dx_t", dx_t, x_t), ("dh_prev", dh_prev, h_prev), ("dc_prev", dc_prev, c_prev)] + [
        (f"d{k}", grads[k], p[k]) for k in p
    ]:
        assert rel_error(analytic, numerical_gradient(loss, wrt)) < 1e-7, name


@pytest.mark.parametrize("with_dc_last", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_sequence_backward_matches_numerical_gradient(shape, with_dc_last):
    rng = np.random.default_rng(11)
    T, N, D, H = shape
    x, h0, c0, p = make_sequence(rng, T, N, D, H)
    dh = rng.standard_normal((T, N, H))
    dc_last = rng.standard_normal((N, H)) if with_dc_last else None

    def loss():
        h, c, _ = L.lstm_forward(x, h0, c0, p)
        value = np.sum(dh * h)
        if dc_last is not None:
            value += np.sum(dc_last * c[-1])
        return value

    _, _, cache = L.lstm_forward(x, h0, c0, p)
    dx, dh0, dc0, grads = L.lstm_backward(dh, cache, dc_last)
    assert set(grads) == set(p)
    for name, analytic, wrt in [("dx", dx, x), ("dh0", dh0, h0), ("dc0", dc0, c0)] + [
        (f"d{k}", grads[k], p[k]) for k in p
    ]:
        assert rel_error(analytic, numerical_gradient(loss, wrt)) < 1e-7, name


# ---------------------------------------------------------------------------
# The fused training LSTM against the readable loop
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES + [(20, 4, 6, 7), (8, 16, 32, 24)])
def test_fast_path_agrees_with_the_readable_loop(shape):
    rng = np.random.default_rng(12)
    T, N, D, H = shape
    x, h0, c0, p = make_sequence(rng, T, N, D, H)
    dh = rng.standard_normal((T, N, H))
    dc_last = rng.standard_normal((N, H))
    h_loop, c_loop, cache_loop = L.lstm_forward(x, h0, c0, p)
    dx_loop, dh0_loop, dc0_loop, grads_loop = L.lstm_backward(dh, cache_loop, dc_last)

    h, c, cache = fast_lstm.lstm_forward(x, h0, c0, p)
    dx, dh0, dc0, grads = fast_lstm.lstm_backward(dh, cache, dc_last)
    tol = dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h, h_loop, **tol)
    np.testing.assert_allclose(c, c_loop, **tol)
    np.testing.assert_allclose(dx, dx_loop, **tol)
    np.testing.assert_allclose(dh0, dh0_loop, **tol)
    np.testing.assert_allclose(dc0, dc0_loop, **tol)
    assert set(grads) == set(p)
    for k in p:
        np.testing.assert_allclose(grads[k], grads_loop[k], err_msg=k, **tol)


def test_backward_does_not_consume_its_cache_or_inputs():
    rng = np.random.default_rng(13)
    x, h0, c0, p = make_sequence(rng, 4, 2, 3, 5)
    dh = rng.standard_normal((4, 2, 5))
    dc_last = rng.standard_normal((2, 5))
    dh_saved, dc_saved = dh.copy(), dc_last.copy()
    _, _, cache = L.lstm_forward(x, h0, c0, p)
    first = L.lstm_backward(dh, cache, dc_last)
    second = L.lstm_backward(dh, cache, dc_last)
    for a, b in zip(first[:3], second[:3]):
        np.testing.assert_array_equal(a, b)
    for k in p:
        np.testing.assert_array_equal(first[3][k], second[3][k])
    np.testing.assert_array_equal(dh, dh_saved)
    np.testing.assert_array_equal(dc_last, dc_saved)


@pytest.mark.parametrize("forward, backward, param_shapes", [
    (L.lstm_forward, L.lstm_backward, L.lstm_param_shapes),
    (fast_lstm.lstm_forward, fast_lstm.lstm_backward, L.lstm_param_shapes),
    (V.peephole_lstm_forward, V.peephole_lstm_backward, V.peephole_lstm_param_shapes),
    (V.cifg_lstm_forward, V.cifg_lstm_backward, V.cifg_lstm_param_shapes),
], ids=["lstm", "fast", "peephole", "cifg"])
def test_dc_last_none_means_zeros(forward, backward, param_shapes):
    rng = np.random.default_rng(14)
    x, h0, c0, _ = make_sequence(rng, 3, 2, 3, 4)
    p = {key: 0.5 * rng.standard_normal(shape) for key, shape in param_shapes(3, 4).items()}
    dh = rng.standard_normal((3, 2, 4))
    _, _, cache = forward(x, h0, c0, p)
    a = backward(dh, cache)
    b = backward(dh, cache, np.zeros((2, 4)))
    for u, v in zip(a[:3], b[:3]):
        np.testing.assert_array_equal(u, v)
    for key in p:
        np.testing.assert_array_equal(a[3][key], b[3][key])


# ---------------------------------------------------------------------------
# The constant error carousel
# ---------------------------------------------------------------------------


def test_open_forget_gate_and_closed_input_gate_keep_the_cell_state_for_1000_steps():
    # With W_f = W_i = 0 the gates see only their biases. In float64,
    # tanh(25) = 1 - 3.9e-22 rounds to exactly 1.0 (the gap below 1.0 is
    # 1.1e-16), so sigmoid(50) = (1 + tanh(25)) / 2 is exactly 1 and
    # sigmoid(-50) exactly 0: f = 1 and i = 0 hold exactly, not just nearly.
    # Then c_t = 1 * c_prev + 0 * c_tilde = c_prev exactly, so we can demand
    # bit-for-bit equality after 1000 steps.
    assert 0.5 * (1.0 + np.tanh(25.0)) == 1.0 and 0.5 * (1.0 + np.tanh(-25.0)) == 0.0
    rng = np.random.default_rng(20)
    T, N, D, H = 1000, 2, 3, 4
    x, h0, c0, p = make_sequence(rng, T, N, D, H)
    p["W_f"][:] = 0.0
    p["W_i"][:] = 0.0
    p["b_f"][:] = 50.0
    p["b_i"][:] = -50.0
    hx = np.hstack([h0, x[0]])
    assert np.all(L.forget_gate(hx, p) == 1.0)
    assert np.all(L.input_gate_and_candidate(hx, p)[0] == 0.0)

    h, c, cache = fast_lstm.lstm_forward(x, h0, c0, p)
    assert np.all(c == c0), "the fused training LSTM let the cell state drift"
    np.testing.assert_allclose(h[-1], textbook_cell(x[-1], h[-2], c0, p)[0], atol=1e-13)

    c_prev, h_prev = c0, h0
    for t in range(T):
        h_prev, c_prev, _ = L.lstm_cell_forward(x[t], h_prev, c_prev, p)
    assert np.all(c_prev == c0), "the readable cell let the cell state drift"

    # ... and the gradient on the cell state flows back unchanged.
    dc_last = rng.standard_normal((N, H))
    _, dh0, dc0, _ = fast_lstm.lstm_backward(np.zeros((T, N, H)), cache, dc_last)
    assert np.all(dc0 == dc_last)
    assert np.all(dh0 == 0.0)


# ---------------------------------------------------------------------------
# dtypes, parameters and errors
# ---------------------------------------------------------------------------


def test_float32_in_float32_out():
    rng = np.random.default_rng(30)
    T, N, D, H = 3, 2, 3, 4
    x, h0, c0, p = make_sequence(rng, T, N, D, H, dtype=np.float32)
    hx = np.hstack([h0, x[0]])
    f = L.forget_gate(hx, p)
    i, c_tilde = L.input_gate_and_candidate(hx, p)
    c_t = L.cell_update(f, c0, i, c_tilde)
    o, h_t = L.output_gate_and_hidden(hx, c_t, p)
    assert all(a.dtype == np.float32 for a in (f, i, c_tilde, c_t, o, h_t))

    h_t, c_t, cell_cache = L.lstm_cell_forward(x[0], h0, c0, p)
    assert h_t.dtype == c_t.dtype == np.float32
    dx_t, dh_prev, dc_prev, grads = L.lstm_cell_backward(np.ones_like(h_t), np.ones_like(c_t), cell_cache)
    assert dx_t.dtype == dh_prev.dtype == dc_prev.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())

    dh = rng.standard_normal((T, N, H)).astype(np.float32)
    p64 = {k: v.astype(np.float64) for k, v in p.items()}
    h64, _, cache64 = L.lstm_forward(x.astype(np.float64), h0.astype(np.float64), c0.astype(np.float64), p64)
    dx64 = L.lstm_backward(dh.astype(np.float64), cache64, np.ones((N, H)))[0]
    for module in (L, fast_lstm):
        h, c, cache = module.lstm_forward(x, h0, c0, p)
        assert h.dtype == c.dtype == np.float32
        dx, dh0, dc0, grads = module.lstm_backward(dh, cache, np.ones((N, H), np.float32))
        assert dx.dtype == dh0.dtype == dc0.dtype == np.float32
        assert all(g.dtype == np.float32 for g in grads.values())
        # and it is the same computation, to float32 precision
        np.testing.assert_allclose(h, h64, atol=1e-5)
        np.testing.assert_allclose(dx, dx64, atol=1e-4)


def test_param_shapes_and_init():
    assert L.lstm_param_shapes(3, 5) == {
        "W_f": (5, 8), "b_f": (5,), "W_i": (5, 8), "b_i": (5,),
        "W_c": (5, 8), "b_c": (5,), "W_o": (5, 8), "b_o": (5,),
    }
    state = np.random.get_state()[1].copy()
    p = L.init_lstm_params(3, 5, np.random.default_rng(0))
    q = L.init_lstm_params(3, 5, np.random.default_rng(0), forget_bias=2.0, dtype=np.float32)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # the global generator is untouched
    assert {k: v.shape for k, v in p.items()} == L.lstm_param_shapes(3, 5)
    assert all(v.dtype == np.float64 for v in p.values())
    assert all(v.dtype == np.float32 for v in q.values())
    np.testing.assert_array_equal(p["b_f"], np.ones(5))
    np.testing.assert_array_equal(q["b_f"], np.full(5, 2.0, np.float32))
    for g in ("i", "c", "o"):
        np.testing.assert_array_equal(p[f"b_{g}"], np.zeros(5))
    weights = [p[f"W_{g}"] for g in GATES]
    assert all(not np.allclose(a, b) for k, a in enumerate(weights) for b in weights[k + 1:])
    np.testing.assert_array_equal(L.init_lstm_params(3, 5, np.random.default_rng(0))["W_o"], p["W_o"])


def test_a_step_checks_its_arguments_once_and_a_gate_on_its_own_checks_too(monkeypatch):
    rng = np.random.default_rng(35)
    x, h0, c0, p = make_sequence(rng, 6, 2, 3, 4)
    checked = []
    check_params = L.check_params
    monkeypatch.setattr(L, "check_params", lambda *args: checked.append(args[2]) or check_params(*args))
    L.lstm_cell_forward(x[0], h0, c0, p)
    assert checked == ["LSTM"]  # not once more per gate
    checked.clear()
    _, _, cache = L.lstm_forward(x, h0, c0, p)
    assert checked == ["LSTM"]  # not once more per step
    checked.clear()
    L.forget_gate(np.hstack([h0, x[0]]), p)
    assert checked == ["LSTM"]


def test_a_gate_on_its_own_names_a_wrong_argument():
    rng = np.random.default_rng(36)
    x, h0, c0, p = make_sequence(rng, 1, 2, 3, 4)  # D = 3, H = 4: W is (4, 7)
    hx = np.hstack([h0, x[0]])
    with pytest.raises(ValueError, match=r"params\['W_f'\] has shape \(4, 7\), expected \(4, 6\)"):
        L.forget_gate(hx[:, :6], p)
    with pytest.raises(ValueError, match=r"hx has shape \(7,\), expected \(N, H \+ D\)"):
        L.input_gate_and_candidate(hx[0], p)
    with pytest.raises(ValueError, match=r"c_t has shape \(2, 3\), expected \(2, 4\)"):
        L.output_gate_and_hidden(hx, c0[:, :3], p)
    with pytest.raises(ValueError, match=r"i has shape \(2, 3\), expected \(2, 4\)"):
        L.cell_update(c0, c0, c0[:, :3], c0)


def test_checks_resume_after_an_error_inside_a_checked_call():
    rng = np.random.default_rng(37)
    x, h0, c0, p = make_sequence(rng, 2, 2, 3, 4)
    _, _, cache = L.lstm_forward(x, h0, c0, p)
    broken = {"steps": [{**step, "params": {}} for step in cache["steps"]]}
    with pytest.raises(KeyError):  # raised inside lstm_backward, where the cell's checks are skipped
        L.lstm_backward(np.zeros((2, 2, 4)), broken)
    with pytest.raises(ValueError, match="hx has shape"):  # outside again: checked
        L.forget_gate(np.ones(7), p)


def test_checked_by_refuses_a_check_with_other_parameters():
    from lstm_helpers._validate import checked_by

    def check(x, y):
        return x, y

    with pytest.raises(TypeError, match=r"check\(x, y\) does not take the parameters of f\(x, z=1\)"):
        @checked_by(check)
        def f(x, z=1):
            return x


def test_missing_key_is_named():
    rng = np.random.default_rng(31)
    x, h0, c0, p = make_sequence(rng, 2, 2, 3, 4)
    del p["W_o"]
    for call in (lambda: L.lstm_cell_forward(x[0], h0, c0, p), lambda: L.lstm_forward(x, h0, c0, p),
                 lambda: L.output_gate_and_hidden(np.hstack([h0, x[0]]), c0, p)):
        with pytest.raises(ValueError, match="'W_o'"):
            call()


@pytest.mark.parametrize("key, bad_shape, expected", [
    ("W_f", (4, 8), r"params\['W_f'\] has shape \(4, 8\), expected \(4, 7\)"),
    ("W_c", (7, 4), r"params\['W_c'\] has shape \(7, 4\), expected \(4, 7\)"),
    ("b_i", (4, 1), r"params\['b_i'\] has shape \(4, 1\), expected \(4,\)"),
    ("b_o", (3,), r"params\['b_o'\] has shape \(3,\), expected \(4,\)"),
])
def test_wrong_param_shape_names_key_and_expected_shape(key, bad_shape, expected):
    rng = np.random.default_rng(32)
    x, h0, c0, p = make_sequence(rng, 2, 2, 3, 4)  # D = 3, H = 4: W is (4, 7)
    p[key] = np.zeros(bad_shape)
    with pytest.raises(ValueError, match=expected):
        L.lstm_forward(x, h0, c0, p)
    with pytest.raises(ValueError, match=expected):
        L.lstm_cell_forward(x[0], h0, c0, p)


def test_wrong_state_shapes_are_named():
    rng = np.random.default_rng(33)
    x, h0, c0, p = make_sequence(rng, 2, 2, 3, 4)
    with pytest.raises(ValueError, match=r"h0 has shape \(3, 4\), expected \(2, 4\)"):
        L.lstm_forward(x, np.zeros((3, 4)), c0, p)
    with pytest.raises(ValueError, match=r"c_prev has shape \(2, 5\), expected \(2, 4\)"):
        L.lstm_cell_forward(x[0], h0, np.zeros((2, 5)), p)
    with pytest.raises(ValueError, match="x has shape"):
        L.lstm_forward(x[0], h0, c0, p)


def test_dh_with_wrong_length_names_the_mismatch():
    rng = np.random.default_rng(34)
    x, h0, c0, p = make_sequence(rng, 10, 2, 3, 4)
    _, _, cache = L.lstm_forward(x, h0, c0, p)
    with pytest.raises(ValueError, match=r"^dh has shape \(7, 2, 4\), expected \(10, 2, 4\): 7 time steps, but the forward pass ran 10$"):
        L.lstm_backward(np.zeros((7, 2, 4)), cache)
    with pytest.raises(ValueError, match=r"dh has shape \(10, 2, 5\), expected \(10, 2, 4\)"):
        L.lstm_backward(np.zeros((10, 2, 5)), cache)
    with pytest.raises(ValueError, match=r"dc_last has shape \(2, 5\), expected \(2, 4\)"):
        L.lstm_backward(np.zeros((10, 2, 4)), cache, np.zeros((2, 5)))


# ---------------------------------------------------------------------------
# Exercise checks
# ---------------------------------------------------------------------------

EXERCISE_NAMES = ["lstm_gates", "lstm_cell_forward", "lstm_forward", "forget_bias_to_keep", "lstm_cell_backward",
                  "lstm_backward"]


def test_every_exercise_is_registered_and_blocks_its_reference():
    functions = [ex for ex in lstm_checks.EXERCISES if ex.kind == "function"]
    assert [ex.name for ex in functions] == EXERCISE_NAMES
    for ex in lstm_checks.EXERCISES:
        assert exercises.EXERCISES[ex.name] is ex
    for ex in functions:
        if hasattr(L, ex.name):  # the exercise's reference is the course's own function
            assert ex.block == (f"lstm_helpers.lstm:{ex.name}",)
            assert ex.reference is getattr(L, ex.name)
    # the gates exercise stands for the one-equation references, and blocks each of them
    assert {f"lstm_helpers.lstm:{name}" for name in ("forget_gate", "input_gate_and_candidate",
                                                     "output_gate_and_hidden")} <= set(
        exercises.EXERCISES["lstm_gates"].block)


@pytest.mark.parametrize("name", ["lstm_cell_forward", "lstm_backward"])
def test_hidden_check_rejects_a_call_to_the_reference(name):
    with pytest.raises(AssertionError, match="calls the course's reference"):
        hidden_check(name, getattr(L, name), trials=1)


def test_required_mistakes_are_covered():
    messages = {ex.name: " | ".join(m.message for m in ex.mistakes) for ex in lstm_checks.EXERCISES}
    cell = messages["lstm_cell_forward"]
    for phrase in ["forget and input gates are swapped", "input and output gates are swapped",
                   "forget and output gates are swapped", "wrong order", "uses c_prev where",
                   "tanh on the cell state is missing", "sigmoid used where tanh belongs in the candidate"]:
        assert phrase in cell, phrase
    for g in GATES:
        assert f"bias b_{g}" in cell
    for gate in ("forget gate f", "input gate i", "output gate o"):
        assert f"tanh used where sigmoid belongs in the {gate}" in cell
    assert "forget-gate factor" in messages["lstm_cell_backward"]
    assert "path from dh_t into the cell state is missing" in messages["lstm_cell_backward"]
    for phrase in ["cell-state gradient from the future is dropped", "off by one", "not accumulated"]:
        assert phrase in messages["lstm_backward"], phrase


def test_a_wrong_answer_without_a_known_mistake_gets_a_generic_message():
    def scaled(x_t, h_prev, c_prev, params):
        h_t, c_t, cache = L.lstm_cell_forward(x_t, h_prev, c_prev, params)
        return h_t, 1.01 * c_t, cache

    with pytest.raises(CheckFailed, match="c_t is wrong while h_t is right"):
        run_exercise(exercises.EXERCISES["lstm_cell_forward"], scaled)
