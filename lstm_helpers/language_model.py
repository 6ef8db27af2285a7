"""Chapter 07: a character-level language model.

Text becomes a sequence of integers over a fixed vocabulary, every character
enters the LSTM as a one-hot vector (``D = V``), and an output layer turns
each hidden state into one score per character of the vocabulary::

    scores_t = W_y · h_t + b_y            W_y: (V, H), b_y: (V,)
    p_t      = softmax(scores_t)          the model's guess for character t + 1

The loss adds up ``-log p_t[y_t]`` over every step of a sequence (the
*temporal* softmax loss) and averages over the N sequences of the batch.
Training runs on windows of T characters and carries the states h and c
from one window to the next, but not their gradients (*truncated*
backpropagation through time). A trained model writes text by sampling one
character at a time and feeding it back in; the temperature rescales the
scores first, and temperature 0 picks the most likely character (greedy).

Shapes: scores (T, N, V), targets y (T, N) integers, mask (T, N) bool,
hidden states h (T, N, H). The LSTM itself is :mod:`lstm_helpers.lstm`.
"""

import math

import numpy as np

from ._validate import as_float_array, check_shape
from .lstm import check_lstm_params, lstm_backward, lstm_cell_forward, lstm_forward

#: The fixed vocabulary: the newline, then the 95 printable ASCII characters from " " to "~".
#: Fixed, not read from the corpus, so that shipped weights mean the same on every machine.
VOCAB = "\n" + "".join(chr(code) for code in range(32, 127))
V = len(VOCAB)  # 96
_INDEX = {ch: k for k, ch in enumerate(VOCAB)}
_LOOKUP = np.full(128, -1, dtype=np.int64)  # ASCII code -> index in VOCAB, -1 outside it
_LOOKUP[[ord(ch) for ch in VOCAB]] = np.arange(V)

OUTPUT_KEYS = ("W_y", "b_y")


# ---------------------------------------------------------------------------
# Text <-> integers <-> one-hot vectors
# ---------------------------------------------------------------------------


def encode(text):
    """The characters of ``text`` as indices into :data:`VOCAB`.

    text: a str. Returns ids: (len(text),) int64.
    Raises ValueError naming every character outside the vocabulary.
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    ids = np.where(codes < 128, _LOOKUP[np.minimum(codes, 127)], -1)
    if (ids < 0).any():
        bad = sorted({text[k] for k in np.flatnonzero(ids < 0)})
        shown = ", ".join(repr(ch) for ch in bad[:10]) + (", ..." if len(bad) > 10 else "")
        raise ValueError(f"text contains {len(bad)} character(s) outside the vocabulary: {shown}. "
                         "The vocabulary is the newline and the printable ASCII characters ' ' to '~'.")
    return ids


def decode(ids):
    """The text of a sequence of indices: ids (L,) integers in 0 .. V - 1. Returns a str."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or (ids.size and (ids.dtype.kind not in "iu" or ids.min() < 0 or ids.max() >= V)):
        raise ValueError(f"ids must be a 1-D array of integers in 0 .. {V - 1}, got shape {ids.shape}, "
                         f"dtype {ids.dtype}")
    return "".join(VOCAB[k] for k in ids)


