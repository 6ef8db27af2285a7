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
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from nbformat.notebooknode import NotebookNode
from jupyter_client.manager import AsyncKernelManager
from traitlets import Dict, Integer, Unicode
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader
from traitlets.utils.importstring import import_item

from nbconvert.preprocessors.sanitize import SanitizeHTML
from nbgrader.preprocessors import ClearHiddenTests, Execute

from . import codec, sandbox, verdicts

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
#: Cell metadata key that staging sets on markdown and raw cells a learner added or changed.
LEARNER_CELL = "lstm_course_learner_cell"


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
        self._gone = None  # why no kernel can run the rest of the notebook
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
        if 128 < code <= 128 + 64:  # a sandbox (or a shell) reports a kernel killed by signal N as 128 + N
            code = 128 - code
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
        """Throw the current kernel away (whatever its state) and start a new one.

        Returns False (and marks the rest of the notebook as not run) when no
        new kernel could be started, or after ``max_restarts``.
        """
        self._restarts += 1
        if self._restarts > self.max_restarts:
            self._gone = f"gave up after {self.max_restarts} kernel restarts"
            return False
        try:
            self._cleanup_kernel()
        except Exception as exc:  # a dead kernel can fail to clean up; a new one is all we need
            self.log.warning("cleaning up the old kernel failed: %s", exc)
        for attempt in range(3):
            self.kc = None
            self.km = self.create_kernel_manager()
            try:
                self.start_new_kernel()
                self.start_new_kernel_client()
                return True
            except Exception as exc:
                self.log.warning("a fresh kernel did not start (attempt %d): %s", attempt + 1, exc)
                try:
                    self._cleanup_kernel()
                except Exception:
                    pass
        self._gone = "no fresh kernel could be started after the last one died"
        return False

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
                        redo = self._fresh_kernel()
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
        return self._run(cell, resources, index, remember=True)

    def _run(self, cell, resources, index, remember):
        """Run ``cell`` as cell ``index`` with the budget, the cap and crash recovery.

        ``remember``: replay this cell in a fresh kernel after a later crash
        (the grader's own requests are not replayed).
        """
        if cell.cell_type != "code" or not cell.source.strip():
            return super().preprocess_cell(cell, resources, index)
        if self._gone:
            cell.outputs = [_error_output(OUT_OF_TIME, f"not run: {self._gone}")]
            self._event("not-run", index, self._gone)
            return cell, resources
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
            if self._fresh_kernel():
                self._replay()
            return cell, resources
        except CellTimeoutError as exc:
            # The reply came but the outputs did not, or the kernel ignored the interrupt.
            if self._kernel_answers():
                cell.outputs.append(_error_output(KERNEL_DEAF, f"the grader lost this cell's output ({exc})"))
                self._event("timeout", index, "output did not arrive in time")
                if remember:
                    self._completed.append(index)
                return cell, resources
            cell.outputs.append(_error_output(KERNEL_DEAF, "this cell ran past its time limit and ignored the "
                                              "interrupt, so its kernel was replaced; it earns no points"))
            self._event("hang", index, "ignored the interrupt after the per-cell timeout")
            if self._fresh_kernel():
                self._replay()
            return cell, resources
        if any(o.get("output_type") == "error" and o.get("ename") == "CellTimeoutError" for o in cell.outputs):
            self._event("timeout", index, f"stopped after the per-cell limit of {self._get_timeout(cell)} s")
        if remember:
            self._completed.append(index)
        return cell, resources


