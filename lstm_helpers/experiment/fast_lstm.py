"""A fused LSTM for training: the same numbers as the readable loop in :mod:`lstm_helpers.lstm`, faster.

Chapters 06 and 07 train LSTMs for thousands of steps, so training uses this
version of ``lstm_forward`` / ``lstm_backward`` (same signatures, same
arguments checks, same results up to rounding; ``tests/test_lstm.py`` keeps
them equal). It is organised for speed, not for reading:

* the four gates are stacked into one ``(4H, H + D)`` matrix in the order
  f, i, o, c (the three sigmoid gates first);
* the input projection of all time steps is one matrix product, and each
  step does one product with the hidden state;
* ``sigmoid(a) = 0.5 + 0.5 * tanh(a / 2)``, so one ``tanh`` serves all four
  gates; results go into preallocated buffers (``out=``);
* the weight gradients of all steps are two products at the end, one for
  the h_prev columns and one for the x columns;
* the returned h and c are views of the buffers the cache keeps (h_all[1:],
  c_all[1:]), and the cache keeps x itself: change them in place and the
  backward pass changes too. The backward pass reuses one scratch buffer per
  thread for the gate gradients of all steps.

Learners: read :func:`lstm_helpers.lstm.lstm_forward` instead; it is the loop
the notebook builds.
"""

import threading

import numpy as np

from .._validate import checked_by, float_array, upstream_gradient
from ..lstm import lstm_param_shapes, sequence_arguments

# The gates are stacked as the rows of one (4H, H + D) matrix, in the order
# f, i, o, c: the three sigmoid gates first.
_STACK = ("f", "i", "o", "c")
_scratch = threading.local()  # the backward pass's buffer for da, reused while its shape and dtype fit


def _split(a, H):
    """The four gate blocks (f, i, o, c) of the last axis of a stacked array, as views."""
    return a[..., :H], a[..., H: 2 * H], a[..., 2 * H: 3 * H], a[..., 3 * H:]


def _scratch_buffer(shape, dtype):
    buffer = getattr(_scratch, "da", None)
    if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
        buffer = _scratch.da = np.empty(shape, dtype=dtype)
    return buffer


def _check_backward(dh, cache, dc_last=None):
    T, N, H = cache["tanh_c"].shape
    dh = upstream_gradient("dh", dh, (T, N, H))
    return dh, cache, None if dc_last is None else float_array("dc_last", dc_last, (N, H))


@checked_by(sequence_arguments(lstm_param_shapes, "LSTM"))
def lstm_forward(x, h0, c0, params):
    """``lstm.lstm_forward``, fused: x: (T, N, D), h0, c0: (N, H) -> h, c: (T, N, H) and a cache.

    The cache (stacked buffers, not the readable loop's list of step caches)
    is for this module's ``lstm_backward``.
    """
    (T, N, D), H = x.shape, h0.shape[1]
    dtype = np.result_type(x, h0, c0, *params.values())
    x = x.astype(dtype, copy=False)
    W = np.concatenate([params[f"W_{g}"] for g in _STACK]).astype(dtype, copy=False)  # (4H, H + D)
    b = np.concatenate([params[f"b_{g}"] for g in _STACK]).astype(dtype, copy=False)  # (4H,)
    # sigmoid(a) = 0.5 + 0.5 * tanh(a / 2): halving the sigmoid rows (exact in
    # floating point) lets one tanh serve all four gates; then the sigmoid
    # gates are 0.5 * tanh + 0.5, and the candidate is the tanh itself.
    half = np.ones(4 * H, dtype=dtype)
    half[: 3 * H] = 0.5
    W_hT = np.ascontiguousarray((half[:, None] * W[:, :H]).T)  # (H, 4H)
    W_xT = (half[:, None] * W[:, H:]).T  # (D, 4H)

    # gates[t]: first the pre-activations, then the gate values f, i, o, c_tilde
    gates = np.empty((T, N, 4 * H), dtype=dtype)
    np.dot(x.reshape(T * N, D), W_xT, out=gates.reshape(T * N, 4 * H))  # the x_t part of every step
    gates += half * b
    h_all = np.empty((T + 1, N, H), dtype=dtype)  # h_all[t] = h_{t-1}, so h_all[0] = h0
    c_all = np.empty((T + 1, N, H), dtype=dtype)  # c_all[t] = c_{t-1}, so c_all[0] = c0
    h_all[0], c_all[0] = h0, c0
    tanh_c = np.empty((T, N, H), dtype=dtype)
    hW, ic = np.empty((N, 4 * H), dtype=dtype), np.empty((N, H), dtype=dtype)

    for t in range(T):
        g, c_prev, c_t = gates[t], c_all[t], c_all[t + 1]
        np.dot(h_all[t], W_hT, out=hW)  # the h_prev part, all four gates at once
        g += hW
        np.tanh(g, out=g)
        sig = g[:, : 3 * H]
        sig *= 0.5
        sig += 0.5
        f, i, o, c_tilde = _split(g, H)
        np.multiply(f, c_prev, out=c_t)  # c_t = f * c_prev + i * c_tilde
        np.multiply(i, c_tilde, out=ic)
        c_t += ic
        np.tanh(c_t, out=tanh_c[t])
        np.multiply(o, tanh_c[t], out=h_all[t + 1])  # h_t = o * tanh(c_t)

    cache = {"x": x, "h_all": h_all, "gates": gates, "c_all": c_all, "tanh_c": tanh_c, "W": W,
             "keys": list(params)}
    return h_all[1:], c_all[1:], cache


@checked_by(_check_backward)
def lstm_backward(dh, cache, dc_last=None):
    """``lstm.lstm_backward``, fused: dh: (T, N, H), dc_last: (N, H) or None -> dx, dh0, dc0, grads."""
    x, h_all, gates, c_all, tanh_c, W = (cache[k] for k in ("x", "h_all", "gates", "c_all", "tanh_c", "W"))
    T, N, H = tanh_c.shape
    D = x.shape[2]
    dtype = np.result_type(dh, gates)
    dc_next = np.zeros((N, H), dtype=dtype)  # gradient on c_t arriving from step t + 1
    if dc_last is not None:
        dc_next += dc_last
    dh_next = np.zeros((N, H), dtype=dtype)  # gradient on h_t arriving from step t + 1

    W_h = np.ascontiguousarray(W[:, :H], dtype=dtype)  # (4H, H): the h_prev columns
    da = _scratch_buffer((T, N, 4 * H), dtype)  # gradient on the pre-activations a = hx @ W.T + b
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
    dW_h = da.T @ h_all[:T].reshape(T * N, H)  # all time steps in one product each, (4H, H)
    dW_x = da.T @ x.reshape(T * N, D)  # (4H, D)
    db = da.sum(axis=0)
    grads = {}
    for k, g in enumerate(_STACK):
        rows = slice(k * H, (k + 1) * H)
        grads[f"W_{g}"] = np.concatenate([dW_h[rows], dW_x[rows]], axis=1)
        grads[f"b_{g}"] = db[rows]
    return dx, dh_next, dc_next, {key: grads[key] for key in cache["keys"]}
