"""Checks for chapter 01: activations and the dense layer."""

import numpy as np

from .. import feedforward as ref
from ._core import CACHE, Exercise, Mistake, returns

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
]
