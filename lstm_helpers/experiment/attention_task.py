"""Chapter 06, section 7: a plain RNN with attention on the France task.

The tanh RNN of chapter 02 reads "I grew up in France ... I speak fluent"
as before. Instead of reading out its last state alone, the read-out looks
at a weighted average of *all* its states, chosen by attention
(:func:`lstm_helpers.attention.attention`):

    h = rnn_forward(x, 0, W_h, b_h)               (T, N, H): the state after every step
    query = h[-1] @ W_q.T                         (N, H): what the last state looks for
    context, weights = attention(query, h, h)     (N, H), (T, N)
    y = context @ W_y.T + b_y                     (N, K): one score per language

``W_q: (H, H)`` starts at zero, so at the start every weight is 1/T and the
context is the plain mean of the states; training turns the query towards
the states that matter (Luong, Pham & Manning's 2015 "general" score,
query · W_q h_t). To tell what the *learned* weights add from what the
direct path from every state to the read-out adds, a second model keeps
the weights at 1/T for good: ``"rnn_mean"``, the same RNN read out through
the mean of its states.

Both models are :class:`~lstm_helpers.experiment.training.Model` s, so
:func:`lstm_helpers.experiment.runner.train` trains them exactly as it trains
the RNN and the LSTM: Adam, clipping, fresh batches, early stopping.
``python -m lstm_helpers.experiment.attention_task`` writes the course's
precomputed grid, ``results/attention_results.json``.
"""

import json
from pathlib import Path

import numpy as np

from ..attention import attention, attention_backward
from ..rnn import init_rnn_params, rnn_backward, rnn_forward
from . import runner
from .training import Model

RESULTS_FILE = Path(__file__).parent / "results" / "attention_results.json"
GENERATED_BY = "python -m lstm_helpers.experiment.attention_task"


def rnn_states(x, params):
    """Run the tanh RNN (W_h, b_h of ``params``) over ``x: (T, N, D)`` from h_0 = 0.

    Returns h: (T, N, H), the state after every step, and the RNN's cache.
    """
    N, H = x.shape[1], params["b_h"].shape[0]
    h0 = np.zeros((N, H), dtype=np.result_type(x, params["b_h"]))
    return rnn_forward(x, h0, {"W_h": params["W_h"], "b_h": params["b_h"]})


def _init_with_query(D, H, rng, dtype, forget_bias):
    """The RNN's W_h (H, H + D), b_h (H,), and W_q (H, H) = 0 (forget_bias: unused, no gates)."""
    params = init_rnn_params(D, H, rng, dtype=dtype)
    params["W_q"] = np.zeros((H, H), dtype=dtype)  # weights start at 1/T: the mean of the states
    return params


def _init_rnn(D, H, rng, dtype, forget_bias):
    return init_rnn_params(D, H, rng, dtype=dtype)


def attend(x, params):
    """Run the RNN over ``x: (T, N, D)`` and attend over its states with query ``h[-1] @ W_q.T``.

    params: W_h (H, H + D), b_h (H,), W_q (H, H).
    Returns context (N, H), weights (T, N) and a cache for :func:`_backprop_attention`.
    """
    h, rnn_cache = rnn_states(x, params)
    query = h[-1] @ params["W_q"].T                       # (N, H)
    context, weights = attention(query, h, h)             # keys and values: the states themselves
    return context, weights, {"rnn": rnn_cache, "h": h, "query": query, "weights": weights,
                              "W_q": params["W_q"]}


def _run_attention(x, params):
    context, _, cache = attend(x, params)
    return context[None], cache  # a "sequence" of one output: the read-out reads its last entry


def _backprop_attention(dout, cache):
    """Gradients of W_h, b_h and W_q from ``dout: (1, N, H)``, the gradient on the context."""
    h, query = cache["h"], cache["query"]
    dquery, dkeys, dvalues = attention_backward(dout[0], query, h, h, cache["weights"])
    dh = dkeys + dvalues                                  # every state is a key and a value
    dh[-1] = dh[-1] + dquery @ cache["W_q"]               # the last state also made the query
    grads = rnn_backward(dh, cache["rnn"])[-1]
    grads["W_q"] = dquery.T @ h[-1]
    return grads


def _run_mean(x, params):
    h, rnn_cache = rnn_states(x, params)
    return h.mean(axis=0)[None], {"rnn": rnn_cache, "shape": h.shape}


def _backprop_mean(dout, cache):
    T = cache["shape"][0]
    dh = np.broadcast_to(dout[0] / T, cache["shape"]).copy()  # every state gets 1/T of the gradient
    return rnn_backward(dh, cache["rnn"])[-1]


#: The RNN read out through attention over all its states (learned weights).
RNN_ATTENTION = Model("rnn_attention", "tanh RNN read out through attention over its states",
                      _init_with_query, _run_attention, _backprop_attention)
