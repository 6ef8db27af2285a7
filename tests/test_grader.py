"""The classroom grader (``lstm-course grade`` / ``check``) against cheats and faults.

Every case is a real submission run through the real ``nbgrader autograde``:
the whole class below is graded once, by the command line, with two
workers, and the tests read the CSV, the feedback and the kept work folder.
"""

import re
import time

import nbformat
import pytest

from grader_fixtures import (append_code, exercises, find_cell, graded_cells, literal, make_submission, manual_points,
                             max_points, read_csv, release_notebook, run_cli, visible_inputs, worker_tests,
                             write_notebook)

pytestmark = pytest.mark.slow

CH1, CH2 = "01_feedforward", "02_rnn"
CELL_TIMEOUT = 6  # seconds; every legitimate cell of chapters 01-02 runs in well under 2 s

NAIVE_SIGMOID = "def sigmoid(x):\n    return 1.0 / (1.0 + np.exp(-x))\n"


def _hardcoded_sigmoid():
    pairs = []
    for inputs in visible_inputs("sigmoid"):
        from lstm_helpers.feedforward import sigmoid

        pairs.append(f"    ({literal(inputs['x'])}, {literal(sigmoid(inputs['x']))}),")
    return ("_seen = [\n" + "\n".join(pairs) + "\n]\n\n"
            "def sigmoid(x):\n"
            "    for given, answer in _seen:\n"
            "        if given.shape == x.shape and (given == x).all():\n"
            "            return answer.copy()\n"
            "    return np.zeros_like(x)\n")


def _edit_and_delete_tests(nb):
    _, test_sigmoid = find_cell(nb, "test_sigmoid")
    test_sigmoid.source = 'print("all visible checks passed")'
    _, test_dense = find_cell(nb, "test_dense_forward")
    test_dense.metadata["nbgrader"]["points"] = 100
    test_dense.metadata["nbgrader"]["locked"] = False
    index, _ = find_cell(nb, "test_relu")
    del nb.cells[index]


def _big_output(nb):
    append_code(nb, "sigmoid", 'print("x" * 3_000_000)\nfor i in range(20000):\n    print(i, "spam " * 20)\n')


# name -> (file name, chapter, notebook or raw bytes)
def _class_files():
    files = {}

    def add(student, chapter, nb, name=None):
        files[name or f"{student}_{chapter}.ipynb"] = nb

    add("good", CH1, make_submission(CH1))
    add("good", CH2, make_submission(CH2), name=f"{CH2}_good.ipynb")  # <chapter>_<student> works too
    add("refcall", CH1, make_submission(CH1, {
        "sigmoid": "def sigmoid(x):\n    return lstm_helpers.feedforward.sigmoid(x)\n",
        "relu": "from lstm_helpers.feedforward import relu as _course_relu\n\ndef relu(x):\n    return _course_relu(x)\n",
    }))
    add("hardcode", CH1, make_submission(CH1, {"sigmoid": _hardcoded_sigmoid()}))
    patch_np = make_submission(CH1, {"sigmoid": (
        "import numpy\n"
        "np.allclose = lambda *a, **k: True\n"
        "numpy.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(a, b).shape, dtype=bool)\n\n"
        "def sigmoid(x):\n    return np.tanh(x)\n")})
    append_code(patch_np, "relu", "t = np.testing\n")
    append_code(patch_np, "relu", "t.assert_allclose = lambda *a, **k: None\n")
    add("patchnp", CH1, patch_np)
    add("patchchecks", CH1, make_submission(CH1, {"relu": (
        "check = lambda *a, **k: print('all visible checks passed')\n"
        "lstm_helpers.exercises.hidden.hidden_check = lambda *a, **k: None\n"
        "hidden_check = lambda *a, **k: None\n\n"
        "def relu(x):\n    return np.abs(x)\n")}))
    add("editdel", CH1, make_submission(CH1, {"sigmoid": "def sigmoid(x):\n    return np.tanh(x)\n"},
                                        edit=_edit_and_delete_tests))
    add("loop", CH1, make_submission(CH1))
    rnn_forward_loop = ("def rnn_forward(x, h0, params):\n    while True:\n        pass\n")
    add("loop", CH2, make_submission(CH2, {"rnn_forward": rnn_forward_loop}))
    deaf = ("def rnn_backward(dh, cache):\n    import time\n    while True:\n        try:\n"
            "            time.sleep(0.05)\n        except KeyboardInterrupt:\n            pass\n")
    add("deaf", CH2, make_submission(CH2, {"rnn_backward": deaf}))
    add("exit", CH1, make_submission(CH1))
    add("exit", CH2, make_submission(CH2, {"rnn_cell_forward": (
        "import os\n\ndef rnn_cell_forward(x_t, h_prev, params):\n    os._exit(1)\n")}))
    add("segv", CH1, make_submission(CH1, {"relu": (
        "import ctypes\n\ndef relu(x):\n    ctypes.string_at(0)\n    return np.maximum(x, 0)\n")}))
    add("bigout", CH1, make_submission(CH1, {"sigmoid": (
        "def sigmoid(x):\n    print('y' * 2_000_000)\n    return 0.5 * (1 + np.tanh(x / 2))\n")}, edit=_big_output))
    add("warn", CH1, make_submission(CH1, {"sigmoid": NAIVE_SIGMOID}))
    add("broken", CH1, make_submission(CH1))
    files[f"broken_{CH2}.ipynb"] = b'{"cells": [ this is not json'
    add("wrong", CH2, make_submission(CH1))  # chapter 1's notebook handed in as chapter 2
    files["carol homework.ipynb"] = make_submission(CH1)  # no chapter in the name
    return files


