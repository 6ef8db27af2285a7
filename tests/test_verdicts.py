"""The grading side of a test cell, without a kernel: what the grader decides from what a kernel returns.

``judge`` gets an ``ask`` function; here it plays the kernel by running the
kernel-side caller (``codec.call_trials``) on a local function and sending the
reply through JSON, exactly the bytes a kernel would send.
"""

import json
import warnings

import numpy as np
import pytest

from conftest import copy_of
from lstm_helpers import exercises, rnn
from lstm_helpers.classroom import codec, verdicts
from lstm_helpers.classroom.verdicts import Call, judge


def kernel(fn, name="answer"):
    """An ``ask`` that runs ``fn`` the way the learner's kernel would, and returns the decoded JSON reply."""
    seen = []

    def ask(kind, trials):
        request = verdicts.new_request(Call("x", name), kind, trials)
        seen.append(request)
        namespace = {name: fn} if fn is not None else {}
        captured = {}

        def display(obj, raw=False):
            captured.update(obj)

        import IPython.display

        real, IPython.display.display = IPython.display.display, display
        try:
            codec.run(json.loads(json.dumps(request)), namespace)
        finally:
            IPython.display.display = real
        return verdicts.read_reply([{"output_type": "display_data", "data": captured}], request)

    ask.seen = seen
    return ask


FUNCTIONS = sorted(name for name, exercise in exercises.EXERCISES.items() if exercise.kind != "value")


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_right_answer_passes(name):
    answer = copy_of(exercises.EXERCISES[name].reference)
    verdict = judge(Call(name, "answer"), kernel(answer))
    assert verdict.passed and verdict.visible_passed, verdict


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_exercise_names_its_first_mistake(name):
    mistake = exercises.EXERCISES[name].mistakes[0]
    verdict = judge(Call(name, "answer"), kernel(mistake.compute))
    assert verdict.outcome == "failed" and mistake.message in verdict.message, verdict


def test_a_known_mistake_is_named():
    mistake = exercises.EXERCISES["rnn_cell_forward"].mistakes[0]
    verdict = judge(Call("rnn_cell_forward", "answer"), kernel(mistake.compute))
    assert verdict.outcome == "failed" and mistake.message in verdict.message and not verdict.visible_passed


def test_hidden_trials_catch_an_answer_that_only_knows_the_visible_inputs():
    exercise = exercises.EXERCISES["sigmoid"]
    visible = _visible(exercise)
    memory = [(i["x"].copy(), exercise.reference(i["x"])) for i in visible]

    def memorised(x):
        for given, answer in memory:
            if given.shape == x.shape and np.array_equal(given, x):
                return answer
        return np.zeros_like(x)

    verdict = judge(Call("sigmoid", "answer"), kernel(memorised))
    assert verdict.outcome == "failed" and verdict.visible_passed
    assert verdict.message.startswith("passes the visible check but not the hidden tests")


def _visible(exercise):
    from lstm_helpers.exercises import _core

    return _core.draw_trials(exercise, np.random.default_rng(exercise.visible_seed), False)


def test_hidden_inputs_are_fresh_every_time():
    ask = kernel(copy_of(rnn.rnn_forward))
    judge(Call("rnn_forward", "answer"), ask)
    judge(Call("rnn_forward", "answer"), ask)
    first, second = (request["trials"][-1] for request in ask.seen)
    assert first != second


def test_warnings_and_in_place_changes_in_the_kernel_are_named():
    def noisy(x):
        return 1.0 / (1.0 + np.exp(-x))  # overflows for large negative x

    verdict = judge(Call("sigmoid", "answer"), kernel(noisy))
    assert "RuntimeWarning" in verdict.message and "overflow" in verdict.message

    def clips_in_place(grads, max_norm):
        norm = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
        for g in grads.values():
            g *= min(1.0, max_norm / max(norm, 1e-12))
        return grads, norm

    verdict = judge(Call("clip_grad_norm", "answer"), kernel(clips_in_place))
    assert verdict.outcome == "failed" and "in place" in verdict.message


