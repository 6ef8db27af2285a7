"""Checks for chapter 06: one training step of an LSTM regression.

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
"""

import numpy as np

from .. import lstm as lstm_ref
from ..experiment import training as ref
from ..experiment.data import adding_problem
from ..gradients import clip_grad_norm, global_norm
from ._core import Exercise, Mistake, entries, returns
from .long_term_dependencies import _CaseCycle

CHAPTER = "06_long_range_experiment"

_STEP_CASES = _CaseCycle(["clip", "keep"])


def _lstm_params(rng, D, H):
    """A different random draw for every gate, and nonzero biases, so any mix-up shows."""
    params = {}
    for g in lstm_ref.GATES:
        params[f"W_{g}"] = rng.standard_normal((H, H + D)) / np.sqrt(H + D)
        params[f"b_{g}"] = 0.5 * rng.standard_normal(H)
    return params


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
    params = _lstm_params(rng, x.shape[2], H)
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
