"""Benchmark: chapter 06's targets on this machine.

A plain script, not a pytest test (pytest collects only test_*.py):

    .venv/bin/python tests/benchmarks/bench_experiment.py [--seeds 0 1 2] [--budget 30] [--parts 1 2 3 4 5]

1. Time to solve the adding problem at T = 100 for the LSTM in float32, with
   the course's settings (``runner.train`` defaults), one run per seed.
   Target: under 30 s on 2 cores.
2. The tanh RNN with the same settings, seeds and a time budget of the same
   30 s. Target: not solved.
3. The cost of one training step at T = 100 for every model, float32 and
   float64 (average over a short run; the held-out checks are left out).
4. The chapter's solution notebook, run top to bottom in a fresh kernel.
   Target: under 90 s.
5. Section 4's race and section 5's live runs (the LSTM and the RNN, seed 0,
   at most 1,500 steps; the France task at every lag the text discusses).
   Target: each run ends by solving or by its step budget within a third of
   the notebook's time budget, so that the steps decide, not the machine.

The load average is printed before and after: on a shared machine the
figures are only comparable when it is low.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from lstm_helpers.experiment import runner

ROOT = Path(__file__).resolve().parents[2]


def load():
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def time_to_solve(seeds, budget):
    print(f"\n1. LSTM, adding problem, T = 100, float32 (target: solved in < {budget:g} s)")
    seconds = []
    for seed in seeds:
        run = runner.train("lstm", "adding", 100, rng=np.random.default_rng(seed), max_steps=5000,
                               progress=False, seed=seed)
        seconds.append(run.seconds if run.solved else float("inf"))
        print(f"   seed {seed}: {run.summary().strip()}, {run.seconds / run.steps * 1e3:.1f} ms/step")
    worst = max(seconds)
    print(f"   median {np.median(seconds):.1f} s, worst {worst:.1f} s -> "
          f"{'MET' if worst < budget else 'MISSED'} (every seed under {budget:g} s)")
    return worst < budget


def rnn_in_the_same_budget(seeds, budget):
    print(f"\n2. tanh RNN, same settings, time budget {budget:g} s (target: not solved)")
    solved = []
    for seed in seeds:
        run = runner.train("rnn", "adding", 100, rng=np.random.default_rng(seed), max_steps=100_000,
                               time_budget=budget, progress=False, seed=seed)
        solved.append(run.solved)
        print(f"   seed {seed}: {run.summary().strip()}; final batch loss "
              f"{np.mean(run.loss[-50:]):.4f} (always predicting 1: 0.1667)")
    print(f"   -> {'MET' if not any(solved) else 'MISSED'} (no seed solved it)")
    return not any(solved)


def step_costs(steps=60):
    print(f"\n3. one training step at T = 100 (average over {steps} steps, without the held-out checks)")
    for dtype in (np.float32, np.float64):
        costs = []
        for model in runner.MODELS:
            run = runner.train(model, "adding", 100, rng=np.random.default_rng(0), max_steps=steps,
                                   eval_every=steps, n_eval=1, dtype=dtype, progress=False)
            costs.append(f"{model} {run.seconds / run.steps * 1e3:5.1f} ms")
        print(f"   {np.dtype(dtype).name}: " + ", ".join(costs))


def notebook(limit=90.0):
    import nbformat
    from nbclient import NotebookClient

    chapter = "06_long_range_experiment"
    path = ROOT / "solutions" / chapter / f"{chapter}.ipynb"
    print(f"\n4. {path.relative_to(ROOT)}, top to bottom in a fresh kernel (target: < {limit:g} s)")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    timings = []
    execute_cell = client.async_execute_cell

    async def timed(cell, index, **kwargs):
        started = time.perf_counter()
        result = await execute_cell(cell, index, **kwargs)
        timings.append((time.perf_counter() - started, index))
        return result

    client.async_execute_cell = timed
    started = time.perf_counter()
    client.execute()
    total = time.perf_counter() - started
    for seconds, index in sorted(timings, reverse=True)[:6]:
        first_line = nb.cells[index].source.splitlines()[0][:70]
        print(f"   cell {index:2d}: {seconds:5.1f} s  {first_line}")
    print(f"   total {total:.1f} s (kernel start included) -> {'MET' if total < limit else 'MISSED'}")
    return total < limit


def live_runs():
    from lstm_helpers.exercises.long_range_experiment import LANGUAGE_RUN, RACE

    budget = min(RACE["time_budget"], LANGUAGE_RUN["time_budget"])
    print(f"\n5. the live runs of sections 4 and 5, seed {RACE['seed']}, at most {RACE['max_steps']} steps "
          f"(target: each under {budget / 3:.0f} s, a third of the notebook's {budget} s time budget)")
    runs = [("adding", RACE["lag"])] + [("language", lag) for lag in LANGUAGE_RUN["lags"]]
    worst = 0.0
    for task, lag in runs:
        for model in ("lstm", "rnn"):
            run = runner.train(model, task, lag, rng=np.random.default_rng(RACE["seed"]),
                               max_steps=RACE["max_steps"], progress=False)
            worst = max(worst, run.seconds)
            print(f"   {run.summary().strip()}, {run.seconds / run.steps * 1e3:.1f} ms/step")
    print(f"   slowest run {worst:.1f} s -> {'MET' if worst < budget / 3 else 'MISSED'}")
    return worst < budget / 3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=30.0, help="seconds (default 30)")
    parser.add_argument("--parts", nargs="+", type=int, default=[1, 2, 3, 4, 5], choices=[1, 2, 3, 4, 5],
                        help="which measurements to run (default: all)")
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} cores, numpy {np.__version__}, {load()}")
    results = []
    if 1 in args.parts:
        results.append(time_to_solve(args.seeds, args.budget))
    if 2 in args.parts:
        results.append(rnn_in_the_same_budget(args.seeds, args.budget))
    if 3 in args.parts:
        step_costs()
    if 4 in args.parts:
        results.append(notebook())
    if 5 in args.parts:
        results.append(live_runs())
    print(f"\n{load()}")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
