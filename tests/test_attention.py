"""Chapter 06's attention: the maths against PyTorch, central differences and
a plain loop; the RNN-with-attention models against central differences; the
shipped grid (one cheap row re-run must come out the same) and its plot."""

import json
import warnings

import numpy as np
import pytest

from lstm_helpers import attention as att
from lstm_helpers.experiment import attention_task, data, runner, training
from lstm_helpers.gradients import numerical_gradient


def _inputs(rng, T=5, N=3, H=4, H_v=2, scale=1.0):
    return (scale * rng.standard_normal((N, H)), rng.standard_normal((T, N, H)), rng.standard_normal((T, N, H_v)))


def _loop_attention(query, keys, values):
    """The definition, one sequence and one step at a time (no broadcasting, no max trick)."""
    T, N, H = keys.shape
    weights = np.zeros((T, N))
    context = np.zeros((N, values.shape[2]))
    for n in range(N):
        scores = [float(query[n] @ keys[t, n]) / np.sqrt(H) for t in range(T)]
        exps = [np.exp(s) for s in scores]
        for t in range(T):
            weights[t, n] = exps[t] / sum(exps)
            context[n] += weights[t, n] * values[t, n]
    return context, weights


def test_attention_is_the_definition():
    query, keys, values = _inputs(np.random.default_rng(0))
    context, weights = att.attention(query, keys, values)
    want_context, want_weights = _loop_attention(query, keys, values)
    np.testing.assert_allclose(weights, want_weights, rtol=1e-12)
    np.testing.assert_allclose(context, want_context, rtol=1e-12)
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, rtol=1e-12)


def test_attention_matches_pytorch():
    torch = pytest.importorskip("torch")
    query, keys, values = _inputs(np.random.default_rng(1), T=6, N=2, H=5, H_v=3)
    # PyTorch's (batch, length, features) layout: one query per sequence, T keys and values.
    q = torch.from_numpy(query)[:, None, :]
    k, v = (torch.from_numpy(a).permute(1, 0, 2) for a in (keys, values))
    context = torch.nn.functional.scaled_dot_product_attention(q, k, v)[:, 0, :]
    weights = torch.softmax(q @ k.transpose(1, 2) / np.sqrt(5), dim=-1)[:, 0, :].T
    ours_context, ours_weights = att.attention(query, keys, values)
    np.testing.assert_allclose(ours_context, context.numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours_weights, weights.numpy(), rtol=1e-10)


def test_attention_backward_matches_central_differences():
    rng = np.random.default_rng(2)
    query, keys, values = _inputs(rng)
    g = rng.standard_normal((3, 2))  # the loss is sum(context * g), so dcontext = g

    def loss():
        return np.sum(att.attention(query, keys, values)[0] * g)

    weights = att.attention(query, keys, values)[1]
    dquery, dkeys, dvalues = att.attention_backward(g, query, keys, values, weights)
    for name, analytic, wrt in (("dquery", dquery, query), ("dkeys", dkeys, keys), ("dvalues", dvalues, values)):
        np.testing.assert_allclose(analytic, numerical_gradient(loss, wrt), rtol=1e-6, atol=1e-9, err_msg=name)


def test_huge_scores_neither_overflow_nor_warn_and_float32_stays_float32():
    rng = np.random.default_rng(3)
    query, keys, values = _inputs(rng, scale=1e4)  # scores in the thousands: exp() alone would overflow
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        context, weights = att.attention(query, keys, values)
        g = rng.standard_normal(context.shape)
        grads = att.attention_backward(g, query, keys, values, weights)
    assert np.all(np.isfinite(weights)) and np.allclose(weights.sum(axis=0), 1.0)
    np.testing.assert_array_equal(weights.argmax(axis=0), np.einsum("nh,tnh->tn", query, keys).argmax(axis=0))
    assert all(np.all(np.isfinite(g)) for g in grads)
    small = [a.astype(np.float32) for a in _inputs(rng)]
    assert all(out.dtype == np.float32 for out in att.attention(*small))
    context, weights = att.attention(*small)
    assert all(out.dtype == np.float32 for out in att.attention_backward(context, *small, weights))


@pytest.mark.parametrize("args,match", [
    ((np.zeros((2, 3)), np.zeros((4, 2, 5)), np.zeros((4, 2, 1))), r"keys has shape \(4, 2, 5\), expected \(T, 2, 3\)"),
    ((np.zeros((2, 3)), np.zeros((4, 2, 3)), np.zeros((5, 2, 1))), r"values has shape \(5, 2, 1\), expected \(4, 2, H_v\)"),
    ((np.zeros(3), np.zeros((4, 1, 3)), np.zeros((4, 1, 1))), r"query has shape \(3,\), expected \(N, H\)"),
    ((np.zeros((1, 3)), np.zeros((0, 1, 3)), np.zeros((0, 1, 1))), "at least one step"),
])
def test_bad_shapes_name_the_argument(args, match):
    with pytest.raises(ValueError, match=match):
        att.attention(*args)


# -- the models of the experiment -----------------------------------------------------------------

@pytest.mark.parametrize("model", [attention_task.RNN_ATTENTION, attention_task.RNN_MEAN])
def test_attention_models_gradients_match_finite_differences(model):
    rng = np.random.default_rng(4)
    T, N, D, H, K = 5, 3, 4, 3, 2
    params = training.init_model(model, D, H, K, rng, dtype=np.float64)
    for key in params:  # W_q starts at zero: move every parameter off its start, so that every term matters
        params[key] = params[key] + 0.5 * rng.standard_normal(params[key].shape)
    x, labels = rng.standard_normal((T, N, D)), np.array([0, 1, 1])
    _, grads, _ = training.loss_and_grads(model, params, x, labels, "cross_entropy")
    assert set(grads) == set(params)
    for key, value in params.items():
        numeric = numerical_gradient(lambda: training.loss_and_grads(model, params, x, labels, "cross_entropy")[0],
                                     value)
        np.testing.assert_allclose(grads[key], numeric, rtol=1e-5, atol=1e-8, err_msg=f"{model.name}: d{key}")


def test_attention_starts_as_the_mean_of_the_states():
    """W_q = 0 at the start: every weight is 1/T, and the two models read out the same thing."""
    rng = np.random.default_rng(5)
    x, _, _ = data.language_task(4, 6, rng)
    params = training.init_model(attention_task.RNN_ATTENTION, x.shape[2], 8, 4, np.random.default_rng(6),
                                 dtype=np.float64)
    context, weights, _ = attention_task.attend(x, params)
    np.testing.assert_allclose(weights, 1 / x.shape[0])
    mean_params = {k: v for k, v in params.items() if k != "W_q"}
    np.testing.assert_allclose(training.forward(attention_task.RNN_MEAN, mean_params, x)[0],
                               training.forward(attention_task.RNN_ATTENTION, params, x)[0], rtol=1e-12)


def test_float32_training_stays_float32():
    rng = np.random.default_rng(7)
    x, labels, _ = data.language_task(3, 4, rng, dtype=np.float32)
    for model in attention_task.MODELS.values():
        params = training.init_model(model, x.shape[2], 4, 4, rng)
        loss, grads, y = training.loss_and_grads(model, params, x, labels, "cross_entropy")
        assert y.dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values()), model.name
