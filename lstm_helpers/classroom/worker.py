"""One grading worker: ``python -m lstm_helpers.classroom.worker`` reads a task on stdin, answers on stdout.

The pool (:mod:`lstm_helpers.classroom.pool`) starts one worker per student
and per task. A worker is trusted code: it runs nbgrader's own ``Autograde``
and ``GenerateFeedback`` in the student's private course folder, with
:class:`~lstm_helpers.classroom.nbgrader_plugins.TrustedExecute` as the
executor, so the notebook runs in a sandboxed kernel and the test cells are
judged here. Nothing a kernel can reach is read back: scores come from the
private gradebook, outcomes from the verdicts this process recorded, and the
reply travels on this process's stdout.

Tasks (JSON):

* ``{"kind": "template", "course", "dir", "chapters"}``: run
  ``nbgrader generate_assignment`` with a gradebook into a template folder;
* ``{"kind": "grade", "dir", "course", "student", "chapters", "plans",
  "sandbox", "feedback", "cell_timeout", "notebook_timeout"}``: autograde
  (and write feedback for) the student's chapters;
* ``{"kind": "check", "notebook", "plan", "points", "sandbox", ...}``: run
  one notebook with the same executor but without nbgrader (self-study
  without a course folder).
"""

import contextlib
import json
import logging
import os
import sys
import time
import traceback

from . import verdicts
from .nbgrader_plugins import KERNEL_DEAF, KERNEL_DIED, OUT_OF_TIME, executor_config, grading_config

log = logging.getLogger("lstm_helpers.classroom.worker")


def _tail(text, lines=40):
    return "\n".join((text or "").strip().splitlines()[-lines:])


def _plan(raw):
    return {grade_id: [verdicts.Call(*call) for call in calls] for grade_id, calls in raw.items()}


def _sandbox(task, spec, files=None):
    """The executor's sandbox settings for this worker: the spec with this slot's uid and ``files`` added."""
    from .sandbox import UID_BASE

    spec = dict(spec, uid=UID_BASE if os.geteuid() == 0 else -1)  # the kernel manager picks a fresh uid
    spec["files"] = {**spec.get("files", {}), **(files or {})}
    return spec


def _read_jsonl(path):
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@contextlib.contextmanager
def _recording(result, events_file, started):
    """The ``with`` block fills ``result``: an error in it becomes ``result["error"]``. Afterwards, error or
    not, ``result`` gets the executor's events and the seconds since ``started``."""
    try:
        yield
    except Exception:
        result["error"] = _tail(traceback.format_exc())
    result["events"] = _read_jsonl(events_file)
    result["seconds"] = round(time.time() - started, 3)


