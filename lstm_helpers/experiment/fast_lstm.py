"""A fused LSTM for training: the same numbers as the readable loop in :mod:`lstm_helpers.lstm`, faster.

Chapter 06 and 07 train LSTMs for thousands of steps, so training uses this
version of ``lstm_forward`` / ``lstm_backward`` (same signatures, same
results up to rounding; ``tests/test_fast_lstm.py`` keeps them equal). It
is organised for speed, not for reading:

* the four gates are stacked into one ``(4H, H + D)`` matrix in the order
  f, i, o, c (the three sigmoid gates first);
* the input projection of all time steps is one matrix product, and each
  step does one product with the hidden state;
* ``sigmoid(a) = 0.5 + 0.5 * tanh(a / 2)``, so one ``tanh`` serves all four
  gates; results go into preallocated buffers (``out=``);
* the weight gradients of all steps are one product at the end.

Learners: read :func:`lstm_helpers.lstm.lstm_forward` instead; it is the loop
the notebook builds.
"""

import numpy as np

from .._validate import checked_by, float_array, upstream_gradient
from ..lstm import lstm_param_shapes, sequence_arguments

# The gates are stacked as the rows of one (4H, H + D) matrix, in the order
# f, i, o, c: the three sigmoid gates first.
_STACK = ("f", "i", "o", "c")


def _split(a, H):
    """The four gate blocks (f, i, o, c) of the last axis of a stacked array, as views."""
    return a[..., :H], a[..., H: 2 * H], a[..., 2 * H: 3 * H], a[..., 3 * H:]


def _check_backward(dh, cache, dc_last=None):
    T, N, H = cache["tanh_c"].shape
    dh = upstream_gradient("dh", dh, (T, N, H))
    return dh, cache, None if dc_last is None else float_array("dc_last", dc_last, (N, H))


@checked_by(sequence_arguments(lstm_param_shapes, "LSTM"))
def lstm_forward(x, h0, c0, params):
    """Run the LSTM over a whole sequence (fused; see the module docstring).

    x: (T, N, D), h0: (N, H), c0: (N, H); params as for ``lstm_cell_forward``.
    Returns h: (T, N, H) and c: (T, N, H), the states after every step, and a
    cache for this module's ``lstm_backward`` (stacked buffers, not the
    readable loop's list of step caches).
    """
    (T, N, D), H, p = x.shape, h0.shape[1], params
    dtype = np.result_type(x, h0, c0, *p.values())

    W = np.concatenate([p[f"W_{g}"] for g in _STACK]).astype(dtype, copy=False)  # (4H, H + D)
    b = np.concatenate([p[f"b_{g}"] for g in _STACK]).astype(dtype, copy=False)  # (4H,)
    # sigmoid(a) = 0.5 + 0.5 * tanh(a / 2): halving the sigmoid rows (exact in
    # floating point) lets one tanh serve all four gates; then the gate
    # values are tanh * half + shift (half = 0.5, shift = 0.5 for f, i, o;
    # 1 and 0 for the candidate).
    half = np.ones(4 * H, dtype=dtype)
    half[: 3 * H] = 0.5
    shift = np.where(half == 0.5, half, 0.0).astype(dtype)
    W_hT = np.ascontiguousarray((half[:, None] * W[:, :H]).T)  # (H, 4H)
    W_xT = (half[:, None] * W[:, H:]).T  # (D, 4H)

    # gates[t]: first the pre-activations, then the gate values f, i, o, c_tilde
    gates = np.empty((T, N, 4 * H), dtype=dtype)
    np.dot(x.reshape(T * N, D).astype(dtype, copy=False), W_xT, out=gates.reshape(T * N, 4 * H))
    gates += half * b  # the x_t part of every step in one product
    h = np.empty((T, N, H), dtype=dtype)
    c_all = np.empty((T + 1, N, H), dtype=dtype)  # c_all[t] = c_{t-1}, so c_all[0] = c0
    c_all[0] = c0
    tanh_c = np.empty((T, N, H), dtype=dtype)
    hW, ic = np.empty((N, 4 * H), dtype=dtype), np.empty((N, H), dtype=dtype)

    h_prev = h0.astype(dtype, copy=False)
    for t in range(T):
        g, c_prev, c_t = gates[t], c_all[t], c_all[t + 1]
        np.dot(h_prev, W_hT, out=hW)  # the h_prev part, all four gates at once
        g += hW
        np.tanh(g, out=g)
        g *= half
        g += shift
        f, i, o, c_tilde = _split(g, H)
        np.multiply(f, c_prev, out=c_t)  # c_t = f * c_prev + i * c_tilde
        np.multiply(i, c_tilde, out=ic)
        c_t += ic
        np.tanh(c_t, out=tanh_c[t])
        np.multiply(o, tanh_c[t], out=h[t])  # h_t = o * tanh(c_t)
        h_prev = h[t]

    hx = np.empty((T, N, H + D), dtype=dtype)  # hx[t] = [h_{t-1}, x_t], for the weight gradients
    hx[0, :, :H] = h0
    hx[1:, :, :H] = h[:-1]
    hx[:, :, H:] = x
    cache = {"hx": hx, "gates": gates, "c_all": c_all, "tanh_c": tanh_c, "W": W, "params": p}
    return h, c_all[1:].copy(), cache


