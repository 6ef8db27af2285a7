"""Chapter 05's shared sliders: the LSTM, peephole, CIFG and GRU cells side by side.

Four single-unit cells (D = H = 1) read the same input: zero everywhere
except one spike. One set of sliders drives all four panels at once:

* **spike size** s and **spike step**: the input x_t;
* **keep bias** b: how strongly each cell holds on to its memory. In the
  three LSTMs it is the forget gate's bias, ``b_f = b``. In the GRU it is the
  update gate's bias with the sign flipped, ``b_z = -b``: our GRU computes
  ``h_t = (1 - z)*h_{t-1} + z*h̃``, so z = 1 means "take the new candidate"
  and the share kept is ``1 - z``; with ``b_z = -b`` that share is
  ``σ(b - g x_t)``, the LSTM's forget gate exactly;
* **peepholes** p: ``p_f = p_i = p_o = p`` in the peephole LSTM only
  (with p = 0 its panel is the LSTM's).

The weights are chosen so that each cell *writes at the spike and keeps
otherwise*; the recurrent weights are zero, so only the input and the
memory move the gates (g = ``GATE_GAIN``, columns multiply [h_{t-1}, x_t])::

    forget gate   f = σ(b - g x_t)          (the GRU: 1 - z, the same number)
    input gate    i = σ(-2 + g x_t)         (LSTM and peephole; the CIFG uses 1 - f)
    candidate     c̃ = tanh(x_t)             (the GRU's h̃ too; its reset gate has nothing to reset)
    output gate   o = σ(2)                  (plus p*c_t in the peephole LSTM)

Every panel plots the memory (the cell state c_t; for the GRU its hidden
state, which is its memory), the output h_t of the three LSTMs, and the
share kept at each step (f_t, or 1 - z_t) as a dashed line.

The cells are the learner's own (``exercises.own_or_reference``) when given
and passing their checks, the course's references otherwise.
"""

import contextlib
import html
import io

import ipywidgets as widgets
import numpy as np
from matplotlib.lines import Line2D

from ... import exercises
from ... import lstm as lstm_ref
from ... import variants as variants_ref
from ...feedforward import sigmoid
from ._base import SliderApp
from ..palette import MODEL_COLORS

VARIANTS = ("lstm", "peephole", "cifg", "gru")
TITLES = {"lstm": "LSTM", "peephole": "peephole LSTM", "cifg": "CIFG (coupled gates)", "gru": "GRU"}
EXERCISE = {"lstm": "lstm_cell_forward", "peephole": "peephole_lstm_cell_forward",
            "cifg": "cifg_lstm_cell_forward", "gru": "gru_cell_forward"}
REFERENCE = {"lstm": lstm_ref.lstm_cell_forward, "peephole": variants_ref.peephole_lstm_cell_forward,
             "cifg": variants_ref.cifg_lstm_cell_forward, "gru": variants_ref.gru_cell_forward}

GATE_GAIN = 3.0     # how strongly the spike moves the gates
INPUT_BIAS = -2.0   # the LSTM's input gate is nearly shut between spikes
OUTPUT_BIAS = 2.0   # the output gate is mostly open, o = σ(2) ≈ 0.88

KEEP_HELP = (
    "<b>keep bias b</b> sets b<sub>f</sub> = b in the three LSTMs. The GRU gets b<sub>z</sub> = &minus;b: "
    "its z = 1 means <i>take the new candidate</i>, so it keeps the share 1 &minus; z, and with "
    "b<sub>z</sub> = &minus;b that share equals the LSTMs' forget gate. Larger b: every cell keeps more."
)


def variant_params(variant, keep_bias, peephole=0.0):
    """The parameters (D = H = 1) of one panel's cell for the slider values.

    variant: "lstm", "peephole", "cifg" or "gru". keep_bias: b (see the module
    docstring); peephole: p, used by the peephole LSTM only.
    Returns the course's parameter dict for that variant, W_*: (1, 2), b_*, p_*: (1,).
    """
    g = GATE_GAIN

    def gate(w_x, bias):
        return np.array([[0.0, w_x]]), np.array([float(bias)])

    if variant == "gru":
        (W_z, b_z), (W_r, b_r), (W_h, b_h) = gate(g, -keep_bias), gate(0.0, 0.0), gate(1.0, 0.0)
        return {"W_z": W_z, "b_z": b_z, "W_r": W_r, "b_r": b_r, "W_h": W_h, "b_h": b_h}
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    params = {}
    layers = {"f": (-g, keep_bias), "i": (g, INPUT_BIAS), "c": (1.0, 0.0), "o": (0.0, OUTPUT_BIAS)}
    for name, (w_x, bias) in layers.items():
        if variant == "cifg" and name == "i":
            continue  # coupled: the input gate is 1 - f
        params[f"W_{name}"], params[f"b_{name}"] = gate(w_x, bias)
    if variant == "peephole":
        for key in ("p_f", "p_i", "p_o"):
            params[key] = np.array([float(peephole)])
    return params


