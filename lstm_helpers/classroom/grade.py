"""Grade a class (``lstm-course grade``) or one learner's notebooks (``lstm-course check``).

Both commands run a notebook the same way: in a fresh kernel, inside a
bubblewrap sandbox when one can be had (:mod:`.sandbox`), with every graded
test cell judged outside the kernel (:mod:`.verdicts`). ``grade`` does it
through nbgrader's own ``Autograde`` and ``GenerateFeedback`` in one private
course folder per student (:mod:`.worker`), ``--jobs`` students at a time
(:mod:`.pool`); only this process writes the CSV, the feedback folder and the
course gradebook. ``check`` runs the learner's notebooks without nbgrader and
prints a report (:mod:`.report`); it needs no course folder.
"""

import html
import json
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from . import course, pool, sandbox
from .results import ChapterResult, ClassResult, StudentResult, Test, join_names
from .staging import read_submission, repair_notebook, stage_student
from .submissions import discover_submissions, plan_students
from .template import ensure_template
from .verdicts import test_plan

log = logging.getLogger("lstm_helpers.classroom.grade")

DEFAULT_NOTEBOOK_TIMEOUT = 600
WORKER_MARGIN = 180  # seconds on top of the notebook budgets before a worker is stopped


class SandboxUnavailable(RuntimeError):
    """``grade`` was asked to isolate notebooks and cannot."""


def _safe(text, limit=60):
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "student"
    return slug[:limit]


def _path_part(text):
    return re.sub(r"[/\\\x00]", "_", text).strip() or "_"


def sandbox_settings(work, packages, files, limits=None):
    """The ``sandbox`` entry of a worker task: a spec per chapter (without the uid) and a socket folder.

    ``packages``: ``{chapter: folder of its sandbox build}``; ``files``:
    ``{chapter: {path inside the home: host file}}``.
    """
    trees = sandbox.readonly_trees()
    fonts = sandbox.matplotlib_cache(Path(work) / "matplotlib")
    specs = {}
    for chapter, folder in packages.items():
        spec = sandbox.Spec(packages=str(folder), readonly=trees, masks=sandbox.masks(trees),
                            files={**fonts, **files.get(chapter, {})},
                            env={k: v for k, v in os.environ.items() if k == "LSTM_COURSE_MAX_TRAIN_SECONDS"})
        if limits is not None:
            spec.limits = dict(spec.limits, **limits)
        specs[chapter] = spec.__dict__
    return {"specs": specs, "root": str(sandbox.socket_root(work))}


def _budget(notebook_timeout):
    return notebook_timeout if notebook_timeout and notebook_timeout > 0 else DEFAULT_NOTEBOOK_TIMEOUT * 3


def _isolation(use_sandbox):
    """True to sandbox, False not to; raises :class:`SandboxUnavailable` when asked and impossible."""
    if use_sandbox is False:
        return False
    reason = sandbox.unavailable_reason()
    if reason is None:
        return True
    if use_sandbox == "auto":
        return False
    raise SandboxUnavailable(f"cannot isolate the learners' notebooks: {reason}. Install bubblewrap, or pass "
                             "--no-sandbox to grade without isolation (the CSV then says so on every row).")


# ---------------------------------------------------------------------------
# A class
# ---------------------------------------------------------------------------

