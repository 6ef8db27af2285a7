"""Numerical gradients and gradient clipping (chapters 01 and 03)."""

import numpy as np


def numerical_gradient(f, x, eps=1e-6):
    """Central-difference gradient of a scalar function ``f`` with respect to ``x``.

    f: callable taking no arguments and returning a float; it must read ``x``
       (an array it closes over), which is perturbed in place and restored.
    x: ndarray of any shape (use float64: float32 is far too coarse).
    Returns an array shaped like ``x``: (f(x + eps e_i) - f(x - eps e_i)) / (2 eps).
    """
    if not isinstance(x, np.ndarray):
        raise ValueError("numerical_gradient needs x as a NumPy array that f reads")
    grad = np.zeros_like(x, dtype=np.float64)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat_x, x):
        raise ValueError("numerical_gradient needs a contiguous array x")
    for i in range(flat_x.size):
        old = flat_x[i]
        flat_x[i] = old + eps
        f_plus = float(f())
        flat_x[i] = old - eps
        f_minus = float(f())
        flat_x[i] = old
        flat_g[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def global_norm(grads):
    """L2 norm of all arrays in ``grads`` taken together, as one long vector."""
    return float(np.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads.values())))


def clip_grad_norm(grads, max_norm):
    """Scale all gradients together so that their global L2 norm is at most ``max_norm``.

    grads: dict of arrays (any shapes); it is left unchanged.
    Returns (clipped, total_norm): new arrays with the same keys, and the
    global norm measured before clipping (Pascanu, Mikolov & Bengio 2013).
    """
    if not np.isfinite(max_norm) or max_norm <= 0:
        raise ValueError(f"max_norm must be a positive number, got {max_norm!r}")
    for key, g in grads.items():
        if not np.all(np.isfinite(g)):
            raise ValueError(
                f"gradient {key!r} contains NaN or inf; clipping cannot repair it "
                "(lower the learning rate or look for an overflow upstream)"
            )
    total_norm = global_norm(grads)
    scale = min(1.0, max_norm / total_norm) if total_norm > 0 else 1.0
    clipped = {key: np.asarray(g) * np.asarray(scale, dtype=np.asarray(g).dtype) for key, g in grads.items()}
    return clipped, total_norm
