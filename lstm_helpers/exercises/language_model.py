"""Checks for chapter 07: a character-level language model.

* ``temporal_softmax_loss(scores, y, mask)``: the loss at every step,
  summed over time and averaged over the sequences, and its gradient. The
  trials alternate between ordinary scores and scores in the thousands,
  where a softmax that does not subtract the largest score overflows.
* ``bits_per_character(loss, mask)``: that loss in bits per predicted
  character; masks with False entries, so "divide by T" and "divide by the
  unmasked steps" give different answers.
* ``tbptt_step(params, x, y, h0, c0)``: loss and gradients of one window of
  text, started from the states the previous window ended with; returns the
  last states for the next window.
* ``sample(params, prime, n, temperature, rng)``: the trials cycle through
  temperature 1, 0 (greedy), below 1 and above 1, each with its own
  ``numpy.random.Generator`` (PCG64). The check gives the reference, every
  known mistake and the answer each a generator in the same state, so an
  answer that draws exactly one ``rng.choice(V, p=p)`` per character writes
  the reference's characters.
"""

import numpy as np

from .. import language_model as ref
from ..lstm import GATES, lstm_backward, lstm_cell_forward, lstm_forward
from ._core import GRADS, Exercise, Mistake, returns
from ._inputs import CaseCycle, gate_params

CHAPTER = "07_language_model"


# -- temporal_softmax_loss ---------------------------------------------------------------------------

_LOSS_CASES = CaseCycle(["plain", "large"])


def _loss_inputs(rng, hidden):
    case = _LOSS_CASES.next(rng)
    if hidden:
        T, N, V = int(rng.integers(2, 7)), int(rng.integers(2, 6)), int(rng.integers(3, 9))
    else:
        T, N, V = 4, 3, 5  # all different, so a softmax over the wrong axis shows
    scale = rng.uniform(300, 2000) if case == "large" else rng.uniform(0.5, 2.5)
    mask = rng.random((T, N)) < 0.7
    mask[0, 0], mask[-1, -1] = True, False  # some steps count, some do not
    return {"scores": scale * rng.standard_normal((T, N, V)), "y": rng.integers(0, V, (T, N)), "mask": mask}


def _large_scores_note(inputs):
    if np.abs(inputs["scores"]).max() > 100:
        return ("the scores in this trial are in the hundreds or thousands: np.exp of them overflows unless the "
                "largest score of each step is subtracted first, and the log of a probability that rounds to 0 is "
                "-inf, so take log softmax = shifted - log(sum(exp(shifted))) rather than log(softmax).")
    return None


def _loss_variant(norm="N", mask_loss=True, mask_grad=True, grad_norm="N", minus_one=True, axis=2, sign=1.0,
                  grad_sign=1.0):
    """``temporal_softmax_loss`` with one deliberate change (the keywords name it)."""

    def loss_fn(scores, y, mask):
        T, N, V = scores.shape
        shifted = scores - scores.max(axis=axis, keepdims=True)
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))  # finite for any scores
        p = np.exp(log_softmax)
        log_p = np.take_along_axis(log_softmax, y[..., None], axis=2)[..., 0]
        divide = {"N": N, "NT": N * T, "unmasked": max(int(mask.sum()), 1), "1": 1}
        m_loss = mask if mask_loss else np.ones_like(mask)
        m_grad = mask if mask_grad else np.ones_like(mask)
        loss = -sign * float(np.sum(log_p * m_loss)) / divide[norm]
        d = p.copy()
        if minus_one:
            np.put_along_axis(d, y[..., None], np.take_along_axis(d, y[..., None], axis=2) - 1.0, axis=2)
        d = grad_sign * d * m_grad[..., None] / divide[grad_norm]
        return loss, d

    return loss_fn


# -- bits_per_character ------------------------------------------------------------------------------

def _bpc_inputs(rng, hidden):
    if hidden:
        T, N = int(rng.integers(2, 9)), int(rng.integers(2, 7))
    else:
        T, N = 6, 4
    mask = rng.random((T, N)) < 0.6
    mask[0] = True  # every sequence has at least one target
    mask[-1, 0] = False  # and the count of targets is never T * N
    return {"loss": float(rng.uniform(1.0, 4.0) * mask.sum() / N), "mask": mask}


def _bpc_variant(count="mask", per="N", unit="bits"):
    def bpc(loss, mask):
        T, N = mask.shape
        chars = {"mask": mask.sum(), "T": T, "all": T * N, "1": 1}[count]
        scale = N if per == "N" else 1
        nats = loss * scale / chars
        return float({"bits": nats / np.log(2), "nats": nats, "times": nats * np.log(2),
                      "log10": nats / np.log(10)}[unit])

    return bpc


