"""Checks for chapter 05: peephole connections, coupled gates (CIFG), the GRU, parameter counts.

Every gate gets its own random weights, biases and peepholes, and D != H,
so a gate, a peephole or a concatenation that is swapped changes the output
and can be named. The wrong implementations below are written out here in
full: they never call the references, which the hidden tests block.
"""

import numpy as np

from .. import variants as ref
from ..feedforward import sigmoid
from ._core import CACHE, Exercise, Mistake, entries, returns

CHAPTER = "05_lstm_variants"


def _dims(rng, hidden):
    """N, D, H for one trial. D != H, so that a reversed concatenation shows, and
    H >= 2: with a single unit r*(W·h) = W·(r*h), and the two GRU reset placements agree."""
    if not hidden:
        return 2, 3, 5
    N, D, H = int(rng.integers(1, 6)), int(rng.integers(1, 7)), int(rng.integers(2, 7))
    return N, (D + 1 if D == H else D), H


def _weights(rng, gates, D, H):
    params = {}
    for g in gates:
        params[f"W_{g}"] = rng.standard_normal((H, H + D)) / np.sqrt(H + D)
        params[f"b_{g}"] = rng.standard_normal(H)
    return params


def _lstm_cell_inputs(gates, peepholes):
    def make_inputs(rng, hidden):
        N, D, H = _dims(rng, hidden)
        params = _weights(rng, gates, D, H)
        for key in peepholes:
            params[key] = rng.standard_normal(H)
        return {
            "x_t": rng.standard_normal((N, D)),
            "h_prev": rng.uniform(-1, 1, (N, H)),
            "c_prev": rng.uniform(-2, 2, (N, H)),
            "params": params,
        }

    return make_inputs


class _Alternate:
    """reset_after for successive trials: False, True, False, ... starting over for each new rng.

    Every run of two or more trials (visible or hidden) tests both placements,
    and a visible run always sees them in the same order.
    """

    def __init__(self):
        self.rng, self.count = None, 0

    def __call__(self, rng):
        if rng is not self.rng:
            self.rng, self.count = rng, 0
        self.count += 1
        return self.count % 2 == 0


_next_reset_after = _Alternate()


def _gru_cell_inputs(rng, hidden):
    N, D, H = _dims(rng, hidden)
    return {
        "x_t": rng.standard_normal((N, D)),
        "h_prev": rng.uniform(-1, 1, (N, H)),
        "params": _weights(rng, ("z", "r", "h"), D, H),
        "reset_after": _next_reset_after(rng),
    }


def _count_inputs(rng, hidden):
    # H >= 2: with H = 1 some wrong formulas agree (3H = 3H², H·D + H = H(H + D)).
    D, H = int(rng.integers(1, 40 if hidden else 10)), int(rng.integers(2, 40 if hidden else 10))
    return {"D": D, "H": H + 1 if H == D else H}


def _concat(h, x, order):
    return np.concatenate([h, x] if order == "hx" else [x, h], axis=1)


# --------------------------------------------------------------------------
# Wrong implementations, one switch per mistake
# --------------------------------------------------------------------------

def _peephole_cell(peep="fio", o_reads="c_t", swap_fi=False, gate_act=sigmoid, cand_act=np.tanh,
                   out_act=np.tanh, bias=True, order="hx"):
    def cell(x_t, h_prev, c_prev, params):
        hx = _concat(h_prev, x_t, order)

        def pre(g):
            return hx @ params[f"W_{g}"].T + (params[f"b_{g}"] if bias else 0)

        p_f, p_i = (params["p_i"], params["p_f"]) if swap_fi else (params["p_f"], params["p_i"])
        f = gate_act(pre("f") + (p_f * c_prev if "f" in peep else 0))
        i = gate_act(pre("i") + (p_i * c_prev if "i" in peep else 0))
        c_t = f * c_prev + i * cand_act(pre("c"))
        c_seen = c_t if o_reads == "c_t" else c_prev
        o = gate_act(pre("o") + (params["p_o"] * c_seen if "o" in peep else 0))
        return o * out_act(c_t), c_t, None

    return cell


