"""Checks for chapter 03: gradient norms by lag, the singular-value
prediction, clipping by the global norm, and five questions.

Some mistakes only show in one kind of input (a gradient below the threshold,
a sigmoid network), so these exercises cycle through fixed *cases*: every
check run, visible or hidden, starts a fresh ``Generator`` and meets each case
in the same order, with fresh random numbers inside.

The questions asked before a plot, a table, the slider app or the clipping
run shows the answer are predictions: their visible check only records the
answer. Their right answers come from the same course code that draws the
picture (run here with the notebook's seeds), or from a formula.
"""

from functools import lru_cache

import numpy as np

from .. import gradients as ref
from ..experiment import training
from ..feedforward import sigmoid, sigmoid_grad
from ._core import GRADS, Exercise, Mistake, returns
from ._inputs import CaseCycle
from ._questions import answer, question

CHAPTER = "03_long_term_dependencies"


# -- the gradient norm at each lag ----------------------------------------------------------------

def _lag_inputs(rng, hidden):
    if hidden:
        T, N, D = (int(v) for v in rng.integers([3, 1, 1], [8, 4, 5]))
        H = int(rng.integers(2, 6))
    else:
        T, N, D, H = 6, 2, 3, 4  # D != H, and W_h is not symmetric, so order and blocks show
    W_h = rng.standard_normal((H, H + D)) * (1.5 / np.sqrt(H))  # sigma_max of the block around 2-3
    return {
        "x": rng.standard_normal((T, N, D)),
        "h0": rng.uniform(-0.5, 0.5, (N, H)),
        "params": {"W_h": W_h, "b_h": 0.3 * rng.standard_normal(H)},
    }


def _lag_variant(local_grad=lambda h: 1.0 - h ** 2, block="recurrent", derivative_at="output", side="left",
                 order="right", norm="spectral", columns="by_t"):
    """``gradient_norms_by_lag`` with one deliberate change (the keywords name it)."""

    def norms_by_lag(x, h0, params):
        h, _ = ref.rnn_forward(x, h0, params)
        T, N, H = h.shape
        W_h = params["W_h"]
        W_rec = W_h[:, :H] if block == "recurrent" else W_h[:, -H:]
        states = np.concatenate([h0[None], h], axis=0)
        product = np.broadcast_to(np.eye(H), (N, H, H))
        norms = np.zeros((N, T))
        for t in reversed(range(T)):
            slope = local_grad(states[t + 1] if derivative_at == "output" else states[t])
            jacobian = slope[:, :, None] * W_rec if side == "left" else W_rec * slope[:, None, :]
            product = product @ jacobian if order == "right" else jacobian @ product
            if norm == "spectral":
                norms[:, t] = np.linalg.norm(product, ord=2, axis=(1, 2))
            else:
                norms[:, t] = np.linalg.norm(product, ord="fro", axis=(1, 2))
        return norms if columns == "by_t" else norms[:, ::-1]

    return norms_by_lag


# -- the prediction from the weights --------------------------------------------------------------

_PREDICT_CASES = CaseCycle([
    ("tanh", (0.3, 0.9)),  # vanishes
    ("sigmoid", (0.3, 0.9)),  # vanishes: between gamma = 1/4 and 1, so both gamma slips show
    ("tanh", (1.2, 3.5)),  # may explode; below 4, so the sigmoid's threshold used for tanh shows
])


def _predict_inputs(rng, hidden):
    activation, (low, high) = _PREDICT_CASES.next(rng)
    if hidden:
        H, D = int(rng.integers(2, 7)), int(rng.integers(1, 5))
    else:
        H, D = 4, 3
    A = rng.standard_normal((H, H))  # not symmetric: its eigenvalues are smaller than its sigma_max
    W_rec = A * (rng.uniform(low, high) / np.linalg.norm(A, ord=2))
    W_in = rng.standard_normal((H, D))
    return {"W_h": np.concatenate([W_rec, W_in], axis=1), "activation": activation}


