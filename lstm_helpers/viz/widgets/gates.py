"""Chapter 04's gate sliders: watch one LSTM unit remember, forget and overwrite.

The unit has one input and one hidden unit (D = H = 1). Its gates ignore the
input and the hidden state (their weights are zero), so each gate is a
constant set by its bias, ``b = logit(value)``: the sliders choose the gate
*values* directly. The candidate reads the input, ``c̃_t = tanh(w_c x_t)``,
with ``w_c`` chosen so that the spike ``x = 1`` gives the candidate value on
its slider and every other step gives 0. The cell starts from a memory
``c_0 = 0.5``, something it knew before the sequence began.

The sequence is run through an ``lstm_cell_forward``: the learner's own once
it passes its check, the course's reference until then.

The right-hand panel is the gradient view: how strongly the cell state at
the end, c_T, still depends on the cell state t steps earlier. Along the
cell state the only factor per step is the forget gate, so
``‖∂c_T/∂c_{T-k}‖ = f^k``; beside it, the same quantity ``‖∂h_T/∂h_{T-k}‖``
for the tanh RNN of chapter 03, computed by chapter 03's own curve.
:class:`GradientView` is chapter 03's gradient-flow app with one more curve,
:class:`CellStateCurve`, and its forget-gate slider.
"""

import contextlib
import functools
import html
import io

import ipywidgets as widgets
import numpy as np

from ... import exercises
from ... import lstm as lstm_ref
from ._base import SliderApp
from .gradient_flow import Curve, FlowSetting, GradientFlowApp, TanhRNNCurve, default_curves

#: Presets: the slider values they set (the output gate and candidate are left as they are).
PRESETS = {
    "remember forever": {"forget": 1.0, "input": 0.0},
    "overwrite": {"forget": 0.0, "input": 1.0},
    "leaky": {"forget": 0.8, "input": 0.5},
    "write and keep": {"forget": 1.0, "input": 1.0},
}
CUSTOM = "custom"
_BIAS_LIMIT = 40.0  # sigmoid(±40) is exactly 1.0 or 0.0 in float64


def gate_bias(value):
    """The bias that makes a gate with zero weights output ``value`` (0 and 1 included)."""
    value = float(np.clip(value, 0.0, 1.0))
    if value <= 0.0:
        return -_BIAS_LIMIT
    if value >= 1.0:
        return _BIAS_LIMIT
    return float(np.clip(np.log(value / (1.0 - value)), -_BIAS_LIMIT, _BIAS_LIMIT))


def gate_params(forget, input, output, candidate):
    """LSTM parameters (D = H = 1) whose gates sit at the given values.

    Returns the dict ``{W_f, b_f, W_i, b_i, W_c, b_c, W_o, b_o}`` with
    ``W_*: (1, 2)`` (the columns multiply [h_{t-1}, x_t]) and ``b_*: (1,)``.
    Only the candidate reads the input: c̃ = tanh(w_c x), and x = 1 gives
    ``candidate``.
    """
    w_c = np.arctanh(np.clip(candidate, -1 + 1e-12, 1 - 1e-12))
    zeros = np.zeros((1, 2))
    return {
        "W_f": zeros.copy(), "b_f": np.array([gate_bias(forget)]),
        "W_i": zeros.copy(), "b_i": np.array([gate_bias(input)]),
        "W_c": np.array([[0.0, w_c]]), "b_c": np.zeros(1),
        "W_o": zeros.copy(), "b_o": np.array([gate_bias(output)]),
    }


def spike_input(steps, spike_at):
    """x: (steps, 1, 1), zero everywhere except x[spike_at] = 1."""
    x = np.zeros((steps, 1, 1))
    x[spike_at] = 1.0
    return x


