"""Chapter 05: LSTM variants: peephole connections, coupled gates (CIFG) and the GRU.

Every gate reads the concatenation ``hx = [h_{t-1}, x_t]`` (hidden state
first, as in chapter 04), with ``W: (H, H + D)`` and ``b: (H,)``:

peephole LSTM (diagonal peepholes ``p_f, p_i, p_o: (H,)``)
    f = σ(W_f·hx + b_f + p_f*c_{t-1})      i = σ(W_i·hx + b_i + p_i*c_{t-1})
    c̃ = tanh(W_c·hx + b_c)                 c_t = f*c_{t-1} + i*c̃
    o = σ(W_o·hx + b_o + p_o*c_t)          h_t = o*tanh(c_t)

coupled input and forget gates (CIFG): no input gate, ``i = 1 - f``
    c_t = f*c_{t-1} + (1-f)*c̃

GRU (keys W_z, b_z, W_r, b_r, W_h, b_h)
    z = σ(W_z·hx + b_z)                    r = σ(W_r·hx + b_r)
    reset_after=False:  h̃ = tanh(W_h·[r*h_{t-1}, x_t] + b_h)
    reset_after=True:   h̃ = tanh(r*(W_h[:, :H]·h_{t-1}) + W_h[:, H:]·x_t + b_h)
    h_t = (1-z)*h_{t-1} + z*h̃

Sequences are time-major: ``x: (T, N, D)``; returned states are
``(T, N, H)``. Backward functions return gradients for every key of
``params``. float64 by default; float32 inputs stay float32.

The gate shapes, the initialisation, the argument checks and the gates'
shared backward step (:func:`lstm_helpers.lstm.gate_gradients`) come from
chapter 04's LSTM; the loop over time is written once, below, for all three.
"""

import numpy as np

from ._validate import check_params, checked_by, float_array, hidden_size, sequence, upstream_gradient
from .feedforward import sigmoid, sigmoid_grad, tanh_grad
from .lstm import (cell_arguments, cell_backward_arguments, gate_gradients, gate_shapes, init_gates,
                   lstm_param_shapes, sequence_arguments, sequence_backward_arguments)

CIFG_GATES = ("f", "c", "o")  # no input gate: i = 1 - f
GRU_GATES = ("z", "r", "h")  # update gate, reset gate, candidate h̃
PEEPHOLES = ("p_f", "p_i", "p_o")


# --------------------------------------------------------------------------
# Parameter shapes, counts and initialisation
# --------------------------------------------------------------------------

def peephole_lstm_param_shapes(D, H):
    """``{key: shape}`` of a peephole LSTM: the LSTM's W_f, b_f, ..., W_o, b_o plus p_f, p_i, p_o (H,)."""
    return {**lstm_param_shapes(D, H), **{key: (H,) for key in PEEPHOLES}}


def cifg_lstm_param_shapes(D, H):
    """``{key: shape}`` of a coupled-gate LSTM: W_f, b_f, W_c, b_c, W_o, b_o (no input gate)."""
    return gate_shapes(CIFG_GATES, D, H)


def gru_param_shapes(D, H):
    """``{key: shape}`` of a GRU: W_z, b_z, W_r, b_r, W_h, b_h (the same for both reset placements)."""
    return gate_shapes(GRU_GATES, D, H)


def _closed_form_counts(D, H):
    gate = H * (H + D) + H  # one gate: W (H, H + D) and b (H,)
    return {
        "rnn": gate,
        "lstm": 4 * gate,  # f, i, c̃, o
        "peephole": 4 * gate + 3 * H,  # + diagonal peepholes p_f, p_i, p_o
        "cifg": 3 * gate,  # f, c̃, o: the input gate is gone (i = 1 - f)
        "gru": 3 * gate,  # z, r, h̃
    }


