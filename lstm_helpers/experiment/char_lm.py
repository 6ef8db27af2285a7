"""Chapter 07: training a character-level language model, and the shipped one.

The model is a recurrent cell over one-hot characters (``D = V``) with the
output layer of :mod:`lstm_helpers.language_model` at every step. Training
is truncated backpropagation through time: the corpus is cut into
``batch_size`` long streams read side by side, window after window of
``seq_len`` characters. Each window starts from the states the previous one
ended with, and its gradient stops there. Adam and global-norm clipping
come from :mod:`.training`; the time cap, progress bar and the single BLAS
thread from :mod:`.runner`. The LSTM runs on the fused
:mod:`.fast_lstm`, which computes the same numbers as the notebook's
``tbptt_step`` (a test keeps them equal).

``python -m lstm_helpers.experiment.char_lm`` is the script that produced
the shipped results: it trains an RNN, a GRU and an LSTM with the same
number of parameters, the same data and the same seed, and writes

* ``results/char_lm_lstm.npz``: the LSTM's weights (the model the notebook
  samples from and looks inside);
* ``results/char_lm_results.json``: the curves, the validation bits per
  character of the three models and of the n-gram baseline, the
  probability of the right closing bracket or quote against its distance,
  the cells that best track strings, brackets and indentation, and samples.
"""

import argparse
import json
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from .. import language_model as lm
from ..gradients import clip_grad_norm, global_norm
from ..feedforward import sigmoid
from ..lstm import lstm_forward
from ..rnn import rnn_backward, rnn_forward
from ..variants import gru_backward, gru_forward
from . import corpus as corpus_mod
from . import fast_lstm, ngram
from .runner import TrainingDiverged, _divergence_message, _positive, _progress_bar, _time_budget, _whole, \
    one_blas_thread
from .training import adam_init, adam_step, init_model

RESULTS_DIR = Path(__file__).parent / "results"
WEIGHTS_FILE = RESULTS_DIR / "char_lm_lstm.npz"
RESULTS_FILE = RESULTS_DIR / "char_lm_results.json"

#: Hidden sizes that give the three cells (nearly) the same number of parameters, output layer included.
HIDDEN_SIZES = {"rnn": 273, "gru": 151, "lstm": 128}
#: The settings of the shipped runs (and the defaults of :func:`train`).
SETTINGS = {"seq_len": 64, "batch_size": 32, "lr": 2e-3, "max_norm": 5.0, "steps": 8000, "eval_every": 250,
            "n_eval": 20_000, "seed": 0}
#: The three features a cell may track (see :func:`find_tracking_cells`).
FEATURES = {"in_string": "inside a string", "depth": "bracket depth", "indent": "indentation"}
#: The results keep the training curve of the first PREFIX_STEPS steps as it was (a test re-runs them),
#: and after that its means over blocks of 50 steps.
PREFIX_STEPS = 100
#: Sampling temperatures shown by the chapter.
TEMPERATURES = (0.5, 1.0, 1.5)


def param_count(model, H, V=lm.V):
    """Number of parameters of a ``model`` cell with hidden size H over V characters, output layer included."""
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[model]
    return gates * (H * (H + V) + H) + V * H + V


# -- the three cells, with states carried in and out -------------------------------------------

@dataclass(frozen=True)
class Cell:
    """A recurrent cell for training: run(x, state, params) -> (h, new state, cache); grads(dh, cache)."""

    name: str
    state_size: int  # 1 (h) or 2 (h and c)
    run: callable
    grads: callable


def _run_lstm(x, state, params):
    h, c, cache = fast_lstm.lstm_forward(x, state[0], state[1], params)
    return h, (h[-1], c[-1]), cache


def _run_rnn(x, state, params):
    h, cache = rnn_forward(x, state[0], params)
    return h, (h[-1],), cache


def _run_gru(x, state, params):
    h, cache = gru_forward(x, state[0], params)
    return h, (h[-1],), cache


CELLS = {
    "lstm": Cell("lstm", 2, _run_lstm, lambda dh, cache: fast_lstm.lstm_backward(dh, cache)[-1]),
    "rnn": Cell("rnn", 1, _run_rnn, lambda dh, cache: rnn_backward(dh, cache)[-1]),
    "gru": Cell("gru", 1, _run_gru, lambda dh, cache: gru_backward(dh, cache)[-1]),
}


def _cell(model):
    if model not in CELLS:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(map(repr, CELLS))}")
    return CELLS[model]


