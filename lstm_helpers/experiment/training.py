"""Training pieces: losses, optimisers, the models with a read-out, and one step.

Chapter 03 uses the mean squared error, one step of gradient descent, and a
small tanh RNN trained twice on the same task from the same start, once with
gradient clipping and once without (the *clipping experiment*).

Chapter 06 trains whole recurrent networks on long-lag tasks. For that this
module adds the softmax cross-entropy, Adam, and every recurrent cell of the
course behind one interface (:data:`MODELS`): the cell reads the sequence, and
a linear read-out ``y = W_y · h_T + b_y`` looks at the last hidden state only.
:func:`train_step` is the exercise of chapter 06: one step of gradient descent
with clipping for an LSTM. The training loop with early stopping and the tasks
live in :mod:`lstm_helpers.experiment`.

Every random draw comes from a ``numpy.random.Generator`` that the caller
passes in; nothing here touches NumPy's global seed. float32 inputs and
parameters stay float32, which is what training uses for speed.
"""

from dataclasses import dataclass, field

import numpy as np

from .._validate import as_float_array, check_shape
from ..gradients import clip_grad_norm, global_norm
from ..lstm import init_lstm_params
from .fast_lstm import lstm_backward, lstm_forward
from ..rnn import init_rnn_params, rnn_backward, rnn_forward
from ..variants import (
    cifg_lstm_backward,
    cifg_lstm_forward,
    gru_backward,
    gru_forward,
    init_cifg_lstm_params,
    init_gru_params,
    init_peephole_lstm_params,
    peephole_lstm_backward,
    peephole_lstm_forward,
)


def mse_loss(y, target):
    """Mean squared error over every element, and its gradient.

    y, target: arrays of the same shape, for example (N, K).
    Returns (loss, dy): loss = mean((y - target)**2), a float, and
    dy = dloss/dy = 2 (y - target) / y.size, shaped like y.
    """
    y = as_float_array("y", y)
    target = as_float_array("target", target)
    if y.shape != target.shape:
        raise ValueError(f"y has shape {y.shape} but target has shape {target.shape}; they must match")
    diff = y - target
    return float(np.mean(diff ** 2)), 2.0 * diff / diff.size


def sgd_step(params, grads, lr):
    """One step of gradient descent: ``params[k] - lr * grads[k]`` for every key.

    params, grads: dicts of arrays with the same keys and shapes; neither is changed.
    lr: the learning rate. Returns the new parameters as a new dict.
    """
    missing = [k for k in params if k not in grads]
    if missing:
        raise ValueError(f"grads is missing {', '.join(map(repr, missing))}; it needs every key of params")
    return {key: value - lr * grads[key] for key, value in params.items()}


# -- the clipping experiment ----------------------------------------------------------------

def make_recall_task(rng, n_sequences=32, seq_len=12, n_channels=2):
    """A small memory task: read a sequence, then output what it saw first.

    Returns (x, target): x (seq_len, N, n_channels) with standard normal
    entries, and target (N, n_channels) = x[0]. The answer is seq_len - 1
    steps back, so the gradient that teaches it travels through every step.
    """
    x = rng.standard_normal((seq_len, n_sequences, n_channels))
    return x, x[0].copy()


def rnn_regression_loss(params, x, target):
    """Loss and gradients of a tanh RNN whose last state is read by a linear layer.

    params: {"W_h": (H, H + D), "b_h": (H,), "W_y": (K, H), "b_y": (K,)}
    x: (T, N, D), target: (N, K). The initial state is zero.
    Prediction: y = h_T W_y^T + b_y, loss: mean squared error.
    Returns (loss, grads) with grads for every key of params.
    """
    N = x.shape[1]
    H = params["b_h"].shape[0]
    rnn_params = {"W_h": params["W_h"], "b_h": params["b_h"]}
    h, cache = rnn_forward(x, np.zeros((N, H)), rnn_params)
    y = h[-1] @ params["W_y"].T + params["b_y"]
    loss, dy = mse_loss(y, target)
    dh = np.zeros_like(h)
    dh[-1] = dy @ params["W_y"]  # only the last state is read
    _, _, grads = rnn_backward(dh, cache)
    grads["W_y"] = dy.T @ h[-1]
    grads["b_y"] = dy.sum(axis=0)
    return loss, grads


