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
notebook builds. Each public function checks its arguments where a caller
enters it (``@checked_by``, see :mod:`lstm_helpers._validate`); the calls
inside, gate by gate and step by step, skip the check. Training uses a fused
version of the sequence functions, :mod:`lstm_helpers.experiment.fast_lstm`,
which computes the same numbers.
"""

import numpy as np

from ._validate import check_params, checked_by, float_array, hidden_size, sequence, upstream_gradient
from .feedforward import sigmoid, sigmoid_grad, tanh_grad

GATES = ("f", "i", "c", "o")  # forget, input, candidate, output


# ---------------------------------------------------------------------------
# Gates and parameters (the variants of chapter 05 use these too)
# ---------------------------------------------------------------------------


def gate_shapes(gates, D, H):
    """``{key: shape}`` of gates that each read hx: ``W_g: (H, H + D)`` and ``b_g: (H,)`` per gate g."""
    shapes = {}
    for g in gates:
        shapes[f"W_{g}"] = (H, H + D)
        shapes[f"b_{g}"] = (H,)
    return shapes


def lstm_param_shapes(D, H):
    """``{key: shape}`` of the LSTM parameters for input size D and hidden size H."""
    return gate_shapes(GATES, D, H)


def init_gates(shapes, D, H, rng, scale=None, dtype=np.float64):
    """Random parameters of the given ``{key: shape}``; ``rng`` is a ``numpy.random.Generator``.

    Every weight ``W_*`` is a new draw from N(0, scale^2), in the order of
    ``shapes``, with ``scale = 1 / sqrt(H + D)`` by default; everything else
    (biases, peepholes) starts at 0.
    """
    scale = 1.0 / np.sqrt(H + D) if scale is None else scale
    params = {}
    for key, shape in shapes.items():
        if key.startswith("W_"):
            params[key] = (scale * rng.standard_normal(shape)).astype(dtype)
        else:
            params[key] = np.zeros(shape, dtype=dtype)
    return params


def init_lstm_params(D, H, rng, forget_bias=1.0, dtype=np.float64):
    """Random LSTM parameters; ``rng`` is a ``numpy.random.Generator``.

    Weights are N(0, 1 / (H + D)), a different draw for every gate. Biases are
    0 except ``b_f = forget_bias`` (1 by default), so that a fresh cell starts
    out remembering: f = sigmoid(1) ≈ 0.73 (Gers et al. 2000; Jozefowicz et al. 2015).
    """
    params = init_gates(lstm_param_shapes(D, H), D, H, rng, dtype=dtype)
    params["b_f"] += forget_bias
    return params


def gate_gradients(da, hx, params):
    """Backward through the gates' affine maps ``a_g = hx @ W_g.T + b_g``, summed over the gates.

    da: {g: (N, H)}, the gradient on each gate's pre-activation a_g
    hx: (N, H + D), the [h_prev, x_t] the gates read; params: W_g (H, H + D) for every g in da
    Returns dhx: (N, H + D), the sum over gates of da_g @ W_g, and grads
    {"W_g": da_g.T @ hx (H, H + D), "b_g": da_g summed over the batch (H,)} for every g.
    """
    dhx = sum(da[g] @ params[f"W_{g}"] for g in da)
    grads = {}
    for g in da:
        grads[f"W_{g}"] = da[g].T @ hx
        grads[f"b_{g}"] = da[g].sum(axis=0)
    return dhx, grads


# ---------------------------------------------------------------------------
# Argument checks, made once where a caller enters (see lstm_helpers._validate);
# the variants of chapter 05 and the fused training LSTM share the LSTM-like ones
# ---------------------------------------------------------------------------


def _gate_params(hx, params, gates):
    hx = float_array("hx", hx, ("N", "H + D"))
    H = hidden_size(params, f"b_{gates[0]}", "LSTM")
    return hx, check_params(params, gate_shapes(gates, hx.shape[1] - H, H), "LSTM")


def _check_forget_gate(hx, params):
    return _gate_params(hx, params, ("f",))


def _check_input_gate(hx, params):
    return _gate_params(hx, params, ("i", "c"))


def _check_cell_update(f, c_prev, i, c_tilde):
    f = float_array("f", f, ("N", "H"))
    return (f, *(float_array(name, value, f.shape)
                 for name, value in (("c_prev", c_prev), ("i", i), ("c_tilde", c_tilde))))


def _check_output_gate(hx, c_t, params):
    hx, params = _gate_params(hx, params, ("o",))
    return hx, float_array("c_t", c_t, (hx.shape[0], params["b_o"].shape[0])), params


def _lstm_like_params(params, D, param_shapes, model):
    H = hidden_size(params, "b_f", model)
    return check_params(params, param_shapes(D, H), model), H


def check_lstm_params(params, D):
    """Validate LSTM parameters for input size D; returns ``(params as float arrays, H)``."""
    return _lstm_like_params(params, D, lstm_param_shapes, "LSTM")


def cell_arguments(param_shapes, model):
    """The argument check of an LSTM-like step ``(x_t, h_prev, c_prev, params)``.

    param_shapes: (D, H) -> {key: shape}; H is read from ``params["b_f"]``.
    model: the name used in error messages.
    """
    def check(x_t, h_prev, c_prev, params):
        x_t = float_array("x_t", x_t, ("N", "D"))
        N, D = x_t.shape
        params, H = _lstm_like_params(params, D, param_shapes, model)
        return x_t, float_array("h_prev", h_prev, (N, H)), float_array("c_prev", c_prev, (N, H)), params
    return check


def sequence_arguments(param_shapes, model):
    """The argument check of an LSTM-like sequence ``(x, h0, c0, params)``, as :func:`cell_arguments`."""
    def check(x, h0, c0, params):
        x = sequence("x", x)
        _, N, D = x.shape
        params, H = _lstm_like_params(params, D, param_shapes, model)
        return x, float_array("h0", h0, (N, H)), float_array("c0", c0, (N, H)), params
    return check


def cell_backward_arguments(dh_t, dc_t, cache):
    """The argument check of an LSTM-like step's backward pass: dh_t and dc_t shaped like cache["c_t"]."""
    shape = cache["c_t"].shape
    return float_array("dh_t", dh_t, shape), float_array("dc_t", dc_t, shape), cache


