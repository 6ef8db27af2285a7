"""Diagrams for chapters 01-03: a feedforward net, the RNN loop and its
unrolling, and the chain of repeating modules."""

import numpy as np

from ._draw import COLORS, arrow, box, circle, label, line, new_figure


def feedforward_net(layer_sizes=(3, 4, 4, 2)):
    """Circles for units, arrows for weights: information flows one way, once.

    layer_sizes: units per layer, input first. Returns a Figure.
    """
    width, height = 1.6 * len(layer_sizes) + 0.4, 0.6 * max(layer_sizes) + 0.8
    fig, ax = new_figure(width, height)
    positions = []
    for k, n in enumerate(layer_sizes):
        x = 0.9 + 1.6 * k
        ys = height / 2 + 0.6 * (np.arange(n) - (n - 1) / 2)
        positions.append([(x, y) for y in ys])
    for left, right in zip(positions, positions[1:]):
        for a in left:
            for b in right:
                line(ax, [a, b], color=COLORS["muted"], lw=0.8)
    names = ["input"] + ["hidden"] * (len(layer_sizes) - 2) + ["output"]
    colors = [COLORS["input"]] + [COLORS["layer"]] * (len(layer_sizes) - 2) + [COLORS["output"]]
    for layer, name, color in zip(positions, names, colors):
        for x, y in layer:
            circle(ax, x, y, "", r=0.18, color=color)
        label(ax, layer[0][0], 0.2, name, fontsize=10)
    return fig


def rnn_loop_and_unrolled(steps=4, inputs=None, outputs=None):
    """Left: a module A with a loop. Right: the same loop unrolled over ``steps`` steps.

    inputs / outputs: optional labels per step (words, for example).
    """
    inputs = inputs or [f"$x_{t}$" for t in range(steps)]
    outputs = outputs or [f"$h_{t}$" for t in range(steps)]
    steps = len(inputs)
    width = 3.0 + 1.3 * steps
    fig, ax = new_figure(width, 2.8)
    # the rolled form
    box(ax, 0.9, 1.4, "A", w=0.8, h=0.6, color=COLORS["module"])
    arrow(ax, (0.9, 0.45), (0.9, 1.1))
    arrow(ax, (0.9, 1.7), (0.9, 2.35))
    label(ax, 0.9, 0.3, "$x_t$")
    label(ax, 0.9, 2.5, "$h_t$")
    arrow(ax, (1.3, 1.55), (1.3, 1.25), connection="arc3,rad=-2.2")
    label(ax, 2.0, 1.4, "=", fontsize=20)
    # the unrolled form
    xs = 2.7 + 1.3 * np.arange(steps)
    for t, x in enumerate(xs):
        box(ax, x, 1.4, "A", w=0.8, h=0.6, color=COLORS["module"])
        arrow(ax, (x, 0.45), (x, 1.1))
        arrow(ax, (x, 1.7), (x, 2.35))
        label(ax, x, 0.3, inputs[t], fontsize=10)
        label(ax, x, 2.5, outputs[t], fontsize=10)
        if t:
            arrow(ax, (xs[t - 1] + 0.4, 1.4), (x - 0.4, 1.4))
    return fig


def unrolled_rnn(inputs, outputs=None, source=None, target=None, title=None):
    """An unrolled RNN reading ``inputs`` (a list of labels, one per step).

    source, target: indices of the step that holds the relevant information
    and the step that needs it; the path between them is highlighted, so a
    short gap and a long gap can be compared at a glance.
    """
    steps = len(inputs)
    outputs = outputs or [""] * steps
    width = 0.8 + 1.1 * steps
    fig, ax = new_figure(width, 2.9 if title else 2.5)
    xs = 0.6 + 1.1 * np.arange(steps)
    for t, x in enumerate(xs):
        hot = source is not None and target is not None and source <= t <= target
        edge = COLORS["highlight"] if t in (source, target) else COLORS["line"]
        box(ax, x, 1.25, "A", w=0.7, h=0.5, color=COLORS["module"], edge=edge, lw=2.2 if t in (source, target) else 1.2)
        arrow(ax, (x, 0.45), (x, 1.0))
        label(ax, x, 0.28, inputs[t], fontsize=10, color=COLORS["highlight"] if t == source else "black")
        if outputs[t]:
            arrow(ax, (x, 1.5), (x, 2.0))
            label(ax, x, 2.18, outputs[t], fontsize=10, color=COLORS["highlight"] if t == target else "black")
        if t:
            color = COLORS["highlight"] if hot and t - 1 >= source else COLORS["line"]
            arrow(ax, (xs[t - 1] + 0.35, 1.25), (x - 0.35, 1.25), color=color, lw=2.2 if color != COLORS["line"] else 1.4)
    if title:
        label(ax, width / 2, 2.65, title, fontsize=11)
    return fig


def repeating_module_chain(steps=3):
    """The chain of repeating modules of a standard RNN: each holds one tanh layer.

    Lines merging mean concatenation ([h_{t-1}, x_t]); a line forking means a copy.
    """
    width = 0.6 + 2.6 * steps
    fig, ax = new_figure(width, 3.1)
    for t in range(steps):
        x0 = 0.4 + 2.6 * t
        cx = x0 + 1.1
        box(ax, cx, 1.5, "", w=2.2, h=1.7, color=COLORS["module"] if t == steps // 2 else "#eeeeee", zorder=1)
        box(ax, cx, 1.5, "tanh", w=0.75, h=0.42)
        line(ax, [(x0 - 0.4 if t == 0 else x0, 1.0), (cx - 0.2, 1.0)])  # h_{t-1} enters
        line(ax, [(cx - 0.2, 0.35), (cx - 0.2, 1.0)])  # x_t enters and merges
        arrow(ax, (cx - 0.2, 1.0), (cx - 0.2, 1.29))
        line(ax, [(cx, 1.71), (cx, 2.0), (x0 + 2.2, 2.0)])  # the new state...
        arrow(ax, (cx + 0.55, 2.0), (cx + 0.55, 2.75))  # ...is copied to the output
        if t < steps - 1:
            line(ax, [(x0 + 2.2, 2.0), (x0 + 2.4, 2.0), (x0 + 2.4, 1.0), (x0 + 2.6, 1.0)])
        else:
            arrow(ax, (x0 + 2.2, 2.0), (x0 + 2.5, 2.0))
        label(ax, cx - 0.2, 0.2, f"$x_{{{t}}}$", fontsize=10)
        label(ax, cx + 0.55, 2.92, f"$h_{{{t}}}$", fontsize=10)
    return fig
