"""Plots for chapter 05: how many parameters each LSTM variant has.

The counts come from :func:`lstm_helpers.variants.param_count` (or from a
learner's own ``param_counts``); the chart only draws them. One layer is
counted: every gate has a weight matrix ``(H, H + D)`` and a bias ``(H,)``,
and the peephole LSTM adds three peephole vectors ``(H,)``.
"""

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
