"""Plots for chapter 06: the adding problem's baseline, live training runs,
success against lag from the precomputed results, and where attention looks.

Each function returns a plain matplotlib ``Figure`` (no pyplot state), which
a notebook shows once.
"""

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from ...experiment.data import ADDING_SOLVED_FRACTION, ADDING_TOLERANCE, PAD
from ..palette import MODEL_COLORS, MODEL_LABELS

#: One colour per model, the same in every plot of the chapter.


def adding_examples(x, y, n_show=3):
    """A few adding-problem sequences: the values as grey bars, the two marked values in colour.

    x: (T, N, 2) from ``data.adding_problem``, y: (N, 1). Shows the first ``n_show`` sequences.
    """
    T = x.shape[0]
    n_show = min(n_show, x.shape[1])
    fig = Figure(figsize=(10, 1.3 + 1.1 * n_show), dpi=100, layout="constrained")
    axes = np.atleast_1d(fig.subplots(n_show, 1, sharex=True))
    steps = np.arange(T)
    for n, ax in enumerate(axes):
        values, markers = x[:, n, 0], x[:, n, 1] > 0.5
        ax.bar(steps, values, width=0.8, color="#c7c7c7")
        ax.bar(steps[markers], values[markers], width=0.8, color="#ff7f0e")
        marked = " + ".join(f"{v:.2f}" for v in values[markers])
        ax.set_title(f"sequence {n + 1}: target = {marked} = {float(y[n, 0]):.2f}", fontsize=10, loc="left")
        ax.axvline(T / 2 - 0.5, color="#444444", lw=0.8, ls=":")
        ax.set_ylim(0, 1.05)
        ax.set_yticks([0, 1])
        ax.set_ylabel("value", fontsize=9)
    axes[-1].set_xlabel(f"time step (dotted line: the middle; one marker falls in each half of the T = {T} steps)")
    return fig


def loss_curve(steps, losses, baseline=1 / 6):
    """Training loss against step on a log axis, with the always-predict-1 baseline dotted.

    steps, losses: equal-length sequences (the loss measured at those steps).
    baseline: the MSE of always predicting 1 on the adding problem, 1/6.
    """
    fig = Figure(figsize=(6.5, 3.2), dpi=100, layout="constrained")
    ax = fig.subplots()
    ax.semilogy(np.asarray(steps), np.asarray(losses, dtype=float), color=MODEL_COLORS["lstm"], lw=1.5,
                label="loss of the batch")
    if baseline is not None:
        ax.axhline(baseline, color="#444444", ls=":", lw=1, label=f"always predicting 1 ({baseline:.2f})")
    ax.set_xlabel("training step")
    ax.set_ylabel("mean squared error")
    ax.legend(fontsize=8, frameon=False)
    return fig


