"""Checks for chapter 05: peephole connections, coupled gates (CIFG), the GRU, its backward pass and
Jacobian, parameter counts, and three predictions.

Every gate gets its own random weights, biases and peepholes, and D != H,
so a gate, a peephole or a concatenation that is swapped changes the output
and can be named. The wrong implementations below are written out here in
full: they never call the references, which the hidden tests block.

The GRU's backward pass and its Jacobian receive the cache of the course's
``gru_cell_forward`` (reset_after=False), so a slip in the learner's forward
pass cannot hide one in the derivation. The questions are predictions: each
right answer is computed here by the course's code or a formula, and
``tests/test_exercises_05_06.py`` computes it again another way.
"""

import numpy as np

from .. import lstm as lstm_ref
from .. import variants as ref
from ..feedforward import sigmoid
from ._core import CACHE, GRADS, Exercise, Mistake, entries, returns
from ._inputs import CaseCycle, gate_params
from ._questions import answer, question

CHAPTER = "05_lstm_variants"


def _dims(rng, hidden):
    """N, D, H for one trial. D != H, so that a reversed concatenation shows, and
    H >= 2: with a single unit r*(W·h) = W·(r*h), and the two GRU reset placements agree."""
    if not hidden:
        return 2, 3, 5
    N, D, H = int(rng.integers(1, 6)), int(rng.integers(1, 7)), int(rng.integers(2, 7))
    return N, (D + 1 if D == H else D), H


def _lstm_cell_inputs(gates, peepholes):
    def make_inputs(rng, hidden):
        N, D, H = _dims(rng, hidden)
        params = gate_params(rng, gates, D, H)
        for key in peepholes:
            params[key] = rng.standard_normal(H)
        return {
            "x_t": rng.standard_normal((N, D)),
            "h_prev": rng.uniform(-1, 1, (N, H)),
            "c_prev": rng.uniform(-2, 2, (N, H)),
            "params": params,
        }

    return make_inputs


#: reset_after for successive trials, False first: every run of two or more trials tests both placements.
_RESET_AFTER = CaseCycle([False, True])


