"""Shared fixtures (the course checkout, its chapters, notebook execution) and the two test stages.

The stages: ``python -m pytest`` runs the quick tests first (every test
without one of the markers in :data:`SLOW_MARKERS`: the references, the
checks, the widgets), then the slow ones (notebooks run in kernels, nbgrader
round trips, the browser). If a quick test fails, the run stops before the
slow stage, so a broken reference is reported in about a minute instead of
after the notebooks. ``-m``, ``-k`` and ``-x`` work as usual: the stages only
order what they select.
"""

import os
import shutil
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from lstm_helpers.classroom import course
from lstm_helpers.experiment import runner

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = course.chapters(ROOT)

os.environ.setdefault("MPLBACKEND", "Agg")

pytest_plugins = ["pytester"]  # tests/test_stages.py runs the stages below on a folder of its own

#: Tests carrying one of these markers form the slow stage, which runs after the quick one.
SLOW_MARKERS = ("slow", "browser", "hub")


# -- the quick stage first; a failure there stops the run before the slow stage -------------------

_failed_quick_tests = pytest.StashKey[set]()


def is_quick(item):
    return not any(item.get_closest_marker(name) for name in SLOW_MARKERS)


@pytest.hookimpl(trylast=True)  # after -m / -k have deselected and fixtures have grouped the items
def pytest_collection_modifyitems(session, config, items):
    items[:] = [item for item in items if is_quick(item)] + [item for item in items if not is_quick(item)]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and is_quick(item):  # in setup, call or teardown
        item.session.stash.setdefault(_failed_quick_tests, set()).add(item.nodeid)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    result = yield
    failed = len(item.session.stash.get(_failed_quick_tests, ()))
    if failed and is_quick(item) and nextitem is not None and not is_quick(nextitem):
        slow = sum(not is_quick(other) for other in item.session.items)
        markers = ", ".join(SLOW_MARKERS[:-1]) + " or " + SLOW_MARKERS[-1]
        item.session.shouldfail = (f"{failed} quick test{'s' if failed > 1 else ''} failed: the slow stage "
                                   f"({slow} test{'s' if slow > 1 else ''} marked {markers}) was not run")
    return result


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
    import nbformat  # imported here: the quick tests need neither, and nbformat takes seconds to import
    from nbclient import NotebookClient

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
