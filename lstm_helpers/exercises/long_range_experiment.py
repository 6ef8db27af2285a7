"""Checks for chapter 06: one training step of an LSTM regression, attention, and the predictions.

``train_step(params, x, y, lr, max_norm)`` runs the LSTM, reads out its last
hidden state, takes the mean squared error, backpropagates, clips all
gradients together by their global norm and takes one step of gradient
descent. The check compares the parameters after that step with the
reference's, key by key.

Some mistakes only show in one kind of trial, so the trials alternate
between two *cases*: in "clip" the gradient's global norm is well above
max_norm, so clipping must act (and a gradient that is too large by a
constant factor is clipped back to the right one); in "keep" the norm is
below max_norm, so the size of the gradient reaches the update unchanged.

``attention(query, keys, values)`` is checked the same way, with one trial
whose scores reach 1000, where an exp without the max trick overflows.

The questions are predictions asked before a run or a plot shows the
answer. Each right answer is computed here, from a formula or from the
shipped results of the experiments (the runs with the seeds the notebook
uses), never typed in; ``tests/test_exercises_05_06.py`` computes each again
another way.
"""

import numpy as np

from .. import attention as attention_ref
from .. import lstm as lstm_ref
from ..experiment import attention_task, data, runner
from ..experiment import training as ref
from ..experiment.data import adding_problem
from ..gradients import clip_grad_norm, global_norm
from ._core import Exercise, Mistake, entries, returns
from ._inputs import CaseCycle, gate_params
from ._questions import answer, question

CHAPTER = "06_long_range_experiment"

_STEP_CASES = CaseCycle(["clip", "keep"])


def _reference_grads(params, x, y):
    _, grads, _ = ref.loss_and_grads("lstm", params, x, y, "mse")
    return grads


def _step_inputs(rng, hidden):
    case = _STEP_CASES.next(rng)
    if hidden:
        T, N, H = int(rng.integers(3, 8)), int(rng.integers(3, 7)), int(rng.integers(2, 6))
    else:
        T, N, H = 6, 4, 3  # D = 2, K = 1: H differs from both, so a transpose shows as a shape
    x, y = adding_problem(N, T, rng)
    params = gate_params(rng, lstm_ref.GATES, x.shape[2], H, bias_scale=0.5)
    params["W_y"] = rng.standard_normal((y.shape[1], H)) / np.sqrt(H)
    params["b_y"] = rng.uniform(0.3, 0.7, y.shape[1])
    grads = _reference_grads(params, x, y)
    norm = global_norm(grads)
    lr = float(rng.uniform(0.1, 0.5))
    if case == "clip":
        # below the norm of the step lr * grad and of the LSTM's gradients alone, so that clipping the
        # step, or the LSTM's gradients without the read-out's, gives an answer of its own
        lstm_norm = global_norm({k: g for k, g in grads.items() if k not in ref.READOUT_KEYS})
        max_norm = rng.uniform(0.3, 0.8) * min(lr * norm, lstm_norm)
    else:
        max_norm = norm * rng.uniform(1.5, 2.5)
    return {"params": params, "x": x, "y": y, "lr": lr, "max_norm": float(max_norm)}


def _clipping_note(inputs):
    """A note for the "keep" trials only. (The "clip" case comes first in every run and has no
    note, so a NotImplementedError from an unwritten answer reaches the learner unchanged.)"""
    norm = global_norm(_reference_grads(inputs["params"], inputs["x"], inputs["y"]))
    if norm < inputs["max_norm"]:
        return (f"in this trial the gradients' global norm ({norm:.3g}) is below max_norm "
                f"({inputs['max_norm']:.3g}), so clipping leaves them unchanged and their size "
                "reaches the update as it is.")
    return None


