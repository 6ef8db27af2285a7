"""``lstm-course update``: bring each chapter of the learner's workspace up to the
course's current release without losing any of the learner's work.

For every chapter whose release changed since the learner's copy was made,
:func:`merge` builds the new version from three notebooks: the release the
learner's file started from (kept in the workspace, see
:mod:`lstm_helpers.classroom.workspace`), the learner's file, and the new release.

* **Answers** (nbgrader ``solution`` cells) are matched by their nbgrader
  ``grade_id``. An answer goes back in place when the course left that cell
  alone, or changed only its prose (docstring, comments) in lines the
  learner did not touch; then the two edits are merged line by line.
* **The learner's other work** goes back too: an edited course cell that the
  course did not change returns in place, and a cell the learner added returns
  after the cell it followed.
* Everything that cannot be put back safely (the exercise was removed, the
  code it gives changed, the learner and the course edited the same cell) is
  kept in a marked section at the end of the notebook, each cell with the
  reason. Nothing is dropped.
* The learner's previous file is copied to ``backups/<date>/`` first, then the
  new version is written to a temporary file and renamed over the old one.
* A notebook that cannot be read is reported and left alone. A notebook open
  in a running Jupyter server whose kernel ran after its last save may have
  unsaved changes: it is reported and left alone unless ``--force``.
"""

import ast
import contextlib
import copy
import difflib
import hashlib
import json
import logging
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import course
from . import workspace as wsp

log = logging.getLogger(__name__)

#: Cell metadata key (under ``lstm_course``) of a kept cell, and of the section's heading.
KEPT, KEPT_HEADING = "kept", "kept_heading"
KEPT_TAG = "lstm-course-kept"
#: JupyterLab saves open notebooks every 120 s by default.
AUTOSAVE_SECONDS = 120

KEPT_HEADING_TEXT = (
    "## Kept from your earlier versions of this notebook\n"
    "\n"
    "`lstm-course update` brought in a new version of this chapter and put your answers back in "
    "their places. The cells below hold the work it could not put back safely, each with the date "
    "and the reason. **They are not graded**: compare each one with the exercise above and copy "
    "what you need into it. Your previous files are in the workspace's `backups/` folder."
)


# ---------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------

def _nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader") or {}


def grade_id(cell):
    return _nbgrader(cell).get("grade_id")


def is_answer(cell):
    return bool(_nbgrader(cell).get("solution"))


def kept_info(cell):
    """The ``lstm_course`` metadata of a cell of the kept section, or ``{}``."""
    info = cell.get("metadata", {}).get(wsp.META_KEY)
    return info if isinstance(info, dict) and (KEPT in info or KEPT_HEADING in info) else {}


def _same(a, b):
    return a.get("cell_type") == b.get("cell_type") and wsp.source(a) == wsp.source(b)


def _first_line(text, width=60):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else "(empty)"
    return line if len(line) <= width else line[: width - 1] + "…"


def _unchanged_by_checksum(cell):
    """Whether an nbgrader cell still has the content nbgrader released (its checksum matches)."""
    checksum = _nbgrader(cell).get("checksum")
    if not checksum:
        return None
    import nbformat
    from nbgrader.utils import compute_checksum

    try:
        return compute_checksum(nbformat.from_dict(copy.deepcopy(cell))) == checksum
    except Exception:  # incomplete nbgrader metadata: cannot tell
        return None


