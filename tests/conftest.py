"""Shared fixtures: the course checkout, its chapters, and notebook execution."""

import os
import shutil
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from lstm_helpers.classroom import course
from lstm_helpers.experiment import runner

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = course.chapters(ROOT)

os.environ.setdefault("MPLBACKEND", "Agg")


def copy_of(fn):
    """A copy of a reference function that the hidden tests' reference blocking cannot reach.

    Tests use it to play a learner whose answer is exactly right.
    """
    return types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


def rel_error(a, b):
    """Norm-wise relative error ||a - b|| / (||a|| + ||b||); 0 when both are 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)


def grade_cell(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def execute_notebook(path, workdir, timeout=180, env=None):
    """Run a notebook top to bottom in a fresh kernel inside ``workdir``; keep going after errors.

    env: extra environment variables for the kernel.
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(workdir)}})
    client.execute(env={**os.environ, **(env or {})})
    return nb


def copy_course(target):
    """A throw-away copy of the course sources (config, solutions, notebooks)."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", target)
    for folder in (course.SOURCE, course.RELEASE):
        shutil.copytree(ROOT / folder, target / folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return target


@pytest.fixture(scope="session")
def executed_notebooks(tmp_path_factory):
    """Every chapter's solution and student notebook, executed once (two kernels at a time)."""
    work = copy_course(tmp_path_factory.mktemp("executed"))
    jobs = {}
    for chapter in CHAPTERS:
        for version, path in (("solution", course.source_notebook(work, chapter)),
                              ("student", course.release_notebook(work, chapter))):
            jobs[(chapter, version)] = path
    # Live training runs in full in the solutions; the student versions run the same cells, capped.
    short = {"solution": {}, "student": {runner.TIME_CAP_VARIABLE: "3"}}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {key: pool.submit(execute_notebook, path, path.parent, env=short[key[1]])
                   for key, path in jobs.items()}
        return {key: future.result() for key, future in futures.items()}