M1, M2 = max_points(CH1), max_points(CH2)  # the autograded points of each chapter
R1, R2 = manual_points(CH1), manual_points(CH2)  # the points of the free-response answers (an instructor's)
EXPECTED_TOTAL = {  # what each submission loses: the exercises it gets wrong (see _class_files)
    "good": M1 + M2, "refcall": M1 - 2, "hardcode": M1 - 1, "patchnp": M1 - 1, "patchchecks": M1 - 1, "editdel": M1 - 1,
    "loop": M1 + M2 - 2, "deaf": M2 - 3, "exit": M1 + M2 - 4, "segv": M1 - 1, "bigout": M1, "warn": M1 - 1,
    "broken": M1, "wrong": 0, "carol homework": M1,
}


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    submissions = base / "returned"
    submissions.mkdir()
    for name, content in _class_files().items():
        if isinstance(content, bytes):
            (submissions / name).write_bytes(content)
        else:
            write_notebook(content, submissions / name)
    started = time.monotonic()
    result = run_cli("grade", submissions, "--jobs", 2, "--out", base / "grades.csv", "--feedback",
                     base / "feedback", "--work", base / "work", "--cell-timeout", CELL_TIMEOUT,
                     "--gradebook", base / "gradebook.db",
                     "--notebook-timeout", 240, timeout=900)
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {row["student"]: row for row in read_csv(base / "grades.csv")}
    print(f"\nclass of {len(rows)} graded in {seconds:.0f} s")
    return {"base": base, "rows": rows, "cli": result, "seconds": seconds, "submissions": submissions}


def _tests(graded_class, student, chapter):
    """The worker's own record of one chapter's tests (outcomes, messages, scores)."""
    return worker_tests(graded_class["base"] / "work", student, chapter)


def _score(row, chapter, test):
    return float(row[f"{chapter}/{test}"])


# ---------------------------------------------------------------------------
# The CSV
# ---------------------------------------------------------------------------

