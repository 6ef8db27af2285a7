"""Hidden tests inside the notebook: feedback for learners who run them themselves.

A hidden test cell holds one line, ``hidden_check("name", name)``. When a
learner runs it (self-study, or nbgrader's Validate button), it

* loads a private, freshly imported copy of the checks and references;
* draws inputs and shapes from the operating system's entropy, so answers
  hard-coded for the visible tests' inputs fail;
* makes the exercise's own reference raise while the answer runs;
* turns any warning the answer emits into a failure with a message.

This runs in the learner's kernel, so it is feedback, not a defence: under
``lstm-course grade`` and ``lstm-course check`` the test cells are not run in
the kernel at all, and the same checks run in the grading process instead
(:mod:`lstm_helpers.classroom.verdicts`).
"""

import importlib
import importlib.util
import itertools
import os
import sys

import numpy as np

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # lstm_helpers/
_fresh_ids = itertools.count()


class ReferenceUsed(AssertionError):
    """Raised when an answer calls the reference it is meant to replace."""


def fresh_checks():
    """Import a private copy of ``lstm_helpers.exercises`` from the installed files."""
    name = f"_lstm_helpers_hidden_{next(_fresh_ids)}"
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(_PACKAGE_DIR, "__init__.py"), submodule_search_locations=[_PACKAGE_DIR]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    try:
        spec.loader.exec_module(package)
        return importlib.import_module(f"{name}.exercises")
    finally:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]


def _raising_code(exercise_name, target):
    """A code object that raises an AssertionError naming the reference used."""
    message = (
        f"{exercise_name} calls the course's reference {target}. The exercise is to "
        "write it yourself: this answer earns no points for it."
    )
    namespace = {}
    exec(f"def blocked(*args, **kwargs):\n    raise AssertionError({message!r})\n", namespace)
    return namespace["blocked"].__code__


class block_references:
    """Context manager: the named reference functions raise while it is active.

    ``targets`` are ``"module:function"`` strings in the installed package.
    The function objects themselves get new code, so an answer that kept
    its own alias to the reference is caught too.
    """

    def __init__(self, exercise_name, targets):
        self.exercise_name, self.targets, self.saved = exercise_name, targets, []

    def __enter__(self):
        for target in self.targets:
            module_name, func_name = target.split(":")
            func = getattr(importlib.import_module(module_name), func_name)
            self.saved.append((func, func.__code__))
            func.__code__ = _raising_code(self.exercise_name, f"{module_name}.{func_name}")
        return self

    def __exit__(self, *exc):
        for func, code in reversed(self.saved):
            func.__code__ = code
        self.saved = []
        return False


def hidden_check(name, student_fn, trials=None):
    """The hidden test of exercise ``name``: fresh inputs, fresh checks, references blocked."""
    __tracebackhide__ = True  # IPython and pytest show the learner's frames, not ours
    checks = fresh_checks()
    exercise = checks.EXERCISES[name]
    rng = np.random.default_rng()  # operating-system entropy: nothing to hard-code against
    inputs = checks._core.draw_trials(exercise, rng, True, trials)  # every known mistake is caught by one
    answer = checks._core.as_callable(exercise, student_fn)
    checks._core.run_trials(exercise, answer, inputs, guard=lambda: block_references(name, exercise.block))
