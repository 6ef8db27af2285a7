"""The one mechanism behind every slider app in the course.

A :class:`SliderApp` owns a matplotlib ``Figure``, a set of ipywidgets
controls and an ``update(values)`` method that subclasses write: it
recomputes the curves from the control values and sets the line data. The
app then renders the figure to PNG into an ``ipywidgets.Image``. Tests drive
it from Python (``app.controls["scale"].value = 1.5``) and read the plotted
data back from the lines; the browser sees the image change.

Redrawing only what moves: a full ``savefig`` re-lays out the figure and
re-renders every tick label, which costs a few hundred milliseconds. An app
whose axes, ticks and legends never change lists the artists that do move in
``moving_artists()``. After the first full render the rest is kept as a
bitmap, and a slider move restores it and draws only those artists, well
under the course's 100 ms budget per callback.
"""

import html
import io
import time

import ipywidgets as widgets
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image


class SliderApp(widgets.VBox):
    """Controls on top, the live figure below.

    Subclasses build their axes and artists in ``build(fig)``, return the
    controls from ``make_controls()``, and set the artists' data in
    ``update(values)``; ``update`` may append messages to ``self.problems``
    for parts it could not draw. ``last_render_ms`` holds the cost of the
    last redraw.
    """

    figsize = (9, 3.6)
    dpi = 100  # 9-point labels are 12.5 pixels high: readable without zooming

    def __init__(self, **kwargs):
        self.fig = Figure(figsize=self.figsize, dpi=self.dpi, layout="constrained")
        self.controls = self.make_controls()
        # shrinks to fit a narrow notebook, never stretched beyond its pixels (that would blur it)
        native_width = round(self.figsize[0] * self.dpi)
        self.image = widgets.Image(format="png", layout=widgets.Layout(width="100%", max_width=f"{native_width}px"))
        self.status = widgets.HTML()
        self.problems = []
        self._background = None
        self.build(self.fig)
        for control in self.controls.values():
            if hasattr(control, "value"):
                control.observe(self._on_change, names="value")
        boxes = list(self.controls.values())
        super().__init__(children=[widgets.HBox(boxes[:3]), widgets.HBox(boxes[3:]), self.image, self.status],
                         **kwargs)
        self.refresh()  # the first, full render lays the figure out
        if self.moving_artists():
            self._cache_background()

    # -- to override --------------------------------------------------------
    def make_controls(self):
        """Return ``{name: widget}``; every widget with a ``value`` triggers a redraw."""
        raise NotImplementedError

    def build(self, fig):
        """Create axes and artists on ``fig`` once."""
        raise NotImplementedError

    def update(self, values):
        """Recompute from ``values`` (``{name: value}``) and set the artists' data."""
        raise NotImplementedError

    def moving_artists(self):
        """The artists ``update`` changes; empty means: re-render the whole figure each time."""
        return []

    # -- machinery ----------------------------------------------------------
    @property
    def values(self):
        return {name: c.value for name, c in self.controls.items() if hasattr(c, "value")}

    def _on_change(self, change):
        self.refresh()

    def _cache_background(self):
        """Render everything that never moves once, and keep it as a bitmap."""
        self.fig.set_layout_engine("none")  # keep the layout of the first full render
        self._canvas = FigureCanvasAgg(self.fig)
        for artist in self.moving_artists():
            artist.set_animated(True)  # left out of the background
        self._canvas.draw()
        self._background = self._canvas.copy_from_bbox(self.fig.bbox)
        self.refresh()

    def _render_png(self):
        buffer = io.BytesIO()
        if self._background is None:
            self.fig.savefig(buffer, format="png")
        else:
            self._canvas.restore_region(self._background)
            for artist in self.moving_artists():
                (artist.axes or self.fig).draw_artist(artist)
            Image.fromarray(np.asarray(self._canvas.buffer_rgba())).save(buffer, format="png", compress_level=1)
        return buffer.getvalue()

    def refresh(self):
        """Recompute, redraw and re-render: the whole callback a slider triggers."""
        start = time.perf_counter()
        self.problems = []
        try:
            self.update(self.values)
        except Exception as exc:  # a learner's own cell may fail: say so, keep the sliders alive
            self.problems.append(f"{type(exc).__name__}: {exc}")
        self.status.value = "".join(f"<b style='color:#b00'>Could not draw {html.escape(p)}</b><br>"
                                    for p in self.problems)
        self.image.value = self._render_png()
        self.last_render_ms = 1000 * (time.perf_counter() - start)
        return self