def test_one_row_per_student_with_every_column(graded_class):
    rows = graded_class["rows"]
    assert set(rows) == set(EXPECTED_TOTAL), "no student may be dropped, however broken the submission"
    header = list(next(iter(rows.values())))
    tests1 = [f"{CH1}/{grade_id}" for grade_id, _, _ in graded_cells(CH1)]  # free-response answers too
    tests2 = [f"{CH2}/{grade_id}" for grade_id, _, _ in graded_cells(CH2)]
    assert {f"{CH1}/test_{n}" for n in ("sigmoid", "relu", "dense_forward", "dense_backward")} <= set(tests1)
    assert {f"{CH2}/test_{n}" for n in ("rnn_cell_forward", "rnn_forward", "rnn_backward")} <= set(tests2)
    assert header == ["student", *tests1, *tests2, CH1, CH2, "total", "status"]
    for student, expected in EXPECTED_TOTAL.items():
        row = rows[student]
        assert float(row["total"]) == expected, (student, row)
        assert float(row[CH1]) + float(row[CH2]) == float(row["total"])
        assert float(row[CH1]) == sum(float(row[c]) for c in tests1)
    # all answered: only the free-response answers wait, for an instructor
    assert [part.split(":")[1].strip() for part in rows["good"]["status"].split("; ")] == ["awaiting manual grading"] * 2
    assert float(rows["good"]["total"]) == max_points(CH1) + max_points(CH2)


def test_scores_merged_into_an_nbgrader_gradebook(graded_class):
    """One writer (the grading process) merges every private gradebook: nothing lost, no test pending
    (only the free-response reflections wait for a person)."""
    from nbgrader.api import Gradebook

    url = "sqlite:///" + str(graded_class["base"] / "gradebook.db")
    with Gradebook(url) as gb:
        students = {s.id for s in gb.students}
        assert set(EXPECTED_TOTAL) <= students
        for student, expected in EXPECTED_TOTAL.items():
            total = 0.0
            for chapter in (CH1, CH2):
                try:
                    submission = gb.find_submission(chapter, student)
                except Exception:
                    continue
                tests = {test for _, test, _ in exercises(chapter)}
                pending = {g.name for notebook in submission.notebooks for g in notebook.grades
                           if g.needs_manual_grade}
                assert not pending & tests, (student, chapter, pending)
                assert pending <= _reflections(chapter), (student, chapter, pending)
                total += submission.score
            assert total == expected, student


def _reflections(chapter):
    """The grade ids of the chapter's free-response answers (markdown, graded by a person)."""
    return {cell.metadata["nbgrader"]["grade_id"] for cell in release_notebook(chapter).cells
            if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("grade")}


def test_missing_chapter_is_named_in_status(graded_class):
    row = graded_class["rows"]["refcall"]
    assert "02_rnn: not submitted" in row["status"]


# ---------------------------------------------------------------------------
# Cheats
# ---------------------------------------------------------------------------

def test_calling_the_reference_earns_nothing(graded_class):
    row = graded_class["rows"]["refcall"]
    assert _score(row, CH1, "test_sigmoid") == 0 and _score(row, CH1, "test_relu") == 0
    assert _score(row, CH1, "test_dense_forward") == 2
    tests = _tests(graded_class, "refcall", CH1)
    # The chapter is graded with a package whose references of this chapter are stubs: the visible
    # trials fail too (they are judged outside the kernel, like the hidden ones).
    assert "the course's reference, is not available" in tests["test_sigmoid"]["message"]
    assert "the course's reference, is not available" in tests["test_relu"]["message"]  # through an alias too
    assert not tests["test_sigmoid"]["visible_passed"]


def test_hard_coded_visible_outputs_fail_the_hidden_tests(graded_class):
    row = graded_class["rows"]["hardcode"]
    assert _score(row, CH1, "test_sigmoid") == 0
    test = _tests(graded_class, "hardcode", CH1)["test_sigmoid"]
    assert test["visible_passed"], "the hard-coded answer should pass the visible check"
    assert "hidden tests" in test["message"]


def test_patching_numpy_comparisons_earns_nothing(graded_class):
    """Scores are decided outside the kernel: patching numpy there changes nothing; the scan tells a reviewer."""
    row = graded_class["rows"]["patchnp"]
    assert _score(row, CH1, "test_sigmoid") == 0 and float(row[CH1]) == M1 - 1  # the others were written honestly
    status = row["status"]
    assert "for review" in status and "np.allclose" in status and "numpy.isclose" in status


