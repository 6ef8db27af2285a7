"""Chapter 03: gradient norms by lag, the singular-value prediction, gradient
clipping, the clipping experiment, the gradient-flow widget and the exercises.

Expected values come from independent computations: finite differences of
h_T with respect to h_t through a tanh step written here, a flattened
concatenation for the global norm, and matrices built with known singular
values.
"""

import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure

from lstm_helpers import exercises
from lstm_helpers.exercises import hidden
from lstm_helpers.experiment import training
from lstm_helpers.viz import plots
from lstm_helpers.exercises._core import CheckFailed
from lstm_helpers.gradients import (
    clip_grad_norm,
    global_norm,
    gradient_norms_by_lag,
    numerical_gradient,
    predict_from_weights,
)
from lstm_helpers.viz.widgets import Curve, GradientFlowApp, default_curves


@pytest.fixture(autouse=True)
def warnings_are_errors():
    """Under nbgrader any warning costs points, so none may escape chapter 03's code."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def random_grads(rng, scale=1.0):
    return {"W_h": scale * rng.standard_normal((4, 7)), "b_h": scale * rng.standard_normal(4),
            "W_y": scale * rng.standard_normal((2, 4)), "b_y": scale * rng.standard_normal(2)}


def flat(grads):
    return np.concatenate([np.ravel(g) for g in grads.values()])


# -- clip_grad_norm ---------------------------------------------------------------------------

@pytest.mark.parametrize("scale,max_norm", [(3.0, 1.0), (3.0, 50.0), (0.01, 1.0), (1e150, 1e140)])
def test_clip_grad_norm_matches_the_norm_of_the_flattened_vector(scale, max_norm):
    grads = random_grads(np.random.default_rng(0), scale)
    before = {k: g.copy() for k, g in grads.items()}
    clipped, total_norm = clip_grad_norm(grads, max_norm)

    vector = flat(before)
    expected_norm = np.linalg.norm(vector)
    assert total_norm == pytest.approx(expected_norm, rel=1e-12)
    assert global_norm(grads) == pytest.approx(expected_norm, rel=1e-12)
    assert set(clipped) == set(grads)
    factor = min(1.0, max_norm / expected_norm)
    np.testing.assert_allclose(flat(clipped), factor * vector, rtol=1e-12)
    assert np.linalg.norm(flat(clipped)) <= max_norm * (1 + 1e-12) or factor == 1.0
    for key in grads:  # the input is untouched and the output holds new arrays
        np.testing.assert_array_equal(grads[key], before[key])
        assert clipped[key] is not grads[key]
        assert not np.shares_memory(clipped[key], grads[key])


def test_clip_grad_norm_keeps_the_direction_and_caps_the_length():
    grads = random_grads(np.random.default_rng(1), 10.0)
    clipped, _ = clip_grad_norm(grads, 2.0)
    a, b = flat(grads), flat(clipped)
    assert np.linalg.norm(b) == pytest.approx(2.0)
    assert a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) == pytest.approx(1.0)


def test_clip_grad_norm_keeps_float32():
    grads = {k: g.astype(np.float32) for k, g in random_grads(np.random.default_rng(2), 5.0).items()}
    clipped, _ = clip_grad_norm(grads, 1.0)
    assert all(g.dtype == np.float32 for g in clipped.values())


def test_clip_grad_norm_of_a_zero_gradient_is_zero_without_dividing():
    grads = {"W_h": np.zeros((3, 5)), "b_h": np.zeros(3)}
    clipped, total_norm = clip_grad_norm(grads, 1.0)  # a division by zero would warn, and warnings are errors here
    assert total_norm == 0.0
    assert all(not np.any(g) for g in clipped.values())


@pytest.mark.parametrize("max_norm", [0, 0.0, -1.0, float("nan"), None, "1"])
def test_clip_grad_norm_rejects_a_bad_threshold(max_norm):
    with pytest.raises(ValueError, match="max_norm must be a positive number"):
        clip_grad_norm({"W_h": np.ones((2, 3))}, max_norm)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_clip_grad_norm_names_the_key_holding_nan_or_inf(bad):
    grads = random_grads(np.random.default_rng(3))
    grads["W_y"][1, 2] = bad
    before = {k: g.copy() for k, g in grads.items()}
    with pytest.raises(ValueError, match="'W_y' contains NaN or inf"):
        clip_grad_norm(grads, 1.0)
    for key in grads:
        np.testing.assert_array_equal(grads[key], before[key])


# -- gradient norms by lag ----------------------------------------------------------------------

def tanh_step(h, x_t, W_h, b_h):
    """One tanh-RNN step for one sequence, written here independently of lstm_helpers.rnn."""
    return np.tanh(W_h @ np.concatenate([h, x_t]) + b_h)


def finite_difference_jacobian(x, h_t, t, W_h, b_h, eps=1e-6):
    """dh_T/dh_t for one sequence (x: (T, D)), by central differences of the remaining steps."""
    def run_from(h):
        for k in range(t, len(x)):
            h = tanh_step(h, x[k], W_h, b_h)
        return h

    H = h_t.shape[0]
    jac = np.zeros((H, H))
    for j in range(H):
        e = np.zeros(H)
        e[j] = eps
        jac[:, j] = (run_from(h_t + e) - run_from(h_t - e)) / (2 * eps)
    return jac


def test_gradient_norms_by_lag_match_finite_differences():
    rng = np.random.default_rng(4)
    T, N, D, H = 5, 2, 2, 3
    x = rng.standard_normal((T, N, D))
    h0 = rng.uniform(-0.5, 0.5, (N, H))
    params = {"W_h": 1.3 * rng.standard_normal((H, H + D)), "b_h": 0.2 * rng.standard_normal(H)}
    norms = gradient_norms_by_lag(x, h0, params)
    assert norms.shape == (N, T)

    for n in range(N):
        states = [h0[n]]  # states[t] is h_t
        for k in range(T):
            states.append(tanh_step(states[-1], x[k, n], params["W_h"], params["b_h"]))
        for t in range(T):
            jac = finite_difference_jacobian(x[:, n], states[t], t, params["W_h"], params["b_h"])
            expected = np.linalg.svd(jac, compute_uv=False)[0]
            assert norms[n, t] == pytest.approx(expected, rel=1e-6), (n, t)


def test_gradient_norms_stay_under_the_singular_value_bound():
    rng = np.random.default_rng(5)
    T, N, D, H = 12, 3, 2, 4
    params = {"W_h": rng.standard_normal((H, H + D)), "b_h": rng.standard_normal(H)}
    sigma = np.linalg.svd(params["W_h"][:, :H], compute_uv=False)[0]
    norms = gradient_norms_by_lag(rng.standard_normal((T, N, D)), np.zeros((N, H)), params)
    lags = T - np.arange(T)  # column t is lag T - t
    assert np.all(norms <= sigma ** lags * (1 + 1e-9))


def test_a_linear_rnn_gives_the_norms_of_matrix_powers():
    # with zero inputs, zero bias and h0 = 0 every state is 0 and every slope 1 - h**2 is 1
    rng = np.random.default_rng(6)
    T, D, H = 6, 2, 3
    W_rec = rng.standard_normal((H, H))
    params = {"W_h": np.concatenate([W_rec, rng.standard_normal((H, D))], axis=1), "b_h": np.zeros(H)}
    norms = gradient_norms_by_lag(np.zeros((T, 1, D)), np.zeros((1, H)), params)
    for t in range(T):
        expected = np.linalg.norm(np.linalg.matrix_power(W_rec, T - t), ord=2)
        assert norms[0, t] == pytest.approx(expected, rel=1e-10)


# -- predict_from_weights -----------------------------------------------------------------------

def with_singular_values(rng, values, D=3, input_scale=100.0):
    """W_h whose recurrent block has exactly the given singular values (and a huge input block)."""
    H = len(values)
    u, _ = np.linalg.qr(rng.standard_normal((H, H)))
    v, _ = np.linalg.qr(rng.standard_normal((H, H)))
    return np.concatenate([u @ np.diag(values) @ v.T, input_scale * rng.standard_normal((H, D))], axis=1)


@pytest.mark.parametrize("values,activation,verdict", [
    ([0.9, 0.5, 0.1], "tanh", "vanishes"),
    ([1.1, 0.5, 0.1], "tanh", "may explode"),
    ([1.1, 0.5, 0.1], "sigmoid", "vanishes"),  # the sigmoid's threshold is 1/gamma = 4
    ([3.9, 3.0, 0.2], "sigmoid", "vanishes"),
    ([4.5, 1.0, 0.2], "sigmoid", "may explode"),
])
def test_predict_from_weights_on_constructed_matrices(values, activation, verdict):
    W_h = with_singular_values(np.random.default_rng(7), values)
    sigma, got = predict_from_weights(W_h, activation)
    assert sigma == pytest.approx(values[0], rel=1e-12)
    assert got == verdict


def test_predict_from_weights_uses_the_singular_value_not_the_eigenvalue():
    # eigenvalues 0.5 and 0.5, but the matrix stretches (0, 1) by about 2.1
    W_h = np.array([[0.5, 2.0, 0.0], [0.0, 0.5, 0.0]])
    sigma, verdict = predict_from_weights(W_h)
    assert np.max(np.abs(np.linalg.eigvals(W_h[:, :2]))) == pytest.approx(0.5)
    # sigma_max**2 is the largest eigenvalue of W_rec.T @ W_rec = [[0.25, 1], [1, 4.25]]
    trace, det = 4.5, 0.25 * 4.25 - 1.0
    assert sigma == pytest.approx(np.sqrt((trace + np.sqrt(trace ** 2 - 4 * det)) / 2))
    assert verdict == "may explode"


def test_a_vanishing_verdict_is_a_guarantee():
    rng = np.random.default_rng(8)
    T, N, D, H = 30, 4, 3, 5
    W_h = with_singular_values(rng, [0.95, 0.6, 0.4, 0.3, 0.1], D=D, input_scale=1.0)
    assert predict_from_weights(W_h)[1] == "vanishes"
    norms = gradient_norms_by_lag(3 * rng.standard_normal((T, N, D)), rng.uniform(-1, 1, (N, H)),
                                  {"W_h": W_h, "b_h": rng.standard_normal(H)})
    assert np.all(norms[:, 0] <= 0.95 ** T)


def test_predict_from_weights_rejects_bad_arguments():
    with pytest.raises(ValueError, match="activation must be one of"):
        predict_from_weights(np.eye(2, 3), "relu")
    with pytest.raises(ValueError, match=r"expected \(H, H \+ D\)"):
        predict_from_weights(np.ones((3, 2)))


# -- training pieces and the clipping experiment ------------------------------------------------

def test_mse_loss_gradient_matches_finite_differences():
    rng = np.random.default_rng(9)
    y, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    loss, dy = training.mse_loss(y, target)
    assert loss == pytest.approx(np.mean((y - target) ** 2))
    np.testing.assert_allclose(dy, numerical_gradient(lambda: training.mse_loss(y, target)[0], y), rtol=1e-6)


def test_sgd_step_returns_new_parameters():
    params = {"W": np.ones((2, 2)), "b": np.zeros(2)}
    new = training.sgd_step(params, {"W": np.full((2, 2), 2.0), "b": np.ones(2)}, lr=0.5)
    np.testing.assert_array_equal(new["W"], np.zeros((2, 2)))
    np.testing.assert_array_equal(new["b"], np.full(2, -0.5))
    np.testing.assert_array_equal(params["W"], np.ones((2, 2)))
    with pytest.raises(ValueError, match="missing 'b'"):
        training.sgd_step(params, {"W": params["W"]}, lr=0.1)


def test_rnn_regression_loss_gradients_match_finite_differences():
    rng = np.random.default_rng(10)
    x, target = training.make_recall_task(rng, n_sequences=3, seq_len=4)
    params = {"W_h": rng.standard_normal((3, 5)), "b_h": rng.standard_normal(3),
              "W_y": rng.standard_normal((2, 3)), "b_y": rng.standard_normal(2)}
    _, grads = training.rnn_regression_loss(params, x, target)
    for key, value in params.items():
        numeric = numerical_gradient(lambda: training.rnn_regression_loss(params, x, target)[0], value)
        np.testing.assert_allclose(grads[key], numeric, rtol=1e-5, atol=1e-8, err_msg=key)


def test_without_clipping_the_loss_spikes_far_above_the_clipped_run():
    runs = training.clipping_experiment(np.random.default_rng(0))  # the notebook's experiment
    unclipped, clipped = runs["unclipped"], runs["clipped"]
    assert np.nanmax(unclipped.loss) > 100 * np.nanmax(clipped.loss)
    assert np.nanmax(unclipped.grad_norm) > 100 * np.nanmax(clipped.grad_norm[:5])
    assert clipped.loss[-1] < 0.1 * clipped.loss[0]  # and the clipped run learns
    assert clipped.loss[-1] < unclipped.loss[~np.isnan(unclipped.loss)][-1]
    assert not clipped.diverged


def test_a_diverging_run_stops_and_is_flagged_without_warnings():
    rng = np.random.default_rng(11)
    x, target = training.make_recall_task(rng, n_sequences=8, seq_len=6)
    params = {"W_h": rng.standard_normal((4, 6)), "b_h": np.zeros(4),
              "W_y": rng.standard_normal((2, 4)), "b_y": np.zeros(2)}
    run = training.train_rnn(params, x, target, lr=1e3, steps=50)
    assert run.diverged and 0 < run.diverged_at < 50
    assert np.all(np.isfinite(run.loss[:run.diverged_at]))
    assert np.all(np.isnan(run.loss[run.diverged_at:]))


# -- plots ----------------------------------------------------------------------------------------

def test_plots_draw_without_warnings():
    runs = {"unclipped": training.TrainingRun(np.array([1.0, 50.0, np.nan]), np.array([1.0, 9.0, np.nan]), 2),
            "clipped": training.TrainingRun(np.array([1.0, 0.5, 0.2]), np.array([1.0, 2.0, 0.5]))}
    figures = [plots.short_gap(), plots.long_gap(),
               plots.gradient_norm_vs_lag(sigmas=(0.5, 1.5), seq_len=8, n_sequences=2),
               plots.tanh_saturation(input_scales=(0.5, 2.0), seq_len=8, n_sequences=2),
               plots.clipping_loss_curves(runs, max_norm=1.0)]
    for fig in figures:
        assert isinstance(fig, Figure)
        fig.canvas.draw()


def test_gradient_norm_plot_draws_the_given_norm_function():
    calls = []

    def norm_fn(x, h0, params):
        calls.append(x.shape)
        return gradient_norms_by_lag(x, h0, params)

    fig = plots.gradient_norm_vs_lag(sigmas=(0.5, 1.0, 2.0), seq_len=7, n_sequences=3, norm_fn=norm_fn)
    assert calls == [(7, 3, 4)] * 3
    lines = fig.axes[0].get_lines()
    assert [len(line.get_ydata()) for line in lines[:3]] == [7, 7, 7]


# -- the widget -----------------------------------------------------------------------------------

def test_gradient_widget_redraws_when_each_slider_moves():
    app = GradientFlowApp()
    line = app.lines["rnn"]
    first_png = app.image.value
    y_start = np.array(line.get_ydata(), dtype=float).copy()

    app.controls["sigma_max"].value = 2.0
    y_sigma = np.array(line.get_ydata(), dtype=float).copy()
    assert not np.allclose(y_sigma, y_start, equal_nan=True)
    assert app.image.value != first_png
    np.testing.assert_allclose(app.lines["bound"].get_ydata(), 2.0 ** np.arange(1, 41))
    assert "σ_max = 2.00" in app.title.get_text() and "may explode" in app.title.get_text()

    app.controls["input_scale"].value = 2.5
    assert not np.allclose(np.array(line.get_ydata(), dtype=float), y_sigma, equal_nan=True)

    app.controls["seq_len"].value = 12
    np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 13))
    x, h0, params = app.setting.rnn(app.values)  # the plotted curve is the median norm at each lag
    expected = np.median(gradient_norms_by_lag(x, h0, params)[:, ::-1], axis=0)
    np.testing.assert_allclose(app.curve_data["rnn"], expected)
    assert app.status.value == ""


def test_gradient_widget_takes_extra_curves_with_their_own_sliders():
    import ipywidgets

    class ForgetCurve(Curve):
        key, label = "cell", "cell state: $f^k$"

        def make_controls(self):
            return {"forget": ipywidgets.FloatSlider(value=0.9, min=0.5, max=1.0)}

        def compute(self, values, setting):
            return values["forget"] ** np.arange(1, values["seq_len"] + 1)

    app = GradientFlowApp(curves=default_curves() + [ForgetCurve()])
    assert set(app.lines) == {"rnn", "bound", "cell"}
    app.controls["forget"].value = 0.7
    np.testing.assert_allclose(app.lines["cell"].get_ydata(), 0.7 ** np.arange(1, 41))

    class Clash(ForgetCurve):
        key = "clash"

        def make_controls(self):
            return {"seq_len": ipywidgets.IntSlider()}

    with pytest.raises(ValueError, match="reuses control names"):
        GradientFlowApp(curves=[Clash()])


def test_gradient_widget_reports_a_failing_norm_function_and_keeps_going():
    def broken(x, h0, params):
        raise NotImplementedError()

    app = GradientFlowApp(norm_fn=broken)
    assert "NotImplementedError" in app.status.value
    app.controls["sigma_max"].value = 1.5  # still redraws the other curves
    np.testing.assert_allclose(app.lines["bound"].get_ydata(), 1.5 ** np.arange(1, 41))


# -- the checks -------------------------------------------------------------------------------------

def test_clip_check_explains_a_division_by_zero_at_norm_zero():
    def divides_by_zero(grads, max_norm):
        total = np.sqrt(sum(np.sum(g ** 2) for g in grads.values()))
        scale = min(1.0, max_norm / total)  # warns when every gradient is zero
        return {k: g * scale for k, g in grads.items()}, total

    def divides_by_python_zero(grads, max_norm):
        total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
        scale = min(1.0, max_norm / total)  # ZeroDivisionError when every gradient is zero
        return {k: g * scale for k, g in grads.items()}, total

    for answer, symptom in [(divides_by_zero, "divide by zero"), (divides_by_python_zero, "ZeroDivisionError")]:
        with pytest.raises(CheckFailed, match=f"{symptom}.*every gradient is zero, so total_norm is 0"):
            exercises.check("clip_grad_norm", answer)


def test_clip_check_catches_an_answer_that_scales_the_input_in_place():
    def in_place(grads, max_norm):
        total = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
        if total > max_norm:
            for g in grads.values():
                g *= max_norm / total
        return dict(grads), total

    with pytest.raises(CheckFailed, match=r"changed its input 'grads' \(grads\['W_h'\]\) in place"):
        exercises.check("clip_grad_norm", in_place)


def test_prediction_check_shows_a_wrong_word():
    def misspelt(W_h, activation="tanh"):
        H = W_h.shape[0]
        sigma = float(np.linalg.svd(W_h[:, :H], compute_uv=False)[0])
        return sigma, "vanish" if sigma < 1 else "may explode"

    with pytest.raises(CheckFailed, match="verdict is 'vanish' where 'vanishes' was expected"):
        exercises.check("predict_from_weights", misspelt)
    with pytest.raises(CheckFailed, match="verdict should be one of the words the question offers, not bool"):
        exercises.check("predict_from_weights", lambda W_h, activation="tanh": (1.0, True))


def test_gradient_norm_check_blocks_the_reference():
    with pytest.raises(AssertionError, match="calls the course's reference"):
        hidden.hidden_check("gradient_norms_by_lag", lambda *args: gradient_norms_by_lag(*args))
    # the reference works again afterwards
    assert gradient_norms_by_lag(np.zeros((2, 1, 1)), np.zeros((1, 2)), {"W_h": np.eye(2, 3), "b_h": np.zeros(2)}).shape == (1, 2)