def one_hot(ids, num_classes=V, dtype=np.float64):
    """One-hot vectors: ids of any shape S, integers in 0 .. num_classes - 1.

    Returns x: S + (num_classes,), 1 at each id and 0 elsewhere. A (T, N)
    window of ids becomes the LSTM's input x: (T, N, V).
    """
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu" or (ids.size and (ids.min() < 0 or ids.max() >= num_classes)):
        raise ValueError(f"ids must be integers in 0 .. {num_classes - 1}")
    x = np.zeros(ids.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(x, ids[..., None], 1.0, axis=-1)
    return x


# ---------------------------------------------------------------------------
# The output layer and the loss over every step
# ---------------------------------------------------------------------------


def softmax(scores, axis=-1):
    """Softmax along ``axis`` (the vocabulary); any shape. Stable: the largest score is subtracted first."""
    scores = np.asarray(scores)
    shifted = scores - scores.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def output_layer_forward(h, W_y, b_y):
    """Scores for every step: ``scores[t] = h[t] @ W_y.T + b_y``.

    h: (T, N, H), W_y: (V, H), b_y: (V,). Returns scores: (T, N, V) and a
    cache for ``output_layer_backward``.
    """
    scores = h @ W_y.T + b_y
    return scores, {"h": h, "W_y": W_y}


def output_layer_backward(dscores, cache):
    """Backward pass of ``output_layer_forward``.

    dscores: (T, N, V). Returns dh: (T, N, H), dW_y: (V, H) and db_y: (V,),
    the weight gradients summed over every step and sequence.
    """
    h, W_y = cache["h"], cache["W_y"]
    dh = dscores @ W_y
    dW_y = np.einsum("tnv,tnh->vh", dscores, h)
    db_y = dscores.sum(axis=(0, 1))
    return dh, dW_y, db_y


def _check_targets(scores, y, mask):
    scores = as_float_array("scores", scores)
    check_shape("scores", scores, ("T", "N", "V"))
    T, N, V_ = scores.shape
    y, mask = np.asarray(y), np.asarray(mask)
    if y.shape != (T, N) or y.dtype.kind not in "iu":
        raise ValueError(f"y must hold integer targets of shape ({T}, {N}), got shape {y.shape}, dtype {y.dtype}")
    if mask.shape != (T, N) or mask.dtype != bool:
        raise ValueError(f"mask must be a bool array of shape ({T}, {N}), got shape {mask.shape}, dtype {mask.dtype}")
    if y.size and (y[mask].min(initial=0) < 0 or y[mask].max(initial=0) >= V_):
        raise ValueError(f"the unmasked targets y must lie in 0 .. {V_ - 1}")
    return scores, y, mask


def temporal_softmax_loss(scores, y, mask):
    """Softmax cross-entropy at every step, summed over time and averaged over the sequences.

    scores: (T, N, V) the output layer's scores; y: (T, N) integer targets
    (the next character); mask: (T, N) bool, False where a step has no
    target (past the end of a text), so it adds nothing to the loss.

        loss = -(1/N) Σ_t Σ_n mask[t, n] · log softmax(scores[t, n])[y[t, n]]

    Returns (loss, dscores): loss a float, dscores: (T, N, V) its gradient,
    (softmax(scores) - one_hot(y)) · mask / N. The largest score of every
    step is subtracted first, so scores in the thousands neither overflow
    nor warn.
    """
    scores, y, mask = _check_targets(scores, y, mask)
    T, N, V_ = scores.shape
    shifted = scores - scores.max(axis=2, keepdims=True)  # every step's largest score becomes 0
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))  # log softmax over V
    y_safe = np.where(mask, y, 0)  # masked steps may hold any target; their terms are dropped
    picked = np.take_along_axis(log_probs, y_safe[..., None], axis=2)[..., 0]  # (T, N)
    loss = -float(np.sum(picked * mask)) / N
    dscores = np.exp(log_probs)
    np.put_along_axis(dscores, y_safe[..., None], np.take_along_axis(dscores, y_safe[..., None], axis=2) - 1.0,
                      axis=2)
    dscores *= mask[..., None] / N
    return loss, dscores