def param_count(variant, D, H):
    """Number of trainable numbers in one layer, as a closed-form formula.

    variant: "rnn", "lstm", "peephole", "cifg" or "gru"; D: input size; H: hidden size.
    Each gate (or the RNN's single tanh layer) has a weight matrix (H, H + D)
    and one bias (H,): ``H(H + D) + H`` numbers. The LSTM has 4 such gates,
    the CIFG and the GRU 3, and the peephole LSTM adds 3H peepholes. An output
    layer is not counted. (PyTorch keeps two bias vectors per gate, so its
    counts are larger by H per gate, although the second bias adds nothing.)
    """
    counts = _closed_form_counts(D, H)
    if variant not in counts:
        raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(repr(k) for k in counts)}")
    return counts[variant]


def param_counts(D, H):
    """``{variant: param_count(variant, D, H)}`` for "lstm", "peephole", "cifg" and "gru"."""
    counts = _closed_form_counts(D, H)
    return {variant: counts[variant] for variant in ("lstm", "peephole", "cifg", "gru")}


def init_peephole_lstm_params(D, H, rng, scale=None, forget_bias=1.0, dtype=np.float64):
    """Random peephole-LSTM parameters; ``rng`` is a ``numpy.random.Generator``.

    Weights are N(0, scale^2) with ``scale = 1 / sqrt(H + D)`` by default;
    biases are 0 except ``b_f = forget_bias`` (start by remembering); the
    peepholes start at 0, so the cell starts as a plain LSTM.
    """
    params = init_gates(peephole_lstm_param_shapes(D, H), D, H, rng, scale, dtype)
    params["b_f"] += forget_bias
    return params


def init_cifg_lstm_params(D, H, rng, scale=None, forget_bias=1.0, dtype=np.float64):
    """Random CIFG parameters; ``rng`` is a ``numpy.random.Generator``.

    Weights are N(0, scale^2) with ``scale = 1 / sqrt(H + D)`` by default;
    biases are 0 except ``b_f = forget_bias``.
    """
    params = init_gates(cifg_lstm_param_shapes(D, H), D, H, rng, scale, dtype)
    params["b_f"] += forget_bias
    return params


def init_gru_params(D, H, rng, scale=None, dtype=np.float64):
    """Random GRU parameters; ``rng`` is a ``numpy.random.Generator``.

    Weights are N(0, scale^2) with ``scale = 1 / sqrt(H + D)`` by default; biases are 0.
    """
    return init_gates(gru_param_shapes(D, H), D, H, rng, scale, dtype)


# --------------------------------------------------------------------------
# Argument checks, made once where a caller enters (see lstm_helpers._validate)
# --------------------------------------------------------------------------

def check_reset_after(reset_after):
    """``reset_after`` as a bool; a ValueError explains both placements otherwise."""
    if isinstance(reset_after, (bool, np.bool_)):
        return bool(reset_after)
    raise ValueError(
        f"reset_after must be True or False, got {reset_after!r}. False: the reset gate scales "
        "h_prev before W_h, h̃ = tanh(W_h·[r*h_prev, x_t] + b_h); True: it scales the product, "
        "h̃ = tanh(r*(W_h[:, :H]·h_prev) + W_h[:, H:]·x_t + b_h), as PyTorch does."
    )


def _gru_params(params, D):
    H = hidden_size(params, "b_z", "GRU")
    return check_params(params, gru_param_shapes(D, H), "GRU"), H


def _check_gru_cell(x_t, h_prev, params, reset_after=False):
    reset_after = check_reset_after(reset_after)
    x_t = float_array("x_t", x_t, ("N", "D"))
    params, H = _gru_params(params, x_t.shape[1])
    return x_t, float_array("h_prev", h_prev, (x_t.shape[0], H)), params, reset_after


def _check_gru_cell_backward(dh_t, cache):
    return float_array("dh_t", dh_t, cache["h_prev"].shape), cache


def _check_gru_sequence(x, h0, params, reset_after=False):
    reset_after = check_reset_after(reset_after)
    x = sequence("x", x)
    params, H = _gru_params(params, x.shape[2])
    return x, float_array("h0", h0, (x.shape[1], H)), params, reset_after


def _check_gru_sequence_backward(dh, cache):
    steps = cache["steps"]
    return upstream_gradient("dh", dh, (len(steps), *steps[0]["h_prev"].shape)), cache


