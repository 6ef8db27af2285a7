"""Benchmark: the LSTM's forward + backward pass, NumPy against torch.nn.LSTM.

A plain script, not a pytest test (pytest collects only test_*.py):

    .venv/bin/python tests/benchmarks/bench_lstm.py [--rounds 5] [--reps 10]

Contenders, on the same shapes (T=100, N=32, D=H=128 by default) and dtype:

* ``fast``: the fused NumPy LSTM that training uses, ``experiment.fast_lstm``;
* ``torch``: ``torch.nn.LSTM`` with autograd (for float32 on CPU PyTorch runs a
  fused oneDNN kernel; for float64 it runs one operation at a time);
* ``loop``: the readable loop over the cell, ``lstm.lstm_forward`` /
  ``lstm.lstm_backward``, to show what the fused version buys.

Each measurement runs in a process of its own, which imports only what its
contender needs: PyTorch keeps its default threads, NumPy its BLAS threads,
and neither fights the other for the cores (in one process PyTorch can lose
half its speed, which flatters NumPy). The contenders alternate, in a
rotating order, for several rounds, so a busy spell slows all of them alike.
Each process warms up, then times ``--reps`` runs. The script reports the
minimum and the median per contender and the ratio of the best runs
(``fast`` min / ``torch`` min). Targets for ``fast``: float64 ratio <= 1.0,
float32 ratio <= 1.5. A miss is printed as a miss. The load average is
printed before and after: figures from a busy machine are not comparable.

``--threads 1`` runs every contender on one thread (``torch.set_num_threads``,
threadpoolctl for NumPy's BLAS): a comparison of the kernels alone, which
a machine shared with other work disturbs far less than two threads that
wait for each other.
"""

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import time

CONTENDERS = ("fast", "torch", "loop")
print = functools.partial(print, flush=True)  # progress shows at once, also when the output is a file
TARGETS = {"float64": 1.0, "float32": 1.5}


# -- the worker: one contender, one dtype, in a process of its own ------------------------------

def numpy_step(module, T, N, D, H, dtype, rng):
    import numpy as np

    from lstm_helpers.lstm import init_lstm_params

    params = init_lstm_params(D, H, rng, dtype=dtype)
    x = rng.standard_normal((T, N, D)).astype(dtype)
    h0 = np.zeros((N, H), dtype=dtype)
    c0 = np.zeros((N, H), dtype=dtype)
    dh = rng.standard_normal((T, N, H)).astype(dtype)

    def step():
        h, c, cache = module.lstm_forward(x, h0, c0, params)
        module.lstm_backward(dh, cache)

    return step


def torch_step(T, N, D, H, dtype, rng):
    import torch

    tdtype = getattr(torch, dtype)
    lstm = torch.nn.LSTM(D, H, dtype=tdtype)
    x = torch.tensor(rng.standard_normal((T, N, D)), dtype=tdtype, requires_grad=True)
    h0 = torch.zeros((1, N, H), dtype=tdtype, requires_grad=True)
    c0 = torch.zeros((1, N, H), dtype=tdtype, requires_grad=True)
    dh = torch.tensor(rng.standard_normal((T, N, H)), dtype=tdtype)

    def step():
        out, _ = lstm(x, (h0, c0))
        out.backward(dh)

    return step


def worker(args):
    import numpy as np

    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)  # NumPy's BLAS (and any OpenMP pool) for this process
        if args.worker == "torch":
            import torch

            torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    shape = (args.T, args.N, args.D, args.H)
    if args.worker == "torch":
        step = torch_step(*shape, args.dtype, rng)
    elif args.worker == "fast":
        from lstm_helpers.experiment import fast_lstm

        step = numpy_step(fast_lstm, *shape, getattr(np, args.dtype), rng)
    else:
        from lstm_helpers import lstm

        step = numpy_step(lstm, *shape, getattr(np, args.dtype), rng)
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.reps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    threads = "n/a"
    if args.worker == "torch":
        import torch

        threads = f"torch {torch.get_num_threads()}"
    else:
        from threadpoolctl import threadpool_info

        threads = ", ".join(f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info())
    json.dump({"times": times, "threads": threads, "torch_imported": "torch" in sys.modules}, sys.stdout)


# -- the driver: alternate the contenders, each run in a fresh process --------------------------

def run_worker(contender, dtype, args):
    command = [sys.executable, os.path.abspath(__file__), "--worker", contender, "--dtype", dtype,
               "--reps", str(args.reps if contender != "loop" else args.loop_reps), "--warmup", str(args.warmup),
               "-T", str(args.T), "-N", str(args.N), "-D", str(args.D), "-H", str(args.H),
               "--threads", str(args.threads or 0)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {contender} worker failed:\n{done.stderr}")
    return json.loads(done.stdout)


def load():
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="processes per contender and dtype")
    parser.add_argument("--reps", type=int, default=10, help="timed runs per process")
    parser.add_argument("--loop-reps", type=int, default=3, help="timed runs per process of the slow loop")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0,
                        help="threads for every contender (default 0: each library's own default); "
                             "1 compares the kernels alone, which a busy machine disturbs less")
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=CONTENDERS)
    parser.add_argument("-T", type=int, default=100)
    parser.add_argument("-N", type=int, default=32)
    parser.add_argument("-D", type=int, default=128)
    parser.add_argument("-H", type=int, default=128)
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="float64", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    import numpy as np

    contenders = list(args.contenders)
    if "torch" in contenders:
        try:
            import torch  # noqa: F401  (only to know it is there; the workers do the work)
        except ImportError:
            print("torch is not installed: no ratio")
            contenders.remove("torch")
    print(f"T={args.T} N={args.N} D={args.D} H={args.H}, forward + backward; {args.rounds} rounds, each "
          f"contender in its own process ({args.reps} timed runs, the loop {args.loop_reps}), order rotating; "
          f"threads: {args.threads or 'each library its default'}")
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs; load average before: {load()}")
    results = {}
    for dtype in args.dtypes:
        times = {c: [] for c in contenders}
        for r in range(args.rounds):
            order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
            for contender in order:
                out = run_worker(contender, dtype, args)
                times[contender] += out["times"]
                if r == 0:
                    print(f"  {dtype} {contender}: threads {out['threads']}; torch imported: {out['torch_imported']}")
        results[dtype] = times
    print(f"load average after: {load()}")
    print()
    print(f"{'dtype':8} {'contender':9} {'min ms':>8} {'median ms':>10} {'/ torch (min)':>14} {'/ torch (median)':>17}")
    for dtype, times in results.items():
        best = {c: 1e3 * min(t) for c, t in times.items()}
        median = {c: 1e3 * statistics.median(t) for c, t in times.items()}
        for c in contenders:
            ratio = ratio_median = ""
            if "torch" in best:
                ratio = f"{best[c] / best['torch']:.2f}x"
                ratio_median = f"{median[c] / median['torch']:.2f}x"
            print(f"{dtype:8} {c:9} {best[c]:8.2f} {median[c]:10.2f} {ratio:>14} {ratio_median:>17}")
    print()
    for dtype, times in results.items():
        if "torch" in times and "fast" in times:
            ratio = min(times["fast"]) / min(times["torch"])
            target = TARGETS[dtype]
            verdict = "meets" if ratio <= target else "MISSES"
            print(f"{dtype}: fast / torch.nn.LSTM = {ratio:.2f}x (best runs); {verdict} the target <= {target}x")


if __name__ == "__main__":
    main()
