"""The LSTM cell diagram and its variants (peephole, CIFG, GRU), drawn from one spec.

Notation (the same in every diagram of the course):

* boxes are learned layers (a weight matrix and an activation: σ or tanh);
* circles are pointwise operations (×, +, tanh, 1−);
* lines that merge mean concatenation, a line that forks means a copy;
* the horizontal line along the top is the cell state, the "conveyor belt".

A diagram is first described as data, a list of elements (boxes, circles,
wires, labels), each tagged with the *parts* of the cell it belongs to
("forget", "input", "update", "output", ...). Rendering then colours every
element: when a part is highlighted, its elements are drawn in the highlight
colour and all others are muted. The variants add or replace elements of the
LSTM's spec, so all four cells share one drawing routine and their
differences can be highlighted.

Every patch and line carries a ``gid`` (``"box:sigma_f"``, ``"op:times_f"``,
``"wire:..."``), so tests and curious learners can find an element and read
its colours back.
"""

from dataclasses import dataclass

from ._draw import COLORS, arrow, box, circle, label, line, new_figure

# Vertical positions in the module's own coordinates (inches at scale 1).
Y_TOP = 3.8   # the cell state (the GRU's hidden state) runs along the top
Y_BUS = 0.9   # [h_{t-1}, x_t] runs along the bottom into the layers
Y_GATE = 1.8  # the row of learned layers
WIDTH, HEIGHT = 7.7, 5.0
MODULE = (0.5, 0.4, 7.2, 4.3)  # x0, y0, x1, y1 of the module's background
BOX_W, BOX_H, R_OP = 0.7, 0.45, 0.2

MUTED_FILL, MUTED_TEXT = "#f2f2f2", "#9a9a9a"

VARIANTS = ("lstm", "peephole", "cifg", "gru")

# The parts a walkthrough (or the variants' chapter) can highlight.
PARTS = {
    "lstm": ("cell_state", "gates", "forget", "input", "update", "output", "valves"),
    "peephole": ("cell_state", "gates", "forget", "input", "update", "output", "peephole"),
    "cifg": ("cell_state", "gates", "forget", "coupling", "input", "update", "output"),
    "gru": ("state", "reset", "update_gate", "candidate", "coupling"),
}
# What a variant's diagram highlights by default: how it differs from the LSTM.
DIFFERENCES = {"lstm": (), "peephole": ("peephole",), "cifg": ("coupling",),
               "gru": ("reset", "update_gate")}

TITLES = {"lstm": "LSTM cell", "peephole": "LSTM with peephole connections",
          "cifg": "LSTM with coupled forget and input gates (CIFG)", "gru": "Gated recurrent unit (GRU)"}


@dataclass
class Element:
    """One drawable piece of a diagram, in module coordinates."""

    kind: str      # "box", "op", "wire" or "text"
    name: str      # unique within a diagram; becomes the artist's gid
    parts: frozenset
    x: float = 0.0
    y: float = 0.0
    text: str = ""
    points: tuple = ()   # for wires
    head: bool = True    # wires: arrow head at the end
    size: float = 11     # font size for text, radius for ops
    role: str = ""       # text: "io" (entry/exit labels) or "gate" (f_t, ...), skipped in chains


class _Spec:
    """A growing list of elements with small helpers to add them."""

    def __init__(self):
        self.elements = []

    def _add(self, kind, name, parts, **kw):
        if any(e.name == name for e in self.elements):
            raise ValueError(f"duplicate element {name!r}")
        self.elements.append(Element(kind, name, frozenset(parts), **kw))

    def box(self, name, x, y, text, parts):
        self._add("box", name, parts, x=x, y=y, text=text)

    def op(self, name, x, y, text, parts, r=R_OP):
        self._add("op", name, parts, x=x, y=y, text=text, size=r)

    def wire(self, name, points, parts, head=True):
        self._add("wire", name, parts, points=tuple(points), head=head)

    def text(self, name, x, y, text, parts, size=11, role=""):
        self._add("text", name, parts, x=x, y=y, text=text, size=size, role=role)

    def remove(self, *names):
        for name in names:
            if not any(e.name == name for e in self.elements):
                raise KeyError(name)
        self.elements = [e for e in self.elements if e.name not in names]


