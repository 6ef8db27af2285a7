"""Chapter 04: the LSTM cell, the sequence forward pass and its backward pass.

Every gate reads the concatenation ``z = [h_{t-1}, x_t]`` (hidden state first)::

    f_t  = sigmoid(W_f · z + b_f)          forget gate
    i_t  = sigmoid(W_i · z + b_i)          input gate
    c̃_t  = tanh(W_c · z + b_c)             candidate cell state
    c_t  = f_t * c_{t-1} + i_t * c̃_t        cell update
    o_t  = sigmoid(W_o · z + b_o)          output gate
    h_t  = o_t * tanh(c_t)                 hidden state

Parameters: ``W_f, W_i, W_c, W_o: (H, H + D)`` and ``b_f, b_i, b_c, b_o: (H,)``.
Sequences are time-major: ``x: (T, N, D)``; returned states ``h, c: (T, N, H)``.

The cell (``lstm_cell_forward`` / ``lstm_cell_backward``) is written the way
the equations read, one gate at a time; the notebook's exercises mirror it.
The sequence functions (``lstm_forward`` / ``lstm_backward``) compute the
same thing (equal up to rounding, which the tests check) but are organised
for speed: the four gates are stacked into one ``(4H, H + D)`` matrix, the
input projection of all time steps is one matrix product, each step does
one product with the hidden state, and the weight gradients of all steps
are one product at the end.
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


def _check_lstm_params(params, D):
    H = hidden_size(params, "b_f", "LSTM")
    return check_params(params, lstm_param_shapes(D, H), "LSTM"), H


def _gate_params(params, z, *gates):
    """Validate the weights of ``gates`` against ``z: (N, H + D)``; return them as a dict."""
    z = as_float_array("z", z)
    check_shape("z", z, ("N", "H + D"))
    H = hidden_size(params, f"b_{gates[0]}", "LSTM")
    shapes = {}
    for g in gates:
        shapes[f"W_{g}"] = (H, z.shape[1])
        shapes[f"b_{g}"] = (H,)
    return z, check_params(params, shapes, "LSTM")


# ---------------------------------------------------------------------------
# The cell, one equation at a time
# ---------------------------------------------------------------------------


def forget_gate(z, params):
    """Forget gate f = sigmoid(z @ W_f.T + b_f): how much of c_prev to keep.

    z: (N, H + D), the concatenation [h_prev, x_t]; params: W_f (H, H + D), b_f (H,)
    Returns f: (N, H), every entry in (0, 1).
    """
    z, p = _gate_params(params, z, "f")
    return sigmoid(z @ p["W_f"].T + p["b_f"])


def input_gate_and_candidate(z, params):
    """Input gate i and candidate c_tilde: what to write into the cell.

    i = sigmoid(z @ W_i.T + b_i), c_tilde = tanh(z @ W_c.T + b_c)
    z: (N, H + D); params: W_i, W_c (H, H + D), b_i, b_c (H,)
    Returns i: (N, H) in (0, 1) and c_tilde: (N, H) in (-1, 1).
    """
    z, p = _gate_params(params, z, "i", "c")
    i = sigmoid(z @ p["W_i"].T + p["b_i"])
    c_tilde = np.tanh(z @ p["W_c"].T + p["b_c"])
    return i, c_tilde


def cell_update(f, c_prev, i, c_tilde):
    """New cell state c_t = f * c_prev + i * c_tilde (all arrays (N, H)).

    Forget part of the old memory, add the gated candidate.
    """
    return f * c_prev + i * c_tilde


def output_gate_and_hidden(z, c_t, params):
    """Output gate o and hidden state h_t: what the cell shows.

    o = sigmoid(z @ W_o.T + b_o), h_t = o * tanh(c_t)
    z: (N, H + D), c_t: (N, H); params: W_o (H, H + D), b_o (H,)
    Returns o: (N, H) and h_t: (N, H).
    """
    z, p = _gate_params(params, z, "o")
    o = sigmoid(z @ p["W_o"].T + p["b_o"])
    h_t = o * np.tanh(c_t)
    return o, h_t


def lstm_cell_forward(x_t, h_prev, c_prev, params):
    """One LSTM step.

    x_t: (N, D), h_prev: (N, H), c_prev: (N, H)
    params: W_f, W_i, W_c, W_o (H, H + D); b_f, b_i, b_c, b_o (H,)
    Returns h_t: (N, H), c_t: (N, H) and a cache for ``lstm_cell_backward``,
    a dict with these keys:

        "z"       (N, H + D)  [h_prev, x_t]
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
    p, H = _check_lstm_params(params, D)
    h_prev = check_shape("h_prev", as_float_array("h_prev", h_prev), (N, H))
    c_prev = check_shape("c_prev", as_float_array("c_prev", c_prev), (N, H))

    z = np.concatenate([h_prev, x_t], axis=1)  # (N, H + D): hidden state first
    f = forget_gate(z, p)
    i, c_tilde = input_gate_and_candidate(z, p)
    c_t = cell_update(f, c_prev, i, c_tilde)
    o, h_t = output_gate_and_hidden(z, c_t, p)

    cache = {"z": z, "c_prev": c_prev, "f": f, "i": i, "c_tilde": c_tilde, "o": o,
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
    z, c_prev, p = cache["z"], cache["c_prev"], cache["params"]
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
    # back through the activations to the pre-activations a = z @ W.T + b
    da = {"f": df * sigmoid_grad(f), "i": di * sigmoid_grad(i),
          "c": dc_tilde * tanh_grad(c_tilde), "o": do * sigmoid_grad(o)}

    dz = sum(da[g] @ p[f"W_{g}"] for g in GATES)  # (N, H + D)
    grads = {}
    for g in GATES:
        grads[f"W_{g}"] = da[g].T @ z
        grads[f"b_{g}"] = da[g].sum(axis=0)
    return dz[:, H:], dz[:, :H], dc_prev, grads


# ---------------------------------------------------------------------------
# The sequence: the same computation, organised for speed
# ---------------------------------------------------------------------------
# Inside the sequence functions the gates are stacked as the rows of one
# (4H, H + D) matrix, in the order f, i, o, c: the three sigmoid gates first.
_STACK = ("f", "i", "o", "c")


def _split(a, H):
    """The four gate blocks (f, i, o, c) of the last axis of a stacked array, as views."""
    return a[..., :H], a[..., H: 2 * H], a[..., 2 * H: 3 * H], a[..., 3 * H:]


def lstm_forward(x, h0, c0, params):
    """Run the LSTM over a whole sequence.

    x: (T, N, D), h0: (N, H), c0: (N, H); params as for ``lstm_cell_forward``.
    Returns h: (T, N, H) and c: (T, N, H), the states after every step, and a
    cache for ``lstm_backward``. ``cache["steps"][t]`` is the cell cache of
    step t, in the format ``lstm_cell_forward`` documents (its arrays are
    views into the cache's stacked buffers).
    """
    x = as_float_array("x", x)
    check_shape("x", x, ("T", "N", "D"))
    T, N, D = x.shape
    p, H = _check_lstm_params(params, D)
    h0 = check_shape("h0", as_float_array("h0", h0), (N, H))
    c0 = check_shape("c0", as_float_array("c0", c0), (N, H))
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

    z = np.empty((T, N, H + D), dtype=dtype)  # z[t] = [h_{t-1}, x_t], for the weight gradients
    z[0, :, :H] = h0
    z[1:, :, :H] = h[:-1]
    z[:, :, H:] = x
    steps = []
    for t in range(T):
        f, i, o, c_tilde = _split(gates[t], H)
        steps.append({"z": z[t], "c_prev": c_all[t], "f": f, "i": i, "c_tilde": c_tilde, "o": o,
                      "c_t": c_all[t + 1], "tanh_c": tanh_c[t], "params": p})
    cache = {"z": z, "gates": gates, "c_all": c_all, "tanh_c": tanh_c, "W": W, "params": p, "steps": steps}
    return h, c_all[1:].copy(), cache


def lstm_backward(dh, cache, dc_last=None):
    """Backpropagation through time for ``lstm_forward``.

    dh: (T, N, H), the upstream gradient on every returned hidden state.
    dc_last: (N, H), the gradient on the final cell state c[T - 1]; zeros if None.
    Returns dx: (T, N, D), dh0: (N, H), dc0: (N, H) and grads with the keys
    of ``params`` (dW_* (H, H + D), db_* (H,)), summed over time.
    """
    z, gates, c_all, tanh_c, W = cache["z"], cache["gates"], cache["c_all"], cache["tanh_c"], cache["W"]
    T, N, H = tanh_c.shape
    D = z.shape[2] - H
    dh = as_float_array("dh", dh)
    if dh.ndim == 3 and dh.shape[0] != T:
        raise ValueError(f"dh has {dh.shape[0]} time steps but the forward pass ran {T}")
    check_shape("dh", dh, (T, N, H))
    dtype = np.result_type(dh, z)
    dc_next = np.zeros((N, H), dtype=dtype)  # gradient on c_t arriving from step t + 1
    if dc_last is not None:
        dc_next += check_shape("dc_last", as_float_array("dc_last", dc_last), (N, H))
    dh_next = np.zeros((N, H), dtype=dtype)  # gradient on h_t arriving from step t + 1

    W_h = np.ascontiguousarray(W[:, :H], dtype=dtype)  # (4H, H): the h_prev columns
    da = np.empty((T, N, 4 * H), dtype=dtype)  # gradient on the pre-activations a = z @ W.T + b
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
    dW = da.T @ z.reshape(T * N, H + D)  # all time steps in one product, (4H, H + D)
    db = da.sum(axis=0)
    grads = {}
    for k, g in enumerate(_STACK):
        grads[f"W_{g}"] = dW[k * H: (k + 1) * H]
        grads[f"b_{g}"] = db[k * H: (k + 1) * H]
    return dx, dh_next, dc_next, {key: grads[key] for key in cache["params"]}