def test_patching_the_checks_changes_nothing(graded_class):
    row = graded_class["rows"]["patchchecks"]
    assert _score(row, CH1, "test_relu") == 0 and float(row[CH1]) == M1 - 1
    assert "lstm_helpers.exercises.hidden.hidden_check" in row["status"]  # a note for a reviewer, nothing more
    message = _tests(graded_class, "patchchecks", CH1)["test_relu"]["message"]
    assert "abs" in message.lower() or "negative inputs" in message, message


def test_edited_and_deleted_test_cells_are_restored_and_graded(graded_class):
    row = graded_class["rows"]["editdel"]
    assert _score(row, CH1, "test_sigmoid") == 0  # edited to print a fake success: original ran
    assert _score(row, CH1, "test_relu") == 1  # deleted: put back and graded
    assert _score(row, CH1, "test_dense_forward") == 2  # points metadata 100 -> back to 2
    tests = _tests(graded_class, "editdel", CH1)
    assert not any(t["manual"] for name, t in tests.items() if name not in _reflections(CH1)), \
        "no manual-grading limbo for a test cell"
    assert tests["test_sigmoid"]["outcome"] == "failed" and "tanh" in tests["test_sigmoid"]["message"]
    autograded = next((graded_class["base"] / "work" / "students").glob(f"editdel/autograded/*/{CH1}/{CH1}.ipynb"))
    nb = nbformat.read(str(autograded), as_version=4)
    assert "hidden_check(\"relu\", relu)" in find_cell(nb, "test_relu")[1].source
    assert "test_relu was deleted" in row["status"]


# ---------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------

def test_endless_loop_is_stopped_and_the_rest_graded(graded_class):
    row = graded_class["rows"]["loop"]
    assert _score(row, CH2, "test_rnn_forward") == 0
    assert float(row[CH2]) == M2 - 2 and float(row[CH1]) == M1
    assert re.search(r"test_rnn_forward.* stopped by the per-cell time limit", row["status"]), row["status"]
    assert "time limit" in _tests(graded_class, "loop", CH2)["test_rnn_forward"]["message"]


def test_loop_that_ignores_the_interrupt_is_replaced(graded_class):
    row = graded_class["rows"]["deaf"]
    assert _score(row, CH2, "test_rnn_backward") == 0
    assert float(row[CH2]) == M2 - 3
    assert "ignored the timeout's interrupt" in row["status"]


def test_os_exit_in_an_answer(graded_class):
    row = graded_class["rows"]["exit"]
    assert "the kernel exited with code 1 in test_rnn_cell_forward" in row["status"]
    assert _score(row, CH2, "test_rnn_cell_forward") == 0
    assert _score(row, CH2, "test_rnn_cell_backward") == 3 and _score(row, CH2, "test_rnn_backward") == 3
    assert float(row[CH1]) == M1


def test_segfault_in_an_answer(graded_class):
    row = graded_class["rows"]["segv"]
    assert "SIGSEGV" in row["status"] and "test_relu" in row["status"]
    assert _score(row, CH1, "test_relu") == 0 and float(row[CH1]) == M1 - 1


def test_megabytes_of_output(graded_class):
    row = graded_class["rows"]["bigout"]
    assert float(row[CH1]) == M1
    assert "truncated" in row["status"]
    feedback = graded_class["base"] / "feedback" / "bigout" / CH1 / f"{CH1}.html"
    good = graded_class["base"] / "feedback" / "good" / CH1 / f"{CH1}.html"
    assert feedback.stat().st_size < good.stat().st_size + 400_000, "feedback must stay a sane size"


def test_runtime_warning_costs_that_exercise_with_a_reason(graded_class):
    row = graded_class["rows"]["warn"]
    assert _score(row, CH1, "test_sigmoid") == 0 and float(row[CH1]) == M1 - 1
    message = _tests(graded_class, "warn", CH1)["test_sigmoid"]["message"]
    assert "RuntimeWarning" in message and "overflow" in message