def _cifg_cell(keep="f", write="1-f", gate_act=sigmoid, cand_act=np.tanh, out_act=np.tanh, bias=True, order="hx"):
    weights = {"f": lambda f: f, "1-f": lambda f: 1 - f, "1": lambda f: 1.0}

    def cell(x_t, h_prev, c_prev, params):
        hx = _concat(h_prev, x_t, order)

        def pre(g):
            return hx @ params[f"W_{g}"].T + (params[f"b_{g}"] if bias else 0)

        f = gate_act(pre("f"))
        c_t = weights[keep](f) * c_prev + weights[write](f) * cand_act(pre("c"))
        o = gate_act(pre("o"))
        return o * out_act(c_t), c_t, None

    return cell


def _gru_cell(update="course", reset="as_asked", swap_zr=False, gate_act=sigmoid, cand_act=np.tanh,
              bias=True, order="hx"):
    """A GRU step with one thing changed. ``reset``: "as_asked" follows reset_after;
    "before" or "after" ignores it (so it is wrong for the other setting only); "none" drops r."""

    def cell(x_t, h_prev, params, reset_after):
        H = h_prev.shape[1]
        hx = _concat(h_prev, x_t, order)

        def pre(g, inputs=hx):
            return inputs @ params[f"W_{g}"].T + (params[f"b_{g}"] if bias else 0)

        z = gate_act(pre("r" if swap_zr else "z"))
        r = gate_act(pre("z" if swap_zr else "r"))
        if reset == "none":
            r = np.ones_like(r)
        after = {"before": False, "after": True}.get(reset, reset_after)
        W_h = params["W_h"]
        W_hh, W_hx = (W_h[:, :H], W_h[:, H:]) if order == "hx" else (W_h[:, -H:], W_h[:, :-H])
        if after:
            h_tilde = cand_act(r * (h_prev @ W_hh.T) + x_t @ W_hx.T + (params["b_h"] if bias else 0))
        else:
            h_tilde = cand_act(pre("h", _concat(r * h_prev, x_t, order)))
        if update == "torch":
            return z * h_prev + (1 - z) * h_tilde, None
        if update == "none":
            return h_tilde, None
        return (1 - z) * h_prev + z * h_tilde, None

    return cell


def _counts(gate=lambda D, H: H * (H + D) + H, peepholes=lambda H: 3 * H, cifg_blocks=3, gru_blocks=3):
    def param_counts(D, H):
        g = gate(D, H)
        return {"lstm": 4 * g, "peephole": 4 * g + peepholes(H), "cifg": cifg_blocks * g, "gru": gru_blocks * g}

    return param_counts


# --------------------------------------------------------------------------
# Exercises
# --------------------------------------------------------------------------

_CONCAT = ("[x_t, h_prev] is concatenated in the wrong order: the hidden state comes first, "
           "np.concatenate([h_prev, x_t], axis=1).")