def _predict_variant(sigma="largest_singular", block="recurrent", threshold="one_over_gamma", verdict="right"):
    """``predict_from_weights`` with one deliberate change (the keywords name it)."""
    gammas = {"tanh": 1.0, "sigmoid": 0.25}

    def predict(W_h, activation="tanh"):
        H = W_h.shape[0]
        W = {"recurrent": W_h[:, :H], "whole": W_h, "last_columns": W_h[:, -H:]}[block]
        s = np.linalg.svd(W, compute_uv=False)
        value = {
            "largest_singular": s[0],
            "smallest_singular": s[-1],
            "eigenvalue": np.max(np.abs(np.linalg.eigvals(W))) if W.shape[0] == W.shape[1] else np.nan,
            "frobenius": np.linalg.norm(W),
            "squared": s[0] ** 2,
        }[sigma]
        gamma = gammas[activation]
        limit = {"one_over_gamma": 1 / gamma, "gamma": gamma, "swapped": 1 / gammas["sigmoid" if activation == "tanh" else "tanh"]}[threshold]
        vanishes = value < limit
        if verdict == "reversed":
            vanishes = not vanishes
        return float(value), "vanishes" if vanishes else "may explode"

    return predict


# -- clipping by the global norm ------------------------------------------------------------------

_CLIP_CASES = CaseCycle(["clip", "clip_small", "keep", "zero"])


def _clip_inputs(rng, hidden):
    case = _CLIP_CASES.next(rng)
    if hidden:
        keys = ["W_h", "b_h", "W_y", "b_y"][: int(rng.integers(2, 5))]
        shapes = {k: tuple(int(v) for v in rng.integers(1, 5, size=2 if k.startswith("W") else 1)) for k in keys}
    else:
        shapes = {"W_h": (4, 7), "b_h": (4,), "W_y": (2, 4)}
    # arrays of quite different sizes, so per-array clipping differs from global clipping
    grads = {k: rng.standard_normal(shape) * (1.0 if i == 0 else 0.3) for i, (k, shape) in enumerate(shapes.items())}
    norm = np.sqrt(sum(np.sum(g ** 2) for g in grads.values()))
    if case == "zero":
        return {"grads": {k: np.zeros_like(g) for k, g in grads.items()}, "max_norm": float(rng.uniform(0.5, 2.0))}
    # rescale to a chosen global norm, then put max_norm where the case needs it
    target = {"clip": rng.uniform(3.0, 10.0), "clip_small": rng.uniform(0.5, 0.9), "keep": rng.uniform(0.3, 0.9)}[case]
    grads = {k: g * (target / norm) for k, g in grads.items()}
    if case == "clip":
        max_norm = target * rng.uniform(0.1, 0.6)  # clipping is needed
    elif case == "clip_small":
        max_norm = rng.uniform(target ** 2, target)  # needed, though norm**2 < max_norm < norm
    else:
        max_norm = target * rng.uniform(1.5, 4.0)  # below the threshold: nothing to do
    return {"grads": grads, "max_norm": float(max_norm)}


def _zero_gradient_note(inputs):
    if all(not np.any(g) for g in inputs["grads"].values()):
        return ("in this trial every gradient is zero, so total_norm is 0. A norm below max_norm needs no "
                "scaling, so only divide when total_norm > max_norm.")
    return None


def _clip_variant(kind):
    """``clip_grad_norm`` with one deliberate mistake ``kind``."""

    def clip(grads, max_norm):
        norms = {k: np.sqrt(np.sum(g ** 2)) for k, g in grads.items()}
        total = np.sqrt(sum(n ** 2 for n in norms.values()))
        if kind == "per_array":
            return {k: g * (max_norm / norms[k] if norms[k] > max_norm else 1.0) for k, g in grads.items()}, total
        if kind == "sum_of_norms":
            total = sum(norms.values())
        if kind == "no_sqrt":
            total = total ** 2
        measured = total ** 2 if kind == "squared_comparison" else total
        clipping = measured > max_norm or kind == "always"
        scale = (total / max_norm if kind == "inverted" else max_norm / total) if clipping else 1.0
        reported = min(total, max_norm) if kind == "norm_after" else total
        return {k: g * scale for k, g in grads.items()}, reported

    return clip


# -- the questions --------------------------------------------------------------------------------

def _band(value, low, high, words):
    """words[0] below ``low``, words[1] between, words[2] above ``high``."""
    return words[0] if value < low else words[1] if value <= high else words[2]


