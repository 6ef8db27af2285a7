"""Exercise checks with feedback that names the likely mistake.

Each chapter's exercises live in a submodule (``checks.feedforward``,
``checks.rnn``, ...) as a list ``EXERCISES``. Notebooks call
``checks.check("rnn_cell_forward", rnn_cell_forward)`` (or the named
shortcut ``check_rnn_cell_forward``) in a visible test cell; the hidden
tests call :func:`lstm_helpers.grading.hidden_check` with fresh random inputs.
"""

import importlib

from ._core import CheckFailed, Exercise, Mistake, run_exercise

__all__ = ["CheckFailed", "Exercise", "Mistake", "EXERCISES", "check", "own_or_reference", "run_exercise"]

# Chapter modules, in course order. A new chapter adds its module here.
CHAPTER_MODULES = ("feedforward", "rnn", "long_term", "lstm", "variants", "training")


def _load_registry():
    registry = {}
    for mod_name in CHAPTER_MODULES:
        module = importlib.import_module(f"{__name__}.{mod_name}")
        for exercise in module.EXERCISES:
            registry[exercise.name] = exercise
    return registry


EXERCISES = _load_registry()


def check(name, student_fn, rng=None, hidden=False):
    """Check the learner's function for exercise ``name``; print a short OK line.

    Raises :class:`CheckFailed` (an ``AssertionError``) whose message names
    the likely mistake.
    """
    __tracebackhide__ = True  # IPython and pytest show the learner's frames, not ours
    if name not in EXERCISES:
        raise KeyError(f"no exercise called {name!r}; known: {', '.join(EXERCISES)}")
    run_exercise(EXERCISES[name], student_fn, rng=rng, hidden=hidden)
    if not hidden:
        print(f"✔ {name}: all visible checks passed.")


def __getattr__(attr):
    # check_<exercise>(fn) shortcuts, e.g. checks.check_sigmoid(sigmoid)
    if attr.startswith("check_") and attr[len("check_"):] in EXERCISES:
        name = attr[len("check_"):]
        return lambda student_fn: check(name, student_fn)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def own_or_reference(name, student_fn):
    """The learner's function if it passes its visible check, else the course's reference.

    Demos and widgets call this so that they show the learner's own code
    once it works, and still run (with a note) before it does.
    """
    exercise = EXERCISES[name]
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run_exercise(exercise, student_fn)
        return student_fn
    except NotImplementedError:
        print(f"(Using the course's reference {name}: yours is not written yet.)")
    except Exception as exc:
        reason = str(exc).split(". ")[0].rstrip(".")
        print(f"(Using the course's reference {name}: yours does not pass its check yet: {reason}.)")
    return exercise.reference
