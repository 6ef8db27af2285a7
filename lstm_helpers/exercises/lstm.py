"""Checks for chapter 04: the LSTM gates, the cell, the sequence and BPTT.

Every gate gets its own random weights and bias, and D != H in the visible
trials, so a swap of two gates, a missing bias or a wrong concatenation
order changes the numbers, and the check can say which it was. The
backward exercises receive the cache made by the reference forward (the
format ``lstm_helpers.lstm.lstm_cell_forward`` documents), so a mistake in
the learner's forward pass does not hide or fake one in their backward.
"""

import numpy as np

from .. import lstm as ref
from ..feedforward import sigmoid
from ._core import CACHE, GRADS, Exercise, Mistake, returns

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


def _params(rng, D, H):
    """A different random draw for every gate, so using one gate's weights for another shows."""
    params = {}
    for g in ref.GATES:
        params[f"W_{g}"] = rng.standard_normal((H, H + D)) / np.sqrt(H + D)
        params[f"b_{g}"] = rng.standard_normal(H)
    return params


def _gate_inputs(rng, hidden):
    _, N, D, H = _dims(rng, hidden)
    return {"hx": rng.standard_normal((N, H + D)), "params": _params(rng, D, H)}


def _cell_update_inputs(rng, hidden):
    _, N, _, H = _dims(rng, hidden)
    return {
        "f": rng.uniform(0.05, 0.95, (N, H)),
        "c_prev": rng.standard_normal((N, H)),
        "i": rng.uniform(0.05, 0.95, (N, H)),
        "c_tilde": rng.uniform(-0.95, 0.95, (N, H)),
    }


def _output_inputs(rng, hidden):
    _, N, D, H = _dims(rng, hidden)
    return {"hx": rng.standard_normal((N, H + D)), "c_t": 1.5 * rng.standard_normal((N, H)),
            "params": _params(rng, D, H)}


def _cell_inputs(rng, hidden):
    _, N, D, H = _dims(rng, hidden)
    return {
        "x_t": rng.standard_normal((N, D)),
        "h_prev": rng.uniform(-1, 1, (N, H)),
        "c_prev": rng.standard_normal((N, H)),
        "params": _params(rng, D, H),
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
        "params": _params(rng, D, H),
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


def _forget_variant(**kw):
    return lambda hx, params: _gate(hx, params, "f", **kw)


def _input_variant(i_kw=None, c_kw=None, swap_outputs=False):
    def step(hx, params):
        i = _gate(hx, params, "i", **(i_kw or {}))
        c_tilde = _gate(hx, params, "c", **(c_kw or {}))
        return (c_tilde, i) if swap_outputs else (i, c_tilde)

    return step


def _output_variant(o_kw=None, squash=np.tanh, after=False, swap_outputs=False):
    def step(hx, c_t, params):
        o = _gate(hx, params, "o", **(o_kw or {}))
        h_t = np.tanh(o * c_t) if after else o * squash(c_t)
        return (h_t, o) if swap_outputs else (o, h_t)

    return step


def _cell_variant(use=None, act=None, no_bias=None, order="hx", first="h", shown="c_t", squash=np.tanh,
                  swap_outputs=False):
    """An LSTM cell with one deliberate mistake.

    use: {gate: gate whose weights it takes}; act: {gate: activation};
    no_bias: gate whose bias is left out; order: "hx" or "xh";
    first: "h" or "c" (what is concatenated with x_t); shown: "c_t" or
    "c_prev" (what the output squashes); squash: the output nonlinearity.
    """
    use, act = use or {}, act or {}

    def cell(x_t, h_prev, c_prev, params):
        state = h_prev if first == "h" else c_prev
        hx = np.concatenate([state, x_t] if order == "hx" else [x_t, state], axis=1)
        f, i, c_tilde, o = (_gate(hx, params, g, use.get(g), act.get(g), no_bias != g) for g in ref.GATES)
        c_t = f * c_prev + i * c_tilde
        h_t = o * squash(c_t if shown == "c_t" else c_prev)
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
    + [Mistake("h_t and c_t are returned in the wrong order: return h_t, c_t, cache.",
               _cell_variant(swap_outputs=True))]
)

