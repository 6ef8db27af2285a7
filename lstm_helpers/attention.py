"""Chapter 06, section 7: scaled dot-product attention over a recurrent network's states.

A recurrent network computes a state after every step, but a read-out of the
last state alone sees the first word only through every step in between.
Attention lets the reader fetch any earlier state directly:

    scores[t, n]  = query[n] · keys[t, n] / sqrt(H)       how well step t matches
    weights[:, n] = softmax over t of scores[:, n]         positive, summing to 1
    context[n]    = sum_t weights[t, n] * values[t, n]     the weighted average

Shapes: ``query: (N, H)``, ``keys: (T, N, H)``, ``values: (T, N, H_v)``,
time-major like every sequence of the course; ``weights: (T, N)``,
``context: (N, H_v)``. The 1/sqrt(H) keeps the scores of random vectors
of any size H around 1 (their dot product has variance H), so that the
softmax starts out soft (Vaswani et al. 2017). Dot-product scores over an
RNN's states are Luong, Pham & Manning's (2015) "dot" attention.
"""

import math

import numpy as np

from ._validate import as_float_array, check_shape


def _check_attention_inputs(query, keys, values):
    query = check_shape("query", as_float_array("query", query), ("N", "H"))
    N, H = query.shape
    keys = check_shape("keys", as_float_array("keys", keys), ("T", N, H))
    T = keys.shape[0]
    if T == 0:
        raise ValueError("keys has no time steps: attention needs at least one step to look at")
    values = check_shape("values", as_float_array("values", values), (T, N, "H_v"))
    return query, keys, values


def attention(query, keys, values):
    """Scaled dot-product attention of one query per sequence over T steps.

    query: (N, H), keys: (T, N, H), values: (T, N, H_v).
    Returns context: (N, H_v), the weighted average of the values, and
    weights: (T, N), the softmax over t of query · keys[t] / sqrt(H)
    (every column is positive and sums to 1).
    """
    query, keys, values = _check_attention_inputs(query, keys, values)
    H = query.shape[1]
    scores = np.einsum("nh,tnh->tn", query, keys) / math.sqrt(H)    # (T, N); a Python float keeps float32
    # softmax over t (axis 0). Subtracting each column's largest score changes nothing (exp(-max)
    # cancels), and np.exp then never sees a number above 0, so it cannot overflow.
    exp = np.exp(scores - scores.max(axis=0, keepdims=True))
    weights = exp / exp.sum(axis=0, keepdims=True)                   # (T, N), every column sums to 1
    context = np.einsum("tn,tnv->nv", weights, values)               # (N, H_v)
    return context, weights


def attention_backward(dcontext, query, keys, values, weights):
    """Gradients of :func:`attention` from the gradient on its context.

    dcontext: (N, H_v); query, keys, values: the inputs of the forward pass;
    weights: (T, N), the weights it returned.
    Returns dquery: (N, H), dkeys: (T, N, H), dvalues: (T, N, H_v).

    Backwards through the three lines of the forward pass:
        dvalues[t]  = weights[t] * dcontext
        dweights[t] = dcontext · values[t]
        dscores[t]  = weights[t] * (dweights[t] - sum_s weights[s] dweights[s])   (softmax)
        dquery      = sum_t dscores[t] keys[t] / sqrt(H),   dkeys[t] = dscores[t] query / sqrt(H)
    """
    query, keys, values = _check_attention_inputs(query, keys, values)
    T, N, H = keys.shape
    dcontext = check_shape("dcontext", as_float_array("dcontext", dcontext), (N, values.shape[2]))
    weights = check_shape("weights", as_float_array("weights", weights), (T, N))

    dvalues = weights[:, :, None] * dcontext[None, :, :]                     # (T, N, H_v)
    dweights = np.einsum("nv,tnv->tn", dcontext, values)                     # (T, N)
    dscores = weights * (dweights - (weights * dweights).sum(axis=0, keepdims=True))
    dquery = np.einsum("tn,tnh->nh", dscores, keys) / math.sqrt(H)          # (N, H)
    dkeys = dscores[:, :, None] * query[None, :, :] / math.sqrt(H)           # (T, N, H)
    return dquery, dkeys, dvalues