def _code_without_prose(text):
    """The code of ``text`` with docstrings removed (comments are not in the tree); ``None`` if it does not parse."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def prose_only_change(old, new):
    """Whether two versions of a code cell differ only in docstrings and comments."""
    old_code = _code_without_prose(old)
    return old_code is not None and old_code == _code_without_prose(new)


def merge3(base, mine, theirs):
    """Line-based three-way merge of ``mine`` and ``theirs``, two edits of ``base``.

    Returns the text with both edits, or ``None`` when they change the same
    lines, or insert at the same place or inside the other's change.
    """
    base_lines = base.splitlines(keepends=True)

    def hunks(other):
        other_lines = other.splitlines(keepends=True)
        matcher = difflib.SequenceMatcher(None, base_lines, other_lines, autojunk=False)
        return [(i1, i2, tuple(other_lines[j1:j2])) for tag, i1, i2, j1, j2 in matcher.get_opcodes()
                if tag != "equal"]

    mine_hunks, their_hunks = hunks(mine), hunks(theirs)
    def clash(a, b):
        if a == b:
            return False  # the same change on both sides
        if max(a[0], b[0]) < min(a[1], b[1]):
            return True   # the same lines changed
        if a[0] == a[1] and b[0] == b[1]:
            return a[0] == b[0]  # two insertions at one place: no order is right
        insertion, other = (a, b) if a[0] == a[1] else (b, a)
        return insertion[0] == insertion[1] and other[0] < insertion[0] < other[1]

    if any(clash(a, b) for a in mine_hunks for b in their_hunks):
        return None
    out, position = [], 0
    for i1, i2, lines in sorted(set(mine_hunks) | set(their_hunks)):
        out += base_lines[position:i1]
        out += lines
        position = i2
    out += base_lines[position:]
    return "".join(out)


# ---------------------------------------------------------------------------
# The merge
# ---------------------------------------------------------------------------

@dataclass
class Kept:
    """A piece of the learner's work that goes to the kept section, and why."""

    label: str
    reason: str
    cell: dict
    grade_id: str | None = None


@dataclass
class Merge:
    notebook: dict
    carried: list = field(default_factory=list)      # answers back in place, as the learner left them
    merged: list = field(default_factory=list)       # answers back in place, with the course's prose changes
    kept: list = field(default_factory=list)         # Kept items, new in this update
    new_exercises: list = field(default_factory=list)
    edits_carried: int = 0    # the learner's edits of course cells, back in place
    own_cells: int = 0        # cells the learner added, back after the cell they followed
    kept_before: int = 0      # cells of the kept section from an earlier update


def _answer_outcome(mine, base_cell, new_cell):
    """``("carried" | "merged", text)`` or ``("kept", reason)`` for an edited answer cell."""
    if new_cell is None:
        return "kept", "this exercise is no longer in the chapter"
    if new_cell.get("cell_type") != mine.get("cell_type"):
        return "kept", "the course turned this answer cell into another kind of cell"
    if base_cell is not None:
        if wsp.source(base_cell) == wsp.source(new_cell):
            return "carried", wsp.source(mine)
        if mine.get("cell_type") == "code" and prose_only_change(wsp.source(base_cell), wsp.source(new_cell)):
            text = merge3(wsp.source(base_cell), wsp.source(mine), wsp.source(new_cell))
            if text is not None and (_code_without_prose(text) is not None
                                     or _code_without_prose(wsp.source(mine)) is None):
                return "merged", text
            return "kept", ("the course reworded this exercise's text in lines you changed; "
                            "the new exercise cell is in place above")
        return "kept", "the course changed the code this exercise gives you; the new exercise cell is in place above"
    # No record of the release the learner started from: nbgrader's checksum says whether the template changed.
    if _nbgrader(mine).get("checksum") and _nbgrader(mine).get("checksum") == _nbgrader(new_cell).get("checksum"):
        return "carried", wsp.source(mine)
    return "kept", ("the course changed this exercise, and this notebook has no record of the version "
                    "you started from; the new exercise cell is in place above")


def _in_place(mine, new_cell, text=None):
    """The course's ``new_cell`` holding the learner's content (source, outputs, their own metadata)."""
    cell = copy.deepcopy(new_cell)
    cell["source"] = wsp.source(mine) if text is None else text
    extra = {k: v for k, v in mine.get("metadata", {}).items() if k not in ("nbgrader", wsp.META_KEY)}
    cell["metadata"] = {**extra, **copy.deepcopy(new_cell.get("metadata", {}))}
    if cell.get("cell_type") == "code" and mine.get("cell_type") == "code":
        cell["outputs"] = copy.deepcopy(mine.get("outputs", []))
        cell["execution_count"] = mine.get("execution_count")
    if mine.get("attachments"):
        cell["attachments"] = copy.deepcopy(mine["attachments"])
    return cell