THRESHOLD_WORDS = ("fall far below 1", "stay near 1", "grow far above 1")


@lru_cache(maxsize=1)
def _norm_at_threshold():
    """The chapter's norm plot, its sigma_max = 1 curve at lag 50, put in words (below 0.1: far below 1)."""
    # Imported here, not above, so that importing the checks does not import matplotlib; and absolute,
    # because the hidden tests' private copy of this package has left sys.modules when a check runs.
    from lstm_helpers.viz import plots

    figure = plots.gradient_norm_vs_lag(sigmas=(1.0,))  # the notebook's call draws the same curve for 1.0
    at_lag_50 = figure.axes[0].lines[0].get_ydata()[50 - 1]
    return _band(at_lag_50, 0.1, 10.0, THRESHOLD_WORDS)


@lru_cache(maxsize=1)
def _latch_log10_norm():
    """log10 ||dh_T/dh_(T-10)|| of the chapter's hand-made latch (W_h = [[2, 3]], seed 3), clue +1."""
    rng = np.random.default_rng(3)  # the notebook's draws
    x = 0.1 * rng.standard_normal((100, 2, 1))
    x[0, :, 0] = [+1.0, -1.0]
    latch = {"W_h": np.array([[2.0, 3.0]]), "b_h": np.zeros(1)}
    return float(np.log10(ref.gradient_norms_by_lag(x, np.zeros((2, 1)), latch)[0, -10]))


def _sigmoid_threshold():
    """1/gamma for the sigmoid: gamma is its largest slope, at 0."""
    return 1.0 / float(sigmoid_grad(sigmoid(0.0)))


@lru_cache(maxsize=1)
def _large_inputs_verdict():
    """The chapter's table, sigma_max = 1.5 with inputs of scale 2: does the median norm over 60 steps exceed 1?"""
    from lstm_helpers.viz.plots.gradients import orthogonal_rnn  # see _norm_at_threshold

    rng = np.random.default_rng(4)  # the notebook's draws, in the notebook's order
    T, N, D, H = 60, 8, 4, 16
    noise = rng.standard_normal((T, N, D))
    orthogonal_rnn(rng, D, H, sigma_max=0.8)  # the table's first network
    params = orthogonal_rnn(rng, D, H, sigma_max=1.5)
    measured = np.median(ref.gradient_norms_by_lag(2.0 * noise, np.zeros((N, H)), params)[:, 0])
    return "explodes" if measured > 1.0 else "vanishes"


#: Question 3.4: the slider app at this sigma_max with no input, read at this lag.
NO_INPUT_SIGMA, NO_INPUT_LAG = 1.5, 10


def _norm_without_input():
    """States stay at 0, every slope is 1, and sigma_max times an orthogonal matrix stretches every vector
    by sigma_max: the product of k factors has norm sigma_max**k, the bound itself."""
    return NO_INPUT_SIGMA ** NO_INPUT_LAG


SPIKE_WORDS = ("about the same", "about 10 times", "more than 100 times")


@lru_cache(maxsize=1)
def _unclipped_spike():
    """The chapter's clipping run (seed 0, lr 0.3, max_norm 1): the ratio of the two runs' largest losses in words."""
    runs = training.clipping_experiment(np.random.default_rng(0), lr=0.3, max_norm=1.0)
    ratio = np.nanmax(runs["unclipped"].loss) / np.nanmax(runs["clipped"].loss)
    return _band(ratio, 3.0, 100.0, SPIKE_WORDS)


