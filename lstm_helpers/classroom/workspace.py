"""The learner's workspace: their own copies of the chapters, which no course update overwrites.

The course's ``notebooks/`` folder belongs to the course (git tracks it, and a
``git pull`` changes it). A learner works in a workspace instead, by default
the git-ignored ``workspace/`` folder of the course checkout::

    workspace/
      02_rnn/02_rnn.ipynb            the learner's notebook, first a copy of the release
      backups/<date>/02_rnn.ipynb    the learner's file as it was before an update
      .lstm-course/
        workspace.json               which course this workspace belongs to
        releases/02_rnn/<digest>.ipynb
                                     every release a learner file started from

Each learner notebook records, in its notebook metadata (``lstm_course``), the
digest of the release it was copied from or last updated to, and that release
is kept under ``.lstm-course/releases/``. ``lstm-course update`` compares the
learner's file with it to tell the learner's edits from the course's changes
(see :mod:`lstm_helpers.classroom.update`).

Rules kept here:

* :func:`prepare` creates the workspace and copies every chapter the learner
  does not have yet; it never writes over an existing file;
* every file is written to a temporary file in the same folder and then
  renamed (:func:`write_atomic`), so a crash leaves the old file or the whole
  new one.

Where the workspace is: ``--workspace DIR`` (remembered in the course checkout,
in the git-ignored ``.lstm-course.json``), else ``$LSTM_COURSE_WORKSPACE``, else
the remembered folder, else ``<course>/workspace``.
"""

import contextlib
import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat

from .. import __version__
from . import course

log = logging.getLogger(__name__)

DEFAULT_FOLDER = "workspace"
ENV_VARIABLE = "LSTM_COURSE_WORKSPACE"
#: In the course checkout: the workspace folder the learner chose.
POINTER = ".lstm-course.json"
STATE_DIR = ".lstm-course"
STATE_FILE = "workspace.json"
RELEASES = "releases"
BACKUPS = "backups"
#: Notebook metadata key holding ``{"chapter", "release", "helpers"}``.
META_KEY = "lstm_course"
#: Temporary files end with this (never ``.ipynb``, so no tool mistakes one for a notebook).
TMP_SUFFIX = ".lstm-course-tmp"


class NotebookUnreadable(ValueError):
    """A notebook file that is not valid JSON or not a valid notebook."""


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------

