"""Plots for chapter 03: short and long gaps, gradient norms against the lag,
how saturated the tanh units are, and the clipping experiment.

The gap diagrams are :func:`~lstm_helpers.plots.diagrams.unrolled_rnn` with
the chapter's two sentences. The other plots are ordinary matplotlib charts
on a plain ``Figure``; each takes a ``numpy.random.Generator`` (or a seed for
one) so that it draws the same picture every time.
"""

import numpy as np
from matplotlib.figure import Figure

from ... import gradients
from ...rnn import rnn_forward
from .diagrams import unrolled_rnn


def short_gap():
    """'the clouds are in the sky': the clue is three steps before the word that needs it."""
    return unrolled_rnn(["the", "clouds", "are", "in", "the"], outputs=["", "", "", "", "sky"], source=1, target=4,
                        title='short gap: "the clouds are in the sky"')


def long_gap():
    """'I grew up in France … I speak fluent French': the clue is far back."""
    words = ["I", "grew", "up", "in", "France", "…", "…", "I", "speak", "fluent"]
    outputs = [""] * (len(words) - 1) + ["French"]
    return unrolled_rnn(words, outputs=outputs, source=4, target=len(words) - 1,
                        title='long gap: "I grew up in France … I speak fluent French"')


def orthogonal_rnn(rng, input_size, hidden_size, sigma_max, input_weight_scale=1.0):
    """RNN parameters whose recurrent block is ``sigma_max`` times a random orthogonal matrix.

    Every singular value of W_h[:, :H] then equals sigma_max, so sigma_max is
    exactly the quantity of the singular-value condition. Input weights are
    N(0, 1 / D) times ``input_weight_scale``; biases are zero.
    Returns {"W_h": (H, H + D), "b_h": (H,)}.
    """
    q, _ = np.linalg.qr(rng.standard_normal((hidden_size, hidden_size)))
    W_in = rng.standard_normal((hidden_size, input_size)) / np.sqrt(input_size)
    return {"W_h": np.concatenate([sigma_max * q, input_weight_scale * W_in], axis=1), "b_h": np.zeros(hidden_size)}