def _step_variant(dy_factor="2/N", read="last", send="last", readout_grads=True, db_y="sum",
                  clip="grads", clip_scope="all", sign=-1.0, lr_power=1):
    """``train_step`` with one deliberate change (the keywords name it)."""

    def step(params, x, y, lr, max_norm):
        lstm_keys = [k for k in params if k not in ref.READOUT_KEYS]
        W_y, b_y = params["W_y"], params["b_y"]
        N, H = x.shape[1], W_y.shape[1]
        zeros = np.zeros((N, H))
        h, _, cache = lstm_ref.lstm_forward(x, zeros, zeros, {k: params[k] for k in lstm_keys})
        state = h[-1] if read == "last" else h[0]
        y_hat = state @ W_y.T + b_y
        dy = {"2/N": 2.0 / y.size, "1/N": 1.0 / y.size, "2": 2.0}[dy_factor] * (y_hat - y)
        dh = np.zeros_like(h)
        if send == "last":
            dh[-1 if read == "last" else 0] = dy @ W_y
        else:  # every step
            dh[:] = dy @ W_y
        grads = dict(lstm_ref.lstm_backward(dh, cache)[3])
        readout = {"W_y": dy.T @ state, "b_y": dy.sum(axis=0) if db_y == "sum" else dy.mean(axis=0)}
        if readout_grads:
            grads.update(readout)
        if clip == "grads":
            if clip_scope == "all":
                grads = clip_grad_norm(grads, max_norm)[0]
            elif clip_scope == "lstm_only":
                grads = dict(clip_grad_norm({k: grads[k] for k in lstm_keys}, max_norm)[0], **readout)
            else:  # each array on its own
                grads = {k: clip_grad_norm({k: g}, max_norm)[0][k] for k, g in grads.items()}
        if clip == "step":
            steps = clip_grad_norm({k: lr * g for k, g in grads.items()}, max_norm)[0]
            new = {k: params[k] - steps[k] if k in steps else params[k].copy() for k in params}
        else:
            new = {k: params[k] + sign * lr ** lr_power * grads[k] if k in grads else params[k].copy()
                   for k in params}
        if clip == "params":
            new = clip_grad_norm(new, max_norm)[0]
        return new

    return step


EXERCISES = [
    Exercise(
        name="train_step",
        reference=ref.train_step,
        make_inputs=_step_inputs,
        outputs=returns(entries("params")),
        block=("lstm_helpers.experiment.training:train_step", "lstm_helpers.experiment.training:loss_and_grads",
               "lstm_helpers.experiment.training:backward"),
        trial_note=_clipping_note,
        visible_trials=2,
        hidden_trials=4,
        mistakes=[
            Mistake("the parameters moved up the gradient, which makes the loss larger: subtract lr * grad. "
                    "(Check the sign of dy too: it is 2 * (y_hat - y) / N, prediction minus target.)",
                    _step_variant(sign=+1.0)),
            Mistake("the gradients reach the update unclipped. Clip all of them together with "
                    "clip_grad_norm(grads, max_norm) between the backward pass and the update "
                    "(clipping after the update comes too late to change anything).",
                    _step_variant(clip="none")),
            Mistake("the step lr * grad was clipped instead of the gradient: clip the gradients first, "
                    "then multiply them by lr.", _step_variant(clip="step")),
            Mistake("the new parameters were clipped instead of the gradients: clipping goes between the "
                    "backward pass and the update, and acts on the gradients.", _step_variant(clip="params")),
            Mistake("each gradient array was clipped on its own. Clip them all together by their global norm "
                    "(one call to clip_grad_norm on the whole dict), which keeps the gradient's direction.",
                    _step_variant(clip_scope="each")),
            Mistake("the learning rate is applied twice (lr * lr * grad): multiply the clipped gradient by lr "
                    "once.", _step_variant(lr_power=2)),
            Mistake("the loss gradient is not divided by the batch size: the loss is the mean over the N "
                    "sequences, so dy = 2 * (y_hat - y) / N.", _step_variant(dy_factor="2")),
            Mistake("the factor 2 of the squared error is missing: the derivative of mean((y_hat - y)**2) "
                    "is dy = 2 * (y_hat - y) / N.", _step_variant(dy_factor="1/N")),
            Mistake("the read-out W_y, b_y was not updated: it needs its gradients too, dW_y = dy.T @ h[-1] "
                    "and db_y = dy.sum(axis=0), and they count in the global norm.",
                    _step_variant(readout_grads=False)),
            Mistake("the clipping norm leaves out the read-out gradients: clip the LSTM's and the read-out's "
                    "gradients together, as one dict.", _step_variant(clip_scope="lstm_only")),
            Mistake("db_y is the mean of dy over the batch; use the sum, dy.sum(axis=0), since dy already "
                    "holds the 1/N of the mean.", _step_variant(db_y="mean")),
            Mistake("the gradient dy @ W_y was sent into every hidden state. Only the last state h[-1] is "
                    "read out, so dh is zero except dh[-1] = dy @ W_y.", _step_variant(send="all")),
            Mistake("the prediction reads h[0], the state after the first step; the read-out looks at the "
                    "last state, h[-1], which has seen the whole sequence.", _step_variant(read="first")),
        ],
    ),
]


