"""The exercise checks themselves: they pass right answers, name wrong ones,
and the hidden tests resist the usual shortcuts. Generic over every
registered exercise, so a new chapter's exercises are covered on arrival."""

import warnings

import numpy as np
import pytest

import lstm_helpers
from lstm_helpers import exercises
from lstm_helpers.exercises import hidden
from lstm_helpers.exercises._core import CheckFailed, draw_trials, run_exercise
from lstm_helpers.exercises._core import _call_args as call_args, _copy_inputs as copy_inputs
from conftest import copy_of

NAMES = sorted(exercises.EXERCISES)


def as_answer(exercise, fn):
    """What a learner hands in: the function itself, or for a question (kind "value") its value."""
    return fn() if exercise.kind == "value" else fn


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes_visible_and_hidden_checks(name, capsys):
    exercise = exercises.EXERCISES[name]
    right = exercise.reference() if exercise.kind == "value" else copy_of(exercise.reference)
    exercises.check(name, right)
    assert f"✔ {name}" in capsys.readouterr().out
    hidden.hidden_check(name, right)


def _names_the_mistake(failure, name, mistake):
    """The message is the mistake's, possibly followed by a note on the trial's edge case."""
    expected = f"{name}: {mistake.message}"
    return str(failure) == expected or str(failure).startswith(expected + " Note: ")


@pytest.mark.parametrize(
    "name,index",
    [(name, i) for name in NAMES for i in range(len(exercises.EXERCISES[name].mistakes))],
)
def test_each_mistake_is_caught_and_named(name, index):
    exercise = exercises.EXERCISES[name]
    mistake = exercise.mistakes[index]
    if exercise.prediction:  # asked before the answer is shown: the visible check must not give it away
        assert run_exercise(exercise, as_answer(exercise, mistake.compute)) is None
    else:
        with pytest.raises(CheckFailed) as failure:
            run_exercise(exercise, as_answer(exercise, lambda *args: mistake.compute(*args)))
        assert _names_the_mistake(failure.value, name, mistake), str(failure.value)
    # A learner's own wrong code: the mistake from a private copy, untouched by the reference blocking.
    learner = as_answer(exercise, hidden.fresh_checks().EXERCISES[name].mistakes[index].compute)
    for _ in range(3):  # fresh random inputs and shapes every time
        with pytest.raises(AssertionError) as hidden_failure:
            hidden.hidden_check(name, learner)
        assert _names_the_mistake(hidden_failure.value, name, mistake), str(hidden_failure.value)


# Known mistakes whose warning is their own symptom on some inputs (the trial's note says why).
WARNS_BY_DESIGN = {("clip_grad_norm", "the gradient was rescaled although its norm is below max_norm")}


@pytest.mark.parametrize("name", [n for n in NAMES if exercises.EXERCISES[n].kind != "value"])
def test_known_mistakes_show_their_mistake_not_a_warning_on_many_hidden_draws(name):
    """A wrong variant that warns on an unlucky hidden draw is reported as "emitted a warning" instead of
    being named (once: large scores made chapter 07's loss variants take the log of 0)."""
    exercise = exercises.EXERCISES[name]
    rng = np.random.default_rng(20261203)
    for _ in range(15):
        for inputs in draw_trials(exercise, rng, True):
            for mistake in exercise.mistakes:
                if any((name == n and mistake.message.startswith(m)) for n, m in WARNS_BY_DESIGN):
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    try:
                        mistake.compute(*call_args(copy_inputs(inputs)))
                    except Warning as warning:
                        pytest.fail(f"{name}: the mistake {mistake.message[:60]!r}... warns: {warning}")
                    except Exception:  # some wrong variants fail loudly on purpose (a shape error, say)
                        pass


@pytest.mark.parametrize("name", NAMES)
def test_mistakes_of_one_exercise_have_different_messages(name):
    messages = [m.message for m in exercises.EXERCISES[name].mistakes]
    assert len(set(messages)) == len(messages), f"{name}: two mistakes share a message"