def test_invalid_json_and_wrong_assignment(graded_class):
    rows = graded_class["rows"]
    assert "not a valid notebook file" in rows["broken"]["status"]
    assert float(rows["broken"][CH1]) == M1 and float(rows["broken"][CH2]) == 0
    assert "this is the notebook of 01_feedforward" in rows["wrong"]["status"]
    assert "identified as 01_feedforward by its cells" in rows["carol homework"]["status"]


def test_feedback_has_no_hidden_tests(graded_class):
    feedback = graded_class["base"] / "feedback"
    pages = list(feedback.glob("*/*/*.html"))
    assert len(pages) >= 15
    for page in pages:
        text = page.read_text()
        assert "HIDDEN TESTS" not in text, page
        assert not re.search(r'hidden_check</span><span class="p">\(', text), page
    # a failing hidden test still tells the learner what is wrong
    hard = (feedback / "hardcode" / CH1 / f"{CH1}.html").read_text()
    assert "CheckFailed" in hard


# ---------------------------------------------------------------------------
# check: the same engine for learners
# ---------------------------------------------------------------------------

def test_check_agrees_with_grade_and_reports_progress(graded_class, tmp_path):
    folder = tmp_path / "mine"
    write_notebook(make_submission(CH1, {"sigmoid": NAIVE_SIGMOID}), folder / CH1 / f"{CH1}.ipynb")
    write_notebook(release_notebook(CH2), folder / CH2 / f"{CH2}.ipynb")
    result = run_cli("check", folder)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert re.search(r"FAIL\s+sigmoid\s+0/1\s+failed: .*RuntimeWarning", out), out
    assert re.search(r"PASS\s+relu\s+1/1\s+passed", out)
    assert re.search(r"TODO\s+rnn_cell_forward\s+0/2\s+not attempted", out)
    assert f"score {M1 - 1:g}/{M1 + R1:g} (hidden tests included, {_waiting(R1)})" in out
    assert float(graded_class["rows"]["warn"][CH1]) == M1 - 1, "check and grade must agree"
    assert "Progress across chapters" in out and re.search(rf"{CH2}\s+0/{M2 + R2:g}", out)


def _waiting(points):
    return f"and {points:g} {'point awaits' if points == 1 else 'points await'} an instructor"


def test_check_exit_codes(tmp_path):
    good = write_notebook(make_submission(CH1), tmp_path / "good.ipynb")
    todo = write_notebook(release_notebook(CH1), tmp_path / "todo" / f"{CH1}.ipynb")
    ok = run_cli("check", good)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"score {M1:g}/{M1 + R1:g} (hidden tests included, {_waiting(R1)})" in ok.stdout
    incomplete = run_cli("check", todo)
    assert incomplete.returncode == 3, incomplete.stdout + incomplete.stderr
    assert incomplete.stdout.count("not attempted") == len(graded_cells(CH1))  # questions and free answers too


