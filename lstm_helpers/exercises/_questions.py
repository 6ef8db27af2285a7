"""Questions: exercises whose answer is a value (shared by the chapter modules).

A question is an :class:`~lstm_helpers.exercises._core.Exercise` of kind
"value": the learner assigns a number or a word, and the exercise's reference
computes the right one from the course's code or a formula. Most questions
are *predictions*, asked before a plot or a run shows the answer: their
visible check only records the answer, and the hidden test grades it. The
others (a parameter count, an index) are checked visibly, like a function.
"""

from ._core import Exercise, no_inputs, returns


def question(name, reference, output=None, *, mistakes, prediction=True, **tolerance):
    """A question called ``name``: ``reference()`` gives the right value, ``output`` names it in messages.

    output: a name such as ``"choice"`` (by default ``name``), or a tuple of names when the answer is a
    tuple of values (``("sigmoid_slope", "tanh_slope")``).
    mistakes: :class:`~lstm_helpers.exercises._core.Mistake` s whose ``compute`` takes no arguments
    (see :func:`answer`).
    prediction: False for a question that its visible check grades (it is not asked before the answer shows).
    tolerance: ``rtol`` and ``atol`` for numbers that are estimated rather than computed exactly.
    """
    output = name if output is None else output
    outputs = returns(*output) if isinstance(output, tuple) else returns(output)
    return Exercise(name=name, kind="value", prediction=prediction, reference=reference, make_inputs=no_inputs,
                    outputs=outputs, mistakes=mistakes,
                    visible_trials=1, hidden_trials=1,  # a question has no inputs: one trial says everything
                    **tolerance)


def answer(value):
    """A wrong answer for a :class:`~lstm_helpers.exercises._core.Mistake` of a question."""
    return lambda: value