def sequence_backward_arguments(dh, cache, dc_last=None):
    """The argument check of an LSTM-like sequence's backward pass (a cache with one entry per step)."""
    steps = cache["steps"]
    N, H = steps[0]["c_t"].shape
    dh = upstream_gradient("dh", dh, (len(steps), N, H))
    return dh, cache, None if dc_last is None else float_array("dc_last", dc_last, (N, H))


# ---------------------------------------------------------------------------
# The cell, one equation at a time
# ---------------------------------------------------------------------------


@checked_by(_check_forget_gate)
def forget_gate(hx, params):
    """Forget gate f = sigmoid(hx @ W_f.T + b_f): how much of c_prev to keep.

    hx: (N, H + D), the concatenation [h_prev, x_t]; params: W_f (H, H + D), b_f (H,)
    Returns f: (N, H), every entry in (0, 1).
    """
    return sigmoid(hx @ params["W_f"].T + params["b_f"])


@checked_by(_check_input_gate)
def input_gate_and_candidate(hx, params):
    """Input gate i and candidate c_tilde: what to write into the cell.

    i = sigmoid(hx @ W_i.T + b_i), c_tilde = tanh(hx @ W_c.T + b_c)
    hx: (N, H + D); params: W_i, W_c (H, H + D), b_i, b_c (H,)
    Returns i: (N, H) in (0, 1) and c_tilde: (N, H) in (-1, 1).
    """
    i = sigmoid(hx @ params["W_i"].T + params["b_i"])
    c_tilde = np.tanh(hx @ params["W_c"].T + params["b_c"])
    return i, c_tilde


@checked_by(_check_cell_update)
def cell_update(f, c_prev, i, c_tilde):
    """New cell state c_t = f * c_prev + i * c_tilde (all arrays (N, H)).

    Forget part of the old memory, add the gated candidate.
    """
    return f * c_prev + i * c_tilde


@checked_by(_check_output_gate)
def output_gate_and_hidden(hx, c_t, params):
    """Output gate o and hidden state h_t: what the cell shows.

    o = sigmoid(hx @ W_o.T + b_o), h_t = o * tanh(c_t)
    hx: (N, H + D), c_t: (N, H); params: W_o (H, H + D), b_o (H,)
    Returns o: (N, H) and h_t: (N, H).
    """
    o = sigmoid(hx @ params["W_o"].T + params["b_o"])
    h_t = o * np.tanh(c_t)
    return o, h_t


