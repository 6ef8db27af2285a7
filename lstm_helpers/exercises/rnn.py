"""Checks for chapter 02: the RNN cell, the sequence loop and BPTT.

The backward exercises receive the cache made by the reference forward, in
the documented format, so a mistake in the learner's forward pass does not
hide or fake one in their backward pass.
"""

import numpy as np

from .. import rnn as ref
from ..feedforward import relu, sigmoid
from ._core import CACHE, GRADS, Exercise, Mistake, returns

CHAPTER = "02_rnn"


def _dims(rng, hidden):
    if hidden:
        T, N, D, H = (int(v) for v in rng.integers(1, 6, size=4))
        return T, N, D, H + 1
    return 4, 2, 3, 5  # D != H, so a wrong concatenation or split shows


def _params(rng, D, H):
    return {"W_h": rng.standard_normal((H, H + D)) / np.sqrt(H + D), "b_h": rng.standard_normal(H)}


def _cell_inputs(rng, hidden):
    _, N, D, H = _dims(rng, hidden)
    return {
        "x_t": rng.standard_normal((N, D)),
        "h_prev": rng.uniform(-1, 1, (N, H)),
        "params": _params(rng, D, H),
    }


def _cell_backward_inputs(rng, hidden):
    inputs = _cell_inputs(rng, hidden)
    h_t, cache = ref.rnn_cell_forward(**inputs)
    return {"dh_t": rng.standard_normal(h_t.shape), "cache": cache}


def _seq_inputs(rng, hidden):
    T, N, D, H = _dims(rng, hidden)
    return {"x": rng.standard_normal((T, N, D)), "h0": rng.uniform(-1, 1, (N, H)), "params": _params(rng, D, H)}


def _seq_backward_inputs(rng, hidden):
    inputs = _seq_inputs(rng, hidden)
    h, cache = ref.rnn_forward(**inputs)
    return {"dh": rng.standard_normal(h.shape), "cache": cache}


def _cell_variant(act=np.tanh, bias=True, order="hx", use_h=True):
    def cell(x_t, h_prev, params):
        h_in = h_prev if use_h else np.zeros_like(h_prev)
        parts = [h_in, x_t] if order == "hx" else [x_t, h_in]
        a = np.concatenate(parts, axis=1) @ params["W_h"].T
        return act(a + params["b_h"] if bias else a), None

    return cell


def _cell_backward_variant(local_grad):
    def backward(dh_t, cache):
        hx, h_t, W_h = cache["hx"], cache["h_t"], cache["W_h"]
        H = h_t.shape[1]
        da = dh_t * local_grad(h_t)
        dhx = da @ W_h
        return dhx[:, H:], dhx[:, :H], {"W_h": da.T @ hx, "b_h": da.sum(axis=0)}

    return backward


def _forward_variant(kind):
    def forward(x, h0, params):
        h_prev, out = (np.zeros_like(h0) if kind == "zero_h0" else h0), []
        for t in range(len(x)):
            h_new, _ = ref.rnn_cell_forward(x[t], h0 if kind == "always_h0" else h_prev, params)
            out.append(h_prev if kind == "off_by_one" else h_new)
            h_prev = h_new
        if kind == "one_short":  # range(T - 1) into a preallocated h: the last state stays zero
            out[-1] = np.zeros_like(out[-1])
        return np.stack(out), None

    return forward


def _backward_variant(kind):
    def backward(dh, cache):
        steps = cache["steps"]
        T, (N, H), D = len(steps), steps[0]["h_t"].shape, cache["D"]
        dx = np.zeros((T, N, D))
        grads = {"W_h": np.zeros((H, H + D)), "b_h": np.zeros(H)}
        dh_next = np.zeros((N, H))
        order = {"forward_order": range(T), "skips_first": reversed(range(1, T))}.get(kind, reversed(range(T)))
        for t in order:
            upstream = dh[t] if kind == "no_carry" else dh[t] + dh_next
            dx[t], dh_next, g = ref.rnn_cell_backward(upstream, steps[t])
            for key in grads:
                grads[key] = g[key] if kind == "no_accumulate" else grads[key] + g[key]
        return dx, dh_next, grads

    return backward


