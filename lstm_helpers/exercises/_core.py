"""The machinery behind every exercise check.

An :class:`Exercise` describes one function the learner writes: how to make
test inputs, the reference that gives the right answer, and a list of
:class:`Mistake` s, each a known wrong implementation with a message. A check
calls the learner's function, compares every output with the reference and,
when something differs, looks for the mistake whose output matches the
learner's: that mistake's message is the feedback ("the bias b_h is
missing"). Nothing here imports Jupyter.
"""

import contextlib
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

# Captured when the package is first imported (the first cell of every
# notebook, before any answer runs), so an answer that replaces
# ``np.allclose`` or friends cannot change how a check compares.
_abs, _max, _isfinite, _asarray = np.abs, np.max, np.isfinite, np.asarray
_ndarray, _Generator = np.ndarray, np.random.Generator


class CheckFailed(AssertionError):
    """A check found a wrong answer; the message says what is wrong.

    ``mistakes``: the known mistakes whose output equals the answer's on the
    failing trial, most likely first (more than one when the trial's inputs
    cannot tell them apart; see :func:`run_trials`).
    """

    def __init__(self, message, mistakes=()):
        super().__init__(message)
        self.mistakes = list(mistakes)


@dataclass(frozen=True)
class Output:
    """One value a function returns, and how a check compares it.

    ``kind``:
        ``"value"``    an array, a number or a word, compared as a whole;
        ``"entries"``  a dict compared entry by entry, shown as ``name['key']``;
        ``"grads"``    a dict of parameter gradients, shown as ``dW_h``, ``db_h``, ...;
        ``"ignored"``  not compared (a cache).
    """

    name: str
    kind: str = "value"


#: A returned cache: not compared.
CACHE = Output("cache", "ignored")
#: A returned dict of parameter gradients, compared key by key as dW_h, db_h, ...
GRADS = Output("grads", "grads")


def entries(name):
    """A returned dict compared entry by entry (``counts['lstm']``, ``params['W_f']``)."""
    return Output(name, "entries")


@dataclass(frozen=True)
class Returns:
    """What a function returns: one value, or a tuple of several in this order."""

    parts: tuple

    @property
    def single(self):
        return len(self.parts) == 1

    def __str__(self):
        names = ", ".join(p.name for p in self.parts)
        return names if self.single else f"({names})"


def returns(*parts):
    """``returns("h_t", CACHE)``: the outputs of a function in order; a plain string is a value."""
    return Returns(tuple(Output(p) if isinstance(p, str) else p for p in parts))


@dataclass
class Mistake:
    """A likely wrong implementation and the feedback that names it.

    ``compute`` takes the same arguments as the exercise and returns what
    the wrong implementation would return (same structure as the reference).
    """

    message: str
    compute: Callable[..., Any]


def no_inputs(rng, hidden):
    """``make_inputs`` of a question: the answer is a value, nothing is passed in."""
    return {}


@dataclass
class Exercise:
    """One exercise: the learner writes a function called ``name``, or answers a question.

    kind: ``"function"`` (the learner writes a function the checks call), or
        ``"value"`` (a question: the learner's answer is a value, such as a
        number or the letter of a choice; ``make_inputs`` is
        :func:`no_inputs` and ``reference()`` returns the right answer).
    prediction: for a question asked *before* a plot or an experiment shows
        the answer. Its visible check only makes sure an answer of the right
        form was given, so that it gives nothing away; the hidden tests grade it.
    make_inputs(rng, hidden) -> dict of keyword arguments, in call order.
        ``hidden`` is True for the graders' randomised trials, which should
        also draw random shapes.
    outputs: a :class:`Returns` made with :func:`returns`, e.g.
        ``returns("h_t", CACHE)`` or ``returns("dx", "dh0", GRADS)``.
    reference: the correct implementation (called with the same arguments).
    block: reference functions the learner must not call from this answer,
        given as ``"module:function"`` (the hidden tests make them raise).
    trial_note: optional ``inputs -> str or None``: a sentence about an edge
        case in this trial's inputs ("every gradient is zero here"), added
        to any failure on that trial, including an error the answer raises.
    """

    name: str
    reference: Callable[..., Any]
    make_inputs: Callable[[np.random.Generator, bool], dict]
    outputs: Returns
    mistakes: list = field(default_factory=list)
    block: tuple = ()
    rtol: float = 1e-6
    atol: float = 1e-8
    visible_seed: int = 0
    visible_trials: int = 2
    hidden_trials: int = 3
    trial_note: Callable[[dict], Any] = None
    kind: str = "function"
    prediction: bool = False

    def __post_init__(self):
        if self.kind not in ("function", "value"):
            raise ValueError(f"{self.name}: kind must be 'function' or 'value', not {self.kind!r}")
        if self.prediction and self.kind != "value":
            raise ValueError(f"{self.name}: only a question (kind='value') can be a prediction")