def grade_class(submissions, course_root=None, *, jobs=None, out_csv=None, feedback_dir=None,
                cell_timeout=None, notebook_timeout=DEFAULT_NOTEBOOK_TIMEOUT, chapters=None, gradebook=None,
                course_id=None, work_dir=None, feedback=True, use_sandbox=True, limits=None,
                collection_notes=None) -> ClassResult:
    """Autograde every student in ``submissions``; returns a :class:`ClassResult`.

    Writes the CSV to ``out_csv``, the feedback to
    ``feedback_dir/<student>/<chapter>/`` (nbgrader's layout, which
    ``nbgrader release_feedback`` reads) and, with ``gradebook`` (a path or
    a database URL), the scores into that nbgrader gradebook.
    ``use_sandbox``: True (refuse without a sandbox), False, or "auto".
    ``collection_notes``: ``{(student, chapter): [note]}`` from the exchange.
    """
    started = time.monotonic()
    isolated = _isolation(use_sandbox)
    if isolated:
        sandbox.sweep_cgroups()
    course_root = Path(course_root or course.find_root()).resolve()
    template = ensure_template(course_root)
    entries = discover_submissions(submissions, template.chapters)
    by_student = plan_students(entries)
    if chapters is None:
        chapters = sorted({e.chapter for e in entries if e.chapter in template.chapters})
    chapters = [c for c in template.chapters if c in set(chapters)]
    jobs = max(1, int(jobs or os.cpu_count() or 1))
    own_work = work_dir is None
    work = Path(work_dir or tempfile.mkdtemp(prefix="lstm-course-grade-")).resolve()
    work.mkdir(parents=True, exist_ok=True)

    students, tasks, slugs = [], [], set()
    for student in sorted(by_student):
        slug = _safe(student)
        while slug in slugs:
            slug += "_"
        slugs.add(slug)
        result = StudentResult(student=student)
        folder = work / "students" / slug
        staged = stage_student(template, slug, folder, by_student[student])
        for name, chapter_result in staged.items():
            if name in chapters:
                result.chapters[name] = chapter_result
            elif name in template.chapters:
                continue  # a chapter of the course that this run does not grade
            elif name:
                result.notes.append(f"{name}: " + ("; ".join(chapter_result.notes) or "not graded"))
            else:
                result.notes.append(f"{Path(chapter_result.source).name}: " + "; ".join(chapter_result.notes))
        for chapter in chapters:
            chapter_result = result.chapters.setdefault(chapter, ChapterResult(chapter=chapter, state="missing"))
            if chapter_result.state == "missing" and not chapter_result.notes:
                chapter_result.notes.append("not submitted")
            chapter_result.isolated = isolated
            chapter_result.notes += (collection_notes or {}).get((student, chapter), [])
            if chapter_result.state != "staged":
                chapter_result.tests = [Test(g, p, outcome=chapter_result.state) for g, p in template.tests(chapter)]
        students.append(result)
        to_grade = [c for c, r in result.chapters.items() if r.state == "staged"]
        if to_grade:
            tasks.append({"kind": "grade", "name": slug, "dir": str(folder), "course": str(course_root),
                          "student": slug, "chapters": to_grade, "feedback": bool(feedback),
                          "plans": {c: _raw_plan(template.plan(c)) for c in to_grade},
                          "cell_timeout": cell_timeout, "notebook_timeout": notebook_timeout,
                          "timeout": len(to_grade) * (_budget(notebook_timeout) + WORKER_MARGIN),
                          "_student": result})

    if tasks and isolated:
        packages = {c: template.package(c) for c in chapters}
        files = {c: _chapter_files(template, c) for c in chapters}
        share = {"cpus": max(1.0, (os.cpu_count() or 1) / min(jobs, len(tasks)))}  # the machine, shared fairly
        settings = sandbox_settings(work, packages, files, {**share, **(limits or {})})
        for task in tasks:
            task["sandbox"] = settings
    if tasks:
        log.info("grading %d students x %d chapters with %d workers%s", len(tasks), len(chapters),
                 min(jobs, len(tasks)), "" if isolated else " WITHOUT sandboxes")
    done = [0]

    def on_done(task, reply, error, tries):
        done[0] += 1
        log.info("[%d/%d] graded %s%s", done[0], len(tasks), task["name"], f" ({error})" if error else "")

    worker_tasks = [{k: v for k, v in task.items() if k != "_student"} for task in tasks]
    outcomes = pool.run_all(worker_tasks, jobs=min(jobs, max(1, len(tasks))), log_dir=work / "logs",
                            on_done=on_done,
                            failed=lambda reply: not all(c.get("graded") for c in reply.get("chapters", [])))
    logs = work / "logs"
    if own_work and out_csv and any(reply is None or not all(c.get("graded") for c in reply["chapters"])
                                    for reply, _, _ in outcomes):
        logs = Path(out_csv).resolve().with_suffix(".logs")  # kept: the causes of what could not be graded
        shutil.copytree(work / "logs", logs, dirs_exist_ok=True)
    for task, (reply, error, tries) in zip(tasks, outcomes):
        (Path(task["dir"]) / "grader").mkdir(exist_ok=True)
        (Path(task["dir"]) / "grader" / "reply.json").write_text(json.dumps({"reply": reply, "error": error,
                                                                            "tries": tries}))
        _apply(task["_student"], task["chapters"], reply, error, tries, template, logs / f"{task['name']}.{tries}.log")

    class_result = ClassResult(chapters=chapters, students=students, template=template)
    if feedback_dir:
        root = Path(feedback_dir)
        for student in students:
            for chapter, result in student.chapters.items():
                result.feedback = _copy_feedback(result, root / _path_part(student.student) / chapter)
        class_result.feedback_dir = str(root)
    if gradebook:
        for line in merge_into_gradebook(gradebook, class_result, course_id=course_id):
            log.info(line)
    if out_csv:
        class_result.write_csv(out_csv)
    class_result.seconds = time.monotonic() - started
    if own_work:
        shutil.rmtree(work, ignore_errors=True)
    return class_result