def run_cell(cell, x, params, c0=0.5):
    """Run ``cell`` (an ``lstm_cell_forward``) over ``x: (T, 1, 1)`` from h_0 = 0, c_0 = c0.

    Returns (h, c, f) as 1-D arrays of length T + 1 (index 0 holds the
    initial states) and the forget gate values f_1..f_T from the caches,
    when the cache holds them (else from the parameters).
    """
    T = len(x)
    h = np.zeros(T + 1)
    c = np.zeros(T + 1)
    c[0] = c0
    h_prev, c_prev = np.zeros((1, 1)), np.full((1, 1), float(c0))
    f = np.empty(T)
    for t in range(T):
        h_prev, c_prev, cache = cell(x[t], h_prev, c_prev, params)
        h[t + 1], c[t + 1] = np.asarray(h_prev).item(), np.asarray(c_prev).item()
        f_t = cache.get("f") if isinstance(cache, dict) else None
        f[t] = np.asarray(f_t).item() if f_t is not None and np.size(f_t) == 1 else np.nan
    if np.isnan(f).any():
        f = np.full(T, lstm_ref.forget_gate(np.zeros((1, 2)), params).item())
    return h, c, f


def cell_state_gradient_by_lag(f):
    """‖∂c_T/∂c_{T-k}‖ along the cell state, for k = 1..T, given forget gates f_1..f_T.

    c_t = f_t c_{t-1} + ..., so each step back multiplies by one forget gate:
    ∂c_T/∂c_{T-k} = f_T f_{T-1} ... f_{T-k+1}. Returns an array of length T.
    """
    f = np.asarray(f, dtype=float)
    return np.cumprod(np.abs(f[::-1]))


#: Chapter 03's default setting of its gradient-flow app (σ_max = 1, input scale 0.3).
RNN_SETTING = {"sigma_max": 1.0, "input_scale": 0.3}


@functools.lru_cache(maxsize=8)
def _rnn_curve(steps, seed):
    setting = FlowSetting.draw(np.random.default_rng(seed), max_len=steps)
    curve = TanhRNNCurve().compute({**RNN_SETTING, "seq_len": steps}, setting)
    curve.setflags(write=False)
    return curve


def rnn_gradient_by_lag(steps, seed=0):
    """The chapter-03 comparison: median ‖∂h_T/∂h_{T-k}‖ of a tanh RNN for k = 1..steps.

    Chapter 03's own curve (:class:`~lstm_helpers.widgets.gradient_flow.TanhRNNCurve`)
    in its app's default setting: recurrent weights a random orthogonal
    matrix (σ_max = 1, a favourable start), inputs 0.3 N(0, 1). Cached.
    """
    return _rnn_curve(int(steps), int(seed)).copy()


def _own_cell(lstm_cell_forward):
    """The learner's cell if it passes its check, else the reference; and the note to show."""
    if lstm_cell_forward is None:
        return lstm_ref.lstm_cell_forward, "Showing the course's reference lstm_cell_forward."
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        cell = exercises.own_or_reference("lstm_cell_forward", lstm_cell_forward)
    note = buffer.getvalue().strip()
    if cell is lstm_cell_forward:
        note = "Showing your own lstm_cell_forward."
    return cell, note