# --------------------------------------------------------------------------
# The loop over time, shared by the three variants
# --------------------------------------------------------------------------

def _forward_over_time(cell_forward, x, h0, carried0, params, *options):
    """Run a cell over ``x: (T, N, D)``, one step after the other.

    Each step is ``h_t, *carried_t, cache_t = cell_forward(x_t, h_prev, *carried_prev, params, *options)``,
    where ``carried`` are the states a cell passes on besides h: ``(c,)`` for
    the LSTMs, ``()`` for the GRU. carried0: their initial values.
    Returns h: (T, N, H), the list of carried states stacked over time (each
    (T, N, H)), and the list of the T step caches.
    """
    h, carried, steps = [], [], []
    h_prev, state = h0, carried0
    for x_t in x:
        h_prev, *state, step = cell_forward(x_t, h_prev, *state, params, *options)
        h.append(h_prev)
        carried.append(state)
        steps.append(step)
    return np.stack(h), [np.stack(states) for states in zip(*carried)], steps


def _backward_over_time(cell_backward, dh, steps, dcarried_last):
    """Backpropagation through time over the step caches of :func:`_forward_over_time`.

    Each step is ``dx_t, dh_prev, *dcarried_prev, grads_t = cell_backward(dh_t, *dcarried_t, cache_t)``
    with dh_t the upstream gradient plus the one from step t + 1.
    dh: (T, N, H); dcarried_last: the gradients on the last carried states,
    ``(dc_last,)`` for the LSTMs (None means zeros), ``()`` for the GRU.
    Returns dx: (T, N, D), dh0: (N, H), the list of gradients on the initial
    carried states, and grads for every key of params, summed over time.
    """
    T, N, H = dh.shape
    dtype = np.result_type(dh, steps[0]["hx"])
    dx = np.zeros((T, N, steps[0]["hx"].shape[1] - H), dtype=dtype)
    grads = {key: np.zeros_like(value, dtype=dtype) for key, value in steps[0]["params"].items()}
    dh_next = np.zeros((N, H), dtype=dtype)  # gradient arriving from step t + 1
    dcarried = [np.zeros((N, H), dtype=dtype) if d is None else d for d in dcarried_last]
    for t in reversed(range(T)):
        dx[t], dh_next, *dcarried, step_grads = cell_backward(dh[t] + dh_next, *dcarried, steps[t])
        for key in grads:
            grads[key] += step_grads[key]  # the same weights act at every step
    return dx, dh_next, dcarried, grads


# --------------------------------------------------------------------------
# Peephole LSTM
# --------------------------------------------------------------------------

@checked_by(cell_arguments(peephole_lstm_param_shapes, "peephole LSTM"))
def peephole_lstm_cell_forward(x_t, h_prev, c_prev, params):
    """One step of an LSTM with diagonal peephole connections.

    x_t: (N, D), h_prev: (N, H), c_prev: (N, H)
    params: W_f, W_i, W_c, W_o (H, H + D); b_f, b_i, b_c, b_o (H,); p_f, p_i, p_o (H,)
    Returns h_t: (N, H), c_t: (N, H) and a cache for ``peephole_lstm_cell_backward``:
    a dict with hx (N, H + D), c_prev, f, i, c_tilde, c_t, o, tanh_c (all (N, H))
    and params (the checked parameter dict).
    """
    p = params
    hx = np.concatenate([h_prev, x_t], axis=1)  # (N, H + D): hidden state first
    f = sigmoid(hx @ p["W_f"].T + p["b_f"] + p["p_f"] * c_prev)  # the gates peek at c_{t-1}
    i = sigmoid(hx @ p["W_i"].T + p["b_i"] + p["p_i"] * c_prev)
    c_tilde = np.tanh(hx @ p["W_c"].T + p["b_c"])
    c_t = f * c_prev + i * c_tilde
    o = sigmoid(hx @ p["W_o"].T + p["b_o"] + p["p_o"] * c_t)  # the output gate peeks at the new c_t
    tanh_c = np.tanh(c_t)
    h_t = o * tanh_c
    cache = {"hx": hx, "c_prev": c_prev, "f": f, "i": i, "c_tilde": c_tilde,
             "c_t": c_t, "o": o, "tanh_c": tanh_c, "params": p}
    return h_t, c_t, cache