# ---------------------------------------------------------------------------
# The specs
# ---------------------------------------------------------------------------
# Columns of the LSTM's layers: forget, input, candidate, output; then the
# output's pointwise ops and the fork that sends h_t up.
X_F, X_I, X_C, X_O, X_OUT, X_HUP, X_IN = 2.0, 3.0, 4.0, 5.2, 6.2, 6.8, 1.0
GATE_PARTS = {"f": {"forget", "gates"}, "i": {"input", "gates"}, "c": {"input"}, "o": {"output", "gates"}}


def _lstm_spec(t="t", prev="t-1"):
    s = _Spec()
    belt = {"cell_state", "update"}
    # the cell state: c_{t-1} -> (x f) -> (+ i*c~) -> c_t
    s.wire("belt_in", [(0, Y_TOP), (X_F - R_OP, Y_TOP)], belt)
    s.op("times_f", X_F, Y_TOP, "×", belt | {"forget", "gates", "valves"})
    s.wire("belt_mid", [(X_F + R_OP, Y_TOP), (X_C - R_OP, Y_TOP)], belt)
    s.op("plus", X_C, Y_TOP, "+", belt)
    s.wire("belt_out", [(X_C + R_OP, Y_TOP), (WIDTH, Y_TOP)], belt)
    s.text("c_prev", 0.3, Y_TOP + 0.25, f"$c_{{{prev}}}$", belt, role="io")
    s.text("c_next", WIDTH - 0.3, Y_TOP + 0.25, f"$c_{{{t}}}$", belt, role="io")

    # [h_{t-1}, x_t] along the bottom; each stretch feeds the layers to its right
    everything = {"forget", "input", "output", "gates"}
    s.wire("bus_0", [(0, Y_BUS), (X_F, Y_BUS)], everything, head=False)
    s.wire("bus_1", [(X_F, Y_BUS), (X_I, Y_BUS)], everything - {"forget"}, head=False)
    s.wire("bus_2", [(X_I, Y_BUS), (X_C, Y_BUS)], {"input", "output", "gates"}, head=False)
    s.wire("bus_3", [(X_C, Y_BUS), (X_O, Y_BUS)], {"output", "gates"}, head=False)
    s.wire("x_in", [(X_IN, 0.3), (X_IN, Y_BUS)], everything, head=False)
    s.text("h_prev", 0.3, Y_BUS - 0.25, f"$h_{{{prev}}}$", everything, role="io")
    s.text("x_label", X_IN, 0.12, f"$x_{{{t}}}$", everything)

    # the four learned layers, fed from the bus
    for g, x, act in (("f", X_F, r"$\sigma$"), ("i", X_I, r"$\sigma$"), ("c", X_C, "tanh"), ("o", X_O, r"$\sigma$")):
        s.wire(f"feed_{g}", [(x, Y_BUS), (x, Y_GATE - BOX_H / 2)], GATE_PARTS[g])
        s.box(f"layer_{g}", x, Y_GATE, act, GATE_PARTS[g])

    # forget gate: f_t multiplies the old cell state
    s.wire("f_out", [(X_F, Y_GATE + BOX_H / 2), (X_F, Y_TOP - R_OP)], {"forget", "gates"})
    s.text("f_label", X_F + 0.22, 3.2, "$f_t$", {"forget", "gates"}, size=10, role="gate")
    # input gate and candidate: i_t * c~_t is added to the cell state
    y_ic = 2.75
    s.wire("i_out", [(X_I, Y_GATE + BOX_H / 2), (X_I, y_ic), (X_C - R_OP, y_ic)], {"input", "gates"})
    s.text("i_label", X_I - 0.2, 2.4, "$i_t$", {"input", "gates"}, size=10, role="gate")
    s.wire("c_out", [(X_C, Y_GATE + BOX_H / 2), (X_C, y_ic - R_OP)], {"input"})
    s.text("c_label", X_C - 0.25, 2.3, r"$\tilde c_t$", {"input"}, size=10, role="gate")
    s.op("times_i", X_C, y_ic, "×", {"input", "update", "gates", "valves"})
    s.wire("ic_out", [(X_C, y_ic + R_OP), (X_C, Y_TOP - R_OP)], {"input", "update"})

    # output gate: h_t = o_t * tanh(c_t)
    out = {"output"}
    y_tanh = 2.95
    s.wire("o_out", [(X_O + BOX_W / 2, Y_GATE), (X_OUT - R_OP, Y_GATE)], out | {"gates"})
    s.text("o_label", (X_O + BOX_W / 2 + X_OUT - R_OP) / 2, Y_GATE + 0.2, "$o_t$", out | {"gates"}, size=10,
           role="gate")
    s.wire("belt_copy", [(X_OUT, Y_TOP), (X_OUT, y_tanh + 0.25)], out)
    s.op("tanh_c", X_OUT, y_tanh, "tanh", out, r=0.25)
    s.wire("tanh_out", [(X_OUT, y_tanh - 0.25), (X_OUT, Y_GATE + R_OP)], out)
    s.op("times_o", X_OUT, Y_GATE, "×", out | {"gates", "valves"})
    s.wire("h_out", [(X_OUT, Y_GATE - R_OP), (X_OUT, Y_BUS), (WIDTH, Y_BUS)], out)
    # h_t is also copied upwards, out of the module; it passes over the cell state
    s.wire("h_up_low", [(X_HUP, Y_BUS), (X_HUP, Y_TOP - 0.12)], out, head=False)
    s.wire("h_up_high", [(X_HUP, Y_TOP + 0.12), (X_HUP, 4.65)], out)
    s.text("h_next", WIDTH - 0.3, Y_BUS - 0.25, f"$h_{{{t}}}$", out, role="io")
    s.text("h_label", X_HUP, 4.83, f"$h_{{{t}}}$", out)
    return s