def _cell_outcome(cell):
    """Outcome of a graded test cell that was not judged (its notebook ran out of time or crashed)."""
    enames = [o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if OUT_OF_TIME in enames:
        return "not run", "not run: the notebook used up its grading time budget"
    if KERNEL_DIED in enames or KERNEL_DEAF in enames:
        return "crash", "the kernel died or hung in this cell"
    return "failed", "not judged"


def outcomes(nb, grades, judged):
    """Per-test results: the grader's verdicts with nbgrader's scores, capped to ``[0, max]``.

    ``grades``: ``{grade_id: (score, max_score, needs_manual_grade)}``;
    ``judged``: the verdict records written by TrustedExecute.
    """
    by_id = {record["grade_id"]: record for record in judged}
    tests = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if not meta.get("grade") or grade_id not in grades:
            continue
        score, max_score, manual = grades[grade_id]
        max_score = float(max_score or 0)
        if meta.get("solution"):  # a manually graded answer
            answered = score is None or manual
            tests.append({"grade_id": grade_id, "score": 0.0, "max": max_score, "manual": True,
                          "outcome": "awaiting manual grading" if answered else "not attempted",
                          "message": "" if answered else "no answer written"})
            continue
        record = by_id.get(grade_id)
        visible_passed = False
        if record is not None:
            failed = next((v for v in record["verdicts"] if v["outcome"] != "passed"), None)
            outcome, message = (failed["outcome"], failed["message"]) if failed else ("passed", "")
            visible_passed = all(v.get("visible_passed") for v in record["verdicts"])
        else:
            outcome, message = _cell_outcome(cell)
        score = min(max(float(score or 0.0), 0.0), max_score)
        if outcome != "passed":
            score = 0.0
        tests.append({"grade_id": grade_id, "score": score, "max": max_score, "manual": False,
                      "outcome": outcome, "message": message, "visible_passed": visible_passed})
    return tests


def _gradebook_grades(db_url, chapter, student):
    """``({grade_id: (score, max, needs_manual)}, [grade ids with a manual score])`` from a private gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        notebook = gb.find_submission_notebook(chapter, chapter, student)
        grades = {g.name: (g.score, g.max_score, g.needs_manual_grade) for g in notebook.grades}
        manual = [g.name for g in notebook.grades if g.manual_score is not None]
    return grades, manual


def grade_chapter(task, chapter):
    """Autograde one chapter of one student's private course folder; the result as a dict."""
    import nbformat
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log
    from traitlets.config import Config

    root, student = task["dir"], task["student"]
    private = os.path.join(root, "grader")  # the worker's own records, next to the course folder
    os.makedirs(private, exist_ok=True)
    started = time.time()
    events_file = os.path.join(private, f"{chapter}.events.jsonl")
    verdicts_file = os.path.join(private, f"{chapter}.verdicts.jsonl")
    for path in (events_file, verdicts_file):
        if os.path.exists(path):
            os.remove(path)
    sandbox = task.get("sandbox")
    if sandbox:
        notebook = os.path.join(root, "submitted", student, chapter, f"{chapter}.ipynb")
        sandbox = {"spec": _sandbox(task, sandbox["specs"][chapter], {f"work/{chapter}.ipynb": notebook}),
                   "root": sandbox["root"]}
    cfg = grading_config(task["course"], root, cell_timeout=task.get("cell_timeout"),
                         notebook_timeout=task.get("notebook_timeout"), events_file=events_file,
                         verdicts_file=verdicts_file, test_plan=_plan(task["plans"][chapter]), sandbox=sandbox)
    result = {"chapter": chapter, "graded": False, "error": None, "tests": [], "events": [], "feedback": None,
              "manual_scores": []}
    with _recording(result, events_file, started):
        coursedir = CourseDirectory(config=cfg)
        coursedir.assignment_id, coursedir.student_id = chapter, student
        app = Autograde(coursedir=coursedir, config=cfg)
        app.force, app.create_student = True, True
        outcome = capture_log(app)
        autograded = os.path.join(root, "autograded", student, chapter, f"{chapter}.ipynb")
        if not outcome["success"] or not os.path.isfile(autograded):
            result["error"] = _tail(outcome.get("error") or outcome.get("log") or "nbgrader autograde failed")
        else:
            grades, manual = _gradebook_grades(cfg.CourseDirectory.db_url, chapter, student)
            result["manual_scores"] = manual
            nb = nbformat.read(autograded, as_version=4)
            result["tests"] = outcomes(nb, grades, _read_jsonl(verdicts_file))
            result["graded"] = True
            if task.get("feedback", True):
                coursedir = CourseDirectory(config=cfg)
                coursedir.assignment_id, coursedir.student_id = chapter, student
                feedback_cfg = Config()
                feedback_cfg.HTMLExporter.template_name = "feedback"
                app = GenerateFeedback(coursedir=coursedir, config=cfg)
                app.update_config(feedback_cfg)
                app.force = True
                done = capture_log(app)
                folder = os.path.join(root, "feedback", student, chapter)
                if done["success"] and os.path.isfile(os.path.join(folder, f"{chapter}.html")):
                    result["feedback"] = folder
                else:
                    result["feedback_error"] = _tail(done.get("error") or done.get("log"))
    return result


def grade(task):
    return {"chapters": [grade_chapter(task, chapter) for chapter in task["chapters"]]}


def check(task):
    """Run one notebook with the trusted executor, without nbgrader; scores from the test cells' points."""
    import nbformat
    from traitlets.config import Config

    from .nbgrader_plugins import TrustedExecute

    started = time.time()
    private = task["records"]
    events_file = os.path.join(private, "events.jsonl")
    verdicts_file = os.path.join(private, "verdicts.jsonl")
    sandbox = task.get("sandbox")
    if sandbox:
        sandbox = {"spec": _sandbox(task, sandbox["spec"]), "root": sandbox["root"]}
    cfg = executor_config(Config(), cell_timeout=task.get("cell_timeout") or 60,
                          notebook_timeout=task.get("notebook_timeout"), events_file=events_file,
                          verdicts_file=verdicts_file, test_plan=_plan(task["plan"]), sandbox=sandbox)
    nb = nbformat.read(task["notebook"], as_version=4)
    result = {"graded": False, "error": None, "tests": [], "events": []}
    with _recording(result, events_file, started):
        executor = TrustedExecute(config=cfg)
        executor.preprocess(nb, {"metadata": {"path": task["cwd"]}})
        grades = {}
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                points = float(meta.get("points", 0))
                if meta.get("solution"):
                    answered = cell.source.strip() and "YOUR ANSWER HERE" not in cell.source
                    grades[meta["grade_id"]] = (None if answered else 0.0, points, bool(answered))
                else:
                    grades[meta["grade_id"]] = (points, points, False)
        result["tests"] = outcomes(nb, grades, _read_jsonl(verdicts_file))
        result["graded"] = True
    return result


def template(task):
    """``nbgrader generate_assignment`` (with a gradebook) for every chapter, into ``task["dir"]``."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    cfg = grading_config(task["course"], task["dir"])
    errors = []
    for chapter in task["chapters"]:
        coursedir = CourseDirectory(config=cfg)
        coursedir.assignment_id = chapter
        app = GenerateAssignment(coursedir=coursedir, config=cfg)
        app.force, app.create_assignment = True, True
        outcome = capture_log(app)
        if not outcome["success"]:
            errors.append(f"{chapter}: " + _tail(outcome.get("error") or outcome.get("log")))
    return {"errors": errors}


TASKS = {"template": template, "grade": grade, "check": check}


def main():
    """Read one task from stdin, do it, write one JSON reply to stdout (logs go to stderr)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    reply_stream = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything printed while grading goes to the log, not into the reply
    sys.stdout = sys.stderr
    task = json.loads(sys.stdin.read())
    try:
        reply = {"ok": True, **TASKS[task["kind"]](task)}
    except Exception:
        reply = {"ok": False, "error": traceback.format_exc()}
    reply_stream.write(json.dumps(reply))
    reply_stream.close()


if __name__ == "__main__":
    main()