@pytest.mark.parametrize("name", NAMES)
def test_hidden_check_rejects_an_answer_that_calls_the_reference(name):
    exercise = exercises.EXERCISES[name]
    if not exercise.block:
        pytest.skip("this exercise may use the references")
    reference = exercise.reference

    def lazy(*args):
        return reference(*args)

    with pytest.raises(AssertionError, match="calls the course's reference"):
        hidden.hidden_check(name, lazy)
    # and the reference works again afterwards
    exercises.check(name, copy_of(reference))


@pytest.mark.parametrize("name", [n for n in NAMES if exercises.EXERCISES[n].kind == "function"])
def test_not_implemented_reaches_the_learner_unchanged(name):
    """(A question's answer cell raises the stub's NotImplementedError itself, before any check.)"""

    def not_started(*args):
        raise NotImplementedError()

    # a question's answer cell starts as `answer = ...`, which counts as not started too
    unanswered = ... if exercises.EXERCISES[name].kind == "value" else not_started
    with pytest.raises(NotImplementedError):
        exercises.check(name, unanswered)


def test_hidden_check_is_not_fooled_by_patched_comparisons_or_checks(monkeypatch):
    def hard_coded(x):
        return np.zeros_like(x)

    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(np, "isclose", lambda *a, **k: True)
    monkeypatch.setattr(np.testing, "assert_allclose", lambda *a, **k: None)
    monkeypatch.setattr(exercises, "check", lambda *a, **k: None)
    monkeypatch.setattr(lstm_helpers.exercises._core, "check_once", lambda *a, **k: None)
    with pytest.raises(AssertionError):
        hidden.hidden_check("sigmoid", hard_coded)


def test_hidden_inputs_change_between_runs():
    reference = copy_of(exercises.EXERCISES["dense_forward"].reference)
    seen = []

    def spy(x, W, b):
        seen.append((x.shape, float(x.flat[0])))
        return reference(x, W, b)

    for _ in range(3):
        hidden.hidden_check("dense_forward", spy)
    assert len(seen) >= 9  # at least three trials per run
    assert len(set(seen)) == len(seen)  # none repeated


# -- trials: no known mistake slips through, ambiguous failures are narrowed down --------------

def _toy_exercise(make_inputs, mistakes):
    """f(x) = x.sum(axis=0) for x of shape (N, 2)."""
    from lstm_helpers.exercises import Exercise, returns

    return Exercise(name="toy", reference=lambda x: x.sum(axis=0), make_inputs=make_inputs, outputs=returns("s"),
                    mistakes=mistakes, hidden_trials=3)


def test_extra_trials_are_drawn_until_every_mistake_is_caught():
    from lstm_helpers.exercises import Mistake
    from lstm_helpers.exercises._core import draw_trials

    def make_inputs(rng, hidden):  # batches of one (where a mean is the sum) until the fifth draw
        make_inputs.calls += 1
        return {"x": rng.standard_normal((4 if make_inputs.calls % 5 == 0 else 1, 2))}
    make_inputs.calls = 0

    mean = Mistake("averaged instead of summed.", lambda x: x.mean(axis=0))
    exercise = _toy_exercise(make_inputs, [mean])
    trials = draw_trials(exercise, np.random.default_rng(0), hidden=True)
    assert [t["x"].shape[0] for t in trials] == [1, 1, 1, 4]  # the first draw that catches it, no more
    with pytest.raises(CheckFailed, match="averaged instead of summed"):
        run_exercise(exercise, lambda x: x.mean(axis=0), rng=np.random.default_rng(0), hidden=True)


def test_a_mistake_no_input_can_show_does_not_loop_forever():
    from lstm_helpers.exercises import Mistake
    from lstm_helpers.exercises._core import draw_trials

    exercise = _toy_exercise(lambda rng, hidden: {"x": rng.standard_normal((3, 2))},
                             [Mistake("not a mistake at all.", lambda x: x.sum(axis=0))])
    assert len(draw_trials(exercise, np.random.default_rng(0), hidden=True, max_extra=5)) == 3


