"""The nbgrader side of the classroom grader: what runs inside a grading worker.

:mod:`lstm_helpers.classroom` prepares one private nbgrader course folder
per student (its own ``gradebook.db``) and hands it to a worker process
started as ``python -m lstm_helpers.classroom.nbgrader_plugins --serve``. The worker
runs nbgrader's own ``Autograde`` and ``GenerateFeedback`` converters (the
code behind ``nbgrader autograde`` and ``nbgrader generate_feedback``),
configured with the course's ``nbgrader_config.py`` plus three additions
defined here:

:class:`GuardedExecute`
    nbgrader's ``Execute`` preprocessor with a time budget for the whole
    notebook, a cap on the output a cell may keep, and recovery from a dead
    or deaf kernel: the cell that killed the kernel gets an error output,
    a fresh kernel replays the cells that ran before it, and grading goes on.
:class:`HideHiddenTests`
    nbgrader's ``ClearHiddenTests`` applied when feedback is generated
    (nbgrader shows hidden tests in feedback by default), plus tracebacks of
    test cells cut down to their last line, which would otherwise quote the
    hidden test.
:func:`grading_config`
    the traitlets configuration that puts both in place.

Nothing here imports the course's references or checks.
"""

import copy
import json
import math
import os
import sys
import time
import traceback

from nbformat.notebooknode import NotebookNode
from traitlets import Integer, Unicode
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader
from traitlets.utils.importstring import import_item

from nbgrader.preprocessors import ClearHiddenTests, Execute

try:  # nbclient is what nbgrader's Execute runs on
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
except ImportError:  # pragma: no cover - very old nbclient
    from nbconvert.preprocessors.execute import CellTimeoutError, DeadKernelError

# Error names that GuardedExecute writes into a cell's outputs; classroom.py
# reads them back to say what happened.
KERNEL_DIED = "GraderKernelDied"
KERNEL_DEAF = "GraderKernelUnresponsive"
OUT_OF_TIME = "GraderTimeBudget"
TRUNCATED_MARK = "[output truncated by the grader:"


def _now():
    return time.monotonic()


def _error_output(ename, evalue):
    return NotebookNode(
        output_type="error", ename=ename, evalue=evalue, traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"]
    )