def _raw_plan(plan):
    return {grade_id: [[c.exercise, c.answer] for c in calls] for grade_id, calls in plan.items()}


def _chapter_files(template, chapter):
    """Data files of a chapter (anything in its source folder but notebooks), copied into the sandbox."""
    folder = template.root / "source" / chapter
    return {f"work/{p.relative_to(folder)}": str(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix != ".ipynb" and ".ipynb_checkpoints" not in p.parts}


def _apply(student, chapters, reply, error, tries, template, log_path):
    """Fill a student's staged chapters from a worker's reply (or its failure)."""
    by_chapter = {c["chapter"]: c for c in (reply or {}).get("chapters", [])}
    for chapter in chapters:
        result = student.chapters[chapter]
        data = by_chapter.get(chapter)
        if tries > 1 and data is not None and data.get("graded"):
            result.notes.append("graded in a second worker after the first one failed")
        if data is None or not data.get("graded"):
            result.state = "error"
            result.tests = [Test(g, p, outcome="error") for g, p in template.tests(chapter)]
            cause = error or (data or {}).get("error") or "not graded (unknown error)"
            result.notes.append(f"could not be graded: {cause_of(cause)} (details in {log_path})")
            continue
        result.state = "graded"
        result.seconds = data.get("seconds", 0.0)
        result.feedback = data.get("feedback") or ""
        tests = {t["grade_id"]: t for t in data.get("tests", [])}
        result.tests = []
        for grade_id, points in template.tests(chapter):
            info = tests.get(grade_id)
            test = Test(grade_id=grade_id, max=points)
            if info is not None:
                test.score = min(max(float(info["score"]), 0.0), points)
                test.outcome, test.message, test.manual = info["outcome"], info["message"], info["manual"]
            result.tests.append(test)
        if data.get("manual_scores"):
            result.notes.append("TAMPERING: a manual score appeared in the private gradebook during autograding "
                                f"({join_names(data['manual_scores'])}); it was ignored")
        result.notes += describe_events(data.get("events", []))


def _one_line(text):
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


def cause_of(text):
    """The most telling line of an error text: the last exception line that is not nbgrader's summary."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    for line in reversed(lines):
        line = re.sub(r"^[\d-]+ [\d:,]+ \S+: ", "", line)  # a log line's time stamp and logger
        if re.match(r"^[\w.]*(Error|Exception|Interrupt|Exit)\b", line) and "NbGraderException" not in line:
            return line[:500]
    return _one_line(text)


def describe_events(events):
    """Status notes for the executor's events, one per kind (and crash cause)."""
    groups = {}
    for event in events:
        where = event.get("grade_id") or f"cell {event.get('cell', 0) + 1}"
        key = (event.get("kind"), event.get("detail") if event.get("kind") == "crash" else None)
        groups.setdefault(key, []).append(where)
    notes = []
    for (kind, detail), wheres in groups.items():
        places = join_names(wheres)
        many = len(set(wheres)) > 1
        if kind == "crash":
            notes.append(f"{detail} in {places}; the rest was graded in a fresh kernel")
        elif kind == "hang":
            notes.append(f"{places} ignored the timeout's interrupt; the rest was graded in a fresh kernel")
        elif kind == "timeout":
            notes.append(f"{places} {'were' if many else 'was'} stopped by the per-cell time limit")
        elif kind == "not-run":
            notes.append(f"time budget spent: {wheres[0]} and later cells were not run")
        elif kind == "truncated":
            notes.append(f"output truncated in {places}")
        elif kind == "replay-failed":
            notes.append(f"{places} could not be run again after a crash")
    return notes


def _feedback_banner(result):
    notes = [n for n in [result.status()] if n]
    if not notes:
        return ""
    return ('<div style="border:2px solid #b00;padding:8px;margin:8px;background:#fff4f4">Grader notes: '
            + html.escape("; ".join(notes)) + "</div>")


def _copy_feedback(result, destination):
    """Copy the worker's feedback folder (the HTML with a banner, and nbgrader's exchange files)."""
    source = Path(result.feedback) if result.feedback else None
    page = source / f"{result.chapter}.html" if source else None
    if page is None or not page.is_file():
        return ""
    destination.mkdir(parents=True, exist_ok=True)
    text = page.read_text(encoding="utf-8", errors="replace")
    banner = _feedback_banner(result)
    if banner:
        match = re.search(r"<body[^>]*>", text)
        text = text[: match.end()] + banner + text[match.end():] if match else banner + text
    (destination / page.name).write_text(text, encoding="utf-8")
    from .staging import EXCHANGE_FILES

    for name in EXCHANGE_FILES:
        if (source / name).is_file():
            shutil.copyfile(source / name, destination / name)
    return str(destination)


def merge_into_gradebook(db, class_result, course_id=None):
    """Write the class's scores into an nbgrader gradebook (one writer: this process).

    ``db``: a SQLite path or a database URL (``sqlite:///...``,
    ``postgresql+psycopg://...``). Chapters the gradebook does not know yet
    are copied into it from the template's gradebook (assignment, notebook,
    graded, solution and source cells). Manually graded answers keep
    ``needs_manual_grade`` for formgrader; every other cell gets the grader's
    score. ``course_id`` is required by nbgrader on PostgreSQL.
    """
    from nbgrader.api import Gradebook, MissingEntry

    db = str(db)
    url = db if "://" in db else "sqlite:///" + str(Path(db).resolve())
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]  # SQLAlchemy 2 would look for psycopg2
    if "://" not in db:
        Path(db).resolve().parent.mkdir(parents=True, exist_ok=True)
    messages = []
    kwargs = {"course_id": course_id} if course_id else {}
    with Gradebook("sqlite:///" + str(class_result.template.root / "gradebook.db")) as source, \
            Gradebook(url, **kwargs) as gb:
        for chapter in class_result.chapters:
            try:
                gb.find_assignment(chapter)
            except MissingEntry:
                _copy_assignment(source, gb, chapter)
                messages.append(f"gradebook: added {chapter} to {_hide_password(url)}")
        for student in class_result.students:
            gb.update_or_create_student(student.student)
            for chapter, result in student.chapters.items():
                if result.state != "graded":
                    continue
                stamp = _timestamp(result)
                submission = gb.update_or_create_submission(chapter, student.student,
                                                            **({"timestamp": stamp} if stamp else {}))
                for test in result.tests:
                    grade = gb.find_grade(test.grade_id, chapter, chapter, student.student)
                    if test.manual:
                        grade.auto_score = None if test.outcome == "awaiting manual grading" else 0.0
                        grade.needs_manual_grade = test.outcome == "awaiting manual grading"
                    else:
                        grade.auto_score = min(max(test.score, 0.0), test.max)
                        grade.needs_manual_grade = False
                del submission
                gb.db.commit()
    return sorted(set(messages))


