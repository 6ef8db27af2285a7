"""The one mechanism behind every slider app in the course.

A :class:`SliderApp` owns a matplotlib ``Figure``, a set of ipywidgets
controls and an ``update(values)`` method that subclasses write: it
recomputes the curves from the control values and sets the line data. The
app then renders the figure to PNG into an ``ipywidgets.Image``. Tests drive
it from Python (``app.controls["scale"].value = 1.5``) and read the plotted
data back from the lines; the browser sees the image change.
"""

import io
import time

import ipywidgets as widgets
from matplotlib.figure import Figure


class SliderApp(widgets.VBox):
    """Controls on top, the live figure below.

    Subclasses build ``self.fig`` and their artists in ``build(fig)``,
    return the controls from ``make_controls()``, and redraw in
    ``update(values)``. ``last_render_ms`` holds the cost of the last redraw.
    """

    figsize = (9, 3.6)
    dpi = 80

    def __init__(self, **kwargs):
        self.fig = Figure(figsize=self.figsize, dpi=self.dpi, layout="constrained")
        self.controls = self.make_controls()
        self.image = widgets.Image(format="png", layout=widgets.Layout(width="100%", max_width="900px"))
        self.status = widgets.HTML()
        self.build(self.fig)
        for control in self.controls.values():
            if hasattr(control, "value"):
                control.observe(self._on_change, names="value")
        boxes = [c for c in self.controls.values()]
        super().__init__(children=[widgets.HBox(boxes[:3]), widgets.HBox(boxes[3:]), self.image, self.status],
                         **kwargs)
        self.refresh()

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

    # -- machinery ----------------------------------------------------------
    @property
    def values(self):
        return {name: c.value for name, c in self.controls.items() if hasattr(c, "value")}

    def _on_change(self, change):
        self.refresh()

    def refresh(self):
        """Recompute, redraw and re-render; the whole callback a slider triggers."""
        start = time.perf_counter()
        try:
            self.update(self.values)
            self.status.value = ""
        except Exception as exc:  # a learner's own cell may fail: say so, keep the sliders alive
            self.status.value = f"<b style='color:#b00'>Could not draw: {type(exc).__name__}: {exc}</b>"
        buffer = io.BytesIO()
        self.fig.savefig(buffer, format="png")
        self.image.value = buffer.getvalue()
        self.last_render_ms = 1000 * (time.perf_counter() - start)
        return self
