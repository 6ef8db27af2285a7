"""Class-size benchmark of ``lstm-course grade``: what the sandbox costs (a script, not collected by pytest).

    .venv/bin/python tests/benchmarks/bench_grading.py [--students 20] [--rounds 2] [--jobs 2] [--no-feedback]

Makes a synthetic class (every chapter for every student; each answer is the
solution, left unattempted, or a mutant from tests/mutants/, drawn with a
fixed seed), then grades it with ``lstm-course grade`` with and without
``--no-sandbox``, each run a process of its own, alternating, ``--rounds``
times, and reports seconds per student for the best run of each and their
ratio (target: the sandbox costs at most 10 %). Every run must give the same
scores: the benchmark checks that the CSVs agree.
"""

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from grader_fixtures import ROOT, chapters, exercises, make_submission, write_notebook  # noqa: E402


def _mutants():
    from test_mutants import load_catalogue, mutant_source

    by_exercise = {}
    for mutant in load_catalogue():
        by_exercise.setdefault((mutant["chapter"], mutant["exercise"]), []).append(mutant_source(mutant))
    return by_exercise


def make_class(folder, students, seed=0):
    rng = random.Random(seed)
    mutants = _mutants()
    names = chapters()
    for number in range(students):
        student = f"student{number:03d}"
        for chapter in names:
            answers, blank = {}, []
            for answer, _, _ in exercises(chapter):
                roll = rng.random()
                if roll < 0.15:
                    blank.append(answer)
                elif roll < 0.35 and mutants.get((chapter, answer)):
                    answers[answer] = rng.choice(mutants[(chapter, answer)])
            nb = make_submission(chapter, answers, blank=blank)
            write_notebook(nb, folder / f"{student}_{chapter}.ipynb")
    return sorted(folder.glob("*.ipynb"))


def grade(folder, jobs, feedback, out, sandboxed):
    """One ``lstm-course grade`` run in a process of its own; its wall time in seconds."""
    import subprocess

    command = [sys.executable, "-m", "lstm_helpers.classroom.cli", "grade", str(folder), "--jobs", str(jobs),
               "--out", str(out / "grades.csv"), "--course", str(ROOT)]
    command += ["--feedback", str(out / "feedback")] if feedback else ["--no-feedback"]
    if not sandboxed:
        command.append("--no-sandbox")
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    return time.monotonic() - started


def scores(csv_path):
    import csv

    with open(csv_path, newline="") as fh:
        return {row["student"]: row["total"] for row in csv.DictReader(fh)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-feedback", action="store_true")
    parser.add_argument("--keep", metavar="DIR", help="keep the class and the results here")
    args = parser.parse_args(argv)

    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-grading-"))
    work.mkdir(parents=True, exist_ok=True)
    folder = work / "class"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    notebooks = make_class(folder, args.students)
    names = chapters()
    print(f"class: {args.students} students x {len(names)} chapters = {len(notebooks)} notebooks; "
          f"--jobs {args.jobs}, {'no ' if args.no_feedback else ''}feedback")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")

    from lstm_helpers.classroom.template import ensure_template

    ensure_template(ROOT)  # built once, outside the timings
    times = {True: [], False: []}
    results = {}
    for round_ in range(args.rounds):
        for sandboxed in (True, False) if round_ % 2 == 0 else (False, True):
            out = work / f"run-{round_}-{'sandbox' if sandboxed else 'plain'}"
            seconds = grade(folder, args.jobs, not args.no_feedback, out, sandboxed)
            times[sandboxed].append(seconds)
            results.setdefault(sandboxed, scores(out / "grades.csv"))
            print(f"  round {round_ + 1}: {'sandbox   ' if sandboxed else 'no sandbox'} {seconds:7.1f} s "
                  f"= {seconds / args.students:.2f} s per student (load {os.getloadavg()[0]:.1f})")
    best = {k: min(v) / args.students for k, v in times.items()}
    ratio = best[True] / best[False]
    print(f"best: sandbox {best[True]:.2f} s per student, no sandbox {best[False]:.2f} s per student; "
          f"ratio {ratio:.3f} (target at most 1.10: {'met' if ratio <= 1.10 else 'MISSED'})")
    print("scores agree between the two" if results[True] == results[False]
          else f"SCORES DIFFER: {[s for s in results[True] if results[True][s] != results[False].get(s)][:10]}")
    print(f"load average at the end {os.getloadavg()[0]:.1f} (other processes on the machine skew all figures)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
