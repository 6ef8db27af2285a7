"""``lstm-course exchange`` on one machine, without a hub: release, submit, collect, notes, feedback.

The learners here are nbgrader commands run with the learners' configuration
that ``lstm-course hub setup`` writes (``learner/`` on JUPYTER_CONFIG_PATH),
each in a home folder of its own, all as the user running the tests; so every
submission's folder belongs to that user, whatever id it claims. The real
multi-user term is in ``test_hub.py``.
"""

import getpass
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_course

from lstm_helpers.classroom import course, exchange
from lstm_helpers.classroom.hub import setup as hub_setup

CHAPTER = "01_feedforward"
ME = getpass.getuser()


@pytest.fixture
def klass(tmp_path):
    root = copy_course(tmp_path / "course")
    settings = hub_setup.ClassSettings(class_dir=str(tmp_path / "class"), course_root=str(root),
                                       course_id="lstm-exchange-test", instructors=[ME], sliders=False)
    (tmp_path / "class").mkdir()
    Path(settings.exchange_root).mkdir()
    hub_setup.write_learner_config(settings)
    hub_setup.write_course_class_config(settings)
    return settings


def learner(klass, tmp_path, student_id, *args, check=True):
    """``nbgrader ARGS`` as the learner ``student_id`` would run it in their home folder."""
    home = tmp_path / "homes" / student_id
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    env.update(HOME=str(home), JUPYTER_CONFIG_PATH=str(klass.config_dir("learner")),
               JUPYTER_DATA_DIR=str(home / ".local" / "share" / "jupyter"))
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.student_id={student_id}"],
                            cwd=home, env=course.tool_env(env), text=True, capture_output=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return home, result


def submit(klass, tmp_path, student_id):
    home, _ = learner(klass, tmp_path, student_id, "fetch_assignment", CHAPTER)
    learner(klass, tmp_path, student_id, "submit", CHAPTER)
    cached = sorted((home / ".local/share/jupyter/nbgrader_cache" / klass.course_id).glob(f"{student_id}+*"))
    return home, cached[-1].name.split("+")[2]


def test_release_collect_notes_and_feedback_round_trip(klass, tmp_path):
    root = Path(klass.course_root)
    assert exchange.exchange_settings(root)["course_id"] == klass.course_id
    assert exchange.release(root, [CHAPTER]) == {CHAPTER: "released"}
    assert exchange.release(root, [CHAPTER]) == {CHAPTER: "already released"}
    assert (Path(klass.exchange_root) / klass.course_id / "outbound" / CHAPTER / f"{CHAPTER}.ipynb").is_file()

    home_a, first = submit(klass, tmp_path, "alice")
    learner(klass, tmp_path, "alice", "submit", CHAPTER)  # alice submits again
    stamps = sorted(p.name.split("+")[2] for p in
                    (home_a / ".local/share/jupyter/nbgrader_cache" / klass.course_id).glob("alice+*"))
    assert len(stamps) == 2 and stamps[0] == first
    home_b, stamp_b = submit(klass, tmp_path, "bob")

    seen = exchange.collect(root, [CHAPTER])
    assert sorted((s.student, s.collected) for s in seen) == [("alice", False), ("alice", True), ("bob", True)]
    assert (root / "submitted" / "alice" / CHAPTER / "timestamp.txt").read_text() == stamps[-1]
    assert (root / "submitted" / "bob" / CHAPTER / "timestamp.txt").read_text() == stamp_b
    # every folder here belongs to the user running the tests, not to "alice" or "bob"
    notes = exchange.collection_notes(root)
    assert notes[("bob", CHAPTER)] == [f"submission by unix user {ME} under the id bob"]
    assert sorted(notes[("alice", CHAPTER)]) == sorted([
        f"submission by unix user {ME} under the id alice",
        f"earlier submission (at {stamps[0]}, not graded) by unix user {ME} under the id alice"])

    # Feedback as nbgrader's release_feedback wants it: the HTML with the submission's timestamp and secret.
    for student in ("alice", "bob"):
        target = root / "feedback" / student / CHAPTER
        target.mkdir(parents=True)
        (target / f"{CHAPTER}.html").write_text(f"<html>feedback for {student}</html>")
        for name in exchange.FEEDBACK_FILES:
            shutil.copy(root / "submitted" / student / CHAPTER / name, target / name)
    assert exchange.return_feedback(root, [CHAPTER]) == {CHAPTER: ["alice", "bob"]}
    for student, home, stamp in (("alice", home_a, stamps[-1]), ("bob", home_b, stamp_b)):
        learner(klass, tmp_path, student, "fetch_feedback", CHAPTER)
        html = home / CHAPTER / "feedback" / stamp / f"{CHAPTER}.html"
        assert html.read_text() == f"<html>feedback for {student}</html>"


