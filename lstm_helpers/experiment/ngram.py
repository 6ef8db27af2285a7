"""Chapter 07's baseline that cannot remember: a character n-gram model.

An order-n model predicts the next character from the last ``n - 1``
characters only, by counting. Counts alone give probability 0 to anything not
seen in the training text, so each order is smoothed towards the next shorter
context (interpolation with a Dirichlet prior of strength ``k``)::

    P_0(c)        = 1 / V
    P_m(c | ctx)  = (count(ctx_m, c) + k · P_{m-1}(c | ctx)) / (count(ctx_m) + k)

where ``ctx_m`` is the last m characters. A context seen often trusts its
counts; a rare one leans on the shorter context. Whatever lies more than
``n - 1`` characters back has no influence at all: that is the point of the
comparison with the LSTM.

Counts are kept as sorted arrays of integer keys (a context of m characters
is a number in base V), so a few million characters count in a second or two.
"""

import math
from dataclasses import dataclass

import numpy as np

from ..language_model import V

#: The baseline's settings: 5 characters of context, and the smoothing strength. Both were chosen on a
#: small grid (orders 3 to 8, k from 0.5 to 64) by validation bits per character, which if anything flatters
#: the baseline; longer contexts gain little (order 8: 2.03 against 2.06 bits).
ORDER = 6
SMOOTHING = 64.0


@dataclass
class NGramModel:
    """Counts of an order-n character model. Build it with :func:`fit`.

    order: n (the model sees n - 1 characters back). k: smoothing strength.
    tables[m]: for m = 1 .. n - 1 (context length; m = 0 is the unigram), a
        pair of sorted arrays (keys, counts) for the (context, next) pairs,
        and context_tables[m] the same for the contexts alone.
    """

    order: int
    k: float
    tables: dict
    context_tables: dict

    def probability(self, ids, positions):
        """P(ids[j] | ids[j - n + 1 : j]) for every j in ``positions`` (each >= 1).

        Positions closer than n - 1 to the start use the context there is.
        Returns (len(positions),) float64.
        """
        ids = np.asarray(ids, dtype=np.int64)
        positions = np.asarray(positions, dtype=np.int64)
        target = ids[positions]
        p = np.full(len(positions), 1.0 / V)
        context = np.zeros(len(positions), dtype=np.int64)
        for m in range(1, self.order):
            have = positions - m >= 0  # a context of m characters exists
            context = np.where(have, context + ids[np.maximum(positions - m, 0)] * V ** (m - 1), context)
            n_ctx = _lookup(*self.context_tables[m], context)
            n_pair = _lookup(*self.tables[m], context * V + target)
            p = np.where(have, (n_pair + self.k * p) / (n_ctx + self.k), p)
        return p

    def bits_per_character(self, ids):
        """Average -log2 P of every character of ``ids`` after the first."""
        p = self.probability(ids, np.arange(1, len(ids)))
        return float(-np.mean(np.log2(p)))


def _lookup(keys, counts, query):
    """counts[keys == query] for every query, 0 where the key is absent."""
    where = np.searchsorted(keys, query)
    where = np.minimum(where, len(keys) - 1)
    found = keys[where] == query
    return np.where(found, counts[where], 0)


def _count(keys):
    keys, counts = np.unique(keys, return_counts=True)
    return keys, counts.astype(np.float64)


def fit(ids, order=ORDER, k=SMOOTHING):
    """Count every context of 1 .. order - 1 characters and what followed it in ``ids``.

    ids: (L,) int, the training text as vocabulary indices. order: n >= 1 (n = 1
    is the uniform model). k > 0: the smoothing strength.
    Returns an :class:`NGramModel`.
    """
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1 or V ** order >= 2 ** 62:
        raise ValueError(f"order must be a whole number from 1 to 9, got {order!r}")
    if not (isinstance(k, (int, float)) and math.isfinite(k) and k > 0):
        raise ValueError(f"k must be a positive number, got {k!r}")
    ids = np.asarray(ids, dtype=np.int64)
    tables, context_tables = {}, {}
    context = np.zeros(len(ids), dtype=np.int64)  # context[j]: the m characters before j, as a number
    for m in range(1, order):
        shifted = np.zeros(len(ids), dtype=np.int64)
        shifted[m:] = ids[:-m]
        context = context + shifted * V ** (m - 1)
        rows = np.arange(m, len(ids))  # positions with m characters of history
        context_tables[m] = _count(context[rows])
        tables[m] = _count(context[rows] * V + ids[rows])
    return NGramModel(order=int(order), k=float(k), tables=tables, context_tables=context_tables)