@checked_by(cell_backward_arguments)
def peephole_lstm_cell_backward(dh_t, dc_t, cache):
    """Backward pass of one peephole-LSTM step.

    dh_t: (N, H), dc_t: (N, H), the gradients on h_t and on c_t (from step t + 1).
    Returns dx_t: (N, D), dh_prev: (N, H), dc_prev: (N, H) and grads with the
    keys of params (W_*: (H, H + D), b_*, p_*: (H,)).
    """
    hx, c_prev, f, i, c_tilde = cache["hx"], cache["c_prev"], cache["f"], cache["i"], cache["c_tilde"]
    c_t, o, tanh_c, p = cache["c_t"], cache["o"], cache["tanh_c"], cache["params"]
    H = c_t.shape[1]

    da_o = dh_t * tanh_c * sigmoid_grad(o)  # gradient before each nonlinearity
    dc = dc_t + dh_t * o * tanh_grad(tanh_c) + da_o * p["p_o"]  # c_t feeds h_t and the o gate
    da_f = dc * c_prev * sigmoid_grad(f)
    da_i = dc * c_tilde * sigmoid_grad(i)
    da_c = dc * i * tanh_grad(c_tilde)
    dc_prev = dc * f + da_f * p["p_f"] + da_i * p["p_i"]  # directly, and through the f and i peepholes

    dhx, grads = gate_gradients({"f": da_f, "i": da_i, "c": da_c, "o": da_o}, hx, p)
    grads["p_f"] = (da_f * c_prev).sum(axis=0)
    grads["p_i"] = (da_i * c_prev).sum(axis=0)
    grads["p_o"] = (da_o * c_t).sum(axis=0)
    return dhx[:, H:], dhx[:, :H], dc_prev, grads


@checked_by(sequence_arguments(peephole_lstm_param_shapes, "peephole LSTM"))
def peephole_lstm_forward(x, h0, c0, params):
    """Run a peephole LSTM over a sequence.

    x: (T, N, D), h0: (N, H), c0: (N, H), params as in ``peephole_lstm_cell_forward``.
    Returns h: (T, N, H), c: (T, N, H) (the states after every step) and a
    cache {"steps": [one cell cache per step], "D": D}.
    """
    h, (c,), steps = _forward_over_time(peephole_lstm_cell_forward, x, h0, (c0,), params)
    return h, c, {"steps": steps, "D": x.shape[2]}


@checked_by(sequence_backward_arguments)
def peephole_lstm_backward(dh, cache, dc_last=None):
    """Backpropagation through time for ``peephole_lstm_forward``.

    dh: (T, N, H), the upstream gradient on every returned hidden state;
    dc_last: (N, H) or None, the gradient on the last cell state c[T - 1].
    Returns dx: (T, N, D), dh0: (N, H), dc0: (N, H) and grads (every key of params, summed over time).
    """
    dx, dh0, (dc0,), grads = _backward_over_time(peephole_lstm_cell_backward, dh, cache["steps"], (dc_last,))
    return dx, dh0, dc0, grads


# --------------------------------------------------------------------------
# Coupled input and forget gates (CIFG)
# --------------------------------------------------------------------------