@dataclass
class TrainingRun:
    """The record of one training run.

    loss: (steps,) loss before each step; NaN after the run diverged.
    grad_norm: (steps,) global gradient norm before clipping; NaN after divergence.
    diverged_at: the step at which the loss or a gradient stopped being a
        finite number (or exceeded ``blowup``), or None if the run finished.
    """

    loss: np.ndarray
    grad_norm: np.ndarray
    diverged_at: int = None
    params: dict = field(default=None, repr=False)

    @property
    def diverged(self):
        return self.diverged_at is not None


def train_rnn(params, x, target, lr, steps, max_norm=None, blowup=1e6, clip_fn=clip_grad_norm):
    """Full-batch gradient descent on ``rnn_regression_loss``, optionally with clipping.

    max_norm: None for plain steps, or the threshold of ``clip_fn``.
    blowup: a loss above this counts as diverged; the run stops there.
    clip_fn: the clipping function, ``clip_grad_norm`` (the learner's own works too).
    Returns a :class:`TrainingRun`. No NumPy warning escapes: overflow inside
    a diverging run is expected, so it is silenced and recorded instead.
    """
    loss_curve = np.full(steps, np.nan)
    norm_curve = np.full(steps, np.nan)
    diverged_at = None
    for step in range(steps):
        with np.errstate(all="ignore"):  # a diverging run may overflow; we detect it just below
            loss, grads = rnn_regression_loss(params, x, target)
            total_norm = global_norm(grads)
        if not np.isfinite(loss) or loss > blowup or not np.isfinite(total_norm):
            diverged_at = step
            break
        loss_curve[step], norm_curve[step] = loss, total_norm
        if max_norm is not None:
            grads, _ = clip_fn(grads, max_norm)
        params = sgd_step(params, grads, lr)
    return TrainingRun(loss=loss_curve, grad_norm=norm_curve, diverged_at=diverged_at, params=params)


def clipping_experiment(rng, lr=0.3, max_norm=1.0, steps=300, seq_len=20, hidden_size=16, n_sequences=32,
                        sigma_max=4.0, input_scale=2.5, clip_fn=clip_grad_norm):
    """Train the same tanh RNN twice on the recall task, without and with clipping.

    rng: numpy Generator; it draws the task and the shared starting weights.
    lr: a learning rate large enough that unclipped steps overshoot.
    max_norm: the clipping threshold for the clipped run.
    sigma_max: largest singular value of the starting recurrent block W_h[:, :H];
        well above 1, so gradients through time can explode.
    input_scale: multiplies the default input weights W_h[:, H:] (std 1 / sqrt(H + D)).
    clip_fn: the clipping function of the clipped run.
    Returns {"unclipped": TrainingRun, "clipped": TrainingRun}.
    """
    x, target = make_recall_task(rng, n_sequences=n_sequences, seq_len=seq_len)
    D, K = x.shape[2], target.shape[1]
    start = init_rnn_params(D, hidden_size, rng)
    W_rec = start["W_h"][:, :hidden_size]
    W_rec *= sigma_max / np.linalg.norm(W_rec, ord=2)  # W_rec is a view: this rescales W_h's recurrent block
    start["W_h"][:, hidden_size:] *= input_scale
    start["W_y"] = rng.standard_normal((K, hidden_size)) / np.sqrt(hidden_size)
    start["b_y"] = np.zeros(K)
    return {
        "unclipped": train_rnn(dict(start), x, target, lr, steps),
        "clipped": train_rnn(dict(start), x, target, lr, steps, max_norm=max_norm, clip_fn=clip_fn),
    }


