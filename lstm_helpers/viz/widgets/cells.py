"""Chapter 07's cell viewer: validation text coloured by one LSTM cell, chosen with a slider.

After Karpathy, Johnson and Fei-Fei (2015), *Visualizing and Understanding
Recurrent Networks*. Each character sits on the colour of ``tanh(c_t)`` of
the chosen cell after reading it (blue -1, white 0, red +1). Below, the same
activation as a curve, with the text's "inside a string" (grey band) and
bracket depth (dotted) for comparison. The line above the text gives the
cell's correlation with the three features the chapter searches for.
"""

import html

import ipywidgets as widgets
import numpy as np

from ...experiment.char_lm import FEATURES, correlations
from ..palette import COLORS, MODEL_COLORS
from ..plots.language import colored_html
from ._base import SliderApp


class CellViewer(SliderApp):
    """Sliders for the cell and for the place in the text.

    text: str (L characters); cells: (L, H) cell states after each character;
    structure: the text's ``corpus.CodeStructure`` (for the correlations and
    the comparison curves); cell: the cell shown first; width: characters shown.

    ``app.controls["cell"].value = 17`` redraws; ``app.activation`` is the
    shown part of tanh(c) of that cell.
    """

    figsize = (9.5, 2.2)

    def __init__(self, text, cells, structure, cell=0, width=600, **kwargs):
        cells = np.asarray(cells)
        if cells.ndim != 2 or len(cells) != len(text):
            raise ValueError(f"cells must be (len(text), H) = ({len(text)}, H), got shape {cells.shape}")
        self.text, self.cells, self.structure = text, cells, structure
        self.width = min(int(width), len(text))
        self.first_cell = int(cell)
        self.r = {name: correlations(cells, getattr(structure, name)) for name in FEATURES}
        self.text_html, self.readout = widgets.HTML(), widgets.HTML()
        self.activation = np.zeros(self.width)
        super().__init__(**kwargs)
        children = tuple(self.children)
        self.children = children[:2] + (self.readout, self.text_html) + children[2:]

    def make_controls(self):
        style = {"description_width": "initial"}
        H = self.cells.shape[1]
        return {
            "cell": widgets.IntSlider(value=min(max(self.first_cell, 0), H - 1), min=0, max=H - 1,
                                      description="cell", style=style, layout=widgets.Layout(width="360px")),
            "start": widgets.IntSlider(value=0, min=0, max=max(len(self.text) - self.width, 0), step=100,
                                       description="from character", style=style,
                                       layout=widgets.Layout(width="360px")),
        }

    def build(self, fig):
        self.ax = ax = fig.subplots()
        t = np.arange(self.width)
        zeros = np.zeros(self.width)
        self.string_band = ax.fill_between(t, -1.05, -1.05, color=COLORS["muted"], alpha=0.45, lw=0,
                                           label="inside a string")
        self.depth_line = ax.plot(t, zeros, ":", color=COLORS["line"], lw=1, label="bracket depth / 4")[0]
        self.line = ax.plot(t, zeros, color=MODEL_COLORS["lstm"], lw=1.2, label="tanh(c) of the cell")[0]
        ax.axhline(0, color=COLORS["muted"], lw=0.6)
        self.label = ax.text(0.01, 0.95, "", transform=ax.transAxes, ha="left", va="top", fontsize=9)
        ax.set_xlim(0, self.width - 1)
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlabel("character in the shown text", fontsize=9)
        ax.legend(fontsize=8, frameon=False, loc="upper right", ncols=3)

    def moving_artists(self):
        return [self.string_band, self.depth_line, self.line, self.label]

    def update(self, values):
        cell, start = int(values["cell"]), int(values["start"])
        part = slice(start, start + self.width)
        self.activation = np.tanh(self.cells[part, cell].astype(float))
        shown = len(self.activation)
        self.line.set_data(np.arange(shown), self.activation)
        self.depth_line.set_data(np.arange(shown), self.structure.depth[part] / 4.0)
        inside = self.structure.in_string[part]
        t = np.arange(shown)
        top = np.where(inside, 1.05, -1.05)
        self.string_band.set_verts([np.concatenate([np.column_stack([t, top]),
                                                    np.column_stack([t[::-1], np.full(shown, -1.05)])])])
        self.label.set_text(f"cell {cell}, characters {start} to {start + shown - 1}")
        self.readout.value = ("<small>cell {}: correlation with ".format(cell) + ", ".join(
            f"{html.escape(label)} <b>{self.r[name][cell]:+.2f}</b>" for name, label in FEATURES.items()) + "</small>")
        self.text_html.value = colored_html(self.text[part], self.activation, "activation", -1.0, 1.0)