def test_later_trials_decide_between_mistakes_the_first_cannot_tell_apart():
    from lstm_helpers.exercises import Mistake

    rows = iter([[[1.0, 2.0]], [[1.0, 2.0], [3.0, -1.0]], [[1.0, 2.0], [3.0, -1.0]]])

    def make_inputs(rng, hidden):
        return {"x": np.array(next(rows))}

    # On the first trial (one row) both mistakes give the same answer; the second tells them apart.
    first_row = Mistake("only the first row counts.", lambda x: 2 * x[0])
    doubled = Mistake("the sum is doubled.", lambda x: 2 * x.sum(axis=0))
    exercise = _toy_exercise(make_inputs, [first_row, doubled])
    with pytest.raises(CheckFailed) as failure:
        run_exercise(exercise, lambda x: 2 * x.sum(axis=0), trials=3)
    assert str(failure.value) == "toy: the sum is doubled."
    assert failure.value.mistakes == [doubled]


def test_a_trial_the_answer_passes_rules_out_mistakes_it_would_show():
    from lstm_helpers.exercises import Mistake

    xs = iter([np.array([[1.0, -2.0]]), np.array([[0.5, 0.25], [1.0, 2.0]]), np.array([[3.0, 1.0]])])

    def make_inputs(rng, hidden):
        return {"x": next(xs)}

    # Trial 1 cannot tell the two mistakes apart. The answer passes trial 2, where "negated (always)"
    # would be wrong, so that one is ruled out although it comes first in the list.
    abs_sum = Mistake("the absolute value was taken.", lambda x: np.abs(x.sum(axis=0)))
    flip_negative = Mistake("negative sums were negated (always).", lambda x: np.where(
        x.sum(axis=0) < 0, -x.sum(axis=0), x.sum(axis=0) + (x.shape[0] > 1)))
    exercise = _toy_exercise(make_inputs, [flip_negative, abs_sum])
    with pytest.raises(CheckFailed) as failure:
        run_exercise(exercise, lambda x: np.abs(x.sum(axis=0)), trials=3)
    assert str(failure.value) == "toy: the absolute value was taken."


def test_a_warning_fails_the_check_with_an_explanation():
    def naive_sigmoid(x):
        return 1 / (1 + np.exp(-x))

    with pytest.raises(CheckFailed, match="overflow.*warning-free"):
        exercises.check("sigmoid", naive_sigmoid)


def test_changing_an_input_in_place_is_reported():
    def mutating(x, W, b):
        x *= 1.0
        x += 0.0
        W[0, 0] += 1.0
        return x @ W.T + b, None

    with pytest.raises(CheckFailed, match="changed its input 'W' in place"):
        exercises.check("dense_forward", mutating)


def test_wrong_return_structure_is_explained():
    with pytest.raises(CheckFailed, match="returned None: did you forget the `return`"):
        exercises.check("sigmoid", lambda x: None)
    with pytest.raises(CheckFailed, match=r"must return 2 values \(h_t, cache\), but it returned 1"):
        exercises.check("rnn_cell_forward", lambda x_t, h_prev, params: np.tanh(h_prev))


def test_shape_feedback_names_the_transpose():
    def transposed(x, W, b):
        return (x @ W.T + b).T, None

    with pytest.raises(CheckFailed, match=r"y has shape \(5, 3\) where \(3, 5\) was expected.*transposed"):
        exercises.check("dense_forward", transposed)


def test_a_wrong_gradient_is_named_while_the_others_are_right():
    from lstm_helpers import rnn

    def bad_dW(dh_t, cache):
        dx, dh_prev, grads = rnn.rnn_cell_backward(dh_t, cache)
        return dx, dh_prev, {"W_h": 2 * grads["W_h"], "b_h": grads["b_h"]}

    with pytest.raises(CheckFailed, match="dW_h is wrong while dx_t, dh_prev and db_h are right"):
        exercises.check("rnn_cell_backward", bad_dW)


def test_own_or_reference_falls_back_with_a_note(capsys):
    def not_started(x):
        raise NotImplementedError()

    assert exercises.own_or_reference("sigmoid", not_started) is exercises.EXERCISES["sigmoid"].reference
    assert "not written yet" in capsys.readouterr().out
    mine = copy_of(exercises.EXERCISES["sigmoid"].reference)
    assert exercises.own_or_reference("sigmoid", mine) is mine


def test_require_version():
    assert lstm_helpers.require_version(lstm_helpers.__version__) == lstm_helpers.__version__
    with pytest.raises(RuntimeError, match="pip install -e"):
        lstm_helpers.require_version("99.0.0")
