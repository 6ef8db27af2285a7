"""Synthetic long-lag tasks for chapter 06, generated in code (no download).

Both tasks return time-major inputs ``x: (T, N, D)`` and read the answer off
the last step only, so the lag between the clue and the answer is the whole
point of the task.
"""

import numpy as np


def _check_batch(n, name="n"):
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name} must be a whole number of sequences >= 1, got {n!r}")


def _check_lag(T, name="T", minimum=2):
    if not isinstance(T, (int, np.integer)) or T < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {T!r}")


# -- the adding problem --------------------------------------------------------

ADDING_TOLERANCE = 0.16   # |error| below this counts as correct (1997's 0.04 on its 0.5 + sum/4 scale)
ADDING_SOLVED_FRACTION = 0.95


def adding_problem(n, T, rng, dtype=np.float64):
    """The adding problem (Hochreiter & Schmidhuber 1997; scaled as in Le, Jaitly & Hinton 2015).

    Each sequence has T steps of (value ~ U[0, 1], marker). Exactly two
    markers are 1: one in the first half, one in the second. The target is
    the sum of the two marked values.

    n: number of sequences, T: length (>= 2), rng: numpy Generator.
    Returns x: (T, n, 2) and y: (n, 1).
    """
    _check_batch(n)
    _check_lag(T)
    values = rng.uniform(0.0, 1.0, size=(T, n))
    half = T // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, T, size=n)
    markers = np.zeros((T, n))
    cols = np.arange(n)
    markers[first, cols] = 1.0
    markers[second, cols] = 1.0
    x = np.stack([values, markers], axis=2).astype(dtype)
    y = (values[first, cols] + values[second, cols])[:, None].astype(dtype)
    return x, y


def adding_accuracy(prediction, y, tolerance=ADDING_TOLERANCE):
    """Fraction of sequences whose |prediction - y| is below ``tolerance``. Shapes (n, 1)."""
    return float(np.mean(np.abs(np.asarray(prediction) - np.asarray(y)) < tolerance))


def adding_baseline_mse(y):
    """MSE of always predicting 1 (the mean of the target): about 1/6 ≈ 0.17."""
    return float(np.mean((np.asarray(y) - 1.0) ** 2))


# -- the toy language task -----------------------------------------------------

COUNTRIES = ("France", "Germany", "Spain", "Italy")
LANGUAGES = ("French", "German", "Spanish", "Italian")
FILLERS = ("and", "then", "we", "moved", "often", "later", "worked", "travelled", "a", "lot")
PREFIX = ("I", "grew", "up", "in")
QUERY = ("I", "speak", "fluent")
PAD = "<pad>"
VOCABULARY = (PAD,) + tuple(dict.fromkeys(PREFIX + COUNTRIES + FILLERS + QUERY))


def language_task(n, lag, rng, dtype=np.float64):
    """"I grew up in France ... I speak fluent French", as a classification task.

    A sequence reads ``I grew up in <country>``, then a number of filler words
    drawn between ``lag // 2`` and ``lag``, then ``I speak fluent``; the label
    is the language of the country. Shorter sequences are padded at the
    start, so every sequence ends with the query.

    n: sequences, lag: the largest number of fillers (>= 2), rng: Generator.
    Returns x: (T, n, V) one-hot with V = len(VOCABULARY) and
    T = len(PREFIX) + 1 + lag + len(QUERY), labels: (n,) ints indexing
    LANGUAGES, and the words as a list of lists (for display).
    """
    _check_batch(n)
    _check_lag(lag, "lag")
    index = {word: i for i, word in enumerate(VOCABULARY)}
    prefix = np.array([index[w] for w in PREFIX])
    query = np.array([index[w] for w in QUERY])
    countries = np.array([index[w] for w in COUNTRIES])
    fillers = np.array([index[w] for w in FILLERS])
    T = len(PREFIX) + 1 + lag + len(QUERY)

    labels = rng.integers(0, len(COUNTRIES), size=n)
    n_fillers = rng.integers(lag // 2, lag + 1, size=n)  # (n,)
    filler_words = fillers[rng.integers(0, len(FILLERS), size=(n, lag))]  # the first n_fillers[j] are used

    # position of every step inside its sentence; the sentence starts after the padding
    length = len(PREFIX) + 1 + n_fillers + len(QUERY)
    pos = np.arange(T)[:, None] - (T - length)[None, :]  # (T, n); negative: padding
    end_of_fillers = len(PREFIX) + 1 + n_fillers[None, :]
    cols = np.broadcast_to(np.arange(n), (T, n))
    tokens = np.select(
        [pos < 0, pos < len(PREFIX), pos == len(PREFIX), pos < end_of_fillers],
        [index[PAD], prefix[np.clip(pos, 0, len(PREFIX) - 1)], countries[labels][None, :].repeat(T, 0),
         filler_words[cols, np.clip(pos - len(PREFIX) - 1, 0, lag - 1)]],
        default=query[np.clip(pos - end_of_fillers, 0, len(QUERY) - 1)],
    )  # (T, n) word indices
    x = np.eye(len(VOCABULARY), dtype=dtype)[tokens]  # (T, n, V) one-hot
    sentences = [[VOCABULARY[i] for i in tokens[:, j]] for j in range(n)]
    return x, labels, sentences