EXERCISES = [
    Exercise(
        name="rnn_cell_forward",
        reference=ref.rnn_cell_forward,
        make_inputs=_cell_inputs,
        outputs=returns("h_t", CACHE),
        block=("lstm_helpers.rnn:rnn_cell_forward",),
        mistakes=[
            Mistake("sigmoid used where tanh belongs: h_t = tanh(W_h·[h_prev, x_t] + b_h).",
                    _cell_variant(act=sigmoid)),
            Mistake("ReLU used where tanh belongs: h_t = tanh(W_h·[h_prev, x_t] + b_h).", _cell_variant(act=relu)),
            Mistake("the tanh is missing: h_t = tanh(W_h·[h_prev, x_t] + b_h).", _cell_variant(act=lambda a: a)),
            Mistake("the bias b_h is missing.", _cell_variant(bias=False)),
            Mistake("[x_t, h_prev] is concatenated in the wrong order: the hidden state comes first, "
                    "np.concatenate([h_prev, x_t], axis=1).", _cell_variant(order="xh")),
            Mistake("h_prev is ignored: the new state must depend on the previous one through W_h.",
                    _cell_variant(use_h=False)),
        ],
    ),
    Exercise(
        name="rnn_forward",
        reference=ref.rnn_forward,
        make_inputs=_seq_inputs,
        outputs=returns("h", CACHE),
        block=("lstm_helpers.rnn:rnn_forward",),
        mistakes=[
            Mistake("every step starts from h0: pass the state of step t - 1 into step t.",
                    _forward_variant("always_h0")),
            Mistake("off by one: h[t] must hold the state *after* step t (h[0] is already new, not h0).",
                    _forward_variant("off_by_one")),
            Mistake("the given initial state h0 is ignored (the loop starts from zeros).",
                    _forward_variant("zero_h0")),
            Mistake("the time loop stops one step early: it must run all T steps (for t in range(T)), "
                    "and h[T - 1] is the state after the last input.", _forward_variant("one_short")),
        ],
    ),
    Exercise(
        name="rnn_cell_backward",
        reference=ref.rnn_cell_backward,
        make_inputs=_cell_backward_inputs,
        outputs=returns("dx_t", "dh_prev", GRADS),
        block=("lstm_helpers.rnn:rnn_cell_backward",),
        mistakes=[
            Mistake("the tanh derivative is missing: multiply dh_t by (1 - h_t**2) first.",
                    _cell_backward_variant(lambda h: np.ones_like(h))),
            Mistake("the tanh derivative is 1 - h_t**2, not 1 - h_t.", _cell_backward_variant(lambda h: 1 - h)),
            Mistake("this uses the sigmoid's derivative h(1 - h); the cell uses tanh, whose derivative is 1 - h**2.",
                    _cell_backward_variant(lambda h: h * (1 - h))),
        ],
    ),
    Exercise(
        name="rnn_backward",
        reference=ref.rnn_backward,
        make_inputs=_seq_backward_inputs,
        outputs=returns("dx", "dh0", GRADS),
        block=("lstm_helpers.rnn:rnn_backward",),
        mistakes=[
            Mistake("the gradient from the future is dropped: step t receives dh[t] + dh_prev from step t + 1.",
                    _backward_variant("no_carry")),
            Mistake("the weight gradients are not accumulated: W_h and b_h act at every step, so add "
                    "(+=) each step's gradient.", _backward_variant("no_accumulate")),
            Mistake("the loop runs forwards; backpropagation through time goes from t = T - 1 down to 0.",
                    _backward_variant("forward_order")),
            Mistake("the loop stops before step 0: backpropagation through time goes down to t = 0 "
                    "(for t in reversed(range(T))); step 0 gives dx[0], its share of dW_h and db_h, and dh0.",
                    _backward_variant("skips_first")),
        ],
    ),
]
