"""Checks for chapter 04: the LSTM gates, the cell, the sequence, the
forget-gate bias, BPTT, and six questions.

Every gate gets its own random weights and bias, and D != H in the visible
trials, so a swap of two gates, a missing bias or a wrong concatenation
order changes the numbers, and the check can say which it was. The
backward exercises receive the cache made by the reference forward (the
format ``lstm_helpers.lstm.lstm_cell_forward`` documents), so a mistake in
the learner's forward pass does not hide or fake one in their backward.
The learner derives the cell's backward pass; its mistakes' messages say
which gradients are wrong and where the slip is, without the equations.

The questions asked before the gate sliders, a demo or the gradient view
shows the answer are predictions: their visible check only records the
answer. Their right answers come from a formula or from the course code
that draws the picture.
"""

from functools import lru_cache

import numpy as np

from .. import lstm as ref
from ..feedforward import sigmoid
from ._core import CACHE, GRADS, Exercise, Mistake, returns
from ._inputs import gate_params
from ._questions import answer, question

CHAPTER = "04_lstm"

GATE_NAMES = {"f": "forget gate f", "i": "input gate i", "c": "candidate c_tilde", "o": "output gate o"}
_ACT = {"f": sigmoid, "i": sigmoid, "c": np.tanh, "o": sigmoid}


def _identity(a):
    return a


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------


def _dims(rng, hidden):
    if hidden:
        # T >= 2: with a single step, dropping the carry from the future or
        # not accumulating the weight gradients would give the right answer.
        T, N, D, H = (int(v) for v in rng.integers(1, 6, size=4))
        return T + 1, N, D, H + 1
    return 4, 2, 3, 5  # D != H, so a wrong concatenation or split shows


def _gate_inputs(rng, hidden):
    _, N, D, H = _dims(rng, hidden)
    return {"hx": rng.standard_normal((N, H + D)), "params": gate_params(rng, ref.GATES, D, H)}


def _bias_inputs(rng, hidden):
    n = int(rng.integers(1, 8)) if hidden else 4
    steps = rng.integers(1, 301, size=n)
    steps[0] = 1  # one step: the bias of a gate that keeps `fraction` once
    return {"fraction": rng.uniform(0.05, 0.95, n), "steps": steps}


def _cell_inputs(rng, hidden):
    _, N, D, H = _dims(rng, hidden)
    return {
        "x_t": rng.standard_normal((N, D)),
        "h_prev": rng.uniform(-1, 1, (N, H)),
        "c_prev": rng.standard_normal((N, H)),
        "params": gate_params(rng, ref.GATES, D, H),
    }


def _cell_backward_inputs(rng, hidden):
    inputs = _cell_inputs(rng, hidden)
    h_t, c_t, cache = ref.lstm_cell_forward(**inputs)
    return {"dh_t": rng.standard_normal(h_t.shape), "dc_t": rng.standard_normal(c_t.shape), "cache": cache}


def _seq_inputs(rng, hidden):
    T, N, D, H = _dims(rng, hidden)
    return {
        "x": rng.standard_normal((T, N, D)),
        "h0": rng.uniform(-1, 1, (N, H)),
        "c0": rng.standard_normal((N, H)),
        "params": gate_params(rng, ref.GATES, D, H),
    }


def _seq_backward_inputs(rng, hidden):
    inputs = _seq_inputs(rng, hidden)
    h, c, cache = ref.lstm_forward(**inputs)
    return {"dh": rng.standard_normal(h.shape), "cache": cache, "dc_last": rng.standard_normal(c[-1].shape)}


# ---------------------------------------------------------------------------
# Wrong implementations (each one likely mistake)
# ---------------------------------------------------------------------------


def _gate(hx, params, gate, use=None, act=None, bias=True):
    """act(hx @ W.T + b) for ``gate``, possibly with another gate's weights (``use``)."""
    use = use or gate
    a = hx @ params[f"W_{use}"].T
    if bias:
        a = a + params[f"b_{use}"]
    return (act or _ACT[gate])(a)