def read_notebook(path):
    """The notebook at ``path`` as a plain dict, exactly as stored.

    Raises :class:`NotebookUnreadable` naming the problem (not JSON, not a
    notebook, invalid under the nbformat schema); ``OSError`` if it cannot be read.
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookUnreadable(f"not JSON ({exc})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list) or nb.get("nbformat") != 4:
        raise NotebookUnreadable("not a version-4 Jupyter notebook")
    try:
        nbformat.validate(nbformat.from_dict(json.loads(text)))
    except nbformat.ValidationError as exc:
        raise NotebookUnreadable(f"not a valid notebook ({str(exc).splitlines()[0]})") from None
    return nb


def notebook_text(nb):
    """``nb`` serialised the way Jupyter writes notebooks."""
    return nbformat.writes(nbformat.from_dict(nb), version=nbformat.NO_CONVERT) + "\n"


def _fsync_folder(folder):
    with contextlib.suppress(OSError):  # not every platform can open a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path, text, *, overwrite=True):
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename.

    After a crash at any moment ``path`` holds either its old content or all of
    ``text``; at worst a hidden ``.<name>.*.lstm-course-tmp`` file is left over
    (:func:`remove_leftovers` deletes those). An existing file keeps its
    permission bits. With ``overwrite=False`` an existing file, even one that
    appears while this runs, is never replaced: then the result is ``None``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if path exists
            except FileExistsError:
                return None
            except OSError:  # a file system without hard links
                if path.exists():
                    return None
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _fsync_folder(path.parent)
    return path


def remove_leftovers(folder):
    """Delete temporary files an interrupted write left in ``folder`` and its subfolders."""
    removed = []
    for leftover in Path(folder).rglob(f".*{TMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            leftover.unlink()
            removed.append(leftover)
    return removed


def source(cell):
    """A cell's source as one string (nbformat allows a list of lines)."""
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def release_digest(nb):
    """A short digest of a released notebook's content (cells and metadata, not formatting)."""
    metadata = {k: v for k, v in nb.get("metadata", {}).items() if k != META_KEY}
    cells = [{"cell_type": c.get("cell_type"), "id": c.get("id"), "source": source(c),
              "metadata": c.get("metadata", {})} for c in nb.get("cells", [])]
    canonical = json.dumps({"cells": cells, "metadata": metadata}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def record_of(nb):
    """The ``lstm_course`` record of a workspace notebook: ``{"chapter", "release", ...}`` or ``{}``."""
    record = nb.get("metadata", {}).get(META_KEY)
    return record if isinstance(record, dict) else {}


def stamped(nb, chapter, digest):
    """A copy of ``nb`` whose metadata records the release it was built from."""
    nb = json.loads(json.dumps(nb))
    nb.setdefault("metadata", {})[META_KEY] = {"chapter": chapter, "release": digest, "helpers": __version__}
    return nb


def timestamp(when=None):
    """``2025-06-01_14-03-22``: sorts by time and is a valid file name everywhere."""
    return (when or datetime.now()).strftime("%Y-%m-%d_%H-%M-%S")


# ---------------------------------------------------------------------------
# Where the workspace is
# ---------------------------------------------------------------------------

def _pointer(root):
    return Path(root) / POINTER


def remembered(root):
    """The folder remembered in the course checkout, or ``None``."""
    try:
        data = json.loads(_pointer(root).read_text())
        return Path(data["workspace"]).expanduser() if data.get("workspace") else None
    except (OSError, ValueError, TypeError, KeyError):
        return None


def remember(root, folder):
    """Remember ``folder`` as the workspace of the course at ``root``; ``False`` if the checkout is read-only."""
    try:
        write_atomic(_pointer(root), json.dumps({"workspace": str(Path(folder).resolve())}, indent=2) + "\n")
        return True
    except OSError:
        return False


def locate(root=None, chosen=None, env=None):
    """The workspace folder (it may not exist yet).

    ``chosen`` (the ``--workspace`` option) wins, then ``$LSTM_COURSE_WORKSPACE``,
    then the folder remembered in the course checkout at ``root``, then
    ``root/workspace``. Raises ``FileNotFoundError`` if none applies.
    """
    env = os.environ if env is None else env
    if chosen:
        return Path(chosen).expanduser().resolve()
    if env.get(ENV_VARIABLE):
        return Path(env[ENV_VARIABLE]).expanduser().resolve()
    if root is None:
        raise FileNotFoundError(f"no workspace: give --workspace DIR, set {ENV_VARIABLE}, "
                                "or run this from the course checkout")
    return (remembered(root) or Path(root) / DEFAULT_FOLDER).resolve()


# ---------------------------------------------------------------------------
# The workspace
# ---------------------------------------------------------------------------

@dataclass
class Workspace:
    """A learner's workspace folder and the course it belongs to."""

    path: Path
    course_root: Path | None = None

    def __post_init__(self):
        self.path = Path(self.path)
        self.course_root = Path(self.course_root) if self.course_root is not None else None

    @property
    def state_dir(self):
        return self.path / STATE_DIR

    @property
    def state_file(self):
        return self.state_dir / STATE_FILE

    def exists(self):
        return self.state_file.is_file()

    def notebook(self, chapter):
        """The learner's notebook of ``chapter``: ``<workspace>/<chapter>/<chapter>.ipynb``."""
        return self.path / chapter / f"{chapter}.ipynb"

    def release_copy(self, chapter, digest):
        return self.state_dir / RELEASES / chapter / f"{digest}.ipynb"

    def chapters(self):
        """The chapters that have a notebook in the workspace, in course order."""
        return sorted(p.name for p in self.path.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and (p / f"{p.name}.ipynb").is_file())

    def state(self):
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def recorded_course(self):
        """The course folder recorded when the workspace was made, if it is still a course folder."""
        recorded = self.state().get("course")
        if recorded and (Path(recorded) / course.SOURCE).is_dir():
            return Path(recorded)
        return None

    def keep_release(self, chapter, nb):
        """Store the released notebook ``nb`` (once per digest); returns its digest."""
        digest = release_digest(nb)
        target = self.release_copy(chapter, digest)
        if not target.is_file():
            write_atomic(target, notebook_text(nb))
        return digest

    def release_of(self, chapter, learner_nb):
        """``(digest, released notebook)`` the learner's notebook started from; either may be ``None``."""
        digest = record_of(learner_nb).get("release")
        if not digest:
            return None, None
        try:
            return digest, read_notebook(self.release_copy(chapter, digest))
        except (OSError, NotebookUnreadable):
            return digest, None

    def backup_folder(self, when=None):
        """A new, empty ``backups/<date>/`` folder (a suffix keeps two in one second apart)."""
        base = self.path / BACKUPS / timestamp(when)
        folder, n = base, 1
        while folder.exists():
            n += 1
            folder = base.with_name(f"{base.name}-{n}")
        folder.mkdir(parents=True)
        return folder

    @contextlib.contextmanager
    def lock(self):
        """Hold the workspace's lock file; ``BlockingIOError`` if another process holds it."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; updates there are not run twice at once
            yield
            return
        with open(self.state_dir / "lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def open_workspace(root=None, chosen=None, env=None):
    """The existing workspace for the course at ``root`` (see :func:`locate`); ``FileNotFoundError`` if none."""
    folder = locate(root, chosen, env)
    ws = Workspace(folder, root)
    if not ws.exists():
        raise FileNotFoundError(f"no workspace at {folder} yet: `lstm-course lab` makes it on its first launch")
    if ws.course_root is None:
        ws.course_root = ws.recorded_course()
    return ws


@dataclass
class ChapterStatus:
    chapter: str
    state: str  # "new", "up to date", "changed", "unreadable", "no release"
    detail: str = ""


@dataclass
class Prepared:
    """What :func:`prepare` did and found."""

    workspace: Workspace
    created: bool = False
    added: list = field(default_factory=list)
    statuses: list = field(default_factory=list)

    def changed(self):
        return [s.chapter for s in self.statuses if s.state == "changed"]

    def unreadable(self):
        return [s for s in self.statuses if s.state == "unreadable"]


def chapter_status(ws, chapter):
    """Compare the learner's notebook of ``chapter`` with the course's current release."""
    release_path = course.release_notebook(ws.course_root, chapter)
    try:
        release = read_notebook(release_path)
    except (OSError, NotebookUnreadable) as exc:
        return ChapterStatus(chapter, "no release", f"{release_path}: {exc}")
    mine = ws.notebook(chapter)
    if not mine.is_file():
        return ChapterStatus(chapter, "new")
    try:
        learner = read_notebook(mine)
    except (OSError, NotebookUnreadable) as exc:
        return ChapterStatus(chapter, "unreadable", str(exc))
    if record_of(learner).get("release") == release_digest(release):
        return ChapterStatus(chapter, "up to date")
    return ChapterStatus(chapter, "changed")


def copy_chapter(ws, chapter):
    """Copy ``chapter``'s release into the workspace; files already there are left alone.

    Returns the learner notebook's path, or ``None`` if it already existed.
    """
    release_folder = course.release_notebook(ws.course_root, chapter).parent
    release = read_notebook(course.release_notebook(ws.course_root, chapter))
    digest = ws.keep_release(chapter, release)
    target = ws.notebook(chapter)
    target.parent.mkdir(parents=True, exist_ok=True)
    for item in sorted(release_folder.rglob("*")):
        relative = item.relative_to(release_folder)
        if item.is_dir() or any(part.startswith(".") for part in relative.parts) or item.name == target.name:
            continue
        destination = target.parent / relative
        if not destination.exists():
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(item, destination)
    if target.exists():
        return None
    return write_atomic(target, notebook_text(stamped(release, chapter, digest)), overwrite=False)


def prepare(course_root, folder):
    """Make sure the workspace at ``folder`` exists and has every chapter of the course.

    Creates the folder on first use, copies the release of each chapter the
    workspace has no notebook for (new chapters, or one the learner deleted),
    and reports which chapters have a newer release than the learner's copy.
    Existing files are never written over.
    """
    course_root = Path(course_root).resolve()
    ws = Workspace(Path(folder).resolve(), course_root)
    result = Prepared(ws, created=not ws.exists())
    ws.path.mkdir(parents=True, exist_ok=True)
    state = ws.state()
    if result.created or state.get("course") != str(course_root):
        state = {"format": 1, "course": str(course_root), "created": state.get("created") or timestamp(),
                 "helpers": __version__}
        write_atomic(ws.state_file, json.dumps(state, indent=2) + "\n")
    for chapter in course.chapters(course_root):
        status = chapter_status(ws, chapter)
        if status.state == "new":
            if copy_chapter(ws, chapter) is not None:
                result.added.append(chapter)
            status = ChapterStatus(chapter, "up to date")
        result.statuses.append(status)
    return result