def _hide_password(url):
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def _timestamp(result):
    if not result.source:
        return None
    stamp = Path(result.source).parent / "timestamp.txt"
    if not stamp.is_file():
        return None
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(stamp.read_text().strip())
    except Exception:
        return None


def _copy_assignment(source, target, chapter):
    """Copy one assignment's structure (no student data) from gradebook ``source`` into ``target``."""
    assignment = source.find_assignment(chapter)
    target.update_or_create_assignment(chapter, duedate=assignment.duedate)
    for notebook in assignment.notebooks:
        target.update_or_create_notebook(notebook.name, chapter)
        for cell in notebook.grade_cells:
            target.update_or_create_grade_cell(cell.name, notebook.name, chapter, max_score=cell.max_score,
                                               cell_type=cell.cell_type)
        for cell in notebook.solution_cells:
            target.update_or_create_solution_cell(cell.name, notebook.name, chapter)
        for cell in notebook.source_cells:
            target.update_or_create_source_cell(cell.name, notebook.name, chapter, cell_type=cell.cell_type,
                                                locked=cell.locked, source=cell.source, checksum=cell.checksum)
        for cell in notebook.task_cells:
            target.update_or_create_task_cell(cell.name, notebook.name, chapter, max_score=cell.max_score,
                                              cell_type=cell.cell_type)


# ---------------------------------------------------------------------------
# One learner's notebooks
# ---------------------------------------------------------------------------