def lstm_gates(hx, params):
    """The four layers of the cell, act(hx @ W_g.T + b_g) for g = f, i, c, o.

    hx: (N, H + D); params: W_f, W_i, W_c, W_o (H, H + D), b_f, b_i, b_c, b_o (H,)
    Returns f, i, c_tilde, o, each (N, H). The reference of chapter 04's exercise 7.1, written out
    here rather than composed from ``lstm.forget_gate`` and friends, which that exercise blocks (a test
    keeps it equal to the gates that ``lstm.lstm_cell_forward`` caches).
    """
    return tuple(_gate(hx, params, g) for g in ref.GATES)


def _gates_variant(use=None, act=None, no_bias=None, order=("f", "i", "c", "o")):
    """``lstm_gates`` with one deliberate mistake: ``use`` {gate: gate whose weights it takes}, ``act``
    {gate: activation}, ``no_bias`` a gate without its bias, ``order`` the order of the returned layers."""
    use, act = use or {}, act or {}

    def gates(hx, params):
        values = {g: _gate(hx, params, g, use.get(g), act.get(g), no_bias != g) for g in ref.GATES}
        return tuple(values[g] for g in order)

    return gates


_UPDATES = {
    "right": lambda f, c_prev, i, c_tilde: f * c_prev + i * c_tilde,
    "squashed": lambda f, c_prev, i, c_tilde: np.tanh(f * c_prev + i * c_tilde),
    "no_forget": lambda f, c_prev, i, c_tilde: c_prev + i * c_tilde,
    "no_input": lambda f, c_prev, i, c_tilde: f * c_prev + c_tilde,
    "no_memory": lambda f, c_prev, i, c_tilde: i * c_tilde,
    "coupled": lambda f, c_prev, i, c_tilde: f * c_prev + (1 - f) * c_tilde,
}


def _cell_variant(use=None, act=None, no_bias=None, order="hx", first="h", shown="c_t", squash=np.tanh,
                  swap_outputs=False, update="right", squash_after=False):
    """An LSTM cell with one deliberate mistake.

    use: {gate: gate whose weights it takes}; act: {gate: activation};
    no_bias: gate whose bias is left out; order: "hx" or "xh";
    first: "h" or "c" (what is concatenated with x_t); shown: "c_t" or
    "c_prev" (what the output squashes); squash: the output nonlinearity;
    update: a key of ``_UPDATES`` (how c_t is formed); squash_after: tanh(o * c_t).
    """
    use, act = use or {}, act or {}

    def cell(x_t, h_prev, c_prev, params):
        state = h_prev if first == "h" else c_prev
        hx = np.concatenate([state, x_t] if order == "hx" else [x_t, state], axis=1)
        f, i, c_tilde, o = (_gate(hx, params, g, use.get(g), act.get(g), no_bias != g) for g in ref.GATES)
        c_t = _UPDATES[update](f, c_prev, i, c_tilde)
        h_t = np.tanh(o * c_t) if squash_after else o * squash(c_t if shown == "c_t" else c_prev)
        return (c_t, h_t, None) if swap_outputs else (h_t, c_t, None)

    return cell


def _swap(a, b):
    return _cell_variant(use={a: b, b: a})


def _forward_variant(kind):
    def forward(x, h0, c0, params):
        zeros = np.zeros_like(h0)
        h_prev, c_prev = (zeros, zeros) if kind == "zero_init" else (h0, c0)
        hs, cs = [], []
        for t in range(len(x)):
            h_in = h0 if kind in ("always_init", "no_h_carry") else h_prev
            c_in = c0 if kind in ("always_init", "no_c_carry") else c_prev
            if kind == "swap_hc":
                h_in, c_in = c_in, h_in
            h_new, c_new, _ = ref.lstm_cell_forward(x[t], h_in, c_in, params)
            hs.append(h_in if kind == "off_by_one" else h_new)
            cs.append(c_in if kind == "off_by_one" else c_new)
            h_prev, c_prev = h_new, c_new
        h, c = np.stack(hs), np.stack(cs)
        return (c, h, None) if kind == "swap_outputs" else (h, c, None)

    return forward


