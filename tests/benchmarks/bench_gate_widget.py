"""Benchmark: one slider callback of chapter 04's gate sliders and gradient view.

A plain script, not a pytest test:  .venv/bin/python tests/benchmarks/bench_gate_widget.py

Builds ``lstm_helpers.widgets.GateSliders`` as the notebook does, with a
learner's cell (a copy of the reference ``lstm_cell_forward``, so it runs the
same Python a learner's would), then moves every slider across its range and
switches presets. Each change runs the whole callback a learner triggers: run
the cell over the 40-step sequence, update the curves and the title, draw
them over the cached background, encode the PNG and hand it to the image
widget. The same for the forget-gate slider of ``GradientView`` (chapter 03's
app at 200 steps plus the cell-state curve). Reports the median, 95th
percentile and worst time per callback. Target: 95% of the callbacks under
100 ms. Run it on an otherwise idle machine: other processes show up as
outliers in the worst case.
"""

import argparse
import statistics
import time
import types

import numpy as np

from lstm_helpers import lstm
from lstm_helpers.widgets import GateSliders, GradientView
from lstm_helpers.widgets.gates import PRESETS

TARGET_MS = 100.0


def gate_moves():
    moves = []
    for name, low in (("forget", 0.0), ("input", 0.0), ("output", 0.0), ("candidate", -1.0)):
        moves += [(name, float(v)) for v in np.linspace(low, 1.0, 11)]
    moves += [("preset", name) for name in PRESETS]
    return moves


def measure(app, moves, rounds):
    outer, inner = [], []
    for _ in range(rounds):
        for name, value in moves:
            control = app.controls[name]
            if control.value == value:
                continue
            start = time.perf_counter()
            control.value = value  # triggers the callback, as dragging the slider does
            outer.append(1000 * (time.perf_counter() - start))
            inner.append(app.last_render_ms)
    return outer, inner


def report(title, outer, inner):
    print(f"{title}: {len(outer)} callbacks")
    for label, times in (("around the slider assignment", outer), ("last_render_ms", inner)):
        print(f"  per callback, {label:28}: median {statistics.median(times):5.1f} ms, "
              f"95th percentile {np.percentile(times, 95):5.1f} ms, worst {max(times):5.1f} ms")
    p95 = float(np.percentile(outer, 95))
    verdict = "OK" if p95 < TARGET_MS else "TOO SLOW (if the machine is busy, run it again)"
    print(f"  target: 95% of callbacks under {TARGET_MS:.0f} ms: {verdict}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="times to repeat the sweep")
    args = parser.parse_args()

    f = lstm.lstm_cell_forward
    learner_cell = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
    start = time.perf_counter()
    app = GateSliders(learner_cell)
    print(f"GateSliders first full render: {1000 * (time.perf_counter() - start):.0f} ms (once, when the cell runs)")
    assert app.cell is learner_cell
    report("GateSliders", *measure(app, gate_moves(), args.rounds))

    start = time.perf_counter()
    view = GradientView()
    print(f"GradientView first full render: {1000 * (time.perf_counter() - start):.0f} ms")
    report("GradientView (forget slider, T = 200)",
           *measure(view, [("forget", float(v)) for v in np.linspace(0.8, 1.0, 21)], args.rounds))


if __name__ == "__main__":
    main()
