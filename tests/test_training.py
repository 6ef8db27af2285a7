"""Chapter 06's training code: losses and models against central differences,
Adam against an independent implementation, clipping inside the step, early
stopping, divergence, bad settings, the data generators, and the shipped
results file (one of its rows is re-run and must come out the same)."""

import dataclasses
import json
import time
import warnings

import numpy as np
import pytest

from lstm_helpers.experiment import data, runner, training
from lstm_helpers.gradients import clip_grad_norm, global_norm, numerical_gradient

# -- losses --------------------------------------------------------------------------------------

def test_cross_entropy_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    loss, dlogits = training.softmax_cross_entropy(logits, labels)
    numeric = numerical_gradient(lambda: training.softmax_cross_entropy(logits, labels)[0], logits)
    np.testing.assert_allclose(dlogits, numeric, rtol=1e-6, atol=1e-9)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)  # the textbook formula
    assert loss == pytest.approx(-np.mean(np.log(probs[np.arange(5), labels])), rel=1e-12)


def test_cross_entropy_is_stable_for_huge_scores_and_keeps_float32():
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 0.0, 0.0]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, dlogits = training.softmax_cross_entropy(logits, np.array([0, 2]))
    assert dlogits.dtype == np.float32 and np.all(np.isfinite(dlogits))
    assert loss == pytest.approx(np.log(3) / 2, rel=1e-6)  # row 1 is certain and right, row 2 uniform


def test_cross_entropy_rejects_bad_labels():
    with pytest.raises(ValueError, match=r"labels must lie in 0 \.\. 2"):
        training.softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="labels must be 2 integers"):
        training.softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0]))


def test_mse_loss_keeps_float32():
    y = np.ones((4, 1), dtype=np.float32)
    loss, dy = training.mse_loss(y, np.zeros((4, 1), dtype=np.float32))
    assert loss == 1.0 and dy.dtype == np.float32
    np.testing.assert_allclose(dy, 0.5)


@pytest.mark.parametrize("model", list(training.MODELS))
@pytest.mark.parametrize("loss", training.LOSSES)
def test_model_gradients_match_finite_differences(model, loss):
    """Every cell with its read-out on the last state, under both losses (float64)."""
    rng = np.random.default_rng(1)
    T, N, D, H, K = 4, 3, 2, 3, 2
    params = training.init_model(model, D, H, K, rng, dtype=np.float64)
    for key in params:  # nonzero biases and peepholes, so that every term matters
        params[key] = params[key] + 0.3 * rng.standard_normal(params[key].shape)
    x = rng.standard_normal((T, N, D))
    target = rng.standard_normal((N, K)) if loss == "mse" else np.array([0, 1, 1])
    _, grads, _ = training.loss_and_grads(model, params, x, target, loss)
    assert set(grads) == set(params)
    for key, value in params.items():
        numeric = numerical_gradient(lambda: training.loss_and_grads(model, params, x, target, loss)[0], value)
        np.testing.assert_allclose(grads[key], numeric, rtol=1e-5, atol=1e-8, err_msg=f"{model}: d{key}")


@pytest.mark.parametrize("model", list(training.MODELS))
def test_float32_in_float32_out(model):
    rng = np.random.default_rng(2)
    params = training.init_model(model, 2, 4, 1, rng)  # float32 is the default for training
    x, y = data.adding_problem(3, 5, rng, dtype=np.float32)
    loss, grads, prediction = training.loss_and_grads(model, params, x, y)
    assert prediction.dtype == np.float32 and isinstance(loss, float)
    assert {key: g.dtype for key, g in grads.items()} == {key: np.dtype(np.float32) for key in params}


def test_init_model_sets_the_forget_bias_and_the_readout():
    rng = np.random.default_rng(3)
    params = training.init_model("lstm", 2, 5, 3, rng)
    np.testing.assert_array_equal(params["b_f"], np.ones(5, dtype=np.float32))
    assert params["W_y"].shape == (3, 5) and params["b_y"].shape == (3,)
    assert not np.any(training.init_model("lstm", 2, 5, 3, rng, forget_bias=0.0)["b_f"])


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown model 'transformer'; choose one of 'rnn', 'lstm', 'gru'"):
        training.init_model("transformer", 2, 4, 1, np.random.default_rng(0))


# -- Adam ------------------------------------------------------------------------------------------