def hidden_size_of(params):
    """H, read from the output layer W_y (V, H)."""
    return params["W_y"].shape[1]


def zero_state(model, params, N):
    """The states a stream starts from: zeros, (N, H) each."""
    dtype = params["W_y"].dtype
    return tuple(np.zeros((N, hidden_size_of(params)), dtype=dtype) for _ in range(_cell(model).state_size))


def init_params(model, rng, H=None, dtype=np.float32):
    """A fresh language model: cell ``model`` with hidden size H (default :data:`HIDDEN_SIZES`) over V characters."""
    H = HIDDEN_SIZES[model] if H is None else H
    return init_model(model, lm.V, H, lm.V, rng, dtype=dtype)


def window_step(model, params, window, state):
    """Loss and gradients of one window; the same maths as ``language_model.tbptt_step``, for any cell.

    window: (T + 1, N) ids; the inputs are window[:-1], the targets window[1:].
    state: the states the previous window ended with. Returns (loss, grads, new state).
    """
    cell = _cell(model)
    x = lm.one_hot(window[:-1], dtype=params["W_y"].dtype)
    y = window[1:]
    cell_params, W_y, b_y = lm.split_params(params)
    h, new_state, cache = cell.run(x, state, cell_params)
    scores, out_cache = lm.output_layer_forward(h, W_y, b_y)
    loss, dscores = lm.temporal_softmax_loss(scores, y, np.ones(y.shape, dtype=bool))
    dh, dW_y, db_y = lm.output_layer_backward(dscores.astype(h.dtype, copy=False), out_cache)
    grads = cell.grads(dh, cache)
    grads["W_y"], grads["b_y"] = dW_y, db_y
    return loss, grads, new_state


# -- the corpus as parallel streams ---------------------------------------------------------------

def streams(ids, batch_size, offset=0):
    """Cut ``ids[offset:]`` into ``batch_size`` contiguous streams: (L, batch_size), one column each."""
    usable = (len(ids) - offset) // batch_size
    if usable < 2:
        raise ValueError(f"the text is too short for {batch_size} streams")
    return np.asarray(ids[offset: offset + usable * batch_size]).reshape(batch_size, usable).T


def windows(ids, batch_size, seq_len, rng=None):
    """Endless windows (seq_len + 1, batch_size) of the text, epoch after epoch.

    Consecutive windows continue each stream (they overlap by the one
    character that is a target in the first and an input in the second).
    Each epoch starts the streams at a new random offset below seq_len
    (rng; 0 without one). Yields (window, first): first is True at the start
    of an epoch, where the states go back to zero.
    """
    while True:
        offset = int(rng.integers(seq_len)) if rng is not None else 0
        text = streams(ids, batch_size, offset)
        for start in range(0, len(text) - seq_len, seq_len):
            yield text[start: start + seq_len + 1], start == 0


# -- training -------------------------------------------------------------------------------------

@dataclass
class LMRun:
    """The record of one training run of :func:`train`.

    loss: (steps,) bits per character of every training window, before its step.
    eval_steps, eval_bpc: validation bits per character, and after which step.
    stopped: "steps" or "time" (the time budget ran out).
    """

    model: str
    steps: int
    stopped: str
    seconds: float
    settings: dict
    loss: np.ndarray = field(repr=False)
    eval_steps: np.ndarray = field(repr=False)
    eval_bpc: np.ndarray = field(repr=False)
    params: dict = field(default=None, repr=False)

    def summary(self):
        last = f"{self.eval_bpc[-1]:.2f}" if len(self.eval_bpc) else "n/a"
        return (f"{self.model}: {self.steps} steps in {self.seconds:.0f} s ({self.stopped}), "
                f"validation {last} bits per character")