#: What a question's answer cell holds before the learner answers it.
PLACEHOLDERS = (Ellipsis, NotImplemented, None)


def as_callable(exercise, answer):
    """The learner's answer as something the checks call: a value becomes a function of no arguments.

    A question still holding its placeholder (``...``, ``NotImplemented``)
    raises ``NotImplementedError``, as an unwritten function does.
    """
    if exercise.kind != "value":
        return answer
    if any(answer is placeholder for placeholder in PLACEHOLDERS):
        def unanswered():
            raise NotImplementedError(f"{exercise.name} is not answered yet: replace the placeholder with your answer.")
        return unanswered
    return lambda: answer


def _copy_generator(rng):
    """A new Generator in the same state as ``rng``: it draws the same numbers, and ``rng`` is left as it is."""
    twin = _Generator(type(rng.bit_generator)())
    twin.bit_generator.state = rng.bit_generator.state
    return twin


def _copy_inputs(inputs):
    out = {}
    for key, value in inputs.items():
        if isinstance(value, _ndarray):
            out[key] = value.copy()
        elif isinstance(value, _Generator):  # the reference, the mistakes and the answer all draw the same numbers
            out[key] = _copy_generator(value)
        elif isinstance(value, dict):
            out[key] = _copy_inputs(value)
        elif isinstance(value, list):
            out[key] = [_copy_inputs(v) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out


def _changed_in_place(name, value, before):
    """Names of the input arrays (also inside dicts of arrays) that differ from their copy."""
    if isinstance(value, _ndarray):
        same = value.shape == before.shape and ((value == before) | ((value != value) & (before != before))).all()
        return [] if same else [name]
    if isinstance(value, dict) and isinstance(before, dict):
        if set(value) != set(before):
            return [name]
        return [n for key in value for n in _changed_in_place(f"{name}[{key!r}]", value[key], before[key])]
    return []


def flatten_outputs(result, outputs, who):
    """Turn a function's result into ``{name: value}`` following ``outputs`` (a :class:`Returns`).

    Raises CheckFailed with a plain explanation when the structure is off.
    """
    if result is None:
        raise CheckFailed(f"{who} returned None: did you forget the `return` statement?")
    if outputs.single:
        values = [result]
    elif not isinstance(result, (tuple, list)) or len(result) != len(outputs.parts):
        got = len(result) if isinstance(result, (tuple, list)) else 1
        raise CheckFailed(f"{who} must return {len(outputs.parts)} values {outputs}, but it returned {got}.")
    else:
        values = result
    flat = {}
    for part, value in zip(outputs.parts, values):
        if part.kind == "ignored":
            continue
        if part.kind in ("grads", "entries"):
            if not isinstance(value, dict):
                what = "the parameter gradients" if part.kind == "grads" else part.name
                raise CheckFailed(f"{who} must return {what} as a dict, got {type(value).__name__}.")
            for key, entry in value.items():
                flat["d" + str(key) if part.kind == "grads" else f"{part.name}[{key!r}]"] = entry
        else:
            flat[part.name] = value
    return flat


def _close(got, want, rtol, atol):
    """Elementwise |got - want| <= atol + rtol |want|, with our own primitives."""
    err = _abs(got - want)
    return bool((err <= atol + rtol * _abs(want)).all())


def compare_outputs(got, want, rtol, atol, who):
    """Return (problems, wrong_names); problems are structural and final."""
    missing = [k for k in want if k not in got]
    if missing and missing[0].endswith("]"):
        raise CheckFailed(f"{who} must return a dict with an entry for every key; {_and(missing)} "
                          f"{'is' if len(missing) == 1 else 'are'} missing.")
    if missing:
        raise CheckFailed(
            f"{who} is missing the gradient(s) {', '.join(missing)}: backward functions "
            "return a gradient for every parameter key."
        )
    wrong = []
    for name, expected in want.items():
        value = got[name]
        if isinstance(expected, str):  # a word such as "vanishes": compared exactly
            if not isinstance(value, str):
                raise CheckFailed(f"{who}: {name} should be one of the words the question offers, not {type(value).__name__}.")
            if value != expected:
                wrong.append(name)
            continue
        if not isinstance(value, (np.ndarray, np.generic, float, int)):
            raise CheckFailed(f"{who}: {name} should be a NumPy array, got {type(value).__name__}.")
        value = _asarray(value)
        expected = _asarray(expected)
        if value.shape != expected.shape:
            hint = ""
            if value.shape == expected.shape[::-1] and value.ndim == 2:
                hint = " It looks transposed: check which side of the product each matrix goes on."
            elif value.size == expected.size:
                hint = " It has the right number of elements, so look for a transpose or a reshape."
            elif value.ndim == expected.ndim + 1 or value.shape[1:] == expected.shape:
                hint = " An extra axis usually means a sum over the batch (axis=0) is missing."
            raise CheckFailed(f"{who}: {name} has shape {value.shape} where {expected.shape} was expected.{hint}")
        if value.dtype.kind not in "fc" and not (value.dtype.kind in "iu" and expected.dtype.kind in "iu"):
            raise CheckFailed(f"{who}: {name} has dtype {value.dtype}; expected floating-point numbers.")
        if not _isfinite(value).all():
            raise CheckFailed(f"{who}: {name} contains NaN or inf values (an overflow, or a division by zero?).")
        if not _close(value, expected, rtol, atol):
            wrong.append(name)
    return wrong


def _matches(got, wrong_result, outputs, names, rtol, atol):
    try:
        flat = flatten_outputs(wrong_result, outputs, "mistake")
    except CheckFailed:
        return False
    for name in names:
        if name not in flat or name not in got:
            return False
        if isinstance(got[name], str) or isinstance(flat[name], str):
            if got[name] != flat[name]:
                return False
            continue
        a, b = _asarray(got[name]), _asarray(flat[name])
        if a.shape != b.shape or not _close(a, b, 1e-6, 1e-8):
            return False
    return True


_FAILED = object()  # a mistake's own code raised: it explains no answer


def _mistake_result(mistake, inputs):
    """What the wrong implementation returns on (a copy of) ``inputs``, or ``_FAILED``."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return mistake.compute(*_call_args(_copy_inputs(inputs)))
    except Exception:
        return _FAILED


def caught_mistakes(exercise, inputs, mistakes):
    """The ones of ``mistakes`` that give a wrong answer on ``inputs``: a trial with them catches these.

    A degenerate draw can hide a mistake: with a batch of one, a mean over
    the batch equals the sum; with one time step, a dropped gradient from the
    future changes nothing.
    """
    want = flatten_outputs(exercise.reference(*_call_args(_copy_inputs(inputs))), exercise.outputs, "reference")
    return [m for m in mistakes
            if not _matches(want, _mistake_result(m, inputs), exercise.outputs, list(want), exercise.rtol, exercise.atol)]


def draw_trials(exercise, rng, hidden, trials=None, max_extra=30):
    """Inputs for a check: ``trials`` draws, plus extra draws until every known mistake is caught.

    An extra draw is kept only if it catches a mistake that the trials so far
    would let through, so a known mistake never passes because of unlucky
    random inputs. Returns a list of input dicts.
    """
    if trials is None:
        trials = exercise.hidden_trials if hidden else exercise.visible_trials
    drawn, missed = [], list(exercise.mistakes)
    for attempt in range(trials + max_extra):
        if attempt >= trials and not missed:
            break
        inputs = exercise.make_inputs(rng, hidden)
        caught = caught_mistakes(exercise, inputs, missed) if missed else []
        if attempt < trials or caught:
            drawn.append(inputs)
            missed = [m for m in missed if m not in caught]
    return drawn


def run_trials(exercise, student_fn, trials, guard=None):
    """Check ``student_fn`` on every input dict in ``trials``; raise CheckFailed on a wrong answer.

    The first failing trial decides, except when several known mistakes
    explain it equally well (a trial where clipping changes nothing cannot
    tell "not clipped" from "clipped too late"): then the remaining trials
    narrow the candidates down, and the message names the one that explains
    them all. ``guard``: a context-manager factory wrapped around each trial
    (the hidden tests block the references with it).
    """
    __tracebackhide__ = True  # IPython and pytest show the learner's frames, not ours
    first = None
    for inputs in trials:
        try:
            with guard() if guard is not None else contextlib.nullcontext():
                check_once(exercise, student_fn, inputs)
        except CheckFailed as exc:
            if first is None:
                if len(exc.mistakes) < 2:
                    raise
                first, candidates = exc, exc.mistakes
                continue
            narrowed = [m for m in candidates if m in exc.mistakes]
        except Exception:
            if first is None:
                raise
            break  # the answer crashed on a later trial: the first failure says enough
        else:
            if first is None:
                continue
            ruled_out = caught_mistakes(exercise, inputs, candidates)  # the answer would have failed
            narrowed = [m for m in candidates if m not in ruled_out]
        if narrowed:
            candidates = narrowed
        if len(candidates) == 1:
            break
    if first is not None:
        if candidates[0] is first.mistakes[0]:
            raise first
        raise CheckFailed(f"{exercise.name}: {candidates[0].message}", candidates)
    return True


def _and(names):
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _call_args(inputs):
    return [v for k, v in inputs.items() if not k.startswith("_")]


def _answer_args(inputs):
    """The answer's arguments: the trial's own arrays (so a change in place shows) and a copy of any
    Generator in its state at the start of the trial (so later comparisons replay the same draws)."""
    return [_copy_generator(v) if isinstance(v, _Generator) else v for v in _call_args(inputs)]


def check_once(exercise, student_fn, inputs):
    """Run one trial; raise CheckFailed naming the problem (and the trial's edge case, if any)."""
    __tracebackhide__ = True  # IPython and pytest show the learner's frames, not ours
    note = exercise.trial_note(inputs) if exercise.trial_note is not None else None
    if not note:
        return _check_once(exercise, student_fn, inputs)
    try:
        return _check_once(exercise, student_fn, inputs)
    except CheckFailed as exc:
        raise CheckFailed(f"{exc} Note: {note}", exc.mistakes) from None
    except NotImplementedError:
        raise  # not started yet: the learner sees their own cell's error
    except Exception as exc:
        raise CheckFailed(f"{exercise.name} raised {type(exc).__name__}: {exc}. Note: {note}") from exc


def _check_once(exercise, student_fn, inputs):
    __tracebackhide__ = True  # IPython and pytest show the learner's frames, not ours
    who = f"{exercise.name}"
    args = _answer_args(inputs)
    want_raw = exercise.reference(*_call_args(_copy_inputs(inputs)))
    want = flatten_outputs(want_raw, exercise.outputs, "reference")
    pristine = _copy_inputs(inputs)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got_raw = student_fn(*args)
    if caught:
        w = caught[0]
        raise CheckFailed(
            f"{who} emitted a warning: {w.category.__name__}: {w.message}. Under the grader "
            "any warning costs this test's points, so make the code warning-free: find a way to "
            "write the expression that cannot overflow or divide by zero for any input."
        )

    for key, value in inputs.items():
        changed = _changed_in_place(key, value, pristine[key])
        if changed:
            where = f" ({changed[0]})" if changed[0] != key else ""
            raise CheckFailed(
                f"{who} changed its input {key!r}{where} in place. Compute new arrays instead "
                "(for example `x = x + 1`, not `x += 1`)."
            )
    got = flatten_outputs(got_raw, exercise.outputs, who)
    wrong = compare_outputs(got, want, exercise.rtol, exercise.atol, who)
    if not wrong:
        return
    explained = [m for m in exercise.mistakes
                 if _matches(got, _mistake_result(m, inputs), exercise.outputs, list(want), exercise.rtol, exercise.atol)]
    if explained:
        raise CheckFailed(f"{who}: {explained[0].message}", explained)
    if exercise.kind == "value":  # a question: say which part is wrong, never what the answer is
        raise CheckFailed(f"{who}: {_and(wrong)} {'is' if len(wrong) == 1 else 'are'} not right yet. "
                          "Work it out again from the text above.")
    right = [n for n in want if n not in wrong]
    where = f"{_and(wrong)} {'is' if len(wrong) == 1 else 'are'} wrong"
    if right:
        where += f" while {_and(right)} {'is' if len(right) == 1 else 'are'} right"
    words = [f"{n} is {got[n]!r} where {want[n]!r} was expected" for n in wrong if isinstance(want[n], str)]
    numbers = [n for n in wrong if not isinstance(want[n], str)]
    if numbers:
        worst = max(float(_max(_abs(_asarray(got[n]) - _asarray(want[n])))) for n in numbers)
        words.append(f"largest difference {worst:.3g}")
    raise CheckFailed(
        f"{who}: {where} ({'; '.join(words)}). "
        f"Compare your code with the equations line by line; the function returns {exercise.outputs}."
    )


def check_form(exercise, student_fn):
    """A prediction's visible check: an answer of the right form is there; its value is not judged."""
    __tracebackhide__ = True  # IPython and pytest show the learner's frames, not ours
    want = flatten_outputs(exercise.reference(), exercise.outputs, "reference")
    got = flatten_outputs(student_fn(), exercise.outputs, exercise.name)
    for name, expected in want.items():
        if name not in got:
            raise CheckFailed(f"{exercise.name}: {name} is missing.")
        value = got[name]
        if isinstance(expected, str):
            if not isinstance(value, str):
                raise CheckFailed(f"{exercise.name}: answer with one of the words the question offers, "
                                  f"not {type(value).__name__}.")
            continue
        if not isinstance(value, (np.ndarray, np.generic, float, int)) or isinstance(value, bool):
            raise CheckFailed(f"{exercise.name}: answer with a number, not {type(value).__name__}.")
        if _asarray(value).shape != _asarray(expected).shape:
            raise CheckFailed(f"{exercise.name}: {name} should have shape {_asarray(expected).shape}, "
                              f"got {_asarray(value).shape}.")
        if not _isfinite(_asarray(value, dtype=float)).all():
            raise CheckFailed(f"{exercise.name}: {name} must be a finite number.")


def run_exercise(exercise, answer, rng=None, hidden=False, trials=None):
    """Check the learner's ``answer`` on several trials; raise CheckFailed on the first problem.

    ``answer`` is the learner's function, or their value for a question.
    Visible checks use a fixed seed (the same feedback every run); hidden
    checks pass a fresh ``rng`` with random shapes. A prediction's visible
    check only looks at the form of the answer (see :func:`check_form`).
    """
    __tracebackhide__ = True  # IPython and pytest show the learner's frames, not ours
    student_fn = as_callable(exercise, answer)
    if not callable(student_fn):
        raise CheckFailed(f"{exercise.name} should be a function, got {type(student_fn).__name__}.")
    if exercise.prediction and not hidden:
        return check_form(exercise, student_fn)
    if rng is None:
        rng = np.random.default_rng(exercise.visible_seed)
    return run_trials(exercise, student_fn, draw_trials(exercise, rng, hidden, trials))