def _cell_backward_variant(kind):
    def backward(dh_t, dc_t, cache):
        hx, c_prev, c_t, p = cache["hx"], cache["c_prev"], cache["c_t"], cache["params"]
        f, i, c_tilde, o, tanh_c = cache["f"], cache["i"], cache["c_tilde"], cache["o"], cache["tanh_c"]
        H = f.shape[1]
        sig_grad = (lambda s: 1 - s * s) if kind == "gates_tanh_grad" else (lambda s: s * (1 - s))
        cand_grad = (lambda s: s * (1 - s)) if kind == "candidate_sigmoid_grad" else (lambda s: 1 - s * s)

        do = dh_t if kind == "do_without_tanh" else dh_t * tanh_c
        local = {"no_tanh_path": 0.0, "no_tanh_grad": 1.0, "tanh_grad_of_c": 1 - c_t * c_t}.get(kind, 1 - tanh_c**2)
        dc = dh_t * o * local + (0.0 if kind == "drop_dc_t" else dc_t)
        df, di = (dc * c_tilde, dc * c_prev) if kind == "swap_df_di" else (dc * c_prev, dc * c_tilde)
        dc_prev = {"no_forget_factor": dc, "only_incoming_dc": dc_t * f}.get(kind, dc * f)
        da = {"f": df * sig_grad(f), "i": di * sig_grad(i), "c": dc * i * cand_grad(c_tilde), "o": do * sig_grad(o)}

        dhx = sum(da[g] @ p[f"W_{g}"] for g in ref.GATES)
        grads = {}
        for g in ref.GATES:
            grads[f"W_{g}"] = da[g].T @ hx
            grads[f"b_{g}"] = da[g].sum(axis=0)
        return dhx[:, H:], dhx[:, :H], dc_prev, grads

    return backward


def _backward_variant(kind, cell_backward=None):
    cell_backward = cell_backward or ref.lstm_cell_backward

    def backward(dh, cache, dc_last=None):
        steps = cache["steps"]
        T, (N, H) = len(steps), steps[0]["f"].shape
        D = steps[0]["hx"].shape[1] - H
        dx = np.zeros((T, N, D))
        grads = {key: np.zeros_like(value) for key, value in steps[0]["params"].items()}
        dh_next = np.zeros((N, H))
        dc_next = np.zeros((N, H)) if (dc_last is None or kind == "ignore_dc_last") else dc_last
        order = {"forward_order": range(T), "off_by_one": range(T - 1, 0, -1)}.get(kind, reversed(range(T)))
        for t in order:
            dh_in = dh[t] if kind == "no_dh_carry" else dh[t] + dh_next
            dx[t], dh_next, dc_prev, g = cell_backward(dh_in, dc_next, steps[t])
            dc_next = np.zeros((N, H)) if kind == "no_dc_carry" else dc_prev
            for key in grads:
                grads[key] = g[key] if kind == "no_accumulate" else grads[key] + g[key]
        return dx, dh_next, dc_next, grads

    return backward


# ---------------------------------------------------------------------------
# The exercises
# ---------------------------------------------------------------------------

_SWAPS = [
    ("f", "i", "the forget and input gates are swapped: f uses W_f, b_f and multiplies c_prev; "
               "i uses W_i, b_i and multiplies c_tilde."),
    ("f", "o", "the forget and output gates are swapped: f = sigmoid(hx @ W_f.T + b_f) scales c_prev, "
               "o = sigmoid(hx @ W_o.T + b_o) scales tanh(c_t)."),
    ("i", "o", "the input and output gates are swapped: i = sigmoid(hx @ W_i.T + b_i) scales c_tilde, "
               "o = sigmoid(hx @ W_o.T + b_o) scales tanh(c_t)."),
    ("f", "c", "the forget gate and the candidate use each other's weights: f takes W_f, b_f and "
               "c_tilde takes W_c, b_c."),
    ("i", "c", "the input gate and the candidate use each other's weights: i takes W_i, b_i and "
               "c_tilde takes W_c, b_c."),
    ("o", "c", "the output gate and the candidate use each other's weights: o takes W_o, b_o and "
               "c_tilde takes W_c, b_c."),
]