def spike_input(steps, spike_at, size):
    """x: (steps, 1, 1), zero everywhere except x[spike_at] = size."""
    x = np.zeros((steps, 1, 1))
    x[spike_at] = size
    return x


def run_variant(variant, cell, x, params):
    """Run one cell over ``x: (T, 1, 1)`` from zero states.

    Returns a dict of 1-D arrays of length T + 1 (index 0 holds the initial
    state): "memory" (c_t, or the GRU's h_t), "h" (h_t) and "keep" (the share
    of the memory kept at each step, f_t or 1 - z_t; NaN at index 0).
    """
    T = len(x)
    h_prev, c_prev = np.zeros((1, 1)), np.zeros((1, 1))
    memory, h, keep = np.zeros(T + 1), np.zeros(T + 1), np.full(T + 1, np.nan)
    for t in range(T):
        hx = np.concatenate([h_prev, x[t]], axis=1)
        if variant == "gru":
            keep[t + 1] = 1.0 - sigmoid(hx @ params["W_z"].T + params["b_z"]).item()
            h_prev, _ = cell(x[t], h_prev, params, False)
            memory[t + 1] = h[t + 1] = np.asarray(h_prev).item()
            continue
        peek = params["p_f"] * c_prev if variant == "peephole" else 0.0
        keep[t + 1] = sigmoid(hx @ params["W_f"].T + params["b_f"] + peek).item()
        h_prev, c_prev, _ = cell(x[t], h_prev, c_prev, params)
        memory[t + 1], h[t + 1] = np.asarray(c_prev).item(), np.asarray(h_prev).item()
    return {"memory": memory, "h": h, "keep": keep}


def _own_cells(given):
    """{variant: cell} and a note per variant: the learner's cell if it passes its check, else the reference."""
    cells, notes = {}, {}
    for variant in VARIANTS:
        fn = given.get(variant)
        if fn is None:
            cells[variant], notes[variant] = REFERENCE[variant], "the course's reference"
            continue
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            cells[variant] = exercises.own_or_reference(EXERCISE[variant], fn)
        if cells[variant] is fn:
            notes[variant] = f"your own {EXERCISE[variant]}"
        else:
            notes[variant] = buffer.getvalue().strip().strip("()") or "the course's reference"
    return cells, notes


