"""ipywidgets slider apps that redraw matplotlib plots live.

Each chapter's app lives in its own module and is built on
:class:`~lstm_helpers.widgets._base.SliderApp`.
"""

from ._base import SliderApp
from .gates import GateSliders, GradientView
from .gradient_flow import Curve, GradientFlowApp, default_curves

__all__ = ["SliderApp", "GateSliders", "GradientView", "Curve", "GradientFlowApp", "default_curves"]

