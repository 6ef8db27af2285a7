"""The mutant catalogue (tests/mutants/*.yaml) through the real nbgrader autograde.

Mutants become the students of one class whose notebooks hold the
solutions except for mutated answer cells; the class is graded once with
``lstm-course grade --jobs 2``. To keep this fast, one notebook carries
several mutants when their exercises cannot see each other (no exercise's
function calls, even indirectly, another mutated one in the same notebook),
so each test cell still judges exactly one mutant. Every mutant must lose
points on its exercise (kill rate 100 %), and a mutant with a ``hint`` must
fail the visible check with a message containing it. The kill and hint
rates are printed.
"""

import ast
import time
from pathlib import Path

import pytest
import yaml

from grader_fixtures import (chapters, exercises, make_submission, read_csv, run_cli, solution_sources, worker_tests,
                             write_notebook)

pytestmark = pytest.mark.slow

CATALOGUE = Path(__file__).parent / "mutants"


def load_catalogue():
    mutants = []
    for path in sorted(CATALOGUE.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        assert data.get("chapter") == path.stem, f"{path.name}: 'chapter' must be {path.stem!r}"
        for mutant in data.get("mutants", []):
            mutant = dict(mutant, chapter=path.stem, file=path.name)
            mutant.setdefault("test", f"test_{mutant['exercise']}")
            mutants.append(mutant)
    return mutants


def mutant_source(mutant):
    if "source" in mutant:
        return mutant["source"]
    source = solution_sources(mutant["chapter"])[mutant["exercise"]]
    for old, new in mutant["replace"]:
        assert old in source, f"{mutant['file']}: {mutant['id']}: {old!r} is not in the solution of {mutant['exercise']}"
        source = source.replace(old, new)
    return source


def test_catalogue_is_well_formed_and_covers_every_exercise():
    mutants = load_catalogue()
    ids = [m["id"] for m in mutants]
    assert len(ids) == len(set(ids)), "mutant ids must be unique"
    present = chapters()
    for mutant in mutants:
        assert mutant["chapter"] in present, f"{mutant['file']}: no chapter {mutant['chapter']} in solutions/"
        assert ("source" in mutant) != ("replace" in mutant), f"{mutant['id']}: give either source or replace"
        answer_ids = {a for a, _, _ in exercises(mutant["chapter"])}
        assert mutant["exercise"] in answer_ids, f"{mutant['id']}: no answer cell {mutant['exercise']}"
        assert mutant_source(mutant) != solution_sources(mutant["chapter"])[mutant["exercise"]]
    covered = {(m["chapter"], m["test"]) for m in mutants}
    missing = [f"{chapter}/{test}" for chapter in present for _, test, _ in exercises(chapter)
               if (chapter, test) not in covered]
    assert not missing, ("exercises without a mutant (add them to tests/mutants/<chapter>.yaml): "
                         + ", ".join(missing))


def _called(source, names):
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in names}


def _dependencies(chapter):
    """``{exercise: every other exercise its solution calls, directly or not}``."""
    solutions = solution_sources(chapter)
    direct = {name: _called(source, set(solutions)) - {name} for name, source in solutions.items()}
    closed = {}
    for name in direct:
        seen, todo = set(), list(direct[name])
        while todo:
            other = todo.pop()
            if other not in seen:
                seen.add(other)
                todo.extend(direct.get(other, ()))
        closed[name] = seen
    return closed


def pack_mutants(mutants):
    """Group mutants into notebooks: ``[(chapter, [mutant, ...])]``, one mutant per exercise per
    notebook, and no mutant whose exercise depends on another one in the same notebook."""
    packs = []
    deps = {}
    for mutant in mutants:
        chapter = mutant["chapter"]
        if chapter not in deps:
            deps[chapter] = _dependencies(chapter)
        own = deps[chapter][mutant["exercise"]] | (_called(mutant_source(mutant), set(deps[chapter]))
                                                   - {mutant["exercise"]})
        mutant["_uses"] = own
        for pack_chapter, pack in packs:
            if pack_chapter != chapter:
                continue
            exercises_in = {m["exercise"] for m in pack}
            if mutant["exercise"] in exercises_in or own & exercises_in:
                continue
            if any(mutant["exercise"] in m["_uses"] for m in pack):
                continue
            pack.append(mutant)
            break
        else:
            packs.append((chapter, [mutant]))
    return packs


@pytest.fixture(scope="module")
def graded_mutants(tmp_path_factory):
    base = tmp_path_factory.mktemp("mutants")
    mutants = [m for m in load_catalogue() if m["chapter"] in chapters()]
    student_of = {}
    for number, (chapter, pack) in enumerate(pack_mutants(mutants)):
        student = f"pack{number:02d}"
        nb = make_submission(chapter, {m["exercise"]: mutant_source(m) for m in pack})
        write_notebook(nb, base / "submitted" / student / chapter / f"{chapter}.ipynb")
        for mutant in pack:
            student_of[mutant["id"]] = student
    started = time.monotonic()
    result = run_cli("grade", base / "submitted", "--jobs", 2, "--no-feedback", "--out", base / "grades.csv",
                     "--work", base / "work", "--cell-timeout", 20, "--notebook-timeout", 240, timeout=1200)
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {row["student"]: row for row in read_csv(base / "grades.csv")}
    raw = {}
    for mutant in mutants:
        student = student_of[mutant["id"]]
        raw[mutant["id"]] = worker_tests(base / "work", student, mutant["chapter"])
    rows = {m["id"]: rows[student_of[m["id"]]] for m in mutants}
    return {"mutants": mutants, "rows": rows, "raw": raw, "seconds": seconds,
            "notebooks": len(set(student_of.values()))}


def test_every_mutant_is_killed_and_most_are_named(graded_mutants):
    mutants, rows, raw = graded_mutants["mutants"], graded_mutants["rows"], graded_mutants["raw"]
    points = {(c, t): p for c in chapters() for _, t, p in exercises(c)}
    survivors, unnamed, named, report = [], [], 0, []
    for mutant in mutants:
        column = f"{mutant['chapter']}/{mutant['test']}"
        score = float(rows[mutant["id"]][column])
        test = raw[mutant["id"]][mutant["test"]]
        killed = score < points[(mutant["chapter"], mutant["test"])]
        visible_message = "" if test["visible_passed"] else test["message"]
        hint = mutant.get("hint")
        hinted = bool(hint) and hint.lower() in visible_message.lower()
        named += hinted
        if not killed:
            survivors.append(mutant["id"])
        if hint and not hinted:
            unnamed.append(f"{mutant['id']}: expected {hint!r} in {visible_message!r}")
        report.append(f"  {'killed' if killed else 'SURVIVED':8} {'named ' if hinted else '      '} "
                      f"{mutant['id']:<34} {test['message'][:90]}")
    total = len(mutants)
    kill_rate, hint_rate = (total - len(survivors)) / total, named / total
    print(f"\nmutants: {total} in {graded_mutants['notebooks']} notebooks, graded in "
          f"{graded_mutants['seconds']:.0f} s")
    print("\n".join(report))
    print(f"kill rate {kill_rate:.0%} ({total - len(survivors)}/{total}), "
          f"hint rate {hint_rate:.0%} ({named}/{total})")
    assert not survivors, f"mutants that kept all their points: {survivors}"
    assert kill_rate == 1.0
    assert not unnamed, "visible checks that did not name the mistake:\n" + "\n".join(unnamed)
    assert hint_rate > 0.5, "most mutants should be named by the visible check"