# --------------------------------------------------------------------------
# Section 7: attention over the RNN's states
# --------------------------------------------------------------------------

# "plain" scores are about 1 in size; in "large" ones the largest score of every sequence is +1000,
# where np.exp overflows unless the largest score is subtracted first. The first two trials of every
# run have H_v = H (so that averaging the keys instead of the values can show); later ones need not.
_ATTENTION_CASES = CaseCycle([("plain", True), ("large", True), ("plain", False)])
_LARGE_SCORE = 1000.0


def _attention_inputs(rng, hidden):
    case, same_size = _ATTENTION_CASES.next(rng)
    if hidden:
        T, N, H = int(rng.integers(2, 9)), int(rng.integers(2, 6)), int(rng.integers(2, 7))
        T = T + 1 if T == N else T  # T != N: a softmax over the batch cannot pass for one over time
        H_v = H if same_size else int(rng.integers(1, 7))
    else:
        T, N, H = (5, 3, 4) if case == "plain" else (6, 2, 3)
        H_v = H
    query, keys, values = (rng.standard_normal((N, H)), rng.standard_normal((T, N, H)),
                           rng.standard_normal((T, N, H_v)))
    if case == "large":  # scale each query so that its largest |score| becomes +1000
        scores = np.einsum("nh,tnh->tn", query, keys)
        extreme = scores[np.abs(scores).argmax(axis=0), np.arange(N)]  # (N,), with its sign
        query = query * (_LARGE_SCORE * np.sqrt(H) / extreme)[:, None]
    return {"query": query, "keys": keys, "values": values}


def _overflow_note(inputs):
    scores = np.einsum("nh,tnh->tn", inputs["query"], inputs["keys"]) / np.sqrt(inputs["query"].shape[1])
    if scores.max() > 700:  # np.exp overflows above about 709.8
        return (f"in this trial the largest score of every sequence is {scores.max():.0f}, and np.exp of "
                "anything above about 710 overflows. Subtract each sequence's largest score (over t, "
                "axis 0) before np.exp: the softmax does not change, since the factor exp(-max) cancels.")
    return None


def _attention_variant(scale="sqrt_H", axis=0, normalise="own_sum", average="values"):
    """``attention`` with one deliberate change (the keywords name it); never overflows itself."""

    def attend(query, keys, values):
        H = query.shape[1]
        divisor = {"sqrt_H": np.sqrt(H), "none": 1.0, "H": float(H)}[scale]
        scores = np.einsum("nh,tnh->tn", query, keys) / divisor
        exp = np.exp(scores - scores.max(axis=axis, keepdims=True))
        total = {"own_sum": exp.sum(axis=axis, keepdims=True), "all": exp.sum(), "none": 1.0}[normalise]
        weights = exp / total
        context = np.einsum("tn,tnv->nv", weights, keys if average == "keys" else values)
        return context, weights

    return attend


# --------------------------------------------------------------------------
# Questions: predict, then look
# --------------------------------------------------------------------------

def adding_baseline_mse_exact(low=0.0, high=1.0):
    """E[(y - 1)^2] for y = u_1 + u_2, u ~ U[low, high] independent: always predicting the mean 1.

    The error y - 1 has mean 0, so its mean square is the variance of y, and
    the variances of independent values add: 2 (high - low)^2 / 12.
    """
    return 2 * (high - low) ** 2 / 12


#: The live race of section 4: both networks, the adding problem at T = 50, seed 0, at most 1,500 steps.
#: The time budget only guards against a very slow machine (tests/benchmarks/bench_experiment.py, part 5).
RACE = {"lag": 50, "seed": 0, "max_steps": 1500, "time_budget": 60, "models": ("rnn", "lstm")}
RACE_CHOICES = {1: frozenset({"rnn", "lstm"}), 2: frozenset({"lstm"}), 3: frozenset({"rnn"}), 4: frozenset()}


def _solved_within(results, model, lag, seed, max_steps):
    (run,) = [r for r in results["runs"] if (r["model"], r["lag"], r["seed"]) == (model, lag, seed)]
    return run["solved"] and run["steps_to_solve"] <= max_steps


