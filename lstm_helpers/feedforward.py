"""Chapter 01: dense layers, activations and backpropagation.

A dense layer maps a batch of rows ``x: (N, in)`` to ``y = x @ W.T + b`` with
``W: (out, in)`` and ``b: (out,)``.
"""

import numpy as np

from ._validate import checked_by, float_array


def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)), elementwise; any shape, same dtype.

    Written as ``0.5 * (1 + tanh(x / 2))``, which is the same function but
    never overflows, so ``sigmoid(-1000)`` is 0 with no warning.
    """
    x = np.asarray(x)
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def sigmoid_grad(s):
    """Derivative of the sigmoid, written in terms of its output ``s = sigmoid(x)``."""
    return s * (1.0 - s)


def tanh_grad(t):
    """Derivative of tanh, written in terms of its output ``t = tanh(x)``."""
    return 1.0 - t * t


def relu(x):
    """max(x, 0), elementwise; any shape, same dtype."""
    x = np.asarray(x)
    return np.maximum(x, 0).astype(x.dtype, copy=False)


def _check_dense(x, W, b):
    x = float_array("x", x, ("N", "in"))
    W = float_array("W", W, ("out", x.shape[1]))
    return x, W, float_array("b", b, (W.shape[0],))


def _check_dense_backward(dy, cache):
    return float_array("dy", dy, (cache["x"].shape[0], cache["W"].shape[0])), cache


@checked_by(_check_dense)
def dense_forward(x, W, b):
    """Affine layer ``y = x @ W.T + b``.

    x: (N, in), W: (out, in), b: (out,)
    Returns y: (N, out) and a cache for ``dense_backward``.
    """
    y = x @ W.T + b
    cache = {"x": x, "W": W}
    return y, cache


@checked_by(_check_dense_backward)
def dense_backward(dy, cache):
    """Backward pass of ``dense_forward``.

    dy: (N, out), the upstream gradient dL/dy.
    Returns dx: (N, in), dW: (out, in), db: (out,).
    """
    x, W = cache["x"], cache["W"]
    dx = dy @ W
    dW = dy.T @ x
    db = dy.sum(axis=0)
    return dx, dW, db