def test_check_unreadable_notebook(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{nope")
    result = run_cli("check", bad)
    assert result.returncode == 1 and "not a valid notebook file" in result.stdout


# ---------------------------------------------------------------------------
# Command line and input layouts (no grading needed)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("command", [[], ["release"], ["grade"], ["check"], ["lab"]])
def test_help_on_every_subcommand(command):
    result = run_cli(*command, "--help", timeout=60)
    assert result.returncode == 0, result.stderr
    assert "usage: lstm-course" in result.stdout


def test_submission_layouts(tmp_path):
    from lstm_helpers.classroom.submissions import discover_submissions, parse_flat_name

    chapters = [CH1, CH2]
    assert parse_flat_name("alice_01_feedforward", chapters) == ("alice", CH1)
    assert parse_flat_name("02_rnn_bob.smith", chapters) == ("bob.smith", CH2)
    assert parse_flat_name("carol-02_rnn (1)", chapters) == ("carol", CH2)
    assert parse_flat_name("dave 01_feedforward-Copy1", chapters) == ("dave", CH1)
    assert parse_flat_name("homework", chapters) == ("homework", None)
    nb = release_notebook(CH1)
    write_notebook(nb, tmp_path / "submitted" / "erin" / CH1 / f"{CH1}.ipynb")
    (tmp_path / "submitted" / "erin" / CH1 / "timestamp.txt").write_text("2024-01-01 10:00:00")
    write_notebook(nb, tmp_path / "submitted" / "erin" / CH2 / "Untitled.ipynb")
    write_notebook(nb, tmp_path / "submitted" / "frank" / f"{CH2}.ipynb")
    found = {(e.student, e.chapter): e for e in discover_submissions(tmp_path / "submitted", chapters)}
    assert set(found) == {("erin", CH1), ("erin", CH2), ("frank", CH2)}
    assert "Untitled.ipynb" in found[("erin", CH2)].note


def test_scanner_leaves_honest_code_alone():
    """Every solution, and ordinary learner habits, pass the review scan."""
    from lstm_helpers.classroom.tamper import scan_notebook
    from grader_fixtures import chapters

    for chapter in chapters():
        nb = make_submission(chapter)
        append_code(nb, "setup", (
            "import numpy as np\nfrom lstm_helpers import checks\nimport matplotlib.pyplot as plt\n"
            "plt.rcParams['figure.figsize'] = (6, 3)\nh = np.zeros((3, 4))\nh[0] = 1.0\n"
            "np.random.seed(0)\nwith np.errstate(over='ignore'):\n    y = np.exp(h)\n%timeit np.tanh(h)\n"))
        assert scan_notebook(nb, release_notebook(chapter)) == [], chapter


@pytest.mark.parametrize("code, needle", [
    ("np.allclose = lambda *a, **k: True", "np.allclose"),
    ("import numpy.testing as nt\nnt.assert_allclose = print", "nt.assert_allclose"),
    ("setattr(np, 'isclose', print)", "setattr"),
    ("vars(np)['allclose'] = print", "vars"),
    ("import sys\nsys.modules['lstm_helpers.exercises'] = None", "sys.modules"),
    ("import inspect\nf = inspect.currentframe().f_back.f_locals", "f_locals"),
    ("import sqlite3\nsqlite3.connect('gradebook.db')", "sqlite3"),
    ("get_ipython().input_transformers_post.append(lambda lines: [])", "input_transformers_post"),
    ("checks.check.__code__ = (lambda *a: None).__code__", "__code__"),
    ("exec('np.allclose = print')", "exec"),
    ("globals()['checks'] = None", "globals"),
    ("import builtins\nbuiltins.isinstance = lambda *a: True", "builtins.isinstance"),
    ("!touch /tmp/x", "shell"),
])
def test_scanner_points_a_reviewer_at_tampering(code, needle):
    from lstm_helpers.classroom.tamper import scan_notebook

    nb = make_submission(CH1)
    append_code(nb, "sigmoid", code)
    findings = scan_notebook(nb, release_notebook(CH1))
    assert any(needle in f for f in findings), findings


def test_release_is_nbgrader_generate_assignment(tmp_path):
    """`lstm-course release CHAPTER` writes what `nbgrader generate_assignment --force --no-db` writes."""
    import shutil
    import subprocess
    import sys

    from grader_fixtures import ROOT

    copies = []
    for name in ("via_cli", "via_nbgrader"):
        course = tmp_path / name
        (course / "solutions").mkdir(parents=True)
        shutil.copy(ROOT / "nbgrader_config.py", course)
        shutil.copytree(ROOT / "solutions" / CH1, course / "solutions" / CH1)
        copies.append(course)
    result = run_cli("release", CH1, "--course", copies[0], timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"notebooks/{CH1}/{CH1}.ipynb" in result.stdout
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", CH1, "--force", "--no-db"],
                   cwd=copies[1], check=True, capture_output=True)
    mine, theirs = (nbformat.read(str(c / "notebooks" / CH1 / f"{CH1}.ipynb"), as_version=4) for c in copies)
    assert mine == theirs
