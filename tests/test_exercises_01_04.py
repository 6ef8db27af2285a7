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


# -- chapter 02 ------------------------------------------------------------------------------------

def test_rnn_parameter_count_is_the_size_of_real_parameters():
    from lstm_helpers import rnn

    params = rnn.init_rnn_params(D=8, H=6, rng=np.random.default_rng(0))
    assert sum(value.size for value in params.values()) == answer("rnn_parameter_count")


def test_index_of_h3_holds_the_state_after_three_cell_steps():
    from lstm_helpers import rnn

    rng = np.random.default_rng(3)
    x, h0 = rng.standard_normal((5, 2, 3)), rng.standard_normal((2, 4))
    params = rnn.init_rnn_params(3, 4, rng)
    h, _ = rnn.rnn_forward(x, h0, params)
    state = h0
    for step in range(3):  # h_1, h_2, h_3, one cell step per input
        state, _ = rnn.rnn_cell_forward(x[step], state, params)
    assert np.array_equal(h[answer("index_of_h3")], state)


def test_distinct_final_states_by_a_hand_written_recurrence():
    from lstm_helpers import rnn

    rng = np.random.default_rng(1)
    vectors = {word: rng.standard_normal(8) for word in ["dog", "bites", "man"]}
    W_h = rnn.init_rnn_params(D=8, H=6, rng=rng, scale=1.0)["W_h"]  # the demo's draw, biases 0
    finals = set()
    for order in permutations(vectors):
        state = np.zeros(6)
        for word in order:
            state = np.tanh(W_h[:, :6] @ state + W_h[:, 6:] @ vectors[word])
        finals.add(tuple(np.round(state, 9)))
    assert len(finals) == answer("distinct_final_states") == 6


def test_dh20_dh0_by_central_differences_through_the_tiny_rnn():
    from lstm_helpers import rnn

    params = {"W_h": np.array([[0.5, 1.0]]), "b_h": np.zeros(1)}
    x, h0 = np.zeros((20, 1, 1)), np.zeros((1, 1))
    numeric = numerical_gradient(lambda: rnn.rnn_forward(x, h0, params)[0][-1].item(), h0)
    assert np.isclose(numeric.item(), answer("dh20_dh0"), rtol=1e-6)


# -- chapter 03 ------------------------------------------------------------------------------------

def _jacobian_norms(x, h0, W_h):
    """||dh_T/dh_t||_2 by a hand-written loop over the steps (no course code), (N, T)."""
    T, N, _ = x.shape
    H = h0.shape[1]
    W_rec, W_in = W_h[:, :H], W_h[:, H:]
    states = [h0]
    for t in range(T):
        states.append(np.tanh(states[-1] @ W_rec.T + x[t] @ W_in.T))
    norms = np.zeros((N, T))
    for n in range(N):
        product = np.eye(H)
        for t in range(T - 1, -1, -1):
            product = product @ (np.diag(1 - states[t + 1][n] ** 2) @ W_rec)
            norms[n, t] = np.linalg.svd(product, compute_uv=False)[0]
    return norms


def test_norm_at_threshold_by_a_hand_written_jacobian_product():
    from lstm_helpers.exercises.long_term_dependencies import THRESHOLD_WORDS
    from lstm_helpers.viz.plots.gradients import orthogonal_rnn

    rng = np.random.default_rng(0)  # plots.gradient_norm_vs_lag's draws
    params = orthogonal_rnn(rng, 4, 16, 1.0)
    x = 0.3 * rng.standard_normal((50, 8, 4))
    at_lag_50 = np.median(_jacobian_norms(x, np.zeros((8, 16)), params["W_h"])[:, 0])
    assert at_lag_50 < 0.1 and answer("norm_at_threshold") == THRESHOLD_WORDS[0]


def test_latch_norm_by_a_hand_written_jacobian_product():
    rng = np.random.default_rng(3)  # the notebook's latch
    x = 0.1 * rng.standard_normal((100, 2, 1))
    x[0, :, 0] = [1.0, -1.0]
    norms = _jacobian_norms(x, np.zeros((2, 1)), np.array([[2.0, 3.0]]))
    assert np.isclose(np.log10(norms[0, -10]), answer("latch_log10_norm_at_lag_10"), atol=1e-9)
    # the estimate the notebook's text makes, ten factors of 2 * (1 - 0.96**2), counts as right
    hidden_check("latch_log10_norm_at_lag_10", 10 * np.log10(2 * (1 - 0.96 ** 2)))