def test_adam_matches_an_independent_implementation_on_a_quadratic():
    """f(p) = 1/2 sum(a (p - c)^2); a few lines of Adam written out separately, step by step."""
    rng = np.random.default_rng(4)
    a, c = rng.uniform(0.1, 10.0, 6), rng.standard_normal(6)
    params = {"p": np.zeros(6)}
    state = training.adam_init(params)
    p, m, v = np.zeros(6), np.zeros(6), np.zeros(6)
    lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-8
    for t in range(1, 301):
        params, state = training.adam_step(params, {"p": a * (params["p"] - c)}, state, lr)
        g = a * (p - c)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        np.testing.assert_allclose(params["p"], p, rtol=1e-12, atol=1e-14)
    assert state["t"] == 300
    np.testing.assert_allclose(params["p"], c, atol=0.02)  # and it found the minimum


def test_adam_leaves_its_inputs_alone_and_keeps_float32():
    params = {"w": np.ones(3, dtype=np.float32)}
    state = training.adam_init(params)
    new, new_state = training.adam_step(params, {"w": np.full(3, 2.0, dtype=np.float32)}, state, lr=0.1)
    assert state["t"] == 0 and not state["m"]["w"].any() and np.all(params["w"] == 1)
    assert new["w"].dtype == np.float32 and new_state["t"] == 1
    np.testing.assert_allclose(new["w"], 0.9, rtol=1e-6)  # the first step is lr * sign(g)


# -- the exercise's reference: one step with clipping --------------------------------------------

def _lstm_problem(seed=5, T=6, N=4, H=3):
    rng = np.random.default_rng(seed)
    params = training.init_model("lstm", 2, H, 1, rng, dtype=np.float64)
    x, y = data.adding_problem(N, T, rng)
    return params, x, y


def test_train_step_is_forward_loss_backward_clip_update():
    params, x, y = _lstm_problem()
    _, grads, _ = training.loss_and_grads("lstm", params, x, y, "mse")
    norm = global_norm(grads)
    for max_norm in (0.25 * norm, 4.0 * norm):
        new = training.train_step(params, x, y, lr=0.3, max_norm=max_norm)
        clipped, _ = clip_grad_norm(grads, max_norm)
        for key in params:
            np.testing.assert_allclose(new[key], params[key] - 0.3 * clipped[key], rtol=1e-12, atol=1e-15)
    # clipping is in the step: a tight threshold caps the length of the whole update at lr * max_norm
    step = {key: value - params[key] for key, value in training.train_step(params, x, y, 0.3, 1e-3).items()}
    assert global_norm(step) == pytest.approx(0.3 * 1e-3, rel=1e-9)


def test_train_step_lowers_the_loss_and_changes_nothing_in_place():
    params, x, y = _lstm_problem(seed=6)
    before = {key: value.copy() for key, value in params.items()}
    losses = []
    for _ in range(30):
        losses.append(training.loss_and_grads("lstm", params, x, y)[0])
        params = training.train_step(params, x, y, lr=0.5, max_norm=1.0)
    assert losses[-1] < 0.5 * losses[0]
    params, x, y = _lstm_problem(seed=6)
    training.train_step(params, x, y, lr=0.5, max_norm=1.0)
    assert all(np.array_equal(params[key], before[key]) for key in params)


# -- the training loop -----------------------------------------------------------------------------

def test_defaults_are_the_documented_settings():
    import inspect

    defaults = {k: p.default for k, p in inspect.signature(runner.train).parameters.items()}
    assert {key: defaults[key] for key in runner.DEFAULTS} == runner.DEFAULTS


def test_early_stopping_once_the_held_out_set_is_solved():
    run = runner.train("lstm", "adding", 10, rng=np.random.default_rng(0), max_steps=2000, progress=False)
    assert run.solved and run.stopped == "solved"
    assert run.steps == run.steps_to_solve < 2000
    assert run.steps_to_solve % runner.DEFAULTS["eval_every"] == 0
    assert run.final_accuracy >= 0.95 and np.all(run.eval_accuracy[:-1] < 0.95)
    assert len(run.loss) == run.steps and run.params["W_f"].dtype == np.float32


def test_a_tiny_training_run_lowers_the_loss_below_the_baseline():
    run = runner.train("lstm", "adding", 6, rng=np.random.default_rng(1), max_steps=150, eval_every=50,
                           n_eval=200, stop_when_solved=False, progress=False)
    assert run.steps == 150 and run.stopped == "steps"
    first, last = np.mean(run.loss[:10]), np.mean(run.loss[-20:])
    assert last < 0.5 * first and last < 1 / 6  # well below always predicting 1