@checked_by(cell_arguments(lstm_param_shapes, "LSTM"))
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
    hx = np.concatenate([h_prev, x_t], axis=1)  # (N, H + D): hidden state first
    f = forget_gate(hx, params)
    i, c_tilde = input_gate_and_candidate(hx, params)
    c_t = cell_update(f, c_prev, i, c_tilde)
    o, h_t = output_gate_and_hidden(hx, c_t, params)

    cache = {"hx": hx, "c_prev": c_prev, "f": f, "i": i, "c_tilde": c_tilde, "o": o,
             "c_t": c_t, "tanh_c": np.tanh(c_t), "params": params}
    return h_t, c_t, cache


@checked_by(cell_backward_arguments)
def lstm_cell_backward(dh_t, dc_t, cache):
    """Backward pass of one LSTM step.

    dh_t: (N, H), the gradient on h_t; dc_t: (N, H), the gradient on c_t
    arriving from outside this step (from step t + 1; zeros at the end).
    cache: the dict from ``lstm_cell_forward``.
    Returns dx_t: (N, D), dh_prev: (N, H), dc_prev: (N, H) and grads with
    the keys of ``params``: dW_* (H, H + D) under "W_*", db_* (H,) under "b_*".
    """
    hx, c_prev = cache["hx"], cache["c_prev"]
    f, i, c_tilde, o, tanh_c = cache["f"], cache["i"], cache["c_tilde"], cache["o"], cache["tanh_c"]
    H = f.shape[1]

    # h_t = o * tanh(c_t): one path into o, one into c_t.
    do = dh_t * tanh_c
    dc = dc_t + dh_t * o * tanh_grad(tanh_c)  # total gradient on c_t
    # c_t = f * c_prev + i * c_tilde
    df = dc * c_prev
    di = dc * c_tilde
    dc_tilde = dc * i
    dc_prev = dc * f
    # back through the activations to the pre-activations a = hx @ W.T + b, then the weights
    da = {"f": df * sigmoid_grad(f), "i": di * sigmoid_grad(i),
          "c": dc_tilde * tanh_grad(c_tilde), "o": do * sigmoid_grad(o)}
    dhx, grads = gate_gradients(da, hx, cache["params"])  # dhx: (N, H + D)
    return dhx[:, H:], dhx[:, :H], dc_prev, grads


# ---------------------------------------------------------------------------
# The sequence: the cell in a loop
# ---------------------------------------------------------------------------


@checked_by(sequence_arguments(lstm_param_shapes, "LSTM"))
def lstm_forward(x, h0, c0, params):
    """Run the LSTM over a whole sequence.

    x: (T, N, D), h0: (N, H), c0: (N, H); params as for ``lstm_cell_forward``.
    Returns h: (T, N, H) and c: (T, N, H), the states after every step (h[t]
    is the state after reading x[t]), and cache = {"steps": [cell cache of
    step 0, ..., of step T - 1]}.
    """
    T, N, H = x.shape[0], x.shape[1], h0.shape[1]
    h = np.zeros((T, N, H), dtype=np.result_type(x, h0, c0))
    c = np.zeros_like(h)
    steps = []
    h_prev, c_prev = h0, c0
    for t in range(T):
        h_prev, c_prev, step = lstm_cell_forward(x[t], h_prev, c_prev, params)
        h[t], c[t] = h_prev, c_prev
        steps.append(step)
    return h, c, {"steps": steps}


@checked_by(sequence_backward_arguments)
def lstm_backward(dh, cache, dc_last=None):
    """Backpropagation through time for ``lstm_forward``.

    dh: (T, N, H), the upstream gradient on every returned hidden state.
    dc_last: (N, H), the gradient on the final cell state c[T - 1]; zeros if None.
    Returns dx: (T, N, D), dh0: (N, H), dc0: (N, H) and grads with the keys
    of ``params`` (dW_* (H, H + D), db_* (H,)), summed over time.
    """
    steps = cache["steps"]
    T, N, H = dh.shape
    D = steps[0]["hx"].shape[1] - H
    dx = np.zeros((T, N, D), dtype=dh.dtype)
    grads = {key: np.zeros_like(value) for key, value in steps[0]["params"].items()}
    dh_next = np.zeros((N, H), dtype=dh.dtype)  # gradient on h_t arriving from step t + 1
    dc_next = np.zeros((N, H), dtype=dh.dtype) if dc_last is None else dc_last  # ... and on c_t
    for t in reversed(range(T)):
        dx[t], dh_next, dc_next, step_grads = lstm_cell_backward(dh[t] + dh_next, dc_next, steps[t])
        for key in grads:
            grads[key] += step_grads[key]  # the same weights act at every step
    return dx, dh_next, dc_next, grads