def test_sigmoid_threshold_from_the_sigmoids_steepest_slope():
    x = np.linspace(-6, 6, 12001)
    assert np.isclose(1 / slope_by_central_differences(feedforward.sigmoid, x).max(), answer("sigmoid_threshold"))


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_large_inputs_make_the_gradient_vanish_for_any_draw(seed):
    """The notebook's seed and two others: saturation wins at sigma_max = 1.5 with inputs of scale 2."""
    from lstm_helpers.viz.plots.gradients import orthogonal_rnn

    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((60, 8, 4))
    orthogonal_rnn(rng, 4, 16, sigma_max=0.8)
    params = orthogonal_rnn(rng, 4, 16, sigma_max=1.5)
    assert np.median(_jacobian_norms(2.0 * noise, np.zeros((8, 16)), params["W_h"])[:, 0]) < 1e-3
    assert answer("large_inputs_verdict") == "vanishes"


def test_norm_without_input_is_what_the_slider_app_draws():
    from lstm_helpers.viz.widgets.gradient_flow import FlowSetting, TanhRNNCurve

    setting = FlowSetting.draw(np.random.default_rng(0))
    curve = TanhRNNCurve().compute({"sigma_max": 1.5, "input_scale": 0.0, "seq_len": 40}, setting)
    assert np.isclose(curve[10 - 1], answer("norm_at_lag_10_without_input"), rtol=1e-9)


def test_unclipped_spike_with_a_hand_written_clip():
    from lstm_helpers.exercises.long_term_dependencies import SPIKE_WORDS
    from lstm_helpers.experiment import training

    def clip(grads, max_norm):
        total = float(np.linalg.norm(np.concatenate([g.ravel() for g in grads.values()])))
        return {k: g * min(1.0, max_norm / total) if total else g.copy() for k, g in grads.items()}, total

    runs = training.clipping_experiment(np.random.default_rng(0), lr=0.3, max_norm=1.0, clip_fn=clip)
    ratio = np.nanmax(runs["unclipped"].loss) / np.nanmax(runs["clipped"].loss)
    assert ratio > 100 and answer("unclipped_spike") == SPIKE_WORDS[2]


# -- chapter 04 ------------------------------------------------------------------------------------

def test_lstm_parameter_count_is_the_size_of_real_parameters():
    from lstm_helpers import lstm

    params = lstm.init_lstm_params(3, 5, np.random.default_rng(0))
    assert sum(value.size for value in params.values()) == answer("lstm_parameter_count")


def _slider_run(forget, input, candidate=0.8):
    """The gate sliders' own run (their parameters, spike input and c_0) through the reference cell."""
    from lstm_helpers import lstm
    from lstm_helpers.viz.widgets.gates import gate_params, run_cell, spike_input

    h, c, _ = run_cell(lstm.lstm_cell_forward, spike_input(40, 8), gate_params(forget, input, 1.0, candidate), 0.5)
    return c  # c[0] is c_0, c[t] is c_t


def test_fraction_left_after_20_is_what_the_sliders_show():
    c = _slider_run(forget=0.9, input=0.0)
    assert np.isclose(c[20] / c[0], answer("fraction_left_after_20"), rtol=1e-9)


def test_c_after_write_and_keep_is_what_the_sliders_show():
    from lstm_helpers.viz.widgets.gates import PRESETS

    preset = PRESETS["write and keep"]
    assert np.isclose(_slider_run(preset["forget"], preset["input"])[-1], answer("c_after_write_and_keep"))


def _frozen_cell_memory(b_f, steps, rng):
    """c_T / c_0 of an LSTM whose weights are 0, forget bias b_f (one per unit) and input gate shut,
    run by the reference lstm_forward on random input."""
    from lstm_helpers import lstm

    b_f = np.atleast_1d(np.asarray(b_f, dtype=float))
    H, D = len(b_f), 2
    params = {k: np.zeros(v) for k, v in lstm.lstm_param_shapes(D, H).items()}
    params["b_f"], params["b_i"] = b_f, np.full(H, -100.0)
    c0 = rng.uniform(0.5, 2.0, (1, H))
    _, c, _ = lstm.lstm_forward(rng.standard_normal((int(steps), 1, D)), np.zeros((1, H)), c0, params)
    return c[-1, 0] / c0[0]


def test_fresh_cell_memory_by_running_a_fresh_cell():
    kept = _frozen_cell_memory(1.0, 33, np.random.default_rng(0))  # init_lstm_params' forget bias
    assert np.isclose(kept.item(), answer("fresh_cell_memory"), rtol=1e-9)


@pytest.mark.parametrize("fraction,steps", [(0.5, 33), (0.9, 100), (0.05, 1), (0.3, 250)])
def test_forget_bias_to_keep_keeps_that_fraction_in_a_running_cell(fraction, steps):
    from lstm_helpers.exercises.lstm import forget_bias_to_keep

    b_f = forget_bias_to_keep(np.array([fraction]), np.array([steps]))
    assert np.isclose(_frozen_cell_memory(b_f, steps, np.random.default_rng(steps)).item(), fraction, rtol=1e-9)


