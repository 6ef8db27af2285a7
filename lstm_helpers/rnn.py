"""Chapter 02: the vanilla (Elman) RNN and backpropagation through time.

    h_t = tanh(W_h · [h_{t-1}, x_t] + b_h)

Parameters: ``W_h: (H, H + D)``, ``b_h: (H,)``. Sequences are time-major:
``x: (T, N, D)``, returned hidden states ``h: (T, N, H)``.
"""

import numpy as np

from ._validate import as_float_array, check_params, check_shape, hidden_size
from .feedforward import tanh_grad


def rnn_param_shapes(D, H):
    """``{key: shape}`` of the RNN parameters for input size D and hidden size H."""
    return {"W_h": (H, H + D), "b_h": (H,)}


def init_rnn_params(D, H, rng, scale=None, dtype=np.float64):
    """Random RNN parameters; ``rng`` is a ``numpy.random.Generator``.

    Weights are N(0, scale^2) with ``scale = 1 / sqrt(H + D)`` by default; biases are 0.
    """
    scale = 1.0 / np.sqrt(H + D) if scale is None else scale
    return {
        "W_h": (scale * rng.standard_normal((H, H + D))).astype(dtype),
        "b_h": np.zeros(H, dtype=dtype),
    }


def _check_rnn_params(params, D):
    H = hidden_size(params, "b_h", "RNN")
    return check_params(params, rnn_param_shapes(D, H), "RNN"), H


def rnn_cell_forward(x_t, h_prev, params):
    """One RNN step.

    x_t: (N, D), h_prev: (N, H), params: W_h (H, H + D), b_h (H,)
    Returns h_t: (N, H) and a cache for ``rnn_cell_backward``.
    """
    x_t = as_float_array("x_t", x_t)
    check_shape("x_t", x_t, ("N", "D"))
    N, D = x_t.shape
    p, H = _check_rnn_params(params, D)
    h_prev = as_float_array("h_prev", h_prev)
    check_shape("h_prev", h_prev, (N, H))

    hx = np.concatenate([h_prev, x_t], axis=1)  # (N, H + D): hidden state first
    h_t = np.tanh(hx @ p["W_h"].T + p["b_h"])
    cache = {"hx": hx, "h_t": h_t, "W_h": p["W_h"]}
    return h_t, cache


def rnn_cell_backward(dh_t, cache):
    """Backward pass of one RNN step.

    dh_t: (N, H), the gradient on h_t.
    Returns dx_t: (N, D), dh_prev: (N, H) and grads {W_h: (H, H + D), b_h: (H,)}.
    """
    hx, h_t, W_h = cache["hx"], cache["h_t"], cache["W_h"]
    dh_t = as_float_array("dh_t", dh_t)
    check_shape("dh_t", dh_t, h_t.shape)
    H = h_t.shape[1]

    da = dh_t * tanh_grad(h_t)  # gradient before the tanh, (N, H)
    dhx = da @ W_h  # (N, H + D)
    grads = {"W_h": da.T @ hx, "b_h": da.sum(axis=0)}
    return dhx[:, H:], dhx[:, :H], grads


def rnn_forward(x, h0, params):
    """Run the RNN over a whole sequence.

    x: (T, N, D), h0: (N, H)
    Returns h: (T, N, H), the hidden state after every step, and a cache.
    """
    x = as_float_array("x", x)
    check_shape("x", x, ("T", "N", "D"))
    T, N, D = x.shape
    _, H = _check_rnn_params(params, D)
    h0 = as_float_array("h0", h0)
    check_shape("h0", h0, (N, H))

    h = np.zeros((T, N, H), dtype=np.result_type(x, h0, params["W_h"]))
    h_prev, steps = h0, []
    for t in range(T):
        h_prev, step_cache = rnn_cell_forward(x[t], h_prev, params)
        h[t] = h_prev
        steps.append(step_cache)
    return h, {"steps": steps, "D": D}


def rnn_backward(dh, cache):
    """Backpropagation through time.

    dh: (T, N, H), the upstream gradient on every returned hidden state.
    Returns dx: (T, N, D), dh0: (N, H) and grads {W_h, b_h} summed over time.
    """
    steps, D = cache["steps"], cache["D"]
    dh = as_float_array("dh", dh)
    T = len(steps)
    N, H = steps[0]["h_t"].shape
    check_shape("dh", dh, (T, N, H))

    dx = np.zeros((T, N, D), dtype=dh.dtype)
    grads = {"W_h": np.zeros((H, H + D), dtype=dh.dtype), "b_h": np.zeros(H, dtype=dh.dtype)}
    dh_next = np.zeros((N, H), dtype=dh.dtype)  # gradient arriving from step t + 1
    for t in reversed(range(T)):
        dx[t], dh_next, step_grads = rnn_cell_backward(dh[t] + dh_next, steps[t])
        for key in grads:
            grads[key] += step_grads[key]  # the same weights act at every step
    return dx, dh_next, grads