#: The same RNN read out through the plain mean of its states (every weight fixed at 1/T).
RNN_MEAN = Model("rnn_mean", "tanh RNN read out through the mean of its states",
                 _init_rnn, _run_mean, _backprop_mean)
MODELS = {model.name: model for model in (RNN_ATTENTION, RNN_MEAN)}

#: The course's precomputed grid: the France task, four readers, every lag, three seeds.
GRID = {"task": "language", "models": ("rnn", "lstm", "rnn_mean", "rnn_attention"),
        "lags": (10, 20, 40, 60, 80, 160), "seeds": (0, 1, 2), "max_steps": 3000}

DESCRIPTION = (
    "Success against lag on the France task (data.language_task): a tanh RNN and an LSTM read out at their "
    "last state, and the same tanh RNN read out through the mean of its states (rnn_mean) or through "
    "attention over them (rnn_attention). Each trained with Adam and clipping on fresh batches until 95% of "
    "1,000 held-out sentences get the right language, or until the step budget runs out. Held-out checks "
    "every eval_every steps; mean_loss is the average training loss between two checks; seconds is the wall "
    "time on the machine that wrote the file, for information only.")


def model(name):
    """A model of the grid by name: this module's two, or one of ``training.MODELS``."""
    return MODELS.get(name, name)


def run_grid(models=None, lags=None, seeds=None, max_steps=None, out=None, resume=False, progress=True, log=print):
    """Train the grid (defaults: :data:`GRID`) with :func:`runner.run_grid`; return the results."""
    models = GRID["models"] if models is None else models
    return runner.run_grid(
        [model(name) for name in models], GRID["lags"] if lags is None else lags,
        GRID["seeds"] if seeds is None else seeds, task=GRID["task"],
        max_steps=GRID["max_steps"] if max_steps is None else max_steps, out=out, resume=resume,
        progress=progress, log=log, description=DESCRIPTION, generated_by=GENERATED_BY)


def load_results(path=RESULTS_FILE):
    """The precomputed grid shipped with the course (or another file written by :func:`run_grid`)."""
    return runner.load_results(path)


# -- one trained network, to look at its attention weights ------------------------------------------

EXAMPLE_FILE = Path(__file__).parent / "results" / "attention_example.json"
#: The run whose weights the course ships: the grid's cell at lag 40, seed 0.
EXAMPLE = {"lag": 40, "seed": 0}


def train_example(path=EXAMPLE_FILE, progress=False):
    """Train the RNN with attention of :data:`EXAMPLE` as the grid does and save its parameters as JSON.

    Returns the :class:`~lstm_helpers.experiment.runner.Run`. The parameters
    are float32; JSON keeps every float32 number exactly.
    """
    run = runner.train(RNN_ATTENTION, GRID["task"], EXAMPLE["lag"], rng=np.random.default_rng(EXAMPLE["seed"]),
                       max_steps=GRID["max_steps"], progress=progress, seed=EXAMPLE["seed"])
    record = {"description": "The parameters of the RNN with attention trained on the France task at lag "
                             f"{EXAMPLE['lag']} with seed {EXAMPLE['seed']}, as in the grid.",
              "generated_by": f"{GENERATED_BY} --example", "run": runner.run_record(run),
              "params": {key: value.tolist() for key, value in run.params.items()}}
    Path(path).write_text(json.dumps(record) + "\n")
    return run


def load_example(path=EXAMPLE_FILE):
    """The shipped parameters of :func:`train_example` (float32 arrays: W_h, b_h, W_q, W_y, b_y)."""
    record = json.loads(Path(path).read_text())
    return {key: np.array(value, dtype=np.float32) for key, value in record["params"].items()}


def main(argv=None):
    parser = runner.grid_parser(
        GENERATED_BY, "Precompute chapter 06's attention experiment: success against lag on the France task "
                      "for the RNN, the LSTM, and the RNN read out through the mean of its states or through "
                      "attention. With the defaults this took 55 minutes on two heavily shared cores.",
        GRID, ["rnn", "lstm", "gru", *MODELS], RESULTS_FILE)
    parser.add_argument("--example", action="store_true",
                        help=f"instead of the grid, train the example network (lag {EXAMPLE['lag']}, seed "
                             f"{EXAMPLE['seed']}) and write its parameters to {EXAMPLE_FILE.name}")
    args = parser.parse_args(argv)
    if args.example:
        print(train_example(progress=not args.no_progress).summary())
        print(f"written to {EXAMPLE_FILE}")
        return
    results = run_grid(args.models, args.lags, args.seeds, max_steps=args.max_steps, out=args.out,
                       resume=args.resume, progress=not args.no_progress)
    print(runner.format_table(results))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
