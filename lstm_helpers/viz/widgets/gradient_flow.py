"""Chapter 03's gradient-flow app: how far back does the gradient reach?

Sliders set the largest singular value of the recurrent weights, the
sequence length and the size of the inputs; the plot shows
‖∂h_T/∂h_{T-k}‖ against the lag k on a log scale and redraws as a slider moves.

The plot is a list of *curves*. Each curve is a :class:`Curve` that may bring
its own sliders and computes its values from all slider values. A later
chapter adds a curve without copying this app, for example::

    class CellStateCurve(Curve):
        key, label = "lstm", "LSTM cell state: $f^k$"
        style = {"color": "#1f77b4", "lw": 2}

        def make_controls(self):
            return {"forget": widgets.FloatSlider(value=0.95, min=0.5, max=1.0, step=0.01,
                                                  description="forget gate")}

        def compute(self, values, setting):
            return values["forget"] ** np.arange(1, values["seq_len"] + 1)

    GradientFlowApp(curves=default_curves() + [CellStateCurve()])
"""

from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np

from ... import gradients
from ..plots.gradients import orthogonal_rnn
from ._base import SliderApp

Y_RANGE = (1e-10, 1e10)


@dataclass
class FlowSetting:
    """The random draws every curve shares, made once per app.

    W_h: (H, H + D) with recurrent block a random orthogonal matrix
        (all its singular values 1) and input block N(0, 1/D).
    noise: (max_len, N, D) standard normal; the inputs are input_scale * noise[:T].
    """

    W_h: np.ndarray
    noise: np.ndarray

    @classmethod
    def draw(cls, rng, hidden_size=16, input_size=4, n_sequences=4, max_len=80):
        params = orthogonal_rnn(rng, input_size, hidden_size, sigma_max=1.0)
        return cls(W_h=params["W_h"], noise=rng.standard_normal((max_len, n_sequences, input_size)))

    @property
    def hidden_size(self):
        return self.W_h.shape[0]

    def rnn(self, values):
        """(x, h0, params) of the tanh RNN for the slider values."""
        H, T = self.hidden_size, values["seq_len"]
        W_h = self.W_h.copy()
        W_h[:, :H] *= values["sigma_max"]
        x = values["input_scale"] * self.noise[:T]
        return x, np.zeros((x.shape[1], H)), {"W_h": W_h, "b_h": np.zeros(H)}


class Curve:
    """One line on the plot, and the sliders only it needs.

    key: its name in ``app.lines``; label and style: the legend text and
    matplotlib line keywords. ``make_controls()`` returns extra sliders
    ({name: widget}); ``compute(values, setting)`` returns the norms for the
    lags 1..T as an array of length T = values["seq_len"].
    """

    key, label, style = "curve", "", {}

    def make_controls(self):
        return {}

    def compute(self, values, setting):
        raise NotImplementedError


class TanhRNNCurve(Curve):
    """The median over the sequences of ‖∂h_T/∂h_{T-k}‖ through the tanh RNN.

    norm_fn: a function with the signature of
    :func:`lstm_helpers.gradients.gradient_norms_by_lag` (the learner's own, or
    the reference by default).
    """

    key, label = "rnn", r"tanh RNN: $\|\partial h_T/\partial h_{T-k}\|$ (median)"
    style = {"color": "#d62728", "lw": 2.2}

    def __init__(self, norm_fn=None):
        self.norm_fn = norm_fn or gradients.gradient_norms_by_lag

    def compute(self, values, setting):
        norms = self.norm_fn(*setting.rnn(values))  # (N, T), column t is lag T - t
        return np.median(np.asarray(norms)[:, ::-1], axis=0)


class BoundCurve(Curve):
    """The upper bound (γ σ_max)^k: every Jacobian factor has norm at most γ σ_max (γ = 1 for tanh)."""

    key, label = "bound", r"bound $\sigma_{max}^k$"
    style = {"color": "#555555", "lw": 1.2, "ls": "--"}

    def compute(self, values, setting):
        return values["sigma_max"] ** np.arange(1, values["seq_len"] + 1, dtype=float)


def default_curves(norm_fn=None):
    """The chapter-03 curves: the tanh RNN and its singular-value bound."""
    return [TanhRNNCurve(norm_fn), BoundCurve()]