def test_feedback_without_nbgraders_files_is_named_before_nbgrader_runs(klass):
    root = Path(klass.course_root)
    for student in ("alice", "bob"):
        target = root / "feedback" / student / CHAPTER
        target.mkdir(parents=True)
        (target / f"{CHAPTER}.html").write_text("<html></html>")
    (root / "feedback" / "bob" / CHAPTER / "timestamp.txt").write_text("2026-01-01 00:00:00.000000 UTC")
    with pytest.raises(exchange.ExchangeError) as err:
        exchange.return_feedback(root, [CHAPTER])
    message = str(err.value)
    assert "alice (no timestamp.txt, submission_secret.txt)" in message
    assert "bob (no submission_secret.txt)" in message


def test_a_backdated_submission_is_noted(klass, tmp_path):
    """The learner writes the timestamp (folder name and timestamp.txt); the exchange's ctime says when it came."""
    root = Path(klass.course_root)
    exchange.release(root, [CHAPTER])
    _, stamp = submit(klass, tmp_path, "carol")
    inbound = Path(klass.exchange_root) / klass.course_id / "inbound"
    (real,) = inbound.glob("carol+*")
    claimed = "2020-01-01 09:00:00.000000 UTC"
    forged = inbound / real.name.replace(stamp, claimed)
    real.rename(forged)
    (forged / "timestamp.txt").write_text(claimed)
    os.utime(forged, (1577869200, 1577869200))  # mtimes can be set back; ctimes cannot
    exchange.collect(root, [CHAPTER])
    notes = exchange.collection_notes(root)[("carol", CHAPTER)]
    assert [n for n in notes if n.startswith(f"submission claims the time {claimed} but reached the exchange at ")]
    assert (root / "submitted" / "carol" / CHAPTER / "timestamp.txt").read_text() == claimed  # nbgrader keeps it


def test_collection_notes_without_a_record_are_empty(tmp_path):
    assert exchange.collection_notes(tmp_path) == {}


def test_collect_without_a_course_id_says_what_is_missing(tmp_path):
    root = copy_course(tmp_path / "course")
    with pytest.raises(exchange.ExchangeError, match="course id"):
        exchange.collect(root, [CHAPTER])


def test_inbound_names_are_read_as_nbgrader_reads_them(tmp_path):
    inbound = tmp_path / "inbound"
    for name in ("al+ice+01_feedforward+2026-01-02 10:00:00.000000 UTC+r1",  # '+' inside the id
                 "al+ice+01_feedforward+2026-01-03 10:00:00.000000 UTC+r2",
                 "bob+01_feedforward+2026-01-01 10:00:00.000000 UTC",       # no random suffix
                 "bob+02_rnn+2026-01-05 10:00:00.000000 UTC+r3"):
        (inbound / name).mkdir(parents=True)
    subs = exchange.inbound_submissions(inbound, CHAPTER)
    assert sorted((s.student, s.timestamp[:10], s.collected) for s in subs) == [
        ("al+ice", "2026-01-02", False), ("al+ice", "2026-01-03", True), ("bob", "2026-01-01", True)]
    assert {s.owner for s in subs} == {ME}


def test_lstm_course_exchange_commands_are_registered():
    from lstm_helpers.classroom import cli

    parser = cli.build_parser()
    for argv in (["exchange", "release", CHAPTER], ["exchange", "collect"], ["exchange", "feedback", CHAPTER],
                 ["hub", "setup", "/tmp/x", "--course-id", "c", "--instructor", "i"], ["hub", "start", "/tmp/x"],
                 ["explore", "--no-browser"]):
        assert callable(parser.parse_args(argv).handler)
    assert json.loads(json.dumps(exchange.read_collected("/nonexistent"))) == {"submissions": []}
