"""Helpers shared by the grader tests, the mutant test and the grading benchmark.

A synthetic submission is the chapter's student release (``notebooks/``)
with every answer cell filled in from ``solutions/``, then changed the way a
learner might: a wrong answer, a deleted cell, garbage bytes.
"""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
CLI = [PYTHON, "-m", "lstm_helpers.classroom.cli"]


def chapters():
    from lstm_helpers.classroom import course

    return course.chapters(ROOT)


def solution_sources(chapter):
    """``{answer cell id: source}`` of the instructor's solution notebook."""
    nb = nbformat.read(str(ROOT / "solutions" / chapter / f"{chapter}.ipynb"), as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def release_notebook(chapter):
    return nbformat.read(str(ROOT / "notebooks" / chapter / f"{chapter}.ipynb"), as_version=4)


def exercises(chapter):
    """``[(answer cell id, test cell id, points)]`` in notebook order."""
    nb = release_notebook(chapter)
    out, answer = [], None
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            answer = meta["grade_id"]
        elif meta.get("grade"):
            out.append((answer, meta["grade_id"], float(meta["points"])))
    return out


def max_points(chapter):
    """The autograded points of ``chapter``."""
    return sum(points for _, _, points in exercises(chapter))


def graded_cells(chapter):
    """``[(grade id, points, graded by a person)]`` of every graded cell of the release, in notebook order:
    the test cells, and the free-response answers (markdown) that an instructor grades."""
    return [(c.metadata["nbgrader"]["grade_id"], float(c.metadata["nbgrader"]["points"]), c.cell_type == "markdown")
            for c in release_notebook(chapter).cells if c.metadata.get("nbgrader", {}).get("grade")]


def manual_points(chapter):
    """The points of ``chapter`` that wait for an instructor."""
    return sum(points for _, points, manual in graded_cells(chapter) if manual)


def make_submission(chapter, answers=None, blank=(), edit=None):
    """The release of ``chapter`` answered with the solutions, except ``answers`` (``{cell id: source}``).

    ``blank``: answer cells left as released (not attempted). ``edit(nb)``
    may change the notebook further (delete or edit cells).
    """
    nb = release_notebook(chapter)
    solutions = solution_sources(chapter)
    answers = answers or {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta["grade_id"] not in blank:
            cell.source = answers.get(meta["grade_id"], solutions[meta["grade_id"]])
    if edit is not None:
        edit(nb)
    return nb


def write_notebook(nb, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def find_cell(nb, grade_id):
    for index, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return index, cell
    raise KeyError(grade_id)


def append_code(nb, after_id, source):
    """Insert a learner's own code cell right after the cell ``after_id``."""
    index, _ = find_cell(nb, after_id)
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))


def run_cli(*args, timeout=900, cwd=None):
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(PYTHON) + os.pathsep + env.get("PATH", "")
    return subprocess.run([*CLI, *map(str, args)], cwd=cwd or ROOT, env=env, text=True, capture_output=True,
                          timeout=timeout)


def read_csv(path):
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def visible_inputs(name):
    """The inputs the visible check of exercise ``name`` uses (to hard-code answers for them)."""
    import numpy as np

    from lstm_helpers import exercises

    exercise = exercises.EXERCISES[name]
    rng = np.random.default_rng(exercise.visible_seed)
    return [exercise.make_inputs(rng, False) for _ in range(exercise.visible_trials)]


def literal(array):
    """Python source that rebuilds ``array`` exactly."""
    import numpy as np

    array = np.asarray(array)
    return f"np.array({json.dumps(array.tolist())}, dtype=np.{array.dtype.name})"


def deep(nb):
    return copy.deepcopy(nb)


def worker_tests(work, student, chapter):
    """``{grade_id: test}`` as the grading worker reported it (kept by ``lstm-course grade --work``)."""
    import re

    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", student).strip("._") or "student"
    reply = json.loads((Path(work) / "students" / slug / "grader" / "reply.json").read_text())["reply"]
    (found,) = [c for c in reply["chapters"] if c["chapter"] == chapter]
    return {t["grade_id"]: t for t in found["tests"]}