# -- tbptt_step --------------------------------------------------------------------------------------

def _tbptt_inputs(rng, hidden):
    if hidden:
        T, N = int(rng.integers(2, 6)), int(rng.integers(2, 5))
        V, H = int(rng.integers(3, 8)), int(rng.integers(2, 6))
    else:
        T, N, V, H = 4, 3, 5, 2  # V, N and H differ, so a transposed or mis-summed gradient has the wrong shape
    params = gate_params(rng, GATES, V, H, bias_scale=0.5)
    params["W_y"] = rng.standard_normal((V, H)) / np.sqrt(H)
    params["b_y"] = rng.uniform(-0.5, 0.5, V)
    ids = rng.integers(0, V, (T + 1, N))
    return {"params": params, "x": ref.one_hot(ids[:-1], V), "y": ids[1:],
            "h0": rng.uniform(-0.8, 0.8, (N, H)), "c0": rng.uniform(-1.5, 1.5, (N, H))}


def _tbptt_variant(start="carried", dh="every", norm="N", returned="last", db_y="sum", dW_y="every"):
    """``tbptt_step`` with one deliberate change (the keywords name it)."""

    def step(params, x, y, h0, c0):
        lstm_params = {k: v for k, v in params.items() if k not in ref.OUTPUT_KEYS}
        W_y, b_y = params["W_y"], params["b_y"]
        T, N, _ = x.shape
        if start == "zeros":
            h0, c0 = np.zeros_like(h0), np.zeros_like(c0)
        h, c, cache = lstm_forward(x, h0, c0, lstm_params)
        scores = h @ W_y.T + b_y
        loss, dscores = _loss_variant(norm=norm, grad_norm=norm)(scores, y, np.ones(y.shape, dtype=bool))
        dh_all = dscores @ W_y
        if dh == "last":
            dh_all[:-1] = 0.0
        grads = lstm_backward(dh_all, cache)[3]
        if dW_y == "last":
            grads["W_y"] = dscores[-1].T @ h[-1]
        else:
            grads["W_y"] = np.einsum("tnv,tnh->vh", dscores, h)
        grads["b_y"] = dscores.sum(axis=(0, 1)) if db_y == "sum" else dscores.mean(axis=(0, 1))
        states = {"last": (h[-1], c[-1]), "start": (h0, c0), "first": (h[0], c[0]), "swapped": (c[-1], h[-1]),
                  "tanh": (h[-1], np.tanh(c[-1]))}[returned]
        return (loss, grads) + states

    return step


# -- sample ------------------------------------------------------------------------------------------

_SAMPLE_CASES = CaseCycle(["one", "greedy", "low", "high"])
_PRIME_CHARS = "abcdefghijklmnopqrstuvwxyz_ ()=:.'\""


def _sample_inputs(rng, hidden):
    case = _SAMPLE_CASES.next(rng)
    H = int(rng.integers(3, 9)) if hidden else 5
    params = gate_params(rng, GATES, ref.V, H, bias_scale=0.5)
    params["W_y"] = 3.0 * rng.standard_normal((ref.V, H))  # peaked distributions: temperature matters
    params["b_y"] = rng.standard_normal(ref.V)
    prime = "".join(rng.choice(list(_PRIME_CHARS), size=int(rng.integers(2, 7))))
    temperature = {"one": 1.0, "greedy": 0.0, "low": float(rng.uniform(0.3, 0.7)),
                   "high": float(rng.uniform(1.5, 2.5))}[case]
    n = int(rng.integers(8, 25)) if hidden else 12
    return {"params": params, "prime": prime, "n": n, "temperature": temperature,
            "rng": np.random.default_rng(int(rng.integers(2 ** 32)))}


def _drawing_note(inputs):
    t = inputs["temperature"]
    if t == 0:
        return "temperature 0 in this trial: greedy decoding, the argmax at every step and no draw."
    return (f"this trial draws at temperature {t:.2f}; exactly one rng.choice(V, p=p) per character, from the rng "
            "passed in, with p = softmax(scores / temperature) as a (V,) array, writes the reference's characters.")