class GuardedExecute(Execute):
    """nbgrader's Execute with a notebook time budget, an output cap and kernel-crash recovery.

    * Every cell still gets nbgrader's per-cell timeout (``Execute.timeout``),
      and is interrupted when it runs over; in addition no cell may run past
      ``notebook_timeout`` seconds after the notebook started. Cells left when
      the budget is spent are not run and get an error output (no points).
    * A cell keeps at most ``max_output_bytes`` of text and
      ``max_display_bytes`` of rich output (plots); the rest is dropped while
      it arrives, with a marker, so megabytes of prints cannot bloat the
      autograded notebook or the feedback. The first piece of every stream
      is kept, so nbgrader's rule "text on stderr scores 0" still applies.
    * If the kernel dies in a cell (``os._exit``, a segfault, out of memory)
      or ignores the interrupt after a timeout, that cell gets an error
      output saying so, a fresh kernel replays the cells that completed
      before it (without keeping their new outputs), and execution continues
      with the next cell. The rest of the notebook is graded as usual.

    Each such event is also appended as a JSON line to ``events_file``.
    """

    notebook_timeout = Integer(600, help="Seconds the whole notebook may run; 0 means no budget.").tag(config=True)
    max_output_bytes = Integer(64_000, help="Text output (characters) one cell may keep.").tag(config=True)
    max_display_bytes = Integer(3_000_000, help="Rich output (plots, HTML) one cell may keep.").tag(config=True)
    max_restarts = Integer(12, help="Fresh kernels allowed per notebook after crashes.").tag(config=True)
    events_file = Unicode("", help="File that receives one JSON line per grading event.").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._deadline = _now() + self.notebook_timeout if self.notebook_timeout > 0 else math.inf
        self._completed = []  # indices of code cells that ran without losing the kernel
        self._restarts = 0
        self._used = {}
        self._replaying = False
        self.shutdown_kernel = "immediate"
        return super().preprocess(nb, resources, km)

    # -- events -----------------------------------------------------------

    def _event(self, kind, index, detail):
        cell = self.nb.cells[index] if 0 <= index < len(self.nb.cells) else None
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id") if cell is not None else None
        record = {"kind": kind, "cell": index, "grade_id": grade_id, "detail": detail}
        self.log.warning("grading event: %s", record)
        if self.events_file:
            with open(self.events_file, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")

    # -- time budget --------------------------------------------------------

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        remaining = self._deadline - _now()
        if remaining == math.inf:
            return timeout
        remaining = max(1, math.ceil(remaining))
        return remaining if timeout is None else min(timeout, remaining)

    # -- output cap -----------------------------------------------------------

    def output(self, outs, msg, display_id, cell_index):
        msg_type = msg["msg_type"]
        content = msg["content"]
        if msg_type == "error" or self._replaying:
            return super().output(outs, msg, display_id, cell_index)
        used = self._used.setdefault(cell_index, {"text": 0, "rich": 0, "marked": set()})
        if msg_type == "stream":
            text = content.get("text", "")
            room = self.max_output_bytes - used["text"]
            if len(text) <= room:
                used["text"] += len(text)
                return super().output(outs, msg, display_id, cell_index)
            name = content.get("name", "stdout")
            if name in used["marked"]:
                return None
            used["marked"].add(name)
            used["text"] = self.max_output_bytes
            kept = text[: max(room, 0)]
            msg = copy.copy(msg)
            msg["content"] = dict(content, text=f"{kept}\n{TRUNCATED_MARK} this cell printed more than "
                                  f"{self.max_output_bytes} characters]\n")
            if not self._replaying:
                self._event("truncated", cell_index, f"{name} output over {self.max_output_bytes} characters")
            return super().output(outs, msg, display_id, cell_index)
        size = sum(len(str(v)) for v in content.get("data", {}).values())
        if used["rich"] + size <= self.max_display_bytes:
            used["rich"] += size
            return super().output(outs, msg, display_id, cell_index)
        if "rich" not in used["marked"]:
            used["marked"].add("rich")
            marker = {"header": dict(msg["header"], msg_type="stream"), "parent_header": msg["parent_header"],
                      "metadata": {}, "msg_type": "stream",
                      "content": {"name": "stdout", "text": f"{TRUNCATED_MARK} rich output over "
                                  f"{self.max_display_bytes} bytes dropped]\n"}}
            return super().output(outs, marker, None, cell_index)
        return None

    # -- crash and hang recovery ------------------------------------------------

    def _exit_description(self):
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        code = None
        if process is not None:
            try:
                code = process.wait(timeout=2)
            except Exception:
                code = process.poll()
        if code is None:
            return "the kernel process died"
        if code < 0:
            import signal

            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            what = {"SIGSEGV": " (segmentation fault)", "SIGKILL": " (killed, often: out of memory)",
                    "SIGABRT": " (abort)", "SIGBUS": " (bus error)"}.get(name, "")
            return f"the kernel was killed by {name}{what}"
        return f"the kernel exited with code {code}"

    def _fresh_kernel(self):
        """Throw the current kernel away (whatever its state) and start a new one."""
        self._restarts += 1
        if self._restarts > self.max_restarts:
            raise RuntimeError(f"gave up after {self.max_restarts} kernel restarts")
        try:
            self._cleanup_kernel()
        except Exception as exc:  # a dead kernel can fail to clean up; a new one is all we need
            self.log.warning("cleaning up the old kernel failed: %s", exc)
        self.km = self.kc = None
        self.km = self.create_kernel_manager()
        self.start_new_kernel()
        self.start_new_kernel_client()

    def _replay(self):
        """Run again, in the fresh kernel, the cells that completed before."""
        while True:
            redo = False
            self._replaying = True
            try:
                for index in list(self._completed):
                    if _now() >= self._deadline:
                        return
                    original = self.nb.cells[index]
                    try:
                        super().preprocess_cell(copy.deepcopy(original), self.resources, index)
                    except (DeadKernelError, CellTimeoutError):
                        self._completed.remove(index)
                        self._replaying = False
                        self._event("replay-failed", index, "this cell lost the kernel when run again; "
                                    "later cells run without it")
                        self._fresh_kernel()
                        redo = True
                        break
                    finally:
                        self.nb.cells[index] = original
            finally:
                self._replaying = False
            if not redo:
                return

    def _kernel_answers(self, seconds=3):
        """True when the kernel runs an empty cell within ``seconds`` (it is not stuck in the last one)."""
        from jupyter_core.utils import run_sync

        try:
            msg_id = self.kc.execute("pass", silent=True, store_history=False)
            deadline = _now() + seconds
            while _now() < deadline:
                reply = run_sync(self.kc.get_shell_msg)(timeout=max(0.1, deadline - _now()))
                if reply["parent_header"].get("msg_id") == msg_id:
                    return True
        except Exception:
            return False
        return False

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return super().preprocess_cell(cell, resources, index)
        if _now() >= self._deadline:
            cell.outputs = [_error_output(OUT_OF_TIME, f"not run: the notebook used up its grading time "
                                          f"budget of {self.notebook_timeout} s")]
            self._event("not-run", index, f"notebook time budget of {self.notebook_timeout} s spent")
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            why = self._exit_description()
            cell.outputs.append(_error_output(KERNEL_DIED, f"{why} while running this cell, so it earns no "
                                              "points; the cells after it were graded in a fresh kernel"))
            self._event("crash", index, why)
            self._fresh_kernel()
            self._replay()
            return cell, resources
        except CellTimeoutError as exc:
            # The reply came but the outputs did not, or the kernel ignored the interrupt.
            if self._kernel_answers():
                cell.outputs.append(_error_output(KERNEL_DEAF, f"the grader lost this cell's output ({exc})"))
                self._event("timeout", index, "output did not arrive in time")
                self._completed.append(index)
                return cell, resources
            cell.outputs.append(_error_output(KERNEL_DEAF, "this cell ran past its time limit and ignored the "
                                              "interrupt, so its kernel was replaced; it earns no points"))
            self._event("hang", index, "ignored the interrupt after the per-cell timeout")
            self._fresh_kernel()
            self._replay()
            return cell, resources
        if any(o.get("output_type") == "error" and o.get("ename") == "CellTimeoutError" for o in cell.outputs):
            self._event("timeout", index, f"stopped after the per-cell limit of {self._get_timeout(cell)} s")
        self._completed.append(index)
        return cell, resources


class HideHiddenTests(ClearHiddenTests):
    """For feedback: drop the hidden-test regions and the tracebacks that would quote them.

    nbgrader's ``ClearHiddenTests`` removes ``### BEGIN HIDDEN TESTS`` ...
    ``### END HIDDEN TESTS`` from the cell sources. A failing test cell's
    traceback also shows the failing line, which may be a hidden test, so
    error outputs of grade cells keep only ``ename: evalue`` (the message
    naming the mistake).
    """

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        nbgrader = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and nbgrader.get("grade") and not nbgrader.get("solution"):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"\x1b[0;31m{output.get('ename', 'Error')}\x1b[0m: {output.get('evalue', '')}"]
        return cell, resources


