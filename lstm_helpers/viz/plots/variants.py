"""Plots for chapter 05: how many parameters each LSTM variant has, and how far back a GRU's gradient reaches.

The counts come from :func:`lstm_helpers.variants.param_count` (or from a
learner's own ``param_counts``); the chart only draws them. One layer is
counted: every gate has a weight matrix ``(H, H + D)`` and a bias ``(H,)``,
and the peephole LSTM adds three peephole vectors ``(H,)``.
"""

import numpy as np
from matplotlib.figure import Figure

from ... import variants
from ..palette import MODEL_COLORS

#: The variants in the order they are drawn, with their labels and formulas.
VARIANTS = ("lstm", "peephole", "cifg", "gru")
NAMES = {"lstm": "LSTM", "peephole": "peephole LSTM", "cifg": "coupled gates (CIFG)", "gru": "GRU"}
FORMULAS = {
    "lstm": "$4\\,[H(H{+}D) + H]$",
    "peephole": "$4\\,[H(H{+}D) + H] + 3H$",
    "cifg": "$3\\,[H(H{+}D) + H]$",
    "gru": "$3\\,[H(H{+}D) + H]$",
}


def param_count_bars(D, H, counts=None):
    """Bar chart of the parameter count of one layer of each variant, for input size D and hidden size H.

    D, H: positive integers.
    counts: optional ``{variant: count}`` for "lstm", "peephole", "cifg" and
        "gru" (a learner's ``param_counts(D, H)``, say); by default each bar
        is ``lstm_helpers.variants.param_count(variant, D, H)``.
    Above each bar: the count and its share of the LSTM's count; below it,
    the formula. ``fig.axes[0].patches`` are the bars, in the order of
    ``VARIANTS``, each with ``gid`` "bar:<variant>". Returns a Figure.
    """
    for name, value in (("D", D), ("H", H)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if counts is None:
        counts = {v: variants.param_count(v, D, H) for v in VARIANTS}
    missing = [v for v in VARIANTS if v not in counts]
    if missing:
        raise ValueError(f"counts has no entry for {', '.join(missing)}; expected keys {', '.join(VARIANTS)}")
    heights = [counts[v] for v in VARIANTS]

    fig = Figure(figsize=(7.2, 3.6), dpi=100, layout="constrained")
    ax = fig.subplots()
    bars = ax.bar(range(len(VARIANTS)), heights, width=0.62, color=[MODEL_COLORS[v] for v in VARIANTS])
    for bar, variant in zip(bars, VARIANTS):
        bar.set_gid(f"bar:{variant}")
    top = max(heights)
    lstm = counts["lstm"]
    for k, (variant, height) in enumerate(zip(VARIANTS, heights)):
        text = f"{height:,}"
        if variant != "lstm":
            share = 100 * height / lstm
            text += f"\n{share:.1f}% of the LSTM" if abs(share - 100) < 10 else f"\n{share:.0f}% of the LSTM"
        ax.text(k, height + 0.02 * top, text, ha="center", va="bottom", fontsize=9, linespacing=1.3)
    ax.set_xticks(range(len(VARIANTS)),
                  [f"{NAMES[v]}\n{FORMULAS[v]}" for v in VARIANTS], fontsize=9)
    ax.set_ylim(0, 1.22 * top)
    ax.set_ylabel("trainable numbers in one layer")
    ax.set_title(f"Parameters per layer for input size D = {D}, hidden size H = {H}", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def gru_gradient_vs_lag(jacobian, rng, steps=60, H=8, D=3, update_biases=(-3.0, 0.0, 3.0), N=4):
    """How much of a gradient on h_T still reaches h_{T-k}, against the lag k: GRUs and a tanh RNN.

    jacobian(cache) -> J: (N, H, H), the GRU's ∂h_t/∂h_{t-1} for one step
        (chapter 05's ``gru_state_jacobian``: the learner's, or the course's).
    rng: numpy Generator for the weights and the inputs.
    For every update-gate bias b_z in ``update_biases``: a GRU (reset_after=False)
    with weights N(0, 1/(H + D)) and b_z on every unit reads ``steps`` steps of
    N(0, 1) input; the solid line is the median over N sequences of
    ||∂h_T/∂h_{T-k}||_2, the largest singular value of the product of the last
    k Jacobians. Dashed: (1 - σ(b_z))^k, one unit whose gates and candidate
    ignore its state. Red: the tanh RNN of chapter 03 with the same sizes
    (``gradients.gradient_norms_by_lag``). Returns a Figure; the lines carry
    ``gid`` "gru:<b_z>", "unit:<b_z>" and "rnn".
    """
    from ... import gradients, rnn
    from ...feedforward import sigmoid

    lags = np.arange(1, steps + 1)
    x = rng.standard_normal((steps, N, D))
    h0 = np.zeros((N, H))
    fig = Figure(figsize=(7.2, 3.8), dpi=100, layout="constrained")
    ax = fig.subplots()
    for k, b_z in enumerate(update_biases):
        params = variants.init_gru_params(D, H, rng)
        params["b_z"] = np.full(H, float(b_z))
        _, cache = variants.gru_forward(x, h0, params)
        product = np.broadcast_to(np.eye(H), (N, H, H))
        norms = []
        for step in reversed(cache["steps"]):  # ∂h_T/∂h_{t-1} = ∂h_T/∂h_t · ∂h_t/∂h_{t-1}
            product = product @ np.asarray(jacobian(step))
            norms.append(np.median(np.linalg.svd(product, compute_uv=False)[:, 0]))
        shade = 0.35 + 0.65 * (k + 1) / len(update_biases)
        keep = 1 - float(sigmoid(np.float64(b_z)))
        ax.semilogy(lags, norms, "-", color=MODEL_COLORS["gru"], alpha=shade, lw=2,
                    label=f"GRU, $b_z = {b_z:g}$ ($1 - z \\approx {keep:.2f}$)", gid=f"gru:{b_z:g}")
        ax.semilogy(lags, keep ** lags, "--", color=MODEL_COLORS["gru"], alpha=shade, lw=1,
                    gid=f"unit:{b_z:g}")
    rnn_params = rnn.init_rnn_params(D, H, rng)
    rnn_norms = np.median(gradients.gradient_norms_by_lag(x, h0, rnn_params), axis=0)[::-1]
    ax.semilogy(lags, rnn_norms, "-", color=MODEL_COLORS["rnn"], lw=2, label="tanh RNN (chapter 3)", gid="rnn")
    ax.plot([], [], "--", color="#666666", lw=1, label="one unit: $(1 - \\sigma(b_z))^k$")
    ax.set_ylim(1e-12, 3)
    ax.set_xlim(1, steps)
    ax.set_xlabel("lag $k$ (steps back from the last state)")
    ax.set_ylabel(r"$\|\partial h_T / \partial h_{T-k}\|_2$")
    ax.set_title("How much gradient survives the trip back", fontsize=11)
    ax.legend(fontsize=8, frameon=False, loc="lower left")
    return fig
