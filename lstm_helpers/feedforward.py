"""Chapter 01: dense layers, activations and backpropagation.

A dense layer maps a batch of rows ``x: (N, in)`` to ``y = x @ W.T + b`` with
``W: (out, in)`` and ``b: (out,)``.
"""

import numpy as np

from ._validate import as_float_array, check_shape


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


def dense_forward(x, W, b):
    """Affine layer ``y = x @ W.T + b``.

    x: (N, in), W: (out, in), b: (out,)
    Returns y: (N, out) and a cache for ``dense_backward``.
    """
    x = as_float_array("x", x)
    W = as_float_array("W", W)
    b = as_float_array("b", b)
    check_shape("x", x, ("N", "in"))
    check_shape("W", W, ("out", x.shape[1]))
    check_shape("b", b, (W.shape[0],))
    y = x @ W.T + b
    cache = {"x": x, "W": W}
    return y, cache


def dense_backward(dy, cache):
    """Backward pass of ``dense_forward``.

    dy: (N, out), the upstream gradient dL/dy.
    Returns dx: (N, in), dW: (out, in), db: (out,).
    """
    x, W = cache["x"], cache["W"]
    dy = as_float_array("dy", dy)
    check_shape("dy", dy, (x.shape[0], W.shape[0]))
    dx = dy @ W
    dW = dy.T @ x
    db = dy.sum(axis=0)
    return dx, dW, db
