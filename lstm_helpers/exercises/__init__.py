"""The exercises: what each one tests, and what its known mistakes look like.

Each chapter's exercises live in a module of their own (``exercises.rnn``,
``exercises.lstm``, ...) that names its chapter in ``CHAPTER`` and lists its
exercises in ``EXERCISES``. The modules are discovered, so a new chapter only
adds its module.

In a notebook, a visible test cell calls ``check("rnn_cell_forward",
rnn_cell_forward)``; the hidden test beside it calls
:func:`~lstm_helpers.exercises.hidden.hidden_check` with fresh random inputs.
Both run inside the learner's kernel and only give feedback while they work:
``lstm-course grade`` decides scores outside the kernel (see
:mod:`lstm_helpers.classroom.verdicts`).
"""

import importlib
import pkgutil
import warnings

from .. import ReferenceUnavailable

from ._core import CACHE, GRADS, CheckFailed, Exercise, Mistake, entries, returns, run_exercise
from .hidden import hidden_check

__all__ = ["CACHE", "GRADS", "CheckFailed", "Exercise", "Mistake", "EXERCISES", "CHAPTERS", "check",
           "entries", "hidden_check", "own_or_reference", "returns", "run_exercise"]


def _discover():
    """``({exercise name: Exercise}, {chapter: [exercise names]})`` from every chapter module."""
    registry, chapters = {}, {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "hidden":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for exercise in module.EXERCISES:
            if exercise.name in registry:
                raise RuntimeError(f"two exercises are called {exercise.name!r}")
            registry[exercise.name] = exercise
            chapters.setdefault(module.CHAPTER, []).append(exercise.name)
    return registry, dict(sorted(chapters.items()))


#: ``{name: Exercise}`` for every exercise of the course.
#: ``{chapter: [exercise names]}``, chapters in course order.
EXERCISES, CHAPTERS = _discover()


def check(name, answer, rng=None, hidden=False):
    """Check the learner's answer to exercise ``name``; print a short OK line.

    ``answer`` is the learner's function (or, for a question, their value;
    a question's placeholder, ``...`` or ``NotImplemented``, raises
    ``NotImplementedError`` as an unwritten function does).
    Raises :class:`CheckFailed` (an ``AssertionError``) whose message names
    the likely mistake.
    """
    __tracebackhide__ = True  # IPython and pytest show the learner's frames, not ours
    if name not in EXERCISES:
        raise KeyError(f"no exercise called {name!r}; known: {', '.join(EXERCISES)}")
    exercise = EXERCISES[name]
    run_exercise(exercise, answer, rng=rng, hidden=hidden)
    if hidden:
        return
    if exercise.prediction:
        print(f"✔ {name}: your answer is recorded. The hidden tests grade it; the next cells show the answer.")
    else:
        print(f"✔ {name}: all visible checks passed.")


def own_or_reference(name, student_fn):
    """The learner's function if it passes its visible check, else the course's reference.

    Demos and widgets call this so that they show the learner's own code
    once it works, and still run (with a note) before it does.
    """
    exercise = EXERCISES[name]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run_exercise(exercise, student_fn)
        return student_fn
    except ReferenceUnavailable:  # being graded: the reference is left out, so use the learner's own
        return student_fn
    except NotImplementedError:
        print(f"(Using the course's reference {name}: yours is not written yet.)")
    except Exception as exc:
        reason = str(exc).split(". ")[0].rstrip(".")
        print(f"(Using the course's reference {name}: yours does not pass its check yet: {reason}.)")
    return exercise.reference