def _valve_labels(s):
    """The pipes-and-valves reading: three valves on the LSTM's pipes."""
    s.text("valve_f", X_F, Y_TOP + 0.33, "forget valve", {"valves"}, size=9)
    s.text("valve_i", X_C + 0.75, 2.75, "memory\nvalve", {"valves"}, size=9)
    s.text("valve_o", X_OUT - 0.62, 1.33, "output\nvalve", {"valves"}, size=9)


def _peephole_spec(t="t", prev="t-1"):
    """LSTM plus diagonal peepholes: f and i look at c_{t-1}, o looks at c_t."""
    s = _lstm_spec(t, prev)
    peep = {"peephole"}
    x_tap, y_fork, x_drop = 1.35, 2.45, (X_F + X_I) / 2
    left_f, left_i, left_o = X_F - BOX_W / 2, X_I - BOX_W / 2, X_O - BOX_W / 2
    s.wire("peep_f", [(x_tap, Y_TOP), (x_tap, Y_GATE), (left_f, Y_GATE)], peep)
    # the peephole into i crosses f_t's line: leave a gap at the crossing
    s.wire("peep_i_a", [(x_tap, y_fork), (X_F - 0.1, y_fork)], peep, head=False)
    s.wire("peep_i_b", [(X_F + 0.1, y_fork), (x_drop, y_fork), (x_drop, Y_GATE), (left_i, Y_GATE)], peep)
    x_tap_o = (X_C + X_O - BOX_W / 2) / 2 + 0.05
    s.wire("peep_o", [(x_tap_o, Y_TOP), (x_tap_o, Y_GATE), (left_o, Y_GATE)], peep)
    s.text("peep_label", x_tap_o + 0.5, 3.3, "peepholes", peep, size=9)
    return s


def _cifg_spec(t="t", prev="t-1"):
    """Coupled forget and input gates: the input gate is replaced by 1 − f_t."""
    s = _lstm_spec(t, prev)
    s.remove("layer_i", "feed_i", "i_out", "i_label")
    y_ic = 2.75
    coupling = {"coupling", "gates"}  # 1 - f_t is the CIFG's input gate
    s.wire("f_fork", [(X_F, y_ic), (X_I - 0.22, y_ic)], coupling)
    s.op("one_minus", X_I, y_ic, "1−", coupling, r=0.22)
    s.wire("one_minus_out", [(X_I + 0.22, y_ic), (X_C - R_OP, y_ic)], coupling)
    s.text("coupling_label", (X_I + X_C) / 2, y_ic + 0.22, "$1-f_t$", coupling, size=10, role="gate")
    return s