def train(model="lstm", train_ids=None, valid_ids=None, *, rng, hidden_size=None, steps=SETTINGS["steps"],
          time_budget=None, seq_len=SETTINGS["seq_len"], batch_size=SETTINGS["batch_size"], lr=SETTINGS["lr"],
          max_norm=SETTINGS["max_norm"], eval_every=SETTINGS["eval_every"], n_eval=SETTINGS["n_eval"],
          dtype=np.float32, progress=True, params=None):
    """Train a character-level language model with truncated BPTT, Adam and clipping.

    model: "lstm", "gru" or "rnn". train_ids, valid_ids: the texts as
        vocabulary indices (default: the course's corpus).
    rng: a numpy Generator, split into two streams: the starting weights and
        the epochs' offsets. hidden_size: H (default :data:`HIDDEN_SIZES`).
    steps: the step budget; time_budget: seconds, or None (the environment
        variable ``LSTM_COURSE_MAX_TRAIN_SECONDS`` caps it).
    seq_len: T, the window; batch_size: N, the streams read side by side.
    lr: Adam's learning rate; max_norm: global-norm clipping threshold.
    eval_every, n_eval: validation bits per character on the first n_eval
        validation characters every eval_every steps, and after the last.
    params: start from these instead of fresh weights.
    Returns an :class:`LMRun`.
    """
    cell = _cell(model)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy Generator, e.g. np.random.default_rng(0), got {type(rng).__name__}")
    steps = _whole("steps", steps, 1)
    seq_len = _whole("seq_len", seq_len, 1)
    batch_size = _whole("batch_size", batch_size, 1)
    eval_every = _whole("eval_every", eval_every, 1)
    n_eval = _whole("n_eval", n_eval, 2)
    lr = _positive("lr", lr)
    max_norm = _positive("max_norm", max_norm, none_means="no clipping")
    budget = _time_budget(time_budget)
    if train_ids is None or valid_ids is None:
        corpus = corpus_mod.load_corpus()
        train_ids = corpus.train_ids if train_ids is None else train_ids
        valid_ids = corpus.valid_ids if valid_ids is None else valid_ids
    init_rng, data_rng = rng.spawn(2)
    if params is None:
        params = init_params(cell.name, init_rng, hidden_size, dtype=dtype)
    settings = {"model": cell.name, "hidden_size": hidden_size_of(params), "seq_len": seq_len,
                "batch_size": batch_size, "lr": lr, "max_norm": max_norm, "steps": steps, "time_budget": budget,
                "eval_every": eval_every, "n_eval": n_eval, "dtype": np.dtype(dtype).name}
    state = adam_init(params)
    valid_part = np.asarray(valid_ids[:n_eval])
    losses, eval_steps, eval_bpc = [], [], []
    batches = windows(train_ids, batch_size, seq_len, data_rng)
    step, stopped = 0, "steps"
    bar = _progress_bar(progress, steps, f"{cell.name} language model")
    started = time.perf_counter()
    try:
        with one_blas_thread():  # small matrices: one BLAS thread is faster (see runner.one_blas_thread)
            carried = zero_state(cell.name, params, batch_size)
            while step < steps:
                window, first = next(batches)
                if first:
                    carried = zero_state(cell.name, params, batch_size)
                with np.errstate(all="ignore"):  # a diverging run may overflow; it is caught just below
                    loss, grads, carried = window_step(cell.name, params, window, carried)
                    total_norm = global_norm(grads)
                if not (math.isfinite(loss) and math.isfinite(total_norm)):
                    raise TrainingDiverged(_divergence_message(step + 1, loss, lr, max_norm))
                if max_norm is not None:
                    grads, _ = clip_grad_norm(grads, max_norm)
                params, state = adam_step(params, grads, state, lr)
                step += 1
                losses.append(loss / seq_len / math.log(2))  # bits per character of this window
                out_of_time = budget is not None and time.perf_counter() - started > budget
                if step % eval_every == 0 or step == steps or out_of_time:
                    eval_steps.append(step)
                    eval_bpc.append(evaluate(cell.name, params, valid_part))
                if bar is not None and (step % 10 == 0 or step == steps):
                    bar.update(step - bar.n)
                    shown = {"train bits/char": f"{np.mean(losses[-10:]):.2f}"}
                    if eval_bpc:
                        shown["validation"] = f"{eval_bpc[-1]:.2f}"
                    bar.set_postfix(shown, refresh=False)
                if out_of_time:
                    stopped = "time"
                    break
    finally:
        if bar is not None:
            bar.update(step - bar.n)
            bar.close()
    return LMRun(model=cell.name, steps=step, stopped=stopped, seconds=time.perf_counter() - started,
                 settings=settings, loss=np.array(losses), eval_steps=np.array(eval_steps, dtype=int),
                 eval_bpc=np.array(eval_bpc), params=params)


# -- reading text with a trained model ------------------------------------------------------------

