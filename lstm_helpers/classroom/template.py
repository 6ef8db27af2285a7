"""The grading template: what every student's private course folder starts from.

``nbgrader generate_assignment`` runs once for every chapter into a template
folder with its own gradebook; the folder also keeps a copy of the source
notebooks (so the test plan and the gradebook always agree), the test plan
of every chapter (which exercise each graded test cell checks, see
:func:`lstm_helpers.classroom.verdicts.test_plan`), and, for the sandbox,
one build of the package per chapter without that chapter's references. It is
cached under ``.nbgrader/grading-templates/<key>`` (or the system's temporary
folder when the course is read-only) and rebuilt when the sources, the
configuration, nbgrader or the package change.
"""

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from . import course, pool, sandbox, verdicts

log = logging.getLogger("lstm_helpers.classroom.template")


def _key(root, chapters):
    from importlib.metadata import version

    digest = hashlib.sha256()
    digest.update(version("nbgrader").encode())
    digest.update(sandbox.package_digest().encode())
    config = Path(root) / "nbgrader_config.py"
    if config.is_file():
        digest.update(config.read_bytes())
    for chapter in chapters:
        folder = Path(root) / course.SOURCE / chapter
        for path in sorted(folder.rglob("*")):
            if path.is_file() and ".ipynb_checkpoints" not in path.parts and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(folder)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def read_notebook(path):
    import nbformat

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nbformat.read(str(path), as_version=4)


@dataclass
class Template:
    """The release notebooks, gradebook, test plans and sandbox packages of every chapter."""

    root: Path
    course_root: Path
    chapters: list
    errors: dict
    _cache: dict = field(default_factory=dict, repr=False)

    def release_path(self, chapter):
        return self.root / "release" / chapter / f"{chapter}.ipynb"

    def release(self, chapter):
        if ("release", chapter) not in self._cache:
            self._cache[("release", chapter)] = read_notebook(self.release_path(chapter))
        return self._cache[("release", chapter)]

    def ids(self, chapter):
        return {c.metadata["nbgrader"]["grade_id"] for c in self.release(chapter).cells
                if "grade_id" in c.metadata.get("nbgrader", {})}

    def tests(self, chapter):
        """``[(grade_id, points)]`` of the graded cells (tests and manually graded answers), in order."""
        out = []
        for cell in self.release(chapter).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                out.append((meta["grade_id"], float(meta.get("points", 0))))
        return out

    def plan(self, chapter):
        """``{grade_id: [Call]}``: what each graded test cell of ``chapter`` checks."""
        if ("plan", chapter) not in self._cache:
            source = read_notebook(self.root / "source" / chapter / f"{chapter}.ipynb")
            self._cache[("plan", chapter)] = verdicts.test_plan(source)
        return self._cache[("plan", chapter)]

    def package(self, chapter):
        """The folder holding this chapter's sandbox build of ``lstm_helpers``."""
        return self.root / "packages" / chapter

    def usable(self, chapter):
        return chapter not in self.errors and self.release_path(chapter).is_file()


def _writable_base(course_root, cache_dir):
    candidates = [Path(cache_dir)] if cache_dir else [Path(course_root) / ".nbgrader" / "grading-templates",
                                                      Path(tempfile.gettempdir()) / "lstm-course-templates"]
    for base in candidates:
        try:
            base.mkdir(parents=True, exist_ok=True)
            probe = base / f".probe-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
            return base
        except OSError:
            continue
    raise OSError(f"no writable folder for the grading template among {', '.join(map(str, candidates))}")


def ensure_template(course_root, cache_dir=None):
    """Build (or reuse) the template for every chapter of the course at ``course_root``."""
    course_root = Path(course_root).resolve()
    chapters = course.chapters(course_root)
    key = _key(course_root, chapters)
    base = _writable_base(course_root, cache_dir)
    final = base / key
    if (final / "done.json").is_file():
        info = json.loads((final / "done.json").read_text())
        return Template(final, course_root, chapters, info.get("errors", {}))
    building = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=base))
    try:
        errors = _build(course_root, building, chapters)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    (building / "done.json").write_text(json.dumps({"chapters": chapters, "errors": errors}))
    try:
        building.rename(final)
    except OSError:  # built concurrently by another run: use theirs
        shutil.rmtree(building, ignore_errors=True)
        if not (final / "done.json").is_file():
            raise
    _prune(base, keep=final)
    info = json.loads((final / "done.json").read_text())
    return Template(final, course_root, chapters, info.get("errors", {}))


def _build(course_root, folder, chapters):
    """Fill ``folder``; returns ``{chapter: error}`` for chapters that cannot be graded."""
    shutil.copytree(course_root / course.SOURCE, folder / "source",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    reply, error = pool.run_worker({"kind": "template", "course": str(course_root), "dir": str(folder),
                                    "chapters": chapters}, timeout=900, log_path=folder / "template.log")
    problems = (reply or {}).get("errors", [])
    if reply is None or not (folder / "gradebook.db").is_file():
        text = error or (folder / "template.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"could not build the grading template with nbgrader:\n{text}")
    errors = {}
    for chapter in chapters:
        if not (folder / "release" / chapter / f"{chapter}.ipynb").is_file():
            errors[chapter] = "nbgrader generate_assignment failed for this chapter's source"
            continue
        try:
            verdicts.test_plan(read_notebook(folder / "source" / chapter / f"{chapter}.ipynb"))
            sandbox.build_package(folder / "packages" / chapter, sandbox.blocked_references(chapter))
        except (verdicts.PlanError, ValueError) as exc:
            errors[chapter] = str(exc)
    if len(errors) == len(chapters):
        raise RuntimeError("could not build the grading template:\n" + "\n".join(problems or errors.values()))
    for chapter, text in errors.items():
        log.warning("cannot grade %s: %s", chapter, text)
    return errors


def _prune(base, keep, newest=4, min_age=3600):
    """Delete templates of older sources: all but the ``newest`` few, and none younger than an hour."""
    import time

    done = sorted((p for p in base.iterdir() if (p / "done.json").is_file() and p != keep),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    for old in done[newest:]:
        if time.time() - old.stat().st_mtime > min_age:
            shutil.rmtree(old, ignore_errors=True)