def _gru_spec(t="t", prev="t-1"):
    """The GRU: reset gate r, update gate z, candidate h~; no separate cell state.

    h_t = (1 − z) * h_{t-1} + z * h~, with h~ = tanh(W_h·[r * h_{t-1}, x_t] + b_h).
    """
    s = _Spec()
    X_R, X_Z, X_H, X_FORK = X_F, X_I, 4.6, 0.8
    state = {"state"}
    # the hidden state runs along the top: h_{t-1} -> (x (1 - z)) -> (+ z*h~) -> h_t
    s.wire("state_in", [(0, Y_TOP), (X_Z - R_OP, Y_TOP)], state)
    s.op("times_keep", X_Z, Y_TOP, "×", state | {"update_gate"})
    s.wire("state_mid", [(X_Z + R_OP, Y_TOP), (X_H - R_OP, Y_TOP)], state)
    s.op("plus", X_H, Y_TOP, "+", state)
    s.wire("state_out", [(X_H + R_OP, Y_TOP), (WIDTH, Y_TOP)], state)
    s.wire("h_up", [(X_HUP, Y_TOP), (X_HUP, 4.65)], state)
    s.text("h_prev", 0.3, Y_TOP + 0.25, f"$h_{{{prev}}}$", state, role="io")
    s.text("h_next", WIDTH - 0.3, Y_TOP + 0.25, f"$h_{{{t}}}$", state, role="io")
    s.text("h_label", X_HUP, 4.83, f"$h_{{{t}}}$", state)

    # h_{t-1} is copied down to meet x_t
    gates = {"reset", "update_gate"}
    s.wire("state_down", [(X_FORK, Y_TOP), (X_FORK, Y_BUS)], gates | {"state"}, head=False)
    s.wire("bus_0", [(X_FORK, Y_BUS), (X_R, Y_BUS)], gates, head=False)
    s.wire("bus_1", [(X_R, Y_BUS), (X_Z, Y_BUS)], {"update_gate"}, head=False)
    s.wire("x_in", [(X_IN + 0.2, 0.3), (X_IN + 0.2, Y_BUS)], gates | {"candidate"}, head=False)
    s.text("x_label", X_IN + 0.2, 0.12, f"$x_{{{t}}}$", gates | {"candidate"})
    for g, x, parts in (("r", X_R, {"reset"}), ("z", X_Z, {"update_gate"})):
        s.wire(f"feed_{g}", [(x, Y_BUS), (x, Y_GATE - BOX_H / 2)], parts)
        s.box(f"layer_{g}", x, Y_GATE, r"$\sigma$", parts)

    # reset gate: r_t * h_{t-1}, then concatenated with x_t into the candidate layer
    y_r, x_turn, y_merge = 2.5, 3.7, 1.25
    s.wire("r_out", [(X_R, Y_GATE + BOX_H / 2), (X_R, y_r - R_OP)], {"reset"})
    s.text("r_label", X_R + 0.22, 2.17, "$r_t$", {"reset"}, size=10, role="gate")
    s.wire("h_to_reset", [(X_FORK, y_r), (X_R - R_OP, y_r)], {"reset"})
    s.op("times_r", X_R, y_r, "×", {"reset"})
    # r * h crosses z_t's line: leave a gap at the crossing
    s.wire("rh_a", [(X_R + R_OP, y_r), (X_Z - 0.1, y_r)], {"reset", "candidate"}, head=False)
    s.wire("rh_b", [(X_Z + 0.1, y_r), (x_turn, y_r), (x_turn, y_merge), (X_H, y_merge)], {"reset", "candidate"},
           head=False)
    s.wire("x_to_candidate", [(X_IN + 0.2, 0.55), (X_H, 0.55), (X_H, Y_GATE - BOX_H / 2)], {"candidate"})
    s.box("layer_h", X_H, Y_GATE, "tanh", {"candidate"})

    # update gate: (1 - z) keeps the old state, z lets the candidate in
    y_z, y_one = 2.8, 3.18
    s.wire("z_out", [(X_Z, Y_GATE + BOX_H / 2), (X_Z, y_one - 0.22)], {"update_gate", "coupling"})
    s.text("z_label", X_Z + 0.22, 2.17, "$z_t$", {"update_gate"}, size=10, role="gate")
    s.op("one_minus", X_Z, y_one, "1−", {"update_gate", "coupling"}, r=0.22)
    s.wire("one_minus_out", [(X_Z, y_one + 0.22), (X_Z, Y_TOP - R_OP)], {"update_gate", "coupling"})
    s.wire("z_fork", [(X_Z, y_z), (X_H - R_OP, y_z)], {"update_gate", "coupling"})
    s.wire("h_tilde_out", [(X_H, Y_GATE + BOX_H / 2), (X_H, y_z - R_OP)], {"candidate"})
    s.text("h_tilde_label", X_H + 0.25, 2.3, r"$\tilde h_t$", {"candidate"}, size=10, role="gate")
    s.op("times_z", X_H, y_z, "×", {"update_gate", "candidate"})
    s.wire("zh_out", [(X_H, y_z + R_OP), (X_H, Y_TOP - R_OP)], {"update_gate", "candidate", "state"})
    return s


