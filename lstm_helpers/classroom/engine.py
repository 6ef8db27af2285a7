"""Grade a class, or one learner, through nbgrader: ``lstm-course grade`` and ``lstm-course check``.

One engine serves both commands, so a learner's ``check`` and the
instructor's ``grade`` give the same points for the same notebook.

How a class is graded
=====================
1. **Template.** ``nbgrader generate_assignment`` runs once for every chapter
   into a template course folder with its own gradebook (cached under
   ``.nbgrader/grading-templates/`` and rebuilt when ``solutions/`` changes).
2. **Staging.** Every returned notebook is read and checked before nbgrader
   sees it: not JSON, or the notebook of another chapter, gives a status and
   0 points for that chapter (nbgrader itself would crash on the latter).
   Answer cells and the setup cell the learner deleted are put back from the
   release, and the nbgrader metadata of every locked cell is reset to the
   release's, so nbgrader restores edited test cells and re-adds deleted ones
   (``OverwriteCells.add_missing_cells``) and never leaves a cell waiting
   for manual grading. The answer cells are then scanned for tampering
   (below).
3. **Private course folders.** Each student gets a folder of their own with a
   copy of the template gradebook, and a worker process runs nbgrader's
   ``Autograde`` and ``GenerateFeedback`` in it. ``--jobs N`` workers run side
   by side; since no two of them share a SQLite file, no grade can be lost to
   "database is locked". Only this process writes the merged results: the
   CSV, the feedback folder and, with ``--gradebook``, the course gradebook.
4. **Faults.** Inside nbgrader, :class:`~lstm_helpers.classroom.nbgrader_plugins.GuardedExecute`
   enforces the per-cell timeout (``c.Execute.timeout``) and a time budget per
   notebook, caps each cell's output, and when a cell kills the kernel
   (``os._exit``, segfault) or ignores the timeout's interrupt, gives that cell
   an error, replays the earlier cells in a fresh kernel and goes on. Outside
   nbgrader a worker that overruns its whole budget is killed and replaced;
   the chapters it finished are kept. Every student gets a CSV row.

Anti-tamper
===========
The checks already defend at run time: hidden tests load a fresh copy of the
checks, compare with primitives captured before any answer ran, draw inputs
from OS entropy, and block the exercise's reference. What run time cannot
see is an answer that replaces the test itself (``hidden_check = lambda *a:
None``, ``checks.check = ...``). So before grading, every cell the learner
controls is parsed (after IPython's own magic translation) and a chapter is
scored 0, with a ``TAMPERING`` status naming cell and line, when it

* assigns to or deletes an attribute or item of ``numpy``, ``lstm_helpers``,
  ``builtins``, ``sys``, ``importlib``, ``warnings`` or ``IPython``, through
  any alias (``np.allclose = ...``, ``m = np.testing; m.assert_allclose = ...``,
  ``sys.modules[...] = ...``, ``vars(np)[...] = ...``);
* rebinds a name the notebook's locked cells define (``checks``,
  ``hidden_check``, ``np``, ...), other than by repeating the same import;
* calls ``setattr``/``delattr`` on those, or ``exec``, ``eval``, ``compile``,
  ``__import__``, ``globals()``, ``vars()``, ``get_ipython()``, ``importlib``,
  ``gc.get_referrers``/``get_referents``, ``sys.settrace``/``setprofile``,
  or shell escapes and magics other than timing and display ones;
* touches ``__code__``, ``__globals__``, ``__builtins__``, ``__dict__``,
  ``__setattr__`` and other attributes an answer never needs.

The notebook is still autograded (its feedback shows what nbgrader found) but
the CSV, the check report and a banner in the feedback say that the chapter
scored 0 and why; an instructor reviews and can re-grade by hand.

Warnings
========
The checks turn any warning an answer emits into a failed check whose message
says so (for example the overflow of ``1 / (1 + np.exp(-x))``), and the
grader keeps that: the exercise earns 0, in ``check`` as in ``grade``.
Without this, nbgrader would give 0 for the text on stderr without a word.

Accepted submission layouts
===========================
* nbgrader's ``submitted/<student>/<chapter>/<chapter>.ipynb`` (a single
  notebook of another name in the chapter folder is used, with a note);
  ``timestamp.txt`` files are kept for nbgrader's late penalties;
* ``<student>/<chapter>.ipynb``;
* a flat folder of ``.ipynb`` files whose names hold the chapter name and the
  student id: ``<student>_<chapter>.ipynb``, ``<chapter>_<student>.ipynb``,
  or the same with ``-``, ``.`` or a space as separator; copy suffixes such as
  `` (1)`` or ``-Copy1`` are ignored. A file whose name names no chapter is
  identified by its cells, and its whole name becomes the student id.
"""

import ast
import csv
import hashlib
import html
import json
import os
import queue
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from . import course
from .submissions import Entry, discover_submissions, parse_flat_name, plan_students  # noqa: F401

STATUS_OK = "ok"
DEFAULT_NOTEBOOK_TIMEOUT = 600
WORKER_MARGIN = 120  # seconds on top of the notebook budgets before a worker is killed


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

@dataclass
class Test:
    """One graded test cell of one student."""

    grade_id: str
    max: float
    score: float = 0.0
    outcome: str = "not graded"
    message: str = ""
    raw_score: float = 0.0  # what nbgrader gave, before the tamper rule

    @property
    def exercise(self):
        return self.grade_id[len("test_"):] if self.grade_id.startswith("test_") else self.grade_id


