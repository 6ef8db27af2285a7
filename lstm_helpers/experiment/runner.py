"""Chapter 06: the long-range experiment. Which networks learn a long lag?

Two tasks, both generated in code (:mod:`lstm_helpers.data`), and one
training loop for every recurrent cell of the course:

* ``"adding"``: the adding problem of Hochreiter & Schmidhuber (1997), scaled
  as in Le, Jaitly & Hinton (2015). The lag is the sequence length T. Solved:
  at least 95% of 1,000 held-out sequences have |error| < 0.16.
* ``"language"``: "I grew up in France ... I speak fluent French" as a
  four-way classification. The lag is the largest number of filler words
  between the country and the question. Solved: at least 95% of 1,000
  held-out sentences get the right language.

:func:`train` runs Adam with global-norm clipping on fresh mini-batches and
stops early once the held-out set is solved. :func:`run_grid` repeats it for
several models, lags and seeds, and ``python -m lstm_helpers.experiment``
writes the course's precomputed result, ``lstm_helpers/results/long_range_results.json``,
which :func:`load_results` reads back.
"""

import argparse
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from .. import __version__
from . import data
from ..gradients import clip_grad_norm, global_norm
from .training import MODELS, adam_init, adam_step, forward, get_model, init_model, loss_and_grads

RESULTS_FILE = Path(__file__).parent / "results" / "long_range_results.json"

#: An environment variable: seconds that cap every :func:`train` run's time budget when set.
#: Useful on a slow machine; the browser tests set it to keep chapter 06's live runs short.
TIME_CAP_VARIABLE = "LSTM_COURSE_MAX_TRAIN_SECONDS"


class TrainingDiverged(RuntimeError):
    """The loss or a gradient stopped being a finite number; the message says what to change."""


# -- one BLAS thread while training ----------------------------------------------------------------

def one_blas_thread():
    """Run NumPy's matrix products on a single thread inside the ``with`` block.

    Training multiplies rather small matrices thousands of times. A threaded
    BLAS splits each larger product over worker threads; when other programs
    keep the cores busy, every product then waits for its workers to be
    scheduled, and a training step gets 2 to 5 times slower. One thread never
    waits, and gives the same numbers. The previous thread counts are restored.
    """
    return threadpool_limits(limits=1, user_api="blas")


# -- the tasks --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Task:
    """A long-lag task: how to draw a batch and how to score predictions.

    sample(n, lag, rng, dtype) -> (x: (T, n, input_size), target)
    accuracy(y, target) -> the fraction of sequences answered correctly
    """

    name: str
    description: str
    loss: str
    input_size: int
    output_size: int
    sample: callable
    accuracy: callable


def _sample_language(n, lag, rng, dtype):
    x, labels, _ = data.language_task(n, lag, rng, dtype)
    return x, labels


def _class_accuracy(logits, labels):
    return float(np.mean(np.argmax(logits, axis=1) == labels))


TASKS = {
    "adding": Task("adding", "the adding problem: sum the two marked values of T numbers", "mse", 2, 1,
                   data.adding_problem, data.adding_accuracy),
    "language": Task("language", '"I grew up in France ... I speak fluent French": name the language',
                     "cross_entropy", len(data.VOCABULARY), len(data.LANGUAGES),
                     _sample_language, _class_accuracy),
}

#: The fraction of held-out sequences that must be right for a task to count as solved.
SOLVED_FRACTION = data.ADDING_SOLVED_FRACTION

#: The training settings of the course's runs: the defaults of :func:`train`.
DEFAULTS = {"hidden_size": 32, "lr": 0.01, "batch_size": 32, "max_norm": 1.0, "eval_every": 50, "n_eval": 1000}


def get_task(name):
    if not isinstance(name, str) or name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(map(repr, TASKS))}")
    return TASKS[name]


# -- one training run -------------------------------------------------------------------------