@checked_by(cell_arguments(cifg_lstm_param_shapes, "CIFG LSTM"))
def cifg_lstm_cell_forward(x_t, h_prev, c_prev, params):
    """One step of an LSTM whose input gate is tied to the forget gate: i = 1 - f.

    x_t: (N, D), h_prev: (N, H), c_prev: (N, H)
    params: W_f, W_c, W_o (H, H + D); b_f, b_c, b_o (H,)
    Returns h_t: (N, H), c_t: (N, H) and a cache for ``cifg_lstm_cell_backward``:
    a dict with hx (N, H + D), c_prev, f, c_tilde, c_t, o, tanh_c (all (N, H))
    and params (the checked parameter dict).
    """
    p = params
    hx = np.concatenate([h_prev, x_t], axis=1)  # (N, H + D): hidden state first
    f = sigmoid(hx @ p["W_f"].T + p["b_f"])
    c_tilde = np.tanh(hx @ p["W_c"].T + p["b_c"])
    c_t = f * c_prev + (1 - f) * c_tilde  # what is forgotten is replaced
    o = sigmoid(hx @ p["W_o"].T + p["b_o"])
    tanh_c = np.tanh(c_t)
    h_t = o * tanh_c
    cache = {"hx": hx, "c_prev": c_prev, "f": f, "c_tilde": c_tilde,
             "c_t": c_t, "o": o, "tanh_c": tanh_c, "params": p}
    return h_t, c_t, cache


@checked_by(cell_backward_arguments)
def cifg_lstm_cell_backward(dh_t, dc_t, cache):
    """Backward pass of one CIFG step.

    dh_t: (N, H), dc_t: (N, H), the gradients on h_t and on c_t (from step t + 1).
    Returns dx_t: (N, D), dh_prev: (N, H), dc_prev: (N, H) and grads
    {W_f, W_c, W_o: (H, H + D); b_f, b_c, b_o: (H,)}.
    """
    hx, c_prev, f, c_tilde = cache["hx"], cache["c_prev"], cache["f"], cache["c_tilde"]
    o, tanh_c = cache["o"], cache["tanh_c"]
    H = f.shape[1]

    da_o = dh_t * tanh_c * sigmoid_grad(o)
    dc = dc_t + dh_t * o * tanh_grad(tanh_c)
    da_f = dc * (c_prev - c_tilde) * sigmoid_grad(f)  # f weighs c_prev, (1 - f) weighs c_tilde
    da_c = dc * (1 - f) * tanh_grad(c_tilde)
    dc_prev = dc * f

    dhx, grads = gate_gradients({"f": da_f, "c": da_c, "o": da_o}, hx, cache["params"])
    return dhx[:, H:], dhx[:, :H], dc_prev, grads


@checked_by(sequence_arguments(cifg_lstm_param_shapes, "CIFG LSTM"))
def cifg_lstm_forward(x, h0, c0, params):
    """Run a CIFG LSTM over a sequence.

    x: (T, N, D), h0: (N, H), c0: (N, H), params as in ``cifg_lstm_cell_forward``.
    Returns h: (T, N, H), c: (T, N, H) and a cache {"steps": [...], "D": D}.
    """
    h, (c,), steps = _forward_over_time(cifg_lstm_cell_forward, x, h0, (c0,), params)
    return h, c, {"steps": steps, "D": x.shape[2]}


@checked_by(sequence_backward_arguments)
def cifg_lstm_backward(dh, cache, dc_last=None):
    """Backpropagation through time for ``cifg_lstm_forward``.

    dh: (T, N, H); dc_last: (N, H) or None, the gradient on c[T - 1].
    Returns dx: (T, N, D), dh0: (N, H), dc0: (N, H) and grads (every key of params, summed over time).
    """
    dx, dh0, (dc0,), grads = _backward_over_time(cifg_lstm_cell_backward, dh, cache["steps"], (dc_last,))
    return dx, dh0, dc0, grads


# --------------------------------------------------------------------------
# GRU
# --------------------------------------------------------------------------

