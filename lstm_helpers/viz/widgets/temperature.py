"""Chapter 07's temperature widget: the language model writes, you turn the temperature.

Controls: the **temperature**, the **prime** (the text the model reads first;
press Enter to apply) and the **draw** (the seed of the Generator, so that
the same draw can be watched at every temperature). Each change writes a
new sample of ``n`` characters and shows

* the sample, each character on a colour that says how likely the model
  found it (red: unlikely, green: likely; at temperature 1, not the
  temperature used to draw it);
* the distribution of the first character after the prime, at the chosen
  temperature (filled) and at temperature 1 (outline);
* below it, the probability of each written character as a curve, and the
  sample's bits per character (how surprised the model is by its own text).

By default the sample comes from ``char_lm.fast_sample``, which makes the
same draws as ``language_model.sample`` at a fraction of the cost (the
callback stays under 100 ms). Given the learner's ``sample``, the app uses
that once it passes its check, and one pass of the fused LSTM over the
prime and the sample gives the probabilities.
"""

import contextlib
import html
import io

import ipywidgets as widgets
import numpy as np

from ... import exercises
from ... import language_model as lm
from ...experiment import char_lm
from ..palette import MODEL_COLORS
from ..plots.language import colored_html, shown_character
from ._base import SliderApp


def tempered(p, temperature):
    """A distribution p (V,) at another temperature: softmax(log p / temperature); one-hot at the argmax for 0."""
    if temperature == 0:
        return lm.one_hot(int(np.argmax(p)), len(p))
    return lm.softmax(np.log(np.maximum(p, 1e-300)) / temperature)