@dataclass
class Run:
    """The record of one training run of :func:`train`.

    solved: whether the held-out set was solved within the budget.
    steps: the number of training steps taken.
    steps_to_solve: the step of the first held-out check that passed, or None
        (checks happen every ``eval_every`` steps, so it is a multiple of that).
    stopped: "solved", "steps" (the step budget ran out) or "time" (the time budget did).
    loss, batch_accuracy: (steps,) training loss and accuracy of every batch.
    eval_steps, eval_accuracy: the held-out checks: at which step, and the fraction right.
    """

    model: str
    task: str
    lag: int
    seed: object
    solved: bool
    steps: int
    steps_to_solve: object
    stopped: str
    seconds: float
    settings: dict
    loss: np.ndarray = field(repr=False)
    batch_accuracy: np.ndarray = field(repr=False)
    eval_steps: np.ndarray = field(repr=False)
    eval_accuracy: np.ndarray = field(repr=False)
    params: dict = field(default=None, repr=False)

    @property
    def final_accuracy(self):
        """Held-out accuracy at the last check (NaN if there was none)."""
        return float(self.eval_accuracy[-1]) if len(self.eval_accuracy) else float("nan")

    def summary(self):
        """One line: model, lag, outcome."""
        if self.solved:
            outcome = f"solved after {self.steps_to_solve} steps"
        elif self.stopped == "time":  # the machine's speed decided, not the network: say so
            outcome = f"stopped by the time budget after {self.steps} steps, not solved yet"
        else:
            outcome = f"not solved in {self.steps} steps"
        return (f"{self.model:>8} {self.task} lag {self.lag:>3}: {outcome} ({self.seconds:.1f} s), "
                f"held-out accuracy {self.final_accuracy:.1%}")


