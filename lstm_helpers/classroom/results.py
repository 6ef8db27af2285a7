"""What grading found: one result per test, per chapter, per student, and the class's CSV."""

import csv
from dataclasses import dataclass, field
from pathlib import Path

STATUS_OK = "ok"


def join_names(items):
    """``"a"``, ``"a and b"``, ``"a, b and c"`` (duplicates dropped, order kept)."""
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def fmt(value):
    """A score as the CSV shows it: ``7``, ``2.5``."""
    value = float(value)
    return str(int(value)) if value == int(value) else f"{value:.4g}"


def points(value):
    """``"1 point"``, ``"2 points"``, ``"1.5 points"``."""
    return f"{fmt(value)} {'point' if float(value) == 1 else 'points'}"


@dataclass
class Test:
    """One graded cell of one student: a test cell, or a manually graded answer."""

    grade_id: str
    max: float
    score: float = 0.0
    outcome: str = "not graded"
    message: str = ""
    manual: bool = False

    @property
    def exercise(self):
        return self.grade_id[len("test_"):] if self.grade_id.startswith("test_") else self.grade_id


@dataclass
class ChapterResult:
    """One chapter of one student: its tests, and what went wrong if anything.

    ``state``: missing, invalid, wrong assignment, staged, graded or error.
    ``review``: things in the learner's code an instructor may want to look at
    (the tamper scan); they never change the score. ``isolated``: graded in a
    sandbox.
    """

    chapter: str
    state: str = "missing"
    tests: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    review: list = field(default_factory=list)
    source: str = ""
    feedback: str = ""
    seconds: float = 0.0
    isolated: bool = True

    @property
    def score(self):
        return sum(min(max(t.score, 0.0), t.max) for t in self.tests)

    @property
    def max(self):
        return sum(t.max for t in self.tests)

    @property
    def not_attempted(self):
        auto = [t for t in self.tests if not t.manual]
        return self.state == "graded" and bool(auto) and all(t.outcome == "not attempted" for t in self.tests)

    @property
    def awaiting_manual(self):
        return [t for t in self.tests if t.manual and t.outcome == "awaiting manual grading"]

    def status(self):
        """Short text for the CSV; "" when nothing needs saying."""
        parts = []
        if self.not_attempted:
            parts.append("not attempted")
        parts += self.notes
        waiting = self.awaiting_manual
        if waiting:
            parts.append(f"awaiting manual grading: {join_names([t.grade_id for t in waiting])} "
                         f"({points(sum(t.max for t in waiting))} not yet counted)")
        if self.review:
            parts.append("for review: " + "; ".join(self.review[:3])
                         + (f" (+{len(self.review) - 3} more)" if len(self.review) > 3 else ""))
        if self.state == "graded" and not self.isolated:
            parts.append("graded without isolation (--no-sandbox)")
        return "; ".join(parts)


@dataclass
class StudentResult:
    student: str
    chapters: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    @property
    def total(self):
        return sum(c.score for c in self.chapters.values())

    def status(self):
        parts = list(self.notes)
        for name, result in self.chapters.items():
            text = result.status()
            if text:
                parts.append(f"{name}: {text}")
        return "; ".join(parts) if parts else STATUS_OK


@dataclass
class ClassResult:
    """Every student's results; ``template`` knows each chapter's graded cells and points."""

    chapters: list
    students: list
    template: object
    seconds: float = 0.0
    csv_path: str = ""
    feedback_dir: str = ""

    def _tests(self, chapter):
        return self.template.tests(chapter) if self.template.usable(chapter) else []

    def columns(self):
        return [f"{chapter}/{grade_id}" for chapter in self.chapters for grade_id, _ in self._tests(chapter)]

    def max_points(self):
        out = {}
        for chapter in self.chapters:
            tests = self._tests(chapter)
            for grade_id, worth in tests:
                out[f"{chapter}/{grade_id}"] = worth
            out[chapter] = sum(p for _, p in tests)
        out["total"] = sum(out[c] for c in self.chapters)
        return out

    def rows(self):
        """One dict per student: exercise columns, chapter columns, total, status."""
        rows = []
        for student in self.students:
            row = {"student": student.student}
            for chapter in self.chapters:
                result = student.chapters.get(chapter)
                tests = {t.grade_id: t for t in (result.tests if result else [])}
                for grade_id, worth in self._tests(chapter):
                    test = tests.get(grade_id)
                    row[f"{chapter}/{grade_id}"] = fmt(min(max(test.score, 0.0), worth) if test else 0.0)
                row[chapter] = fmt(result.score if result else 0.0)
            row["total"] = fmt(sum(c.score for c in student.chapters.values() if c.chapter in self.chapters))
            row["status"] = student.status()
            rows.append(row)
        return rows

    def write_csv(self, path):
        fields = ["student"] + self.columns() + list(self.chapters) + ["total", "status"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            for row in self.rows():
                writer.writerow(row)
        self.csv_path = str(path)
        return path
