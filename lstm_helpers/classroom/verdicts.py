"""Verdicts decided outside the learner's kernel: the grading side of every test cell.

Under ``lstm-course grade`` (and ``lstm-course check``) a graded test cell is
never run in the learner's kernel. Its source only names what it tests, for
example ``check("rnn_forward", rnn_forward)``. For each such call the grader

1. draws the trials here, in the grading process: the visible ones from the
   exercise's fixed seed, the hidden ones from the operating system's entropy,
   with extra trials until every known mistake would fail;
2. sends their inputs into the kernel, which calls the learner's function on
   them (:func:`lstm_helpers.classroom.codec.run`) and returns what came back as
   plain arrays, checked by :func:`~lstm_helpers.classroom.codec.decode`;
3. compares here, with the course's references and its catalogue of known
   mistakes (:mod:`lstm_helpers.exercises`), exactly as the in-notebook checks
   do, so the messages are the same ones a learner sees while working.

The references, the expected outputs, the tolerances and the scores never
enter the kernel. All the kernel can do is return arrays for inputs it has
not seen before.
"""

import ast
import builtins
import secrets
import warnings
from dataclasses import dataclass

import numpy as np

from ..exercises import EXERCISES, _core
from . import codec


class PlanError(ValueError):
    """A test cell the grader cannot run outside the kernel."""


@dataclass(frozen=True)
class Call:
    """One check in a test cell: exercise ``exercise``, answered by the learner's name ``answer``."""

    exercise: str
    answer: str


def _python(source):
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def calls_in(source, where="a test cell"):
    """The :class:`Call` s of a test cell's source: its ``check(...)`` and ``hidden_check(...)`` lines.

    Other code in the cell runs only when a learner runs the cell themselves;
    the grader ignores it.
    """
    try:
        tree = ast.parse(_python(source))
    except SyntaxError as exc:
        raise PlanError(f"{where} is not valid Python: {exc}") from None
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("check", "hidden_check")):
            continue
        if (len(node.args) < 2 or not isinstance(node.args[0], ast.Constant) or not isinstance(node.args[0].value, str)
                or not isinstance(node.args[1], ast.Name)):
            raise PlanError(f"{where}: write {node.func.id}(\"<exercise>\", <name>) with a literal exercise name "
                            "and a plain name for the answer")
        name = node.args[0].value
        if name not in EXERCISES:
            raise PlanError(f"{where} checks {name!r}, which is not an exercise of lstm_helpers.exercises")
        call = Call(name, node.args[1].id)
        if call not in found:
            found.append(call)
    return found


def test_plan(nb):
    """``{grade_id: [Call, ...]}`` for every graded code test cell of ``nb`` (the instructor's source)."""
    plan = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            grade_id = meta["grade_id"]
            calls = calls_in(cell.source, f"test cell {grade_id}")
            if not calls:
                raise PlanError(f"test cell {grade_id} checks nothing: the grader needs a check(\"<exercise>\", "
                                "<name>) line in every graded test cell")
            plan[grade_id] = calls
    return plan


# ---------------------------------------------------------------------------
# Asking the kernel
# ---------------------------------------------------------------------------

_CALLER = None


def _caller_source():
    global _CALLER
    if _CALLER is None:
        import inspect

        _CALLER = inspect.getsource(codec)
    return _CALLER


def request_source(request):
    """The code that asks the kernel to run ``request`` (see :func:`lstm_helpers.classroom.codec.run`).

    The caller's source travels with every request, so what the learner did
    to the installed package cannot change it; nothing the kernel returns is
    trusted beyond being plain data.
    """
    import json

    return (
        "def _lstm_course_grader(source, request, namespace):\n"
        "    import json, types\n"
        "    caller = types.ModuleType('lstm_course_caller')\n"
        "    exec(source, caller.__dict__)\n"
        "    caller.run(json.loads(request), namespace)\n"
        f"_lstm_course_grader({_caller_source()!r}, {json.dumps(request)!r}, globals())\n"
        "del _lstm_course_grader\n"
    )