EXERCISES = [
    Exercise(
        name="peephole_lstm_cell_forward",
        reference=ref.peephole_lstm_cell_forward,
        make_inputs=_lstm_cell_inputs(("f", "i", "c", "o"), ("p_f", "p_i", "p_o")),
        outputs=returns("h_t", "c_t", CACHE),
        block=("lstm_helpers.variants:peephole_lstm_cell_forward",),
        mistakes=[
            Mistake("the output gate's peephole reads c_prev, but it must look at the new cell state: "
                    "compute c_t first, then o = σ(W_o·[h_prev, x_t] + b_o + p_o*c_t).",
                    _peephole_cell(o_reads="c_prev")),
            Mistake("no gate uses its peephole: add p_f*c_prev to the forget gate, p_i*c_prev to the input "
                    "gate and p_o*c_t to the output gate (this is the plain LSTM).", _peephole_cell(peep="")),
            Mistake("the forget gate has no peephole: f = σ(W_f·[h_prev, x_t] + b_f + p_f*c_prev).",
                    _peephole_cell(peep="io")),
            Mistake("the input gate has no peephole: i = σ(W_i·[h_prev, x_t] + b_i + p_i*c_prev).",
                    _peephole_cell(peep="fo")),
            Mistake("the output gate has no peephole: o = σ(W_o·[h_prev, x_t] + b_o + p_o*c_t).",
                    _peephole_cell(peep="fi")),
            Mistake("p_f and p_i are swapped: the forget gate adds p_f*c_prev, the input gate p_i*c_prev.",
                    _peephole_cell(swap_fi=True)),
            Mistake("the candidate uses sigmoid where tanh belongs: c̃ = tanh(W_c·[h_prev, x_t] + b_c).",
                    _peephole_cell(cand_act=sigmoid)),
            Mistake("tanh and sigmoid are exchanged: the gates f, i, o use sigmoid, the candidate c̃ uses tanh.",
                    _peephole_cell(gate_act=np.tanh, cand_act=sigmoid)),
            Mistake("h_t squashes the cell state with sigmoid: h_t = o * tanh(c_t).",
                    _peephole_cell(out_act=sigmoid)),
            Mistake("the tanh on the cell state is missing: h_t = o * tanh(c_t).",
                    _peephole_cell(out_act=lambda c: c)),
            Mistake("the biases b_f, b_i, b_c, b_o are missing.", _peephole_cell(bias=False)),
            Mistake(_CONCAT, _peephole_cell(order="xh")),
        ],
    ),
    Exercise(
        name="cifg_lstm_cell_forward",
        reference=ref.cifg_lstm_cell_forward,
        make_inputs=_lstm_cell_inputs(("f", "c", "o"), ()),
        outputs=returns("h_t", "c_t", CACHE),
        block=("lstm_helpers.variants:cifg_lstm_cell_forward",),
        mistakes=[
            Mistake("the candidate is weighted by f instead of (1 - f): with coupled gates the input gate "
                    "is 1 - f, so c_t = f*c_prev + (1 - f)*c̃.", _cifg_cell(write="f")),
            Mistake("f and 1 - f are the wrong way round: f is the forget gate, the share of c_prev kept, "
                    "so c_t = f*c_prev + (1 - f)*c̃.", _cifg_cell(keep="1-f", write="f")),
            Mistake("the candidate is added without its gate: c_t = f*c_prev + (1 - f)*c̃.",
                    _cifg_cell(write="1")),
            Mistake("the candidate uses sigmoid where tanh belongs: c̃ = tanh(W_c·[h_prev, x_t] + b_c).",
                    _cifg_cell(cand_act=sigmoid)),
            Mistake("tanh and sigmoid are exchanged: the gates f and o use sigmoid, the candidate c̃ uses tanh.",
                    _cifg_cell(gate_act=np.tanh, cand_act=sigmoid)),
            Mistake("h_t squashes the cell state with sigmoid: h_t = o * tanh(c_t).", _cifg_cell(out_act=sigmoid)),
            Mistake("the tanh on the cell state is missing: h_t = o * tanh(c_t).",
                    _cifg_cell(out_act=lambda c: c)),
            Mistake("the biases b_f, b_c, b_o are missing.", _cifg_cell(bias=False)),
            Mistake(_CONCAT, _cifg_cell(order="xh")),
        ],
    ),
    Exercise(
        name="gru_cell_forward",
        reference=ref.gru_cell_forward,
        make_inputs=_gru_cell_inputs,
        outputs=returns("h_t", CACHE),
        block=("lstm_helpers.variants:gru_cell_forward",),
        visible_trials=2,  # reset_after False, then True
        hidden_trials=4,
        mistakes=[
            Mistake("z and 1 - z are swapped: h_t = z*h_prev + (1 - z)*h̃ is PyTorch's convention (its z is "
                    "our 1 - z). Here h_t = (1 - z)*h_prev + z*h̃.", _gru_cell(update="torch")),
            Mistake("with reset_after=False the reset gate scales h_prev before the product: "
                    "h̃ = tanh(W_h·[r*h_prev, x_t] + b_h). This applied r after W_h (the reset_after=True form).",
                    _gru_cell(reset="after")),
            Mistake("with reset_after=True the reset gate scales the product: h̃ = tanh(r*(W_h[:, :H]·h_prev) "
                    "+ W_h[:, H:]·x_t + b_h). This applied r to h_prev before W_h (the reset_after=False form).",
                    _gru_cell(reset="before")),
            Mistake("the reset gate r is not used: h̃ must see r*h_prev (reset_after=False) or "
                    "r*(W_h[:, :H]·h_prev) (reset_after=True).", _gru_cell(reset="none")),
            Mistake("the update gate z and the reset gate r are swapped: z = σ(W_z·[h_prev, x_t] + b_z), "
                    "r = σ(W_r·[h_prev, x_t] + b_r).", _gru_cell(swap_zr=True)),
            Mistake("the update gate is missing: h_t = (1 - z)*h_prev + z*h̃, not h̃ alone.",
                    _gru_cell(update="none")),
            Mistake("the candidate uses sigmoid where tanh belongs: h̃ = tanh(...).", _gru_cell(cand_act=sigmoid)),
            Mistake("tanh and sigmoid are exchanged: the gates z and r use sigmoid, the candidate h̃ uses tanh.",
                    _gru_cell(gate_act=np.tanh, cand_act=sigmoid)),
            Mistake("the biases b_z, b_r, b_h are missing.", _gru_cell(bias=False)),
            Mistake(_CONCAT + " (With reset_after=True, W_h[:, :H] acts on h_prev and W_h[:, H:] on x_t.)",
                    _gru_cell(order="xh")),
        ],
    ),
]