def test_not_attempted_missing_and_not_a_function():
    def stub(*args):
        raise NotImplementedError()

    assert judge(Call("relu", "answer"), kernel(stub)).outcome == "not attempted"
    assert judge(Call("relu", "answer"), kernel(None)).outcome == "missing"
    verdict = judge(Call("relu", "answer"), kernel(42))
    assert verdict.outcome == "failed" and "should be a function" in verdict.message


def test_an_error_in_the_answer_is_reported_with_its_type():
    def broken(x):
        raise ValueError("shapes do not match")

    verdict = judge(Call("relu", "answer"), kernel(broken))
    assert verdict.outcome == "failed" and "ValueError: shapes do not match" in verdict.message


@pytest.mark.parametrize("reply", [
    {"something": "else"},                            # none of the expected keys
    {"outcomes": "lots"},                             # not a list
    {"outcomes": [{"result": {"A": ["object", [1], "AAAAAAAAAAA="]}}] * 40},  # an object array
    {"outcomes": [{"result": {"P": "cos\nsystem\n(S'id'\ntR."}}] * 40},       # a pickle
    {"outcomes": [{"changed": [[["no", "such"], {"L": []}]], "result": 1}] * 40},
    {"outcomes": [{"warnings": [["NoSuchWarning", "x"]], "result": {"T": [0, 0]}}] * 40},
])
def test_garbage_from_a_kernel_fails_the_answer_and_never_the_grader(reply):
    def ask(kind, trials):
        if isinstance(reply.get("outcomes"), list):
            return {"outcomes": reply["outcomes"][: len(trials)]}
        return reply

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may leak out as a warning either
        verdict = judge(Call("relu", "answer"), ask)
    assert verdict.outcome == "failed", verdict


def test_kernel_trouble_fails_the_answer_with_its_reason():
    def ask(kind, trials):
        raise verdicts.KernelTrouble("the kernel was killed by SIGKILL")

    verdict = judge(Call("relu", "answer"), ask)
    assert verdict.outcome == "failed" and "SIGKILL" in verdict.message


def test_a_prediction_is_judged_only_by_the_hidden_tests():
    question = exercises.Exercise(
        name="toy_prediction", kind="value", prediction=True, make_inputs=exercises._core.no_inputs,
        reference=lambda: 0.9 ** 20, outputs=exercises.returns("fraction"), rtol=0.02,
        mistakes=[exercises.Mistake("that is 0.9 ** 19: count the steps again.", lambda: 0.9 ** 19)])
    exercises.EXERCISES["toy_prediction"] = question
    try:
        exercises._core.check_form(question, lambda: 0.5)  # the visible check accepts any number
        with pytest.raises(exercises.CheckFailed):
            exercises._core.check_form(question, lambda: "a lot")
        assert judge(Call("toy_prediction", "fraction"), kernel(0.9 ** 20, "fraction")).passed
        verdict = judge(Call("toy_prediction", "fraction"), kernel(0.9 ** 19, "fraction"))
        assert verdict.outcome == "failed" and "count the steps" in verdict.message and verdict.visible_passed
    finally:
        del exercises.EXERCISES["toy_prediction"]


def test_test_plan_reads_the_check_lines_and_refuses_anything_else():
    import nbformat

    def cell(source, grade_id="test_x"):
        c = nbformat.v4.new_code_cell(source)
        c.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": grade_id, "points": 1}
        return c

    nb = nbformat.v4.new_notebook(cells=[cell('check("relu", relu)\n### BEGIN HIDDEN TESTS\n'
                                              'hidden_check("relu", relu)\n### END HIDDEN TESTS\n')])
    assert verdicts.test_plan(nb) == {"test_x": [Call("relu", "relu")]}
    for bad in ('print("ok")', 'check(name, relu)', 'check("relu", lambda x: x)', 'check("no_such", f)'):
        with pytest.raises(verdicts.PlanError):
            verdicts.test_plan(nbformat.v4.new_notebook(cells=[cell(bad)]))
