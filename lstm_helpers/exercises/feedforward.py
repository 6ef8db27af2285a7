"""Checks for chapter 01: activations, the dense layer, and three questions.

The questions are asked before a plot or a demo shows their answer
(``prediction=True``): the visible check only records the answer, the hidden
tests grade it. Their right answers are computed here by the course's code
or by a formula, never copied from the solution notebook.
"""

from functools import lru_cache
from itertools import permutations

import numpy as np

from .. import feedforward as ref
from ._core import CACHE, Exercise, Mistake, returns
from ._questions import answer, question

CHAPTER = "01_feedforward"


def _activation_inputs(rng, hidden):
    shape = tuple(rng.integers(1, 6, size=2)) if hidden else (3, 4)
    x = 3.0 * rng.standard_normal(shape)
    x.flat[0], x.flat[-1] = 1000.0, -1000.0  # extreme values must not overflow
    return {"x": x}


def _dense_dims(rng, hidden):
    if hidden:
        N, n_in, n_out = (int(v) for v in rng.integers(1, 7, size=3))
        return N, n_in, n_out
    return 3, 4, 5  # all different, so a transpose shows in the shape


def _dense_forward_inputs(rng, hidden):
    N, n_in, n_out = _dense_dims(rng, hidden)
    return {
        "x": rng.standard_normal((N, n_in)),
        "W": rng.standard_normal((n_out, n_in)),
        "b": rng.standard_normal(n_out),
    }


def _dense_backward_inputs(rng, hidden):
    inputs = _dense_forward_inputs(rng, hidden)
    y, cache = ref.dense_forward(**inputs)
    return {"dy": rng.standard_normal(y.shape), "cache": cache}


# -- the questions --------------------------------------------------------------------------------

def _max_slopes():
    """The largest slopes of the sigmoid and of tanh, both at x = 0 (where s(1 - s) and 1 - t**2 peak)."""
    return float(ref.sigmoid_grad(ref.sigmoid(0.0))), float(ref.tanh_grad(np.tanh(0.0)))


#: The batch size of chapter 01's gradient-check demo, whose dW the slip divides by it.
DEMO_BATCH = 3


def _slip_relative_error():
    """The demo's relative error max|a - n| / max|n| when a = n / N: the same for every entry, 1 - 1/N."""
    return 1.0 - 1.0 / DEMO_BATCH


@lru_cache(maxsize=1)
def _distinct_reader_outputs():
    """How many different outputs the notebook's bag-of-words reader gives for the 6 orders of its words.

    Built exactly as the notebook builds it (seed 1, 8-dimensional word vectors, two dense layers and a
    ReLU), with the course's references; outputs equal to 9 decimals count as one.
    """
    rng = np.random.default_rng(1)
    vocabulary = {word: rng.standard_normal(8) for word in ["dog", "bites", "man"]}
    W1, b1 = rng.standard_normal((6, 8)), rng.standard_normal(6)
    W2, b2 = rng.standard_normal((1, 6)), rng.standard_normal(1)
    outputs = []
    for words in permutations(vocabulary):
        bag = sum(vocabulary[word] for word in words)[None, :]
        hidden = ref.relu(ref.dense_forward(bag, W1, b1)[0])
        outputs.append(ref.dense_forward(hidden, W2, b2)[0].item())
    return len(np.unique(np.round(outputs, 9)))