_CELL_MISTAKES = (
    [Mistake(message, _swap(a, b)) for a, b, message in _SWAPS]
    + [Mistake(f"tanh used where sigmoid belongs in the {GATE_NAMES[g]}: gates are "
               f"sigmoid(hx @ W_{g}.T + b_{g}), values between 0 and 1.", _cell_variant(act={g: np.tanh}))
       for g in ("f", "i", "o")]
    + [
        Mistake("sigmoid used where tanh belongs in the candidate: c_tilde = tanh(hx @ W_c.T + b_c), "
                "values between -1 and 1.", _cell_variant(act={"c": sigmoid})),
        Mistake("the output uses c_prev where the new cell state belongs: h_t = o * tanh(c_t).",
                _cell_variant(shown="c_prev")),
        Mistake("the tanh on the cell state is missing: h_t = o * tanh(c_t), not o * c_t.",
                _cell_variant(squash=_identity)),
        Mistake("sigmoid used where tanh belongs in the output: h_t = o * tanh(c_t).",
                _cell_variant(squash=sigmoid)),
        Mistake("[x_t, h_prev] is concatenated in the wrong order: the hidden state comes first, "
                "hx = np.concatenate([h_prev, x_t], axis=1).", _cell_variant(order="xh")),
        Mistake("the gates read c_prev instead of h_prev: hx = np.concatenate([h_prev, x_t], axis=1).",
                _cell_variant(first="c")),
    ]
    + [Mistake(f"the bias b_{g} of the {GATE_NAMES[g]} is missing.", _cell_variant(no_bias=g))
       for g in ref.GATES]
    + [
        Mistake("h_t and c_t are returned in the wrong order: return h_t, c_t, cache.",
                _cell_variant(swap_outputs=True)),
        Mistake("the cell state is squashed: c_t = f * c_prev + i * c_tilde has no tanh (the tanh comes "
                "later, in h_t = o * tanh(c_t)); a squashed belt could not carry a value unchanged.",
                _cell_variant(update="squashed")),
        Mistake("the forget gate is missing from the cell update: c_t = f * c_prev + i * c_tilde.",
                _cell_variant(update="no_forget")),
        Mistake("the input gate is missing from the cell update: c_t = f * c_prev + i * c_tilde.",
                _cell_variant(update="no_input")),
        Mistake("the old cell state is dropped: c_t = f * c_prev + i * c_tilde keeps f * c_prev.",
                _cell_variant(update="no_memory")),
        Mistake("this couples the gates as (1 - f) * c_tilde (the CIFG variant of chapter 05); this cell has its "
                "own input gate: c_t = f * c_prev + i * c_tilde.", _cell_variant(update="coupled")),
        Mistake("the tanh is applied after the product: h_t = o * tanh(c_t), not tanh(o * c_t).",
                _cell_variant(squash_after=True)),
    ]
)

_GATE_MISTAKES = (
    [Mistake(message, _gates_variant(use={a: b, b: a})) for a, b, message in _SWAPS]
    + [Mistake(f"tanh used where sigmoid belongs in the {GATE_NAMES[g]}: a gate is sigmoid(hx @ W_{g}.T + b_{g}), "
               "an opening between 0 and 1.", _gates_variant(act={g: np.tanh})) for g in ("f", "i", "o")]
    + [
        Mistake("sigmoid used where tanh belongs in the candidate: c_tilde = tanh(hx @ W_c.T + b_c) proposes "
                "values between -1 and 1.", _gates_variant(act={"c": sigmoid})),
        Mistake("the activations of the input gate and the candidate are swapped: i is a sigmoid (how much to "
                "write), c_tilde a tanh (what to write).", _gates_variant(act={"i": np.tanh, "c": sigmoid})),
        Mistake("o and c_tilde are returned in each other's places: return f, i, c_tilde, o.",
                _gates_variant(order=("f", "i", "o", "c"))),
    ]
    + [Mistake(f"the bias b_{g} of the {GATE_NAMES[g]} is missing.", _gates_variant(no_bias=g)) for g in ref.GATES]
)


# ---------------------------------------------------------------------------
# The forget-gate bias
# ---------------------------------------------------------------------------