def new_request(call, kind, trials):
    """A request for ``call``: its kind ("function" or "value") and the encoded argument lists."""
    return {"nonce": secrets.token_hex(8), "name": call.answer, "kind": kind,
            "trials": [codec.encode(list(_core._call_args(inputs))) for inputs in trials]}


def read_reply(outputs, request):
    """The kernel's reply to ``request`` among a cell's ``outputs``, decoded; None if there is none."""
    for output in outputs:
        if output.get("output_type") != "display_data":
            continue
        text = output.get("data", {}).get(codec.MIME)
        if text is None:
            continue
        reply = codec.loads(text)
        if not isinstance(reply, dict) or reply.get("nonce") != request["nonce"]:
            continue
        return reply
    return None


# ---------------------------------------------------------------------------
# Judging what came back
# ---------------------------------------------------------------------------


class LearnerError(Exception):
    """An exception the learner's function raised in the kernel (its class is named after the original)."""


_ERRORS = {}


def _learner_error(ename, evalue):
    ename = ename if isinstance(ename, str) and ename.isidentifier() and len(ename) < 60 else "Exception"
    if ename == "NotImplementedError":
        return NotImplementedError(evalue)
    if ename not in _ERRORS:
        _ERRORS[ename] = type(ename, (LearnerError,), {})
    return _ERRORS[ename](evalue)


def _warning_category(name):
    known = getattr(builtins, name, None) if isinstance(name, str) else None
    if isinstance(known, type) and issubclass(known, Warning):
        return known
    return UserWarning


def _replace(args, path, value):
    """Apply an in-place change the kernel reported to our own copy of the inputs."""
    if not isinstance(path, list) or not path:
        return
    container = args
    try:
        for key in path[:-1]:
            container = container[key]
        key = path[-1]
        old = container[key]
    except (KeyError, IndexError, TypeError):
        old, key = None, path[-1]
        if not isinstance(container, dict):
            return
    if value is None:
        if isinstance(container, dict):
            container.pop(key, None)
    elif isinstance(old, np.ndarray) and isinstance(value, np.ndarray) and old.shape == value.shape:
        old[...] = value
    elif isinstance(container, (dict, list)) and not isinstance(container, tuple):
        try:
            container[key] = value
        except (IndexError, TypeError):
            pass


def _same_argument(sent, given):
    """``given`` is the argument ``sent`` to the kernel: the very object, or, for a Generator, the checks'
    copy of it in the same state (they hand the answer a copy, so that the reference replays its draws)."""
    if sent is given:
        return True
    return (isinstance(sent, np.random.Generator) and isinstance(given, np.random.Generator)
            and sent.bit_generator.state == given.bit_generator.state)


class Recorded:
    """The learner's function as the checks see it: it replays what the kernel returned for each trial.

    ``trials`` are the input dicts in the order they were sent; a call with
    the very argument objects of trial k gets trial k's outcome: its result,
    its error, its warnings, and its changes to the inputs (applied here, so
    the checks' in-place test sees them).
    """

    def __init__(self, trials, outcomes):
        self.calls = [(_core._call_args(inputs), outcome) for inputs, outcome in zip(trials, outcomes)]

    def __call__(self, *args):
        for sent, outcome in self.calls:
            if len(sent) == len(args) and all(_same_argument(a, b) for a, b in zip(sent, args)):
                break
        else:
            raise RuntimeError("the grader asked about a trial it did not send")  # a bug here, not the learner's
        if not isinstance(outcome, dict):
            raise codec.DecodeError("a trial's outcome is not a dict")
        for entry in outcome.get("changed") or []:
            if isinstance(entry, list) and len(entry) == 2:
                _replace(list(args), entry[0], codec.decode(entry[1]) if entry[1] is not None else None)
        for entry in (outcome.get("warnings") or [])[:5]:
            if isinstance(entry, list) and len(entry) == 2:
                warnings.warn(str(entry[1]), _warning_category(entry[0]), stacklevel=2)
        error = outcome.get("error")
        if error:
            raise _learner_error(*(list(error) + ["", ""])[:2])
        return codec.decode(outcome.get("result"))