# -- chapter 06: a second loss ----------------------------------------------------------------

def softmax_cross_entropy(logits, labels):
    """Softmax cross-entropy averaged over the batch, and its gradient.

    logits: (N, K) scores, labels: (N,) integers in 0 .. K - 1.
    Returns (loss, dlogits): loss = mean over n of -log softmax(logits[n])[labels[n]],
    a float, and dlogits = (softmax(logits) - one_hot(labels)) / N, shaped like logits.
    The largest logit of each row is subtracted first, so large scores neither
    overflow nor warn.
    """
    logits = as_float_array("logits", logits)
    check_shape("logits", logits, ("N", "K"))
    labels = np.asarray(labels)
    N, K = logits.shape
    if labels.shape != (N,) or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be {N} integers, shape ({N},), got shape {labels.shape} "
                         f"and dtype {labels.dtype}")
    if N and (labels.min() < 0 or labels.max() >= K):
        raise ValueError(f"labels must lie in 0 .. {K - 1} (one per column of logits), "
                         f"got {labels.min()} .. {labels.max()}")
    shifted = logits - logits.max(axis=1, keepdims=True)  # every row's largest score becomes 0
    log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_sum  # log softmax, (N, K)
    rows = np.arange(N)
    loss = -float(np.mean(log_probs[rows, labels]))
    dlogits = np.exp(log_probs)
    dlogits[rows, labels] -= 1.0
    return loss, dlogits / N


# -- chapter 06: Adam ---------------------------------------------------------------------------

def adam_init(params):
    """A fresh Adam state for ``params``: zero moments and step count 0.

    Returns {"t": 0, "m": {key: zeros}, "v": {key: zeros}}, arrays shaped
    (and typed) like the parameters.
    """
    return {"t": 0,
            "m": {key: np.zeros_like(value) for key, value in params.items()},
            "v": {key: np.zeros_like(value) for key, value in params.items()}}