class GateSliders(SliderApp):
    """Sliders for the forget, input and output gates and the candidate; c_t and h_t redrawn live.

    lstm_cell_forward: the learner's own cell (optional). It is used if it
        passes its visible check; otherwise the course's reference is used
        and the note above the plot says why.
    steps: sequence length T; spike_at: the step whose input is 1.
    c0: the initial cell state, a memory from before the sequence.

    Drive it from Python: ``app.controls["forget"].value = 0.9`` redraws;
    ``app.controls["preset"].value = "overwrite"`` sets the sliders.
    ``app.lines`` holds the plotted ``Line2D`` objects by name.
    """

    figsize = (9.5, 3.5)

    def __init__(self, lstm_cell_forward=None, steps=40, spike_at=8, c0=0.5, **kwargs):
        self.steps, self.spike_at, self.c0 = int(steps), int(spike_at), float(c0)
        if not 0 <= self.spike_at < self.steps:
            raise ValueError(f"spike_at must be a step between 0 and {self.steps - 1}, got {spike_at}")
        self.cell, note = _own_cell(lstm_cell_forward)
        if lstm_cell_forward is not None and self.cell is not lstm_cell_forward:
            print(note)  # the fallback is news to the learner, also where widgets do not render
        self.x = spike_input(self.steps, self.spike_at)
        self.rnn_curve = rnn_gradient_by_lag(self.steps)
        self._holding = False
        self.note = widgets.HTML(f"<i>{html.escape(note)}</i>")
        super().__init__(**kwargs)  # the first render lays the figure out
        self.children = (self.note,) + tuple(self.children)

    # -- SliderApp hooks -------------------------------------------------------
    def make_controls(self):
        style = {"description_width": "initial"}
        layout = widgets.Layout(width="300px")

        def slider(description, value, low=0.0):
            return widgets.FloatSlider(value=value, min=low, max=1.0, step=0.01, description=description,
                                       continuous_update=True, readout_format=".2f", style=style, layout=layout)

        return {
            "forget": slider("forget gate f", PRESETS["leaky"]["forget"]),
            "input": slider("input gate i", PRESETS["leaky"]["input"]),
            "output": slider("output gate o", 1.0),
            "candidate": slider("candidate c̃ at the spike", 0.8, low=-1.0),
            "preset": widgets.Dropdown(options=[CUSTOM, *PRESETS], value="leaky", description="preset",
                                       style=style, layout=widgets.Layout(width="260px")),
        }

    def build(self, fig):
        ax_state, ax_grad = fig.subplots(1, 2, width_ratios=(1.5, 1))
        t = np.arange(self.steps + 1)
        x_line = np.concatenate([[0.0], self.x[:, 0, 0]])  # x_t is read at step t = 1..T
        self.lines = {
            "x": ax_state.step(t, x_line, where="mid", color="#999999", lw=1.2, label="input $x_t$ (spike)")[0],
            "c": ax_state.plot(t, np.zeros_like(t, dtype=float), color="#1f77b4", lw=2.2, marker="o", ms=3,
                                 label="cell state $c_t$")[0],
            "h": ax_state.plot(t, np.zeros_like(t, dtype=float), color="#ff7f0e", lw=1.8, marker="o", ms=2.5,
                                 label="hidden state $h_t$")[0],
        }
        ax_state.axhline(0, color="#dddddd", lw=0.8, zorder=0)
        ax_state.set_xlim(0, self.steps)
        ax_state.set_ylim(-1.15, 1.95)
        ax_state.set_xlabel("time step $t$")
        ax_state.legend(loc="upper right", fontsize=9, ncols=3, frameon=False)
        self.title = ax_state.set_title("", fontsize=10)

        lags = np.arange(1, self.steps + 1)
        # the same curves, labels and colours as chapter 03's app and the gradient view
        self.lines["rnn"] = ax_grad.semilogy(lags, np.maximum(self.rnn_curve, 1e-12), label=TanhRNNCurve.label,
                                             **TanhRNNCurve.style)[0]
        self.lines["lstm"] = ax_grad.semilogy(lags, np.ones(self.steps), label=CellStateCurve.label,
                                              **CellStateCurve.style)[0]
        ax_grad.set_ylim(1e-8, 3)
        ax_grad.set_xlim(1, self.steps)
        ax_grad.set_xlabel("lag $k$ (steps back)")
        ax_grad.set_title("how far back the gradient reaches", fontsize=10)
        # below the panel: inside, a small forget gate draws the LSTM's curve through any legend
        fig.legend(*ax_grad.get_legend_handles_labels(), loc="outside lower right", ncols=2, fontsize=8,
                   frameon=False)
        self.axes = (ax_state, ax_grad)

    def moving_artists(self):
        return [self.lines["c"], self.lines["h"], self.lines["lstm"], self.title]

    def update(self, values):
        params = gate_params(values["forget"], values["input"], values["output"], values["candidate"])
        h, c, f = run_cell(self.cell, self.x, params, self.c0)
        self.lines["c"].set_ydata(c)
        self.lines["h"].set_ydata(h)
        self.lines["lstm"].set_ydata(np.maximum(cell_state_gradient_by_lag(f), 1e-12))
        self.title.set_text(f"f = {values['forget']:.2f}, i = {values['input']:.2f}, o = {values['output']:.2f}, "
                            f"c̃ at the spike = {values['candidate']:.2f}, $c_0$ = {self.c0:g}")

    # -- presets -----------------------------------------------------------------
    def _on_change(self, change):
        if self._holding:
            return
        if change.get("owner") is self.controls["preset"]:
            self.apply_preset(change["new"])
        else:
            self._mark_custom()
            self.refresh()

    def apply_preset(self, name):
        """Set the sliders to preset ``name`` (one redraw); "custom" leaves them as they are."""
        if name != CUSTOM and name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
        self._holding = True
        try:
            self.controls["preset"].value = name
            for key, value in PRESETS.get(name, {}).items():
                self.controls[key].value = value
        finally:
            self._holding = False
        self.refresh()

    def _mark_custom(self):
        preset = PRESETS.get(self.controls["preset"].value)
        if preset and any(abs(self.controls[k].value - v) > 1e-9 for k, v in preset.items()):
            self._holding = True
            try:
                self.controls["preset"].value = CUSTOM
            finally:
                self._holding = False


