"""Gradients over long sequences: numerical checks, vanishing and exploding
gradients, and clipping (chapters 01 and 03).

Through a tanh RNN, ``h_t = tanh(W_h · [h_{t-1}, x_t] + b_h)``, the state at
step T depends on an earlier state h_t through T - t steps, and the chain rule
makes the Jacobian a product of T - t factors:

    dh_T/dh_t = J_T J_{T-1} ... J_{t+1},   J_k = dh_k/dh_{k-1} = diag(1 - h_k^2) W_rec

where ``W_rec = W_h[:, :H]`` is the recurrent block of ``W_h: (H, H + D)`` (the
columns that multiply h_{t-1}; the hidden state comes first in the
concatenation). Each factor has norm at most ``gamma * sigma_max(W_rec)``, with
gamma the largest slope of the activation, which gives the conditions of
Pascanu, Mikolov & Bengio (2013) in :func:`predict_from_weights`.
"""

import numpy as np

from ._validate import as_float_array, checked_by, float_array
from .rnn import check_rnn_sequence, rnn_forward

#: Largest slope of each activation: tanh'(0) = 1, sigmoid'(0) = 1/4.
ACTIVATION_GAMMA = {"tanh": 1.0, "sigmoid": 0.25}


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


# -- exploding and vanishing gradients (chapter 03) ---------------------------------------------

def _check_W_h(W_h):
    W_h = float_array("W_h", W_h, ("H", "H + D"))
    if W_h.shape[1] < W_h.shape[0]:
        raise ValueError(f"W_h has shape {W_h.shape}, expected (H, H + D) with at least H columns")
    return (W_h,)


def _check_prediction(W_h, activation="tanh"):
    if activation not in ACTIVATION_GAMMA:
        raise ValueError(f"activation must be one of {', '.join(map(repr, ACTIVATION_GAMMA))}, got {activation!r}")
    return _check_W_h(W_h) + (activation,)


@checked_by(_check_W_h)
def recurrent_block(W_h):
    """The recurrent block ``W_rec = W_h[:, :H]`` of ``W_h: (H, H + D)``; returns (H, H).

    These are the columns that multiply h_{t-1} in ``W_h · [h_{t-1}, x_t]``; the
    remaining D columns, ``W_h[:, H:]``, multiply the input x_t.
    """
    return W_h[:, :W_h.shape[0]]


@checked_by(check_rnn_sequence)
def gradient_norms_by_lag(x, h0, params):
    """Spectral norm of dh_T/dh_t for every t < T, by explicit Jacobian products.

    Notation: h_0 = h0 is the initial state and h_t (t = 1..T) the state after
    reading x[t - 1], so h_t is ``rnn_forward(x, h0, params)[0][t - 1]``.

    x: (T, N, D), N independent sequences, time-major
    h0: (N, H)
    params: {"W_h": (H, H + D), "b_h": (H,)}
    Returns norms: (N, T) with ``norms[n, t] = ||dh_T/dh_t||_2`` for sequence n,
    the largest singular value of the (H, H) Jacobian. Column t is lag T - t:
    ``norms[:, -1]`` is one step back, ``norms[:, 0]`` reaches the initial state.
    ``norms[:, ::-1]`` lists lags 1, 2, ..., T.
    """
    h, _ = rnn_forward(x, h0, params)
    T, N, H = h.shape
    W_rec = recurrent_block(params["W_h"])
    states = np.concatenate([h0.astype(h.dtype)[None], h], axis=0)  # (T + 1, N, H)

    products = np.zeros((N, T, H, H), dtype=h.dtype)  # products[n, t] = dh_T/dh_t for sequence n
    product = np.broadcast_to(np.eye(H, dtype=h.dtype), (N, H, H))  # dh_T/dh_T = I
    for t in reversed(range(T)):
        jacobian = (1.0 - states[t + 1] ** 2)[:, :, None] * W_rec  # dh_{t+1}/dh_t = diag(1 - h^2) W_rec
        product = product @ jacobian  # dh_T/dh_t = dh_T/dh_{t+1} · dh_{t+1}/dh_t
        products[:, t] = product
    # the spectral norm is the largest singular value (svd sorts them in decreasing order)
    return np.linalg.svd(products, compute_uv=False)[..., 0]