def _kept_cell(item, when):
    """A markdown cell of the kept section: a line that says what and why, then ``item``'s content.

    Code is shown in a fenced block, so it is neither run nor graded: an old
    answer run after the tests could redefine a name the tests use.
    """
    date = when.strftime("%Y-%m-%d %H:%M")
    text = wsp.source(item.cell)
    kind = item.cell.get("cell_type", "code")
    info = {KEPT: {"what": item.label, "reason": item.reason, "date": date, "cell_type": kind}}
    if item.grade_id:
        info[KEPT]["grade_id"] = item.grade_id
    header = f"**Kept by `lstm-course update` on {date}: {item.label}.** Why: {item.reason}."
    if kind == "code":
        fence = "```"
        while fence in text:
            fence += "`"
        body = (f"{header} Not run and not graded: copy what you need into a code cell above.\n\n"
                f"{fence}python\n{text.rstrip(chr(10))}\n{fence}")
    else:
        body = f"{header}\n\n{text}"
    cell = {"cell_type": "markdown", "source": body, "metadata": {wsp.META_KEY: info, "tags": [KEPT_TAG]}}
    if item.cell.get("attachments"):
        cell["attachments"] = copy.deepcopy(item.cell["attachments"])
    cell["id"] = "kept-" + hashlib.sha1(f"{item.label}\n{text}".encode("utf-8")).hexdigest()[:10]
    return cell


def kept_source(cell):
    """The learner's content held by a kept cell (the code of its fenced block), or ``None``."""
    info = kept_info(cell).get(KEPT)
    if not info:
        return None
    text = wsp.source(cell)
    if info.get("cell_type", "code") == "code":
        found = re.search(r"^(`{3,})python\n(.*)\n\1[ \t]*$", text, re.S | re.M)
        return found.group(2) if found else None
    return text.split("\n\n", 1)[1] if "\n\n" in text else ""


def _heading_cell():
    return {"cell_type": "markdown", "id": "lstm-course-kept", "source": KEPT_HEADING_TEXT,
            "metadata": {wsp.META_KEY: {KEPT_HEADING: True}, "tags": [KEPT_TAG]}}


def _give_ids(cells, nbformat_minor):
    """Unique cell ids (nbformat 4.5 and later), or none at all (older formats forbid them)."""
    if nbformat_minor < 5:
        for cell in cells:
            cell.pop("id", None)
        return cells
    seen = set()
    for cell in cells:
        cid = cell.get("id")
        if not cid or cid in seen:
            cid = uuid.uuid4().hex[:8]
            while cid in seen:
                cid = uuid.uuid4().hex[:8]
            cell["id"] = cid
        seen.add(cid)
    return cells


