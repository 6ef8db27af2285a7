"""Chapter 02: the vanilla (Elman) RNN and backpropagation through time.

    h_t = tanh(W_h · [h_{t-1}, x_t] + b_h)

Parameters: ``W_h: (H, H + D)``, ``b_h: (H,)``. Sequences are time-major:
``x: (T, N, D)``, returned hidden states ``h: (T, N, H)``. Each public
function checks its arguments where a caller enters it (``@checked_by``, see
:mod:`lstm_helpers._validate`); the loop's calls to the cell skip the check.
"""

import numpy as np

from ._validate import check_params, checked_by, float_array, hidden_size, sequence, upstream_gradient
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


# -- argument checks, made once where a caller enters ---------------------------------------------

def check_rnn_params(params, D):
    """Validate RNN parameters for input size D; returns ``(params as float arrays, H)``."""
    H = hidden_size(params, "b_h", "RNN")
    return check_params(params, rnn_param_shapes(D, H), "RNN"), H


def _check_cell(x_t, h_prev, params):
    x_t = float_array("x_t", x_t, ("N", "D"))
    N, D = x_t.shape
    params, H = check_rnn_params(params, D)
    return x_t, float_array("h_prev", h_prev, (N, H)), params


def _check_cell_backward(dh_t, cache):
    return float_array("dh_t", dh_t, cache["h_t"].shape), cache


def check_rnn_sequence(x, h0, params):
    """Validate the arguments of ``rnn_forward``; returns them as float arrays."""
    x = sequence("x", x)
    _, N, D = x.shape
    params, H = check_rnn_params(params, D)
    return x, float_array("h0", h0, (N, H)), params


def _check_sequence_backward(dh, cache):
    steps = cache["steps"]
    return upstream_gradient("dh", dh, (len(steps), *steps[0]["h_t"].shape)), cache


# -- the cell and the sequence --------------------------------------------------------------------

@checked_by(_check_cell)
def rnn_cell_forward(x_t, h_prev, params):
    """One RNN step.

    x_t: (N, D), h_prev: (N, H), params: W_h (H, H + D), b_h (H,)
    Returns h_t: (N, H) and a cache for ``rnn_cell_backward``:
    {"hx": [h_prev, x_t] (N, H + D), "h_t": (N, H), "W_h": (H, H + D)}.
    """
    hx = np.concatenate([h_prev, x_t], axis=1)  # (N, H + D): hidden state first
    h_t = np.tanh(hx @ params["W_h"].T + params["b_h"])
    cache = {"hx": hx, "h_t": h_t, "W_h": params["W_h"]}
    return h_t, cache


@checked_by(_check_cell_backward)
def rnn_cell_backward(dh_t, cache):
    """Backward pass of one RNN step.

    dh_t: (N, H), the gradient on h_t.
    Returns dx_t: (N, D), dh_prev: (N, H) and grads {W_h: (H, H + D), b_h: (H,)}.
    """
    hx, h_t, W_h = cache["hx"], cache["h_t"], cache["W_h"]
    H = h_t.shape[1]

    da = dh_t * tanh_grad(h_t)  # gradient before the tanh, (N, H)
    dhx = da @ W_h  # (N, H + D)
    grads = {"W_h": da.T @ hx, "b_h": da.sum(axis=0)}
    return dhx[:, H:], dhx[:, :H], grads


@checked_by(check_rnn_sequence)
def rnn_forward(x, h0, params):
    """Run the RNN over a whole sequence.

    x: (T, N, D), h0: (N, H)
    Returns h: (T, N, H), the hidden state after every step, and a cache
    {"steps": [cell cache of step 0, ..., of step T - 1], "D": D}.
    """
    T, N, D = x.shape
    h = np.zeros((T, N, h0.shape[1]), dtype=np.result_type(x, h0, params["W_h"]))
    h_prev, steps = h0, []
    for t in range(T):
        h_prev, step_cache = rnn_cell_forward(x[t], h_prev, params)
        h[t] = h_prev
        steps.append(step_cache)
    return h, {"steps": steps, "D": D}


@checked_by(_check_sequence_backward)
def rnn_backward(dh, cache):
    """Backpropagation through time.

    dh: (T, N, H), the upstream gradient on every returned hidden state.
    Returns dx: (T, N, D), dh0: (N, H) and grads {W_h, b_h} summed over time.
    """
    steps, D = cache["steps"], cache["D"]
    T, N, H = dh.shape
    dx = np.zeros((T, N, D), dtype=dh.dtype)
    grads = {"W_h": np.zeros((H, H + D), dtype=dh.dtype), "b_h": np.zeros(H, dtype=dh.dtype)}
    dh_next = np.zeros((N, H), dtype=dh.dtype)  # gradient arriving from step t + 1
    for t in reversed(range(T)):
        dx[t], dh_next, step_grads = rnn_cell_backward(dh[t] + dh_next, steps[t])
        for key in grads:
            grads[key] += step_grads[key]  # the same weights act at every step
    return dx, dh_next, grads