def forget_bias_to_keep(fraction, steps):
    """The forget-gate bias b_f that keeps ``fraction`` of the cell state after ``steps`` steps.

    For a cell whose gates ignore their inputs (weights 0) and whose input gate
    is shut: c_T = f**T c_0 with f = sigmoid(b_f). So f = fraction**(1/steps),
    and b_f is the inverse of the sigmoid, log(f / (1 - f)).
    fraction: (n,) in (0, 1); steps: (n,) positive integers. Returns b_f: (n,).
    """
    f = np.asarray(fraction, dtype=float) ** (1.0 / np.asarray(steps, dtype=float))
    return np.log(f) - np.log1p(-f)


def _logit(p):
    return np.log(p) - np.log1p(-p)


# ---------------------------------------------------------------------------
# The questions
# ---------------------------------------------------------------------------

#: The LSTM of question 3.1: D inputs, H hidden units.
COUNT_D, COUNT_H = 3, 5
#: Question 6.1: a forget gate held at FORGET with the input gate shut, for STEPS steps.
FORGET, STEPS = 0.9, 20
#: The gate sliders' cell: its initial memory, the candidate at the spike (the slider's starting value), steps.
SLIDER_C0, SLIDER_CANDIDATE, SLIDER_STEPS = 0.5, 0.8, 40
#: Question 11.2: a fresh cell's forget bias (init_lstm_params) and the steps it must remember for.
FRESH_BIAS, FRESH_STEPS = 1.0, 33
#: Question 14.1: the gradient view's length, and the fraction of the gradient to keep over it.
VIEW_STEPS, VIEW_KEEP = 200, 0.5

#: Question 14.2's choices: (sigma_max, input scale) of the tanh RNN in the gradient view; "d" is "none of them".
RNN_SETTINGS = {"a": (1.0, 0.0), "b": (1.0, 1.0), "c": (1.2, 0.3)}


def _lstm_parameter_count():
    return int(sum(np.prod(shape) for shape in ref.lstm_param_shapes(COUNT_D, COUNT_H).values()))


@lru_cache(maxsize=1)
def _rnn_setting_near_1():
    """The letter of the slider setting whose tanh-RNN curve stays within [1/2, 2] over all 200 lags of the
    gradient view (drawn by the view's own curve and setting), or "d" when none does."""
    # Imported here, not above, so that importing the checks does not import ipywidgets; and absolute,
    # because the hidden tests' private copy of this package has left sys.modules when a check runs.
    from lstm_helpers.viz.widgets.gradient_flow import FlowSetting, TanhRNNCurve

    setting = FlowSetting.draw(np.random.default_rng(0), max_len=VIEW_STEPS)  # GradientView's draws
    near = [letter for letter, (sigma, scale) in RNN_SETTINGS.items()
            if np.all(np.abs(np.log2(TanhRNNCurve().compute(
                {"sigma_max": sigma, "input_scale": scale, "seq_len": VIEW_STEPS}, setting))) <= 1)]
    return near[0] if len(near) == 1 else "d"