def _sample_variant(temperature_on="scores", greedy="argmax", own_seed=None, feed="sampled", state="carried",
                    prime_read="all", returned="new"):
    """``sample`` with one deliberate change (the keywords name it)."""

    def sample(params, prime, n, temperature, rng):
        if own_seed is not None:
            rng = np.random.default_rng(own_seed)
        lstm_params = {k: v for k, v in params.items() if k not in ref.OUTPUT_KEYS}
        W_y, b_y = params["W_y"], params["b_y"]
        H = W_y.shape[1]
        ids = ref.encode(prime)
        h, c = np.zeros((1, H)), np.zeros((1, H))
        for k in (ids if prime_read == "twice" else ids[:-1]):
            h, c, _ = lstm_cell_forward(ref.one_hot([k]), h, c, lstm_params)
        char, out = ids[-1], []
        feed_now = prime_read != "not_last"  # "not_last": the first prediction comes before prime[-1] is read
        for _ in range(n):
            if state == "reset":
                h, c = np.zeros((1, H)), np.zeros((1, H))
            if feed_now:
                h, c, _ = lstm_cell_forward(ref.one_hot([char]), h, c, lstm_params)
            feed_now = True
            scores = h @ W_y.T + b_y  # (1, V)
            if temperature == 0 and greedy != "sample":
                new = int(np.argmax(scores[0])) if greedy == "argmax" else int(np.argmax(scores, axis=0)[0])
            else:
                t = 1.0 if temperature == 0 else temperature
                if temperature_on == "scores":
                    p = ref.softmax(scores[0] / t)
                elif temperature_on == "times":
                    p = ref.softmax(scores[0] * t)
                else:  # the probabilities: dividing them by t changes nothing once they are normalised
                    p = ref.softmax(scores[0]) / t
                    p = p / p.sum()
                new = int(rng.choice(ref.V, p=p))
            out.append(ref.VOCAB[new])
            if feed == "sampled":
                char = new
        text = "".join(out)
        return prime + text if returned == "with_prime" else text

    return sample