def _chapter_of(nb):
    """The chapter whose exercises share the most answer cells with ``nb`` (from the package, no course folder)."""
    from ..exercises import CHAPTERS

    ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells} - {None}
    best = max(CHAPTERS, key=lambda ch: len(ids & set(CHAPTERS[ch])), default=None)
    if best is None or not ids & set(CHAPTERS[best]):
        return None
    return best


def _release_of(chapter, course_root):
    """The course's student release of ``chapter`` when there is a course folder, else None."""
    if course_root is None:
        return None
    path = course.release_notebook(course_root, chapter)
    if not path.is_file():
        return None
    from .template import read_notebook

    return read_notebook(path)


def check_notebooks(notebooks, course_root=None, *, jobs=None, cell_timeout=None,
                    notebook_timeout=DEFAULT_NOTEBOOK_TIMEOUT, use_sandbox="auto"):
    """Run each notebook like the grader; ``(results, unreadable)``.

    ``results``: ``[(path, ChapterResult)]``; ``unreadable``: ``[(path, reason)]``.
    With a course folder, deleted cells are put back from its release and the
    test plan is the release's; without one, the notebook's own test cells are
    the plan. Needs no ``solutions/``.
    """
    import nbformat

    isolated = _isolation(use_sandbox)
    work = Path(tempfile.mkdtemp(prefix="lstm-course-check-"))
    results, unreadable, tasks, packages = [], [], [], {}
    try:
        for number, path in enumerate(notebooks):
            try:
                nb = read_submission(path)
            except (OSError, ValueError) as exc:
                unreadable.append((path, str(exc)))
                continue
            chapter = _chapter_of(nb)
            if chapter is None:
                unreadable.append((path, "not a notebook of this course (none of its exercise cells)"))
                continue
            result = ChapterResult(chapter=chapter, source=str(path), isolated=isolated)
            release = _release_of(chapter, course_root)
            if release is not None:
                result.notes += [n for n in repair_notebook(nb, release) if "restored" not in n]
            plan_source = release if release is not None else nb
            try:
                plan = test_plan(plan_source)
            except ValueError as exc:
                unreadable.append((path, f"cannot check it: {exc}"))
                continue
            result.tests = [Test(m["grade_id"], float(m.get("points", 0)))
                            for m in (c.metadata.get("nbgrader", {}) for c in plan_source.cells) if m.get("grade")]
            folder = work / f"notebook{number}"
            folder.mkdir()
            staged = folder / f"{chapter}.ipynb"
            nbformat.write(nb, str(staged))
            task = {"kind": "check", "name": f"{chapter}-{number}", "notebook": str(staged),
                    "cwd": str(Path(path).parent.resolve()), "records": str(folder), "plan": _raw_plan(plan),
                    "cell_timeout": cell_timeout, "notebook_timeout": notebook_timeout,
                    "timeout": _budget(notebook_timeout) + WORKER_MARGIN}
            if isolated:
                if chapter not in packages:
                    packages[chapter] = sandbox.build_package(work / "packages" / chapter,
                                                              sandbox.blocked_references(chapter))
                task["sandbox_chapter"] = chapter
                task["files"] = {f"work/{Path(path).name}": str(staged)}
            tasks.append(task)
            results.append((path, result))
        jobs = max(1, min(int(jobs or os.cpu_count() or 1), max(1, len(tasks))))
        if isolated and tasks:
            settings = sandbox_settings(work, packages, {}, {"cpus": max(1.0, (os.cpu_count() or 1) / jobs)})
            for task in tasks:
                spec = dict(settings["specs"][task.pop("sandbox_chapter")])
                spec["files"] = {**spec["files"], **task.pop("files")}
                task["sandbox"] = {"spec": spec, "root": settings["root"]}
        outcomes = pool.run_all(tasks, jobs=jobs, log_dir=work / "logs", failed=lambda reply: not reply.get("graded"))
        for (path, result), (reply, error, tries) in zip(results, outcomes):
            if reply is None or not reply.get("graded"):
                result.state = "error"
                result.notes.append("could not be checked: " + _one_line(error or (reply or {}).get("error")))
                continue
            result.state = "graded"
            by_id = {t["grade_id"]: t for t in reply["tests"]}
            for test in result.tests:
                info = by_id.get(test.grade_id)
                if info:
                    test.score = min(max(float(info["score"]), 0.0), test.max)
                    test.outcome, test.message, test.manual = info["outcome"], info["message"], info["manual"]
            result.notes += describe_events(reply.get("events", []))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results, unreadable