EXERCISES = [
    question("lstm_parameter_count", _lstm_parameter_count, prediction=False, mistakes=[
        Mistake("that is one layer's worth, an RNN's count; the LSTM has four layers (f, i, c_tilde, o), "
                "each with its own W (H, H + D) and b (H,).", answer(COUNT_H * (COUNT_H + COUNT_D) + COUNT_H)),
        Mistake("the four biases are missing from the count: each layer also has b of shape (H,).",
                answer(4 * COUNT_H * (COUNT_H + COUNT_D))),
        Mistake("every layer reads [h_prev, x_t], so each W has H + D columns, not D.",
                answer(4 * (COUNT_H * COUNT_D + COUNT_H))),
        Mistake("the candidate is a layer too, with its own W_c and b_c: four layers, not three.",
                answer(3 * (COUNT_H * (COUNT_H + COUNT_D) + COUNT_H))),
    ]),
    question("fraction_left_after_20", lambda: FORGET ** STEPS, rtol=0.02, mistakes=[
        Mistake("each step multiplies the cell state by f = 0.9, so twenty steps leave 0.9 ** 20, not 1 minus "
                "twenty times 0.1: the losses compound.", answer(1 - (1 - FORGET) * STEPS)),
        Mistake("0.9 is what one step keeps; twenty steps keep 0.9 ** 20.", answer(FORGET)),
        Mistake("f is the fraction kept, not the fraction erased: each step keeps 0.9 of the state.",
                answer((1 - FORGET) ** STEPS)),
    ]),
    Exercise(
        name="lstm_gates",
        reference=lstm_gates,
        make_inputs=_gate_inputs,
        outputs=returns("f", "i", "c_tilde", "o"),
        block=("lstm_helpers.exercises.lstm:lstm_gates", "lstm_helpers.lstm:forget_gate",
               "lstm_helpers.lstm:input_gate_and_candidate", "lstm_helpers.lstm:output_gate_and_hidden",
               "lstm_helpers.lstm:lstm_cell_forward"),
        mistakes=list(_GATE_MISTAKES),
    ),
    Exercise(
        name="lstm_cell_forward",
        reference=ref.lstm_cell_forward,
        make_inputs=_cell_inputs,
        outputs=returns("h_t", "c_t", CACHE),
        block=("lstm_helpers.lstm:lstm_cell_forward",),
        mistakes=_CELL_MISTAKES,
    ),
    question("c_after_write_and_keep", lambda: SLIDER_C0 + SLIDER_CANDIDATE, rtol=0.01, mistakes=[
        Mistake("with f = 1 nothing is erased: the spike's candidate is added to the memory c_0 = 0.5 that "
                "was already there.", answer(SLIDER_CANDIDATE)),
        Mistake("with i = 1 the input gate is wide open, so the spike's candidate 0.8 gets in and is added "
                "to c_0.", answer(SLIDER_C0)),
        Mistake("i = 1 at every step, but the candidate is 0 except at the spike (the input is 0 there), so "
                "the 0.8 is added once.", answer(SLIDER_C0 + SLIDER_CANDIDATE * SLIDER_STEPS)),
    ]),
    Exercise(
        name="lstm_forward",
        reference=ref.lstm_forward,
        make_inputs=_seq_inputs,
        outputs=returns("h", "c", CACHE),
        block=("lstm_helpers.lstm:lstm_forward",),
        mistakes=[
            Mistake("every step starts from h0 and c0: pass the states of step t - 1 into step t.",
                    _forward_variant("always_init")),
            Mistake("the hidden state is not carried: every step gets h0, while h_prev should be the "
                    "h_t of the step before.", _forward_variant("no_h_carry")),
            Mistake("the cell state is not carried: every step gets c0, while c_prev should be the "
                    "c_t of the step before.", _forward_variant("no_c_carry")),
            Mistake("off by one: h[t] and c[t] hold the states after reading x[t], so h[0] is already h_1, "
                    "the state after the first input, not h0.", _forward_variant("off_by_one")),
            Mistake("the given initial states h0 and c0 are ignored (the loop starts from zeros).",
                    _forward_variant("zero_init")),
            Mistake("h_prev and c_prev are swapped in the call: lstm_cell_forward(x_t, h_prev, c_prev, params).",
                    _forward_variant("swap_hc")),
            Mistake("h and c are returned in the wrong order: return h, c, cache.",
                    _forward_variant("swap_outputs")),
        ],
    ),
    question("fresh_cell_memory", lambda: float(sigmoid(FRESH_BIAS)) ** FRESH_STEPS, rtol=0.1, mistakes=[
        Mistake("sigmoid(1) = 0.73 is what one step keeps; 33 steps keep 0.73 ** 33.",
                lambda: float(sigmoid(FRESH_BIAS))),  # lazily: chapter 01 is graded with sigmoid stubbed
        Mistake("the belt can carry a value unchanged only when f = 1; a fresh cell's f = sigmoid(1) = 0.73 "
                "erases a quarter of it at every step.", answer(1.0)),
        Mistake("0.5 ** 33 is what a forget bias of 0 would keep (sigmoid(0) = 0.5); init_lstm_params "
                "sets b_f = 1, so f = sigmoid(1) = 0.73.", answer(0.5 ** FRESH_STEPS)),
    ]),
    Exercise(
        name="forget_bias_to_keep",
        reference=forget_bias_to_keep,
        make_inputs=_bias_inputs,
        outputs=returns("b_f"),
        block=("lstm_helpers.exercises.lstm:forget_bias_to_keep",),
        mistakes=[
            Mistake("this returns the forget gate's value f = fraction ** (1 / steps); the bias is the "
                    "pre-activation that gives it: invert the sigmoid.",
                    lambda fraction, steps: fraction ** (1.0 / steps)),
            Mistake("the number of steps is ignored: f ** steps = fraction, so each step keeps "
                    "fraction ** (1 / steps), and that is what sigmoid(b_f) must be.",
                    lambda fraction, steps: _logit(fraction)),
            Mistake("the power goes the other way: f ** steps = fraction gives f = fraction ** (1 / steps), "
                    "not fraction ** steps.", lambda fraction, steps: _logit(fraction ** steps)),
            Mistake("the losses compound, they do not add up: f ** steps = fraction, so f = fraction ** "
                    "(1 / steps), not 1 - (1 - fraction) / steps.",
                    lambda fraction, steps: _logit(1 - (1 - fraction) / steps)),
            Mistake("log(f) is not the inverse of the sigmoid: sigmoid(b) = f gives b = log(f / (1 - f)).",
                    lambda fraction, steps: np.log(fraction ** (1.0 / steps))),
            Mistake("the sign is flipped: sigmoid(b) = f gives b = log(f / (1 - f)), positive for f > 1/2.",
                    lambda fraction, steps: -_logit(fraction ** (1.0 / steps))),
        ],
    ),
    Exercise(
        name="lstm_cell_backward",
        reference=ref.lstm_cell_backward,
        make_inputs=_cell_backward_inputs,
        outputs=returns("dx_t", "dh_prev", "dc_prev", GRADS),
        block=("lstm_helpers.lstm:lstm_cell_backward",),
        mistakes=[
            Mistake("every gradient that goes through the cell state is wrong (dc_prev, and those of f, i and the "
                    "candidate): the path from dh_t into the cell state is missing. h_t = o * tanh(c_t) depends "
                    "on c_t, so dh_t reaches c_t too, and adds to the dc_t that came along the belt.",
                    _cell_backward_variant("no_tanh_path")),
            Mistake("the gradients through the cell state are wrong: on the path from dh_t into c_t the "
                    "derivative of the tanh is missing. Going back through h_t = o * tanh(c_t) to c_t "
                    "multiplies by the tanh's slope at c_t.", _cell_backward_variant("no_tanh_grad")),
            Mistake("the gradients through the cell state are wrong: the tanh's slope is taken at the wrong "
                    "value. Written with its output, tanh' = 1 - tanh(c_t)**2 (cache['tanh_c']), not 1 - c_t**2.",
                    _cell_backward_variant("tanh_grad_of_c")),
            Mistake("the gradients through the cell state are wrong: the gradient dc_t that arrives along the "
                    "belt from step t + 1 is dropped. The total gradient on c_t adds it to the part that comes "
                    "through h_t.", _cell_backward_variant("drop_dc_t")),
            Mistake("dc_prev is wrong while every other gradient is right: it is missing the forget-gate factor. "
                    "c_t = f * c_prev + ..., so going back to c_prev multiplies by f.",
                    _cell_backward_variant("no_forget_factor")),
            Mistake("dc_prev is wrong while every other gradient is right: it uses only the dc_t that came along "
                    "the belt. c_prev reaches the loss through all of c_t, so it gets the *total* gradient on c_t "
                    "(including the part through h_t), times f.", _cell_backward_variant("only_incoming_dc")),
            Mistake("the output gate's gradients (dW_o, db_o, and dx_t, dh_prev through them) are wrong: in "
                    "h_t = o * tanh(c_t), o is multiplied by tanh(c_t), so its gradient is dh_t times tanh(c_t).",
                    _cell_backward_variant("do_without_tanh")),
            Mistake("the forget and input gates' gradients are swapped: in c_t = f * c_prev + i * c_tilde, "
                    "f multiplies c_prev and i multiplies c_tilde.", _cell_backward_variant("swap_df_di")),
            Mistake("the candidate's gradients (dW_c, db_c) are wrong: c_tilde comes from a tanh, whose slope "
                    "in terms of its output is 1 - c_tilde**2, not the sigmoid's c_tilde (1 - c_tilde).",
                    _cell_backward_variant("candidate_sigmoid_grad")),
            Mistake("the gates' gradients (dW_f, dW_i, dW_o and their biases) are wrong: f, i and o are sigmoids, "
                    "whose slope in terms of the output s is s (1 - s), not tanh's 1 - s**2.",
                    _cell_backward_variant("gates_tanh_grad")),
        ],
    ),
    Exercise(
        name="lstm_backward",
        reference=ref.lstm_backward,
        make_inputs=_seq_backward_inputs,
        outputs=returns("dx", "dh0", "dc0", GRADS),
        block=("lstm_helpers.lstm:lstm_backward",),
        mistakes=[
            Mistake("the cell-state gradient from the future is dropped: step t receives the dc_prev "
                    "that step t + 1 returned (and the last step receives dc_last).", _backward_variant("no_dc_carry")),
            Mistake("the hidden-state gradient from the future is dropped: step t receives dh[t] + dh_prev "
                    "from step t + 1.", _backward_variant("no_dh_carry")),
            Mistake("the weight gradients are not accumulated: the same weights act at every step, so add "
                    "(+=) each step's gradient.", _backward_variant("no_accumulate")),
            Mistake("off by one: the loop stops before t = 0; it must run t = T - 1, T - 2, ..., 0 "
                    "(reversed(range(T))).", _backward_variant("off_by_one")),
            Mistake("the loop runs forwards; backpropagation through time goes from t = T - 1 down to 0.",
                    _backward_variant("forward_order")),
            Mistake("dc_last is ignored: it is the gradient on the final cell state, so the last step "
                    "starts from dc = dc_last (zeros only when it is None).", _backward_variant("ignore_dc_last")),
            Mistake("dc0 and the gradients before the last step are wrong: dc_prev is missing the forget-gate "
                    "factor. Check lstm_cell_backward.",
                    _backward_variant("cell", _cell_backward_variant("no_forget_factor"))),
            Mistake("lstm_cell_backward drops the gradient dc_t that arrives along the belt, so every step "
                    "loses what the later steps send back: fix lstm_cell_backward (its test names the slip).",
                    _backward_variant("cell", _cell_backward_variant("drop_dc_t"))),
            Mistake("the path from dh_t into the cell state is missing (h_t = o * tanh(c_t) depends on c_t): "
                    "check lstm_cell_backward.",
                    _backward_variant("cell", _cell_backward_variant("no_tanh_path"))),
        ],
    ),
    question("forget_gate_for_half_at_200", lambda: VIEW_KEEP ** (1.0 / VIEW_STEPS), rtol=1e-4, mistakes=[
        Mistake("the gradient at lag 200 is f ** 200, and f ** 200 = 1/2 gives f = 0.5 ** (1/200): "
                "the losses compound, so f = 1 - 0.5/200 is not quite enough.",
                answer(1 - (1 - VIEW_KEEP) / VIEW_STEPS)),
        Mistake("f = 0.5 keeps half for one step; over 200 steps the gradient is f ** 200, so f must be "
                "0.5 ** (1/200).", answer(VIEW_KEEP)),
        Mistake("f ** 200 = 1/2 gives f = 0.5 ** (1/200), about 0.9965; 1 - 1/200 keeps only 0.37.",
                answer(1 - 1 / VIEW_STEPS)),
    ]),
    question("rnn_setting_near_1", _rnn_setting_near_1, mistakes=[
        Mistake("with inputs, the units move away from 0 and their slopes 1 - h**2 drop below 1: at "
                "sigma_max = 1 the product of 200 such factors vanishes.", answer("b")),
        Mistake("a slightly larger sigma_max cannot make up for the slopes for long: the inputs push "
                "different units to different slopes at every step, and over 200 steps the product "
                "drifts far from 1.", answer("c")),
        Mistake("one setting does keep the curve at exactly 1: with no input the states stay at 0, every "
                "slope is 1, and an orthogonal W_rec with sigma_max = 1 keeps every length.", answer("d")),
    ]),
]
