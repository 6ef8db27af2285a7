"""The two test stages of tests/conftest.py, run by pytest's own pytester on a tiny test folder.

The folder's conftest takes the stage hooks from tests/conftest.py; its
tests write down the order in which they run, and the environment variable
TINY_FAIL names the one that fails.
"""

import sys

import pytest

import conftest

TINY_CONFTEST = """
from course_tests_conftest import (SLOW_MARKERS, pytest_collection_modifyitems, pytest_runtest_makereport,
                                   pytest_runtest_protocol)


def pytest_configure(config):
    for name in SLOW_MARKERS:
        config.addinivalue_line("markers", name + ": a slow-stage marker")
"""

TINY_TESTS = """
import os

import pytest


def record(name):
    with open(os.environ["TINY_LOG"], "a") as log:
        log.write(name + "\\n")
    assert os.environ.get("TINY_FAIL") != name, name + " fails on purpose"


@pytest.mark.slow
def test_slow():  # first in the file, but in the slow stage
    record("slow")


def test_quick_a():
    record("quick_a")


@pytest.mark.browser
def test_browser():
    record("browser")


@pytest.mark.hub
def test_hub():
    record("hub")


def test_quick_b():
    record("quick_b")
"""


@pytest.fixture
def run_tiny(pytester, monkeypatch):
    """Run pytest on the tiny folder; returns (exit code, the tests in the order they ran, the output)."""
    monkeypatch.setitem(sys.modules, "course_tests_conftest", conftest)
    pytester.makeconftest(TINY_CONFTEST)
    pytester.makepyfile(test_tiny=TINY_TESTS)
    runs = []

    def run(*args, fail=""):
        log = pytester.path / f"ran{len(runs)}.txt"
        runs.append(log)
        monkeypatch.setenv("TINY_LOG", str(log))
        monkeypatch.setenv("TINY_FAIL", fail)
        result = pytester.runpytest("-p", "no:cacheprovider", *args)
        ran = log.read_text().split() if log.exists() else []
        return result.ret, ran, result.stdout.str()

    return run


def test_quick_tests_run_first_and_a_quick_failure_skips_the_slow_stage(run_tiny):
    code, ran, out = run_tiny()
    assert (code, ran) == (0, ["quick_a", "quick_b", "slow", "browser", "hub"]), out

    code, ran, out = run_tiny(fail="quick_a")
    assert (code, ran) == (1, ["quick_a", "quick_b"]), out  # the whole quick stage, then a stop
    assert "1 quick test failed: the slow stage (3 tests marked slow, browser or hub) was not run" in out

    code, ran, out = run_tiny(fail="hub")  # a failure in the slow stage stops nothing
    assert (code, ran) == (1, ["quick_a", "quick_b", "slow", "browser", "hub"]), out


def test_marker_and_keyword_selection_still_decide_what_runs(run_tiny):
    code, ran, out = run_tiny("-m", "slow or hub", fail="quick_a")  # the failing test is deselected
    assert (code, ran) == (0, ["slow", "hub"]), out

    code, ran, out = run_tiny("-k", "quick_a or browser", fail="quick_a")
    assert (code, ran) == (1, ["quick_a"]), out
    assert "the slow stage (1 test marked slow, browser or hub) was not run" in out

    code, ran, out = run_tiny("-m", "not slow and not browser and not hub")
    assert (code, ran) == (0, ["quick_a", "quick_b"]), out

    code, ran, out = run_tiny("-x", fail="quick_a")  # -x still stops at the first failure
    assert (code, ran) == (1, ["quick_a"]), out
