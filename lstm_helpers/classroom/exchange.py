"""The term through nbgrader's exchange: release, collect, return feedback.

On a shared server (JupyterHub, see :mod:`lstm_helpers.classroom.hub`) the
instructor hands chapters out and takes submissions in through nbgrader's
exchange, a folder every user can write to::

    lstm-course exchange release [CHAPTER ...]   nbgrader release_assignment, every chapter by default
    (learners fetch and submit in the Assignments tab, or with nbgrader fetch_assignment / submit)
    lstm-course exchange collect [CHAPTER ...]   nbgrader collect --update, plus who handed what in
    lstm-course grade submitted/ --feedback feedback/   (the grader; see the README)
    lstm-course exchange feedback [CHAPTER ...]  nbgrader release_feedback
    (learners fetch their feedback in the Assignments tab, or with nbgrader fetch_feedback)

Every command runs nbgrader's own command in the course folder, so the course's
``nbgrader_config.py`` applies, with the class settings that
``lstm-course hub setup`` writes beside it (``.nbgrader/class_config.py``:
``CourseDirectory.course_id``, ``Exchange.root`` and the gradebook).

What nbgrader leaves out, and this module adds:

* **The last submission counts.** ``collect`` runs ``nbgrader collect --update``,
  which replaces an earlier collected copy when the learner submitted again;
  ``timestamp.txt`` travels with the submission, for late penalties.
* **Who really handed it in.** nbgrader names a submission after the student id
  the learner's own configuration claims, and only logs it when the unix owner
  of the folder differs. ``collect`` records the owner of every submission
  folder in ``<course>/.nbgrader/collected.json``, a file of the instructor's
  outside ``submitted/`` (learners control what is inside their submission
  folders); :func:`collection_notes` reads it for the grade report.
* **Feedback that cannot be released** is named, learner by learner, before
  nbgrader stops at the first one.
"""

import json
import logging
import os
import pwd
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from . import course

log = logging.getLogger(__name__)

#: The instructor's record of collected submissions, relative to the course folder.
COLLECTED = Path(".nbgrader") / "collected.json"

#: Files nbgrader's ``release_feedback`` reads beside each feedback HTML file.
FEEDBACK_FILES = ("timestamp.txt", "submission_secret.txt")


class ExchangeError(RuntimeError):
    """An exchange step failed; the message says which chapter and why."""


# ---------------------------------------------------------------------------
# The exchange as the course's nbgrader configuration describes it
# ---------------------------------------------------------------------------

#: nbgrader's default exchange root, used when no configuration sets ``Exchange.root``.
DEFAULT_EXCHANGE = "/usr/local/share/nbgrader/exchange"


def _nbgrader_config(folders):
    """nbgrader's configuration files in ``folders`` (lowest priority first), merged as nbgrader merges them."""
    from traitlets.config.loader import Config, JSONFileConfigLoader, PyFileConfigLoader

    config = Config()
    for folder in folders:
        for loader, name in ((JSONFileConfigLoader, "nbgrader_config.json"), (PyFileConfigLoader, "nbgrader_config.py")):
            if (Path(folder) / name).is_file():
                config.merge(loader(name, path=str(folder)).load_config())
    return config


def exchange_settings(course_root):
    """``{"course_id", "exchange", "root", "db_url"}`` as nbgrader sees them when run in ``course_root``.

    Read from the files nbgrader reads, in its order: the Jupyter config path
    (``JUPYTER_CONFIG_PATH``, ``~/.jupyter``, ...), then the course folder's
    ``nbgrader_config.py`` (which loads ``.nbgrader/class_config.py``).
    """
    from jupyter_core.paths import jupyter_config_path

    course_root = Path(course_root).resolve()
    config = _nbgrader_config([*reversed(jupyter_config_path()), course_root])
    root = Path(config.CourseDirectory.get("root", str(course_root)))
    if root.resolve() != course_root:
        config.merge(_nbgrader_config([root]))
    return {"course_id": config.CourseDirectory.get("course_id", ""),
            "exchange": config.Exchange.get("root", DEFAULT_EXCHANGE),
            "root": str(root), "db_url": config.CourseDirectory.get("db_url", "")}