def race_reference():
    """Which of the live race's networks solve it, read off the shipped grid.

    The race trains with the grid's settings and seed 0, so it repeats the
    first steps of the grid's seed-0 runs exactly: a run solves the race if
    the grid's run was solved within the race's 1,500 steps.
    """
    results = runner.load_results()
    solvers = frozenset(m for m in RACE["models"]
                        if _solved_within(results, m, RACE["lag"], RACE["seed"], RACE["max_steps"]))
    (choice,) = [k for k, models in RACE_CHOICES.items() if models == solvers]
    return choice


#: Section 5's live run: the LSTM on the France task with seed 0 and at most 1,500 steps, at these lags.
#: The time budget only guards against a very slow machine (tests/benchmarks/bench_experiment.py, part 5).
LANGUAGE_RUN = {"lags": (10, 20, 40, 60), "seed": 0, "max_steps": 1500, "time_budget": 60}


def lstm_longest_language_lag():
    """The longest lag of LANGUAGE_RUN at which the LSTM's seed-0 run solves the France task in time,
    read off the shipped attention grid (same settings, same seed: the same run)."""
    results = attention_task.load_results()
    solved = [lag for lag in LANGUAGE_RUN["lags"]
              if _solved_within(results, "lstm", lag, LANGUAGE_RUN["seed"], LANGUAGE_RUN["max_steps"])]
    return max(solved)


def rnn_longest_adding_lag():
    """The longest T of the shipped adding grid at which at least one of the tanh RNN's runs solved it."""
    results = runner.load_results()
    table = runner.summarise(results)
    return max(lag for lag in results["lags"] if table[("rnn", lag)]["solved"] > 0)


#: Where the largest weight of most sentences could fall: the choices of the question, in order.
ATTENTION_REGIONS = {1: "query", 2: "country", 3: "spread", 4: "padding"}


def attention_region(weights, tokens):
    """Where the largest weight of each sentence falls: "padding", "prefix", "country", "filler" or "query".

    weights: (T, N) attention weights; tokens: (T, N) word indices of ``data.VOCABULARY``.
    A sentence whose largest weight is below 2/T is "spread" (no step stands out).
    """
    T, N = tokens.shape
    start = (tokens != data.VOCABULARY.index(data.PAD)).argmax(axis=0)   # where each sentence begins
    top = weights.argmax(axis=0)
    position = top - start                                                # the top step within its sentence
    prefix, query = len(data.PREFIX), len(data.QUERY)
    regions = np.where(position < 0, "padding",
                       np.where(position < prefix, "prefix",
                                np.where(position == prefix, "country",
                                         np.where(top >= T - query, "query", "filler"))))
    return np.where(weights.max(axis=0) < 2.0 / T, "spread", regions)


def attention_where_reference():
    """Where the shipped trained network attends, on 500 fresh sentences at its lag: the choice that
    names the region holding the largest weight of most sentences."""
    params = attention_task.load_example()
    x, _, _ = data.language_task(500, attention_task.EXAMPLE["lag"], np.random.default_rng(6), np.float32)
    _, weights, _ = attention_task.attend(x, params)
    regions, counts = np.unique(attention_region(weights, x.argmax(axis=2)), return_counts=True)
    most = str(regions[counts.argmax()])
    (choice,) = [k for k, region in ATTENTION_REGIONS.items() if region == most]
    return choice


#: The choices of the question before the attention grid: which readers solve every lag in every run.
GRID_CHOICES = {1: frozenset({"rnn_attention"}), 2: frozenset({"rnn_attention", "rnn_mean"}),
                3: frozenset({"rnn_attention", "rnn_mean", "lstm"}),
                4: frozenset({"rnn_attention", "rnn_mean", "lstm", "rnn"})}


def attention_grid_reference():
    """The readers of the shipped attention grid that solved every lag in all their runs, as a choice."""
    results = attention_task.load_results()
    table = runner.summarise(results)
    always = frozenset(m for m in results["models"]
                       if all(table[(m, lag)]["solved"] == table[(m, lag)]["runs"] for lag in results["lags"]))
    (choice,) = [k for k, models in GRID_CHOICES.items() if models == always]
    return choice


