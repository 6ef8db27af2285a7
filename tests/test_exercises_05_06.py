"""Chapters 05 and 06: the new exercises against independent computations.

Every question's right answer is computed in the exercise module by the
course's code or a formula; here it is computed again another way (central
differences, corner cases, the widget's own code, Monte Carlo, a fresh
training run), so a slip in either shows. The generic tests in
test_checks.py already run every named mistake, visible and hidden.
"""

import itertools
import json
import warnings

import numpy as np
import pytest

from lstm_helpers import exercises, variants
from lstm_helpers.exercises import lstm_variants as ch05
from lstm_helpers.exercises import long_range_experiment as ch06
from lstm_helpers.exercises._core import CheckFailed
from lstm_helpers.experiment import attention_task, data, runner, training
from lstm_helpers.feedforward import sigmoid
from lstm_helpers.gradients import numerical_gradient


def answer(name):
    return exercises.EXERCISES[name].reference()


# -- chapter 05: the GRU's backward pass and Jacobian ---------------------------------------------------

@pytest.mark.parametrize("hidden", [False, True, True])
def test_written_out_gru_backward_is_the_course_backward(hidden):
    """The base of every named backward mistake is right: unchanged, it gives the course's gradients."""
    inputs = ch05._gru_backward_inputs(np.random.default_rng(1 + hidden), hidden)
    want = variants.gru_cell_backward(**inputs)
    got = ch05._gru_backward_variant("")(**inputs)
    for a, b in zip(want[:2], got[:2]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    for key in want[2]:
        np.testing.assert_allclose(got[2][key], want[2][key], rtol=1e-12, atol=1e-14, err_msg=key)


@pytest.mark.parametrize("seed", range(3))
def test_gru_jacobian_against_central_differences_and_the_backward_pass(seed):
    rng = np.random.default_rng(seed)
    inputs = ch05._gru_backward_inputs(rng, hidden=True)
    cache = inputs["cache"]
    J = ch05.gru_state_jacobian_reference(cache)
    x_t = cache["hx"][:, cache["h_prev"].shape[1]:].copy()
    h_prev, params = cache["h_prev"].copy(), cache["params"]
    N, H = h_prev.shape
    for n, i in itertools.product(range(N), range(H)):  # row i of J[n] = d h_t[n, i] / d h_prev[n, :]
        numeric = numerical_gradient(lambda: variants.gru_cell_forward(x_t, h_prev, params)[0][n, i], h_prev)
        np.testing.assert_allclose(J[n, i], numeric[n], rtol=1e-6, atol=1e-9)
        assert np.allclose(np.delete(numeric, n, axis=0), 0)  # sequences do not mix
    # dh_prev = dh_t J for every sequence, so a backward pass with dh_t = e_i reads off row i
    for i in range(H):
        e_i = np.zeros((N, H))
        e_i[:, i] = 1.0
        np.testing.assert_allclose(variants.gru_cell_backward(e_i, cache)[1], J[:, i, :], rtol=1e-12, atol=1e-14)


def test_gru_jacobian_with_the_update_gate_shut_is_the_identity():
    """The claim chapter 06 rests on: z -> 0 leaves J = I, whatever the other weights."""
    rng = np.random.default_rng(4)
    params = variants.init_gru_params(3, 5, rng, scale=1.0)
    params["b_z"] = np.full(5, -40.0)
    _, cache = variants.gru_cell_forward(rng.standard_normal((2, 3)), rng.uniform(-1, 1, (2, 5)), params)
    np.testing.assert_allclose(ch05.gru_state_jacobian_reference(cache), np.broadcast_to(np.eye(5), (2, 5, 5)),
                               atol=1e-15)


# -- chapter 05: the questions ------------------------------------------------------------------------------

def test_cifg_escape_by_interval_arithmetic():
    """Only the change that breaks the weighted average lets the state out: check each change's update
    on every corner of its inputs (gates in [0, 1], c_prev and the candidate in [-1, 1])."""
    corners = list(itertools.product([0.0, 1.0], [0.0, 1.0], [-1.0, 1.0], [-1.0, 1.0]))  # f, i, c_prev, c_tilde
    update = {  # c_t of the changed cell; the output gate and the output's tanh never enter c_t
        1: lambda f, i, c, ct: f * c + (1 - f) * ct,
        2: lambda f, i, c, ct: f * c + (1 - f) * ct,
        3: lambda f, i, c, ct: f * c + i * ct,
        4: lambda f, i, c, ct: 1.0 * c + 0.0 * ct,
    }
    # c_t is linear in each input, so its extremes over the box are at the corners
    escapes = [k for k, rule in update.items() if max(abs(rule(*corner)) for corner in corners) > 1]
    assert escapes == [answer("cifg_escape")] == [3]


def test_gru_gradient_share_is_the_formula():
    assert answer("gru_gradient_after_50") == pytest.approx(sigmoid(np.float64(3.0)) ** 50, rel=1e-12)
    assert ch05.gru_gradient_share(b_z=0.0, steps=7) == pytest.approx(0.5 ** 7, rel=1e-12)


def test_write_less_with_the_widgets_own_code():
    from lstm_helpers.viz.widgets import variants as app

    written = {}
    for variant in app.VARIANTS:
        for b in (1.0, 4.0):
            x = app.spike_input(10, 3, 2.0)
            run = app.run_variant(variant, app.REFERENCE[variant], x, app.variant_params(variant, b))
            written[variant, b] = run["memory"][4]  # index 0 is the initial state: x[3] is read at step 4
            assert written[variant, b] == pytest.approx(ch05.written_at_spike(variant, b, 2.0), rel=1e-12)
    smaller = frozenset(v for v in app.VARIANTS if written[v, 4.0] < written[v, 1.0] - 1e-9)
    assert ch05.WRITE_LESS_CHOICES[answer("write_less")] == smaller == {"cifg", "gru"}


# -- chapter 06: the questions --------------------------------------------------------------------------------

def test_baseline_mse_by_monte_carlo_and_by_integration():
    _, y = data.adding_problem(400_000, 10, np.random.default_rng(0))
    assert data.adding_baseline_mse(y) == pytest.approx(answer("baseline_mse"), abs=0.002)
    u = np.linspace(-1, 1, 200_001)
    assert np.trapezoid(u ** 2 * (1 - np.abs(u)), u) == pytest.approx(answer("baseline_mse"), rel=1e-8)


def test_shipped_grid_answers_from_the_held_out_checks():
    """The grid questions again, from each run's held-out accuracies instead of its "solved" record."""
    adding = runner.load_results()

    def solved_by(results, model, lag, seed, max_steps):
        (run,) = [r for r in results["runs"] if (r["model"], r["lag"], r["seed"]) == (model, lag, seed)]
        return any(a >= 0.95 for s, a in zip(run["eval_steps"], run["eval_accuracy"]) if s <= max_steps)

    rnn_lags = [lag for lag in adding["lags"] if any(solved_by(adding, "rnn", lag, s, 10 ** 9) for s in adding["seeds"])]
    assert max(rnn_lags) == answer("rnn_longest_T") == 20
    race = {m for m in ("rnn", "lstm") if solved_by(adding, m, 50, 0, 1500)}
    assert ch06.RACE_CHOICES[answer("race_winner")] == race == {"lstm"}
    language = attention_task.load_results()
    lstm_lags = [lag for lag in (10, 20, 40, 60) if solved_by(language, "lstm", lag, 0, 1500)]
    assert max(lstm_lags) == answer("lstm_longest_lag")


def test_attention_where_in_a_fresh_training_run():
    """Train the example again from its seed, find the country by its word, and compare with the answer."""
    run = runner.train(attention_task.RNN_ATTENTION, "language", attention_task.EXAMPLE["lag"],
                       rng=np.random.default_rng(attention_task.EXAMPLE["seed"]),
                       max_steps=attention_task.GRID["max_steps"], progress=False)
    shipped = attention_task.load_example()
    for key, value in shipped.items():  # the shipped weights are this run's (up to last-bit BLAS rounding)
        np.testing.assert_allclose(run.params[key], value, rtol=1e-3, atol=1e-4, err_msg=key)
    x, _, sentences = data.language_task(200, attention_task.EXAMPLE["lag"], np.random.default_rng(8), np.float32)
    _, weights, _ = attention_task.attend(x, training.cell_params(run.params))
    top_words = [sentence[int(np.argmax(weights[:, n]))] for n, sentence in enumerate(sentences)]
    assert sum(word in data.COUNTRIES for word in top_words) >= 0.9 * len(top_words)
    assert ch06.ATTENTION_REGIONS[answer("attention_where")] == "country"


def test_attention_region_names_every_part_of_a_sentence():
    x, _, sentences = data.language_task(1, 6, np.random.default_rng(3))
    tokens = x.argmax(axis=2)
    T = len(sentences[0])
    for t, word in enumerate(sentences[0]):
        weights = np.full((T, 1), 0.1 / (T - 1))
        weights[t] = 0.9
        region = str(ch06.attention_region(weights, tokens)[0])
        expected = ("padding" if word == data.PAD else "country" if word in data.COUNTRIES
                    else "query" if t >= T - len(data.QUERY) else "filler" if word in data.FILLERS else "prefix")
        assert region == expected, (t, word)
    assert str(ch06.attention_region(np.full((T, 1), 1 / T), tokens)[0]) == "spread"


# -- chapter 06: the attention exercise ----------------------------------------------------------------------

def test_a_softmax_without_the_max_trick_is_told_about_the_overflow():
    def naive(query, keys, values):
        scores = np.einsum("nh,tnh->tn", query, keys) / np.sqrt(query.shape[1])
        weights = np.exp(scores) / np.exp(scores).sum(axis=0, keepdims=True)
        return np.einsum("tn,tnv->nv", weights, values), weights

    with pytest.raises(CheckFailed, match=r"emitted a warning.*Note: in this trial the largest score .* is 1000.*"
                                          r"Subtract each sequence's largest score"):
        exercises.check("attention", naive)


def test_the_large_trials_really_overflow_a_naive_exp():
    rng = np.random.default_rng(0)
    for _ in range(6):  # both visible cases, and the hidden cycle twice
        inputs = ch06._attention_inputs(rng, hidden=True)
        scores = np.einsum("nh,tnh->tn", inputs["query"], inputs["keys"]) / np.sqrt(inputs["query"].shape[1])
        note = ch06._overflow_note(inputs)
        if note is not None:
            np.testing.assert_allclose(scores.max(axis=0), 1000.0)
            with np.errstate(over="ignore"):
                assert not np.all(np.isfinite(np.exp(scores)))


# -- the shipped attention grid and the time budget of the live runs --------------------------------------

@pytest.fixture(scope="module")
def grid():
    return attention_task.load_results()


def test_shipped_attention_grid_covers_the_grid(grid):
    spec = attention_task.GRID
    assert grid["task"] == spec["task"] and grid["settings"]["max_steps"] == spec["max_steps"]
    cells = sorted((r["model"], r["lag"], r["seed"]) for r in grid["runs"])
    assert cells == sorted(itertools.product(spec["models"], spec["lags"], spec["seeds"]))
    for r in grid["runs"]:
        assert r["solved"] == (r["steps_to_solve"] is not None)
        assert r["steps"] == (r["steps_to_solve"] if r["solved"] else spec["max_steps"])
    table = runner.format_table(grid)
    assert "lag = 160" in table and "rnn_attention" in table


def test_a_row_of_the_attention_grid_is_reproduced(grid, tmp_path):
    """Re-run the cheapest row with the script's own entry point: the same outcome, step for step."""
    out = tmp_path / "row.json"
    attention_task.main(["--models", "rnn_attention", "--lags", "10", "--seeds", "0", "--out", str(out),
                         "--no-progress"])
    fresh = json.loads(out.read_text())
    assert fresh["settings"] == grid["settings"] and fresh["task"] == grid["task"]
    (row,) = fresh["runs"]
    (want,) = [r for r in grid["runs"] if (r["model"], r["lag"], r["seed"]) == ("rnn_attention", 10, 0)]
    for key in ("solved", "steps_to_solve", "steps", "stopped", "eval_steps"):
        assert row[key] == want[key], key
    np.testing.assert_allclose(row["eval_accuracy"], want["eval_accuracy"], atol=0.002)


def test_attention_plots_without_warnings(grid):
    from lstm_helpers.viz.plots import experiment as experiment_plots

    x, _, sentences = data.language_task(3, 12, np.random.default_rng(0), np.float32)
    _, weights, _ = attention_task.attend(x, attention_task.load_example())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = experiment_plots.attention_weights(weights, sentences)
        experiment_plots.success_vs_lag(grid)
    for k, ax in enumerate(fig.axes):  # each strip shows every step of its sentence, padding as "·"
        np.testing.assert_allclose(ax.images[0].get_array()[0], weights[:, k], rtol=1e-6)
        assert [label.get_text() for label in ax.get_xticklabels()] == [
            "·" if word == data.PAD else word for word in sentences[k]]


def test_a_run_stopped_by_the_time_budget_says_so():
    # a tanh RNN never solves lag 60 (see the shipped grid), so only the time budget can stop it
    run = runner.train("rnn", "language", 60, rng=np.random.default_rng(0), max_steps=100_000, time_budget=0.2,
                       eval_every=10, n_eval=10, progress=False)
    assert run.stopped == "time" and not run.solved
    assert "stopped by the time budget" in run.summary()


@pytest.mark.slow
def test_the_deciding_runs_of_the_grid_questions_train_again():
    """The runs that decide three questions, trained afresh with their seeds (a minute or two)."""
    def run(model, task, lag, max_steps, seed=0):
        return runner.train(model, task, lag, rng=np.random.default_rng(seed), max_steps=max_steps, progress=False)

    race = {model for model in ch06.RACE["models"] if run(model, "adding", 50, ch06.RACE["max_steps"]).solved}
    assert race == ch06.RACE_CHOICES[answer("race_winner")]
    lags = ch06.LANGUAGE_RUN["lags"]
    longest = answer("lstm_longest_lag")
    assert run("lstm", "language", longest, ch06.LANGUAGE_RUN["max_steps"]).solved
    if longest != lags[-1]:
        assert not run("lstm", "language", lags[lags.index(longest) + 1], ch06.LANGUAGE_RUN["max_steps"]).solved
    rnn = run("rnn", "adding", answer("rnn_longest_T"), runner.GRID["max_steps"])
    (shipped,) = [r for r in runner.load_results()["runs"] if (r["model"], r["lag"], r["seed"]) == ("rnn", 20, 0)]
    assert rnn.solved and rnn.steps_to_solve == shipped["steps_to_solve"]


def test_the_notebook_runs_what_the_questions_and_the_benchmark_assume():
    """Section 4's race and section 5's live runs use the seed, steps and time budget the questions read
    off the shipped grids and tests/benchmarks/bench_experiment.py measures."""
    import nbformat

    from lstm_helpers.classroom import course
    from conftest import ROOT

    chapter = "06_long_range_experiment"
    text = "\n".join(c.source for c in nbformat.read(course.source_notebook(ROOT, chapter), as_version=4).cells)
    race, language = ch06.RACE, ch06.LANGUAGE_RUN
    assert (f'runner.train(model, "adding", {race["lag"]}, rng=np.random.default_rng({race["seed"]}), '
            f'max_steps={race["max_steps"]}, time_budget={race["time_budget"]})') in text
    assert (f'runner.train(model, "language", LAG, rng=np.random.default_rng({language["seed"]}), '
            f'max_steps={language["max_steps"]}, time_budget={language["time_budget"]})') in text


@pytest.mark.slow
def test_what_the_text_says_about_the_mean_and_the_attention_readers():
    """Section 7's reading of the grid: the mean-trained RNN carries the country to its last state;
    the trained attention puts most weight on the country itself, little on the words after it."""
    x, labels, _ = data.language_task(1000, 40, np.random.default_rng(9), np.float32)
    tokens = x.argmax(axis=2)
    country = (tokens != data.VOCABULARY.index(data.PAD)).argmax(axis=0) + len(data.PREFIX)
    n = np.arange(x.shape[1])
    mean_run = runner.train(attention_task.RNN_MEAN, "language", 40, rng=np.random.default_rng(0), max_steps=3000,
                            progress=False)
    h, _ = attention_task.rnn_states(x, mean_run.params)
    last_alone = h[-1] @ mean_run.params["W_y"].T + mean_run.params["b_y"]
    assert np.mean(last_alone.argmax(axis=1) == labels) > 0.8  # "about 86%"
    _, weights, _ = attention_task.attend(x, attention_task.load_example())
    assert 0.78 < weights[country, n].mean() < 0.86  # "about 82% on average"
    after = sum(weights[np.minimum(country + k, x.shape[0] - 1), n].mean() for k in range(1, 6))
    assert after < 0.05  # "2% on the five words after it"
    # the three sentences of the picture: the country on top; the shorter two give it about a third
    x, _, sentences = data.language_task(3, 40, np.random.default_rng(7), np.float32)
    _, weights, _ = attention_task.attend(x, attention_task.load_example())
    top = [sentence[int(np.argmax(weights[:, k]))] for k, sentence in enumerate(sentences)]
    assert all(word in data.COUNTRIES for word in top)
    padding = [weights[[w == data.PAD for w in sentence], k].sum() for k, sentence in enumerate(sentences)]
    assert weights[:, 0].max() > 0.98 and all(0.3 < weights[:, k].max() < 0.35 for k in (1, 2))
    assert all(0.35 < share < 0.4 for share in padding[1:])  # "37 and 38% on the padding"


def test_an_unanswered_question_raises_not_implemented_like_an_unwritten_function():
    """The release sets every question's answer to the placeholder NotImplemented."""
    with pytest.raises(NotImplementedError, match="cifg_escape is not answered yet"):
        exercises.check("cifg_escape", NotImplemented)
    with pytest.raises(CheckFailed, match="answer with a number"):  # any other non-number is a wrong form
        exercises.check("cifg_escape", "3")