def _require_course_id(settings):
    if not settings["course_id"]:
        raise ExchangeError(
            "no course id: nbgrader's exchange needs c.CourseDirectory.course_id. "
            "`lstm-course hub setup` writes it into .nbgrader/class_config.py of the course")


def _nbgrader(course_root, *args):
    result = course.nbgrader(course_root, *args, check=False, timeout=600)
    output = (result.stdout or "") + (result.stderr or "")
    if result.returncode != 0:
        raise ExchangeError(f"nbgrader {' '.join(args)} failed:\n{output[-4000:]}")
    return output


def _chapters(course_root, chapters):
    known = course.chapters(course_root)
    chapters = list(chapters) if chapters else known
    unknown = sorted(set(chapters) - set(known))
    if unknown:
        raise ExchangeError(f"unknown chapter(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return chapters


# ---------------------------------------------------------------------------
# Release
# ---------------------------------------------------------------------------

def release(course_root, chapters=None, *, force=False):
    """Put the student notebooks of ``chapters`` (default: all) into the exchange.

    Runs ``nbgrader release_assignment`` on ``notebooks/<chapter>/`` (make
    it with ``lstm-course release``). A chapter already in the exchange is
    left as it is unless ``force``: learners who fetched it keep their copy
    either way. Returns ``{chapter: "released" | "already released"}``.
    """
    course_root = Path(course_root).resolve()
    settings = exchange_settings(course_root)
    _require_course_id(settings)
    outbound = Path(settings["exchange"]) / settings["course_id"] / "outbound"
    done = {}
    for chapter in _chapters(course_root, chapters):
        if not course.release_notebook(course_root, chapter).is_file():
            raise ExchangeError(f"{chapter}: notebooks/{chapter}/{chapter}.ipynb is missing; "
                                "run `lstm-course release` first")
        if (outbound / chapter).is_dir() and not force:
            done[chapter] = "already released"
            continue
        _nbgrader(course_root, "release_assignment", chapter, *(["--force"] if force else []))
        done[chapter] = "released"
    return done


# ---------------------------------------------------------------------------
# Collect, and who handed each submission in
# ---------------------------------------------------------------------------

@dataclass
class Submission:
    """One folder in the exchange's inbound: ``<student>+<chapter>+<timestamp>[+<random>]``."""

    folder: str
    student: str
    chapter: str
    timestamp: str
    owner: str       # unix user owning the folder (who really wrote it)
    collected: bool  # the one ``nbgrader collect`` took: the student's latest for the chapter
    received: str = ""  # when the exchange last saw it change (the kernel's ctime, which no user can set)
    backdated: bool = False  # the claimed timestamp is well before ``received``

    def notes(self):
        """Why an instructor should look at this submission (empty if nothing)."""
        which = "submission" if self.collected else f"earlier submission (at {self.timestamp}, not graded)"
        notes = []
        if self.owner != self.student:
            notes.append(f"{which} by unix user {self.owner} under the id {self.student}")
        if self.backdated:
            notes.append(f"{which} claims the time {self.timestamp} but reached the exchange at {self.received}")
        return notes

    def note(self):
        return "; ".join(self.notes())


#: A submission may claim a time this much before the exchange saw it (clocks, slow copies).
BACKDATE_TOLERANCE_S = 300


def _received(path):
    """The latest ctime of ``path`` and everything in it, as a naive UTC datetime (as nbgrader's ``parse_utc``).

    The learner owns the folder and can set every mtime and write any
    ``timestamp.txt``, but not a ctime: the kernel sets it on each change.
    """
    import datetime

    latest = path.lstat().st_ctime
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                latest = max(latest, os.lstat(os.path.join(folder, name)).st_ctime)
            except FileNotFoundError:
                pass
    return datetime.datetime.fromtimestamp(latest, datetime.timezone.utc).replace(tzinfo=None)


def _owner(path):
    uid = path.lstat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def inbound_submissions(inbound, chapter):
    """Every submission of ``chapter`` in the ``inbound`` folder, the latest per student marked collected.

    Names are parsed as nbgrader parses them (``rsplit('+', 3)``) and
    timestamps compared as nbgrader compares them, so the one marked
    ``collected`` is the one ``nbgrader collect`` copies.
    """
    from nbgrader.utils import parse_utc

    found = []
    for path in sorted(Path(inbound).glob(f"*+{chapter}+*")):
        parts = path.name.rsplit("+", 3)
        if len(parts) < 3 or parts[1] != chapter:
            continue
        try:
            when = parse_utc(parts[2])
        except (ValueError, OverflowError):
            continue  # nbgrader's collect would fail on it too
        received = _received(path)
        backdated = (received - when.replace(tzinfo=None)).total_seconds() > BACKDATE_TOLERANCE_S
        found.append((when, Submission(path.name, parts[0], chapter, parts[2], _owner(path), False,
                                       received.strftime("%Y-%m-%d %H:%M:%S UTC"), backdated)))
    latest = {}
    for when, sub in found:
        if sub.student not in latest or when > latest[sub.student][0]:
            latest[sub.student] = (when, sub)
    for _, sub in latest.values():
        sub.collected = True
    return [sub for _, sub in found]


def _write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".collected-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_collected(course_root):
    """The records ``collect`` wrote: ``{"submissions": [Submission fields, ...]}`` (empty if none)."""
    path = Path(course_root) / COLLECTED
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {"submissions": []}


def collect(course_root, chapters=None):
    """Collect ``chapters`` (default: all) from the exchange into ``submitted/``.

    Runs ``nbgrader collect --update`` per chapter (a learner's latest
    submission replaces an earlier one; ``timestamp.txt`` is kept) and
    records the owner of every inbound submission folder in
    ``.nbgrader/collected.json``. Then checks that every student's latest
    submission arrived in ``submitted/`` with its timestamp. Returns the list
    of :class:`Submission` seen.
    """
    course_root = Path(course_root).resolve()
    settings = exchange_settings(course_root)
    _require_course_id(settings)
    inbound = Path(settings["exchange"]) / settings["course_id"] / "inbound"
    chapters = _chapters(course_root, chapters)
    # The owners are read before nbgrader copies anything: what is collected is what was recorded.
    seen = []
    for chapter in chapters:
        subs = inbound_submissions(inbound, chapter)
        if subs:
            _nbgrader(course_root, "collect", chapter, "--update")
        seen.extend(subs)
    record = read_collected(course_root)
    by_folder = {r["folder"]: r for r in record["submissions"]}
    for chapter in chapters:  # only this chapter's latest is "collected"
        for r in by_folder.values():
            if r["chapter"] == chapter:
                r["collected"] = False
    for sub in seen:
        by_folder[sub.folder] = asdict(sub)
    _write_json(course_root / COLLECTED, {"submissions": sorted(by_folder.values(), key=lambda r: r["folder"])})
    missing = []
    for sub in seen:
        if not sub.collected:
            continue
        stamp = course_root / "submitted" / sub.student / sub.chapter / "timestamp.txt"
        if not stamp.is_file() or stamp.read_text().strip() != sub.timestamp.strip():
            missing.append(f"{sub.student}/{sub.chapter} (submitted at {sub.timestamp})")
    if missing:
        raise ExchangeError("nbgrader collect did not bring in the latest submission of: " + ", ".join(missing))
    return seen


def collection_notes(course_root):
    """Notes for the grade report, from the instructor's record of collected submissions.

    Returns ``{(student_id, chapter): [note, ...]}`` for every submission whose
    folder in the exchange belongs to another unix user than the student id it
    claims, e.g. ``"submission by unix user bob under the id alice"``, and for
    every submission whose timestamp (which the learner writes, and which
    late penalties use) is more than five minutes before the exchange last saw
    it change. The
    record is ``<course_root>/.nbgrader/collected.json``, written by
    :func:`collect`; without it there are no notes.
    """
    notes = {}
    for r in read_collected(course_root)["submissions"]:
        sub = Submission(**{k: r[k] for k in Submission.__dataclass_fields__ if k in r})
        for note in sub.notes():
            notes.setdefault((sub.student, sub.chapter), []).append(note)
    return notes


# ---------------------------------------------------------------------------
# Feedback
# ---------------------------------------------------------------------------

def return_feedback(course_root, chapters=None):
    """Release the feedback in ``feedback/<student>/<chapter>/`` to the exchange.

    Runs ``nbgrader release_feedback`` per chapter that has feedback. nbgrader
    needs ``timestamp.txt`` and ``submission_secret.txt`` beside each HTML file
    (it finds the learner's copy through the secret); a folder without them is
    named here, with every other one, instead of nbgrader's first
    ``FileNotFoundError``. Returns ``{chapter: [student, ...]}`` released.
    """
    course_root = Path(course_root).resolve()
    settings = exchange_settings(course_root)
    _require_course_id(settings)
    feedback = course_root / "feedback"
    released = {}
    for chapter in _chapters(course_root, chapters):
        folders = sorted(p.parent for p in feedback.glob(f"*/{chapter}/*.html"))
        if not folders:
            continue
        incomplete = [f"{f.parent.name} (no {', '.join(n for n in FEEDBACK_FILES if not (f / n).is_file())})"
                      for f in dict.fromkeys(folders) if not all((f / n).is_file() for n in FEEDBACK_FILES)]
        if incomplete:
            raise ExchangeError(
                f"{chapter}: nbgrader cannot release feedback without {' and '.join(FEEDBACK_FILES)} "
                f"beside the HTML; missing for: {', '.join(incomplete)}")
        _nbgrader(course_root, "release_feedback", chapter)
        released[chapter] = sorted({f.parent.name for f in folders})
    return released


# ---------------------------------------------------------------------------
# Command line: `lstm-course exchange ...`, `lstm-course hub ...`, `lstm-course explore`
# ---------------------------------------------------------------------------

def add_commands(commands):
    """Register ``exchange``, ``hub`` and ``explore`` on the ``lstm-course`` sub-parsers."""
    exchange = commands.add_parser(
        "exchange", help="the term through nbgrader's exchange: release, collect, return feedback",
        description="Hand chapters out and take submissions in through nbgrader's exchange: each step runs "
                    "nbgrader's own command in the course folder, with the class settings that `lstm-course hub "
                    "setup` wrote. Grading in between is `lstm-course grade submitted/ --feedback feedback/`.")
    steps = exchange.add_subparsers(dest="step", metavar="STEP")
    steps.required = True
    for name, handler, text in (
            ("release", _cmd_release, "put chapters into the exchange (nbgrader release_assignment)"),
            ("collect", _cmd_collect, "collect submissions into submitted/ (nbgrader collect --update) and "
                                      "record who handed each in"),
            ("feedback", _cmd_feedback, "return feedback/ to the learners (nbgrader release_feedback)")):
        step = steps.add_parser(name, help=text, description=text)
        step.add_argument("chapters", nargs="*", metavar="CHAPTER", help="chapters (default: all)")
        step.add_argument("--course", metavar="DIR", default=None,
                          help="the course folder (default: found from the current folder upwards)")
        if name == "release":
            step.add_argument("--force", action="store_true",
                              help="replace a chapter already in the exchange (learners keep what they fetched)")
        step.set_defaults(handler=handler)

    from .hub import commands as hub_commands

    hub_commands.add_commands(commands)


def _root(args):
    return course.find_root(args.course)


def _run(step, args):
    try:
        return step(args)
    except ExchangeError as exc:
        print(f"lstm-course exchange: {exc}", file=sys.stderr)
        return 1


def _cmd_release(args):
    def step(args):
        for chapter, state in release(_root(args), args.chapters, force=args.force).items():
            print(f"{chapter}: {state}")
        return 0
    return _run(step, args)


def _cmd_collect(args):
    def step(args):
        root = _root(args)
        subs = collect(root, args.chapters)
        taken = [s for s in subs if s.collected]
        print(f"collected {len(taken)} submissions ({len(subs)} in the exchange) into {root / 'submitted'}")
        for s in subs:
            if s.note():
                print(f"  {s.student}/{s.chapter}: {s.note()}")
        print(f"who handed in what: {root / COLLECTED}")
        return 0
    return _run(step, args)


def _cmd_feedback(args):
    def step(args):
        released = return_feedback(_root(args), args.chapters)
        if not released:
            print("no feedback to release: grade with `lstm-course grade submitted/ --feedback feedback/` first")
        for chapter, students in released.items():
            print(f"{chapter}: feedback released for {len(students)} learners")
        return 0
    return _run(step, args)