class TemperatureApp(SliderApp):
    """The temperature slider, a prime and a draw; a coloured sample and the next-character distribution.

    params: a language model (default: the shipped LSTM, ``char_lm.load_weights()``).
    sample: the learner's ``sample`` (used if it passes its visible check);
        None: ``char_lm.fast_sample``.
    prime: the starting prime; n: characters per sample.

    Drive it from Python: ``app.controls["temperature"].value = 1.5``. After
    each change ``app.text`` is the sample, ``app.p_chosen`` (n,) the
    probability of each of its characters and ``app.p_next`` (V,) the
    distribution drawn from for its first character.
    """

    figsize = (9.5, 3.6)

    def __init__(self, params=None, sample=None, prime="def ", n=200, **kwargs):
        params = char_lm.load_weights() if params is None else params
        # float64 throughout: the sampling loop mixes the weights with float64 one-hot vectors, and mixed
        # dtypes would convert every weight matrix at every character
        self.params = {key: np.asarray(value, dtype=np.float64) for key, value in params.items()}
        self.initial_prime, self.n = prime, int(n)
        self.sample_fn, source = None, "a fast version of the course's sample (the same draws)"
        if sample is not None:
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                self.sample_fn = exercises.own_or_reference("sample", sample)
            source = ("your own sample" if self.sample_fn is sample
                      else buffer.getvalue().strip().strip("()") or source)
        self.note = widgets.HTML(f"<small><i>Writing with {html.escape(source)}. Colours: how likely the model "
                                 "found each character (red: unlikely, green: likely).</i></small>")
        self.sample_html = widgets.HTML()
        self.text, self.p_chosen, self.p_next = "", np.zeros(0), np.zeros(lm.V)
        super().__init__(**kwargs)
        children = tuple(self.children)
        self.children = (self.note,) + children[:2] + (self.sample_html,) + children[2:]

    # -- SliderApp hooks -------------------------------------------------------
    def make_controls(self):
        style = {"description_width": "initial"}
        return {
            "temperature": widgets.FloatSlider(value=0.8, min=0.0, max=2.0, step=0.05, description="temperature",
                                               readout_format=".2f", style=style,
                                               layout=widgets.Layout(width="320px")),
            "draw": widgets.IntSlider(value=0, min=0, max=20, description="draw (seed)", style=style,
                                      layout=widgets.Layout(width="260px")),
            "prime": widgets.Text(value=self.initial_prime, description="prime", continuous_update=False,
                                  style=style, layout=widgets.Layout(width="300px")),
        }

    def build(self, fig):
        self.ax, self.strip = fig.subplots(2, 1, height_ratios=[3, 1.2])
        ax = self.ax
        edges = np.arange(lm.V + 1) - 0.5
        zeros = np.zeros(lm.V)
        self.at_one = ax.stairs(zeros, edges, color="#555555", lw=0.9, label="at temperature 1")
        self.at_t = ax.stairs(zeros, edges, fill=True, color=MODEL_COLORS["lstm"], alpha=0.55,
                              label="at the chosen temperature")
        self.top_label = ax.text(0.99, 0.92, "", transform=ax.transAxes, ha="right", va="top", fontsize=9)
        ax.set_xlim(-0.5, lm.V - 0.5)
        ax.set_ylim(0, 1)
        ax.set_xticks(np.arange(lm.V))
        ax.set_xticklabels([shown_character(ch) for ch in lm.VOCAB], fontsize=6, family="monospace")
        ax.set_ylabel("probability", fontsize=9)
        ax.set_title("the first character after the prime", fontsize=9, loc="left")
        ax.legend(fontsize=8, frameon=False, loc="upper left")
        # below: how likely the model found each character of the sample, as the colours above show it
        self.chosen_line = self.strip.plot(np.arange(self.n), np.zeros(self.n), color=MODEL_COLORS["lstm"],
                                           lw=0.9)[0]
        self.strip_label = self.strip.text(0.99, 0.9, "", transform=self.strip.transAxes, ha="right", va="top",
                                           fontsize=8, bbox={"facecolor": "white", "edgecolor": "none",
                                                             "alpha": 0.85, "pad": 1.5})
        self.strip.set_xlim(0, max(self.n - 1, 1))
        self.strip.set_ylim(0, 1.05)
        self.strip.set_ylabel("p", fontsize=9)
        self.strip.set_xlabel("written character", fontsize=8)
        self.strip.tick_params(labelsize=7)

    def moving_artists(self):
        return [self.at_one, self.at_t, self.top_label, self.chosen_line, self.strip_label]

    def update(self, values):
        prime, temperature = values["prime"], float(values["temperature"])
        rng = np.random.default_rng(values["draw"])
        if self.sample_fn is None:
            self.text, self.p_chosen, p_one = char_lm.fast_sample(self.params, prime, self.n, temperature, rng)
        else:  # the learner's sample writes; one pass of the fused LSTM says how likely each character was
            self.text = self.sample_fn(self.params, prime, self.n, temperature, rng)
            probs = char_lm.next_char_distributions(self.params, prime + self.text)  # (len, V), temperature 1
            start = len(prime) - 1  # probs[start] is the guess for the first written character
            written = lm.encode(self.text)
            self.p_chosen = probs[start + np.arange(len(written)), written] if len(written) else np.zeros(0)
            p_one = probs[start]
        self.p_next = tempered(p_one, temperature)
        self.at_one.set_data(p_one)
        self.at_t.set_data(self.p_next)
        best = np.argsort(-self.p_next)[:3]
        self.top_label.set_text("   ".join(f"'{shown_character(lm.VOCAB[k])}' {self.p_next[k]:.2f}" for k in best))
        self.chosen_line.set_data(np.arange(len(self.p_chosen)), self.p_chosen)
        mean_bits = float(-np.mean(np.log2(np.maximum(self.p_chosen, 1e-12)))) if len(self.p_chosen) else 0.0
        self.strip_label.set_text(f"draw {values['draw']}, temperature {temperature:.2f}: "
                                  f"{mean_bits:.2f} bits per written character")
        self.sample_html.value = (f"<pre style='font-family:monospace;font-size:12px;margin:0 0 2px 0'>"
                                  f"<b>{html.escape(prime)}</b></pre>"
                                  + colored_html(self.text, self.p_chosen, "probability", 0.0, 1.0))


def temperature_app(**kwargs):
    """Build the temperature widget (see :class:`TemperatureApp`); display it by leaving it last in a cell."""
    return TemperatureApp(**kwargs)
