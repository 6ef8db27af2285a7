"""Plots for chapter 07: the language model's curves, the closing-bracket test,
and text coloured character by character.

Figures are plain matplotlib ``Figure`` objects (no pyplot state). Coloured
text is HTML: :class:`ColoredText` shows itself in a notebook (it has a
``_repr_html_``), and its ``html`` is a string for widgets.
"""

import html

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize, to_hex
from matplotlib.figure import Figure

from ..palette import COLORS, MODEL_COLORS, MODEL_LABELS, TEXT_CMAPS

NGRAM_COLOR = "#7f7f7f"
_SHOWN = {"\n": "↵", " ": "·"}  # how a distribution's axis shows the invisible characters


def _smooth(values, width):
    values = np.asarray(values, dtype=float)
    if len(values) < width or width < 2:
        return np.arange(len(values)), values
    kernel = np.ones(width) / width
    return np.arange(width - 1, len(values)), np.convolve(values, kernel, mode="valid")


def training_curve(run=None, results=None, ngram_bpc=None, smooth=20):
    """Bits per character against training step.

    run: a live :class:`~lstm_helpers.experiment.char_lm.LMRun` (its training
    windows, smoothed over ``smooth`` steps, and its validation points);
    results: the shipped results, whose models' validation curves are drawn
    for comparison; ngram_bpc: a dotted line for the n-gram baseline.
    """
    fig = Figure(figsize=(8, 3.4), dpi=100, layout="constrained")
    ax = fig.subplots()
    if results is not None:
        for name, record in results["models"].items():
            ax.plot(record["eval_steps"], record["eval_bpc"], "-", color=MODEL_COLORS[name], lw=1.2, alpha=0.55,
                    label=f"shipped {MODEL_LABELS[name]} (validation)")
    if run is not None:
        steps, smoothed = _smooth(run.loss, smooth)
        ax.plot(steps + 1, smoothed, color=MODEL_COLORS[run.model], lw=1.0, alpha=0.8,
                label=f"your {MODEL_LABELS[run.model]}: training windows")
        if len(run.eval_steps):
            ax.plot(run.eval_steps, run.eval_bpc, "o-", color=MODEL_COLORS[run.model], lw=2, ms=5,
                    label=f"your {MODEL_LABELS[run.model]}: validation")
    if ngram_bpc is not None:
        ax.axhline(ngram_bpc, color=NGRAM_COLOR, ls=":", lw=1.2, label=f"n-gram baseline ({ngram_bpc:.2f})")
    ax.axhline(np.log2(96), color=COLORS["muted"], ls="--", lw=1, label="knowing nothing: log2(96) = 6.58")
    ax.set_xscale("log")
    ax.set_ylim(0, 7)
    ax.set_xlabel("training step (windows of 32 × 64 characters)")
    ax.set_ylabel("bits per character")
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    return fig


def bpc_table(results):
    """The comparison as text: validation bits per character and parameters of every model."""
    lines = [f"{'model':<16} {'hidden':>6} {'parameters':>10} {'validation bits/char':>21}",
             f"{'n-gram (order ' + str(results['ngram']['order']) + ')':<16} {'':>6} {'(counts)':>10} "
             f"{results['ngram']['bpc']:>21.3f}"]
    for name, record in results["models"].items():
        lines.append(f"{MODEL_LABELS[name]:<16} {record['hidden_size']:>6} {record['parameters']:>10,} "
                     f"{record['bpc']:>21.3f}")
    return "\n".join(lines)


