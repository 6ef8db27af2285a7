"""Class-size benchmark of ``lstm-course grade`` (a script, not collected by pytest).

    .venv/bin/python tests/benchmarks/bench_grading.py [--students 50] [--jobs 1 2] [--no-feedback]

Makes a synthetic class (every chapter for every student; each answer is the
solution, left unattempted, or a mutant from tests/mutants/, drawn with a
fixed seed), then measures

* seconds per student when grading with 1 worker and with 2 (nbgrader
  autograde + generate_feedback, as ``grade`` does by default), and the
  speed-up;
* seconds per student to execute the same notebooks bare with nbclient, one
  after the other, and the grader's overhead against that.
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


def grade(folder, jobs, feedback, work):
    from lstm_helpers.classroom import engine as classroom

    started = time.monotonic()
    result = classroom.grade_class(folder, ROOT, jobs=jobs, out_csv=work / f"grades-{jobs}.csv",
                                   feedback_dir=(work / f"feedback-{jobs}") if feedback else None,
                                   feedback=feedback, log=lambda text: None)
    seconds = time.monotonic() - started
    broken = [s.student for s in result.students if any(c.state not in ("graded",) for c in s.chapters.values())]
    return seconds, result, broken


def bare(notebooks, timeout):
    """Execute every notebook with nbclient, one after the other, in its own folder."""
    import nbformat
    from nbclient import NotebookClient

    started = time.monotonic()
    for path in notebooks:
        nb = nbformat.read(str(path), as_version=4)
        # Immediate kernel shutdown, as the grader's executor does: nbclient's default graceful
        # shutdown costs about a second per notebook, which would flatter the grader.
        client = NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name="python3",
                                shutdown_kernel="immediate", resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    return time.monotonic() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--jobs", type=int, nargs="*", default=[1, 2], help="worker counts to time (none: skip)")
    parser.add_argument("--no-feedback", action="store_true")
    parser.add_argument("--no-bare", action="store_true")
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
    print(f"class: {args.students} students x {len(names)} chapters ({', '.join(names)}) = {len(notebooks)} notebooks")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")

    from lstm_helpers.classroom import engine as classroom

    classroom.ensure_template(ROOT)  # build it outside the timings
    per_student = {}
    for jobs in args.jobs:
        seconds, result, broken = grade(folder, jobs, not args.no_feedback, work)
        per_student[jobs] = seconds / args.students
        print(f"grade --jobs {jobs}: {seconds:7.1f} s  = {per_student[jobs]:.2f} s per student"
              f"  ({len(result.students)} rows{'; not graded: ' + ', '.join(broken[:5]) if broken else ''})")
    if 1 in per_student and 2 in per_student:
        print(f"speed-up with 2 workers: {per_student[1] / per_student[2]:.2f}x")
    if not args.no_bare:
        seconds = bare(notebooks, timeout=60)
        bare_per_student = seconds / args.students
        print(f"bare nbclient, 1 process: {seconds:7.1f} s  = {bare_per_student:.2f} s per student")
        if 1 in per_student:
            print(f"grader overhead vs bare nbclient (1 worker): "
                  f"{per_student[1] / bare_per_student - 1:+.0%} "
                  f"({per_student[1] - bare_per_student:+.2f} s per student)")
    print(f"load average at the end {os.getloadavg()[0]:.1f} (other processes on the machine skew all figures)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
