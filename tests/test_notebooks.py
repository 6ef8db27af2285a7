"""Every chapter, discovered from solutions/: the solution runs clean, the
student version fails only where the learner has work to do, the release is
fresh and leaks nothing, and nbgrader grades both ends correctly."""

import json
import re
import shutil

import nbformat
import pytest
from conftest import CHAPTERS, ROOT, copy_course, grade_cell

from lstm_helpers.classroom import course

pytestmark = pytest.mark.skipif(not CHAPTERS, reason="no chapters in solutions/")


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def errors(cell):
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


def stderr_text(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.output_type == "stream" and o.name == "stderr")


def describe(cell):
    return cell.source.splitlines()[0][:80] if cell.source else "<empty cell>"


def is_manual(cell):
    """A free-response answer a person grades: an nbgrader answer cell that is also a grade cell."""
    meta = grade_cell(cell)
    return bool(meta.get("solution") and meta.get("grade"))


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solution_notebook_runs_clean(chapter, executed_notebooks):
    nb = executed_notebooks[(chapter, "solution")]
    for cell in code_cells(nb):
        for err in errors(cell):
            pytest.fail(f"{chapter}: cell {describe(cell)!r} raised {err.ename}: {err.evalue}")
        if grade_cell(cell).get("grade"):
            assert not stderr_text(cell), (
                f"{chapter}: graded cell {grade_cell(cell)['grade_id']} wrote to stderr (nbgrader would score it 0):\n"
                + stderr_text(cell)
            )


def is_question(grade_id):
    """A question (``kind="value"``): the learner answers with a value, not a function."""
    from lstm_helpers.exercises import EXERCISES

    exercise = EXERCISES.get(grade_id)
    return exercise is not None and exercise.kind == "value"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_student_notebook_fails_only_with_not_implemented(chapter, executed_notebooks):
    """Before the learner starts, every test cell fails with NotImplementedError, and nothing else fails.
    A question's answer is a value assigned at the top level of its answer cell, so there the stub's
    NotImplementedError is raised in the answer cell itself, after the placeholder ``name = NotImplemented``
    that makes its check raise NotImplementedError too."""
    nb = executed_notebooks[(chapter, "student")]
    graded = 0
    for cell in code_cells(nb):
        meta = grade_cell(cell)
        names = [e.ename for e in errors(cell)]
        if meta.get("grade"):
            graded += 1
            assert names == ["NotImplementedError"], (
                f"{chapter}: test cell {meta['grade_id']} should fail with NotImplementedError "
                f"before the learner starts, got {names}"
            )
        elif meta.get("solution") and is_question(meta["grade_id"]):
            assert names == ["NotImplementedError"], (
                f"{chapter}: the answer cell of question {meta['grade_id']} should hold the stub, got {names}")
        else:
            for err in errors(cell):
                if meta.get("solution") and err.ename == "NotImplementedError":
                    continue  # a question's answer cell runs nbgrader's stub, `raise NotImplementedError()`
                pytest.fail(f"{chapter}: non-graded cell {describe(cell)!r} raised {err.ename}: {err.evalue}")
    assert graded > 0


def normalised(path):
    return json.loads(path.read_text())


def tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
                  and ".ipynb_checkpoints" not in p.parts and "__pycache__" not in p.parts)


@pytest.mark.slow
def test_release_is_fresh(tmp_path):
    """notebooks/ is exactly what nbgrader generates from solutions/ now."""
    work = copy_course(tmp_path / "course")
    shutil.rmtree(work / course.RELEASE)
    course.release(work)
    assert tree(work / course.RELEASE) == tree(ROOT / course.RELEASE), "notebooks/ holds other files than the release"
    for chapter in CHAPTERS:
        fresh = normalised(course.release_notebook(work, chapter))
        committed = normalised(course.release_notebook(ROOT, chapter))
        assert fresh == committed, (
            f"notebooks/{chapter} is stale: run `lstm-course release` (or nbgrader generate_assignment "
            "--force) and commit the result"
        )


def _solution_lines(source):
    inside, lines = False, []
    for line in source.splitlines():
        if "BEGIN SOLUTION" in line or "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END SOLUTION" in line or "END HIDDEN TESTS" in line:
            inside = False
        elif inside and len(line.strip()) > 3:
            lines.append(line.strip())
    return lines


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_student_version_leaks_nothing(chapter):
    source = nbformat.read(course.source_notebook(ROOT, chapter), as_version=4)
    student = nbformat.read(course.release_notebook(ROOT, chapter), as_version=4)
    text = course.release_notebook(ROOT, chapter).read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"{chapter}: the student version contains {marker!r}"
    by_id = {grade_cell(c).get("grade_id"): c for c in student.cells if grade_cell(c)}
    for cell in source.cells:
        gid = grade_cell(cell).get("grade_id")
        for line in _solution_lines(cell.source):
            assert line not in by_id[gid].source, f"{chapter}: {gid} leaks the solution line {line!r}"