def merge(learner, base, release, *, chapter, digest, when=None):
    """The new version of a learner's notebook: ``release`` with the learner's work carried over.

    learner: the learner's notebook; base: the release it started from, or
    ``None`` if unknown; release: the course's new release; digest: its
    :func:`~lstm_helpers.classroom.workspace.release_digest`. Returns a
    :class:`Merge`: the notebook and what went where.
    """
    when = when or datetime.now()
    new_cells = release.get("cells", [])
    by_grade = {grade_id(c): j for j, c in enumerate(new_cells) if grade_id(c)}
    base_cells = base.get("cells", []) if base is not None else []
    base_by_grade = {grade_id(c): c for c in base_cells if grade_id(c)}
    base_by_id = {c.get("id"): c for c in base_cells if c.get("id") and not grade_id(c)}
    result = Merge(notebook={})
    replacement, after = {}, defaultdict(list)
    used_new, used_base = set(), set()
    kept_before = []
    anchor = -1  # the release cell the learner's next own cell follows (-1: the top)

    def match_new(base_cell):
        """The release cell that is ``base_cell`` unchanged: same id first, then same content."""
        candidates = [j for j, c in enumerate(new_cells)
                      if j not in used_new and not grade_id(c) and _same(c, base_cell)]
        for j in candidates:
            if new_cells[j].get("id") == base_cell.get("id"):
                return j
        return candidates[0] if candidates else None

    def match_base(cell):
        found = base_by_id.get(cell.get("id")) if cell.get("id") else None
        if found is not None and id(found) not in used_base:
            return found
        for c in base_cells:  # ids lost (an old format): the same content is the same cell
            if id(c) not in used_base and not grade_id(c) and _same(c, cell):
                return c
        return None

    for mine in learner.get("cells", []):
        if kept_info(mine):
            if KEPT in kept_info(mine):
                kept_before.append(mine)
            continue
        gid = grade_id(mine)
        if gid:
            j = by_grade.get(gid)
            new_cell = new_cells[j] if j is not None else None
            base_cell = base_by_grade.get(gid)
            if j is not None:
                anchor = j
            if base_cell is not None:
                edited = not _same(mine, base_cell)
            else:
                unchanged = _unchanged_by_checksum(mine)
                edited = (not unchanged) if unchanged is not None else (new_cell is None or not _same(mine, new_cell))
            if not edited or (new_cell is not None and _same(mine, new_cell)):
                continue
            if is_answer(mine):
                outcome, detail = _answer_outcome(mine, base_cell, new_cell)
                if outcome == "kept":
                    result.kept.append(Kept(f"your answer to {gid}", detail, mine, gid))
                else:
                    replacement[j] = _in_place(mine, new_cell, detail)
                    (result.carried if outcome == "carried" else result.merged).append(gid)
            else:
                result.kept.append(Kept(f"your edit of the read-only cell {gid}",
                                        "read-only cells always come from the course (the grader restores them)",
                                        mine, gid))
            continue
        base_cell = match_base(mine) if base is not None else None
        if base is None:
            # No record of the starting release: a cell that is in the release unchanged is the course's.
            j = match_new(mine)
            if j is not None:
                used_new.add(j)
                anchor = j
            elif wsp.source(mine).strip():
                result.kept.append(Kept(f"the cell \"{_first_line(wsp.source(mine))}\"",
                                        "it is not in the new version, and this notebook has no record of the "
                                        "version you started from, so it may be yours", mine))
            continue
        if base_cell is None:  # the learner's own cell
            after[anchor].append(copy.deepcopy(mine))
            result.own_cells += 1
            continue
        used_base.add(id(base_cell))
        j = match_new(base_cell)
        if j is not None:
            used_new.add(j)
            anchor = j
        if _same(mine, base_cell):
            continue
        if j is not None:
            replacement[j] = _in_place(mine, new_cells[j])
            replacement[j]["metadata"] = copy.deepcopy(mine.get("metadata", {}))
            result.edits_carried += 1
        else:
            result.kept.append(Kept(f"your edit of the cell \"{_first_line(wsp.source(base_cell))}\"",
                                    "the course changed or removed this cell; its new version, if any, is in place",
                                    mine))

    learner_grades = {grade_id(c) for c in learner.get("cells", []) if grade_id(c)}
    result.new_exercises = [grade_id(c) for c in new_cells if is_answer(c) and grade_id(c) not in learner_grades]
    result.kept_before = len(kept_before)

    cells = list(after[-1])
    for j, new_cell in enumerate(new_cells):
        cells.append(replacement.get(j) or copy.deepcopy(new_cell))
        cells.extend(after[j])
    if kept_before or result.kept:
        cells.append(_heading_cell())
        cells.extend(copy.deepcopy(kept_before))
        cells.extend(_kept_cell(item, when) for item in result.kept)

    notebook = copy.deepcopy(release)
    extra = {k: v for k, v in learner.get("metadata", {}).items() if k not in notebook.get("metadata", {})}
    notebook["metadata"] = {**copy.deepcopy(extra), **notebook.get("metadata", {})}
    notebook["cells"] = _give_ids(cells, int(notebook.get("nbformat_minor", 0)))
    result.notebook = wsp.stamped(notebook, chapter, digest)
    return result


# ---------------------------------------------------------------------------
# Notebooks open in a running Jupyter server
# ---------------------------------------------------------------------------

@dataclass
class OpenNotebook:
    state: str        # "unsaved": its kernel ran after the last save; "open": saved; "maybe": cannot ask
    server: str
    detail: str = ""