EXERCISES += [
    question("baseline_mse", adding_baseline_mse_exact, "mse", atol=0.01, rtol=0.0, mistakes=[
        Mistake("1/12 is the variance of one marked value; the target adds two independent values, and "
                "their variances add: 2/12.", answer(1 / 12)),
        Mistake("1/3 is E[(u - 1)^2] for a single value u ~ U[0, 1]; the prediction 1 is compared with the sum "
                "of two values, whose mean is 1, so the error's mean square is the sum's variance, 2/12.",
                answer(1 / 3)),
    ]),
    question("race_winner", race_reference, "choice", mistakes=[
        Mistake("at T = 50 the tanh RNN's gradient from the first marker crosses 25 to 50 tanh steps and "
                "fades: in the shipped grid none of its runs solved T = 50 even in 5,000 steps.", answer(1)),
        Mistake("it is the other way round: the LSTM solved T = 50 in a few hundred steps, the RNN not at all.",
                answer(3)),
        Mistake("the LSTM solves T = 50 well within 1,500 steps: its cell state carries the gradient back to "
                "the first marker.", answer(4)),
    ]),
    question("lstm_longest_lag", lstm_longest_language_lag, "lag", atol=0.5, rtol=0.0, mistakes=[
        Mistake("at lag 60 the country is at least 33 steps back, and a fresh cell with f ≈ 0.73 keeps "
                "0.73**33 ≈ 3e-5 of it: the LSTM stayed at chance for its whole budget.", answer(60)),
        Mistake("the LSTM also solved the longer lags 20 and 40 within 1,500 steps; only the RNN stops at 10.",
                answer(10)),
    ]),
    question("rnn_longest_T", rnn_longest_adding_lag, "T", atol=0.5, rtol=0.0, mistakes=[
        Mistake("at T = 50 not one of the RNN's three runs got past about 30%, the score of always predicting 1.",
                answer(50)),
        Mistake("T = 200 was solved by the LSTM and the GRU; the tanh RNN failed from T = 50 on.", answer(200)),
        Mistake("the RNN solved T = 20 as well, slowly (in about 3,750 steps), before failing from T = 50 on.",
                answer(10)),
    ]),
    Exercise(
        name="attention",
        reference=attention_ref.attention,
        make_inputs=_attention_inputs,
        outputs=returns("context", "weights"),
        block=("lstm_helpers.attention:attention",),
        trial_note=_overflow_note,
        visible_trials=2,
        hidden_trials=3,
        mistakes=[
            Mistake("the scores are not divided by sqrt(H): scores[t, n] = query[n] · keys[t, n] / sqrt(H), "
                    "which keeps them about 1 in size whatever H is.", _attention_variant(scale="none")),
            Mistake("the scores are divided by H; the scaling is 1/sqrt(H): a dot product of H terms of size 1 "
                    "has a spread of sqrt(H).", _attention_variant(scale="H")),
            Mistake("the softmax runs over the wrong axis: the weights of sequence n, weights[:, n], are a "
                    "softmax over its T steps (axis 0 of the (T, N) scores), not over the batch.",
                    _attention_variant(axis=1)),
            Mistake("the weights do not sum to 1: divide exp(scores) by its sum over the T steps of each "
                    "sequence.", _attention_variant(normalise="none")),
            Mistake("the weights sum to 1 over the whole batch; each sequence's weights must sum to 1 on their "
                    "own: divide by the sum over t (axis=0, keepdims=True).", _attention_variant(normalise="all")),
            Mistake("the context averages the keys; it is the weighted average of the values: "
                    "context[n] = sum_t weights[t, n] * values[t, n].", _attention_variant(average="keys")),
        ],
    ),
    question("attention_grid", attention_grid_reference, "choice", mistakes=[
        Mistake("the RNN with the plain mean of its states solved every lag too: on this task the direct line "
                "from every state to the read-out does the work, and the learned weights make it faster.",
                answer(1)),
        Mistake("the LSTM stayed at chance from lag 60 on: the country is too far back for a fresh cell to "
                "carry any of it to the end (0.73**33 ≈ 3e-5 after 33 steps).", answer(3)),
        Mistake("the plain tanh RNN solved only the shortest lag: without a direct path its gradient fades "
                "within some twenty steps.", answer(4)),
    ]),
    question("attention_where", attention_where_reference, "choice", mistakes=[
        Mistake("the last words, I speak fluent, are the same in every sentence: they carry nothing about the "
                "language, and the trained query looks past them.", answer(1)),
        Mistake("equal weights would be the mean of the states, where the network started (W_q = 0); "
                "training turned the query towards one word.", answer(3)),
        Mistake("the padding carries no information (some sentences give it a share of the weight, spread "
                "over its steps); the single largest weight goes to the word that decides the answer.",
                answer(4)),
    ]),
]