@dataclass
class ChapterResult:
    """One chapter of one student: its tests, and what went wrong if anything."""

    chapter: str
    state: str = "missing"  # graded | missing | invalid | wrong assignment | tampered | error
    tests: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    tamper: list = field(default_factory=list)
    source: str = ""
    feedback: str = ""
    seconds: float = 0.0

    @property
    def score(self):
        return sum(t.score for t in self.tests)

    @property
    def max(self):
        return sum(t.max for t in self.tests)

    def status(self):
        """Short text for the CSV; "" when nothing needs saying."""
        parts = list(self.notes)
        if self.tamper:
            parts.insert(0, "TAMPERING, chapter scored 0 for review: " + "; ".join(self.tamper[:3])
                         + (f" (+{len(self.tamper) - 3} more)" if len(self.tamper) > 3 else ""))
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


# ---------------------------------------------------------------------------
# Template course folder (nbgrader generate_assignment with a gradebook)
# ---------------------------------------------------------------------------

def _worker_env():
    env = dict(os.environ)
    bindir = os.path.dirname(sys.executable)
    # nbgrader runs `alembic` by name when it creates a gradebook.
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.setdefault("PYTHONIOENCODING", "utf-8")
    env.pop("JPY_PARENT_PID", None)
    # Kernels get Jupyter's own inline plotting, whatever the caller's shell says, so plots reach
    # the feedback and `check` on a laptop matches `grade` on a server.
    env.pop("MPLBACKEND", None)
    return env


def _template_key(root, chapters):
    from importlib.metadata import version

    digest = hashlib.sha256()
    digest.update(version("nbgrader").encode())
    for extra in [Path(root) / "nbgrader_config.py", Path(__file__).with_name("nbgrader_plugins.py")]:
        if extra.is_file():
            digest.update(extra.read_bytes())
    for chapter in chapters:
        folder = Path(root) / course.SOURCE / chapter
        for path in sorted(folder.rglob("*")):
            if path.is_file() and ".ipynb_checkpoints" not in path.parts and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(folder)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class Template:
    """The release notebooks and gradebook every private course folder starts from."""

    root: Path
    course_root: Path
    chapters: list
    errors: dict

    def release_path(self, chapter):
        return self.root / "release" / chapter / f"{chapter}.ipynb"

    def release(self, chapter):
        import nbformat

        cache = self.__dict__.setdefault("_release", {})
        if chapter not in cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cache[chapter] = nbformat.read(str(self.release_path(chapter)), as_version=4)
        return cache[chapter]

    def ids(self, chapter):
        return {c.metadata["nbgrader"]["grade_id"] for c in self.release(chapter).cells
                if "grade_id" in c.metadata.get("nbgrader", {})}

    def tests(self, chapter):
        """``[(grade_id, points)]`` of the graded test cells, in notebook order."""
        out = []
        for cell in self.release(chapter).cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution"):
                out.append((meta["grade_id"], float(meta.get("points", 0))))
        return out

    def usable(self, chapter):
        return chapter not in self.errors and self.release_path(chapter).is_file()


def ensure_template(course_root, cache_dir=None, log=None):
    """Build (or reuse) the template for every chapter of the course."""
    course_root = Path(course_root).resolve()
    chapters = course.chapters(course_root)
    key = _template_key(course_root, chapters)
    candidates = [Path(cache_dir)] if cache_dir else [course_root / ".nbgrader" / "grading-templates",
                                                      Path(tempfile.gettempdir()) / "lstm-course-templates"]
    for base in candidates:
        try:
            base.mkdir(parents=True, exist_ok=True)
            probe = base / f".probe-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
            break
        except OSError:
            continue
    final = base / key
    if (final / "done.json").is_file():
        info = json.loads((final / "done.json").read_text())
        return Template(final, course_root, chapters, info.get("errors", {}))
    building = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=base))
    (building / "source").symlink_to(course_root / course.SOURCE, target_is_directory=True)
    worker = _Worker(_worker_env(), building / "template.log")
    try:
        answer = worker.request({"kind": "template", "course": str(course_root), "dir": str(building),
                                 "chapters": chapters}, timeout=600)
    finally:
        worker.close()
    errors = {}
    for chapter in chapters:
        if not (building / "release" / chapter / f"{chapter}.ipynb").is_file():
            errors[chapter] = "nbgrader generate_assignment failed for this chapter's source"
    problems = "\n".join((answer or {}).get("errors", []))
    if answer is None or not (building / "gradebook.db").is_file() or len(errors) == len(chapters):
        text = problems or (building / "template.log").read_text(errors="replace")[-3000:]
        shutil.rmtree(building, ignore_errors=True)
        raise RuntimeError(f"could not build the grading template with nbgrader:\n{text}")
    if problems and log:
        log(f"warning: nbgrader generate_assignment failed for {', '.join(errors) or 'a chapter'}:\n{problems}")
    (building / "done.json").write_text(json.dumps({"chapters": chapters, "errors": errors}))
    try:
        building.rename(final)
    except OSError:  # built concurrently by another run: use theirs
        shutil.rmtree(building, ignore_errors=True)
        if not (final / "done.json").is_file():
            raise
    info = json.loads((final / "done.json").read_text())
    _prune_templates(base, keep=final)
    return Template(final, course_root, chapters, info.get("errors", {}))