def bits_per_character(loss, mask):
    """The loss of :func:`temporal_softmax_loss` in bits per predicted character.

    loss: a float, summed over the unmasked steps and divided by N;
    mask: (T, N) bool, the mask it was computed with.
    Undo the 1/N, divide by the number of predicted characters, and turn
    nats (natural log) into bits: ``loss * N / mask.sum() / ln 2``.
    A model that knows nothing (every character 1/V) scores log2(V) ≈ 6.58.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != bool or not mask.any():
        raise ValueError("mask must be a 2-D bool array (T, N) with at least one True entry")
    N = mask.shape[1]
    return float(loss) * N / int(mask.sum()) / math.log(2)


# ---------------------------------------------------------------------------
# One step of truncated backpropagation through time
# ---------------------------------------------------------------------------


def split_params(params):
    """(the LSTM's parameters, W_y, b_y) of a language model's parameter dict."""
    for key in OUTPUT_KEYS:
        if key not in params:
            raise ValueError(f"language-model parameters are missing {key!r}: the LSTM's keys plus W_y (V, H), b_y (V,)")
    return {k: v for k, v in params.items() if k not in OUTPUT_KEYS}, params["W_y"], params["b_y"]


def tbptt_step(params, x, y, h0, c0):
    """Loss and gradients of one window of text; the states go on to the next window.

    params: the LSTM's W_f, W_i, W_c, W_o (H, H + V), b_f, ... (H,), and the
        output layer's W_y (V, H), b_y (V,).
    x: (T, N, V) the window's characters, one-hot; y: (T, N) the next
        character at every step (the targets); every step has one.
    h0, c0: (N, H) the states the previous window ended with (zeros for the
        first window). They are inputs like x: the gradient stops here.
    Returns (loss, grads, h_T, c_T): the temporal softmax loss of the window,
    the gradients of every key of params, and the last states h[-1], c[-1]
    (N, H) to start the next window from.
    """
    lstm_params, W_y, b_y = split_params(params)
    h, c, cache = lstm_forward(x, h0, c0, lstm_params)
    scores, out_cache = output_layer_forward(h, W_y, b_y)
    loss, dscores = temporal_softmax_loss(scores, y, np.ones(y.shape, dtype=bool))
    dh, dW_y, db_y = output_layer_backward(dscores, out_cache)  # every step is read: dh at every step
    _, _, _, grads = lstm_backward(dh, cache)  # dh0 and dc0 are dropped: truncation
    grads["W_y"], grads["b_y"] = dW_y, db_y
    return loss, grads, h[-1], c[-1]


# ---------------------------------------------------------------------------
# Writing text: sampling with a temperature
# ---------------------------------------------------------------------------


def _check_sampling(params, prime, n, temperature, rng):
    if not isinstance(prime, str) or not prime:
        raise ValueError(f"prime must be a non-empty str (the text the model reads first), got {prime!r}")
    ids = encode(prime)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a whole number of characters >= 0, got {n!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.integer, np.floating)) \
            or not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a number >= 0 (0 means greedy), got {temperature!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator, e.g. np.random.default_rng(0), got {type(rng).__name__}")
    lstm_params, W_y, b_y = split_params(params)
    check_lstm_params(lstm_params, V)
    check_shape("params['W_y']", np.asarray(W_y), (V, "H"))
    return ids, lstm_params, W_y, b_y


def sample(params, prime, n, temperature, rng):
    """Write ``n`` characters after reading ``prime``.

    params: an LSTM over the vocabulary (W_* (H, H + V), b_* (H,)) with the
        output layer W_y (V, H), b_y (V,).
    prime: a non-empty str of vocabulary characters; the model reads it from
        zero states. n: how many characters to write.
    temperature: >= 0. The scores are divided by it before the softmax: below
        1 the likely characters get likelier, above 1 the distribution
        flattens; 0 means greedy (always the most likely character).
    rng: a ``numpy.random.Generator``; exactly one ``rng.choice(V, p=p)``
        per written character (none for temperature 0). Never seeded here.

    At every step the model reads one character (first the prime's last
    one, then each character it wrote) and its scores give the next.
    Returns the n new characters as a str (without the prime).
    """
    ids, lstm_params, W_y, b_y = _check_sampling(params, prime, n, temperature, rng)
    H = W_y.shape[1]
    h, c = np.zeros((1, H)), np.zeros((1, H))
    for k in ids[:-1]:  # read the prime; its last character is the first input of the loop below
        h, c, _ = lstm_cell_forward(one_hot([k]), h, c, lstm_params)
    char, text = ids[-1], []
    for _ in range(n):
        h, c, _ = lstm_cell_forward(one_hot([char]), h, c, lstm_params)  # (1, H) each
        scores = (h @ W_y.T + b_y)[0]  # (V,): how likely each character is to come next
        if temperature == 0:
            char = int(np.argmax(scores))  # greedy: the most likely character
        else:
            p = softmax(scores / temperature)  # the temperature rescales the scores, not the probabilities
            char = int(rng.choice(V, p=p))  # exactly one draw per character
        text.append(VOCAB[char])
    return "".join(text)