# param_counts returns a dict of integers, {"lstm": 180, ...}, compared entry by entry.
PARAM_COUNTS = Exercise(
    name="param_counts",
    reference=ref.param_counts,
    make_inputs=_count_inputs,
    outputs=returns(entries("counts")),
    block=("lstm_helpers.variants:param_counts", "lstm_helpers.variants:param_count"),
    mistakes=[
        Mistake("each gate was counted with two bias vectors, as PyTorch stores them (bias_ih and "
                "bias_hh); in the course every gate has one bias b of shape (H,): H(H + D) + H per gate.",
                _counts(gate=lambda D, H: H * (H + D) + 2 * H)),
        Mistake("the biases are not counted: every gate has W (H, H + D) and b (H,), H(H + D) + H numbers.",
                _counts(gate=lambda D, H: H * (H + D))),
        Mistake("the recurrent weights are missing: W acts on [h_prev, x_t], so it is (H, H + D), not (H, D).",
                _counts(gate=lambda D, H: H * D + H)),
        Mistake("the peepholes are missing from the peephole count: p_f, p_i and p_o add 3H.",
                _counts(peepholes=lambda H: 0)),
        Mistake("the peepholes were counted as full (H, H) matrices; they are diagonal, vectors p of shape "
                "(H,): 3H in all.", _counts(peepholes=lambda H: 3 * H * H)),
        Mistake("the CIFG was counted with four gates; it has no input gate (i = 1 - f), so three: "
                "W_f, W_c, W_o and their biases.", _counts(cifg_blocks=4)),
        Mistake("the GRU was counted with four blocks; it has three: z, r and the candidate h̃.",
                _counts(gru_blocks=4)),
    ],
)

EXERCISES.append(PARAM_COUNTS)
