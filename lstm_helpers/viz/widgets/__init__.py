"""ipywidgets slider apps that redraw matplotlib plots live.

Each chapter's app lives in its own module and is built on
:class:`~lstm_helpers.viz.widgets._base.SliderApp`.
"""

from ._base import SliderApp
from .gates import GateSliders, GradientView
from .gradient_flow import Curve, GradientFlowApp, default_curves

from .variants import VariantSliders
from .temperature import TemperatureApp
from .cells import CellViewer

__all__ = ["SliderApp", "Curve", "GradientFlowApp", "default_curves", "GateSliders", "GradientView", "VariantSliders",
           "TemperatureApp", "CellViewer"]