def _gru_cell_inputs(rng, hidden):
    N, D, H = _dims(rng, hidden)
    return {
        "x_t": rng.standard_normal((N, D)),
        "h_prev": rng.uniform(-1, 1, (N, H)),
        "params": gate_params(rng, ("z", "r", "h"), D, H),
        "reset_after": _RESET_AFTER.next(rng),
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


# --------------------------------------------------------------------------
# The GRU backward pass and its Jacobian (derivations)
# --------------------------------------------------------------------------

def _gru_backward_inputs(rng, hidden):
    """A GRU step with the course's reset placement (reset_after=False), its cache and an upstream dh_t."""
    N, D, H = _dims(rng, hidden)
    params = gate_params(rng, ("z", "r", "h"), D, H)
    h_t, cache = ref.gru_cell_forward(rng.standard_normal((N, D)), rng.uniform(-1, 1, (N, H)), params, False)
    return {"dh_t": rng.standard_normal(h_t.shape), "cache": cache}


def _gru_step_parts(cache, kind=""):
    """What every GRU derivation needs from the cache; ``kind`` may slip the candidate's slope."""
    hx, h_prev, z, r, h_tilde, p = (cache[k] for k in ("hx", "h_prev", "z", "r", "h_tilde", "params"))
    H = h_prev.shape[1]
    tanh_slope = 1 - h_tilde if kind == "tanh_slope_unsquared" else 1 - h_tilde ** 2
    return hx, h_prev, z, r, h_tilde, p, H, tanh_slope


def _gru_backward_variant(kind):
    """``gru_cell_backward`` (reset_after=False) with one deliberate change, named by ``kind``."""

    def backward(dh_t, cache):
        hx, h_prev, z, r, h_tilde, p, H, tanh_slope = _gru_step_parts(cache, kind)
        gate_slope = (lambda s: 1.0) if kind == "no_sigmoid_slope" else (lambda s: s * (1 - s))
        dz = dh_t * ((h_prev - h_tilde) if kind == "dz_sign" else (h_tilde - h_prev))
        da_z = dz * gate_slope(z)
        da_h = dh_t * z * tanh_slope
        drhx = da_h @ p["W_h"]                                # gradient on [r*h_prev, x_t]
        dr = drhx[:, :H] * (1.0 if kind == "dr_without_h_prev" else h_prev)
        da_r = dr * gate_slope(r)
        dgates = da_z @ p["W_z"] + da_r @ p["W_r"]            # both gates read [h_prev, x_t]
        if kind == "no_gate_paths":
            dgates = np.zeros_like(dgates)
        direct = {"no_direct_path": 0.0, "direct_path_z": z}.get(kind, 1 - z)
        through_candidate = {"no_candidate_path": 0.0, "candidate_path_without_r": 1.0}.get(kind, r)
        dh_prev = dh_t * direct + drhx[:, :H] * through_candidate + dgates[:, :H]
        dx_t = drhx[:, H:] + dgates[:, H:]
        rhx = hx if kind == "dW_h_with_hx" else np.concatenate([r * h_prev, hx[:, H:]], axis=1)
        grads = {"W_z": da_z.T @ hx, "b_z": da_z.sum(axis=0), "W_r": da_r.T @ hx, "b_r": da_r.sum(axis=0),
                 "W_h": da_h.T @ rhx, "b_h": da_h.sum(axis=0)}
        return dx_t, dh_prev, grads

    return backward


def _jacobian_inputs(rng, hidden):
    inputs = _gru_backward_inputs(rng, hidden)
    return {"cache": inputs["cache"]}


def gru_state_jacobian_reference(cache):
    """The GRU's J = ∂h_t/∂h_{t-1} for one step (reset_after=False), written out.

    cache: from ``variants.gru_cell_forward``. Returns J: (N, H, H), J[n, i, j] = ∂h_t[n, i]/∂h_prev[n, j].
    With W_hh, W_zh, W_rh the first H columns of W_h, W_z, W_r and
    s = z * (1 - h̃²), h_prev reaches h_t along four paths:

        J = diag(1 - z)                                    directly
          + diag(s) W_hh diag(r)                           through r*h_prev in the candidate
          + diag((h̃ - h_prev) * z * (1 - z)) W_zh          through the update gate
          + diag(s) W_hh diag(h_prev * r * (1 - r)) W_rh   through the reset gate

    (The tests compare it with the Jacobian read off the course's backward pass and with central
    differences.)
    """
    return _jacobian(cache)


def _jacobian(cache, kind=""):
    """J as in :func:`gru_state_jacobian_reference`, with one deliberate change named by ``kind``."""
    hx, h_prev, z, r, h_tilde, p, H, tanh_slope = _gru_step_parts(cache, kind)
    W_hh, W_zh, W_rh = p["W_h"][:, :H], p["W_z"][:, :H], p["W_r"][:, :H]
    direct = {"no_direct_path": np.zeros_like(z), "direct_path_z": z}.get(kind, 1 - z)
    reset = np.ones_like(r) if kind == "candidate_path_without_r" else r
    d_candidate = z * tanh_slope  # ∂h_t/∂(the candidate's pre-activation), unit by unit
    J = direct[:, :, None] * np.eye(H)                                  # through (1 - z)*h_prev
    J = J + d_candidate[:, :, None] * W_hh[None] * reset[:, None, :]    # through r*h_prev in h̃
    if kind not in ("no_gate_paths", "no_update_gate_path"):            # through z
        J = J + ((h_tilde - h_prev) * z * (1 - z))[:, :, None] * W_zh[None]
    if kind not in ("no_gate_paths", "no_reset_gate_path"):             # through r, then h̃
        J = J + d_candidate[:, :, None] * ((W_hh[None] * (h_prev * r * (1 - r))[:, None, :]) @ W_rh)
    return np.swapaxes(J, 1, 2) if kind == "transposed" else J


def _jacobian_variant(kind):
    return lambda cache: _jacobian(cache, kind)


EXERCISES += [
    Exercise(
        name="gru_cell_backward",
        reference=ref.gru_cell_backward,
        make_inputs=_gru_backward_inputs,
        outputs=returns("dx_t", "dh_prev", GRADS),
        block=("lstm_helpers.variants:gru_cell_backward", "lstm_helpers.variants:gru_backward"),
        mistakes=[
            Mistake("dh_prev misses the direct path: h_t = (1 - z)*h_prev + z*h̃ hands h_prev on with the "
                    "factor (1 - z), so dh_prev includes dh_t * (1 - z).", _gru_backward_variant("no_direct_path")),
            Mistake("the direct path into dh_prev carries z, but h_prev enters h_t with the weight (1 - z): "
                    "dh_t * (1 - z).", _gru_backward_variant("direct_path_z")),
            Mistake("dh_prev misses the path through the candidate: h̃ reads r*h_prev, so the gradient on the "
                    "first H columns of [r*h_prev, x_t], (da_h @ W_h)[:, :H], reaches h_prev times r.",
                    _gru_backward_variant("no_candidate_path")),
            Mistake("the path through the candidate reaches h_prev without the factor r: h̃ reads r*h_prev, "
                    "so that part of dh_prev is (da_h @ W_h)[:, :H] * r.",
                    _gru_backward_variant("candidate_path_without_r")),
            Mistake("dh_prev and dx_t miss the paths through the gates: z and r read [h_prev, x_t] too, so "
                    "da_z @ W_z + da_r @ W_r adds its first H columns to dh_prev and the rest to dx_t.",
                    _gru_backward_variant("no_gate_paths")),
            Mistake("dz has the wrong sign: z weighs the candidate and 1 - z the old state, so "
                    "∂h_t/∂z = h̃ - h_prev and dz = dh_t * (h_tilde - h_prev).", _gru_backward_variant("dz_sign")),
            Mistake("dr misses h_prev: the reset gate multiplies h_prev inside [r*h_prev, x_t], so "
                    "dr = (da_h @ W_h)[:, :H] * h_prev.", _gru_backward_variant("dr_without_h_prev")),
            Mistake("dW_h was computed with hx = [h_prev, x_t], but the candidate's layer reads "
                    "[r*h_prev, x_t]: dW_h = da_h.T @ [r*h_prev, x_t].", _gru_backward_variant("dW_h_with_hx")),
            Mistake("the candidate's slope is wrong: tanh'(a) = 1 - tanh(a)**2 = 1 - h_tilde**2, "
                    "not 1 - h_tilde.", _gru_backward_variant("tanh_slope_unsquared")),
            Mistake("the gates' sigmoid slope is missing: da_z = dz * z * (1 - z) and da_r = dr * r * (1 - r) "
                    "are the gradients before the sigmoids.", _gru_backward_variant("no_sigmoid_slope")),
        ],
    ),
    Exercise(
        name="gru_state_jacobian",
        reference=gru_state_jacobian_reference,
        make_inputs=_jacobian_inputs,
        outputs=returns("J"),
        block=("lstm_helpers.variants:gru_cell_backward", "lstm_helpers.variants:gru_backward",
               "lstm_helpers.exercises.lstm_variants:gru_state_jacobian_reference"),
        mistakes=[
            Mistake("J is transposed: J[n, i, j] = ∂h_t[n, i]/∂h_prev[n, j], so row i belongs to unit i of "
                    "h_t (the direct term is diagonal either way; the others show it).",
                    _jacobian_variant("transposed")),
            Mistake("the direct term is missing: h_t = (1 - z)*h_prev + ... contributes diag(1 - z).",
                    _jacobian_variant("no_direct_path")),
            Mistake("the direct term is diag(z), but h_prev enters h_t with the weight (1 - z): diag(1 - z).",
                    _jacobian_variant("direct_path_z")),
            Mistake("the candidate term misses the reset gate: h̃ reads r*h_prev, so that term is "
                    "diag(z*(1 - h_tilde**2)) W_hh diag(r).", _jacobian_variant("candidate_path_without_r")),
            Mistake("both gate terms are missing: z and r depend on h_prev too, and each adds a term "
                    "(the update gate through h̃ - h_prev, the reset gate through the candidate).",
                    _jacobian_variant("no_gate_paths")),
            Mistake("the update gate's term is missing: z depends on h_prev, which adds "
                    "diag((h_tilde - h_prev) * z * (1 - z)) W_z[:, :H].", _jacobian_variant("no_update_gate_path")),
            Mistake("the reset gate's term is missing: r depends on h_prev, which adds "
                    "diag(z*(1 - h_tilde**2)) W_hh diag(h_prev * r * (1 - r)) W_r[:, :H].",
                    _jacobian_variant("no_reset_gate_path")),
            Mistake("the candidate's slope is wrong: tanh'(a) = 1 - h_tilde**2, not 1 - h_tilde.",
                    _jacobian_variant("tanh_slope_unsquared")),
        ],
    ),
]


# --------------------------------------------------------------------------
# Questions: predict, then look
# --------------------------------------------------------------------------

#: The changes to the CIFG that the question before the bounded-state plot offers, in its order.
CIFG_CHANGES = {
    1: "remove the output gate (o = 1)",
    2: "drop the tanh on the way out (h_t = o * c_t)",
    3: "give the candidate an input gate of its own instead of 1 - f (the plain LSTM)",
    4: "fix the forget gate at f = 1 (keep everything)",
}


def _changed_cifg_step(change):
    """One step ``(x_t, h_prev, c_prev, params) -> (h_t, c_t)`` of the CIFG with change 1-4 of CIFG_CHANGES."""
    saturate = {1: "o", 4: "f"}.get(change)

    def step(x_t, h_prev, c_prev, params):
        if change == 3:  # the LSTM: W_i, b_i of its own
            return lstm_ref.lstm_cell_forward(x_t, h_prev, c_prev, params)[:2]
        if change == 2:
            return _cifg_cell(out_act=lambda c: c)(x_t, h_prev, c_prev, params)[:2]
        if saturate is not None:  # the gate ignores its inputs and sits at sigmoid(50) = 1.0
            params = dict(params, **{f"W_{saturate}": np.zeros_like(params[f"W_{saturate}"]),
                                     f"b_{saturate}": np.full_like(params[f"b_{saturate}"], 50.0)})
        return ref.cifg_lstm_cell_forward(x_t, h_prev, c_prev, params)[:2]

    return step


def largest_cell_state(change, rng, steps=200, N=64, D=3, H=4):
    """max |c_t| over a run of the changed CIFG (change 1-4) from c_0 ~ U[-1, 1].

    Random weights and biases N(0, 1) for every gate (and W_i, b_i for the
    LSTM), random inputs N(0, 1): ``steps`` steps of N sequences.
    """
    params = gate_params(rng, ("f", "i", "c", "o"), D, H)
    for g in "fico":
        params[f"W_{g}"] = params[f"W_{g}"] * np.sqrt(H + D)  # N(0, 1): gates that often saturate
    step = _changed_cifg_step(change)
    h, c = np.zeros((N, H)), rng.uniform(-1, 1, (N, H))
    largest = float(np.abs(c).max())
    for _ in range(steps):
        h, c = step(rng.standard_normal((N, D)), h, c, params)
        largest = max(largest, float(np.abs(c).max()))
    return largest


def cifg_escape_reference():
    """The change of CIFG_CHANGES whose cell state leaves [-1, 1], found by running all four."""
    rng = np.random.default_rng(55)
    escaped = [change for change in CIFG_CHANGES if largest_cell_state(change, rng) > 1.0]
    if len(escaped) != 1:
        raise RuntimeError(f"expected exactly one change to leave [-1, 1], got {escaped}")
    return escaped[0]


def gru_gradient_share(b_z=-3.0, steps=50):
    """The share of a gradient on h_T that reaches h_0 through one GRU unit (H = D = 1), by backpropagation.

    The unit's gates ignore their inputs (W_z = W_r = 0), so z = σ(b_z) at every
    step, and its candidate reads only x_t (W_h = [0, 1]). Runs the course's
    ``gru_forward`` over ``steps`` steps and ``gru_backward`` from dh_T = 1.
    """
    zero = np.zeros((1, 2))
    params = {"W_z": zero, "b_z": np.array([b_z]), "W_r": zero, "b_r": np.zeros(1),
              "W_h": np.array([[0.0, 1.0]]), "b_h": np.zeros(1)}
    x = np.linspace(-1, 1, steps).reshape(steps, 1, 1)  # any input: the gradient does not depend on it here
    h, cache = ref.gru_forward(x, np.zeros((1, 1)), params)
    dh = np.zeros_like(h)
    dh[-1] = 1.0
    return float(ref.gru_backward(dh, cache)[1][0, 0])


#: The answers to the question before the slider app: which cells write less at the spike when b grows.
WRITE_LESS_CHOICES = {1: frozenset({"lstm", "peephole", "cifg", "gru"}), 2: frozenset({"lstm", "peephole"}),
                      3: frozenset({"cifg", "gru"}), 4: frozenset()}


def written_at_spike(variant, keep_bias, spike):
    """What a cell of chapter 05's slider app writes into its empty memory at a spike of size ``spike``.

    The app's gates (see ``viz.widgets.variants``): the share kept is
    f = σ(b - 3s) (the GRU's 1 - z too), the LSTMs' own input gate is
    i = σ(-2 + 3s), the candidate is tanh(s). From an empty memory the cell
    holds i * tanh(s) after the spike, where i = 1 - f for the CIFG and the GRU.
    """
    write = 1 - sigmoid(keep_bias - 3 * spike) if variant in ("cifg", "gru") else sigmoid(-2 + 3 * spike)
    return float(write * np.tanh(spike))


def write_less_reference(spike=2.0, low=1.0, high=4.0):
    """The choice of WRITE_LESS_CHOICES: the cells that write less at the spike when b goes from low to high."""
    smaller = frozenset(v for v in ("lstm", "peephole", "cifg", "gru")
                        if written_at_spike(v, high, spike) < written_at_spike(v, low, spike) - 1e-9)
    (choice,) = [k for k, cells in WRITE_LESS_CHOICES.items() if cells == smaller]
    return choice


EXERCISES += [
    question("cifg_escape", cifg_escape_reference, "choice", mistakes=[
        Mistake("without the output gate c_t is computed exactly as before: the output gate only scales "
                "what leaves the cell, never what it stores.", answer(1)),
        Mistake("the tanh of h_t = o * tanh(c_t) acts on a copy on its way out; c_t itself never passes "
                "through it, and it stays a weighted average without it.", answer(2)),
        Mistake("with f = 1 the cell keeps c_{t-1} unchanged, so a state that starts in [-1, 1] stays "
                "there.", answer(4)),
    ]),
    # rtol: a prediction, so sigmoid(3) ≈ 0.95 worked out by hand is close enough
    question("gru_gradient_after_50", gru_gradient_share, "share", rtol=0.2, atol=0.0, mistakes=[
        Mistake("that is z**50: z is the share of the candidate that is written; the old state, and its "
                "gradient, keep the share 1 - z at every step: (1 - σ(b_z))**50.",
                lambda: float(sigmoid(-3.0)) ** 50),  # lazily: chapter 01 is graded with sigmoid stubbed
        Mistake("a gradient of 1 would need z = 0 exactly; with z = σ(-3) ≈ 0.047 every step passes "
                "1 - z ≈ 0.95 of it, 50 times over.", answer(1.0)),
    ]),
    question("write_less", write_less_reference, "choice", mistakes=[
        Mistake("the LSTM and the peephole LSTM write with their own input gate i = σ(-2 + 3s), which "
                "does not read b; from an empty memory their forget gate has nothing to keep.", answer(1)),
        Mistake("it is the other way round: the LSTMs' input gate does not read b, while the CIFG and the "
                "GRU write the share 1 - f, which shrinks as b grows.", answer(2)),
        Mistake("the CIFG and the GRU write (1 - f) * tanh(s) with f = σ(b - 3s): a larger b keeps more "
                "and so writes less.", answer(4)),
    ]),
]