class GradientFlowApp(SliderApp):
    """Sliders: σ_max of W_h[:, :H], sequence length T, input scale. Plot: gradient norm against lag.

    curves: the :class:`Curve` s to draw (``default_curves(norm_fn)`` if None).
    norm_fn: used by the default tanh-RNN curve (see :class:`TanhRNNCurve`).
    rng: a numpy Generator for the shared draws (seed 0 if None).
    ``app.lines[key]`` is each curve's Line2D; ``app.controls[name]`` each slider.

    The axes never change, so they are rendered once; a slider change redraws
    only the lines and the title over that background (a full redraw costs
    several hundred milliseconds, this a few tens).
    """

    figsize = (8, 3.4)

    def __init__(self, curves=None, norm_fn=None, rng=None, hidden_size=16, n_sequences=4, max_len=80, **kwargs):
        self.curves = list(curves) if curves is not None else default_curves(norm_fn)
        keys = [c.key for c in self.curves]
        if len(set(keys)) != len(keys):
            raise ValueError(f"every curve needs its own key, got {keys}")
        self.max_len = int(max_len)
        rng = np.random.default_rng(0) if rng is None else rng
        self.setting = FlowSetting.draw(rng, hidden_size=hidden_size, n_sequences=n_sequences, max_len=self.max_len)
        super().__init__(**kwargs)  # builds the controls and the figure, then draws once in full

    # -- SliderApp hooks ------------------------------------------------------------------------
    def make_controls(self):
        controls = {
            "sigma_max": widgets.FloatSlider(value=0.9, min=0.2, max=3.0, step=0.05, description="σ_max of W_rec",
                                             style={"description_width": "initial"}),
            "seq_len": widgets.IntSlider(value=40, min=2, max=self.max_len, step=1, description="length T",
                                         style={"description_width": "initial"}),
            "input_scale": widgets.FloatSlider(value=0.3, min=0.0, max=3.0, step=0.05, description="input scale",
                                               style={"description_width": "initial"}),
        }
        for curve in self.curves:
            extra = curve.make_controls()
            clash = set(extra) & set(controls)
            if clash:
                raise ValueError(f"curve {curve.key!r} reuses control names {sorted(clash)}")
            controls.update(extra)
        return controls

    def build(self, fig):
        ax = fig.subplots()
        self.ax = ax
        self.lines = {c.key: ax.semilogy([], [], label=c.label, **c.style)[0] for c in self.curves}
        ax.axhline(1.0, color="#999999", lw=0.8, ls=":")
        ax.set_xlim(1, self.max_len)
        ax.set_ylim(*Y_RANGE)
        ax.set_xlabel("lag $k$ (steps back from the last state)")
        ax.set_ylabel("gradient norm")
        # below the axes: inside, some setting of the sliders always draws a curve through it
        fig.legend(loc="outside lower center", ncols=len(self.curves), fontsize=9, frameon=False)
        self.title = ax.set_title(" ", fontsize=10)

    def update(self, values):
        """Recompute every curve; a curve that fails is left empty and named in ``self.problems``."""
        self.curve_data = {}
        for curve in self.curves:
            try:
                norms = np.asarray(curve.compute(values, self.setting), dtype=float)
            except Exception as exc:  # a learner's function may fail: the other curves still draw
                self.problems.append(f"{curve.key}: {type(exc).__name__}: {exc}")
                self.lines[curve.key].set_data([], [])
                continue
            with np.errstate(invalid="ignore"):
                shown = np.where(np.isfinite(norms) & (norms > 0), norms, np.nan)  # a log axis cannot show 0 or inf
            self.lines[curve.key].set_data(np.arange(1, len(shown) + 1), shown)
            self.curve_data[curve.key] = norms
        _, _, params = self.setting.rnn(values)
        sigma, verdict = gradients.predict_from_weights(params["W_h"], "tanh")
        if abs(sigma - 1.0) < 1e-6:  # the boundary: every factor is at most 1, no guarantee either way
            verdict = "σ_max = 1/γ = 1 (tanh): the boundary, bounded by 1"
        else:
            verdict = f"σ_max = {sigma:.2f} {'<' if sigma < 1 else '>'} 1/γ = 1 (tanh): {verdict}"
        self.title.set_text(f"{verdict}.   T = {values['seq_len']}, input scale {values['input_scale']:.2f}")

    # -- fast redraw ------------------------------------------------------------------------------
    def moving_artists(self):
        return [*self.lines.values(), self.title]