@checked_by(_check_prediction)
def predict_from_weights(W_h, activation="tanh"):
    """What the recurrent weights alone say about long-range gradients.

    W_h: (H, H + D), the RNN weights; only the recurrent block W_h[:, :H] matters.
    activation: "tanh" (gamma = 1) or "sigmoid" (gamma = 1/4), where gamma
        bounds the activation's slope, so ||diag(f'(a))|| <= gamma.
    Returns (sigma_max, verdict):
        sigma_max: float, the largest singular value of W_h[:, :H] (not its
            largest eigenvalue: a non-symmetric matrix can stretch a vector
            by more than any eigenvalue says);
        verdict: "vanishes" if sigma_max < 1/gamma, otherwise "may explode".

    The two answers are not symmetric (Pascanu, Mikolov & Bengio 2013). Every
    Jacobian factor has norm at most eta = gamma * sigma_max, so
    ||dh_T/dh_t|| <= eta^(T - t): when sigma_max < 1/gamma the gradient
    vanishes exponentially for every input, a *sufficient* condition.
    sigma_max > 1/gamma is only *necessary* for exploding: saturated units
    (f' near 0) can still make the gradient vanish, so "may explode" means
    that the guarantee of vanishing is gone, not that the gradient grows.
    (At exactly sigma_max = 1/gamma the factors are bounded by 1: no
    guarantee either way; the function reports "may explode" there too.)
    """
    W_rec = recurrent_block(W_h)
    sigma_max = float(np.linalg.svd(W_rec, compute_uv=False)[0])
    verdict = "vanishes" if sigma_max < 1.0 / ACTIVATION_GAMMA[activation] else "may explode"
    return sigma_max, verdict


# -- gradient clipping (chapter 03) -----------------------------------------------------------

def global_norm(grads):
    """L2 norm of all arrays in ``grads`` taken together, as one long vector.

    grads: dict of arrays. Returns a float: sqrt(sum over arrays of sum(g**2)).
    The squares are taken after dividing by the largest |g|, so finite
    gradients as large as 1e200 give their norm instead of overflowing.
    """
    arrays = [np.asarray(g, dtype=np.float64) for g in grads.values()]
    largest = max((float(np.max(np.abs(g))) for g in arrays if g.size), default=0.0)
    if largest == 0.0 or not np.isfinite(largest):
        return largest
    return largest * float(np.sqrt(sum(float(np.sum(np.square(g / largest))) for g in arrays)))


def _check_clip(grads, max_norm):
    if not isinstance(grads, dict):
        raise ValueError(f"grads must be a dict of arrays, got {type(grads).__name__}")
    if (isinstance(max_norm, bool) or not isinstance(max_norm, (int, float, np.integer, np.floating))
            or not np.isfinite(max_norm) or max_norm <= 0):
        raise ValueError(f"max_norm must be a positive number, got {max_norm!r}")
    arrays = {key: as_float_array(f"gradient {key!r}", g) for key, g in grads.items()}
    for key, g in arrays.items():
        if not np.all(np.isfinite(g)):
            raise ValueError(
                f"gradient {key!r} contains NaN or inf; clipping cannot repair it "
                "(lower the learning rate or look for an overflow upstream)"
            )
    return arrays, max_norm


@checked_by(_check_clip)
def clip_grad_norm(grads, max_norm):
    """Scale all gradients together so that their global L2 norm is at most ``max_norm``.

    grads: dict of arrays (any shapes); it is left unchanged.
    max_norm: positive number, the threshold.
    Returns (clipped, total_norm): new arrays with the same keys, and the
    global norm measured before clipping. If total_norm > max_norm every array
    is multiplied by max_norm / total_norm, which keeps the direction of the
    whole gradient (Pascanu, Mikolov & Bengio 2013); otherwise the arrays are
    copied unchanged (so a zero gradient needs no division).
    Raises ValueError for max_norm <= 0 and for NaN or inf in any array
    (naming its key): clipping cannot repair a gradient that has overflowed.
    """
    total_norm = global_norm(grads)
    scale = max_norm / total_norm if total_norm > max_norm else 1.0
    clipped = {key: g * np.asarray(scale, dtype=g.dtype) for key, g in grads.items()}
    return clipped, total_norm
