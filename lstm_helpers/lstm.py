"""Chapter 04: the LSTM cell, the sequence forward pass and its backward pass.

Every gate reads the concatenation ``hx = [h_{t-1}, x_t]`` (hidden state first)::

    f_t  = sigmoid(W_f · hx + b_f)          forget gate
    i_t  = sigmoid(W_i · hx + b_i)          input gate
    c̃_t  = tanh(W_c · hx + b_c)             candidate cell state
    c_t  = f_t * c_{t-1} + i_t * c̃_t        cell update
    o_t  = sigmoid(W_o · hx + b_o)          output gate
    h_t  = o_t * tanh(c_t)                 hidden state

Parameters: ``W_f, W_i, W_c, W_o: (H, H + D)`` and ``b_f, b_i, b_c, b_o: (H,)``.
Sequences are time-major: ``x: (T, N, D)``; returned states ``h, c: (T, N, H)``.

The cell (``lstm_cell_forward`` / ``lstm_cell_backward``) is written the way
the equations read, one gate at a time, and the sequence functions
(``lstm_forward`` / ``lstm_backward``) are the loops over it that the
notebook builds. Training uses a fused version of the sequence functions,
:mod:`lstm_helpers.experiment.fast_lstm`, which computes the same numbers.
"""

import numpy as np

from ._validate import as_float_array, check_params, check_shape, hidden_size
from .feedforward import sigmoid, sigmoid_grad, tanh_grad

GATES = ("f", "i", "c", "o")  # forget, input, candidate, output


def lstm_param_shapes(D, H):
    """``{key: shape}`` of the LSTM parameters for input size D and hidden size H."""
    shapes = {}
    for g in GATES:
        shapes[f"W_{g}"] = (H, H + D)
        shapes[f"b_{g}"] = (H,)
    return shapes


def init_lstm_params(D, H, rng, forget_bias=1.0, dtype=np.float64):
    """Random LSTM parameters; ``rng`` is a ``numpy.random.Generator``.

    Weights are N(0, 1 / (H + D)), a different draw for every gate. Biases are
    0 except ``b_f = forget_bias`` (1 by default), so that a fresh cell starts
    out remembering: f = sigmoid(1) ≈ 0.73 (Gers et al. 2000; Jozefowicz et al. 2015).
    """
    scale = 1.0 / np.sqrt(H + D)
    params = {}
    for g in GATES:
        params[f"W_{g}"] = (scale * rng.standard_normal((H, H + D))).astype(dtype)
        params[f"b_{g}"] = np.zeros(H, dtype=dtype)
    params["b_f"] += forget_bias
    return params


def check_lstm_params(params, D):
    """Validate LSTM parameters for input size D; returns ``(params as float arrays, H)``."""
    H = hidden_size(params, "b_f", "LSTM")
    return check_params(params, lstm_param_shapes(D, H), "LSTM"), H


def _gate_params(params, hx, *gates):
    """Validate the weights of ``gates`` against ``hx: (N, H + D)``; return them as a dict."""
    hx = as_float_array("hx", hx)
    check_shape("hx", hx, ("N", "H + D"))
    H = hidden_size(params, f"b_{gates[0]}", "LSTM")
    shapes = {}
    for g in gates:
        shapes[f"W_{g}"] = (H, hx.shape[1])
        shapes[f"b_{g}"] = (H,)
    return hx, check_params(params, shapes, "LSTM")


# ---------------------------------------------------------------------------
# The cell, one equation at a time
# ---------------------------------------------------------------------------


def forget_gate(hx, params):
    """Forget gate f = sigmoid(hx @ W_f.T + b_f): how much of c_prev to keep.

    hx: (N, H + D), the concatenation [h_prev, x_t]; params: W_f (H, H + D), b_f (H,)
    Returns f: (N, H), every entry in (0, 1).
    """
    hx, p = _gate_params(params, hx, "f")
    return sigmoid(hx @ p["W_f"].T + p["b_f"])