class VariantSliders(SliderApp):
    """Small multiples: four cells, one input, one set of sliders.

    peephole_lstm_cell_forward, cifg_lstm_cell_forward, gru_cell_forward,
    lstm_cell_forward: the learner's own cells (optional). Each is used if it
        passes its visible check; otherwise the course's reference is, and the
        note above the plot says why.
    steps: sequence length T.

    Drive it from Python: ``app.controls["keep_bias"].value = 4`` redraws all
    four panels. ``app.lines[variant]`` holds the plotted ``Line2D`` objects
    ("memory", "h", "keep"; for the GRU "memory" and "h" are the same line)
    and ``app.results[variant]`` the arrays they show; ``app.readout`` is the table
    of the memory written at the spike and left at the end.
    """

    figsize = (9.5, 5.4)

    def __init__(self, peephole_lstm_cell_forward=None, cifg_lstm_cell_forward=None, gru_cell_forward=None,
                 lstm_cell_forward=None, steps=30, **kwargs):
        self.steps = int(steps)
        if self.steps < 2:
            raise ValueError(f"steps must be at least 2, got {steps}")
        given = {"lstm": lstm_cell_forward, "peephole": peephole_lstm_cell_forward,
                 "cifg": cifg_lstm_cell_forward, "gru": gru_cell_forward}
        self.cells, notes = _own_cells(given)
        self.results = {}
        shown = "; ".join(f"{TITLES[v]}: {html.escape(notes[v])}" for v in VARIANTS)
        self.note = widgets.HTML(f"<small>{KEEP_HELP}<br><i>Cells shown: {shown}.</i></small>")
        self.readout = widgets.HTML()  # the numbers: HTML is far cheaper to update than text in the figure
        super().__init__(**kwargs)  # the first render lays the figure out
        children = tuple(self.children)
        self.children = (self.note,) + children[:3] + (self.readout,) + children[3:]

    # -- SliderApp hooks -------------------------------------------------------
    def make_controls(self):
        style = {"description_width": "initial"}
        layout = widgets.Layout(width="290px")
        return {
            "spike_size": widgets.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.05, description="spike size s",
                                              readout_format=".2f", style=style, layout=layout),
            "keep_bias": widgets.FloatSlider(value=3.0, min=-2.0, max=6.0, step=0.1, description="keep bias b",
                                             tooltip="b_f = b in the three LSTMs; the GRU's update gate gets "
                                                     "b_z = −b (its z = 1 means: take the new candidate)",
                                             readout_format=".1f", style=style, layout=layout),
            "spike_at": widgets.IntSlider(value=4, min=0, max=self.steps - 1, description="spike at step",
                                          style=style, layout=layout),
            "peephole": widgets.FloatSlider(value=1.5, min=-3.0, max=3.0, step=0.1,
                                            description="peepholes p (peephole LSTM only)", readout_format=".1f",
                                            style=style, layout=widgets.Layout(width="360px")),
        }

    def build(self, fig):
        axes = fig.subplots(2, 2, sharex=True, sharey=True)
        t = np.arange(self.steps + 1)
        zeros = np.zeros(self.steps + 1)
        self.axes, self.lines, self.spike_marks = {}, {}, {}
        for ax, variant in zip(axes.flat, VARIANTS):
            color = MODEL_COLORS[variant]
            lines = {}
            self.spike_marks[variant] = ax.axvline(0, color="#aaaaaa", lw=6, alpha=0.35, zorder=0)
            lines["keep"] = ax.plot(t, zeros, color="#555555", lw=1.2, ls="--")[0]
            lines["memory"] = ax.plot(t, zeros, color=color, lw=2.4, marker="o", ms=3)[0]
            if variant == "gru":  # the GRU's memory is its output
                lines["h"] = lines["memory"]
            else:
                lines["h"] = ax.plot(t, zeros, color=color, lw=1.3, alpha=0.6)[0]
            ax.axhline(0, color="#dddddd", lw=0.8, zorder=0)
            ax.set_xlim(0, self.steps)
            ax.set_ylim(-0.08, 1.12)
            ax.set_title(TITLES[variant], fontsize=10, color=color, loc="left")
            self.axes[variant], self.lines[variant] = ax, lines
        for ax in axes[1]:
            ax.set_xlabel("time step $t$")
        # one legend for all four panels, in grey: each panel draws the same kinds of line in its colour
        grey = "#666666"
        handles = [Line2D([], [], color=grey, lw=2.4, marker="o", ms=3),
                   Line2D([], [], color=grey, lw=1.3, alpha=0.6),
                   Line2D([], [], color="#555555", lw=1.2, ls="--"),
                   Line2D([], [], color="#aaaaaa", lw=6, alpha=0.35)]
        labels = ["memory: $c_t$ (GRU: $h_t$)", "output $h_t$ (the GRU's is its memory)",
                  "share kept: $f_t$ (GRU: $1 - z_t$)", "the spike"]
        fig.legend(handles, labels, loc="outside lower center", ncols=4, fontsize=8.5, frameon=False)

    def moving_artists(self):
        artists = []
        for variant in VARIANTS:
            lines = self.lines[variant]
            artists += [self.spike_marks[variant], lines["keep"], lines["memory"]]
            if lines["h"] is not lines["memory"]:
                artists.append(lines["h"])
        return artists

    def update(self, values):
        x = spike_input(self.steps, values["spike_at"], values["spike_size"])
        spike_t = values["spike_at"] + 1  # x[k] is read at step t = k + 1
        for variant in VARIANTS:
            params = variant_params(variant, values["keep_bias"], values["peephole"])
            result = run_variant(variant, self.cells[variant], x, params)
            self.results[variant] = result
            lines = self.lines[variant]
            for name in ("keep", "memory", "h"):
                lines[name].set_ydata(result[name])
            self.spike_marks[variant].set_xdata([spike_t, spike_t])
        self.readout.value = self._readout_html(spike_t)

    def _readout_html(self, spike_t):
        """A small table: the memory each cell wrote at the spike and what is left at the end."""
        cell = "<td style='padding:0 12px; text-align:right'>{}</td>"
        head = "".join(cell.format(f"<b style='color:{MODEL_COLORS[v]}'>{TITLES[v]}</b>") for v in VARIANTS)
        rows = [("memory written at the spike", spike_t), (f"memory left at t = {self.steps}", -1)]
        body = "".join(
            "<tr><td>{}</td>{}</tr>".format(
                name, "".join(cell.format(f"{self.results[v]['memory'][index]:.3f}") for v in VARIANTS))
            for name, index in rows)
        return f"<table style='font-size:90%'><tr><td></td>{head}</tr>{body}</table>"