def training_curves(runs, title=None):
    """Held-out accuracy against training step for a few runs (from ``experiment.train``).

    runs: a list of :class:`lstm_helpers.experiment.Run` (or a dict of them).
    The dotted line is the 95% that counts as solved; a dot marks where a run solved the task.
    """
    runs = list(runs.values()) if isinstance(runs, dict) else list(runs)
    fig = Figure(figsize=(7, 3.4), dpi=100, layout="constrained")
    ax = fig.subplots()
    for run in runs:
        color = MODEL_COLORS.get(run.model)
        if run.solved:
            outcome = f"solved at step {run.steps_to_solve}"
        elif run.stopped == "time":
            outcome = f"stopped by the time budget at step {run.steps}"
        else:
            outcome = f"not solved in {run.steps} steps"
        label = f"{MODEL_LABELS.get(run.model, run.model)}: {outcome}"
        ax.plot(run.eval_steps, 100 * np.asarray(run.eval_accuracy), "-", color=color, lw=1.8, label=label)
        if run.solved:
            ax.plot([run.steps_to_solve], [100 * run.final_accuracy], "o", color=color, ms=7)
    ax.axhline(100 * ADDING_SOLVED_FRACTION, color="#444444", ls=":", lw=1)
    ax.set_ylim(0, 102)
    ax.set_xlabel("training step")
    ax.set_ylabel("held-out sequences right (%)")
    if title is None and runs:
        task = "adding problem, T" if runs[0].task == "adding" else "language task, lag"
        title = f"{task} = {runs[0].lag}"
    ax.set_title(title or "", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    return fig


def success_vs_lag(results):
    """A grid of runs at a glance, from ``runner.load_results()`` (or ``attention_task.load_results()``).

    Left: how many of the seeds solved the task at each lag, per model.
    Right: the steps each solved run needed (one dot per run, a line through
    the medians); runs that were not solved sit on the top line, the budget.
    """
    from ...experiment.runner import summarise

    table = summarise(results)
    lags = np.asarray(results["lags"])
    budget = results["settings"]["max_steps"]
    models = results["models"]
    fig = Figure(figsize=(10.5, 3.8), dpi=100, layout="constrained")
    left, right = fig.subplots(1, 2)
    offsets = np.linspace(-0.04, 0.04, len(models))  # on the log axis, so overlapping models stay visible
    for k, name in enumerate(models):
        color, label = MODEL_COLORS.get(name), MODEL_LABELS.get(name, name)
        shift = 10 ** offsets[k]
        fraction = [table[(name, lag)]["solved"] / table[(name, lag)]["runs"] if table[(name, lag)]["runs"]
                    else np.nan for lag in lags]  # a lag without runs leaves a gap
        left.plot(lags * shift, 100 * np.asarray(fraction), "o-", color=color, lw=2, ms=6, label=label)
        medians = [table[(name, lag)]["median_steps"] for lag in lags]
        medians = np.array([np.nan if m is None else m for m in medians])
        right.plot(lags * shift, medians, "-", color=color, lw=1.8, label=label)
        for lag in lags:
            runs = [r for r in results["runs"] if r["model"] == name and r["lag"] == lag]
            solved = [r["steps_to_solve"] for r in runs if r["solved"]]
            failed = sum(1 for r in runs if not r["solved"])
            right.plot([lag * shift] * len(solved), solved, "o", color=color, ms=5, alpha=0.8)
            if failed:
                right.plot([lag * shift], [budget], "x", color=color, ms=8, mew=2)
    adding = results.get("task", "adding") == "adding"
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xticks(lags)
        ax.set_xticklabels([str(lag) for lag in lags])
        ax.set_xlabel("sequence length T (the lag)" if adding else "lag (the most filler words)")
    left.set_ylim(-5, 105)
    left.set_ylabel("seeds that solved it (%)")
    left.set_title(f"success: {ADDING_SOLVED_FRACTION:.0%} of held-out sequences within ±{ADDING_TOLERANCE}"
                   if adding else f"success: {ADDING_SOLVED_FRACTION:.0%} of held-out sentences right", fontsize=10)
    right.axhline(budget, color="#444444", ls=":", lw=1)
    right.set_yscale("log")
    right.set_yticks([t for t in (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000) if t <= 1.5 * budget])
    right.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    right.yaxis.set_minor_formatter(NullFormatter())
    right.set_ylabel("training steps to solve")
    right.set_title(f"steps to solve (× on the dotted line: not solved in {budget} steps)", fontsize=10)
    left.legend(fontsize=9, frameon=False, loc="best")
    return fig


def attention_weights(weights, sentences, n_show=3):
    """Where attention looks: one strip per sentence, one cell per step, darker = more weight.

    weights: (T, N) attention weights (every column sums to 1); sentences: the
    N lists of T words from ``data.language_task``. Shows the first ``n_show``
    sentences, padding included (its steps are labelled "·" in grey); the
    step with the largest weight is written in bold, and the title gives its
    weight and the padding's share. Returns a Figure; ``fig.axes[k].images[0]``
    holds sentence k's weights.
    """
    weights = np.asarray(weights, dtype=float)
    n_show = min(n_show, weights.shape[1])
    fig = Figure(figsize=(11, 0.35 + 1.25 * n_show), dpi=100, layout="constrained")
    axes = np.atleast_1d(fig.subplots(n_show, 1))
    for n, ax in enumerate(axes):
        words, w = sentences[n], weights[:, n]
        padding = np.array([word == PAD for word in words])
        ax.imshow(w[None, :], aspect="auto", cmap="Oranges", vmin=0, vmax=1)
        ax.set_xticks(range(len(words)), ["·" if pad else word for word, pad in zip(words, padding)],
                      rotation=70, fontsize=7.5)
        for label, pad in zip(ax.get_xticklabels(), padding):
            if pad:
                label.set_color("#999999")
        top = int(np.argmax(w))
        ax.get_xticklabels()[top].set_fontweight("bold")
        ax.set_yticks([])
        title = f"sentence {n + 1}: {w[top]:.0%} of the weight on '{words[top]}'"
        if padding.any():
            title += f", {w[padding].sum():.0%} on the padding (·)"
        ax.set_title(title, fontsize=9, loc="left")
    return fig