def test_lstm_gates_reference_equals_the_cells_own_gates():
    from lstm_helpers import lstm

    rng = np.random.default_rng(7)
    x_t, h_prev, c_prev = rng.standard_normal((3, 2)), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    params = lstm.init_lstm_params(2, 4, rng)
    _, _, cache = lstm.lstm_cell_forward(x_t, h_prev, c_prev, params)
    gates = exercises.EXERCISES["lstm_gates"].reference(cache["hx"], params)
    for got, key in zip(gates, ("f", "i", "c_tilde", "o")):
        assert np.array_equal(got, cache[key])


def test_forget_gate_for_half_at_200_on_the_gradient_views_curve():
    from lstm_helpers.viz.widgets.gates import CellStateCurve

    f = answer("forget_gate_for_half_at_200")
    assert np.isclose(CellStateCurve().compute({"forget": f, "seq_len": 200}, None)[-1], 0.5)
    assert CellStateCurve().compute({"forget": f - 1e-4, "seq_len": 200}, None)[-1] < 0.5


def test_rnn_setting_near_1_by_a_hand_written_jacobian_product():
    from lstm_helpers.viz.widgets.gradient_flow import FlowSetting

    setting = FlowSetting.draw(np.random.default_rng(0), max_len=200)  # GradientView's draws
    H = setting.hidden_size
    for letter, near in (("a", True), ("b", False), ("c", False)):
        sigma, scale = {"a": (1.0, 0.0), "b": (1.0, 1.0), "c": (1.2, 0.3)}[letter]
        W_h = setting.W_h.copy()
        W_h[:, :H] *= sigma
        norms = np.median(_jacobian_norms(scale * setting.noise[:200], np.zeros((4, H)), W_h)[:, ::-1], axis=0)
        assert bool(np.all((norms >= 0.5) & (norms <= 2))) is near, letter
    assert answer("rnn_setting_near_1") == "a"


# Which gradients each named slip of lstm_cell_backward gets wrong: its message says so, and so it must be.
_WRONG = {
    "no_forget_factor": {"dc_prev"},
    "only_incoming_dc": {"dc_prev"},
    "do_without_tanh": {"dx_t", "dh_prev", "dW_o", "db_o"},
    "candidate_sigmoid_grad": {"dx_t", "dh_prev", "dW_c", "db_c"},
    "gates_tanh_grad": {"dx_t", "dh_prev", "dW_f", "db_f", "dW_i", "db_i", "dW_o", "db_o"},
    "no_tanh_path": {"dx_t", "dh_prev", "dc_prev", "dW_f", "db_f", "dW_i", "db_i", "dW_c", "db_c"},
}


@pytest.mark.parametrize("kind", sorted(_WRONG))
def test_lstm_cell_backward_messages_name_the_wrong_gradients(kind):
    from lstm_helpers import lstm
    from lstm_helpers.exercises import lstm as lstm_checks

    rng = np.random.default_rng(8)
    x_t, h_prev, c_prev = rng.standard_normal((3, 2)), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    params = {k: rng.standard_normal(v.shape) for k, v in lstm.init_lstm_params(2, 4, rng).items()}
    _, _, cache = lstm.lstm_cell_forward(x_t, h_prev, c_prev, params)
    dh_t, dc_t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))

    def named(result):
        dx, dh, dc, grads = result
        return {"dx_t": dx, "dh_prev": dh, "dc_prev": dc, **{"d" + k: g for k, g in grads.items()}}

    right = named(lstm.lstm_cell_backward(dh_t, dc_t, cache))
    slip = named(lstm_checks._cell_backward_variant(kind)(dh_t, dc_t, cache))
    wrong = {name for name in right if not np.allclose(slip[name], right[name], rtol=1e-9, atol=1e-12)}
    assert wrong == _WRONG[kind]
    message = next(m.message for m in exercises.EXERCISES["lstm_cell_backward"].mistakes  # the slip's own
                   if all(np.array_equal(named(m.compute(dh_t, dc_t, cache))[k], slip[k]) for k in slip))
    if wrong == {"dc_prev"}:
        assert message.startswith("dc_prev is wrong while every other gradient is right")
    for gate in ("o", "c"):
        if wrong - {"dx_t", "dh_prev"} == {f"dW_{gate}", f"db_{gate}"}:
            assert f"dW_{gate}, db_{gate}" in message


def test_an_unknown_slip_in_one_gate_is_named_by_its_gradient():
    from lstm_helpers import lstm

    def doubled_dW_f(dh_t, dc_t, cache):
        dx_t, dh_prev, dc_prev, grads = lstm.lstm_cell_backward(dh_t, dc_t, cache)
        return dx_t, dh_prev, dc_prev, {**grads, "W_f": 2 * grads["W_f"]}

    with pytest.raises(CheckFailed, match=r"dW_f is wrong while dx_t, dh_prev, dc_prev, db_f, dW_i, db_i"):
        exercises.check("lstm_cell_backward", doubled_dW_f)
