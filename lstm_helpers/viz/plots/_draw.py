"""Drawing primitives shared by every diagram: boxes, circles, arrows, labels.

Diagrams are drawn on a plain ``matplotlib.figure.Figure`` (not pyplot), so
nothing is displayed twice in Jupyter and nothing leaks in scripts. A
notebook shows a returned figure through IPython's rich display.
"""

from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

from ..palette import COLORS


def new_figure(width, height, dpi=100):
    """A figure with one axes spanning it, data coordinates = inches, no ticks."""
    fig = Figure(figsize=(width, height), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def box(ax, x, y, text, w=0.7, h=0.45, color=COLORS["layer"], edge=COLORS["line"], lw=1.2, fontsize=11,
        zorder=3, **kw):
    """A rounded box centred at (x, y): a learned layer, or (zorder=1) a module's background."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=color, edgecolor=edge, linewidth=lw, zorder=zorder, **kw))
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=4)


def circle(ax, x, y, text, r=0.2, color=COLORS["pointwise"], edge=COLORS["line"], lw=1.2, fontsize=11):
    """A circle centred at (x, y): a pointwise operation (×, +, tanh)."""
    ax.add_patch(Circle((x, y), r, facecolor=color, edgecolor=edge, linewidth=lw, zorder=3))
    if text:
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=4)


def arrow(ax, start, end, color=COLORS["line"], lw=1.4, style="-|>", connection="arc3", **kw):
    """An arrow from ``start`` to ``end`` (each an (x, y) pair)."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=color, linewidth=lw,
                                 connectionstyle=connection, zorder=2, shrinkA=0, shrinkB=0, **kw))


def line(ax, points, color=COLORS["line"], lw=1.4, **kw):
    """A polyline through ``points`` without an arrow head."""
    xs, ys = zip(*points)
    ax.plot(xs, ys, color=color, linewidth=lw, zorder=2, solid_capstyle="round", **kw)


def label(ax, x, y, text, fontsize=11, **kw):
    """Text centred at (x, y); math in $...$ is typeset by matplotlib."""
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=5, **kw)