@dataclass
class Verdict:
    """What the grader decided about one check: ``outcome`` is passed, failed or not attempted."""

    exercise: str
    outcome: str
    message: str = ""
    visible_passed: bool = False  # the visible trials passed (a failure came from the hidden ones)

    @property
    def passed(self):
        return self.outcome == "passed"


class KernelTrouble(Exception):
    """The kernel did not answer (it died, hung, or ran out of time); the message says which."""


def judge(call, ask, rng=None):
    """The :class:`Verdict` on ``call``.

    ``ask(kind, trials)`` sends the trials into the learner's kernel and
    returns the decoded reply (raising :class:`KernelTrouble` when there is
    none); ``rng`` draws the hidden trials (default: fresh OS entropy).
    """
    exercise = EXERCISES[call.exercise]
    rng = np.random.default_rng() if rng is None else rng
    name = exercise.name
    try:
        if exercise.kind == "value":
            visible, hidden = [{}], [{}]
            reply = ask("value", [])
        else:
            visible = _core.draw_trials(exercise, np.random.default_rng(exercise.visible_seed), False)
            hidden = _core.draw_trials(exercise, rng, True)
            reply = ask("function", visible + hidden)
    except KernelTrouble as trouble:
        return Verdict(name, "failed", str(trouble))
    except codec.DecodeError as exc:
        return Verdict(name, "failed", f"the grader could not read what {call.answer} returned: {exc}")
    if "missing" in reply:
        return Verdict(name, "missing", f"{call.answer} is not defined (did its cell run without an error?)")
    if "not_callable" in reply:
        return Verdict(name, "failed", f"{call.answer} should be a function, got {reply['not_callable']}.")
    try:
        if exercise.kind == "value":
            value = codec.decode(reply.get("value"))
            if isinstance(value, codec.Opaque) and value.type_name in ("ellipsis", "NotImplementedType"):
                value = None  # the question's placeholder: not answered yet
            answer = _core.as_callable(exercise, value)
        else:
            outcomes = reply.get("outcomes")
            if not isinstance(outcomes, list) or len(outcomes) != len(visible) + len(hidden):
                raise codec.DecodeError("the kernel did not report every trial")
            answer = Recorded(visible + hidden, outcomes)
    except codec.DecodeError as exc:
        return Verdict(name, "failed", f"the grader could not read what {call.answer} returned: {exc}")

    for trials, prefix in ((visible, ""), (hidden, "passes the visible check but not the hidden tests: ")):
        visible_passed = trials is hidden
        try:
            if exercise.prediction and trials is visible:
                _core.check_form(exercise, answer)
            else:
                _core.run_trials(exercise, answer, trials)
        except NotImplementedError:
            return Verdict(name, "not attempted", "not attempted yet (raise NotImplementedError is still there)")
        except _core.CheckFailed as exc:
            return Verdict(name, "failed", prefix + str(exc), visible_passed)
        except LearnerError as exc:
            return Verdict(name, "failed", f"{prefix}{name} raised {type(exc).__name__}: {exc}", visible_passed)
        except codec.DecodeError as exc:
            return Verdict(name, "failed", f"the grader could not read what {call.answer} returned: {exc}",
                           visible_passed)
        except Exception as exc:  # whatever came back, it must not stop the grader
            return Verdict(name, "failed", f"{prefix}the grader could not compare what {call.answer} returned "
                                           f"({type(exc).__name__}: {exc})", visible_passed)
    return Verdict(name, "passed", visible_passed=True)
