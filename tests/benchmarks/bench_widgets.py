"""Benchmark: one slider callback of every slider app in the course.

A plain script, not a pytest test:  .venv/bin/python tests/benchmarks/bench_widgets.py

Builds each app as its notebook does (with a learner's cell where the app
takes one: a copy of the reference, so it runs the same Python a learner's
would), then moves every control across its range. Each change runs the
whole callback a learner triggers: recompute, draw the moving artists over
the cached background, encode the PNG and hand it to the image widget.
Prints the median, 95th percentile and worst time per callback, wall-clock
and CPU time of this process (on a busy machine the CPU time is closer to
what an idle laptop sees). Target: 95% of the callbacks under 100 ms.
"""

import argparse
import statistics
import time
import types

import ipywidgets
import numpy as np

from lstm_helpers import language_model, lstm, variants
from lstm_helpers.viz.widgets import GateSliders, GradientFlowApp, GradientView, TemperatureApp, VariantSliders

TARGET_MS = 100.0


def learner_copy(fn):
    return types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


APPS = {
    "GradientFlowApp (chapter 03)": lambda: GradientFlowApp(),
    "GateSliders (chapter 04)": lambda: GateSliders(learner_copy(lstm.lstm_cell_forward)),
    "GradientView (chapter 04, T = 200)": lambda: GradientView(),
    "VariantSliders (chapter 05)": lambda: VariantSliders(
        **{name: learner_copy(getattr(variants, name))
           for name in ("peephole_lstm_cell_forward", "cifg_lstm_cell_forward", "gru_cell_forward")}),
    "TemperatureApp (chapter 07, shipped model, 200 characters, as the notebook builds it)": lambda: TemperatureApp(
        n=200),
    "TemperatureApp (chapter 07, with a learner's sample)": lambda: TemperatureApp(
        sample=learner_copy(language_model.sample), n=200),
}


def sweep(app, points=11):
    """Every control across its range: sliders at evenly spaced values, menus through their options."""
    moves = []
    for name, control in app.controls.items():
        if isinstance(control, (ipywidgets.FloatSlider, ipywidgets.IntSlider)):
            values = np.linspace(control.min, control.max, points)
            cast = int if isinstance(control, ipywidgets.IntSlider) else float
            moves += [(name, cast(v)) for v in values]
        elif isinstance(control, (ipywidgets.Dropdown, ipywidgets.ToggleButtons)):
            moves += [(name, value) for _, value in control.options] if isinstance(control.options[0], tuple) \
                else [(name, value) for value in control.options]
    return moves


def measure(app, moves, rounds):
    wall, cpu = [], []
    for _ in range(rounds):
        for name, value in moves:
            control = app.controls[name]
            if control.value == value:
                continue
            start, start_cpu = time.perf_counter(), time.process_time()
            control.value = value  # triggers the callback, as dragging the slider does
            wall.append(1000 * (time.perf_counter() - start))
            cpu.append(1000 * (time.process_time() - start_cpu))
    return wall, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="times to repeat each sweep")
    args = parser.parse_args()
    for title, build in APPS.items():
        start = time.perf_counter()
        app = build()
        first = 1000 * (time.perf_counter() - start)
        wall, cpu = measure(app, sweep(app), args.rounds)
        p95 = float(np.percentile(wall, 95))
        print(f"{title}: first full render {first:.0f} ms; {len(wall)} callbacks")
        for label, times in (("wall clock", wall), ("CPU time", cpu)):
            print(f"  per callback, {label:10}: median {statistics.median(times):5.1f} ms, "
                  f"95th percentile {np.percentile(times, 95):5.1f} ms, worst {max(times):5.1f} ms")
        verdict = "OK" if p95 < TARGET_MS else "TOO SLOW (if the machine is busy, run it again)"
        print(f"  target: 95% of callbacks under {TARGET_MS:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()
