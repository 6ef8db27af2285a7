"""Benchmark of ``lstm-course similarity`` (a script, not collected by pytest).

    .venv/bin/python tests/benchmarks/bench_similarity.py [--students 300] [--jobs 1 2] [--repeat 3]

Prints two things.

1. The figures behind the default threshold and token floor, on the synthetic
   class of ``tests/similarity_fixtures.py``: for each exercise with honest
   answers written independently (three of them, plus the solution), the
   highest and mean similarity of two honest answers, the highest similarity of
   an honest answer to the reference, and the lowest similarity of a disguised
   copy (renamed, re-commented, reformatted, reordered) to its original or to
   another copy of it; then the size of every solution's own code in tokens.
2. Seconds for a class of N students handing in every chapter (each answer
   drawn with a fixed seed: blank, a mutant from tests/mutants/, an honest
   answer or the solution, each disguised so that no two files are alike),
   with each ``--jobs`` value run as ``lstm-course similarity`` in its own
   process, alternating, best of ``--repeat`` runs.
"""

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from grader_fixtures import ROOT, chapters, make_submission, solution_sources, write_notebook  # noqa: E402
from similarity_fixtures import calibration_figures, disguise, honest_answers, release_cell  # noqa: E402


def calibration():
    from lstm_helpers.classroom.similarity import DEFAULT_MIN_TOKENS, DEFAULT_THRESHOLD, normalise_cell

    print(f"threshold {DEFAULT_THRESHOLD}, token floor {DEFAULT_MIN_TOKENS}")
    print(f"{'exercise':28s} {'tokens':>9s} {'honest max':>10s} {'mean':>5s} {'honest~ref':>10s} {'copies min':>10s}")
    every_honest, every_copy = [], []
    for chapter in chapters():
        for name, honest in honest_answers(chapter).items():
            given = release_cell(chapter, name)
            sizes = [normalise_cell(cell, given=given).size() for cell in [solution_sources(chapter)[name]] + honest]
            pairs, to_reference, copies = calibration_figures(name)
            every_honest += pairs + to_reference
            every_copy += copies
            print(f"{name:28s} {min(sizes):4d}-{max(sizes):<4d} {max(pairs):10.2f} {sum(pairs) / len(pairs):5.2f} "
                  f"{max(to_reference):10.2f} {min(copies):10.2f}")
    print(f"all: {len(every_honest)} honest comparisons, highest {max(every_honest):.3f}; "
          f"{len(every_copy)} copies, lowest {min(every_copy):.3f}")
    print("own code of each solution, in tokens:")
    sizes = []
    for chapter in chapters():
        for name, source in solution_sources(chapter).items():
            sizes.append(f"{name} {normalise_cell(source, given=release_cell(chapter, name)).size()}")
    print("  " + ", ".join(sizes))


def _mutants():
    from test_mutants import load_catalogue, mutant_source

    by_exercise = {}
    for mutant in load_catalogue():
        by_exercise.setdefault(mutant["exercise"], []).append(mutant_source(mutant))
    return by_exercise


def make_class(folder, students, seed=0):
    rng = random.Random(seed)
    mutants = _mutants()
    cells = 0
    for chapter in chapters():
        solutions = solution_sources(chapter)
        honest = honest_answers(chapter)
        for number in range(students):
            answers, blank = {}, []
            for name in solutions:
                roll = rng.random()
                if roll < 0.15:
                    blank.append(name)
                    continue
                if roll < 0.35 and mutants.get(name):
                    base = rng.choice(mutants[name])
                elif roll < 0.8 and name in honest:
                    base = rng.choice(honest[name])
                else:
                    base = solutions[name]
                answers[name] = disguise(base, seed=rng.randrange(1 << 30))
                cells += 1
            write_notebook(make_submission(chapter, answers, blank=blank),
                           folder / f"student{number:03d}_{chapter}.ipynb")
    return cells


def run_once(folder, jobs, out):
    cli = [sys.executable, "-m", "lstm_helpers.classroom.cli", "similarity", str(folder), "--jobs", str(jobs),
           "--out", str(out), "--course", str(ROOT)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(cli, capture_output=True, text=True, cwd=ROOT)
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    summary = next(line for line in result.stdout.splitlines() if " students; " in line)
    return seconds, cpu, summary


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-calibration", action="store_true")
    parser.add_argument("--keep", metavar="DIR", default=None,
                        help="make the class in DIR and keep it; a class already there is reused")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if not args.no_calibration:
        calibration()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp) / "class"
        started = time.monotonic()
        if folder.is_dir() and any(folder.glob("*.ipynb")):
            students = len({p.name.split("_")[0] for p in folder.glob("*.ipynb")})
            print(f"\nclass: reusing {folder}, {students} students x {len(chapters())} chapters")
        else:
            cells = make_class(folder, args.students)
            print(f"\nclass: {args.students} students x {len(chapters())} chapters, {cells} answered cells "
                  f"(made in {time.monotonic() - started:.0f} s)")
        best = {jobs: float("inf") for jobs in args.jobs}
        best_cpu = dict(best)
        for run in range(args.repeat):
            for jobs in args.jobs:  # alternating, each in its own process
                seconds, cpu, summary = run_once(folder, jobs, Path(tmp) / f"out-{jobs}.csv")
                best[jobs], best_cpu[jobs] = min(best[jobs], seconds), min(best_cpu[jobs], cpu)
                print(f"  run {run + 1}, --jobs {jobs}: {seconds:.1f} s wall, {cpu:.1f} s CPU "
                      f"(load {os.getloadavg()[0]:.1f})  {summary}")
        for jobs in args.jobs:
            print(f"best --jobs {jobs}: {best[jobs]:.1f} s wall, {best_cpu[jobs]:.1f} s CPU (all processes)")
        if len(args.jobs) > 1:
            first, last = args.jobs[0], args.jobs[-1]
            print(f"speed-up --jobs {last} over --jobs {first}: {best[first] / best[last]:.2f}x")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