class TrustedExecute(GuardedExecute):
    """:class:`GuardedExecute` whose graded test cells are judged outside the kernel.

    Every cell of the notebook runs in the learner's kernel as usual, except
    the graded test cells listed in ``test_plan``: for those the checks run
    here, in the grading process (:func:`lstm_helpers.classroom.verdicts.judge`),
    and the kernel is only asked to call the learner's functions on inputs
    chosen here. The cell's outputs are written by the grader: a line that
    says it passed, or an error with the message that names the likely
    mistake, so nbgrader scores the cell from the grader's verdict alone.
    ``verdicts_file`` receives one JSON line per judged cell.
    """

    test_plan = Dict(help="{grade_id: [[exercise, answer name], ...]} of the graded test cells").tag(config=True)
    verdicts_file = Unicode("", help="File that receives one JSON line per judged test cell.").tag(config=True)
    max_reply_bytes = Integer(64_000_000, help="Largest reply a kernel may send for one request.").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._answer_errors = {}
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution") and grade_id in self.test_plan:
            return self._judge_cell(cell, resources, index, grade_id)
        cell, resources = super().preprocess_cell(cell, resources, index)
        if meta.get("solution") and cell.cell_type == "code":
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors:
                self._answer_errors[grade_id] = errors[-1].get("ename", "")
        return cell, resources

    def output(self, outs, msg, display_id, cell_index):
        if self._asking is not None and msg["msg_type"] == "display_data" \
                and codec.MIME in msg["content"].get("data", {}):
            size = len(msg["content"]["data"][codec.MIME])
            if size <= self.max_reply_bytes:
                return Execute.output(self, outs, msg, display_id, cell_index)
            self._asking["too_large"] = size
            return None
        return super().output(outs, msg, display_id, cell_index)

    _asking = None

    def _ask(self, call, index, resources):
        """``ask(kind, trials)`` for :func:`verdicts.judge`: run one request cell in the kernel."""

        def ask(kind, trials):
            request = verdicts.new_request(call, kind, trials)
            request_cell = NotebookNode(cell_type="code", source=verdicts.request_source(request), metadata={},
                                        outputs=[], execution_count=None, id=f"lstm-course-{request['nonce']}")
            original = self.nb.cells[index]
            saved_used = self._used.pop(index, None)
            self._asking = {}
            try:
                self._run(request_cell, resources, index, remember=False)
                too_large = self._asking.get("too_large")
            finally:
                self._asking = None
                self.nb.cells[index] = original
                self._used.pop(index, None)
                if saved_used is not None:
                    self._used[index] = saved_used
            if too_large:
                raise verdicts.KernelTrouble(f"{call.answer} returned {too_large} bytes, more than the grader "
                                             "accepts")
            reply = verdicts.read_reply(request_cell.outputs, request)
            if reply is not None:
                return reply
            errors = [o for o in request_cell.outputs if o.get("output_type") == "error"]
            if errors:
                last = errors[-1]
                if last.get("ename") in ("KeyboardInterrupt", "CellTimeoutError") and \
                        not any(e.get("ename") == "CellTimeoutError" for e in errors[:-1]):
                    self._event("timeout", index, f"{call.answer} was stopped by the per-cell time limit")
                raise verdicts.KernelTrouble(_trouble_text(call, last.get("ename", ""), last.get("evalue", "")))
            raise verdicts.KernelTrouble(f"the kernel gave no answer while the grader ran {call.answer}")

        return ask

    def _judge_cell(self, cell, resources, index, grade_id):
        cell.outputs = []
        if _now() >= self._deadline:
            cell.outputs = [_error_output(OUT_OF_TIME, f"not run: the notebook used up its grading time "
                                          f"budget of {self.notebook_timeout} s")]
            self._event("not-run", index, f"notebook time budget of {self.notebook_timeout} s spent")
            return cell, resources
        results = []
        for exercise, answer in self.test_plan[grade_id]:
            call = verdicts.Call(exercise, answer)
            verdict = verdicts.judge(call, self._ask(call, index, resources))
            if verdict.outcome == "missing":
                answer_error = next((e for g, e in self._answer_errors.items() if g == exercise), None)
                if answer_error == "NotImplementedError":
                    verdict = verdicts.Verdict(verdict.exercise, "not attempted",
                                               "not attempted yet (raise NotImplementedError is still there)")
                else:
                    verdict.outcome = "failed"
                    if answer_error:
                        verdict.message = f"your answer cell raised {answer_error}, so {answer} is not defined"
            results.append(verdict)
            if not verdict.passed:
                break
        failed = next((v for v in results if not v.passed), None)
        if failed is None:
            names = ", ".join(v.exercise for v in results)
            cell.outputs = [NotebookNode(output_type="stream", name="stdout",
                                         text=f"✔ {names}: passed the visible and the hidden tests "
                                              "(the grader ran them outside your notebook)\n")]
        elif failed.outcome == "not attempted":
            cell.outputs = [_error_output("NotImplementedError", failed.message)]
        else:
            cell.outputs = [_error_output("CheckFailed", failed.message)]
        record = {"grade_id": grade_id, "cell": index,
                  "verdicts": [{"exercise": v.exercise, "outcome": v.outcome, "message": v.message,
                                "visible_passed": v.visible_passed} for v in results]}
        if self.verdicts_file:
            with open(self.verdicts_file, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        return cell, resources


def _trouble_text(call, ename, evalue):
    if ename == KERNEL_DIED:
        return f"{evalue} (while the grader ran {call.answer})"
    if ename in ("CellTimeoutError", KERNEL_DEAF):
        return f"{call.answer} was stopped by the per-cell time limit while the grader ran it (an endless loop?)"
    if ename == OUT_OF_TIME:
        return evalue
    if ename == "KeyboardInterrupt":
        return f"{call.answer} was interrupted by the per-cell time limit while the grader ran it (an endless loop?)"
    return f"the grader could not run {call.answer}: {ename}: {evalue}"


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels start inside a sandbox described by ``sandbox_spec``.

    Each start gets a fresh socket folder under ``sandbox_root``, the ipc
    transport, a connection file inside that folder, message-mode interrupts,
    and a clean environment (bwrap's ``--clearenv``; ``JPY_PARENT_PID`` is
    never passed in).
    """

    sandbox_spec = Dict(help="Spec fields (see lstm_helpers.classroom.sandbox.Spec)").tag(config=True)
    sandbox_root = Unicode(help="Host folder for the kernels' socket folders").tag(config=True)
    max_message_bytes = Integer(256 << 20, help="Largest message the grader accepts from a kernel; a kernel "
                                "that sends more is disconnected").tag(config=True)

    _ipc_dir = None

    @property
    def kernel_spec(self):
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec

    async def _async_pre_start_kernel(self, **kw):
        root = Path(self.sandbox_root)
        root.mkdir(parents=True, exist_ok=True)
        self._ipc_dir = tempfile.mkdtemp(prefix="kernel-", dir=root)
        uid = int(self.sandbox_spec.get("uid", -1))
        if uid >= 0:  # a fresh uid for every kernel start: nothing left of an earlier one shares it
            import secrets

            uid = sandbox.UID_BASE + secrets.randbelow(sandbox.UID_SPAN)
        self.transport = "ipc"
        self.ip = os.path.join(self._ipc_dir, "k")
        self.connection_file = os.path.join(self._ipc_dir, "connection.json")
        spec = sandbox.Spec(**dict(self.sandbox_spec, ipc_dir=self._ipc_dir, uid=uid))
        self._cgroup = None
        if sandbox.cgroup_kind() is not None:
            spec.cgroup = f"{os.getpid()}-{os.path.basename(self._ipc_dir)}"
            self._cgroup = sandbox.Cgroup(sandbox.cgroup_kind(), spec.cgroup)
            self._cgroup.create(sandbox.Limits(**spec.limits))
        self._spec_path = os.path.join(root, os.path.basename(self._ipc_dir) + ".json")
        Path(self._spec_path).write_text(json.dumps(asdict(spec)))
        env = {key: value for key, value in (kw.get("env") or os.environ).items() if key != "JPY_PARENT_PID"}
        kw["env"] = env
        kw.pop("cwd", None)
        cmd, kw = await super()._async_pre_start_kernel(**kw)
        os.chmod(self.connection_file, 0o644)  # the kernel reads it; only the grader can reach its folder
        if uid >= 0:
            os.chown(self._ipc_dir, uid, uid)  # the kernel creates its sockets here...
        return cmd, kw

    async def _async_post_start_kernel(self, **kw):
        await super()._async_post_start_kernel(**kw)
        await self._seal()

    async def _seal(self, seconds=60):
        """Once the kernel has bound its sockets, take its socket folder back (grading as root only),
        so that nothing more can be written there."""
        import asyncio

        if not self._ipc_dir or os.geteuid() != 0:
            return
        ports = (self.shell_port, self.iopub_port, self.stdin_port, self.control_port, self.hb_port)
        sockets = [f"{self.ip}-{port}" for port in ports]
        for _ in range(int(seconds * 20)):
            if all(os.path.exists(path) for path in sockets) or not self.has_kernel:
                break
            await asyncio.sleep(0.05)
        os.chown(self._ipc_dir, 0, 0)
        os.chmod(self._ipc_dir, 0o711)

    def client(self, **kwargs):
        import zmq

        client = super().client(**kwargs)
        client.context.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)  # for the sockets made from now on
        return client

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        return [sys.executable, "-m", "lstm_helpers.classroom.sandbox", self._spec_path, "--", *cmd]

    _cgroup = None

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart)
        if self._cgroup is not None:
            if not self._cgroup.remove():  # anything that slipped out of the namespace's end is killed here
                self.log.warning("control group %s could not be removed yet", self._cgroup.name)
            self._cgroup = None
        if self._ipc_dir and not restart:
            shutil.rmtree(self._ipc_dir, ignore_errors=True)
            Path(self._ipc_dir + ".json").unlink(missing_ok=True)


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


class SafeOutputs(SanitizeHTML):
    """For feedback: what learners wrote or printed cannot run scripts in the reader's browser.

    Code outputs lose scripts and any mimetype that could run code (HTML and
    markdown are cleaned with bleach), and so do the markdown cells learners
    wrote: their answers, and cells staging marked as not the course's
    (:data:`LEARNER_CELL`). The course's own markdown is left as written.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code":
            cell.outputs = self.sanitize_code_outputs(cell.get("outputs", []))
        elif cell.cell_type in ("markdown", "raw") and (cell.metadata.get(LEARNER_CELL)
                                                        or cell.metadata.get("nbgrader", {}).get("solution")):
            cell.source = self.sanitize_html_tags(cell.source)
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


def grading_config(course_root, private_root, *, cell_timeout=None, notebook_timeout=None, events_file="",
                   verdicts_file="", test_plan=None, sandbox=None, max_output_bytes=None):
    """The traitlets Config a worker grades with.

    The course's own ``nbgrader_config.py`` (per-cell timeout, restored
    cells, ignore patterns, ...) with the course folder moved to the private
    folder and the grader's preprocessors swapped in: :class:`TrustedExecute`
    for nbgrader's ``Execute`` (judging the test cells of ``test_plan``
    outside the kernel) and :class:`HideHiddenTests` in the feedback.
    ``sandbox``: ``{"spec": {...}, "root": folder}`` to start kernels in a
    bubblewrap sandbox (:class:`SandboxKernelManager`),
    or None to start them as ordinary processes.
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
    cfg.CourseDirectory.course_id = ""
    cfg.OverwriteCells.add_missing_cells = True

    autograde = _classes(cfg.Autograde.get("autograde_preprocessors") or
                         Autograde.class_traits()["autograde_preprocessors"].default())
    cfg.Autograde.autograde_preprocessors = [TrustedExecute if p is Execute else p for p in autograde]
    feedback = _classes(cfg.GenerateFeedback.get("preprocessors") or
                        GenerateFeedback.class_traits()["preprocessors"].default() or
                        [GetGrades, CSSHTMLHeaderPreprocessor])
    if HideHiddenTests not in feedback:
        feedback = _replace_in_list(feedback, ClearHiddenTests, HideHiddenTests, after=GetGrades)
    if SafeOutputs not in feedback:  # a learner's HTML output must not run scripts in a reader's browser
        feedback = _replace_in_list(feedback, None, SafeOutputs, after=HideHiddenTests)
    cfg.GenerateFeedback.preprocessors = feedback
    executor_config(cfg, cell_timeout=cell_timeout, notebook_timeout=notebook_timeout, events_file=events_file,
                    verdicts_file=verdicts_file, test_plan=test_plan, sandbox=sandbox,
                    max_output_bytes=max_output_bytes)
    # Smaller captured tracebacks in the autograded notebook and the feedback.
    cfg.LimitOutput.max_lines = min(int(cfg.LimitOutput.get("max_lines", 1000)), 1000)
    return cfg


def executor_config(cfg, *, cell_timeout=None, notebook_timeout=None, events_file="", verdicts_file="",
                    test_plan=None, sandbox=None, max_output_bytes=None):
    """Add the settings of :class:`TrustedExecute` (and of its sandbox) to ``cfg``; returns ``cfg``."""
    if cell_timeout:
        cfg.Execute.timeout = int(cell_timeout)
    cfg.Execute.interrupt_on_timeout = True
    cfg.Execute.iopub_timeout = max(int(cfg.Execute.get("iopub_timeout", 4)), 4)
    if notebook_timeout is not None:
        cfg.GuardedExecute.notebook_timeout = int(notebook_timeout)
    if max_output_bytes:
        cfg.GuardedExecute.max_output_bytes = int(max_output_bytes)
    cfg.GuardedExecute.events_file = events_file
    cfg.TrustedExecute.verdicts_file = verdicts_file
    cfg.TrustedExecute.test_plan = {grade_id: [[c.exercise, c.answer] for c in calls]
                                    for grade_id, calls in (test_plan or {}).items()}
    if sandbox is not None:
        cfg.TrustedExecute.kernel_manager_class = SandboxKernelManager
        cfg.SandboxKernelManager.sandbox_spec = sandbox["spec"]
        cfg.SandboxKernelManager.sandbox_root = str(sandbox["root"])
    return cfg
