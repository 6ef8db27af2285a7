"""Benchmark: lstm_helpers.lstm forward + backward against torch.nn.LSTM.

A plain script, not a pytest test (pytest collects only test_*.py):

    .venv/bin/python tests/benchmarks/bench_lstm.py [--reps 15]

Shapes T=100, N=32, D=H=128, in float64 and float32. For each dtype it
reports the median time of forward + backward over several repetitions and,
when PyTorch is installed, the ratio ours / torch.nn.LSTM on the same shapes
and dtype, measured in the same run. The two alternate rep by rep, so a busy
machine slows both alike; torch keeps its default thread count. Targets:
float64 ratio <= 1.0, float32 ratio <= 1.5. (For float32 on CPU, PyTorch
runs a fused oneDNN LSTM kernel; for float64 it runs one op at a time.)
"""

import argparse
import os
import statistics
import time

import numpy as np

from lstm_helpers.lstm import init_lstm_params, lstm_backward, lstm_forward

TARGETS = {"float64": 1.0, "float32": 1.5}


def time_ms(fns, reps, warmup=3):
    """(median, min) time in ms of each function. The runs alternate, so that
    a busy machine slows every contender alike; the min is the steadier
    figure when other programs compete for the CPUs."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(reps):
        for fn, bucket in zip(fns, times):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return [(1e3 * statistics.median(bucket), 1e3 * min(bucket)) for bucket in times]


def numpy_step(T, N, D, H, dtype, rng):
    params = init_lstm_params(D, H, rng, dtype=dtype)
    x = rng.standard_normal((T, N, D)).astype(dtype)
    h0 = np.zeros((N, H), dtype=dtype)
    c0 = np.zeros((N, H), dtype=dtype)
    dh = rng.standard_normal((T, N, H)).astype(dtype)

    def step():
        h, c, cache = lstm_forward(x, h0, c0, params)
        lstm_backward(dh, cache)

    return step


def torch_step(T, N, D, H, dtype, rng):
    import torch

    tdtype = getattr(torch, dtype.__name__)
    lstm = torch.nn.LSTM(D, H, dtype=tdtype)
    x = torch.tensor(rng.standard_normal((T, N, D)), dtype=tdtype, requires_grad=True)
    h0 = torch.zeros((1, N, H), dtype=tdtype, requires_grad=True)
    c0 = torch.zeros((1, N, H), dtype=tdtype, requires_grad=True)
    dh = torch.tensor(rng.standard_normal((T, N, H)), dtype=tdtype)

    def step():
        out, _ = lstm(x, (h0, c0))
        out.backward(dh)

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("-T", type=int, default=100)
    parser.add_argument("-N", type=int, default=32)
    parser.add_argument("-D", type=int, default=128)
    parser.add_argument("-H", type=int, default=128)
    args = parser.parse_args()
    T, N, D, H = args.T, args.N, args.D, args.H

    try:
        import torch
    except ImportError:
        torch = None
    print(f"T={T} N={N} D={D} H={H}, median of {args.reps} runs of forward + backward")
    load = os.getloadavg()[0]
    busy = "  (busy machine: the figures are noisy)" if load > 0.5 else ""
    print(f"load average {load:.2f} on {os.cpu_count()} CPUs{busy}")
    if torch is not None:
        print(f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads)")
    else:
        print(f"numpy {np.__version__}; torch is not installed, so no ratio")

    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        fns = [numpy_step(T, N, D, H, dtype, rng)]
        if torch is not None:
            fns.append(torch_step(T, N, D, H, dtype, rng))
        times = time_ms(fns, args.reps)
        ours, ours_min = times[0]
        line = f"{dtype.__name__}: lstm_helpers {ours:7.2f} ms (min {ours_min:6.2f})"
        if torch is not None:
            theirs, theirs_min = times[1]
            ratio, ratio_min = ours / theirs, ours_min / theirs_min
            target = TARGETS[dtype.__name__]
            verdict = "meets" if ratio <= target else "misses"
            line += (f"   torch.nn.LSTM {theirs:7.2f} ms (min {theirs_min:6.2f})"
                     f"   ratio {ratio:4.2f} (of mins {ratio_min:4.2f}; {verdict} target <= {target})")
        print(line)


if __name__ == "__main__":
    main()
