"""nbgrader's gradebook on a real PostgreSQL server (started by the test on 127.0.0.1).

The course configuration that ``lstm-course hub setup --gradebook URL`` writes
sets everything PostgreSQL needs: the URL (``postgresql://`` is read by
SQLAlchemy 2 as psycopg 3) and ``CourseDirectory.course_id``, without which
nbgrader's foreign keys fail on PostgreSQL (SQLite never enforces them).
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import grader_fixtures as gf  # noqa: E402
from conftest import copy_course  # noqa: E402
from postgres_support import postgres  # noqa: E402,F401  (the fixture)

from lstm_helpers.classroom import course  # noqa: E402
from lstm_helpers.classroom.hub import setup as hub_setup  # noqa: E402

pytestmark = pytest.mark.hub
CHAPTER = "01_feedforward"
COURSE_ID = "lstm-pg-test"


def _course(tmp_path, url):
    root = copy_course(tmp_path / "course")
    settings = hub_setup.ClassSettings(class_dir=str(tmp_path / "class"), course_root=str(root), course_id=COURSE_ID,
                                       instructors=["nobody"], gradebook=url, sliders=False)
    hub_setup.write_course_class_config(settings)
    return root


def _scores(url, student):
    from nbgrader.api import Gradebook

    with Gradebook(url, COURSE_ID) as gb:
        submission = gb.find_submission(CHAPTER, student)
        return submission.score, submission.max_score


def test_nbgrader_grades_into_postgres_with_the_course_configuration(postgres, tmp_path):
    url = postgres.create_database("nbgrader_course_config")
    root = _course(tmp_path, url)
    for args in (("generate_assignment", CHAPTER, "--force"), ("db", "student", "add", "alice")):
        result = course.nbgrader(root, *args, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    gf.write_notebook(gf.make_submission(CHAPTER), root / "submitted" / "alice" / CHAPTER / f"{CHAPTER}.ipynb")
    result = course.nbgrader(root, "autograde", CHAPTER, "--student", "alice", check=False, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _scores(url, "alice") == (gf.max_points(CHAPTER), gf.max_points(CHAPTER) + gf.manual_points(CHAPTER))
    with postgres.connect("nbgrader_course_config") as conn:  # the rows are in PostgreSQL itself
        assert conn.execute("select count(*) from submitted_assignment").fetchone()[0] == 1
        assert (COURSE_ID,) in conn.execute("select id from course").fetchall()


def test_without_a_course_id_nbgrader_fails_on_postgres(postgres, tmp_path):
    """The pitfall the course configuration avoids: nbgrader's default course id breaks the foreign keys."""
    url = postgres.create_database("nbgrader_no_course_id")
    root = copy_course(tmp_path / "course")
    result = course.nbgrader(root, "generate_assignment", CHAPTER, "--force", f"--CourseDirectory.db_url={url}",
                             check=False)
    assert result.returncode != 0 and "ForeignKeyViolation" in result.stdout + result.stderr


def test_lstm_course_grade_writes_scores_into_a_postgres_gradebook(postgres, tmp_path):
    url = postgres.create_database("lstm_course_grade")
    root = _course(tmp_path, url)
    result = course.nbgrader(root, "generate_assignment", CHAPTER, "--force", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    submitted = tmp_path / "submitted"
    gf.write_notebook(gf.make_submission(CHAPTER), submitted / "alice" / CHAPTER / f"{CHAPTER}.ipynb")
    gf.write_notebook(gf.release_notebook(CHAPTER), submitted / "bob" / CHAPTER / f"{CHAPTER}.ipynb")
    result = gf.run_cli("grade", submitted, "--course", root, "--gradebook", url, "--out", tmp_path / "grades.csv",
                        "--no-feedback", "--jobs", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _scores(url, "alice") == (gf.max_points(CHAPTER), gf.max_points(CHAPTER) + gf.manual_points(CHAPTER))
    assert _scores(url, "bob")[0] == 0