def _classes(preprocessors):
    """A preprocessor list with dotted names ("nbgrader.preprocessors.GetGrades") imported as classes."""
    return [import_item(p) if isinstance(p, str) else p for p in preprocessors]


def _replace_in_list(items, old, new, after=None):
    """``items`` with ``old`` replaced by ``new`` (or ``new`` inserted after ``after``)."""
    items = list(items)
    if old is not None and old in items:
        items[items.index(old)] = new
    elif after is not None and after in items:
        items.insert(items.index(after) + 1, new)
    else:
        items.append(new)
    return items


def grading_config(course_root, private_root, *, cell_timeout=None, notebook_timeout=None,
                   events_file="", max_output_bytes=None):
    """The traitlets Config a worker grades with.

    The course's own ``nbgrader_config.py`` (per-cell timeout, restored
    cells, ignore patterns, ...) with the course folder moved to the private
    folder and the grader's preprocessors swapped in.
    """
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.preprocessors import GetGrades

    config_file = os.path.join(course_root, "nbgrader_config.py")
    cfg = Config()
    if os.path.isfile(config_file):
        cfg.merge(PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config())
    private_root = os.path.abspath(private_root)
    cfg.CourseDirectory.root = private_root
    cfg.CourseDirectory.source_directory = "source"
    cfg.CourseDirectory.release_directory = "release"
    cfg.CourseDirectory.db_url = "sqlite:///" + os.path.join(private_root, "gradebook.db")
    cfg.OverwriteCells.add_missing_cells = True

    autograde = _classes(cfg.Autograde.get("autograde_preprocessors") or
                         Autograde.class_traits()["autograde_preprocessors"].default())
    cfg.Autograde.autograde_preprocessors = [GuardedExecute if p is Execute else p for p in autograde]
    feedback = _classes(cfg.GenerateFeedback.get("preprocessors") or
                        GenerateFeedback.class_traits()["preprocessors"].default() or
                        [GetGrades, CSSHTMLHeaderPreprocessor])
    if HideHiddenTests not in feedback:
        feedback = _replace_in_list(feedback, ClearHiddenTests, HideHiddenTests, after=GetGrades)
    cfg.GenerateFeedback.preprocessors = feedback

    if cell_timeout:
        cfg.Execute.timeout = int(cell_timeout)
    cfg.Execute.interrupt_on_timeout = True
    cfg.Execute.iopub_timeout = max(int(cfg.Execute.get("iopub_timeout", 4)), 4)
    if notebook_timeout is not None:
        cfg.GuardedExecute.notebook_timeout = int(notebook_timeout)
    if max_output_bytes:
        cfg.GuardedExecute.max_output_bytes = int(max_output_bytes)
    cfg.GuardedExecute.events_file = events_file
    # Smaller captured tracebacks in the autograded notebook and the feedback.
    cfg.LimitOutput.max_lines = min(int(cfg.LimitOutput.get("max_lines", 1000)), 1000)
    return cfg