def _whole(name, value, minimum, allowed=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        allowed = allowed or f"a whole number >= {minimum}"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def _positive(name, value, none_means=None):
    """``value`` as a positive float; None is allowed when ``none_means`` says what it means."""
    if value is None and none_means:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value <= 0:
        extra = f" (or None for {none_means})" if none_means else ""
        raise ValueError(f"{name} must be a positive number{extra}, got {value!r}")
    return float(value)


def _time_budget(time_budget):
    """The run's time budget in seconds (None: no limit), capped by ``TIME_CAP_VARIABLE`` when set."""
    budget = _positive("time_budget", time_budget, none_means="no time limit")
    text = os.environ.get(TIME_CAP_VARIABLE, "").strip()
    if not text:
        return budget
    try:
        cap = float(text)
    except ValueError:
        cap = math.nan
    if not (math.isfinite(cap) and cap > 0):
        raise ValueError(f"the environment variable {TIME_CAP_VARIABLE} must be a positive number of seconds, "
                         f"got {text!r}; unset it to use the notebook's time budgets")
    return cap if budget is None else min(budget, cap)


def _divergence_message(step, loss, lr, max_norm):
    what = "the loss" if not math.isfinite(loss) else "the gradient"
    clipping = (f"clip the gradients with a smaller max_norm than {max_norm:g}" if max_norm is not None
                else "clip the gradients, for example with max_norm=1.0")
    return (f"training stopped at step {step}: {what} became NaN or infinite. "
            f"Try a smaller learning rate than lr={lr:g}, or {clipping}.")


def _progress_bar(enabled, total, desc):
    if not enabled:
        return None
    from tqdm.auto import tqdm  # a widget in Jupyter, text elsewhere

    return tqdm(total=total, desc=desc, leave=True)


def train(model, task="adding", lag=50, *, rng, hidden_size=32, lr=0.01, batch_size=32, max_norm=1.0,
          max_steps=3000, time_budget=None, eval_every=50, n_eval=1000, forget_bias=1.0, dtype=np.float32,
          stop_when_solved=True, progress=True, seed=None):
    """Train ``model`` on ``task`` at ``lag`` with Adam and clipping; stop once solved.

    model: "rnn", "lstm", "gru", "peephole" or "cifg" (see ``training.MODELS``), or a
        ``training.Model`` (chapter 06's RNN with attention is one).
    task: "adding" (lag = the sequence length T) or "language" (lag = the
        largest number of filler words); lag must be a whole number >= 2.
    rng: a numpy Generator. It is split into three independent streams, for
        the held-out set, the starting weights and the training batches, so
        models trained with equal seeds see the same data.
    hidden_size: H; lr: Adam's learning rate; batch_size: fresh sequences per step.
    max_norm: threshold for clipping all gradients by their global norm; None: no clipping.
    max_steps: the step budget; time_budget: seconds, or None for no limit
        (the environment variable ``LSTM_COURSE_MAX_TRAIN_SECONDS`` caps it).
    eval_every, n_eval: check the held-out set of ``n_eval`` sequences every
        ``eval_every`` steps, and after the last step.
    forget_bias: starting b_f of the LSTM cells (1: Jozefowicz et al. 2015).
    dtype: np.float32 (fast, the default) or np.float64.
    stop_when_solved: stop at the first held-out check with at least 95% right.
    progress: show a tqdm progress bar with the loss and the accuracies.
    seed: only recorded in the result (the caller made ``rng`` from it).
    Returns a :class:`Run`. Raises :class:`TrainingDiverged` as soon as the
    loss or a gradient is NaN or infinite, and ValueError for bad settings.
    """
    spec = get_model(model)
    task_spec = get_task(task)
    lag = _whole("lag", lag, 2, "a whole number >= 2 (the gap between the clue and the answer)")
    hidden = _whole("hidden_size", hidden_size, 1)
    batch = _whole("batch_size", batch_size, 1, "a whole number of sequences >= 1")
    every = _whole("eval_every", eval_every, 1)
    n_eval = _whole("n_eval", n_eval, 1)
    max_steps = _whole("max_steps", max_steps, 1)
    step_size = _positive("lr", lr)
    clip = _positive("max_norm", max_norm, none_means="no clipping")
    budget = _time_budget(time_budget)
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
    if not isinstance(rng, np.random.Generator):  # a ValueError, like every other bad setting here
        raise ValueError(  # noqa: TRY004
            f"rng must be a numpy Generator, e.g. np.random.default_rng(0), got {type(rng).__name__}")
    settings = {"hidden_size": hidden, "lr": step_size, "batch_size": batch, "max_norm": clip,
                "eval_every": every, "n_eval": n_eval, "max_steps": max_steps, "time_budget": budget,
                "forget_bias": forget_bias, "dtype": np.dtype(dtype).name}

    eval_rng, init_rng, batch_rng = rng.spawn(3)
    x_eval, target_eval = task_spec.sample(n_eval, lag, eval_rng, dtype)
    params = init_model(spec, task_spec.input_size, hidden, task_spec.output_size, init_rng,
                        dtype=dtype, forget_bias=forget_bias)
    state = adam_init(params)

    losses, accuracies, eval_steps, eval_accuracy = [], [], [], []
    solved_at, stopped, step = None, "steps", 0
    bar = _progress_bar(progress, max_steps, f"{spec.name} {task_spec.name} lag {lag}")
    started = time.perf_counter()
    try:
        with one_blas_thread():  # small matrices: one BLAS thread is faster (see one_blas_thread)
            while step < max_steps:
                x, target = task_spec.sample(batch, lag, batch_rng, dtype)
                with np.errstate(all="ignore"):  # a diverging run may overflow; it is caught just below
                    loss, grads, y = loss_and_grads(spec, params, x, target, task_spec.loss)
                    total_norm = global_norm(grads)
                if not (math.isfinite(loss) and math.isfinite(total_norm)):
                    raise TrainingDiverged(_divergence_message(step + 1, loss, step_size, clip))
                if clip is not None:
                    grads, _ = clip_grad_norm(grads, clip)
                params, state = adam_step(params, grads, state, step_size)
                step += 1
                losses.append(loss)
                accuracies.append(task_spec.accuracy(y, target))
                out_of_time = budget is not None and time.perf_counter() - started > budget
                if step % every == 0 or step == max_steps or out_of_time:  # a held-out check
                    with np.errstate(all="ignore"):
                        eval_accuracy.append(task_spec.accuracy(forward(spec, params, x_eval)[0], target_eval))
                    eval_steps.append(step)
                    if solved_at is None and eval_accuracy[-1] >= SOLVED_FRACTION:
                        solved_at = step
                if bar is not None and (step % 10 == 0 or solved_at == step):
                    bar.update(step - bar.n)
                    shown = {"loss": f"{loss:.4f}", "batch acc": f"{np.mean(accuracies[-every:]):.0%}"}
                    if eval_accuracy:
                        shown["held-out acc"] = f"{eval_accuracy[-1]:.1%}"
                    bar.set_postfix(shown, refresh=False)
                if solved_at is not None and stop_when_solved:
                    stopped = "solved"
                    break
                if out_of_time:
                    stopped = "time"
                    break
    finally:
        if bar is not None:
            bar.update(step - bar.n)
            bar.close()
    return Run(model=spec.name, task=task_spec.name, lag=lag, seed=seed, solved=solved_at is not None, steps=step,
               steps_to_solve=solved_at,
               stopped=stopped, seconds=time.perf_counter() - started, settings=settings,
               loss=np.array(losses), batch_accuracy=np.array(accuracies),
               eval_steps=np.array(eval_steps, dtype=int), eval_accuracy=np.array(eval_accuracy), params=params)


# -- the full experiment: success against lag --------------------------------------------------

#: The course's precomputed grid: every model at every lag with every seed, on the adding problem.
GRID = {"task": "adding", "models": ("rnn", "lstm", "gru"), "lags": (10, 20, 50, 100, 200), "seeds": (0, 1, 2),
        "max_steps": 5000}


def run_record(run):
    """A :class:`Run` as a plain dict for the results file (numbers rounded, no parameters)."""
    windows = np.array_split(run.loss, max(1, len(run.eval_steps))) if len(run.loss) else []
    return {
        "model": run.model, "task": run.task, "lag": run.lag, "seed": run.seed,
        "solved": run.solved, "steps_to_solve": run.steps_to_solve, "steps": run.steps, "stopped": run.stopped,
        "final_accuracy": round(run.final_accuracy, 4),
        "eval_steps": [int(s) for s in run.eval_steps],
        "eval_accuracy": [round(float(a), 4) for a in run.eval_accuracy],
        "mean_loss": [float(f"{float(np.mean(w)):.5g}") for w in windows],
        "seconds": round(run.seconds, 2),
    }


def run_one(model, lag, seed, task="adding", max_steps=None, progress=False, **settings):
    """One cell of the grid: ``train`` with ``np.random.default_rng(seed)`` and the grid's step budget."""
    max_steps = GRID["max_steps"] if max_steps is None else max_steps
    run = train(model, task, lag, rng=np.random.default_rng(seed), max_steps=max_steps, progress=progress,
                seed=seed, **settings)
    return run_record(run)


def _settings_record(max_steps):
    record = dict(DEFAULTS, max_steps=max_steps, forget_bias=1.0, dtype="float32", optimizer="adam")
    return record


def run_grid(models=None, lags=None, seeds=None, task=None, max_steps=None, out=None, resume=False, progress=True,
             log=print, description=None, generated_by="python -m lstm_helpers.experiment"):
    """Train every model at every lag with every seed; return the results as a dict.

    Defaults are those of :data:`GRID`. models: names or ``training.Model`` s.
    Each run has the same step budget and stops early once solved. out: a
    path; the file is rewritten after every run, so an interrupted grid keeps
    what it finished. resume: skip the runs that ``out`` already holds (with
    the same settings). description, generated_by: recorded in the results
    (the defaults describe the adding-problem grid of this module).
    """
    models = GRID["models"] if models is None else tuple(models)
    lags = GRID["lags"] if lags is None else tuple(lags)
    seeds = GRID["seeds"] if seeds is None else tuple(seeds)
    task = GRID["task"] if task is None else task
    max_steps = GRID["max_steps"] if max_steps is None else max_steps
    specs = [get_model(name) for name in models]
    get_task(task)
    if description is None:
        description = ("Success against lag on the adding problem: each model trained with Adam and clipping "
                       "on fresh batches until 95% of 1,000 held-out sequences have |error| < 0.16, or until "
                       "the step budget runs out. Held-out checks every eval_every steps; mean_loss is the "
                       "average training loss between two checks; seconds is the wall time on the machine "
                       "that wrote the file, for information only.")
    results = {
        "description": description,
        "generated_by": generated_by,
        "task": task, "models": [spec.name for spec in specs], "lags": list(lags), "seeds": list(seeds),
        "settings": _settings_record(max_steps), "runs": [],
    }
    if resume and out is not None and Path(out).is_file():
        previous = json.loads(Path(out).read_text())
        if previous.get("settings") == results["settings"] and previous.get("task") == task:
            results["runs"] = previous["runs"]
    done = {(r["model"], r["lag"], r["seed"]) for r in results["runs"]}
    results["lstm_helpers_version"] = __version__
    results["numpy_version"] = np.__version__
    for lag in lags:
        for spec in specs:
            name = spec.name
            for seed in seeds:
                if (name, lag, seed) in done:
                    continue
                record = run_one(spec, lag, seed, task=task, max_steps=max_steps, progress=progress)
                results["runs"].append(record)
                if log is not None:
                    outcome = (f"solved at step {record['steps_to_solve']}" if record["solved"]
                               else f"not solved in {record['steps']} steps")
                    log(f"{name:>5} lag {lag:>3} seed {seed}: {outcome} "
                        f"(held-out {record['final_accuracy']:.1%}, {record['seconds']:.0f} s)")
                if out is not None:
                    save_results(results, out)
    if out is not None:
        save_results(results, out)
    return results


def save_results(results, path=RESULTS_FILE):
    """Write ``results`` as JSON (runs one per line, so a diff shows which changed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = {k: v for k, v in results.items() if k != "runs"}
    lines = ",\n".join("    " + json.dumps(r, separators=(", ", ": ")) for r in results["runs"])
    text = json.dumps(head, indent=2)[:-2] + ',\n  "runs": [\n' + lines + "\n  ]\n}\n"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def load_results(path=RESULTS_FILE):
    """The precomputed results shipped with the course (or another file written by :func:`run_grid`)."""
    return json.loads(Path(path).read_text())


def summarise(results):
    """``{(model, lag): {"solved": k, "runs": n, "median_steps": m or None, "steps": [...]}}``.

    median_steps is the median over the solved runs of the step at which
    they were solved (None if no run was solved).
    """
    table = {}
    for name in results["models"]:
        for lag in results["lags"]:
            runs = [r for r in results["runs"] if r["model"] == name and r["lag"] == lag]
            steps = [r["steps_to_solve"] for r in runs if r["solved"]]
            table[(name, lag)] = {"solved": len(steps), "runs": len(runs), "steps": steps,
                                  "median_steps": float(np.median(steps)) if steps else None}
    return table


def format_table(results):
    """The results as a text table: rows are models, columns lags, cells "solved/runs (median steps)"."""
    table = summarise(results)
    lags = results["lags"]
    budget = results["settings"]["max_steps"]
    width = max(6, *(len(name) for name in results["models"]))
    lag_name = "T" if results.get("task", "adding") == "adding" else "lag"  # the adding problem's lag is T
    lines = [f"solved runs out of seeds (median steps to solve); budget {budget} steps per run",
             f"{'model':>{width}} | " + " | ".join(f"{lag_name} = {lag:<{12 - len(lag_name)}}" for lag in lags)]
    lines.append("-" * len(lines[1]))
    for name in results["models"]:
        cells = []
        for lag in lags:
            cell = table[(name, lag)]
            text = f"{cell['solved']}/{cell['runs']}"
            if cell["median_steps"] is not None:
                text += f" ({cell['median_steps']:.0f})"
            cells.append(f"{text:<15}")
        lines.append(f"{name:>{width}} | " + " | ".join(cells))
    return "\n".join(lines)


def grid_parser(prog, description, grid, model_choices, out):
    """The command line of a grid script: --models, --lags, --seeds, --max-steps, --out, --resume, --no-progress."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--models", nargs="+", default=list(grid["models"]), choices=list(model_choices))
    parser.add_argument("--lags", nargs="+", type=int, default=list(grid["lags"]))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(grid["seeds"]))
    parser.add_argument("--max-steps", type=int, default=grid["max_steps"])
    parser.add_argument("--out", default=str(out), help="results file (default: the one shipped)")
    parser.add_argument("--resume", action="store_true", help="keep the runs the file already holds")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv=None):
    parser = grid_parser("python -m lstm_helpers.experiment",
                         "Precompute the long-range experiment of chapter 06 (success against lag). "
                         "With the defaults this takes tens of minutes on two cores.", GRID, MODELS, RESULTS_FILE)
    args = parser.parse_args(argv)
    results = run_grid(args.models, args.lags, args.seeds, max_steps=args.max_steps, out=args.out,
                       resume=args.resume, progress=not args.no_progress)
    print(format_table(results))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
