"""Benchmark: chapter 07's training throughput against PyTorch, and the notebook's run time.

A plain script, not a pytest test:

    .venv/bin/python tests/benchmarks/bench_char_lm.py [--rounds 5] [--steps 20] [--parts 1 2]

1. Characters per second of one full training step at the chapter's shapes
   (windows of T = 64 characters, N = 32 streams, H = 128, V = 96, float32):
   forward, output layer and temporal softmax loss, backward, clipping and
   Adam. Ours is ``char_lm.window_step`` on the fused LSTM with one BLAS
   thread (as ``char_lm.train`` runs it); PyTorch's is ``nn.LSTM`` plus
   ``nn.Linear``, ``cross_entropy`` (summed over time, divided by N),
   ``clip_grad_norm_`` and ``torch.optim.Adam``, with its default threads
   and with one thread. Each contender runs in its own process; the
   processes alternate, and the ratio is that of the best rounds.
2. The chapter's solution notebook top to bottom in a fresh kernel, with
   the live run capped by ``--cap`` seconds (default: not capped).
   Target: under 90 s.

The load average is printed before and after: on a shared machine the
figures are only comparable when it is low.
"""

import argparse
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
T, N, H, V = 64, 32, 128, 96


def load():
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def numpy_worker(steps):
    from lstm_helpers.experiment import char_lm
    from lstm_helpers.experiment.runner import one_blas_thread
    from lstm_helpers.experiment.training import adam_init, adam_step
    from lstm_helpers.gradients import clip_grad_norm

    rng = np.random.default_rng(0)
    params = char_lm.init_params("lstm", rng, H=H)
    state = adam_init(params)
    text = char_lm.streams(rng.integers(0, V, N * ((steps + 2) * T + 1)), N)  # (L, N)
    carried = char_lm.zero_state("lstm", params, N)
    with one_blas_thread():
        for j in range(steps + 2):  # two warm-up steps
            if j == 2:
                start = time.perf_counter()
            _, grads, carried = char_lm.window_step("lstm", params, text[j * T: j * T + T + 1], carried)
            grads, _ = clip_grad_norm(grads, 5.0)
            params, state = adam_step(params, grads, state, 2e-3)
    return steps * T * N / (time.perf_counter() - start)


def torch_worker(steps, threads):
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    lstm, linear = torch.nn.LSTM(V, H), torch.nn.Linear(H, V)
    parameters = list(lstm.parameters()) + list(linear.parameters())
    optimizer = torch.optim.Adam(parameters, lr=2e-3)
    ids = torch.randint(0, V, (T + 1, N))
    x = torch.nn.functional.one_hot(ids[:-1], V).float()
    y = ids[1:].reshape(-1)
    h = (torch.zeros(1, N, H), torch.zeros(1, N, H))
    for k in range(-2, steps):
        if k == 0:
            start = time.perf_counter()
        out, (h_n, c_n) = lstm(x, h)
        loss = torch.nn.functional.cross_entropy(linear(out).reshape(-1, V), y, reduction="sum") / N
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 5.0)
        optimizer.step()
        h = (h_n.detach(), c_n.detach())  # truncated: the states go on, their gradients do not
    return steps * T * N / (time.perf_counter() - start)


def run_worker(kind, steps):
    out = subprocess.run([sys.executable, __file__, "--worker", kind, "--steps", str(steps)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def throughput(rounds, steps):
    print(f"\n1. training throughput, T = {T}, N = {N}, H = {H}, V = {V}, float32, {steps} steps per round, "
          f"{rounds} rounds, each contender in its own process, alternating")
    kinds = {"numpy (fast_lstm, 1 BLAS thread)": "numpy", "torch (default threads)": "torch",
             "torch (1 thread)": "torch1"}
    best = {label: [] for label in kinds}
    for _ in range(rounds):
        for label, kind in kinds.items():
            best[label].append(run_worker(kind, steps))
    ours = max(best["numpy (fast_lstm, 1 BLAS thread)"])
    for label, values in best.items():
        print(f"   {label:34} best {max(values):9,.0f} chars/s, median {np.median(values):9,.0f}")
    for label in list(kinds)[1:]:
        print(f"   ratio numpy / {label}: {ours / max(best[label]):.2f} (of the best rounds)")


def notebook(cap, limit=90.0):
    import nbformat
    from nbclient import NotebookClient

    chapter = "07_language_model"
    path = ROOT / "solutions" / chapter / f"{chapter}.ipynb"
    print(f"\n2. {path.relative_to(ROOT)}, top to bottom in a fresh kernel"
          f"{f', live run capped at {cap:g} s' if cap else ''} (target: < {limit:g} s)")
    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ)
    if cap:
        env["LSTM_COURSE_MAX_TRAIN_SECONDS"] = str(cap)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    client.execute(env=env)
    total = time.perf_counter() - started
    timings = []
    for index, cell in enumerate(nb.cells):
        stamps = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in stamps and "shell.execute_reply" in stamps:
            begin = datetime.fromisoformat(stamps["iopub.execute_input"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(stamps["shell.execute_reply"].replace("Z", "+00:00"))
            timings.append(((end - begin).total_seconds(), index))
    for seconds, index in sorted(timings, reverse=True)[:6]:
        print(f"   cell {index:2d}: {seconds:5.1f} s  {nb.cells[index].source.splitlines()[0][:70]}")
    print(f"   total {total:.1f} s (kernel start included) -> {'MET' if total < limit else 'MISSED'}")
    return total < limit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cap", type=float, default=None, help="LSTM_COURSE_MAX_TRAIN_SECONDS for part 2")
    parser.add_argument("--parts", nargs="+", type=int, default=[1, 2], choices=[1, 2])
    parser.add_argument("--worker", choices=["numpy", "torch", "torch1"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        rate = numpy_worker(args.steps) if args.worker == "numpy" else \
            torch_worker(args.steps, 1 if args.worker == "torch1" else None)
        print(rate)
        return 0
    print(f"{os.cpu_count()} cores, numpy {np.__version__}, {load()}")
    ok = True
    if 1 in args.parts:
        throughput(args.rounds, args.steps)
    if 2 in args.parts:
        ok = notebook(args.cap)
    print(f"\n{load()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