def _parse_time(text):
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _api(server, path, timeout=3):
    url = server["url"].rstrip("/") + "/" + path.lstrip("/")
    request = urllib.request.Request(url)
    if server.get("token"):
        request.add_header("Authorization", f"token {server['token']}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def running_servers(runtime_dir=None):
    """The Jupyter servers of this user that are running (from their ``jpserver-*.json`` files)."""
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:
        return []
    try:
        return list(list_running_servers(runtime_dir))
    except OSError:
        return []


def open_notebooks(paths, servers=None, now=None):
    """Which of ``paths`` are open in a running Jupyter server: ``{path: OpenNotebook}``.

    Asks each server that serves a folder holding them for its sessions
    (a notebook with a kernel is open in a tab, or was) and for the file's
    ``last_modified``: a kernel active after the last save means cells ran
    since, so the tab may hold unsaved changes. A server that cannot be asked
    (a password, an old server) falls back to modification times: a notebook
    saved within JupyterLab's autosave interval may be open with changes.
    """
    servers = running_servers() if servers is None else servers
    now = now or datetime.now(timezone.utc)
    found = {}
    paths = [Path(p).resolve() for p in paths]
    for server in servers:
        root = Path(server.get("root_dir") or server.get("notebook_dir") or "/").expanduser().resolve()
        mine = {p: p.relative_to(root).as_posix() for p in paths if p.is_relative_to(root)}
        if not mine:
            continue
        url = server.get("url", "")
        try:
            sessions = _api(server, "api/sessions")
        except (OSError, ValueError, urllib.error.URLError) as exc:
            log.info("cannot ask the Jupyter server at %s: %s", url, exc)
            for path in mine:
                age = now.timestamp() - path.stat().st_mtime if path.exists() else None
                if age is not None and age < AUTOSAVE_SECONDS and path not in found:
                    found[path] = OpenNotebook("maybe", url, f"saved {age:.0f} s ago while a Jupyter server "
                                                             f"({url}) serves this folder")
            continue
        by_api_path = {api: path for path, api in mine.items()}
        for session in sessions:
            path = by_api_path.get(session.get("path"))
            if path is None:
                continue
            kernel = session.get("kernel") or {}
            activity = _parse_time(kernel.get("last_activity"))
            try:
                model = _api(server, "api/contents/" + urllib.parse.quote(session["path"]) + "?content=0")
                saved = _parse_time(model.get("last_modified"))
            except (OSError, ValueError, urllib.error.URLError):
                saved = None
            if activity and saved and activity > saved:
                found[path] = OpenNotebook(
                    "unsaved", url, f"its kernel ran at {activity.astimezone():%H:%M:%S}, after the last save "
                                    f"at {saved.astimezone():%H:%M:%S}")
            elif found.get(path) is None or found[path].state == "maybe":
                found[path] = OpenNotebook("open", url, "saved after its kernel last ran")
    return found


# ---------------------------------------------------------------------------
# Updating a workspace
# ---------------------------------------------------------------------------

@dataclass
class ChapterUpdate:
    chapter: str
    state: str   # "up to date", "updated", "would update", "new", "would add", "unreadable", "skipped", "no release"
    merge: Merge | None = None
    backup: Path | None = None
    message: str = ""
    open: OpenNotebook | None = None


def _load(path):
    """``(text, notebook)`` of ``path``; raises ``NotebookUnreadable`` or ``OSError``."""
    text = Path(path).read_text(encoding="utf-8")
    return text, wsp.read_notebook(path)


def update_chapter(ws, chapter, *, dry_run=False, force=False, open_info=None, backups=None, when=None):
    """Update one chapter of ``ws``; see :func:`update`. ``backups`` makes the backup folder on first use."""
    path = ws.notebook(chapter)
    release_path = course.release_notebook(ws.course_root, chapter)
    try:
        release = wsp.read_notebook(release_path)
    except (OSError, wsp.NotebookUnreadable) as exc:
        return ChapterUpdate(chapter, "no release", message=f"the course's {release_path} cannot be read: {exc}")
    if not path.exists():
        if dry_run:
            return ChapterUpdate(chapter, "would add")
        wsp.copy_chapter(ws, chapter)
        return ChapterUpdate(chapter, "new")
    try:
        before = path.stat()
        text, learner = _load(path)
    except (OSError, UnicodeDecodeError, wsp.NotebookUnreadable) as exc:
        return ChapterUpdate(chapter, "unreadable", message=str(exc))
    digest = wsp.release_digest(release)
    if wsp.record_of(learner).get("release") == digest:
        return ChapterUpdate(chapter, "up to date")
    _, base = ws.release_of(chapter, learner)
    result = merge(learner, base, release, chapter=chapter, digest=digest, when=when)
    opened = (open_info or {}).get(path.resolve())
    if opened and opened.state in ("unsaved", "maybe") and not force:
        return ChapterUpdate(chapter, "skipped", result, open=opened)
    if dry_run:
        return ChapterUpdate(chapter, "would update", result, open=opened)
    # Order matters for a crash at any point: the release the new file records is stored
    # first, then the backup, and the learner's file is replaced last, in one rename.
    ws.keep_release(chapter, release)
    backup = backups() / f"{chapter}.ipynb"
    wsp.write_atomic(backup, text)
    now = path.stat()
    if (now.st_mtime_ns, now.st_size) != (before.st_mtime_ns, before.st_size):
        return ChapterUpdate(chapter, "skipped", result, backup, open=opened,
                             message="the file changed while it was being updated (saved from JupyterLab?)")
    wsp.write_atomic(path, wsp.notebook_text(result.notebook))
    return ChapterUpdate(chapter, "updated", result, backup, open=opened)


def update(ws, chapters=None, *, dry_run=False, force=False, servers=None, when=None):
    """Bring every chapter of the workspace ``ws`` (or only ``chapters``) to the course's release.

    Returns a list of :class:`ChapterUpdate`. Nothing is written with ``dry_run``.
    """
    when = when or datetime.now()
    names = course.chapters(ws.course_root) if chapters is None else list(chapters)
    folder = []

    def backups():
        if not folder:
            folder.append(ws.backup_folder(when))
        return folder[0]

    with contextlib.nullcontext() if dry_run else ws.lock():
        if not dry_run:
            for leftover in wsp.remove_leftovers(ws.path):
                log.info("removed %s, left by an interrupted write", leftover)
        open_info = open_notebooks([ws.notebook(c) for c in names if ws.notebook(c).exists()], servers)
        return [update_chapter(ws, chapter, dry_run=dry_run, force=force, open_info=open_info,
                               backups=backups, when=when) for chapter in names]


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------

def _names(items):
    return ", ".join(items)


def describe(result, ws, out):
    """Print what happened to one chapter, for the learner."""
    chapter, state = result.chapter, result.state
    rel = ws.notebook(chapter).relative_to(ws.path)
    if state == "up to date":
        print(f"{chapter}: up to date.", file=out)
        return
    if state in ("new", "would add"):
        verb = "copied" if state == "new" else "would be copied"
        print(f"{chapter}: new chapter, {verb} to {rel}", file=out)
        return
    if state == "unreadable":
        print(f"{chapter}: {rel} cannot be read: {result.message}. Left as it is: repair it, or move it "
              f"away and run `lstm-course update` again for a fresh copy.", file=out)
        return
    if state == "no release":
        print(f"{chapter}: {result.message}; nothing changed.", file=out)
        return
    merge_result = result.merge
    if state == "skipped":
        if result.open is not None:
            print(f"{chapter}: not updated: {rel} is open in Jupyter ({result.open.server}) and may have unsaved "
                  f"changes: {result.open.detail}. Save it, close it with File > Close and Shut Down Notebook, "
                  "then run `lstm-course update` again (or `lstm-course update --force` to update it now).",
                  file=out)
        else:
            print(f"{chapter}: not updated: {result.message}. Run `lstm-course update` again.", file=out)
        return
    verb = "updated to the course's new version" if state == "updated" else "would be updated"
    print(f"{chapter}: {verb}.", file=out)
    if merge_result.carried:
        print(f"  your answers, back in place: {_names(merge_result.carried)}", file=out)
    if merge_result.merged:
        print(f"  your answers, back in place with the course's new wording merged in: "
              f"{_names(merge_result.merged)}", file=out)
    others = []
    if merge_result.edits_carried:
        others.append(f"{merge_result.edits_carried} edited cell{'s' * (merge_result.edits_carried != 1)}")
    if merge_result.own_cells:
        others.append(f"{merge_result.own_cells} cell{'s' * (merge_result.own_cells != 1)} of your own")
    if others:
        print(f"  your other work, back in place: {' and '.join(others)}", file=out)
    if merge_result.new_exercises:
        print(f"  new exercises: {_names(merge_result.new_exercises)}", file=out)
    if merge_result.kept:
        print("  kept in the section \"Kept from your earlier versions\" at the end of the notebook:", file=out)
        for item in merge_result.kept:
            print(f"    - {item.label}: {item.reason}", file=out)
    if merge_result.kept_before:
        print(f"  still kept at the end from an earlier update: {merge_result.kept_before} cell"
              f"{'s' * (merge_result.kept_before != 1)}", file=out)
    if not (merge_result.carried or merge_result.merged or others or merge_result.kept):
        print("  (no answers of yours to carry over)", file=out)
    if result.backup is not None:
        print(f"  your previous file: {result.backup.relative_to(ws.path)}", file=out)
    if result.open is not None and state == "updated":
        print(f"  it is open in Jupyter ({result.open.server}): use File > Reload Notebook from Disk there, "
              "and do not save the old tab over the new version.", file=out)


def run(ws, chapters=None, *, dry_run=False, force=False, out=None, servers=None):
    """Update ``ws`` and print the report; returns the exit status (0 fine, 1 something left alone)."""
    out = out or sys.stdout
    print(f"Workspace: {ws.path}", file=out)
    print(f"Course:    {ws.course_root}", file=out)
    try:
        results = update(ws, chapters, dry_run=dry_run, force=force, servers=servers)
    except BlockingIOError:
        print("Another `lstm-course update` is running on this workspace; wait for it and try again.", file=out)
        return 1
    for result in results:
        if result.state != "up to date":
            describe(result, ws, out)
    current = [r.chapter for r in results if r.state == "up to date"]
    if current:
        print(f"Up to date: {', '.join(current)}", file=out)
    counts = defaultdict(int)
    for result in results:
        counts[result.state] += 1
    summary = [f"{n} {SUMMARY[state][n != 1]}" for state, n in counts.items() if state in SUMMARY]
    if dry_run:
        print(f"\nDry run: nothing was written. {'; '.join(summary) or 'Everything is up to date'}.", file=out)
    elif summary:
        print(f"\n{'; '.join(summary)}.", file=out)
        if counts["updated"]:
            print("Open the updated notebooks and run them from the top (Run > Run All Cells).", file=out)
    else:
        print("\nEverything is up to date.", file=out)
    return 1 if any(r.state in ("unreadable", "skipped", "no release") for r in results) else 0


#: How the summary line counts each outcome (singular, plural).
SUMMARY = {
    "updated": ("chapter updated", "chapters updated"),
    "would update": ("chapter would be updated", "chapters would be updated"),
    "new": ("new chapter copied in", "new chapters copied in"),
    "would add": ("new chapter would be copied in", "new chapters would be copied in"),
    "unreadable": ("notebook left alone because it cannot be read",
                   "notebooks left alone because they cannot be read"),
    "skipped": ("notebook left alone because it may have unsaved changes",
                "notebooks left alone because they may have unsaved changes"),
    "no release": ("chapter without a readable release", "chapters without a readable release"),
}


def cli_update(*, chapters, dry_run, force, workspace=None, course_dir=None, out=None):
    """The ``update`` command: find the course and the workspace, then :func:`run`."""
    out = out or sys.stdout
    from .lab import course_root

    root = course.find_root(course_dir) if course_dir else course_root()
    try:
        ws = wsp.open_workspace(root, workspace)
    except FileNotFoundError as exc:
        print(f"lstm-course update: {exc}", file=out)
        return 2
    ws.course_root = root
    known = course.chapters(root)
    unknown = sorted(set(chapters or ()) - set(known))
    if unknown:
        print(f"unknown chapter(s): {', '.join(unknown)}; known: {', '.join(known)}", file=out)
        return 2
    return run(ws, chapters or None, dry_run=dry_run, force=force, out=out)