@pytest.mark.parametrize("model", list(training.MODELS))
def test_every_model_trains_on_both_tasks(model):
    for task in runner.TASKS:
        run = runner.train(model, task, 3, rng=np.random.default_rng(2), hidden_size=4, batch_size=4,
                               max_steps=3, eval_every=2, n_eval=5, progress=False)
        assert run.steps == 3 and list(run.eval_steps) == [2, 3] and np.all(np.isfinite(run.loss))


def test_equal_seeds_give_equal_runs():
    kwargs = {"max_steps": 20, "eval_every": 10, "n_eval": 50, "progress": False}
    a = runner.train("gru", "adding", 8, rng=np.random.default_rng(7), **kwargs)
    b = runner.train("gru", "adding", 8, rng=np.random.default_rng(7), **kwargs)
    np.testing.assert_array_equal(a.loss, b.loss)
    np.testing.assert_array_equal(a.eval_accuracy, b.eval_accuracy)
    assert all(np.array_equal(a.params[key], b.params[key]) for key in a.params)


def test_every_model_sees_the_same_data_for_the_same_seed(monkeypatch):
    """The held-out set and the batches have their own random streams, whatever the model's size."""
    task, seen = runner.TASKS["adding"], {}

    def recording(model):
        def sample(n, lag, rng, dtype):
            x, y = task.sample(n, lag, rng, dtype)
            seen.setdefault(model, []).append(x)
            return x, y
        return dataclasses.replace(task, sample=sample)

    for model in ("rnn", "lstm", "gru"):
        monkeypatch.setitem(runner.TASKS, "adding", recording(model))
        runner.train(model, "adding", 8, rng=np.random.default_rng(7), max_steps=5, eval_every=5, n_eval=10,
                         progress=False)
    assert [len(seen[m]) for m in ("rnn", "lstm", "gru")] == [6, 6, 6]  # the held-out set, then 5 batches
    for rnn_x, lstm_x, gru_x in zip(seen["rnn"], seen["lstm"], seen["gru"]):
        np.testing.assert_array_equal(rnn_x, lstm_x)
        np.testing.assert_array_equal(rnn_x, gru_x)


def test_the_progress_bar_shows_loss_and_accuracy(capsys):
    runner.train("rnn", "adding", 4, rng=np.random.default_rng(0), max_steps=20, eval_every=10, n_eval=20)
    err = capsys.readouterr().err  # outside Jupyter tqdm.auto writes text to stderr
    assert "rnn adding lag 4" in err and "loss=" in err and "held-out acc=" in err and "20/20" in err


def test_a_time_budget_stops_the_run():
    run = runner.train("lstm", "adding", 20, rng=np.random.default_rng(0), max_steps=10_000,
                           time_budget=0.2, progress=False)
    assert run.stopped == "time" and 0 < run.steps < 10_000 and not run.solved


@pytest.mark.parametrize("time_budget", [None, 60.0])
def test_the_environment_variable_caps_the_time_budget(monkeypatch, time_budget):
    monkeypatch.setenv(runner.TIME_CAP_VARIABLE, "0.2")
    started = time.perf_counter()
    run = runner.train("lstm", "adding", 20, rng=np.random.default_rng(0), max_steps=10_000,
                           time_budget=time_budget, progress=False)
    assert run.stopped == "time" and run.settings["time_budget"] == 0.2
    assert time.perf_counter() - started < 30  # far from the 60 s the caller asked for


def test_the_cap_never_lengthens_a_shorter_budget(monkeypatch):
    monkeypatch.setenv(runner.TIME_CAP_VARIABLE, "100")
    run = runner.train("rnn", "adding", 5, rng=np.random.default_rng(0), max_steps=3, time_budget=2.5,
                           progress=False)
    assert run.settings["time_budget"] == 2.5


@pytest.mark.parametrize("value", ["soon", "0", "-3", "nan", "inf"])
def test_a_bad_cap_names_the_variable(monkeypatch, value):
    monkeypatch.setenv(runner.TIME_CAP_VARIABLE, value)
    with pytest.raises(ValueError, match=f"{runner.TIME_CAP_VARIABLE} must be a positive number of seconds"):
        runner.train("rnn", "adding", 5, rng=np.random.default_rng(0), max_steps=3, progress=False)