def run_text(model, params, ids, n_streams=8, seq_len=256, keep_cells=False):
    """Read ``ids`` with the model and report what it predicted at every character.

    The text is cut into ``n_streams`` pieces read side by side, each from
    zero states (the first characters of a piece have less context).
    Returns {"p_true": (L,) the probability given to ids[j] from what came
    before (NaN at the first character of every piece), and with
    keep_cells, "cells": (L, H) the cell state after each character (for
    the GRU and RNN, whose memory is h, the hidden state)}.
    """
    cell = _cell(model)
    ids = np.asarray(ids)
    L = len(ids)
    piece = -(-L // n_streams)  # ceil
    padded = np.zeros(piece * n_streams, dtype=np.int64)
    padded[:L] = ids
    text = padded.reshape(n_streams, piece).T  # (piece, n_streams)
    cell_params, W_y, b_y = lm.split_params(params)
    dtype = W_y.dtype
    state = zero_state(cell.name, params, n_streams)
    p_true = np.full((piece, n_streams), np.nan)
    cells = np.zeros((piece, n_streams, W_y.shape[1]), dtype=dtype) if keep_cells else None
    with one_blas_thread(), np.errstate(all="ignore"):
        for start in range(0, piece, seq_len):
            chunk = text[start: start + seq_len]
            h, new_state, cache = cell.run(lm.one_hot(chunk, dtype=dtype), state, cell_params)
            probs = lm.softmax(h @ W_y.T + b_y)  # (t, N, V): the guess for the next character
            nxt = text[start + 1: start + len(chunk) + 1]
            p_true[start + 1: start + 1 + len(nxt)] = np.take_along_axis(probs[:len(nxt)], nxt[..., None], 2)[..., 0]
            if keep_cells:
                cells[start: start + len(chunk)] = cache["c_all"][1:] if cell.name == "lstm" else h
            state = new_state
    out = {"p_true": p_true.T.reshape(-1)[:L]}
    if keep_cells:
        out["cells"] = cells.transpose(1, 0, 2).reshape(-1, W_y.shape[1])[:L]
    return out


def next_char_distributions(params, text):
    """What the LSTM language model expects after every character of ``text`` (fast path, one stream).

    params: the LSTM's keys with W_y (V, H), b_y (V,); text: a str of vocabulary characters.
    Returns probs: (len(text), V); probs[j] is the distribution of the character after text[j].
    """
    ids = lm.encode(text)
    cell_params, W_y, b_y = lm.split_params(params)
    H = W_y.shape[1]
    zeros = np.zeros((1, H), dtype=W_y.dtype)
    h, _, _ = fast_lstm.lstm_forward(lm.one_hot(ids[:, None], dtype=W_y.dtype), zeros, zeros, cell_params)
    return lm.softmax(h[:, 0] @ W_y.T + b_y)


def fast_sample(params, prime, n, temperature, rng):
    """``language_model.sample`` for the widget: the same characters, faster, and what the model thought of them.

    The same arguments and the same draws (one ``rng.choice(V, p=p)`` per
    character; a test keeps the two equal). The step is fused: the four gate
    blocks are one matrix, and a one-hot input simply picks a column of it.
    Returns (text, p_chosen, p_first): the n characters; (n,) the probability
    the model gave each of them at temperature 1; (V,) its distribution of the
    first one at temperature 1.
    """
    ids, lstm_params, W_y, b_y = lm._check_sampling(params, prime, n, temperature, rng)
    H = W_y.shape[1]
    W = np.concatenate([np.asarray(lstm_params[f"W_{g}"], dtype=np.float64) for g in ("f", "i", "o", "c")])
    b = np.concatenate([np.asarray(lstm_params[f"b_{g}"], dtype=np.float64) for g in ("f", "i", "o", "c")])
    W_hT, W_xT = W[:, :H].T.copy(), W[:, H:].T.copy()  # (H, 4H); (V, 4H): row k is what character k adds
    W_yT, b_y = np.asarray(W_y, dtype=np.float64).T.copy(), np.asarray(b_y, dtype=np.float64)
    h, c = np.zeros(H), np.zeros(H)

    def step(k, h, c):
        a = h @ W_hT + W_xT[k] + b
        f, i, o = sigmoid(a[:3 * H]).reshape(3, H)
        c = f * c + i * np.tanh(a[3 * H:])
        return o * np.tanh(c), c

    for k in ids[:-1]:
        h, c = step(k, h, c)
    char, text, p_chosen, p_first = ids[-1], [], np.zeros(n), None
    for t in range(n):
        h, c = step(char, h, c)
        scores = h @ W_yT + b_y
        p_one = lm.softmax(scores)
        if temperature == 0:
            char = int(np.argmax(scores))
        else:
            char = int(rng.choice(lm.V, p=lm.softmax(scores / temperature)))
        p_chosen[t] = p_one[char]
        p_first = p_one if p_first is None else p_first
        text.append(lm.VOCAB[char])
    if p_first is None:  # n == 0
        p_first = lm.softmax(step(char, h, c)[0] @ W_yT + b_y)
    return "".join(text), p_chosen, p_first


def lstm_gates(params, text):
    """Run the readable LSTM of chapter 04 over ``text`` and keep its gates.

    Returns {"c", "f", "i", "o": (len(text), H)}: the cell state and the three
    gates at every character (after reading it). For a short text: the
    readable loop keeps a cache per step.
    """
    ids = lm.encode(text)
    cell_params, W_y, _ = lm.split_params(params)
    H = W_y.shape[1]
    zeros = np.zeros((1, H))
    _, c, cache = lstm_forward(lm.one_hot(ids[:, None]), zeros, zeros, cell_params)
    gates = {g: np.stack([step[g][0] for step in cache["steps"]]) for g in ("f", "i", "o")}
    return dict(gates, c=c[:, 0])


def evaluate(model, params, ids, n_streams=8):
    """Validation bits per character of ``ids`` (every character that has a history in its piece)."""
    p = run_text(model, params, ids, n_streams=n_streams)["p_true"]
    return float(-np.nanmean(np.log2(p)))


# -- the long-range test: closing brackets and quotes ---------------------------------------------

#: Distance bins (in characters back to the opener) of the closer test: 1-2, 3-4, 5-8, ..., 257-512.
DISTANCE_EDGES = (1, 3, 5, 9, 17, 33, 65, 129, 257, 513)


def closer_curve(p_closer, distance, edges=DISTANCE_EDGES):
    """Mean probability of the right closer in each distance bin.

    p_closer, distance: (P,) for every pair. Returns {"edges": list, "mean": [..], "count": [..]}
    (mean is None for an empty bin).
    """
    means, counts = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (distance >= lo) & (distance < hi) & np.isfinite(p_closer)
        counts.append(int(inside.sum()))
        means.append(round(float(np.mean(p_closer[inside])), 4) if inside.any() else None)
    return {"edges": list(edges), "mean": means, "count": counts}


# -- finding the cell ------------------------------------------------------------------------------

def correlations(cells, feature):
    """Pearson correlation of every column of ``cells`` (L, H) with ``feature`` (L,). Returns (H,)."""
    a = cells - cells.mean(axis=0)
    b = np.asarray(feature, dtype=np.float64) - np.mean(feature)
    denominator = np.sqrt((a * a).sum(axis=0) * (b * b).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b[:, None]).sum(axis=0) / denominator
    return np.nan_to_num(r)


def find_tracking_cells(cells, structure, top=3):
    """The cells whose activation correlates best with each feature of the text.

    cells: (L, H) cell states after each character; structure: the text's
    :class:`~lstm_helpers.experiment.corpus.CodeStructure` (same L).
    Returns {feature: [(cell, r), ...]} for "in_string", "depth" and
    "indent", the ``top`` cells by |r|, best first.
    """
    cells = np.asarray(cells, dtype=np.float64)
    found = {}
    for name in FEATURES:
        r = correlations(cells, getattr(structure, name))
        order = np.argsort(-np.abs(r))[:top]
        found[name] = [(int(k), round(float(r[k]), 4)) for k in order]
    return found


# -- saving and loading ----------------------------------------------------------------------------

def save_weights(params, path=WEIGHTS_FILE):
    """Write the parameters as a compressed .npz file (keys as in the dict)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **params)
    return path


def load_weights(path=WEIGHTS_FILE):
    """The shipped LSTM language model (or another saved one): a dict of float32 arrays."""
    with np.load(Path(path)) as data:
        return {key: data[key] for key in data.files}


def load_results(path=RESULTS_FILE):
    """The shipped results of ``python -m lstm_helpers.experiment.char_lm``."""
    return json.loads(Path(path).read_text())


# -- the script that made the shipped results ------------------------------------------------------

def _round(values, digits=5):
    return [float(f"{float(v):.{digits}g}") for v in values]


def run_comparison(models=("rnn", "gru", "lstm"), steps=SETTINGS["steps"], seed=SETTINGS["seed"], out=RESULTS_FILE,
                   weights=WEIGHTS_FILE, progress=True, log=print):
    """Train every model with the shipped settings and write the results (and the LSTM's weights)."""
    corpus = corpus_mod.load_corpus()
    train_ids, valid_ids = corpus.train_ids, corpus.valid_ids
    structure = corpus_mod.corpus_structure(corpus)
    pairs = structure.pairs
    distance = pairs[:, 1] - pairs[:, 0]
    results = {
        "description": ("Character-level language models on the course's corpus (Python standard-library "
                        "sources): a tanh RNN, a GRU and an LSTM with (nearly) the same number of parameters, "
                        "trained with the same settings, windows and seed; and an n-gram baseline. bpc: "
                        "validation bits per character on the whole validation text. closer: the mean "
                        "probability of the right closing bracket or quote against the distance back to its "
                        "opener. seconds: wall time on the machine that wrote the file, for information only."),
        "generated_by": "python -m lstm_helpers.experiment.char_lm",
        "lstm_helpers_version": __version__, "numpy_version": np.__version__,
        "python_version": platform.python_version(), "corpus_fingerprint": corpus.fingerprint,
        "corpus_characters": {"train": len(train_ids), "valid": len(valid_ids)},
        "settings": dict(SETTINGS, steps=steps, seed=seed, hidden_sizes=HIDDEN_SIZES),
        "pairs": int(len(pairs)), "models": {},
    }
    baseline = ngram.fit(train_ids)
    p_ngram = baseline.probability(valid_ids, pairs[:, 1])
    results["ngram"] = {"order": baseline.order, "k": baseline.k,
                        "bpc": round(baseline.bits_per_character(valid_ids), 4),
                        "closer": closer_curve(p_ngram, distance)}
    log(f"n-gram (order {baseline.order}): validation {results['ngram']['bpc']:.3f} bits per character")
    for name in models:
        run = train(name, train_ids, valid_ids, rng=np.random.default_rng(seed), steps=steps, progress=progress)
        read = run_text(name, run.params, valid_ids, keep_cells=(name == "lstm"))
        p = read["p_true"]
        record = {"hidden_size": hidden_size_of(run.params), "parameters": sum(v.size for v in run.params.values()),
                  "bpc": round(float(-np.nanmean(np.log2(p))), 4), "seconds": round(run.seconds, 1),
                  "steps": run.steps, "train_bpc_first": _round(run.loss[:PREFIX_STEPS]),
                  "train_bpc_mean": _round([np.mean(block) for block in np.array_split(run.loss, max(1, run.steps // 50))]),
                  "eval_steps": run.eval_steps.tolist(),
                  "eval_bpc": _round(run.eval_bpc), "closer": closer_curve(p[pairs[:, 1]], distance)}
        if name == "lstm":
            save_weights(run.params, weights)
            record["tracking_cells"] = find_tracking_cells(read["cells"], structure)
            record["samples"] = {str(t): lm.sample(run.params, "def ", 300, t, np.random.default_rng(seed))
                                 for t in TEMPERATURES}
        results["models"][name] = record
        log(f"{name} (H = {record['hidden_size']}, {record['parameters']:,} parameters): validation "
            f"{record['bpc']:.3f} bits per character after {run.steps} steps ({run.seconds:.0f} s)")
        if out is not None:
            Path(out).write_text(json.dumps(results, indent=1) + "\n")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m lstm_helpers.experiment.char_lm",
        description="Train the chapter 07 language models (RNN, GRU, LSTM with equal parameter counts) and write "
                    "the shipped weights and results. With the defaults this takes about 25 minutes on two idle cores, much longer on a busy machine.")
    parser.add_argument("--models", nargs="+", default=["rnn", "gru", "lstm"], choices=list(CELLS))
    parser.add_argument("--steps", type=int, default=SETTINGS["steps"])
    parser.add_argument("--seed", type=int, default=SETTINGS["seed"])
    parser.add_argument("--out", default=str(RESULTS_FILE), help="results file (default: the one shipped)")
    parser.add_argument("--weights", default=str(WEIGHTS_FILE), help="LSTM weights (default: the ones shipped)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    run_comparison(args.models, steps=args.steps, seed=args.seed, out=args.out, weights=args.weights,
                   progress=not args.no_progress)
    print(f"written to {args.out} and {args.weights}")


if __name__ == "__main__":
    main()