EXERCISES = [
    Exercise(
        name="temporal_softmax_loss",
        reference=ref.temporal_softmax_loss,
        make_inputs=_loss_inputs,
        outputs=returns("loss", "dscores"),
        block=("lstm_helpers.language_model:temporal_softmax_loss",
               "lstm_helpers.experiment.training:softmax_cross_entropy"),
        trial_note=_large_scores_note,
        mistakes=[
            Mistake("the mask is ignored: a step whose mask is False adds nothing to the loss and gets a zero "
                    "gradient (multiply the log-probabilities and dscores by the mask).",
                    _loss_variant(mask_loss=False, mask_grad=False)),
            Mistake("the gradient ignores the mask while the loss uses it: dscores must be zero at every step "
                    "whose mask is False.", _loss_variant(mask_grad=False)),
            Mistake("the loss ignores the mask while the gradient uses it: leave the masked steps out of the "
                    "sum of -log p.", _loss_variant(mask_loss=False)),
            Mistake("the loss is averaged over the steps as well (divided by N * T): sum over time and divide "
                    "by N, the number of sequences, only.", _loss_variant(norm="NT", grad_norm="NT")),
            Mistake("the loss is divided by the number of unmasked steps; sum over time and divide by N, the "
                    "number of sequences.", _loss_variant(norm="unmasked", grad_norm="unmasked")),
            Mistake("the loss is summed over the sequences; divide it (and dscores) by N to average over them.",
                    _loss_variant(norm="1", grad_norm="1")),
            Mistake("dscores is not divided by N while the loss is: the loss is a mean over the N sequences, so "
                    "its gradient carries the same 1/N.", _loss_variant(grad_norm="1")),
            Mistake("dscores is the softmax alone: subtract 1 at each step's target, "
                    "dscores = (softmax(scores) - one_hot(y)) * mask / N.", _loss_variant(minus_one=False)),
            Mistake("the softmax runs over the batch axis (axis=1); it belongs to the vocabulary axis, the last "
                    "one (axis=2), one distribution per step and sequence.", _loss_variant(axis=1)),
            Mistake("the loss has the wrong sign: it is minus the log-probability of the target "
                    "(-log p is positive).", _loss_variant(sign=-1.0)),
            Mistake("dscores has the wrong sign: the gradient is softmax(scores) - one_hot(y), not the other "
                    "way round.", _loss_variant(grad_sign=-1.0)),
        ],
    ),
    Exercise(
        name="bits_per_character",
        reference=ref.bits_per_character,
        make_inputs=_bpc_inputs,
        outputs=returns("bpc"),
        block=("lstm_helpers.language_model:bits_per_character",),
        mistakes=[
            Mistake("this is in nats (natural log), not bits: divide by ln 2 as well.", _bpc_variant(unit="nats")),
            Mistake("multiplied by ln 2 where a division belongs: bits = nats / ln 2.", _bpc_variant(unit="times")),
            Mistake("the loss is per sequence: undo the 1/N (multiply by N) before dividing by the number of "
                    "predicted characters, mask.sum().", _bpc_variant(per="1")),
            Mistake("divided by T, the window length: count only the predicted characters, mask.sum() over "
                    "all sequences, after multiplying the loss by N.", _bpc_variant(count="T", per="1")),
            Mistake("the loss was not divided by the number of characters at all: this is bits per sequence; "
                    "divide by mask.sum() after multiplying by N.", _bpc_variant(count="1", per="1")),
            Mistake("log base 10 is not bits: divide nats by ln 2.", _bpc_variant(unit="log10")),
        ],
    ),
    Exercise(
        name="tbptt_step",
        reference=ref.tbptt_step,
        make_inputs=_tbptt_inputs,
        outputs=returns("loss", GRADS, "h_T", "c_T"),
        block=("lstm_helpers.language_model:tbptt_step", "lstm_helpers.experiment.char_lm:window_step"),
        mistakes=[
            Mistake("the window starts from zero states: start it from h0, c0, the states the previous window "
                    "ended with, so the model remembers across windows.", _tbptt_variant(start="zeros")),
            Mistake("h_T, c_T are the states the window started from; return the states after its last step, "
                    "h[-1] and c[-1], for the next window.", _tbptt_variant(returned="start")),
            Mistake("h_T, c_T are the states after the first step; return those after the last, h[-1] and "
                    "c[-1].", _tbptt_variant(returned="first")),
            Mistake("h_T and c_T are swapped: return h[-1] first, then c[-1].", _tbptt_variant(returned="swapped")),
            Mistake("c_T is tanh(c[-1]); the cell state itself, c[-1], goes on to the next window.",
                    _tbptt_variant(returned="tanh")),
            Mistake("only the last hidden state gets a gradient, as in chapter 06's read-out. Here every step "
                    "predicts a character, so dh[t] = dscores[t] @ W_y at every step.", _tbptt_variant(dh="last")),
            Mistake("dW_y uses the last step only: every step's scores come from W_y, so sum over all of them, "
                    "dW_y = sum over t and n of dscores[t, n] outer h[t, n].", _tbptt_variant(dW_y="last")),
            Mistake("db_y is averaged over the steps and sequences; sum dscores over them instead (dscores "
                    "already carries the 1/N).", _tbptt_variant(db_y="mean")),
            Mistake("the loss and gradients are averaged over the steps as well (divided by N * T): the loss "
                    "sums over the window's steps and divides by N only.", _tbptt_variant(norm="NT")),
        ],
    ),
    Exercise(
        name="sample",
        reference=ref.sample,
        make_inputs=_sample_inputs,
        outputs=returns("text"),
        block=("lstm_helpers.language_model:sample",),
        trial_note=_drawing_note,
        visible_trials=4,
        hidden_trials=6,
        mistakes=[
            Mistake("the temperature has no effect on the draws: divide the scores by it before the softmax "
                    "(dividing the probabilities by it changes nothing once they are normalised).",
                    _sample_variant(temperature_on="probabilities")),
            Mistake("the scores are multiplied by the temperature; divide them by it: softmax(scores / temperature).",
                    _sample_variant(temperature_on="times")),
            Mistake("temperature 0 should be greedy: take np.argmax of the scores, with no draw.",
                    _sample_variant(greedy="sample")),
            Mistake("greedy decoding takes the argmax along the wrong axis: the scores of one step are (1, V), "
                    "and the argmax belongs to the vocabulary axis (axis=1, or argmax of scores[0]).",
                    _sample_variant(greedy="wrong_axis")),
            Mistake("sample makes its own generator (np.random.default_rng(0)) instead of using the rng it is "
                    "given: never seed inside; draw every character with rng.choice(V, p=p).",
                    _sample_variant(own_seed=0)),
            Mistake("sample makes its own generator (np.random.default_rng(42)) instead of using the rng it is "
                    "given: never seed inside; draw every character with rng.choice(V, p=p).",
                    _sample_variant(own_seed=42)),
            Mistake("the character fed back in is always the prime's last one: feed each written character "
                    "in as the next input.", _sample_variant(feed="prime")),
            Mistake("the states h and c start again from zero at every character: carry them from step to step.",
                    _sample_variant(state="reset")),
            Mistake("the first character is predicted before the prime's last character was read: the first "
                    "prediction comes from the state that has read the whole prime.",
                    _sample_variant(prime_read="not_last")),
            Mistake("the prime's last character is read twice: after reading the whole prime, the first "
                    "prediction comes from that state; do not feed its last character again.",
                    _sample_variant(prime_read="twice")),
            Mistake("the text returned starts with the prime: return only the n new characters.",
                    _sample_variant(returned="with_prime")),
        ],
    ),
]