def input_gate_and_candidate(hx, params):
    """Input gate i and candidate c_tilde: what to write into the cell.

    i = sigmoid(hx @ W_i.T + b_i), c_tilde = tanh(hx @ W_c.T + b_c)
    hx: (N, H + D); params: W_i, W_c (H, H + D), b_i, b_c (H,)
    Returns i: (N, H) in (0, 1) and c_tilde: (N, H) in (-1, 1).
    """
    hx, p = _gate_params(params, hx, "i", "c")
    i = sigmoid(hx @ p["W_i"].T + p["b_i"])
    c_tilde = np.tanh(hx @ p["W_c"].T + p["b_c"])
    return i, c_tilde


def cell_update(f, c_prev, i, c_tilde):
    """New cell state c_t = f * c_prev + i * c_tilde (all arrays (N, H)).

    Forget part of the old memory, add the gated candidate.
    """
    return f * c_prev + i * c_tilde


def output_gate_and_hidden(hx, c_t, params):
    """Output gate o and hidden state h_t: what the cell shows.

    o = sigmoid(hx @ W_o.T + b_o), h_t = o * tanh(c_t)
    hx: (N, H + D), c_t: (N, H); params: W_o (H, H + D), b_o (H,)
    Returns o: (N, H) and h_t: (N, H).
    """
    hx, p = _gate_params(params, hx, "o")
    o = sigmoid(hx @ p["W_o"].T + p["b_o"])
    h_t = o * np.tanh(c_t)
    return o, h_t


def lstm_cell_forward(x_t, h_prev, c_prev, params):
    """One LSTM step.

    x_t: (N, D), h_prev: (N, H), c_prev: (N, H)
    params: W_f, W_i, W_c, W_o (H, H + D); b_f, b_i, b_c, b_o (H,)
    Returns h_t: (N, H), c_t: (N, H) and a cache for ``lstm_cell_backward``,
    a dict with these keys:

        "hx"       (N, H + D)  [h_prev, x_t]
        "c_prev"  (N, H)      previous cell state
        "f", "i", "o"  (N, H) the three sigmoid gates
        "c_tilde" (N, H)      the candidate
        "c_t"     (N, H)      new cell state
        "tanh_c"  (N, H)      tanh(c_t)
        "params"  dict        the parameters (same keys as ``params``)
    """
    x_t = as_float_array("x_t", x_t)
    check_shape("x_t", x_t, ("N", "D"))
    N, D = x_t.shape
    p, H = check_lstm_params(params, D)
    h_prev = check_shape("h_prev", as_float_array("h_prev", h_prev), (N, H))
    c_prev = check_shape("c_prev", as_float_array("c_prev", c_prev), (N, H))

    hx = np.concatenate([h_prev, x_t], axis=1)  # (N, H + D): hidden state first
    f = forget_gate(hx, p)
    i, c_tilde = input_gate_and_candidate(hx, p)
    c_t = cell_update(f, c_prev, i, c_tilde)
    o, h_t = output_gate_and_hidden(hx, c_t, p)

    cache = {"hx": hx, "c_prev": c_prev, "f": f, "i": i, "c_tilde": c_tilde, "o": o,
             "c_t": c_t, "tanh_c": np.tanh(c_t), "params": p}
    return h_t, c_t, cache