@checked_by(_check_gru_cell)
def gru_cell_forward(x_t, h_prev, params, reset_after=False):
    """One GRU step.

    x_t: (N, D), h_prev: (N, H)
    params: W_z, W_r, W_h (H, H + D); b_z, b_r, b_h (H,)
    reset_after: False applies r to h_prev before W_h (the original GRU);
        True applies it to W_h[:, :H]·h_prev (PyTorch, Keras, cuDNN).
    Returns h_t: (N, H) and a cache for ``gru_cell_backward``: a dict with
    hx (N, H + D), h_prev, z, r, h_tilde (N, H), reset_after, params, and
    rhx = [r*h_prev, x_t] (N, H + D) if reset_after is False,
    h_proj = W_h[:, :H]·h_prev (N, H) if it is True.
    """
    p, H = params, h_prev.shape[1]
    hx = np.concatenate([h_prev, x_t], axis=1)  # (N, H + D): hidden state first
    z = sigmoid(hx @ p["W_z"].T + p["b_z"])  # update gate: how much of h̃ to take
    r = sigmoid(hx @ p["W_r"].T + p["b_r"])  # reset gate: how much of h_prev h̃ may see
    cache = {"hx": hx, "h_prev": h_prev, "z": z, "r": r, "reset_after": reset_after, "params": p}
    if reset_after:
        h_proj = h_prev @ p["W_h"][:, :H].T
        h_tilde = np.tanh(r * h_proj + x_t @ p["W_h"][:, H:].T + p["b_h"])
        cache["h_proj"] = h_proj
    else:
        rhx = np.concatenate([r * h_prev, x_t], axis=1)
        h_tilde = np.tanh(rhx @ p["W_h"].T + p["b_h"])
        cache["rhx"] = rhx
    h_t = (1 - z) * h_prev + z * h_tilde
    cache["h_tilde"] = h_tilde
    return h_t, cache


@checked_by(_check_gru_cell_backward)
def gru_cell_backward(dh_t, cache):
    """Backward pass of one GRU step (the reset placement is read from the cache).

    dh_t: (N, H), the gradient on h_t.
    Returns dx_t: (N, D), dh_prev: (N, H) and grads
    {W_z, W_r, W_h: (H, H + D); b_z, b_r, b_h: (H,)}.
    """
    hx, h_prev, z, r, h_tilde, p = (cache[k] for k in ("hx", "h_prev", "z", "r", "h_tilde", "params"))
    H = h_prev.shape[1]

    da_z = dh_t * (h_tilde - h_prev) * sigmoid_grad(z)
    da_h = dh_t * z * tanh_grad(h_tilde)
    dh_prev = dh_t * (1 - z)  # the direct path through (1 - z)*h_prev
    if cache["reset_after"]:
        dr = da_h * cache["h_proj"]
        dW_h = np.concatenate([(da_h * r).T @ h_prev, da_h.T @ hx[:, H:]], axis=1)
        dh_prev = dh_prev + (da_h * r) @ p["W_h"][:, :H]
        dx_t = da_h @ p["W_h"][:, H:]
    else:
        drhx = da_h @ p["W_h"]  # gradient on [r*h_prev, x_t]
        dr = drhx[:, :H] * h_prev
        dW_h = da_h.T @ cache["rhx"]
        dh_prev = dh_prev + drhx[:, :H] * r
        dx_t = drhx[:, H:]
    da_r = dr * sigmoid_grad(r)

    dhx, grads = gate_gradients({"z": da_z, "r": da_r}, hx, p)  # both gates read [h_prev, x_t]
    grads["W_h"], grads["b_h"] = dW_h, da_h.sum(axis=0)
    return dx_t + dhx[:, H:], dh_prev + dhx[:, :H], grads


@checked_by(_check_gru_sequence)
def gru_forward(x, h0, params, reset_after=False):
    """Run a GRU over a sequence.

    x: (T, N, D), h0: (N, H), params and reset_after as in ``gru_cell_forward``.
    Returns h: (T, N, H), the state after every step, and a cache
    {"steps": [one cell cache per step], "D": D, "reset_after": bool}.
    """
    h, _, steps = _forward_over_time(gru_cell_forward, x, h0, (), params, reset_after)
    return h, {"steps": steps, "D": x.shape[2], "reset_after": reset_after}


@checked_by(_check_gru_sequence_backward)
def gru_backward(dh, cache):
    """Backpropagation through time for ``gru_forward`` (reset placement from the cache).

    dh: (T, N, H), the upstream gradient on every returned hidden state.
    Returns dx: (T, N, D), dh0: (N, H) and grads (every key of params, summed over time).
    """
    dx, dh0, _, grads = _backward_over_time(gru_cell_backward, dh, cache["steps"], ())
    return dx, dh0, grads