def _positive(values):
    """Values for a log axis: zeros, NaN and inf become NaN (a gap in the line)."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values) & (values > 0), values, np.nan)


def gradient_norm_vs_lag(sigmas=(0.5, 0.9, 1.0, 1.2, 2.0), seq_len=50, hidden_size=16, input_scale=0.3,
                         n_sequences=8, rng=0, norm_fn=None):
    """‖∂h_T/∂h_{T-k}‖ against the lag k, on a log scale, for several recurrent weight scales.

    sigmas: largest singular values of the recurrent block, one curve each.
    input_scale: standard deviation of the inputs x_t ~ N(0, input_scale^2).
    rng: a numpy Generator or a seed for one; the same draws serve every curve.
    norm_fn: the function computing the norms, with the signature of
        :func:`lstm_helpers.gradients.gradient_norms_by_lag` (the reference by default).
    Each curve is the median over ``n_sequences`` random input sequences.
    """
    rng = np.random.default_rng(rng)
    norm_fn = norm_fn or gradients.gradient_norms_by_lag
    D = 4
    base = orthogonal_rnn(rng, D, hidden_size, 1.0)
    x = input_scale * rng.standard_normal((seq_len, n_sequences, D))
    h0 = np.zeros((n_sequences, hidden_size))
    lags = np.arange(1, seq_len + 1)

    fig = Figure(figsize=(7.5, 3.6), dpi=100, layout="constrained")
    ax = fig.subplots()
    colors = _colors(len(sigmas))
    for sigma, color in zip(sigmas, colors):
        params = {"W_h": base["W_h"].copy(), "b_h": base["b_h"]}
        params["W_h"][:, :hidden_size] *= sigma
        norms = norm_fn(x, h0, params)  # (N, T), column t is lag T - t
        ax.semilogy(lags, _positive(np.median(norms[:, ::-1], axis=0)), color=color, lw=2,
                    label=f"$\\sigma_{{max}}$ = {sigma:g}")
    ax.axhline(1.0, color="#888888", lw=0.8, ls=":")
    ax.set_xlabel("lag $k = T - t$ (steps back)")
    ax.set_ylabel(r"$\|\partial h_T / \partial h_{T-k}\|_2$")
    ax.set_title(f"tanh RNN, H = {hidden_size}, inputs N(0, {input_scale:g}²): median of {n_sequences} sequences",
                 fontsize=10)
    ax.legend(fontsize=9, frameon=False, loc="best")
    return fig


def tanh_saturation(input_scales=(0.3, 1.0, 3.0), sigma_max=1.0, seq_len=50, hidden_size=16, n_sequences=16,
                    rng=0):
    """How saturated the tanh units are, and what that does to the factor 1 - h².

    Left: tanh and its slope 1 - tanh², with the pre-activations a of a tanh
    RNN drawn underneath for each input scale. Right: the distribution of the
    slopes 1 - h_t² over all units and steps: every backward step multiplies
    the gradient by them, so slopes near 0 (saturated units) shrink it.
    """
    rng = np.random.default_rng(rng)
    D = 4
    params = orthogonal_rnn(rng, D, hidden_size, sigma_max)
    noise = rng.standard_normal((seq_len, n_sequences, D))
    h0 = np.zeros((n_sequences, hidden_size))

    fig = Figure(figsize=(10, 3.4), dpi=100, layout="constrained")
    left, right = fig.subplots(1, 2)
    a = np.linspace(-4, 4, 401)
    left.plot(a, np.tanh(a), color="black", lw=1.5, label="tanh(a)")
    left.plot(a, 1 - np.tanh(a) ** 2, color="black", lw=1.5, ls="--", label="slope 1 − tanh²(a)")
    bins = np.linspace(0, 1, 26)
    for scale, color in zip(input_scales, _colors(len(input_scales))):
        x = scale * noise
        h, _ = rnn_forward(x, h0, params)
        h_prev = np.concatenate([h0[None], h[:-1]], axis=0)
        pre = np.concatenate([h_prev, x], axis=2) @ params["W_h"].T + params["b_h"]  # a, with h = tanh(a)
        counts, edges = np.histogram(np.clip(pre, -4, 4), bins=np.linspace(-4, 4, 41), density=True)
        left.stairs(counts, edges, color=color, fill=True, alpha=0.25)
        slopes = (1 - h ** 2).ravel()
        right.hist(slopes, bins=bins, histtype="step", lw=2, color=color, density=True,
                   label=f"inputs × {scale:g}: mean slope {slopes.mean():.2f}")
    left.set_xlabel("pre-activation a")
    left.set_title("shaded: where the units' pre-activations fall", fontsize=10)
    left.legend(fontsize=8, frameon=False, loc="upper left")
    right.set_xlabel("slope 1 − $h_t^2$ (0: saturated, 1: linear)")
    right.set_ylabel("density")
    right.set_title(f"the factor each backward step applies ($\\sigma_{{max}}$ = {sigma_max:g})", fontsize=10)
    right.legend(fontsize=8, frameon=False, loc="upper left")
    return fig


def clipping_loss_curves(runs, max_norm=None):
    """The clipping experiment: loss and gradient norm per step, with and without clipping.

    runs: ``{"unclipped": TrainingRun, "clipped": TrainingRun}`` from
        :func:`lstm_helpers.training.clipping_experiment` (any labels work).
    max_norm: the clipping threshold, drawn as a dotted line on the right.
    A run that diverged ends with a cross at the step where it stopped.
    """
    fig = Figure(figsize=(10, 3.4), dpi=100, layout="constrained")
    loss_ax, norm_ax = fig.subplots(1, 2)
    palette = {"unclipped": "#d62728", "clipped": "#1f77b4"}
    for name, run in runs.items():
        color = palette.get(name)
        steps = np.arange(len(run.loss))
        label = name + (f" (diverged at step {run.diverged_at})" if run.diverged else "")
        lines = loss_ax.semilogy(steps, _positive(run.loss), lw=1.5, color=color, label=label)
        norm_ax.semilogy(steps, _positive(run.grad_norm), lw=1.2, color=lines[0].get_color(), label=name)
        if run.diverged:
            last = run.diverged_at - 1
            if last >= 0:
                loss_ax.plot([last], [run.loss[last]], "x", color=lines[0].get_color(), ms=10, mew=2)
    if max_norm is not None:
        norm_ax.axhline(max_norm, color="#444444", ls=":", lw=1, label=f"max_norm = {max_norm:g}")
    loss_ax.set_xlabel("training step")
    loss_ax.set_ylabel("loss (mean squared error)")
    loss_ax.set_title("loss", fontsize=10)
    norm_ax.set_xlabel("training step")
    norm_ax.set_ylabel("global gradient norm")
    norm_ax.set_title("gradient norm before clipping", fontsize=10)
    for ax in (loss_ax, norm_ax):
        ax.legend(fontsize=8, frameon=False)
    return fig


def _colors(n):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(0.85 * i / max(n - 1, 1)) for i in range(n)]