@checked_by(_check_backward)
def lstm_backward(dh, cache, dc_last=None):
    """Backpropagation through time for ``lstm_forward``.

    dh: (T, N, H), the upstream gradient on every returned hidden state.
    dc_last: (N, H), the gradient on the final cell state c[T - 1]; zeros if None.
    Returns dx: (T, N, D), dh0: (N, H), dc0: (N, H) and grads with the keys
    of ``params`` (dW_* (H, H + D), db_* (H,)), summed over time.
    """
    hx, gates, c_all, tanh_c, W = cache["hx"], cache["gates"], cache["c_all"], cache["tanh_c"], cache["W"]
    T, N, H = tanh_c.shape
    D = hx.shape[2] - H
    dtype = np.result_type(dh, hx)
    dc_next = np.zeros((N, H), dtype=dtype)  # gradient on c_t arriving from step t + 1
    if dc_last is not None:
        dc_next += dc_last
    dh_next = np.zeros((N, H), dtype=dtype)  # gradient on h_t arriving from step t + 1

    W_h = np.ascontiguousarray(W[:, :H], dtype=dtype)  # (4H, H): the h_prev columns
    da = np.empty((T, N, 4 * H), dtype=dtype)  # gradient on the pre-activations a = hx @ W.T + b
    dh_t, dc_t = np.empty((N, H), dtype=dtype), np.empty((N, H), dtype=dtype)
    # M: the gradient on each gate's output, df, di, do, dc_tilde
    M = np.empty((N, 4 * H), dtype=dtype)
    df, di, do, dc_tilde = _split(M, H)
    for t in reversed(range(T)):
        g, da_t, tanh_c_t = gates[t], da[t], tanh_c[t]
        f, i, o, c_tilde = _split(g, H)
        np.add(dh[t], dh_next, out=dh_t)  # total gradient on h_t
        np.multiply(dh_t, tanh_c_t, out=do)  # h_t = o * tanh(c_t)
        # total gradient on c_t: dc_t = dc_next + dh_t * o * (1 - tanh(c_t)^2)
        np.multiply(do, tanh_c_t, out=dc_t)
        np.subtract(dh_t, dc_t, out=dc_t)
        dc_t *= o
        dc_t += dc_next
        np.multiply(dc_t, c_all[t], out=df)  # c_t = f * c_prev + i * c_tilde
        np.multiply(dc_t, c_tilde, out=di)
        np.multiply(dc_t, i, out=dc_tilde)
        # times the local derivatives: s (1 - s) for the sigmoids, 1 - c_tilde^2 for the tanh
        np.subtract(1.0, g, out=da_t)
        da_t *= g
        da_c = da_t[:, 3 * H:]
        np.multiply(c_tilde, c_tilde, out=da_c)
        np.subtract(1.0, da_c, out=da_c)
        da_t *= M
        np.multiply(dc_t, f, out=dc_next)  # dc_{t-1} = dc_t * f
        np.dot(da_t, W_h, out=dh_next)  # dh_{t-1}

    da = da.reshape(T * N, 4 * H)
    dx = (da @ W[:, H:].astype(dtype, copy=False)).reshape(T, N, D)
    dW = da.T @ hx.reshape(T * N, H + D)  # all time steps in one product, (4H, H + D)
    db = da.sum(axis=0)
    grads = {}
    for k, g in enumerate(_STACK):
        grads[f"W_{g}"] = dW[k * H: (k + 1) * H]
        grads[f"b_{g}"] = db[k * H: (k + 1) * H]
    return dx, dh_next, dc_next, {key: grads[key] for key in cache["params"]}