# ---------------------------------------------------------------------------
# Worker: grade one private course folder per request
# ---------------------------------------------------------------------------

def _outputs_text(cell, name):
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == name)


def _errors(cell):
    return [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]


def summarize_autograded(nb, grades):
    """Per-test outcome and per-cell events read from an autograded notebook.

    ``grades``: ``{grade_id: (score, max_score, needs_manual_grade)}`` from
    the gradebook. Returns ``(tests, answer_errors)``.
    """
    tests, answer_errors, last_answer = [], {}, None
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if cell.cell_type != "code":
            continue
        errors = _errors(cell)
        if meta.get("solution"):
            last_answer = grade_id
            if errors:
                answer_errors[grade_id] = f"{errors[-1].get('ename')}: {errors[-1].get('evalue')}"
            continue
        if not (meta.get("grade") and grade_id in grades):
            if errors and grade_id is None:
                answer_errors.setdefault(f"cell {index}", f"{errors[-1].get('ename')}: {errors[-1].get('evalue')}")
            continue
        score, max_score, manual = grades[grade_id]
        enames = [e.get("ename") for e in errors]
        stdout, stderr = _outputs_text(cell, "stdout"), _outputs_text(cell, "stderr")
        visible_passed = "all visible checks passed" in stdout
        if not errors and not stderr:
            outcome, message = ("passed" if score is not None and score >= max_score else "partial"), ""
        elif KERNEL_DIED in enames:
            outcome, message = "crash", errors[enames.index(KERNEL_DIED)].get("evalue", "")
        elif "CellTimeoutError" in enames or KERNEL_DEAF in enames:
            outcome, message = "timeout", "stopped by the per-cell time limit (an endless loop?)"
        elif OUT_OF_TIME in enames:
            outcome, message = "not run", errors[enames.index(OUT_OF_TIME)].get("evalue", "")
        elif enames and enames[-1] == "NotImplementedError":
            outcome, message = "not attempted", "not attempted yet (raise NotImplementedError is still there)"
        elif errors:
            outcome = "failed"
            last = errors[-1]
            message = str(last.get("evalue", "")) if last.get("ename") in ("CheckFailed", "AssertionError", "ReferenceUsed") \
                else f"{last.get('ename')}: {last.get('evalue')}"
            answer_error = answer_errors.get(last_answer) if last_answer else None
            if answer_error and last.get("ename") == "NameError":
                message = f"your answer cell raised {answer_error}"
            if visible_passed:
                message = f"passes the visible check but not the hidden tests: {message}"
        else:
            outcome, message = "failed", "wrote to stderr, which nbgrader scores 0: " + stderr.strip().splitlines()[0][:300]
        tests.append({"grade_id": grade_id, "cell": index, "score": score, "max": max_score,
                      "needs_manual_grade": bool(manual), "outcome": outcome, "message": message.strip(),
                      "visible_passed": visible_passed})
    return tests, answer_errors


def _read_grades(db_url, chapter, student):
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        notebook = gb.find_submission_notebook(chapter, chapter, student)
        return {g.name: (g.score, g.max_score, g.needs_manual_grade) for g in notebook.grades}


def _tail(text, lines=25):
    return "\n".join((text or "").strip().splitlines()[-lines:])


