"""Chapters 01-04: the questions' right answers by independent methods, the derivation exercises'
feedback, and the free-response answers (model answer and rubric only in the source notebook).

The generic tests (test_checks.py) already run every exercise's reference and every known mistake,
visible and hidden. Here each question's answer, which the exercise module computes by a formula or
by the course's code, is computed a second way: by central differences, by running the experiment
the notebook runs, or by brute force.
"""

import re
from itertools import permutations

import nbformat
import numpy as np
import pytest
from conftest import ROOT, grade_cell

from lstm_helpers import exercises, feedforward
from lstm_helpers.classroom import course
from lstm_helpers.exercises._core import CheckFailed, run_exercise
from lstm_helpers.exercises.hidden import hidden_check
from lstm_helpers.gradients import numerical_gradient

MY_CHAPTERS = ["01_feedforward", "02_rnn", "03_long_term_dependencies", "04_lstm"]


def answer(name):
    """The right answer of question ``name`` as the exercise module computes it."""
    exercise = exercises.EXERCISES[name]
    assert exercise.kind == "value"
    return exercise.reference()


def slope_by_central_differences(fn, x, eps=1e-5):
    return (fn(x + eps) - fn(x - eps)) / (2 * eps)


# -- chapter 01 ------------------------------------------------------------------------------------

def test_max_slopes_are_the_largest_slopes_on_a_fine_grid():
    x = np.linspace(-8, 8, 16001)
    sigmoid_slope, tanh_slope = answer("max_slopes")
    assert np.isclose(slope_by_central_differences(feedforward.sigmoid, x).max(), sigmoid_slope, rtol=1e-6)
    assert np.isclose(slope_by_central_differences(np.tanh, x).max(), tanh_slope, rtol=1e-6)


def test_slip_relative_error_is_what_the_demo_prints():
    """The notebook's gradient check, run with dW averaged over the batch."""
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    g = rng.standard_normal((3, 5))

    def loss():
        return np.sum(feedforward.dense_forward(x, W, b)[0] * g)

    _, dW, _ = feedforward.dense_backward(g, feedforward.dense_forward(x, W, b)[1])
    numeric = numerical_gradient(loss, W)
    printed = np.abs(dW / len(x) - numeric).max() / np.abs(numeric).max()
    assert np.isclose(printed, answer("slip_relative_error"), rtol=1e-6)


def test_distinct_outputs_counts_what_a_hand_written_reader_gives():
    """The reader written out with NumPy alone, summing the words with np.sum in each order."""
    rng = np.random.default_rng(1)
    vectors = {word: rng.standard_normal(8) for word in ["dog", "bites", "man"]}
    W1, b1 = rng.standard_normal((6, 8)), rng.standard_normal(6)
    W2, b2 = rng.standard_normal((1, 6)), rng.standard_normal(1)
    outputs = {round(float(np.maximum(np.sum([vectors[w] for w in order], axis=0) @ W1.T + b1, 0) @ W2[0]
                           + b2[0]), 9) for order in permutations(vectors)}
    assert len(outputs) == answer("distinct_outputs") == 1
    # the same words with their positions kept (concatenated, not added) tell every order apart
    W_pos = rng.standard_normal((6, 24))
    positional = {round(float(np.maximum(np.concatenate([vectors[w] for w in order]) @ W_pos.T + b1, 0) @ W2[0]), 9)
                  for order in permutations(vectors)}
    assert len(positional) == 6


# -- every chapter: the questions and the free-response answers --------------------------------------

def _cells(chapter, folder):
    path = course.source_notebook(ROOT, chapter) if folder == "source" else course.release_notebook(ROOT, chapter)
    return nbformat.read(path, as_version=4).cells


@pytest.mark.parametrize("chapter", MY_CHAPTERS)
def test_every_question_cell_starts_from_the_placeholder(chapter):
    """A question's answer cell names its variable and starts at `name = ...`, so that an untouched
    release raises NotImplementedError in the test cell, as an unwritten function does."""
    names = [n for n in exercises.CHAPTERS[chapter] if exercises.EXERCISES[n].kind == "value"]
    assert names, f"{chapter} has no question"
    released = {grade_cell(c).get("grade_id"): c.source for c in _cells(chapter, "release")}
    for name in names:
        test_source = released[f"test_{name}"]
        variable = re.match(r'check\("\w+", (\w+)\)', test_source).group(1)
        assert re.search(rf"^{variable} = \.\.\.$", released[name], re.M), (chapter, name)
        with pytest.raises(NotImplementedError, match="not answered yet"):
            exercises.check(name, ...)


@pytest.mark.parametrize("chapter", MY_CHAPTERS)
def test_free_response_answers_have_a_rubric_that_the_release_strips(chapter):
    source = [c for c in _cells(chapter, "source") if grade_cell(c).get("solution") and grade_cell(c).get("grade")]
    assert 1 <= len(source) <= 2, f"{chapter}: one or two reflections per chapter"
    released = {grade_cell(c).get("grade_id"): c for c in _cells(chapter, "release")}
    for cell in source:
        meta = grade_cell(cell)
        assert cell.cell_type == "markdown" and meta["points"] > 0
        assert "**Model answer.**" in cell.source and f"**Rubric ({meta['points']:g} point" in cell.source
        student = released[meta["grade_id"]]
        assert student.cell_type == "markdown" and student.source.strip() == "YOUR ANSWER HERE", meta["grade_id"]


@pytest.mark.parametrize("name", [n for c in MY_CHAPTERS for n in exercises.CHAPTERS[c]
                                  if exercises.EXERCISES[n].prediction])
def test_a_prediction_is_graded_only_by_the_hidden_tests(name, capsys):
    """Before the plot: any answer of the right form passes the visible check; the hidden test grades."""
    exercise = exercises.EXERCISES[name]
    right = exercise.reference()
    wrong = exercise.mistakes[0].compute()
    exercises.check(name, wrong)
    assert "your answer is recorded" in capsys.readouterr().out
    with pytest.raises(AssertionError, match=re.escape(exercise.mistakes[0].message)):
        hidden_check(name, wrong)
    hidden_check(name, right)
    parts = right if isinstance(right, tuple) else (right,)
    wrong_form = tuple(1.0 if isinstance(part, str) else "a word" for part in parts)
    with pytest.raises(CheckFailed, match="answer with"):
        run_exercise(exercise, wrong_form if isinstance(right, tuple) else wrong_form[0])