class CellStateCurve(Curve):
    """The LSTM curve for chapter 03's gradient-flow app: ‖∂c_T/∂c_{T-k}‖ = f^k.

    Brings its own slider, the forget gate f, held at the same value at
    every step.
    """

    key = "lstm"
    label = r"LSTM cell state: $\|\partial c_T/\partial c_{T-k}\| = f^k$"
    style = {"color": "#1f77b4", "lw": 2.4}

    def __init__(self, forget=0.99):
        self.forget = float(forget)

    def make_controls(self):
        return {"forget": widgets.FloatSlider(value=self.forget, min=0.8, max=1.0, step=0.001,
                                              description="forget gate f", readout_format=".3f",
                                              style={"description_width": "initial"})}

    def compute(self, values, setting):
        return cell_state_gradient_by_lag(np.full(values["seq_len"], values["forget"]))


class RememberedCurve(Curve):
    """Wraps a curve and remembers its last result while the sliders it reads stay put.

    The tanh RNN's curve costs tens of milliseconds at 200 steps and does not
    depend on the forget gate, so moving the forget slider need not recompute it.
    """

    def __init__(self, curve, reads=("sigma_max", "seq_len", "input_scale")):
        self.curve, self.reads = curve, tuple(reads)
        self.key, self.label, self.style = curve.key, curve.label, curve.style
        self._last = None

    def make_controls(self):
        return self.curve.make_controls()

    def compute(self, values, setting):
        inputs = (id(setting), *(values[name] for name in self.reads))
        if self._last is None or self._last[0] != inputs:
            self._last = (inputs, np.asarray(self.curve.compute(values, setting)))
        return self._last[1]


class GradientView(GradientFlowApp):
    """Chapter 03's gradient-flow app with the LSTM's cell-state curve added.

    The tanh RNN's ‖∂h_T/∂h_{T-k}‖ (and its bound) as in chapter 03, beside
    ‖∂c_T/∂c_{T-k}‖ = f^k for a forget gate f on its own slider. Starts at
    the longest sequence, ``max_len`` steps. ``app.lines["lstm"]``,
    ``app.lines["rnn"]`` and ``app.lines["bound"]`` hold the curves.
    """

    def __init__(self, forget=0.99, max_len=200, curves=None, **kwargs):
        if curves is None:
            curves = [RememberedCurve(c) for c in default_curves()] + [CellStateCurve(forget)]
        super().__init__(curves=curves, max_len=max_len, **kwargs)
        self.controls["seq_len"].value = self.max_len
