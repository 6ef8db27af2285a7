"""Diagrams and plots for the course, drawn with matplotlib.

Every function returns a ``matplotlib.figure.Figure``; in a notebook the
returned figure is shown once, in a script it can be saved with
``fig.savefig(path)``.
"""



def _show_figures_inline():
    """In a Jupyter kernel, display a returned Figure as a PNG (once, even without pyplot)."""
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import select_figure_formats
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "kernel"):
        select_figure_formats(shell, {"png"}, bbox_inches="tight")


_show_figures_inline()

from .diagrams import feedforward_net, repeating_module_chain, rnn_loop_and_unrolled, unrolled_rnn
from .cell import lstm_cell_diagram, lstm_chain, notation_legend
from .gradients import clipping_loss_curves, gradient_norm_vs_lag, long_gap, short_gap, tanh_saturation
from .variants import gru_gradient_vs_lag, param_count_bars
from .experiment import adding_examples, loss_curve, success_vs_lag, training_curves

__all__ = ["feedforward_net", "repeating_module_chain", "rnn_loop_and_unrolled", "unrolled_rnn",
           "lstm_cell_diagram", "lstm_chain", "notation_legend",
           "short_gap", "long_gap", "gradient_norm_vs_lag", "tanh_saturation", "clipping_loss_curves",
           "param_count_bars", "gru_gradient_vs_lag", "adding_examples", "loss_curve", "training_curves", "success_vs_lag"]