def _prune_templates(base, keep, newest=4, min_age=3600):
    """Delete templates of older solutions: all but the ``newest`` few, and none younger than an hour."""
    done = sorted((p for p in base.iterdir() if (p / "done.json").is_file() and p != keep),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    for old in done[newest:]:
        if time.time() - old.stat().st_mtime > min_age:
            shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------
# Staging: read, identify, repair
# ---------------------------------------------------------------------------

def _read_notebook(path):
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


# ---------------------------------------------------------------------------
# Tamper scan
# ---------------------------------------------------------------------------

PROTECTED_MODULES = {"numpy", "lstm_helpers", "builtins", "__builtin__", "sys", "importlib", "warnings",
                     "IPython", "nbgrader", "nbclient", "ipykernel"}
FORBIDDEN_CALLS = {"exec", "eval", "compile", "__import__", "globals", "vars", "get_ipython", "breakpoint"}
FORBIDDEN_ATTRS = {"__code__", "__globals__", "__builtins__", "__dict__", "__setattr__", "__delattr__",
                   "__subclasses__", "__closure__", "__defaults__", "__kwdefaults__", "__getattribute__",
                   "__import__", "__loader__", "__spec__", "__bases__", "__mro__", "f_globals", "f_locals",
                   "f_back", "gi_frame", "tb_frame"}
FORBIDDEN_MODULE_CALLS = {("gc", "get_referrers"), ("gc", "get_referents"), ("gc", "get_objects"),
                          ("sys", "settrace"), ("sys", "setprofile"), ("sys", "_getframe"),
                          ("inspect", "currentframe"), ("threading", "settrace")}
ALLOWED_MAGICS = {"time", "timeit", "matplotlib", "precision", "pprint", "who", "whos", "pdoc", "pinfo",
                  "pinfo2", "psearch", "pdef", "xmode", "debug", "page", "history", "lsmagic", "magic",
                  "config_"}


def _root_name(node):
    """The name an attribute/item chain hangs from (``np`` in ``np.testing.x[0]``), or None."""
    while True:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
            node = node.value
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in {"getattr", "vars", "type"} and node.args:
                node = node.args[0]
            else:
                node = func
        else:
            return None


def _names_in(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _is_alias_expr(node):
    """True for pure name/attribute chains and getattr(...) on them: module or function aliases."""
    while True:
        if isinstance(node, ast.Name):
            return True
        if isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" and node.args:
            node = node.args[0]
        else:
            return False


def _locked_bindings(release):
    """What the tests rely on: names the locked cells import, and names the test cells use.

    Returns ``(names, imports, guarded)``: names an answer may not rebind;
    how each imported name was imported (re-importing it the same way is
    allowed); and the names whose attributes must not change (imports from
    protected modules). Plain data a locked demo cell assigns (``rng``,
    ``H``) is not protected: the tests never read it.
    """
    names, imports, guarded = set(), {}, set()
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("solution") or not (meta.get("locked") or meta.get("grade")):
            continue
        try:
            tree = ast.parse(_python_source(cell.source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if isinstance(node, ast.Import):
                        bound, module = alias.asname or alias.name.split(".")[0], alias.name
                        imports[bound] = ast.dump(ast.Import(names=[alias]))
                    else:
                        bound, module = alias.asname or alias.name, node.module or ""
                        imports[bound] = (node.module, alias.name)
                    names.add(bound)
                    if module.split(".")[0] in PROTECTED_MODULES:
                        guarded.add(bound)
            elif meta.get("grade") and isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                names.add(node.id)
    return names, imports, guarded


def _python_source(source):
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def _magic_findings(source):
    findings = []
    for number, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("!") or re.match(r"^\w+\s*=\s*!", stripped):
            findings.append((number, "runs a shell command (!)"))
        elif stripped.startswith("%"):
            name = stripped.lstrip("%").split(None, 1)[0] if stripped.lstrip("%") else ""
            if name not in ALLOWED_MAGICS:
                findings.append((number, f"uses the magic %{name}"))
    return findings


def _import_aliases(tree):
    """``{bound name: module}`` for imports of protected (or frame/memory) modules in ``tree``."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if isinstance(node, ast.Import):
                    module, bound = alias.name, alias.asname or alias.name.split(".")[0]
                else:
                    module, bound = f"{node.module or ''}.{alias.name}", alias.asname or alias.name
                if module.split(".")[0] in PROTECTED_MODULES | {"gc", "inspect", "ctypes"}:
                    aliases[bound] = module
    return aliases


def _propagate_aliases(trees, dangerous):
    """Add to ``dangerous`` every name bound to a pure alias of one (``m = np``, ``t = m.testing``)."""
    dangerous = set(dangerous)
    for _ in range(8):
        grew = False
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and getattr(node, "value", None) is not None:
                    if _is_alias_expr(node.value) and _root_name(node.value) in dangerous:
                        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                        for target in targets:
                            new = _names_in(target) - dangerous
                            if new:
                                dangerous |= new
                                grew = True
        if not grew:
            return dangerous
    return dangerous


def _parse_cell(source):
    try:
        return ast.parse(_python_source(source))
    except SyntaxError:
        return None


def scan_source(source, protected_names, locked_imports, guarded_names=None, context=None):
    """Tampering findings ``[(line, text)]`` in one cell's source (empty when clean).

    ``protected_names`` may not be rebound; attributes and items of
    ``guarded_names`` (and of protected modules, through any alias) may not
    be changed. ``context`` = ``(module_aliases, dangerous)`` computed over
    all the learner's cells, so an alias made in one cell counts in the next.
    """
    findings = _magic_findings(source)
    tree = _parse_cell(source)
    if tree is None:
        return findings  # it will fail when run; nothing to tamper with

    protected = set(protected_names) | {"__builtins__", "__builtin__"}
    if context is None:
        module_aliases = _import_aliases(tree)
        guarded = set(protected if guarded_names is None else guarded_names) | {"__builtins__", "__builtin__"}
        dangerous = _propagate_aliases([tree], guarded | set(module_aliases) | PROTECTED_MODULES)
    else:
        module_aliases, dangerous = context

    def module_of(name):
        return module_aliases.get(name, name if name in PROTECTED_MODULES else None)

    def text(node):
        try:
            return ast.unparse(node)
        except Exception:
            return type(node).__name__

    def flag(node, what):
        findings.append((getattr(node, "lineno", 0), what))

    def check_store(target, node, verb):
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                check_store(element, node, verb)
        elif isinstance(target, ast.Starred):
            check_store(target.value, node, verb)
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            if isinstance(target, ast.Attribute) and target.attr in FORBIDDEN_ATTRS:
                flag(node, f"{verb} {text(target)}")
                return
            root = _root_name(target.value)
            if root in dangerous or (root is None and _names_in(target.value) & dangerous):
                flag(node, f"{verb} {text(target)}")

    def check_rebind(name, node, global_scope):
        if name in protected and global_scope:
            flag(node, f"rebinds {name}, which the notebook's test cells rely on")

    # Which function scopes declare which names global.
    def walk(body, global_scope, globals_declared):
        for node in body:
            visit(node, global_scope, globals_declared)

    def visit(node, global_scope, globals_declared):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            check_rebind(node.name, node, global_scope or node.name in globals_declared)
            for decorator in node.decorator_list:
                visit(decorator, global_scope, globals_declared)
            if isinstance(node, ast.ClassDef):
                walk(node.body, False, set())
            else:
                declared = {n for stmt in ast.walk(node) if isinstance(stmt, ast.Global) for n in stmt.names}
                for default in node.args.defaults + node.args.kw_defaults:
                    if default is not None:
                        visit(default, global_scope, globals_declared)
                walk(node.body, False, declared)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound = alias.asname or (alias.name.split(".")[0] if isinstance(node, ast.Import) else alias.name)
                same = locked_imports.get(bound)
                this = ast.dump(ast.Import(names=[alias])) if isinstance(node, ast.Import) else (node.module, alias.name)
                if bound in protected and same != this and (global_scope or bound in globals_declared):
                    flag(node, f"rebinds {bound} with a different import")
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete, ast.For, ast.AsyncFor,
                             ast.With, ast.AsyncWith, ast.NamedExpr)):
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.Delete):
                targets = node.targets
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                targets = [node.target]
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                targets = [item.optional_vars for item in node.items if item.optional_vars is not None]
            else:
                targets = [node.target]
            verb = "deletes" if isinstance(node, ast.Delete) else "changes"
            for target in targets:
                check_store(target, node, verb)
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                        check_rebind(sub.id, node, global_scope or sub.id in globals_declared)
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                if func.id in FORBIDDEN_CALLS:
                    flag(node, f"calls {func.id}()")
                if func.id in {"setattr", "delattr"} and node.args:
                    root = _root_name(node.args[0])
                    if root in dangerous or _names_in(node.args[0]) & dangerous or root is None:
                        flag(node, f"calls {func.id}() on {text(node.args[0])}")
            elif isinstance(func, ast.Attribute):
                root = _root_name(func.value)
                module = module_of(root) if root else None
                base = (module or root or "").split(".")[0]
                if (base, func.attr) in FORBIDDEN_MODULE_CALLS:
                    flag(node, f"calls {text(func)}()")
                elif base == "importlib" or (module or "").startswith("importlib"):
                    flag(node, f"calls {text(func)}()")
                elif func.attr in {"__setattr__", "__delattr__"}:
                    flag(node, f"calls {text(func)}()")
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and node.attr in FORBIDDEN_ATTRS:
            flag(node, f"uses {text(node)}")
        for child in ast.iter_child_nodes(node):
            visit(child, global_scope, globals_declared)

    walk(tree.body, True, set())
    unique = []
    for item in findings:
        if item not in unique:
            unique.append(item)
    return unique


def scan_notebook(nb, release):
    """Tampering findings for every cell the learner controls: ``["cell <id> line <n>: <what>"]``."""
    protected, locked_imports, guarded = _locked_bindings(release)
    exercise_names = set()
    locked_ids = set()
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            try:
                tree = ast.parse(_python_source(cell.source))
                exercise_names |= {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
            except SyntaxError:
                pass
        elif meta.get("locked") or meta.get("grade"):
            locked_ids.add(meta.get("grade_id"))
    protected -= exercise_names
    guarded -= exercise_names
    course_code = {cell.source.strip() for cell in release.cells if cell.cell_type == "code"}
    learner_cells = [(index, cell) for index, cell in enumerate(nb.cells)
                     if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade_id") not in locked_ids
                     and cell.source.strip() not in course_code]
    trees = [t for t in (_parse_cell(cell.source) for _, cell in learner_cells) if t is not None]
    module_aliases = {}
    for tree in trees:
        module_aliases.update(_import_aliases(tree))
    dangerous = _propagate_aliases(trees, guarded | {"__builtins__", "__builtin__"} | set(module_aliases)
                                   | PROTECTED_MODULES)
    out = []
    for index, cell in learner_cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        findings = scan_source(cell.source, protected, locked_imports, guarded, context=(module_aliases, dangerous))
        label = f"cell {grade_id}" if grade_id else f"cell {index + 1}"
        for line, what in findings:
            if what.startswith("calls get_ipython") and _only_allowed_magics(cell.source):
                continue
            out.append(f"{label} line {line}: {what}")
    return out


def _only_allowed_magics(source):
    """True when every get_ipython() call in the cell comes from a magic line we allow."""
    explicit = "get_ipython" in "\n".join(l for l in source.splitlines() if not l.strip().startswith(("%", "!")))
    return not explicit and not _magic_findings(source)


# ---------------------------------------------------------------------------
# Worker processes
# ---------------------------------------------------------------------------

class _Worker:
    """A ``python -m lstm_helpers.classroom.nbgrader_plugins --serve`` process."""

    def __init__(self, env, log_path):
        self.log_path = Path(log_path)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "lstm_helpers.classroom.nbgrader_plugins", "--serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env,
                                     start_new_session=True)

    def alive(self):
        return self.proc.poll() is None

    def request(self, task, timeout):
        """Send one task; the reply dict, or None when the worker died or ran out of time."""
        try:
            self.proc.stdin.write((json.dumps(task) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        deadline = time.monotonic() + timeout
        buffer = b""
        fd = self.proc.stdout.fileno()
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], min(1.0, max(0.0, deadline - time.monotonic())))
            if not ready:
                if not self.alive():
                    return None
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            buffer += chunk
            if b"\n" in buffer:
                line = buffer.split(b"\n", 1)[0]
                try:
                    return json.loads(line)
                except json.JSONDecodeError:
                    return {"ok": False, "errors": [line.decode(errors="replace")]}
        return None

    def kill(self):
        """Kill the worker and every process it started (kernels run in sessions of their own)."""
        try:
            import psutil

            children = psutil.Process(self.proc.pid).children(recursive=True)
        except Exception:
            children = []
        for child in children:
            try:
                child.kill()
            except Exception:
                pass
        try:
            os.killpg(self.proc.pid, 9)
        except Exception:
            pass
        try:
            self.proc.kill()
            self.proc.wait(timeout=10)
        except Exception:
            pass
        self.log.close()

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except Exception:
            self.kill()
            return
        self.log.close()


def run_tasks(tasks, jobs, log_dir, on_done=None):
    """Run grading tasks on ``jobs`` workers; returns ``{task index: None or error text}``."""
    env = _worker_env()
    pending = queue.Queue()
    for index, task in sorted(enumerate(tasks), key=lambda it: -len(it[1]["chapters"])):
        pending.put((index, task))
    outcome = {}
    lock = threading.Lock()
    live = set()

    def loop(slot):
        worker = None
        spawned = 0
        try:
            while True:
                try:
                    index, task = pending.get_nowait()
                except queue.Empty:
                    return
                if worker is None or not worker.alive():
                    spawned += 1
                    worker = _Worker(env, Path(log_dir) / f"worker-{slot}-{spawned}.log")
                    live.add(worker)
                budget = task["timeout"]
                started = time.monotonic()
                answer = worker.request(task, budget)
                if answer is None:
                    elapsed = time.monotonic() - started
                    reason = (f"grading was stopped after {elapsed:.0f} s (limit {budget:.0f} s)"
                              if elapsed >= budget - 1 else "the grading worker died")
                    worker.kill()
                    live.discard(worker)
                    worker = None
                    error = reason
                elif not answer.get("ok"):
                    error = "; ".join(answer.get("errors", []))[-1500:] or "grading failed"
                else:
                    error = None
                with lock:
                    outcome[index] = error
                if on_done:
                    on_done(task, error)
        finally:
            if worker is not None:
                worker.close()
                live.discard(worker)

    threads = [threading.Thread(target=loop, args=(slot,), daemon=True) for slot in range(max(1, jobs))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.5)
    except KeyboardInterrupt:
        while True:  # stop handing out work, then stop every worker and its kernels
            try:
                pending.get_nowait()
            except queue.Empty:
                break
        for worker in list(live):
            worker.kill()
        raise
    return outcome


# ---------------------------------------------------------------------------
# Grading
# ---------------------------------------------------------------------------

def _slug(text):
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "student"
    return slug[:60]


def _safe_path_part(text):
    return re.sub(r"[/\\\x00]", "_", text).strip() or "_"


@dataclass
class _Job:
    student: str
    slug: str
    folder: Path
    chapters: dict  # chapter -> ChapterResult (staged)


def _stage_student(template, student, slug, folder, entries, log):
    """Private course folder for one student; returns the chapters to autograde."""
    import nbformat

    folder.mkdir(parents=True)
    (folder / "source").symlink_to(template.course_root / course.SOURCE, target_is_directory=True)
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
            nb = _read_notebook(entry.path)
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
        result.tamper = scan_notebook(nb, release)
        target = folder / "submitted" / slug / chapter
        target.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.write(nb, str(target / f"{chapter}.ipynb"))
        stamp = entry.path.parent / "timestamp.txt"
        if stamp.is_file() and entry.path.parent.name == chapter:
            shutil.copyfile(stamp, target / "timestamp.txt")
        result.state = "staged"
    return results


def _apply_worker_result(result, data, template):
    """Fill a staged ChapterResult from a worker's results JSON."""
    by_id = {t["grade_id"]: t for t in data.get("tests", [])}
    result.tests = []
    for grade_id, max_points in template.tests(result.chapter):
        info = by_id.get(grade_id)
        test = Test(grade_id=grade_id, max=max_points)
        if info is not None:
            test.raw_score = float(info["score"] or 0.0)
            test.score = test.raw_score
            test.outcome, test.message = info["outcome"], info["message"]
            if info.get("needs_manual_grade"):
                result.notes.append(f"nbgrader flagged {grade_id} for manual grading; the autograder's score counts")
        result.tests.append(test)
    result.seconds = data.get("seconds", 0.0)
    result.feedback = data.get("feedback") or ""
    if not data.get("graded"):
        result.state = "error"
        error = (data.get("error") or "nbgrader could not grade it").strip().splitlines()
        result.notes.append("nbgrader could not grade it: " + (error[-1] if error else "")[:300])
        return
    result.state = "graded"
    result.notes.extend(describe_events(data.get("events", [])))


def _collect_results(jobs_list, outcome, template):
    """Fill every job's chapter results from the worker's files; ``outcome``: {job index: pool error}."""
    for index, job in enumerate(jobs_list):
        for chapter, result in job.chapters.items():
            path = job.folder / "results" / f"{chapter}.json"
            if path.is_file():
                _apply_worker_result(result, json.loads(path.read_text()), template)
            else:  # the worker died or timed out before writing this chapter
                result.state = "error"
                result.tests = [Test(g, p, outcome="error") for g, p in template.tests(chapter)]
                result.notes.append(outcome.get(index) or "not graded (unknown error)")
            _apply_tamper_rule(result)


def _and_list(items):
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def describe_events(events):
    """Status notes for GuardedExecute's events, one per kind (and crash cause)."""
    groups = {}
    for event in events:
        where = event.get("grade_id") or f"cell {event.get('cell', 0) + 1}"
        key = (event.get("kind"), event.get("detail") if event.get("kind") == "crash" else None)
        groups.setdefault(key, []).append(where)
    notes = []
    for (kind, detail), wheres in groups.items():
        places = _and_list(wheres)
        many = len(set(wheres)) > 1
        if kind == "crash":
            notes.append(f"{detail} in {places}; the rest was graded in a fresh kernel")
        elif kind == "hang":
            notes.append(f"{places} ignored the timeout's interrupt; the rest was graded in a fresh kernel")
        elif kind == "timeout":
            notes.append(f"{places} {'were' if many else 'was'} stopped by the per-cell time limit")
        elif kind == "not-run":
            notes.append(f"time budget spent: {wheres[0]} and later cells were not run")
        elif kind == "truncated":
            notes.append(f"output truncated in {places}")
        elif kind == "replay-failed":
            notes.append(f"{places} could not be run again after a crash")
    return notes


def _apply_tamper_rule(result):
    if result.tamper:
        result.state = "tampered"
        for test in result.tests:
            test.score = 0.0


@dataclass
class ClassResult:
    chapters: list
    students: list  # StudentResult, sorted by id
    template: Template
    seconds: float = 0.0
    csv_path: str = ""
    feedback_dir: str = ""

    def columns(self):
        cols = []
        for chapter in self.chapters:
            cols += [f"{chapter}/{grade_id}" for grade_id, _ in self.template.tests(chapter)]
        return cols

    def max_points(self):
        out = {}
        for chapter in self.chapters:
            tests = self.template.tests(chapter) if self.template.usable(chapter) else []
            for grade_id, points in tests:
                out[f"{chapter}/{grade_id}"] = points
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
                for grade_id, _ in (self.template.tests(chapter) if self.template.usable(chapter) else []):
                    row[f"{chapter}/{grade_id}"] = _fmt(tests[grade_id].score if grade_id in tests else 0.0)
                row[chapter] = _fmt(result.score if result else 0.0)
            row["total"] = _fmt(sum(s.score for s in student.chapters.values() if s.chapter in self.chapters))
            row["status"] = student.status()
            rows.append(row)
        return rows

    def write_csv(self, path):
        fields = ["student"] + self.columns() + list(self.chapters) + ["total", "status"]
        path = Path(path)
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            for row in self.rows():
                writer.writerow(row)
        self.csv_path = str(path)
        return path


def _fmt(value):
    value = float(value)
    return str(int(value)) if value == int(value) else f"{value:.4g}"


def _feedback_banner(result):
    notes = []
    if result.tamper:
        notes.append("<b>This chapter scored 0</b>: the grader found code that changes the tests or the "
                     "libraries they use. An instructor will review it.<br>" +
                     "<br>".join(html.escape(t) for t in result.tamper))
    other = [n for n in result.notes if not n.startswith("TAMPERING")]
    if other:
        notes.append("Grader notes: " + html.escape("; ".join(other)))
    if not notes:
        return ""
    return ('<div style="border:2px solid #b00;padding:8px;margin:8px;background:#fff4f4">'
            + "<br>".join(notes) + "</div>")


def _copy_feedback(result, destination):
    if not result.feedback or not Path(result.feedback).is_file():
        return ""
    destination.parent.mkdir(parents=True, exist_ok=True)
    text = Path(result.feedback).read_text(encoding="utf-8", errors="replace")
    banner = _feedback_banner(result)
    if banner:
        match = re.search(r"<body[^>]*>", text)
        text = text[: match.end()] + banner + text[match.end():] if match else banner + text
    destination.write_text(text, encoding="utf-8")
    return str(destination)


def grade_class(submissions, course_root=None, *, jobs=None, out_csv=None, feedback_dir=None,
                cell_timeout=None, notebook_timeout=DEFAULT_NOTEBOOK_TIMEOUT, chapters=None, gradebook=None,
                work_dir=None, feedback=True, log=None):
    """Autograde every student in ``submissions``; returns a :class:`ClassResult`.

    Writes the CSV to ``out_csv`` and the feedback to
    ``feedback_dir/<student>/<chapter>/<chapter>.html`` when given.
    """
    started = time.monotonic()
    log = log or (lambda text: print(text, file=sys.stderr))
    course_root = Path(course_root or course.find_root()).resolve()
    template = ensure_template(course_root, log=log)
    entries = discover_submissions(submissions, template.chapters)
    by_student = plan_students(entries)
    if chapters is None:
        chapters = sorted({e.chapter for e in entries if e.chapter in template.chapters})
    chapters = [c for c in template.chapters if c in set(chapters)]
    jobs = max(1, int(jobs or os.cpu_count() or 1))
    own_work = work_dir is None
    work = Path(work_dir or tempfile.mkdtemp(prefix="lstm-course-grade-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "logs").mkdir(exist_ok=True)

    students, jobs_list, slugs = [], [], set()
    for student in sorted(by_student):
        slug = _slug(student)
        while slug in slugs:
            slug += "_"
        slugs.add(slug)
        result = StudentResult(student=student)
        staged = _stage_student(template, student, slug, work / "students" / slug, by_student[student], log)
        for name, chapter_result in staged.items():
            if name in chapters:
                result.chapters[name] = chapter_result
            elif name in template.chapters:
                continue  # a chapter of the course that this run does not grade
            elif name:
                result.notes.append(f"{name}: " + ("; ".join(chapter_result.notes) or "not graded"))
            else:
                result.notes.append(f"{Path(chapter_result.source).name}: " + "; ".join(chapter_result.notes))
        for chapter in chapters:
            if chapter not in result.chapters:
                result.chapters[chapter] = ChapterResult(chapter=chapter, state="missing", notes=["not submitted"])
            elif result.chapters[chapter].state == "missing" and not result.chapters[chapter].notes:
                result.chapters[chapter].notes.append("not submitted")
        for chapter_result in result.chapters.values():
            if chapter_result.state != "staged" and template.usable(chapter_result.chapter):
                chapter_result.tests = [Test(g, p, outcome=chapter_result.state)
                                        for g, p in template.tests(chapter_result.chapter)]
        students.append(result)
        to_grade = [c for c, r in result.chapters.items() if r.state == "staged"]
        if to_grade:
            jobs_list.append(_Job(student, slug, work / "students" / slug, {c: result.chapters[c] for c in to_grade}))

    budget = notebook_timeout if notebook_timeout and notebook_timeout > 0 else DEFAULT_NOTEBOOK_TIMEOUT * 3
    tasks = [{"kind": "grade", "dir": str(job.folder), "course": str(course_root), "student": job.slug,
              "chapters": list(job.chapters), "feedback": bool(feedback), "cell_timeout": cell_timeout,
              "notebook_timeout": notebook_timeout, "timeout": len(job.chapters) * (budget + WORKER_MARGIN)}
             for job in jobs_list]
    done_count = [0]

    def on_done(task, error):
        done_count[0] += 1
        log(f"[{done_count[0]}/{len(tasks)}] graded {task['student']}" + (f" ({error})" if error else ""))

    if tasks:
        log(f"grading {len(tasks)} students x {len(chapters)} chapters with {min(jobs, len(tasks))} workers")
    outcome = run_tasks(tasks, min(jobs, max(1, len(tasks))), work / "logs", on_done)

    _collect_results(jobs_list, outcome, template)

    class_result = ClassResult(chapters=chapters, students=students, template=template)
    if feedback_dir:
        feedback_root = Path(feedback_dir)
        for student in students:
            for chapter, result in student.chapters.items():
                destination = feedback_root / _safe_path_part(student.student) / chapter / f"{chapter}.html"
                copied = _copy_feedback(result, destination)
                result.feedback = copied or ""
        class_result.feedback_dir = str(feedback_root)
    if gradebook:
        for line in merge_into_gradebook(gradebook, class_result):
            log(line)
    if out_csv:
        class_result.write_csv(out_csv)
    class_result.seconds = time.monotonic() - started
    if own_work:
        shutil.rmtree(work, ignore_errors=True)
    return class_result


def merge_into_gradebook(db, class_result):
    """Write the class's scores into an nbgrader gradebook (one writer: this process).

    ``db`` is a path or ``sqlite:///`` URL of a gradebook that knows the
    chapters (``nbgrader generate_assignment`` was run with it); a path that
    does not exist yet gets a copy of the template's gradebook. Tampered
    chapters are written with their 0 scores.
    """
    from nbgrader.api import Gradebook, MissingEntry

    url = db if "://" in str(db) else "sqlite:///" + str(Path(db).resolve())
    messages = []
    if "://" not in str(db) and not Path(db).exists():
        # A new gradebook: start from the template's, which knows every chapter.
        Path(db).resolve().parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(class_result.template.root / "gradebook.db", Path(db))
        messages.append(f"gradebook: created {db} with every chapter")
    with Gradebook(url) as gb:
        for student in class_result.students:
            gb.update_or_create_student(student.student)
            for chapter, result in student.chapters.items():
                if result.state not in ("graded", "tampered"):
                    continue
                try:
                    gb.find_assignment(chapter)
                except MissingEntry:
                    messages.append(f"gradebook: {chapter} is not in {url}; run nbgrader generate_assignment first")
                    continue
                gb.update_or_create_submission(chapter, student.student)
                for test in result.tests:
                    grade = gb.find_grade(test.grade_id, chapter, chapter, student.student)
                    grade.auto_score = test.score
                    grade.needs_manual_grade = False
                gb.db.commit()
    return sorted(set(messages))


# ---------------------------------------------------------------------------
# Self-study check
# ---------------------------------------------------------------------------

SYMBOL = {"passed": "PASS", "failed": "FAIL", "not attempted": "TODO", "timeout": "FAIL", "crash": "FAIL",
          "not run": "FAIL", "partial": "PART"}


def _find_notebooks(path):
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*.ipynb")
                  if not any(part.startswith(".") or part in ("autograded", "feedback", "release", "submitted")
                             for part in p.relative_to(path).parts[:-1]))


def check(paths, course_root=None, *, jobs=None, cell_timeout=None, notebook_timeout=DEFAULT_NOTEBOOK_TIMEOUT,
          out=None, log=None):
    """Grade a learner's notebook(s) like ``grade`` does and print a report; returns the exit code.

    0: every exercise earns full points; 1: something failed, crashed, timed
    out, could not be read, or was flagged; 3: nothing failed but some
    exercises are not attempted yet.
    """
    out = out or sys.stdout
    log = log or (lambda text: None)
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if course_root is None:
        for start in [p if p.is_dir() else p.parent for p in paths] + [Path.cwd()]:
            try:
                course_root = course.find_root(start)
                break
            except FileNotFoundError:
                continue
        else:
            course_root = course.find_root()
    course_root = Path(course_root).resolve()
    template = ensure_template(course_root, log=log)
    notebooks = []
    for path in paths:
        if not path.exists():
            print(f"{path}: no such file or folder", file=out)
            return 1
        notebooks += _find_notebooks(path)
    folder_mode = len(paths) > 1 or any(p.is_dir() for p in paths)

    # One pseudo-student per notebook, so chapters are graded in parallel.
    work = Path(tempfile.mkdtemp(prefix="lstm-course-check-"))
    chosen, skipped, unreadable = {}, [], []
    for path in notebooks:
        try:
            nb = _read_notebook(path)
        except (OSError, ValueError) as exc:
            unreadable.append((path, str(exc)))
            continue
        chapter = identify_chapter(nb, template)
        if chapter is None:
            if not folder_mode:
                unreadable.append((path, "not a notebook of this course (none of its exercise cells)"))
            continue
        if chapter in chosen:
            newer = max([chosen[chapter], path], key=lambda p: p.stat().st_mtime)
            skipped.append(chosen[chapter] if newer == path else path)
            chosen[chapter] = newer
        else:
            chosen[chapter] = path
    per_chapter, jobs_list = {}, []
    for number, (chapter, path) in enumerate(sorted(chosen.items())):
        slug = f"learner{number}"
        staged = _stage_student(template, "learner", slug, work / slug, [Entry("learner", chapter, path)], log)
        result = staged[chapter]
        per_chapter[chapter] = result
        if result.state == "staged":
            jobs_list.append(_Job("learner", slug, work / slug, {chapter: result}))
        else:
            result.tests = [Test(g, p, outcome=result.state) for g, p in template.tests(chapter)]
    budget = notebook_timeout if notebook_timeout and notebook_timeout > 0 else DEFAULT_NOTEBOOK_TIMEOUT * 3
    tasks = [{"kind": "grade", "dir": str(job.folder), "course": str(course_root), "student": job.slug,
              "chapters": list(job.chapters), "feedback": False, "cell_timeout": cell_timeout,
              "notebook_timeout": notebook_timeout, "timeout": budget + WORKER_MARGIN} for job in jobs_list]
    jobs = max(1, min(int(jobs or os.cpu_count() or 1), max(1, len(tasks))))
    (work / "logs").mkdir(exist_ok=True)
    outcome = run_tasks(tasks, jobs, work / "logs")
    _collect_results(jobs_list, outcome, template)
    shutil.rmtree(work, ignore_errors=True)

    code = 0
    for path, reason in unreadable:
        print(f"{path}: {reason}", file=out)
        code = 1
    for chapter in sorted(per_chapter):
        result = per_chapter[chapter]
        code = _worse(code, _print_chapter(result, chosen[chapter], out))
    if folder_mode:
        print("\nProgress across chapters", file=out)
        total = best = 0.0
        for chapter in template.chapters:
            if chapter in per_chapter:
                r = per_chapter[chapter]
                passed = sum(t.outcome == "passed" for t in r.tests)
                print(f"  {chapter:<28} {_fmt(r.score):>5}/{_fmt(r.max):<5} {passed}/{len(r.tests)} exercises passed",
                      file=out)
                total += r.score
                best += r.max
            else:
                print(f"  {chapter:<28} not found", file=out)
        print(f"  {'total':<28} {_fmt(total):>5}/{_fmt(best)}", file=out)
    for path in skipped:
        print(f"(skipped {path}: an older notebook of the same chapter)", file=out)
    return code


def _worse(a, b):
    """Combine exit codes: 1 (failure) beats 3 (not attempted) beats 0."""
    rank = {0: 0, 3: 1, 1: 2}
    return a if rank.get(a, 2) >= rank.get(b, 2) else b


def _print_chapter(result, path, out):
    print(f"\n{result.chapter}  ({path})", file=out)
    code = 0
    if result.state in ("invalid", "wrong assignment", "error"):
        print("  cannot grade: " + "; ".join(result.notes), file=out)
        return 1
    width = max([len(t.exercise) for t in result.tests] + [10])
    for test in result.tests:
        label = SYMBOL.get(test.outcome, "FAIL")
        line = f"  {label}  {test.exercise:<{width}} {_fmt(test.score):>3}/{_fmt(test.max):<3} {test.outcome}"
        if test.outcome != "passed" and test.message and test.outcome != "not attempted":
            line += f": {test.message}"
        print(line, file=out)
        if test.outcome == "not attempted":
            code = _worse(code, 3)
        elif test.outcome != "passed" or test.score < test.max:
            code = 1
    if result.tamper:
        code = 1
        print("  TAMPERING: this chapter scores 0 under the grader, because an answer cell changes the tests "
              "or the libraries they use:", file=out)
        for finding in result.tamper:
            print(f"    - {finding}", file=out)
    notes = [n for n in result.notes if "restored" not in n and "put back" not in n]
    if notes:
        print("  notes: " + "; ".join(notes), file=out)
    print(f"  score {_fmt(result.score)}/{_fmt(result.max)} (hidden tests included)", file=out)
    if result.state == "error":
        code = 1
    return code
