"""Checks for chapter 02: the RNN cell, the sequence loop, BPTT, and four questions.

The backward exercises receive the cache made by the reference forward, in
the documented format, so a mistake in the learner's forward pass does not
hide or fake one in their backward pass. The questions' right answers are
computed here by the course's code or by a formula; the ones asked before a
demo shows the answer are predictions (graded by the hidden tests only).
"""

from functools import lru_cache
from itertools import permutations

import numpy as np

from .. import rnn as ref
from ..feedforward import relu, sigmoid
from ._core import CACHE, GRADS, Exercise, Mistake, returns
from ._inputs import gate_params
from ._questions import answer, question

CHAPTER = "02_rnn"


def _dims(rng, hidden):
    if hidden:
        T, N, D, H = (int(v) for v in rng.integers(1, 6, size=4))
        return T, N, D, H + 1
    return 4, 2, 3, 5  # D != H, so a wrong concatenation or split shows


def _cell_inputs(rng, hidden):
    _, N, D, H = _dims(rng, hidden)
    return {
        "x_t": rng.standard_normal((N, D)),
        "h_prev": rng.uniform(-1, 1, (N, H)),
        "params": gate_params(rng, ("h",), D, H),
    }


def _cell_backward_inputs(rng, hidden):
    inputs = _cell_inputs(rng, hidden)
    h_t, cache = ref.rnn_cell_forward(**inputs)
    return {"dh_t": rng.standard_normal(h_t.shape), "cache": cache}


def _seq_inputs(rng, hidden):
    T, N, D, H = _dims(rng, hidden)
    return {"x": rng.standard_normal((T, N, D)), "h0": rng.uniform(-1, 1, (N, H)), "params": gate_params(rng, ("h",), D, H)}


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


# -- the questions --------------------------------------------------------------------------------

#: The RNN of the chapter's "order matters" demo: D inputs and H hidden units.
DEMO_D, DEMO_H = 8, 6


def _parameter_count():
    return int(sum(np.prod(shape) for shape in ref.rnn_param_shapes(DEMO_D, DEMO_H).values()))


@lru_cache(maxsize=1)
def _distinct_final_states():
    """How many different final states the notebook's RNN reaches for the 6 orders of its three words.

    Built as the notebook builds it (seed 1, word vectors of size 8, ``init_rnn_params`` with scale 1),
    with the course's ``rnn_forward``; states equal to 9 decimals count as one.
    """
    rng = np.random.default_rng(1)
    vocabulary = {word: rng.standard_normal(DEMO_D) for word in ["dog", "bites", "man"]}
    params = ref.init_rnn_params(D=DEMO_D, H=DEMO_H, rng=rng, scale=1.0)
    finals = []
    for words in permutations(vocabulary):
        x = np.stack([vocabulary[w] for w in words])[:, None, :]
        finals.append(ref.rnn_forward(x, np.zeros((1, DEMO_H)), params)[0][-1, 0])
    return len(np.unique(np.round(finals, 9), axis=0))


#: The one-unit RNN of question 5.3: recurrent weight, steps; zero inputs, zero bias, h_0 = 0.
TINY_RECURRENT_WEIGHT, TINY_STEPS = 0.5, 20


def _tiny_rnn_gradient():
    """dh_T/dh_0 = prod over the steps of w_rec * (1 - h_k**2); every state stays 0, so every slope is 1."""
    return TINY_RECURRENT_WEIGHT ** TINY_STEPS


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
    question("rnn_parameter_count", _parameter_count, prediction=False, mistakes=[
        Mistake("the bias b_h is missing from the count: it adds H = 6 numbers to the H x (H + D) of W_h.",
                answer(DEMO_H * (DEMO_H + DEMO_D))),
        Mistake("W_h multiplies the concatenation [h_prev, x_t], so it has H + D columns, not D: the state "
                "feeds back through its first H columns.", answer(DEMO_H * DEMO_D + DEMO_H)),
        Mistake("W_h has H + D columns, not H: the input x_t enters through its last D columns.",
                answer(DEMO_H * DEMO_H + DEMO_H)),
        Mistake("the parameters are not copied for every word: the same W_h and b_h serve all three steps "
                "(and all 300 of a longer sentence).", answer(3 * (DEMO_H * (DEMO_H + DEMO_D) + DEMO_H))),
    ]),
    question("index_of_h3", lambda: 3 - 1, prediction=False, mistakes=[
        Mistake("off by one: h[0] already holds h_1, the state after the first input, so h_3 is h[3 - 1]; "
                "the initial state h_0 is not in h.", answer(3)),
        Mistake("h[4] is h_5, the last state of the five; h_3 is the state after the third input, h[3 - 1].",
                answer(4)),
    ]),
    question("distinct_final_states", _distinct_final_states, mistakes=[
        Mistake("the RNN does not add the words up: it reads them one at a time, each step starting from the "
                "state the previous words left, so every order ends in its own state.", answer(1)),
        Mistake("the final state depends on all three words and their order, not only on the last word: "
                "all six orders end in different states.", answer(3)),
    ]),
    # rtol: "about 1e-6" is a fair answer for 9.5e-7
    question("dh20_dh0", _tiny_rnn_gradient, rtol=0.06, mistakes=[
        Mistake("the chain rule multiplies the twenty factors, it does not add them: 0.5 ** 20, not 0.5 * 20.",
                answer(TINY_RECURRENT_WEIGHT * TINY_STEPS)),
        Mistake("0.5 is one step back; twenty steps multiply twenty factors of 0.5 (the tanh slopes are all 1, "
                "since every state is 0).", answer(TINY_RECURRENT_WEIGHT)),
        Mistake("zero inputs do not make the gradient zero: a change of h_0 still passes through every step, "
                "multiplied by the recurrent weight 0.5 each time.", answer(0.0)),
    ]),
]