EXERCISES = [
    Exercise(
        name="gradient_norms_by_lag",
        reference=ref.gradient_norms_by_lag,
        make_inputs=_lag_inputs,
        outputs=returns("norms"),
        block=("lstm_helpers.gradients:gradient_norms_by_lag",),
        mistakes=[
            Mistake("the tanh derivative is missing: each Jacobian is diag(1 - h**2) W_rec, not W_rec alone.",
                    _lag_variant(local_grad=np.ones_like)),
            Mistake("the tanh derivative is 1 - h**2, not 1 - h.", _lag_variant(local_grad=lambda h: 1.0 - h)),
            Mistake("the tanh derivative is taken at the wrong state: step t -> t + 1 has the slope "
                    "1 - h_{t+1}**2 of the state it produces, states[t + 1], not of its input states[t].",
                    _lag_variant(derivative_at="input")),
            Mistake("the derivative scales the columns of W_rec instead of its rows: diag(1 - h**2) W_rec is "
                    "(1 - h**2)[:, :, None] * W_rec (row i times 1 - h_i**2), not (1 - h**2)[:, None, :] * W_rec.",
                    _lag_variant(side="right")),
            Mistake("the Jacobians are multiplied in the wrong order (or each one is transposed): "
                    "dh_T/dh_t = J_T ... J_{t+1}, so each new, earlier factor goes on the right: "
                    "product = product @ jacobian.", _lag_variant(order="left")),
            Mistake("the wrong block of W_h: [h_prev, x_t] puts the hidden state first, so the recurrent "
                    "block is W_h[:, :H], not the last H columns.", _lag_variant(block="last_columns")),
            Mistake("this is the Frobenius norm of each Jacobian; use the spectral norm (largest singular "
                    "value): np.linalg.norm(product, ord=2, axis=(1, 2)).", _lag_variant(norm="frobenius")),
            Mistake("the columns are in reverse order: norms[:, t] belongs to dh_T/dh_t, so the last column "
                    "(t = T - 1) is the one-step Jacobian.", _lag_variant(columns="by_lag")),
        ],
    ),
    Exercise(
        name="predict_from_weights",
        reference=ref.predict_from_weights,
        make_inputs=_predict_inputs,
        outputs=returns("sigma_max", "verdict"),
        block=("lstm_helpers.gradients:predict_from_weights",),
        visible_trials=3,
        hidden_trials=3,
        mistakes=[
            Mistake("this is the largest |eigenvalue| of W_rec; the condition needs its largest singular value, "
                    "np.linalg.svd(W_rec, compute_uv=False)[0]. For a non-symmetric matrix the two differ.",
                    _predict_variant(sigma="eigenvalue")),
            Mistake("the singular values of the whole W_h were used; only the recurrent block W_h[:, :H] "
                    "carries the gradient from h_t to h_{t-1}.", _predict_variant(block="whole")),
            Mistake("the wrong block of W_h: the hidden state comes first in [h_prev, x_t], so the recurrent "
                    "block is W_h[:, :H], not the last H columns.", _predict_variant(block="last_columns")),
            Mistake("this is the smallest singular value; the condition uses the largest (np.linalg.svd "
                    "sorts them in decreasing order).", _predict_variant(sigma="smallest_singular")),
            Mistake("this is the Frobenius norm; the condition uses the largest singular value.",
                    _predict_variant(sigma="frobenius")),
            Mistake("sigma_max is squared: the largest eigenvalue of W_rec.T @ W_rec is sigma_max**2; take the "
                    "square root, or the first singular value.", _predict_variant(sigma="squared")),
            Mistake("sigma_max was compared with gamma instead of 1/gamma: for the sigmoid (gamma = 1/4) the "
                    "gradient surely vanishes below 4.", _predict_variant(threshold="gamma")),
            Mistake("the two gammas are swapped: gamma = 1 for tanh and 1/4 for the sigmoid (their largest "
                    "slopes), so the thresholds 1/gamma are 1 and 4.", _predict_variant(threshold="swapped")),
            Mistake("the verdict is reversed: sigma_max < 1/gamma means the gradient vanishes.",
                    _predict_variant(verdict="reversed")),
        ],
    ),
    Exercise(
        name="clip_grad_norm",
        reference=ref.clip_grad_norm,
        make_inputs=_clip_inputs,
        outputs=returns(GRADS, "total_norm"),
        block=("lstm_helpers.gradients:clip_grad_norm",),
        visible_trials=4,
        hidden_trials=4,
        trial_note=_zero_gradient_note,
        mistakes=[
            Mistake("the square root is missing: the global norm is sqrt(sum of g**2 over every array).",
                    _clip_variant("no_sqrt")),
            Mistake("the squared norm was compared with max_norm: clip when the norm itself, "
                    "sqrt(sum of squares), exceeds max_norm.", _clip_variant("squared_comparison")),
            Mistake("each array was clipped on its own; clipping by the global norm scales every array by the "
                    "same factor max_norm / total_norm, which keeps the gradient's direction.",
                    _clip_variant("per_array")),
            Mistake("the norms of the arrays were added; the global norm is the square root of the sum of "
                    "all squares, as if the arrays were one long vector.", _clip_variant("sum_of_norms")),
            Mistake("the gradient was rescaled although its norm is below max_norm; only scale when "
                    "total_norm > max_norm (clipping never enlarges a gradient).", _clip_variant("always")),
            Mistake("the scale is upside down: multiply by max_norm / total_norm, which is below 1.",
                    _clip_variant("inverted")),
            Mistake("total_norm must be the norm before clipping (the one that was measured), not after.",
                    _clip_variant("norm_after")),
        ],
    ),
    question("norm_at_threshold", _norm_at_threshold, mistakes=[
        Mistake("sigma_max = 1 only bounds each factor by 1. The inputs push the units away from 0, where "
                "the slopes 1 - h**2 are below 1, and fifty of them multiply: the norm falls far below 1.",
                answer(THRESHOLD_WORDS[1])),
        Mistake("with sigma_max = 1 no factor can stretch a vector, so the product cannot grow: at most it "
                "stays at 1, and the slopes below 1 make it fall far below.", answer(THRESHOLD_WORDS[2])),
    ]),
    # atol 1 on a log10: within a factor of 10 of the measurement, so an estimate from the slope at 0.96 is right
    question("latch_log10_norm_at_lag_10", _latch_log10_norm, rtol=0.0, atol=1.0, mistakes=[
        Mistake("that is one step back: each step multiplies by W_rec times the slope, about 2 * 0.08, and "
                "ten steps multiply ten such factors.", answer(float(np.log10(2 * (1 - 0.96 ** 2))))),
        Mistake("the slope 1 - h**2 is missing: at h = 0.96 the tanh is nearly flat (slope about 0.08), so "
                "each step shrinks the gradient although W_rec = 2.", answer(float(10 * np.log10(2.0)))),
        Mistake("a latch keeps its state, but not its gradient: the flat tanh passes back only about 0.08 of "
                "it per step, times W_rec = 2.", answer(0.0)),
    ]),
    question("sigmoid_threshold", _sigmoid_threshold, prediction=False, mistakes=[
        Mistake("1/4 is gamma, the sigmoid's largest slope; vanishing is guaranteed when gamma * sigma_max < 1, "
                "that is for sigma_max below 1/gamma.", answer(0.25)),
        Mistake("1 is the threshold for tanh (gamma = 1); the sigmoid is four times flatter, gamma = 1/4, so "
                "its threshold 1/gamma is four times higher.", answer(1.0)),
    ]),
    question("large_inputs_verdict", _large_inputs_verdict, mistakes=[
        Mistake("sigma_max > 1 only makes explosion possible. Inputs of scale 2 saturate the units, their "
                "slopes 1 - h**2 are near 0, and the gradient vanishes anyway.", answer("explodes")),
    ]),
    question("norm_at_lag_10_without_input", _norm_without_input, rtol=0.02, mistakes=[
        Mistake("the ten factors multiply, they do not add: 1.5 ** 10, not 1.5 * 10.",
                answer(NO_INPUT_SIGMA * NO_INPUT_LAG)),
        Mistake("1.5 is one step back. Without input every state stays 0, every slope is 1, and ten factors "
                "of 1.5 times an orthogonal matrix stretch by 1.5 ** 10.", answer(NO_INPUT_SIGMA)),
        Mistake("an orthogonal matrix keeps lengths, but W_rec is 1.5 times one: each step stretches by 1.5.",
                answer(1.0)),
        Mistake("no input does not mean no gradient: the states sit at 0, where the tanh is steepest "
                "(slope 1), so the gradient is as large as the bound allows.", answer(0.0)),
    ]),
    question("unclipped_spike", _unclipped_spike, mistakes=[
        Mistake("an exploding gradient is loud: a few huge gradients throw the unclipped weights far away, "
                "and its loss spikes by orders of magnitude above the clipped run's.", answer(SPIKE_WORDS[0])),
        Mistake("the spike is far larger than 10 times: the gradient norms before clipping reach thousands, "
                "and the unclipped loss follows them (see the log axes).", answer(SPIKE_WORDS[1])),
    ]),
]
