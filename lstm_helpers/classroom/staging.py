"""Staging: each returned notebook is read, identified and repaired before nbgrader sees it.

Not JSON, or the notebook of another chapter, gives a status and 0 points for
that chapter (nbgrader itself would crash on the latter). Answer cells and
the setup cell the learner deleted are put back from the release, and the
nbgrader metadata of every locked cell is reset to the release's, so nbgrader
restores edited test cells and re-adds deleted ones
(``OverwriteCells.add_missing_cells``) and never leaves a cell waiting for
manual grading that should not. Each student then gets a private course
folder: a copy of the template's gradebook, the staged notebooks in
``submitted/``, and the source notebooks from the template.
"""

import json
import shutil
import warnings
from pathlib import Path

from .results import ChapterResult
from .tamper import scan_notebook

#: Files of a submission folder that nbgrader's exchange writes and the grader keeps:
#: timestamp.txt (late penalties) and submission_secret.txt (nbgrader release_feedback needs it).
EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")


def read_submission(path):
    """The notebook at ``path``, or raise ValueError saying why it cannot be read."""
    import nbformat

    raw = Path(path).read_bytes()
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a valid notebook file (not JSON: {exc})") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise ValueError("not a valid notebook file (JSON, but no cells)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nbformat.reads(json.dumps(data), as_version=4)
    except Exception as exc:
        raise ValueError(f"not a valid notebook file ({type(exc).__name__}: {exc})") from None


def identify_chapter(nb, template):
    """The chapter whose release shares the most grade ids with ``nb`` (None if none)."""
    ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells} - {None}
    best, best_overlap = None, 0
    for chapter in template.chapters:
        if not template.usable(chapter):
            continue
        overlap = len(ids & (template.ids(chapter) - {"setup"}))
        if overlap > best_overlap:
            best, best_overlap = chapter, overlap
    return best


def repair_notebook(nb, release):
    """Put back deleted answer/setup cells and reset locked cells' nbgrader metadata.

    Deleted test cells are left for nbgrader (``OverwriteCells.add_missing_cells``)
    to restore. Returns notes for the status.
    """
    import copy

    notes = []
    positions = {}
    for index, cell in enumerate(nb.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None and grade_id not in positions:
            positions[grade_id] = index
    last = -1
    inserted = 0
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if grade_id is None:
            continue
        if grade_id in positions:
            target = nb.cells[positions[grade_id] + 0]
            if meta.get("locked") or meta.get("grade") or meta.get("solution"):
                target.metadata["nbgrader"] = copy.deepcopy(meta)
            if target.cell_type != cell.cell_type:
                notes.append(f"cell {grade_id} had its type changed; restored")
            last = positions[grade_id]
            continue
        if meta.get("grade") and not meta.get("solution"):
            notes.append(f"test cell {grade_id} was deleted; nbgrader restored it")
            continue
        restored = copy.deepcopy(cell)
        nb.cells.insert(last + 1, restored)
        positions = {k: (v + 1 if v > last else v) for k, v in positions.items()}
        positions[grade_id] = last + 1
        last += 1
        inserted += 1
        what = "answer cell" if meta.get("solution") else "cell"
        notes.append(f"{what} {grade_id} was deleted; put back empty")
    return notes


def mark_learner_text(nb, release):
    """Mark markdown and raw cells that are not the course's, so the feedback cleans their HTML."""
    from .nbgrader_plugins import LEARNER_CELL

    course_text = {cell.source for cell in release.cells if cell.cell_type in ("markdown", "raw")}
    for cell in nb.cells:
        if cell.cell_type in ("markdown", "raw") and cell.source not in course_text:
            cell.metadata[LEARNER_CELL] = True


def stage_student(template, slug, folder, entries):
    """Make the private course folder of one student; ``{chapter: ChapterResult}`` (state "staged" to grade)."""
    import nbformat

    folder.mkdir(parents=True)
    (folder / "source").symlink_to(template.root / "source", target_is_directory=True)
    shutil.copyfile(template.root / "gradebook.db", folder / "gradebook.db")
    results = {}
    for entry in entries:
        chapter = entry.chapter
        result = ChapterResult(chapter=chapter, source=str(entry.path or ""))
        if entry.note:
            result.notes.append(entry.note)
        results[chapter] = result
        if entry.path is None:
            result.state = "missing"
            continue
        try:
            nb = read_submission(entry.path)
        except (OSError, ValueError) as exc:
            result.state = "invalid"
            result.notes.append(str(exc))
            continue
        found = identify_chapter(nb, template)
        if chapter not in template.chapters:
            if found and not chapter:
                result.chapter = chapter = found
                results.pop("", None)
                results[chapter] = result
                result.notes.append(f"identified as {found} by its cells")
            else:
                result.state = "invalid"
                result.notes.append(f"{chapter or entry.path.name} is not a chapter of this course"
                                    + (f" (its cells are those of {found})" if found else ""))
                continue
        if not template.usable(chapter):
            result.state = "error"
            result.notes.append(f"cannot grade {chapter}: {template.errors.get(chapter, 'no release')}")
            continue
        if found != chapter:
            result.state = "wrong assignment"
            result.notes.append(f"wrong notebook: this is the notebook of {found}" if found
                                else "wrong notebook: it has none of this chapter's exercise cells")
            continue
        release = template.release(chapter)
        result.notes.extend(repair_notebook(nb, release))
        mark_learner_text(nb, release)
        result.review = scan_notebook(nb, release)
        target = folder / "submitted" / slug / chapter
        target.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.write(nb, str(target / f"{chapter}.ipynb"))
        if entry.path.parent.name == chapter:
            for name in EXCHANGE_FILES:
                if (entry.path.parent / name).is_file():
                    shutil.copyfile(entry.path.parent / name, target / name)
        result.state = "staged"
    return results