@pytest.mark.parametrize("folder", [course.SOURCE, course.RELEASE])
def test_notebooks_are_committed_without_outputs(folder):
    for path in sorted((ROOT / folder).rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in code_cells(nb):
            assert not cell.outputs and cell.execution_count is None, f"{path.relative_to(ROOT)} has outputs"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_exercise_has_visible_and_hidden_tests_with_points(chapter):
    nb = nbformat.read(course.source_notebook(ROOT, chapter), as_version=4)
    cells = {grade_cell(c)["grade_id"]: c for c in nb.cells if grade_cell(c)}
    answers = [gid for gid, c in cells.items() if grade_cell(c).get("solution") and not is_manual(c)]
    assert answers, f"{chapter} has no exercises"
    for gid, cell in cells.items():
        if is_manual(cell):  # graded by a person: a markdown answer with points, no test cell
            assert cell.cell_type == "markdown" and grade_cell(cell).get("points", 0) > 0, gid
            assert f"test_{gid}" not in cells, f"{chapter}: the free-response answer {gid} has a test cell"
    assert "setup" in cells and grade_cell(cells["setup"]).get("locked"), f"{chapter}: no locked setup cell"
    assert "require_version" in cells["setup"].source
    for name in answers:
        test = cells.get(f"test_{name}")
        assert test is not None, f"{chapter}: exercise {name} has no test cell test_{name}"
        meta = grade_cell(test)
        assert meta.get("grade") and meta.get("locked") and meta.get("points", 0) > 0
        assert "raises-exception" in test.metadata.get("tags", []), (
            f"{chapter}: test_{name} needs the tag raises-exception, or JupyterLab's Run All stops at it"
        )
        visible, _, hidden = test.source.partition("### BEGIN HIDDEN TESTS")
        assert re.search(r"check\w*\(", visible), f"{chapter}: test_{name} has no visible check"
        assert "hidden_check" in hidden or "assert" in hidden, f"{chapter}: test_{name} has no hidden tests"


@pytest.mark.slow
def test_nbgrader_end_to_end(tmp_path):
    """Release with a gradebook, submit, autograde: solutions score full marks, the blank release 0."""
    from nbgrader.api import Gradebook

    work = copy_course(tmp_path / "course")
    for chapter in CHAPTERS:
        course.nbgrader(work, "generate_assignment", chapter, "--force")
    for student in ("full", "blank"):
        course.nbgrader(work, "db", "student", "add", student)
        for chapter in CHAPTERS:
            target = work / "submitted" / student / chapter
            target.mkdir(parents=True)
            src = course.source_notebook(work, chapter) if student == "full" else course.release_notebook(work, chapter)
            shutil.copy(src, target / f"{chapter}.ipynb")
    for chapter in CHAPTERS:
        result = course.nbgrader(work, "autograde", chapter, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    db_url = "sqlite:///" + str(work / ".nbgrader" / "gradebook.db")
    with Gradebook(db_url) as gb:
        for chapter in CHAPTERS:
            manual = {grade_cell(c)["grade_id"] for c in nbformat.read(course.source_notebook(work, chapter),
                                                                       as_version=4).cells if is_manual(c)}
            full = gb.find_submission(chapter, "full")
            blank = gb.find_submission(chapter, "blank")
            grades = [g for notebook in full.notebooks for g in notebook.grades]
            auto = [g for g in grades if g.name not in manual]
            assert sum(g.max_score for g in auto) > 0
            assert all(g.score == g.max_score for g in auto), (
                f"{chapter}: the solutions lost points on " + ", ".join(g.name for g in auto if g.score != g.max_score))
            assert not any(g.needs_manual_grade for g in auto)
            # free-response answers wait for a person: neither 0 nor full marks from the autograder
            written = [g for g in grades if g.name in manual]
            assert {g.name for g in written} == manual
            assert all(g.needs_manual_grade and g.auto_score is None for g in written), chapter
            assert blank.score == 0, f"{chapter}: the untouched release scored {blank.score}"

    # Plain nbgrader feedback, configured by nbgrader_config.py: visible tests shown, hidden ones not.
    for chapter in CHAPTERS:
        result = course.nbgrader(work, "generate_feedback", chapter, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        for student in ("full", "blank"):
            page = (work / "feedback" / student / chapter / f"{chapter}.html").read_text()
            assert re.search(r'>check</span><span class="p">\(', page), f"{chapter}: visible tests missing"
            assert "HIDDEN TESTS" not in page, f"{chapter}: hidden-test markers in {student}'s feedback"
            assert not re.search(r'hidden_check</span><span class="p">\(', page), \
                f"{chapter}: hidden tests in {student}'s feedback"