def test_divergence_stops_at_once_with_advice_and_without_warnings(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any NumPy warning would fail the test
        with pytest.raises(runner.TrainingDiverged) as failure:
            runner.train("lstm", "adding", 5, rng=np.random.default_rng(0), lr=1e30, max_steps=500)
    message = str(failure.value)
    assert "NaN or infinite" in message and "smaller learning rate than lr=1e+30" in message
    assert "max_norm" in message
    step = int(message.split("step ")[1].split(":")[0])
    assert step < 10  # it stopped at once instead of carrying on
    err = capsys.readouterr().err
    assert "nan" not in err.lower().replace("nan or", "")  # the bar never showed a NaN loss
    with pytest.raises(runner.TrainingDiverged, match="clip the gradients, for example with max_norm=1.0"):
        runner.train("lstm", "adding", 5, rng=np.random.default_rng(0), lr=1e30, max_norm=None,
                         progress=False)


@pytest.mark.parametrize("kwargs,match", [
    ({"lag": 1}, r"lag must be a whole number >= 2"),
    ({"lag": 2.5}, r"lag must be a whole number >= 2"),
    ({"batch_size": 0}, r"batch_size must be a whole number of sequences >= 1, got 0"),
    ({"model": "lsmt"}, r"unknown model 'lsmt'; choose one of 'rnn', 'lstm', 'gru', 'peephole', 'cifg'"),
    ({"task": "copy"}, r"unknown task 'copy'; choose one of 'adding', 'language'"),
    ({"lr": 0}, r"lr must be a positive number, got 0"),
    ({"max_norm": -1.0}, r"max_norm must be a positive number \(or None for no clipping\)"),
    ({"time_budget": 0}, r"time_budget must be a positive number \(or None for no time limit\)"),
    ({"max_steps": 0}, r"max_steps must be a whole number >= 1"),
    ({"dtype": np.int32}, r"dtype must be np.float32 or np.float64"),
    ({"rng": 0}, r"rng must be a numpy Generator"),
])
def test_bad_settings_say_what_is_allowed(kwargs, match):
    settings = {"model": "lstm", "task": "adding", "lag": 10, "rng": np.random.default_rng(0), "max_steps": 5,
                "progress": False}
    settings.update(kwargs)
    with pytest.raises(ValueError, match=match):
        runner.train(**settings)


# -- the data --------------------------------------------------------------------------------------

def test_adding_problem_has_one_marker_in_each_half_and_sums_them():
    rng = np.random.default_rng(8)
    for T in (2, 3, 10, 51):
        x, y = data.adding_problem(500, T, rng)
        values, markers = x[:, :, 0], x[:, :, 1]
        assert x.shape == (T, 500, 2) and y.shape == (500, 1)
        assert set(np.unique(markers)) <= {0.0, 1.0}
        assert np.all(markers.sum(axis=0) == 2)
        half = T // 2
        assert np.all(markers[:half].sum(axis=0) == 1) and np.all(markers[half:].sum(axis=0) == 1)
        assert np.all((values >= 0) & (values <= 1))
        np.testing.assert_allclose(y[:, 0], (values * markers).sum(axis=0), rtol=1e-12)


def test_adding_baseline_is_about_one_sixth():
    """y - 1 is triangular on [-1, 1]: E[(y - 1)^2] = 1/6, Var[(y - 1)^2] = 1/15 - 1/36."""
    n = 20_000
    _, y = data.adding_problem(n, 20, np.random.default_rng(9))
    tolerance = 5 * np.sqrt((1 / 15 - 1 / 36) / n)  # five standard errors
    assert abs(data.adding_baseline_mse(y) - 1 / 6) < tolerance
    # and always predicting 1 is "right" only when |y - 1| < 0.16: 1 - 0.84^2 of the time
    accuracy = data.adding_accuracy(np.ones_like(y), y)
    assert abs(accuracy - (1 - 0.84 ** 2)) < 5 * np.sqrt(0.3 * 0.7 / n)


def test_adding_problem_keeps_the_dtype_and_the_rng_decides():
    x, y = data.adding_problem(4, 6, np.random.default_rng(0), dtype=np.float32)
    assert x.dtype == y.dtype == np.float32
    x2, _ = data.adding_problem(4, 6, np.random.default_rng(0), dtype=np.float32)
    np.testing.assert_array_equal(x, x2)


def test_language_task_sentences():
    rng = np.random.default_rng(10)
    lag = 12
    x, labels, words = data.language_task(200, lag, rng)
    T = len(data.PREFIX) + 1 + lag + len(data.QUERY)
    assert x.shape == (T, 200, len(data.VOCABULARY)) and labels.shape == (200,)
    assert np.all(x.sum(axis=2) == 1)  # one word per step, one-hot
    for n in range(200):
        sentence = [w for w in words[n] if w != data.PAD]
        assert words[n][:T - len(sentence)] == [data.PAD] * (T - len(sentence))  # padding first
        assert sentence[:4] == list(data.PREFIX) and sentence[-3:] == list(data.QUERY)
        assert sentence[4] == data.COUNTRIES[labels[n]]
        assert lag // 2 <= len(sentence) - 8 <= lag
        assert [data.VOCABULARY[i] for i in x[:, n].argmax(axis=1)] == words[n]
    assert set(labels) == {0, 1, 2, 3}


@pytest.mark.parametrize("call,match", [
    (lambda rng: data.adding_problem(10, 1, rng), r"T must be a whole number >= 2, got 1"),
    (lambda rng: data.adding_problem(0, 10, rng), r"n must be a whole number of sequences >= 1, got 0"),
    (lambda rng: data.language_task(10, 1, rng), r"lag must be a whole number >= 2, got 1"),
    (lambda rng: data.language_task(0, 5, rng), r"n must be a whole number of sequences >= 1"),
])
def test_data_generators_reject_bad_settings(call, match):
    with pytest.raises(ValueError, match=match):
        call(np.random.default_rng(0))


# -- the shipped results ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    return runner.load_results()


def test_shipped_results_cover_the_whole_grid(shipped):
    grid = runner.GRID
    assert shipped["task"] == grid["task"] and shipped["settings"]["max_steps"] == grid["max_steps"]
    assert (shipped["models"], shipped["lags"], shipped["seeds"]) == (list(grid["models"]), list(grid["lags"]),
                                                                       list(grid["seeds"]))
    cells = sorted((r["model"], r["lag"], r["seed"]) for r in shipped["runs"])
    assert cells == sorted((m, lag, s) for m in grid["models"] for lag in grid["lags"] for s in grid["seeds"])
    for r in shipped["runs"]:
        assert r["solved"] == (r["steps_to_solve"] is not None)
        assert r["steps"] == (r["steps_to_solve"] if r["solved"] else grid["max_steps"])


def test_a_row_of_the_shipped_results_is_reproduced(shipped, tmp_path):
    """Re-run the cheapest cell with the script's own entry point and compare.

    Seeds fix every draw, and float32 arithmetic is deterministic on one
    machine, so the outcome (solved, at which step) must be identical. The
    held-out accuracies are compared to within 0.2% (2 of 1,000 sequences):
    another CPU's BLAS kernels may round the last bit differently.
    """
    out = tmp_path / "row.json"
    runner.main(["--models", "lstm", "--lags", "10", "--seeds", "0", "--out", str(out), "--no-progress"])
    fresh = json.loads(out.read_text())
    assert fresh["settings"] == shipped["settings"]
    (row,) = fresh["runs"]
    (want,) = [r for r in shipped["runs"] if (r["model"], r["lag"], r["seed"]) == ("lstm", 10, 0)]
    for key in ("solved", "steps_to_solve", "steps", "stopped", "eval_steps"):
        assert row[key] == want[key], key
    np.testing.assert_allclose(row["eval_accuracy"], want["eval_accuracy"], atol=0.002)


def test_resume_keeps_finished_runs(shipped, tmp_path, monkeypatch):
    out = tmp_path / "grid.json"
    partial = dict(shipped, runs=[r for r in shipped["runs"] if r["lag"] == 10])
    runner.save_results(partial, out)

    def must_not_train(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(runner, "run_one", must_not_train)
    again = runner.run_grid(lags=(10,), out=out, resume=True, log=None)
    assert again["runs"] == partial["runs"]
    assert runner.load_results(out)["runs"] == partial["runs"]


def test_one_blas_thread_is_restored():
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = blas_threads()
    if not before:
        pytest.skip("no BLAS library that threadpoolctl can control")
    with runner.one_blas_thread():
        assert set(blas_threads()) == {1}
    assert blas_threads() == before


def test_results_table_and_plots(shipped):
    table = runner.format_table(shipped)
    assert "T = 200" in table and all(name in table for name in shipped["models"])
    from lstm_helpers.viz.plots import experiment as experiment_plots

    run = runner.train("rnn", "adding", 4, rng=np.random.default_rng(0), max_steps=20, eval_every=10,
                           n_eval=20, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        experiment_plots.success_vs_lag(shipped)
        experiment_plots.training_curves([run])
        x, y = data.adding_problem(3, 20, np.random.default_rng(0))
        experiment_plots.adding_examples(x, y)