EXERCISES = [
    Exercise(
        name="forget_gate",
        reference=ref.forget_gate,
        make_inputs=_gate_inputs,
        outputs=returns("f"),
        block=("lstm_helpers.lstm:forget_gate",),
        mistakes=[
            Mistake("tanh used where sigmoid belongs: f = sigmoid(hx @ W_f.T + b_f), between 0 and 1.",
                    _forget_variant(act=np.tanh)),
            Mistake("the sigmoid is missing: f = sigmoid(hx @ W_f.T + b_f).", _forget_variant(act=_identity)),
            Mistake("the bias b_f is missing: f = sigmoid(hx @ W_f.T + b_f).", _forget_variant(bias=False)),
            Mistake("this uses the input gate's weights W_i, b_i; the forget gate has its own, W_f and b_f.",
                    _forget_variant(use="i")),
            Mistake("this uses the output gate's weights W_o, b_o; the forget gate has its own, W_f and b_f.",
                    _forget_variant(use="o")),
            Mistake("this uses the candidate's weights W_c, b_c; the forget gate has its own, W_f and b_f.",
                    _forget_variant(use="c")),
        ],
    ),
    Exercise(
        name="input_gate_and_candidate",
        reference=ref.input_gate_and_candidate,
        make_inputs=_gate_inputs,
        outputs=returns("i", "c_tilde"),
        block=("lstm_helpers.lstm:input_gate_and_candidate",),
        mistakes=[
            Mistake("i and c_tilde are returned in the wrong order: return i, c_tilde.",
                    _input_variant(swap_outputs=True)),
            Mistake("the input gate and the candidate use each other's weights: i = sigmoid(hx @ W_i.T + b_i), "
                    "c_tilde = tanh(hx @ W_c.T + b_c).", _input_variant({"use": "c"}, {"use": "i"})),
            Mistake("the activations are swapped: the input gate is a sigmoid, the candidate a tanh.",
                    _input_variant({"act": np.tanh}, {"act": sigmoid})),
            Mistake("tanh used where sigmoid belongs in the input gate: i = sigmoid(hx @ W_i.T + b_i).",
                    _input_variant({"act": np.tanh})),
            Mistake("sigmoid used where tanh belongs in the candidate: c_tilde = tanh(hx @ W_c.T + b_c), "
                    "values between -1 and 1.", _input_variant(c_kw={"act": sigmoid})),
            Mistake("the input gate uses the forget gate's weights W_f, b_f; it has its own, W_i and b_i.",
                    _input_variant({"use": "f"})),
            Mistake("the bias b_i of the input gate is missing.", _input_variant({"bias": False})),
            Mistake("the bias b_c of the candidate is missing.", _input_variant(c_kw={"bias": False})),
        ],
    ),
    Exercise(
        name="cell_update",
        reference=ref.cell_update,
        make_inputs=_cell_update_inputs,
        outputs=returns("c_t"),
        block=("lstm_helpers.lstm:cell_update",),
        mistakes=[
            Mistake("the forget and input gates are swapped: f multiplies the old state c_prev, "
                    "i multiplies the candidate c_tilde.", lambda f, c_prev, i, c_tilde: i * c_prev + f * c_tilde),
            Mistake("the forget gate is missing: c_t = f * c_prev + i * c_tilde.",
                    lambda f, c_prev, i, c_tilde: c_prev + i * c_tilde),
            Mistake("the input gate is missing: c_t = f * c_prev + i * c_tilde.",
                    lambda f, c_prev, i, c_tilde: f * c_prev + c_tilde),
            Mistake("the old cell state is dropped: c_t = f * c_prev + i * c_tilde.",
                    lambda f, c_prev, i, c_tilde: i * c_tilde),
            Mistake("the candidate is missing: c_t = f * c_prev + i * c_tilde.",
                    lambda f, c_prev, i, c_tilde: f * c_prev + i),
            Mistake("the cell state is not squashed: c_t = f * c_prev + i * c_tilde, with no tanh "
                    "(the tanh comes later, in h_t = o * tanh(c_t)).",
                    lambda f, c_prev, i, c_tilde: np.tanh(f * c_prev + i * c_tilde)),
            Mistake("this couples the gates as (1 - f) * c_tilde (the CIFG variant of chapter 05); "
                    "the LSTM here has its own input gate: c_t = f * c_prev + i * c_tilde.",
                    lambda f, c_prev, i, c_tilde: f * c_prev + (1 - f) * c_tilde),
        ],
    ),
    Exercise(
        name="output_gate_and_hidden",
        reference=ref.output_gate_and_hidden,
        make_inputs=_output_inputs,
        outputs=returns("o", "h_t"),
        block=("lstm_helpers.lstm:output_gate_and_hidden",),
        mistakes=[
            Mistake("the tanh on the cell state is missing: h_t = o * tanh(c_t), not o * c_t.",
                    _output_variant(squash=_identity)),
            Mistake("sigmoid used where tanh belongs: h_t = o * tanh(c_t).", _output_variant(squash=sigmoid)),
            Mistake("the tanh is applied after the product: h_t = o * tanh(c_t), not tanh(o * c_t).",
                    _output_variant(after=True)),
            Mistake("tanh used where sigmoid belongs in the output gate: o = sigmoid(hx @ W_o.T + b_o).",
                    _output_variant({"act": np.tanh})),
            Mistake("the bias b_o of the output gate is missing.", _output_variant({"bias": False})),
            Mistake("the output gate uses the forget gate's weights W_f, b_f; it has its own, W_o and b_o.",
                    _output_variant({"use": "f"})),
            Mistake("the output gate uses the input gate's weights W_i, b_i; it has its own, W_o and b_o.",
                    _output_variant({"use": "i"})),
            Mistake("the output gate uses the candidate's weights W_c, b_c; it has its own, W_o and b_o.",
                    _output_variant({"use": "c"})),
            Mistake("o and h_t are returned in the wrong order: return o, h_t.",
                    _output_variant(swap_outputs=True)),
        ],
    ),
    Exercise(
        name="lstm_cell_forward",
        reference=ref.lstm_cell_forward,
        make_inputs=_cell_inputs,
        outputs=returns("h_t", "c_t", CACHE),
        block=("lstm_helpers.lstm:lstm_cell_forward",),
        mistakes=_CELL_MISTAKES,
    ),
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
            Mistake("off by one: h[t] and c[t] must hold the states *after* step t (h[0] is already new, "
                    "not h0).", _forward_variant("off_by_one")),
            Mistake("the given initial states h0 and c0 are ignored (the loop starts from zeros).",
                    _forward_variant("zero_init")),
            Mistake("h_prev and c_prev are swapped in the call: lstm_cell_forward(x_t, h_prev, c_prev, params).",
                    _forward_variant("swap_hc")),
            Mistake("h and c are returned in the wrong order: return h, c, cache.",
                    _forward_variant("swap_outputs")),
        ],
    ),
    Exercise(
        name="lstm_cell_backward",
        reference=ref.lstm_cell_backward,
        make_inputs=_cell_backward_inputs,
        outputs=returns("dx_t", "dh_prev", "dc_prev", GRADS),
        block=("lstm_helpers.lstm:lstm_cell_backward",),
        mistakes=[
            Mistake("the path from dh_t into the cell state is missing: h_t = o * tanh(c_t) depends on c_t, "
                    "so dc = dc_t + dh_t * o * (1 - tanh(c_t)**2).", _cell_backward_variant("no_tanh_path")),
            Mistake("the tanh derivative on the path from dh_t into c_t is missing: "
                    "dc = dc_t + dh_t * o * (1 - tanh(c_t)**2).", _cell_backward_variant("no_tanh_grad")),
            Mistake("the tanh derivative is taken at the wrong value: it is 1 - tanh(c_t)**2 "
                    "(cache['tanh_c']), not 1 - c_t**2.", _cell_backward_variant("tanh_grad_of_c")),
            Mistake("the incoming cell gradient dc_t is ignored: dc = dc_t + dh_t * o * (1 - tanh(c_t)**2).",
                    _cell_backward_variant("drop_dc_t")),
            Mistake("dc_prev is missing the forget-gate factor: c_t = f * c_prev + ..., so dc_prev = dc * f.",
                    _cell_backward_variant("no_forget_factor")),
            Mistake("dc_prev uses only the incoming dc_t: multiply the *total* cell gradient "
                    "dc = dc_t + dh_t * o * (1 - tanh(c_t)**2) by f.", _cell_backward_variant("only_incoming_dc")),
            Mistake("the output-gate gradient is missing tanh(c_t): h_t = o * tanh(c_t), so "
                    "do = dh_t * tanh(c_t).", _cell_backward_variant("do_without_tanh")),
            Mistake("df and di are swapped: c_t = f * c_prev + i * c_tilde, so df = dc * c_prev and "
                    "di = dc * c_tilde.", _cell_backward_variant("swap_df_di")),
            Mistake("the candidate's derivative uses the sigmoid's s * (1 - s); c_tilde comes from a tanh, "
                    "whose derivative is 1 - c_tilde**2.", _cell_backward_variant("candidate_sigmoid_grad")),
            Mistake("the gates' derivative uses tanh's 1 - s**2; f, i and o are sigmoids, whose derivative "
                    "is s * (1 - s).", _cell_backward_variant("gates_tanh_grad")),
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
            Mistake("dc_prev is missing the forget-gate factor (dc_prev = dc * f): check lstm_cell_backward.",
                    _backward_variant("cell", _cell_backward_variant("no_forget_factor"))),
            Mistake("the path from dh_t into the cell state is missing (dc = dc_t + dh_t * o * "
                    "(1 - tanh(c_t)**2)): check lstm_cell_backward.",
                    _backward_variant("cell", _cell_backward_variant("no_tanh_path"))),
        ],
    ),
]