def adam_step(params, grads, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """One step of Adam (Kingma & Ba 2015); neither ``params`` nor ``state`` is changed.

    params, grads: dicts of arrays with the same keys and shapes.
    state: from :func:`adam_init` or a previous step.
    For every key, with t the new step count:

        m = beta1 m + (1 - beta1) g            running mean of the gradient
        v = beta2 v + (1 - beta2) g**2         running mean of its square
        p = p - lr * m_hat / (sqrt(v_hat) + eps),
            m_hat = m / (1 - beta1**t),  v_hat = v / (1 - beta2**t)

    Each parameter's step is about ``lr`` in size whatever the scale of its
    gradient. Returns (new_params, new_state).
    """
    missing = [k for k in params if k not in grads]
    if missing:
        raise ValueError(f"grads is missing {', '.join(map(repr, missing))}; it needs every key of params")
    t = state["t"] + 1
    correct1, correct2 = 1.0 - beta1 ** t, 1.0 - beta2 ** t  # bias corrections: the moments start at 0
    new_params, m_new, v_new = {}, {}, {}
    for key, p in params.items():
        g = grads[key]
        m = beta1 * state["m"][key] + (1.0 - beta1) * g
        v = beta2 * state["v"][key] + (1.0 - beta2) * (g * g)
        new_params[key] = p - lr * (m / correct1) / (np.sqrt(v / correct2) + eps)
        m_new[key], v_new[key] = m, v
    return new_params, {"t": t, "m": m_new, "v": v_new}


# -- chapter 06: the recurrent models with a read-out on the last state ------------------------------

@dataclass(frozen=True)
class Model:
    """One recurrent cell behind the common interface of :func:`forward`.

    init(D, H, rng, dtype, forget_bias) -> the cell's parameters;
    run(x, params) -> (h: (T, N, H), cache), from zero initial states;
    backprop(dh, cache) -> the cell's gradients (every key of its parameters).
    """

    name: str
    description: str
    init: callable
    run: callable
    backprop: callable


def _zeros_state(x, params, bias_key):
    return np.zeros((x.shape[1], params[bias_key].shape[0]), dtype=np.result_type(x, params[bias_key]))


def _run_rnn(x, params):
    return rnn_forward(x, _zeros_state(x, params, "b_h"), params)


def _run_lstm_like(forward_fn):
    def run(x, params):
        zeros = _zeros_state(x, params, "b_f")
        h, _, cache = forward_fn(x, zeros, zeros, params)
        return h, cache
    return run


def _run_gru(x, params):
    return gru_forward(x, _zeros_state(x, params, "b_z"), params)


def _grads_of(backward_fn):
    def backprop(dh, cache):
        return backward_fn(dh, cache)[-1]  # the grads come last; dx, dh0 (and dc0) are not needed
    return backprop


#: The recurrent cells of the course, by name.
MODELS = {
    "rnn": Model("rnn", "tanh RNN (chapter 02)",
                 lambda D, H, rng, dtype, forget_bias: init_rnn_params(D, H, rng, dtype=dtype),
                 _run_rnn, _grads_of(rnn_backward)),
    "lstm": Model("lstm", "LSTM (chapter 04)",
                  lambda D, H, rng, dtype, forget_bias: init_lstm_params(D, H, rng, forget_bias=forget_bias, dtype=dtype),
                  _run_lstm_like(lstm_forward), _grads_of(lstm_backward)),
    "gru": Model("gru", "GRU (chapter 05)",
                 lambda D, H, rng, dtype, forget_bias: init_gru_params(D, H, rng, dtype=dtype),
                 _run_gru, _grads_of(gru_backward)),
    "peephole": Model("peephole", "LSTM with peephole connections (chapter 05)",
                      lambda D, H, rng, dtype, forget_bias: init_peephole_lstm_params(
                          D, H, rng, forget_bias=forget_bias, dtype=dtype),
                      _run_lstm_like(peephole_lstm_forward), _grads_of(peephole_lstm_backward)),
    "cifg": Model("cifg", "LSTM with coupled input and forget gates (chapter 05)",
                  lambda D, H, rng, dtype, forget_bias: init_cifg_lstm_params(
                      D, H, rng, forget_bias=forget_bias, dtype=dtype),
                  _run_lstm_like(cifg_lstm_forward), _grads_of(cifg_lstm_backward)),
}

READOUT_KEYS = ("W_y", "b_y")
LOSSES = ("mse", "cross_entropy")


def get_model(name):
    """The :class:`Model` called ``name`` (a Model is returned as it is); a ValueError lists the known names otherwise."""
    if isinstance(name, Model):  # a model defined elsewhere, such as chapter 06's RNN with attention
        return name
    if not isinstance(name, str) or name.lower() not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(map(repr, MODELS))}")
    return MODELS[name.lower()]