_BUILDERS = {"lstm": _lstm_spec, "peephole": _peephole_spec, "cifg": _cifg_spec, "gru": _gru_spec}


def cell_spec(variant="lstm", t="t", prev="t-1"):
    """The list of :class:`Element` s of a cell diagram (the data behind the drawing)."""
    if variant not in _BUILDERS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    spec = _BUILDERS[variant](t, prev)
    if variant == "lstm":
        _valve_labels(spec)
    return spec.elements


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------

def _resolve_highlight(variant, highlight):
    if variant not in _BUILDERS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if highlight is None:
        return set(DIFFERENCES[variant])
    if isinstance(highlight, str):
        highlight = (highlight,)
    unknown = [h for h in highlight if h not in PARTS[variant]]
    if unknown:
        raise ValueError(f"{variant} diagram has no part {unknown[0]!r}; choose from {', '.join(PARTS[variant])}")
    return set(highlight)


def _style(element, hot):
    """(fill, edge, line colour, line width, text colour) of an element."""
    if hot is None:  # nothing highlighted: the plain diagram
        fill = COLORS["layer"] if element.kind == "box" else COLORS["pointwise"]
        return fill, COLORS["line"], COLORS["line"], 1.4, "black"
    if element.parts & hot:
        fill = COLORS["layer"] if element.kind == "box" else COLORS["pointwise"]
        return fill, COLORS["highlight"], COLORS["highlight"], 2.4, COLORS["highlight"]
    return MUTED_FILL, COLORS["muted"], COLORS["muted"], 1.2, MUTED_TEXT


def draw_cell(ax, variant="lstm", highlight=None, origin=(0.0, 0.0), scale=1.0, background=COLORS["module"],
              t="t", prev="t-1", labels=True):
    """Draw one cell on ``ax`` with its lower-left corner at ``origin``.

    highlight: a part name or a tuple of them (see ``PARTS[variant]``);
        ``None`` highlights how the variant differs from the LSTM (nothing
        for the LSTM itself), ``()`` highlights nothing.
    labels: False leaves out the entry/exit and gate labels (for chains).
    Returns the set of highlighted parts.
    """
    parts = _resolve_highlight(variant, highlight)
    hot = parts or None
    ox, oy = origin

    def at(x, y):
        return ox + scale * x, oy + scale * y

    x0, y0, x1, y1 = MODULE
    bx, by = at((x0 + x1) / 2, (y0 + y1) / 2)
    box(ax, bx, by, "", w=scale * (x1 - x0), h=scale * (y1 - y0), color=background, zorder=1, gid="module")
    font = scale if scale >= 1 else max(scale, 0.75)
    for e in cell_spec(variant, t, prev):
        if e.kind == "text" and e.name.startswith("valve_") and "valves" not in parts:
            continue
        if e.kind == "text" and not labels and e.role:
            continue
        fill, edge, color, lw, text_color = _style(e, hot)
        if e.kind == "box":
            box(ax, *at(e.x, e.y), "", w=scale * BOX_W, h=scale * BOX_H, color=fill, edge=edge,
                lw=lw if hot else 1.2, gid=f"box:{e.name}")
            label(ax, *at(e.x, e.y), e.text, fontsize=11 * font, color=text_color if hot else "black")
        elif e.kind == "op":
            circle(ax, *at(e.x, e.y), "", r=scale * e.size, color=fill, edge=edge, lw=lw if hot else 1.2)
            ax.patches[-1].set_gid(f"op:{e.name}")
            small = len(e.text) > 2
            label(ax, *at(e.x, e.y), e.text, fontsize=(8 if small else 12) * font,
                  color=text_color if hot else "black")
        elif e.kind == "wire":
            pts = [at(*p) for p in e.points]
            if e.head:
                if len(pts) > 2:
                    line(ax, pts[:-1], color=color, lw=lw, gid=f"wire:{e.name}")
                arrow(ax, pts[-2], pts[-1], color=color, lw=lw, gid=f"wire:{e.name}")
            else:
                line(ax, pts, color=color, lw=lw, gid=f"wire:{e.name}")
        else:
            label(ax, *at(e.x, e.y), e.text, fontsize=e.size * font, color=text_color, gid=f"text:{e.name}")
    return parts