def lstm_cell_backward(dh_t, dc_t, cache):
    """Backward pass of one LSTM step.

    dh_t: (N, H), the gradient on h_t; dc_t: (N, H), the gradient on c_t
    arriving from outside this step (from step t + 1; zeros at the end).
    cache: the dict from ``lstm_cell_forward``.
    Returns dx_t: (N, D), dh_prev: (N, H), dc_prev: (N, H) and grads with
    the keys of ``params``: dW_* (H, H + D) under "W_*", db_* (H,) under "b_*".
    """
    hx, c_prev, p = cache["hx"], cache["c_prev"], cache["params"]
    f, i, c_tilde, o, tanh_c = cache["f"], cache["i"], cache["c_tilde"], cache["o"], cache["tanh_c"]
    dh_t = check_shape("dh_t", as_float_array("dh_t", dh_t), f.shape)
    dc_t = check_shape("dc_t", as_float_array("dc_t", dc_t), f.shape)
    H = f.shape[1]

    # h_t = o * tanh(c_t): one path into o, one into c_t.
    do = dh_t * tanh_c
    dc = dc_t + dh_t * o * tanh_grad(tanh_c)  # total gradient on c_t
    # c_t = f * c_prev + i * c_tilde
    df = dc * c_prev
    di = dc * c_tilde
    dc_tilde = dc * i
    dc_prev = dc * f
    # back through the activations to the pre-activations a = hx @ W.T + b
    da = {"f": df * sigmoid_grad(f), "i": di * sigmoid_grad(i),
          "c": dc_tilde * tanh_grad(c_tilde), "o": do * sigmoid_grad(o)}

    dhx = sum(da[g] @ p[f"W_{g}"] for g in GATES)  # (N, H + D)
    grads = {}
    for g in GATES:
        grads[f"W_{g}"] = da[g].T @ hx
        grads[f"b_{g}"] = da[g].sum(axis=0)
    return dhx[:, H:], dhx[:, :H], dc_prev, grads


# ---------------------------------------------------------------------------
# The sequence: the cell in a loop
# ---------------------------------------------------------------------------


def lstm_forward(x, h0, c0, params):
    """Run the LSTM over a whole sequence.

    x: (T, N, D), h0: (N, H), c0: (N, H); params as for ``lstm_cell_forward``.
    Returns h: (T, N, H) and c: (T, N, H), the states after every step (h[t]
    is the state after reading x[t]), and cache = {"steps": [cell cache of
    step 0, ..., of step T - 1]}.
    """
    x = as_float_array("x", x)
    check_shape("x", x, ("T", "N", "D"))
    T, N, D = x.shape
    _, H = check_lstm_params(params, D)
    h0 = check_shape("h0", as_float_array("h0", h0), (N, H))
    c0 = check_shape("c0", as_float_array("c0", c0), (N, H))
    h = np.zeros((T, N, H), dtype=np.result_type(x, h0, c0))
    c = np.zeros_like(h)
    steps = []
    h_prev, c_prev = h0, c0
    for t in range(T):
        h_prev, c_prev, step = lstm_cell_forward(x[t], h_prev, c_prev, params)
        h[t], c[t] = h_prev, c_prev
        steps.append(step)
    return h, c, {"steps": steps}


def lstm_backward(dh, cache, dc_last=None):
    """Backpropagation through time for ``lstm_forward``.

    dh: (T, N, H), the upstream gradient on every returned hidden state.
    dc_last: (N, H), the gradient on the final cell state c[T - 1]; zeros if None.
    Returns dx: (T, N, D), dh0: (N, H), dc0: (N, H) and grads with the keys
    of ``params`` (dW_* (H, H + D), db_* (H,)), summed over time.
    """
    steps = cache["steps"]
    dh = as_float_array("dh", dh)
    T, (N, H) = len(steps), steps[0]["f"].shape
    if dh.ndim == 3 and dh.shape[0] != T:
        raise ValueError(f"dh has {dh.shape[0]} time steps but the forward pass ran {T}")
    check_shape("dh", dh, (T, N, H))
    dx = np.zeros((T, N, steps[0]["hx"].shape[1] - H), dtype=dh.dtype)
    grads = {key: np.zeros_like(value) for key, value in steps[0]["params"].items()}
    dh_next = np.zeros((N, H), dtype=dh.dtype)  # gradient on h_t arriving from step t + 1
    dc_next = (np.zeros((N, H), dtype=dh.dtype) if dc_last is None
               else check_shape("dc_last", as_float_array("dc_last", dc_last), (N, H)))
    for t in reversed(range(T)):
        dx[t], dh_next, dc_next, step_grads = lstm_cell_backward(dh[t] + dh_next, dc_next, steps[t])
        for key in grads:
            grads[key] += step_grads[key]
    return dx, dh_next, dc_next, grads