def init_model(name, D, H, K, rng, dtype=np.float32, forget_bias=1.0):
    """Random parameters of a recurrent cell with a linear read-out.

    name: one of :data:`MODELS` ("rnn", "lstm", "gru", "peephole", "cifg").
    D: input size, H: hidden size, K: output size; rng: numpy Generator.
    forget_bias: starting b_f of the LSTM cells, 1 by default (Jozefowicz,
        Zaremba & Sutskever 2015: a forget gate that starts near sigmoid(1)
        ≈ 0.73 keeps the cell state, and its gradient, alive from the start).
    Returns the cell's parameters plus W_y (K, H), drawn N(0, 1 / H), and b_y (K,) = 0.
    """
    model = get_model(name)
    for label, value in (("D", D), ("H", H), ("K", K)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{label} must be a whole number >= 1, got {value!r}")
    params = model.init(D, H, rng, dtype, forget_bias)
    params["W_y"] = (rng.standard_normal((K, H)) / np.sqrt(H)).astype(dtype)
    params["b_y"] = np.zeros(K, dtype=dtype)
    return params


def cell_params(params):
    """The parameters without the read-out: what the recurrent cell itself uses."""
    return {key: value for key, value in params.items() if key not in READOUT_KEYS}


def forward(name, params, x):
    """Run model ``name`` over ``x`` and read out its last hidden state.

    params: the cell's keys plus W_y (K, H), b_y (K,); x: (T, N, D).
    Returns y: (N, K) = h[-1] @ W_y.T + b_y, and a cache for :func:`backward`.
    """
    model = get_model(name)
    h, cell_cache = model.run(x, cell_params(params))
    y = h[-1] @ params["W_y"].T + params["b_y"]
    return y, {"model": model, "h": h, "cell": cell_cache, "W_y": params["W_y"]}


def backward(dy, cache):
    """Gradients of every parameter from the gradient ``dy: (N, K)`` on the read-out.

    Only the last hidden state is read, so the cell receives ``dy @ W_y`` at
    step T - 1 and zeros at every other step.
    """
    h = cache["h"]
    dh = np.zeros_like(h)
    dh[-1] = dy @ cache["W_y"]
    grads = cache["model"].backprop(dh, cache["cell"])
    grads["W_y"] = dy.T @ h[-1]
    grads["b_y"] = dy.sum(axis=0)
    return grads


def loss_and_grads(name, params, x, target, loss="mse"):
    """Loss of model ``name`` on one batch, its gradients, and the predictions.

    target: (N, K) numbers for loss="mse", (N,) class indices for
    loss="cross_entropy" (then the read-out gives one score per class).
    Returns (loss: float, grads: dict with every key of params, y: (N, K)).
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(map(repr, LOSSES))}")
    y, cache = forward(name, params, x)
    value, dy = mse_loss(y, target) if loss == "mse" else softmax_cross_entropy(y, target)
    return value, backward(dy.astype(y.dtype, copy=False), cache), y


# -- chapter 06: the exercise, one training step ----------------------------------------------

def train_step(params, x, y, lr, max_norm):
    """One step of gradient descent with clipping, for an LSTM read out at its last state.

    params: the LSTM's W_f, W_i, W_c, W_o (H, H + D) and b_f, b_i, b_c, b_o (H,),
        plus the read-out W_y (K, H) and b_y (K,); none of them is changed.
    x: (T, N, D) inputs, y: (N, K) targets, lr: learning rate,
    max_norm: threshold for clipping all gradients together by their global norm.
    Returns the new parameters as a new dict with the same keys.
    """
    lstm_keys = [key for key in params if key not in READOUT_KEYS]
    W_y, b_y = params["W_y"], params["b_y"]
    N, H = x.shape[1], W_y.shape[1]
    # 1. forward: run the LSTM from zero states and read out the last hidden state
    zeros = np.zeros((N, H), dtype=x.dtype)
    h, _, cache = lstm_forward(x, zeros, zeros, {key: params[key] for key in lstm_keys})
    y_hat = h[-1] @ W_y.T + b_y                               # (N, K)
    # 2. loss: mean squared error, and its gradient on the prediction
    dy = 2.0 * (y_hat - y) / y.size                           # (N, K)
    # 3. backward: into the read-out, then into the LSTM at the last step only
    grads = {"W_y": dy.T @ h[-1], "b_y": dy.sum(axis=0)}
    dh = np.zeros_like(h)
    dh[-1] = dy @ W_y
    _, _, _, lstm_grads = lstm_backward(dh, cache)
    grads.update(lstm_grads)
    # 4. clip every gradient together by the global norm
    grads, _ = clip_grad_norm(grads, max_norm)
    # 5. update: one step against the gradient
    return {key: params[key] - lr * grads[key] for key in params}