def lstm_cell_diagram(variant="lstm", highlight=None, title=None):
    """One cell, drawn with the course's notation; returns a Figure.

    variant: "lstm", "peephole", "cifg" or "gru".
    highlight: the part a walkthrough step is about; for the LSTM one of
        "cell_state", "gates", "forget", "input", "update", "output" or
        "valves" (the pipes-and-valves reading). It is drawn in red and the
        rest is muted. ``None`` highlights how a variant differs from the
        LSTM (peephole lines, the 1 − f coupling, the GRU's gates and merged
        state); ``()`` draws everything plainly.
    title: text above the cell; ``True`` uses the variant's name.
    """
    height = HEIGHT + (0.35 if title else 0)
    fig, ax = new_figure(WIDTH, height)
    draw_cell(ax, variant, highlight)
    if title:
        label(ax, WIDTH / 2, HEIGHT + 0.1, TITLES[variant] if title is True else title, fontsize=12)
    return fig


def lstm_chain(steps=3, variant="lstm", scale=0.55):
    """A chain of repeating modules, each with the four interacting layers.

    The middle module is coloured, its neighbours grey, as in
    ``plots.repeating_module_chain`` for the standard RNN: the cell state
    and the hidden state flow from each module into the next.
    """
    pitch = WIDTH * scale
    width, height = pitch * steps + 0.2, HEIGHT * scale + 0.1
    fig, ax = new_figure(width, height)
    names = _chain_labels(steps)
    for k in range(steps):
        background = COLORS["module"] if k == steps // 2 else "#eeeeee"
        draw_cell(ax, variant, highlight=(), origin=(0.1 + k * pitch, 0.05), scale=scale, background=background,
                  t=names[k + 1], prev=names[k], labels=False)
    return fig


def _chain_labels(steps):
    """Time labels t-1, t, t+1 centred on the middle module."""
    middle = steps // 2
    out = []
    for k in range(-1, steps):
        d = k - middle
        out.append("t" if d == 0 else f"t{d:+d}")
    return out


def notation_legend():
    """The notation: layer box, pointwise op, vector transfer, concatenate, copy."""
    fig, ax = new_figure(8.2, 1.5)
    box(ax, 0.8, 0.95, "", w=BOX_W, h=BOX_H)
    label(ax, 0.8, 0.95, r"$\sigma$")
    label(ax, 0.8, 0.35, "learned layer", fontsize=10)
    circle(ax, 2.4, 0.95, "×")
    label(ax, 2.4, 0.35, "pointwise operation", fontsize=10)
    arrow(ax, (3.7, 0.95), (4.6, 0.95))
    label(ax, 4.15, 0.35, "vector transfer", fontsize=10)
    line(ax, [(5.4, 1.25), (5.75, 1.25), (5.75, 0.95)])
    line(ax, [(5.4, 0.65), (5.75, 0.65), (5.75, 0.95)])
    arrow(ax, (5.75, 0.95), (6.1, 0.95))
    label(ax, 5.75, 0.35, "concatenate", fontsize=10)
    line(ax, [(6.75, 0.95), (7.1, 0.95)])
    arrow(ax, (7.1, 0.95), (7.1, 1.3))
    arrow(ax, (7.1, 0.95), (7.5, 0.95))
    label(ax, 7.2, 0.35, "copy", fontsize=10)
    return fig