def grade_task(task):
    """Autograde (and write feedback for) every chapter of one private course folder.

    ``task`` keys: ``dir`` (the private course folder), ``course`` (the
    course folder), ``student``, ``chapters``, ``feedback`` (bool),
    ``cell_timeout``, ``notebook_timeout``, ``max_output_bytes``. Writes
    ``<dir>/results/<chapter>.json`` after each chapter, so a worker killed
    later keeps the chapters it finished.
    """
    import nbformat
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    root, student = task["dir"], task["student"]
    results_dir = os.path.join(root, "results")
    os.makedirs(results_dir, exist_ok=True)
    for chapter in task["chapters"]:
        started = time.time()
        events_file = os.path.join(results_dir, f"{chapter}.events.jsonl")
        cfg = grading_config(task["course"], root, cell_timeout=task.get("cell_timeout"),
                             notebook_timeout=task.get("notebook_timeout"), events_file=events_file,
                             max_output_bytes=task.get("max_output_bytes"))
        result = {"chapter": chapter, "graded": False, "error": None, "tests": [], "events": [],
                  "answer_errors": {}, "feedback": None}
        try:
            coursedir = CourseDirectory(config=cfg)
            coursedir.assignment_id, coursedir.student_id = chapter, student
            app = Autograde(coursedir=coursedir, config=cfg)
            app.force, app.create_student = True, True
            outcome = capture_log(app)
            result["autograde_seconds"] = round(time.time() - started, 3)
            autograded = os.path.join(root, "autograded", student, chapter, f"{chapter}.ipynb")
            if not outcome["success"] or not os.path.isfile(autograded):
                result["error"] = _tail(outcome.get("error") or outcome.get("log") or "nbgrader autograde failed")
            else:
                grades = _read_grades(cfg.CourseDirectory.db_url, chapter, student)
                nb = nbformat.read(autograded, as_version=4)
                result["tests"], result["answer_errors"] = summarize_autograded(nb, grades)
                result["graded"] = True
                if task.get("feedback", True):
                    coursedir = CourseDirectory(config=cfg)
                    coursedir.assignment_id, coursedir.student_id = chapter, student
                    fb_cfg = Config()
                    fb_cfg.HTMLExporter.template_name = "feedback"
                    app = GenerateFeedback(coursedir=coursedir, config=cfg)
                    app.update_config(fb_cfg)
                    app.force = True
                    feedback_started = time.time()
                    fb = capture_log(app)
                    result["feedback_seconds"] = round(time.time() - feedback_started, 3)
                    html = os.path.join(root, "feedback", student, chapter, f"{chapter}.html")
                    if fb["success"] and os.path.isfile(html):
                        result["feedback"] = html
                    else:
                        result["feedback_error"] = _tail(fb.get("error") or fb.get("log"))
        except Exception:
            result["error"] = _tail(traceback.format_exc())
        if os.path.isfile(events_file):
            with open(events_file, encoding="utf-8") as fh:
                result["events"] = [json.loads(line) for line in fh if line.strip()]
        result["seconds"] = round(time.time() - started, 3)
        tmp = os.path.join(results_dir, f"{chapter}.json.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(result, fh)
        os.replace(tmp, os.path.join(results_dir, f"{chapter}.json"))


def build_template(course_root, template_dir, chapters):
    """Run ``nbgrader generate_assignment`` (with a gradebook) for ``chapters`` into ``template_dir``.

    ``template_dir`` must already hold ``source`` (the course's solutions).
    Returns a list of error strings (empty on success).
    """
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    cfg = grading_config(course_root, template_dir)
    errors = []
    for chapter in chapters:
        coursedir = CourseDirectory(config=cfg)
        coursedir.assignment_id = chapter
        app = GenerateAssignment(coursedir=coursedir, config=cfg)
        app.force, app.create_assignment = True, True
        outcome = capture_log(app)
        if not outcome["success"]:
            errors.append(f"{chapter}: " + _tail(outcome.get("error") or outcome.get("log")))
    return errors


def _exit_with_parent():
    """Stop this worker (and so, through their own watch, its kernels) if the grading process dies."""
    import threading

    parent = os.getppid()

    def watch():
        while True:
            time.sleep(2)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def serve():
    """Worker loop: one JSON task per stdin line, one JSON reply line per task.

    The reply channel is a private copy of the original stdout; anything
    printed while grading goes to stderr (the worker's log).
    """
    reply = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _exit_with_parent()
    for line in sys.stdin:
        if not line.strip():
            continue
        task = json.loads(line)
        try:
            if task.get("kind") == "template":
                errors = build_template(task["course"], task["dir"], task["chapters"])
                answer = {"ok": not errors, "errors": errors}
            else:
                grade_task(task)
                answer = {"ok": True}
        except Exception:
            answer = {"ok": False, "errors": [traceback.format_exc()]}
        reply.write(json.dumps(answer) + "\n")
        reply.flush()


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        sys.exit("usage: python -m lstm_helpers.classroom.nbgrader_plugins --serve  (started by lstm_helpers.classroom)")
