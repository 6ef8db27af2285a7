"""Finding the submissions: which notebook is whose, and of which chapter.

Accepted layouts:

* nbgrader's ``submitted/<student>/<chapter>/<chapter>.ipynb`` (a single
  notebook of another name in the chapter folder is used, with a note);
* ``<student>/<chapter>.ipynb``;
* a flat folder of ``.ipynb`` files whose names hold the chapter name and the
  student id: ``<student>_<chapter>.ipynb``, ``<chapter>_<student>.ipynb``,
  or the same with ``-``, ``.`` or a space as separator; copy suffixes such as
  `` (1)`` or ``-Copy1`` are ignored. A file whose name names no chapter is
  identified later by its cells, and its whole name becomes the student id.
"""

import re
from dataclasses import dataclass
from pathlib import Path


_COPY_SUFFIX = re.compile(r"(\s*\(\d+\)|[-_ ]?copy\d*)$", re.IGNORECASE)
_SEP = "_-. "


def parse_flat_name(stem, chapters):
    """``(student, chapter)`` from a file name such as ``alice_02_rnn``; chapter None if none is named."""
    stem = _COPY_SUFFIX.sub("", stem).strip()
    for chapter in sorted(chapters, key=len, reverse=True):
        pattern = re.compile(rf"(^|[{re.escape(_SEP)}]){re.escape(chapter)}($|[{re.escape(_SEP)}])", re.IGNORECASE)
        match = pattern.search(stem)
        if match:
            student = (stem[: match.start()] + " " + stem[match.end():]).strip(_SEP + " ")
            student = re.sub(r"\s+", " ", student)
            return student, chapter
    return stem, None


@dataclass
class Entry:
    student: str
    chapter: str  # a chapter name, or the folder/file name when it is not one
    path: Path
    note: str = ""


def discover_submissions(folder, chapters):
    """Every ``(student, chapter, file)`` in ``folder``; see the module docstring for the layouts."""
    folder = Path(folder)
    entries = []

    def notebooks_in(directory):
        return sorted(p for p in directory.glob("*.ipynb") if p.is_file() and not p.name.startswith("."))

    def add_flat(path, student_hint=None):
        student, chapter = parse_flat_name(path.stem, chapters)
        if student_hint is not None:
            student, chapter = student_hint, (chapter or path.stem)
        if chapter is None:
            entries.append(Entry(student, "", path, "its file name names no chapter"))
        else:
            entries.append(Entry(student or path.stem, chapter, path))

    if folder.is_file():
        add_flat(folder)
        return entries
    for child in sorted(folder.iterdir()):
        if child.name.startswith(".") or child.name == "__pycache__":
            continue
        if child.is_file() and child.suffix == ".ipynb":
            add_flat(child)
        elif child.is_dir():
            student = child.name
            subdirs = [d for d in sorted(child.iterdir()) if d.is_dir() and not d.name.startswith(".")]
            for sub in subdirs:  # nbgrader: submitted/<student>/<assignment>/
                found = notebooks_in(sub)
                if not found:
                    entries.append(Entry(student, sub.name, None, "the folder holds no notebook"))
                    continue
                exact = [p for p in found if p.stem == sub.name]
                chosen = exact[0] if exact else max(found, key=lambda p: p.stat().st_mtime)
                note = "" if exact else f"graded {chosen.name}, the chapter's notebook was not found by its name"
                entries.append(Entry(student, sub.name, chosen, note))
            for path in notebooks_in(child):  # <student>/<chapter>.ipynb
                _, chapter = parse_flat_name(path.stem, chapters)
                entries.append(Entry(student, chapter or "", path,
                                     "" if chapter else "its file name names no chapter"))
    return entries


def plan_students(entries):
    """Group entries by student: ``{student: [Entry]}``; newest file wins per chapter."""
    by_student = {}
    for entry in entries:
        by_student.setdefault(entry.student, []).append(entry)
    for student, items in by_student.items():
        chosen = {}
        for entry in items:
            key = entry.chapter
            if key in chosen and entry.path is not None and chosen[key].path is not None:
                newer = max([entry, chosen[key]], key=lambda e: e.path.stat().st_mtime)
                chosen[key] = newer
                newer.note = (newer.note + "; " if newer.note else "") + \
                    f"several files for {key or 'this'}; graded the newest, {newer.path.name}"
            elif key not in chosen:
                chosen[key] = entry
        by_student[student] = list(chosen.values())
    return by_student