EXERCISES = [
    Exercise(
        name="sigmoid",
        reference=ref.sigmoid,
        make_inputs=_activation_inputs,
        outputs=returns("sigmoid(x)"),
        block=("lstm_helpers.feedforward:sigmoid",),
        mistakes=[
            Mistake("you computed tanh; the sigmoid is 1 / (1 + exp(-x)), with values in (0, 1).", np.tanh),
            Mistake("the sign of the exponent is flipped: it is exp(-x), so sigmoid(large x) is close to 1.",
                    lambda x: ref.sigmoid(-x)),
            Mistake("this is the derivative sigmoid(x) * (1 - sigmoid(x)), not the sigmoid itself.",
                    lambda x: ref.sigmoid(x) * (1 - ref.sigmoid(x))),
        ],
    ),
    Exercise(
        name="relu",
        reference=ref.relu,
        make_inputs=_activation_inputs,
        outputs=returns("relu(x)"),
        block=("lstm_helpers.feedforward:relu",),
        mistakes=[
            Mistake("this returns the derivative (0 or 1), not max(x, 0).", lambda x: (x > 0).astype(float)),
            Mistake("this is abs(x); negative inputs must become 0.", np.abs),
            Mistake("this is min(x, 0); the ReLU keeps the positive part.", lambda x: np.minimum(x, 0)),
        ],
    ),
    Exercise(
        name="dense_forward",
        reference=ref.dense_forward,
        make_inputs=_dense_forward_inputs,
        outputs=returns("y", CACHE),
        block=("lstm_helpers.feedforward:dense_forward",),
        mistakes=[
            Mistake("the bias b is missing: y = x @ W.T + b.", lambda x, W, b: (x @ W.T, None)),
            Mistake("the bias is subtracted; it should be added.", lambda x, W, b: (x @ W.T - b, None)),
            Mistake("a sigmoid was applied; dense_forward is only the affine part x @ W.T + b "
                    "(the activation is a layer of its own).",
                    lambda x, W, b: (ref.sigmoid(x @ W.T + b), None)),
            Mistake("a ReLU was applied; dense_forward is only the affine part x @ W.T + b "
                    "(the activation is a layer of its own).",
                    lambda x, W, b: (ref.relu(x @ W.T + b), None)),
        ],
    ),
    Exercise(
        name="dense_backward",
        reference=ref.dense_backward,
        make_inputs=_dense_backward_inputs,
        outputs=returns("dx", "dW", "db"),
        block=("lstm_helpers.feedforward:dense_backward",),
        mistakes=[
            Mistake("db is averaged over the batch; the gradient of a sum is summed: db = dy.sum(axis=0).",
                    lambda dy, cache: (dy @ cache["W"], dy.T @ cache["x"], dy.mean(axis=0))),
            Mistake("dW is averaged over the batch; it is a sum over rows: dW = dy.T @ x.",
                    lambda dy, cache: (dy @ cache["W"], dy.T @ cache["x"] / len(dy), dy.sum(axis=0))),
            Mistake("dx uses the wrong sign or misses W: dx = dy @ W.",
                    lambda dy, cache: (-dy @ cache["W"], dy.T @ cache["x"], dy.sum(axis=0))),
        ],
    ),
    question("max_slopes", _max_slopes, ("sigmoid_slope", "tanh_slope"), rtol=1e-3, mistakes=[
        Mistake("0.5 is the sigmoid's value at 0, not its slope: sigma'(x) = sigma(x) (1 - sigma(x)) is "
                "largest where sigma = 1/2, which gives 1/2 * 1/2.", answer((0.5, 1.0))),
        Mistake("the two slopes are swapped: the answer is (sigmoid's, tanh's), and the sigmoid is the "
                "flatter one.", answer((1.0, 0.25))),
        Mistake("the sigmoid's slope is not 1: sigma'(x) = sigma(x) (1 - sigma(x)) is at most 1/4, "
                "four times flatter than tanh.", answer((1.0, 1.0))),
    ]),
    question("slip_relative_error", _slip_relative_error, "relative_error", rtol=0.02, mistakes=[
        Mistake("1/3 is the ratio of the slipped dW to the right one; the check prints the error "
                "|dW/3 - dW| / |dW| = 1 - 1/3.", answer(1 / 3)),
        Mistake("3 is the factor between the two gradients; the check prints the relative error "
                "|dW/3 - dW| / |dW| = 1 - 1/3.", answer(3.0)),
        Mistake("the slip divides dW by N = 3, it does not multiply it: the error is "
                "|dW/3 - dW| / |dW| = 1 - 1/3, not |3 dW - dW| / |dW|.", answer(2.0)),
    ]),
    question("distinct_outputs", _distinct_reader_outputs, mistakes=[
        Mistake("the reader adds the word vectors before anything else happens, and a sum is the same "
                "in every order: all six sentences give one output.", answer(6)),
        Mistake("dog bites man and man bites dog are different sentences but the same bag of words: "
                "all six orders give one output.", answer(2)),
    ]),
]