def closer_probability(results, live=None):
    """Probability of the right closing bracket or quote against the distance back to its opener.

    results: the shipped results (the n-gram and every model); live: optional
    ``{label: closer curve}`` (from ``char_lm.closer_curve``) drawn in black.
    """
    fig = Figure(figsize=(8, 3.6), dpi=100, layout="constrained")
    ax = fig.subplots()
    edges = np.asarray(results["ngram"]["closer"]["edges"], dtype=float)
    centres = np.sqrt(edges[:-1] * (edges[1:] - 1).clip(min=1))  # geometric middle of each bin

    def draw(curve, **style):
        mean = np.array([np.nan if m is None else m for m in curve["mean"]], dtype=float)
        few = np.asarray(curve["count"]) < 20
        mean[few] = np.nan  # too few pairs to say anything
        ax.plot(centres, mean, marker="o", ms=5, **style)

    order = results["ngram"]["order"]
    draw(results["ngram"]["closer"], color=NGRAM_COLOR, lw=2, ls="--", label=f"n-gram ({order - 1} characters back)")
    for name, record in results["models"].items():
        draw(record["closer"], color=MODEL_COLORS[name], lw=2, label=MODEL_LABELS[name])
    for label, curve in (live or {}).items():
        draw(curve, color="black", lw=1.5, label=label)
    ax.axvline(order - 1, color=NGRAM_COLOR, lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xticks(centres)
    ax.set_xticklabels([f"{int(a)}–{int(b) - 1}" for a, b in zip(edges[:-1], edges[1:])], fontsize=8)
    ax.set_xlabel("distance back to the opening bracket or quote (characters)")
    ax.set_ylabel("probability of the right closer")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    return fig


def gate_at_quotes(text, c, f, cell, quotes, correlation=None):
    """One cell along a piece of text: its cell state and its forget gate, with the quotes marked.

    text: str (L characters); c, f: (L, H) cell states and forget gates after
    each character; cell: which column; quotes: positions of the quote
    characters to mark. The characters are written along the x axis.
    """
    L = len(text)
    fig = Figure(figsize=(min(12, 0.12 * L + 1.5), 3.6), dpi=100, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    t = np.arange(L)
    top.plot(t, c[:, cell], color=MODEL_COLORS["lstm"], lw=1.8)
    top.axhline(0, color=COLORS["muted"], lw=0.8)
    title = f"cell {cell}: cell state c_t"
    if correlation is not None:
        title += f" (correlation with 'inside a string': {correlation:+.2f})"
    top.set_title(title, fontsize=10, loc="left")
    bottom.plot(t, f[:, cell], color=COLORS["highlight"], lw=1.8)
    bottom.set_ylim(-0.05, 1.05)
    bottom.set_title("its forget gate f_t (1: keep the memory, 0: erase it)", fontsize=10, loc="left")
    for ax in (top, bottom):
        for q in quotes:
            ax.axvline(q, color=COLORS["layer"], lw=6, alpha=0.5, zorder=0)
    bottom.set_xticks(t)
    bottom.set_xticklabels([_SHOWN.get(ch, ch) for ch in text], fontsize=8, family="monospace")
    bottom.set_xlim(-0.5, L - 0.5)
    return fig


class ColoredText:
    """Text with every character on a background colour; shows itself in a notebook.

    text: str; values: (len(text),) numbers; cmap: a name from
    ``palette.TEXT_CMAPS`` ("activation": -1 blue to +1 red, "probability":
    0 red to 1 green); vmin, vmax: the colour scale's ends; title: a line above.
    """

    def __init__(self, text, values, cmap="activation", vmin=-1.0, vmax=1.0, title=""):
        self.html = colored_html(text, values, cmap, vmin, vmax, title)

    def _repr_html_(self):
        return self.html


def colored_html(text, values, cmap="activation", vmin=-1.0, vmax=1.0, title=""):
    """The HTML of :class:`ColoredText`: one ``<span>`` per character, in a monospace block."""
    values = np.asarray(values, dtype=float)
    if len(values) != len(text):
        raise ValueError(f"values has {len(values)} entries for {len(text)} characters")
    colors = colormaps[TEXT_CMAPS[cmap]](Normalize(vmin, vmax, clip=True)(np.nan_to_num(values)))
    colors = 0.55 * colors + 0.45  # blended with white: dark ends of the map would hide black text
    spans = []
    for ch, rgba, value in zip(text, colors, values):
        shown = "↵\n" if ch == "\n" else html.escape(ch)
        spans.append(f"<span style='background:{to_hex(rgba)}' title='{value:.2f}'>{shown}</span>")
    head = f"<div style='font-size:90%;margin-bottom:2px'>{html.escape(title)}</div>" if title else ""
    return (f"{head}<pre style='font-family:monospace;font-size:12px;line-height:1.35;white-space:pre-wrap;"
            f"margin:0;padding:4px;border:1px solid #ddd'>{''.join(spans)}</pre>")


def shown_character(ch):
    """How a character is shown on an axis: the newline as ↵, the space as ·."""
    return _SHOWN.get(ch, ch)
