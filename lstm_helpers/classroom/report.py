"""``lstm-course check``: a learner's report, exercise by exercise, with the likely mistake named."""

import sys
from pathlib import Path

from . import course
from .grade import DEFAULT_NOTEBOOK_TIMEOUT, check_notebooks
from .results import fmt, points

SYMBOL = {"passed": "PASS", "failed": "FAIL", "not attempted": "TODO", "timeout": "FAIL", "crash": "FAIL",
          "not run": "FAIL", "awaiting manual grading": "WAIT"}
SKIPPED_FOLDERS = ("autograded", "feedback", "release", "submitted", "backups")  # backups: lstm-course update


def find_notebooks(path):
    """The notebooks at ``path`` (a notebook, or a folder searched recursively, hidden and nbgrader folders skipped)."""
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*.ipynb")
                  if not any(part.startswith(".") or part in SKIPPED_FOLDERS for part in p.relative_to(path).parts[:-1]))


def _worse(a, b):
    """Combine exit codes: 1 (failure) beats 3 (not attempted) beats 0."""
    rank = {0: 0, 3: 1, 1: 2}
    return a if rank.get(a, 2) >= rank.get(b, 2) else b


def print_chapter(result, path, out):
    """Print one chapter's report; returns its exit code."""
    print(f"\n{result.chapter}  ({path})", file=out)
    if result.state != "graded":
        print("  cannot check: " + "; ".join(result.notes), file=out)
        return 1
    code = 0
    width = max([len(t.exercise) for t in result.tests] + [10])
    for test in result.tests:
        label = SYMBOL.get(test.outcome, "FAIL")
        line = f"  {label}  {test.exercise:<{width}} {fmt(test.score):>3}/{fmt(test.max):<3} {test.outcome}"
        if test.message and test.outcome not in ("passed", "not attempted"):
            line += f": {test.message}"
        print(line, file=out)
        if test.outcome in ("not attempted", "awaiting manual grading"):
            code = _worse(code, 3 if test.outcome == "not attempted" else 0)
        elif test.outcome != "passed":
            code = 1
    if result.notes:
        print("  notes: " + "; ".join(result.notes), file=out)
    waiting = result.awaiting_manual
    pending = sum(t.max for t in waiting)
    extra = f", and {points(pending)} {'awaits' if pending == 1 else 'await'} an instructor" if waiting else ""
    print(f"  score {fmt(result.score)}/{fmt(result.max)} (hidden tests included{extra})", file=out)
    return code


def check(paths, course_root=None, *, jobs=None, cell_timeout=None, notebook_timeout=DEFAULT_NOTEBOOK_TIMEOUT,
          use_sandbox="auto", out=None) -> int:
    """Check a learner's notebook(s) the way the grader grades them and print a report; the exit code.

    0: every exercise earns full points; 1: something failed, crashed, timed
    out or could not be read; 3: nothing failed but some exercises are not
    attempted yet. No course folder is needed: the checks ship with the package.
    """
    out = out or sys.stdout
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if course_root is None:
        for start in [p if p.is_dir() else p.parent for p in paths] + [Path.cwd()]:
            try:
                course_root = course.find_root(start)
                break
            except FileNotFoundError:
                continue
    notebooks = []
    for path in paths:
        if not path.exists():
            print(f"{path}: no such file or folder", file=out)
            return 1
        notebooks += find_notebooks(path)
    folder_mode = len(paths) > 1 or any(p.is_dir() for p in paths)
    results, unreadable = check_notebooks(notebooks, course_root, jobs=jobs, cell_timeout=cell_timeout,
                                          notebook_timeout=notebook_timeout, use_sandbox=use_sandbox)
    chosen, skipped = {}, []
    for path, result in results:  # the newest notebook of each chapter
        if result.chapter in chosen:
            older = min([chosen[result.chapter], (path, result)], key=lambda pr: Path(pr[0]).stat().st_mtime)
            skipped.append(older[0])
            chosen[result.chapter] = max([chosen[result.chapter], (path, result)],
                                         key=lambda pr: Path(pr[0]).stat().st_mtime)
        else:
            chosen[result.chapter] = (path, result)
    code = 0
    for path, reason in unreadable:
        if folder_mode and reason.startswith("not a notebook of this course"):
            continue
        print(f"{path}: {reason}", file=out)
        code = 1
    for chapter in sorted(chosen):
        path, result = chosen[chapter]
        code = _worse(code, print_chapter(result, path, out))
    if folder_mode:
        from ..exercises import CHAPTERS

        print("\nProgress across chapters", file=out)
        total = best = 0.0
        for chapter in sorted(set(CHAPTERS) | set(chosen)):
            if chapter in chosen:
                result = chosen[chapter][1]
                passed = sum(t.outcome == "passed" for t in result.tests)
                print(f"  {chapter:<28} {fmt(result.score):>5}/{fmt(result.max):<5} "
                      f"{passed}/{len(result.tests)} passed", file=out)
                total += result.score
                best += result.max
            else:
                print(f"  {chapter:<28} not found", file=out)
        print(f"  {'total':<28} {fmt(total):>5}/{fmt(best)}", file=out)
    for path in skipped:
        print(f"(skipped {path}: an older notebook of the same chapter)", file=out)
    return code
