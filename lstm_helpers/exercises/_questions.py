"""Questions asked before a plot or a run shows the answer (shared by the chapter modules).

A question is an :class:`~lstm_helpers.exercises._core.Exercise` of kind
"value": the learner assigns a number, and the exercise's reference computes
the right one from the course's code or a formula. As a *prediction* its
visible check only records the answer; the hidden test grades it.
"""

from ._core import Exercise, no_inputs, returns


def question(name, reference, output, mistakes, **tolerance):
    """A prediction called ``name``: ``reference()`` gives the right value, ``output`` names it in messages.

    mistakes: :class:`~lstm_helpers.exercises._core.Mistake` s whose ``compute`` takes no arguments
    (see :func:`answer`). tolerance: ``rtol`` and ``atol`` for numbers that are predicted, not computed.
    """
    return Exercise(name=name, kind="value", prediction=True, reference=reference, make_inputs=no_inputs,
                    outputs=returns(output), mistakes=mistakes,
                    visible_trials=1, hidden_trials=1,  # a question has no inputs: one trial says everything
                    **tolerance)


def answer(value):
    """A wrong answer for a :class:`~lstm_helpers.exercises._core.Mistake` of a question."""
    return lambda: value
