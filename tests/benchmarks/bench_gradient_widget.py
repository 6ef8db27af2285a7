"""Benchmark: one slider callback of chapter 03's gradient-flow widget.

A plain script, not a pytest test:  .venv/bin/python tests/benchmarks/bench_gradient_widget.py

Builds ``lstm_helpers.widgets.GradientFlowApp`` as the notebook does, then
moves each slider through a sweep of values. Each change runs the whole
callback a learner triggers: recompute the gradient norms for every lag,
redraw the lines and the title, encode the PNG and hand it to the image
widget. Reports the median, 95th percentile and worst time per callback,
measured around the slider assignment (so the widget's own bookkeeping is
included) and by the app itself (``last_render_ms``). Target: 95% of the
callbacks under 100 ms; the sweep includes the longest sequence the slider
allows. Run it on an otherwise idle machine: other processes show up as
outliers in the worst case.
"""

import argparse
import statistics
import time

import numpy as np

from lstm_helpers.widgets import GradientFlowApp

TARGET_MS = 100.0


def sweep(app):
    """Slider values to visit: every control, across its range, at the longest sequence."""
    moves = [("seq_len", app.max_len)]
    moves += [("sigma_max", float(v)) for v in np.linspace(0.2, 3.0, 15)]
    moves += [("input_scale", float(v)) for v in np.linspace(0.0, 3.0, 13)]
    moves += [("seq_len", int(v)) for v in np.linspace(2, app.max_len, 10)]
    return moves


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="times to repeat the sweep")
    args = parser.parse_args()

    start = time.perf_counter()
    app = GradientFlowApp()
    print(f"first full render: {1000 * (time.perf_counter() - start):.0f} ms (once, when the cell runs)")

    outer, inner = [], []
    for _ in range(args.rounds):
        for name, value in sweep(app):
            control = app.controls[name]
            if control.value == value:
                continue
            start = time.perf_counter()
            control.value = value  # triggers the callback, as dragging the slider does
            outer.append(1000 * (time.perf_counter() - start))
            inner.append(app.last_render_ms)

    print(f"callbacks: {len(outer)}")
    for label, times in (("around the slider assignment", outer), ("last_render_ms", inner)):
        print(f"per callback, {label:28}: median {statistics.median(times):5.1f} ms, "
              f"95th percentile {np.percentile(times, 95):5.1f} ms, worst {max(times):5.1f} ms")
    p95 = float(np.percentile(outer, 95))
    verdict = "OK" if p95 < TARGET_MS else "TOO SLOW (if the machine is busy, run it again)"
    print(f"target: 95% of callbacks under {TARGET_MS:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()
