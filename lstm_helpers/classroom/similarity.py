"""Similar answers across a class, and answers that copy the course's reference code.

``lstm-course similarity SUBMITTED_DIR`` lists, for each exercise, the pairs
of students whose answer cells are near-identical once disguises are taken
away, and the answers that are near-copies of the course's reference. The
grader gives a correct answer its points whoever wrote it; this report is
for the instructor, who judges. Nothing here runs or imports a learner's
code: answer cells are only parsed.

What is compared
    An answer is the learner's nbgrader solution cell (its ``grade_id`` is
    the exercise name). What the release already holds in that cell (the
    signature, the docstring, the given lines, the ``raise
    NotImplementedError()`` stub) is subtracted first, so blank answers are
    not "identical" and given code adds nothing to any score. Answers left
    with fewer than ``min_tokens`` tokens of the learner's own code are not
    compared: a one-line answer such as ``return np.maximum(x, 0)`` is the
    same for every honest learner, so its similarity tells nothing. For the
    same reason an exercise that most of the class answered alike (the
    median pair at or above the threshold, among at least
    ``COMMON_MIN_ANSWERS`` answers) is named in the summary instead of
    listing its pairs.

Normalisation (:func:`normalise_cell`)
    IPython syntax (``%time``, ``!ls``, the body of a ``%%time`` cell)
    becomes Python with IPython's own transformer, then the cell is parsed
    with :mod:`ast`. Comments, docstrings, ``pass``, blank lines and
    formatting disappear with the parse; every name the cell binds
    (arguments, local variables, loop variables, its functions) becomes
    ``_``, so renaming variables changes nothing, while the names it does
    not bind (``np.tanh``, ``sigmoid``, attributes, dictionary keys) are
    kept: they are what the code does. Assignments to local variables that
    nothing reads are dropped, and the independent statements of each block
    are put in one canonical order: a statement moves past another only
    when neither writes a name the other reads or writes (calling a method
    such as ``append`` on a name writes it; ``return``, ``raise``,
    ``break`` ... never move). A cell that does not parse is compared as
    text without comments and blank lines. Given code is recognised as
    written, or with its names changed.

Similarity
    Each normalised answer is a sequence of tokens (with a marker of each
    line's indentation depth), and two answers are compared with the Indel
    similarity of ``rapidfuzz``: ``2 * LCS / (len(a) + len(b))``, the share
    of tokens the two have in common, in order (1 = the same after
    normalisation). rapidfuzz computes it in C++ with a bit-parallel LCS and
    compares a whole class at once (``process.cdist``); it is maintained, and
    already installed with nbgrader. The code-plagiarism packages on PyPI did
    not fit: ``copydetect`` (winnowing over pygments tokens) works on files,
    knows nothing of Python's syntax (docstrings, statement order) nor of a
    notebook's release; ``pycode-similar`` (AST diff, last release 2020)
    compares in pure Python, too slow for every pair of a class.

The reference
    The course's code is open, so an answer may be copied from it. For each
    exercise an answer is compared with

    * the answer cell of the course's solution notebook
      (``solutions/<chapter>/<chapter>.ipynb``), and
    * the package's reference function (``EXERCISES[name].reference``) when
      it is a plain function: its source without its input validation (the
      decorators and statements that call ``lstm_helpers._validate`` directly or through a
      private helper, which no answer needs); when it has some, its source as
      written; and, when it calls private helpers (names starting with
      ``_``), its source followed by theirs: a copy has to bring them along,
      while the public functions it calls, such as ``sigmoid`` or
      ``lstm_cell_forward``, are the course's own, which a learner may call
      too.

    The row reports the highest of these similarities. A question whose
    reference is a computed value (``kind="value"``) has only the solution
    notebook to compare with.
"""

from __future__ import annotations

import ast
import csv
import inspect
import json
import keyword
import logging
import os
import re
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

log = logging.getLogger(__name__)

#: Answers at least this similar are reported. Chosen on the synthetic class of
#: ``tests/test_similarity.py`` (figures from ``tests/benchmarks/bench_similarity.py``
#: in the README): every pair of honest, independently written answers stays below it,
#: every disguised copy (renamed, re-commented, reformatted, reordered) is above it.
DEFAULT_THRESHOLD = 0.9

#: Answers with fewer tokens of the learner's own code than this are not compared.
DEFAULT_MIN_TOKENS = 20

#: An exercise with at least this many answers compared whose median pair is above the
#: threshold is one that most of the class writes alike: its pairs are not listed.
COMMON_MIN_ANSWERS = 10

#: Below this many distinct cells, normalising in other processes costs more than it saves.
_PARALLEL_FROM = 400

#: Only the first this many characters of a cell are read (a cell is a few hundred).
MAX_CELL_CHARS = 100_000

REFERENCE = "(reference)"

_SOLUTION_MARKERS = re.compile(r"^\s*###\s*(BEGIN|END) SOLUTION\s*$", re.MULTILINE)
_TOKEN = re.compile(r"""\d[\w.]*|\w+|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*"|\*\*=?|//=?|[=!<>]=|->|:=|<<|>>|\S""")
_WORD = re.compile(r"\w+")


# ---------------------------------------------------------------------------
# Normalising one cell
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Normalised:
    """One cell after normalisation.

    lines: ``(depth, text)`` of every statement the learner wrote (compound
        statements give their header, then their body one level deeper),
        every name the cell binds written ``_``; what the release gave is left out.
    parsed: False when the cell was not valid Python and is compared as text.
    """

    lines: tuple[tuple[int, str], ...]
    parsed: bool

    def size(self) -> int:
        """Tokens of code (the depth markers not counted)."""
        return sum(len(_TOKEN.findall(text)) for _, text in self.lines)

    def tokens(self) -> list[str]:
        out = []
        for depth, text in self.lines:
            out.append(f"<{depth}>")
            out.extend(_TOKEN.findall(text))
        return out

    def text(self) -> str:
        return "\n".join("    " * depth + text for depth, text in self.lines)


def _text_line(line: str) -> str:
    return " ".join(_TOKEN.findall(line))


def _strip_comment(line: str) -> str:
    """``line`` without a trailing ``#`` comment (quotes are respected, roughly)."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#":
            return line[:index]
    return line


def _text_lines(source: str) -> list[str]:
    lines = []
    for raw in source.splitlines():
        line = _strip_comment(raw).rstrip()
        if line.strip():
            lines.append(_text_line(line))
    return lines


def _minus(lines: list[str], given: list[str]) -> Normalised:
    """``lines`` without those of ``given`` (each given line once), compared as text."""
    left = Counter(given)
    kept = []
    for line in lines:
        if left[line] > 0:
            left[line] -= 1
        else:
            kept.append((0, line))
    return Normalised(tuple(kept), parsed=False)


def _as_text(source: str, given: str) -> Normalised:
    return _minus(_text_lines(source), _text_lines(given))


def _words(text: str) -> list[str]:
    return [" ".join(words) for words in (_WORD.findall(raw.lower()) for raw in text.splitlines()) if words]


def normalise_markdown(source: str, *, given: str = "") -> Normalised:
    """A written answer: its words in lower case, a line per non-blank line, minus the release's lines."""
    return _minus(_words(source), _words(given))


_TRANSFORMER = None


def _python_of(source: str) -> str:
    """IPython syntax (magics, ``!`` shell lines) as the Python IPython would run."""
    global _TRANSFORMER
    if "%" not in source and "!" not in source and "?" not in source:
        return source
    if _TRANSFORMER is None:
        from IPython.core.inputtransformer2 import TransformerManager

        _TRANSFORMER = TransformerManager()
    try:
        return _TRANSFORMER.transform_cell(source)
    except Exception:  # noqa: BLE001 - any failure leaves the text to ast.parse, then the text fallback
        return source


def _cell_magic_body(stmt: ast.stmt) -> str | None:
    """The body of ``%%magic`` (``get_ipython().run_cell_magic(name, line, body)``), if ``stmt`` is one."""
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return None
    call = stmt.value
    if not (isinstance(call.func, ast.Attribute) and call.func.attr == "run_cell_magic" and len(call.args) == 3):
        return None
    body = call.args[2]
    return body.value if isinstance(body, ast.Constant) and isinstance(body.value, str) else None


def _parse(source: str, depth: int = 0) -> ast.Module:
    tree = ast.parse(_python_of(source))
    body = []
    for stmt in tree.body:
        inner = _cell_magic_body(stmt) if depth < 3 else None
        if inner is not None:
            try:
                body.extend(_parse(inner, depth + 1).body)
                continue
            except (SyntaxError, ValueError):
                pass  # %%bash and friends: the body is not Python; keep the call
        body.append(stmt)
    tree.body = body
    return tree


_BODIES = ("body", "orelse", "finalbody")
#: Methods that change the object they are called on (list, dict, set, ndarray).
_MUTATORS = frozenset({"append", "extend", "insert", "pop", "popitem", "remove", "clear", "update", "setdefault",
                       "sort", "reverse", "add", "discard", "fill", "resize", "put", "itemset", "partition"})
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_JUMPS = (ast.Return, ast.Raise, ast.Break, ast.Continue, ast.Global, ast.Nonlocal, ast.Yield, ast.YieldFrom,
          ast.Await, ast.Import, ast.ImportFrom, ast.Delete)


def _is_noise(stmt: ast.stmt) -> bool:
    """Docstrings, bare constants (``...``) and ``pass``."""
    return isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))


def _blocks(node: ast.AST):
    """``(owner, field, statements)`` of every statement list directly inside ``node``: its bodies and
    else branches, and those of its ``except`` handlers and ``case`` clauses (whose owner they are)."""
    for name in _BODIES:
        block = getattr(node, name, None)
        if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
            yield node, name, block
    for handler in getattr(node, "handlers", None) or ():
        yield from _blocks(handler)
    for case in getattr(node, "cases", None) or ():
        yield from _blocks(case)


def _clean(tree: ast.Module) -> None:
    """Drop docstrings, ``pass`` and bare constants from every block, in place."""
    for node in [tree, *_statements(tree.body)]:
        for owner, name, block in list(_blocks(node)):
            kept = [stmt for stmt in block if not _is_noise(stmt)]
            setattr(owner, name, kept or ([ast.Pass()] if name == "body" else []))


def _bound_names(nodes: list[ast.AST]) -> set[str]:
    """Every name the cell binds: arguments, assignment targets, loop and ``with`` variables, defs.

    Imported modules are not counted: ``np`` stays ``np`` whether or not the cell imports it.
    """
    bound = set()
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound


def _drop_dead_stores(tree: ast.Module, nodes: list[ast.AST], bound: set[str]) -> None:
    """Remove assignments, inside functions, to local names that nothing in the cell reads."""
    read = set()
    for node in nodes:
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store):
            read.add(node.id)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            read.update(node.names)
    dead = bound - read
    if not dead:
        return
    for func in [n for n in _statements(tree.body) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
        dead_here = dead - {a.arg for a in ast.walk(func.args) if isinstance(a, ast.arg)}
        if not dead_here:
            continue
        for node in [func, *_statements(func.body)]:
            for owner, name, block in list(_blocks(node)):
                kept = [stmt for stmt in block if not _is_dead_store(stmt, dead_here)]
                if len(kept) != len(block):
                    setattr(owner, name, kept or ([ast.Pass()] if name == "body" else []))


def _is_dead_store(stmt: ast.stmt, dead: set[str]) -> bool:
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    else:
        return False
    names = [n for t in targets for n in ast.walk(t)]
    return bool(names) and all(
        isinstance(n, (ast.Name, ast.Tuple, ast.List, ast.Starred, ast.Store)) for n in names
    ) and all(n.id in dead for n in names if isinstance(n, ast.Name))


@dataclass
class _Effects:
    reads: set
    writes: set
    barrier: bool


def _effects(stmt: ast.stmt, bound: set[str], memo: dict) -> _Effects:
    """The local names a statement reads and writes, and whether it may not move at all.

    A compound statement's effects are those of its header and of the statements in its blocks
    (memoised: each statement is looked at once, however deep).
    """
    found = memo.get(id(stmt))
    if found is not None:
        return found
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        # a definition only binds its name; what its body reads matters when it is called
        reads = {_name(n) for n in ast.walk(stmt) if isinstance(n, ast.Name)}
        found = _Effects(reads & bound, {getattr(stmt, "_orig", stmt.name)} & bound, False)
    elif _is_simple(stmt):
        found = _walk_effects([stmt], bound)
    else:
        parts = [getattr(stmt, f) for f in stmt._fields if f not in _BLOCK_FIELDS]
        found = _walk_effects([p for part in parts for p in (part if isinstance(part, list) else [part])
                               if isinstance(p, ast.AST)], bound)
        for owner, _, block in _blocks(stmt):
            if owner is not stmt and owner.type is not None:  # except X as e:
                found = _union(found, _walk_effects([owner.type], bound))
            for inner in block:
                found = _union(found, _effects(inner, bound, memo))
    memo[id(stmt)] = found
    return found


_BLOCK_FIELDS = frozenset({"body", "orelse", "finalbody", "handlers", "cases"})


def _union(a: _Effects, b: _Effects) -> _Effects:
    return _Effects(a.reads | b.reads, a.writes | b.writes, a.barrier or b.barrier)


def _walk_effects(roots: list[ast.AST], bound: set[str]) -> _Effects:
    reads, writes, barrier = set(), set(), False
    stack = list(roots)
    while stack:
        node = stack.pop()
        if isinstance(node, _SCOPES):  # a nested function or lambda runs later: the names it reads
            reads |= {_name(n) for n in ast.walk(node) if isinstance(n, ast.Name)}
            writes |= {getattr(node, "_orig", node.name)} if hasattr(node, "name") else set()
            continue
        if isinstance(node, _JUMPS):
            barrier = True
        if isinstance(node, ast.Name):
            (writes if isinstance(node.ctx, (ast.Store, ast.Del)) else reads).add(_name(node))
        elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            writes |= _base_name(node.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _MUTATORS:
            writes |= _base_name(node.func.value)  # steps.append(...) changes steps
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            reads.add(_name(node.target))
        stack.extend(ast.iter_child_nodes(node))
    return _Effects(reads & bound, writes & bound, barrier)


def _base_name(node: ast.AST) -> set[str]:
    """``{"h"}`` for ``h``, ``h[t]``, ``h.T[0]``; empty when the base is not a name."""
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return {_name(node)} if isinstance(node, ast.Name) else set()


def _name(node: ast.Name) -> str:
    """The name as the learner wrote it (before renaming)."""
    return getattr(node, "_orig", node.id)


def _rename_bound(nodes: list[ast.AST], bound: set[str]) -> None:
    """Rename every name the cell binds to ``_``, in place (the name as written stays in ``_orig``)."""
    for node in nodes:
        if isinstance(node, ast.Name):
            attr = "id"
        elif isinstance(node, ast.arg):
            attr = "arg"
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.ExceptHandler)):
            attr = "name"
        else:
            continue
        name = getattr(node, attr)
        if name in bound:
            node._orig = name
            setattr(node, attr, "_")


def _canonical_order(node: ast.AST, bound: set[str], memo: dict, effects: dict) -> None:
    """Reorder the independent statements of every block of ``node`` (innermost first), in place.

    Among the statements free to go next, the one whose text (renamed names as ``_``) sorts first
    goes first, so the order no longer depends on the order the learner wrote them in.
    """
    for _, _, block in _blocks(node):
        for stmt in block:
            _canonical_order(stmt, bound, memo, effects)
    for owner, name, block in list(_blocks(node)):
        if len(block) < 2:
            continue
        found = [_effects(stmt, bound, effects) for stmt in block]
        keys = [_text(stmt, memo) for stmt in block]
        after = [set() for _ in block]  # after[j]: the statements that must come before j
        for j in range(len(block)):
            for i in range(j):
                a, b = found[i], found[j]
                if a.barrier or b.barrier or a.writes & (b.reads | b.writes) or a.reads & b.writes:
                    after[j].add(i)
        done, order = set(), []
        while len(order) < len(block):
            ready = [j for j in range(len(block)) if j not in done and after[j] <= done]
            first = min(ready, key=lambda j: (keys[j], j))
            done.add(first)
            order.append(first)
        setattr(owner, name, [block[j] for j in order])


def _header(stmt: ast.stmt) -> list[str]:
    """The header line(s) of a compound statement, e.g. ``for _ in range(_):``."""
    shallow = type(stmt)(**{f: getattr(stmt, f, None) for f in stmt._fields})
    for name in _BODIES:
        if getattr(shallow, name, None):
            setattr(shallow, name, [ast.Pass()] if name == "body" else [])
    if isinstance(stmt, ast.Try) or isinstance(stmt, getattr(ast, "TryStar", ast.Try)):
        shallow.handlers = []
        shallow.finalbody = [ast.Pass()]
    if hasattr(shallow, "cases"):
        shallow.cases = []
    lines = ast.unparse(ast.fix_missing_locations(shallow)).splitlines()
    return [line.strip() for line in lines if line.strip() not in ("pass", "finally:", "")]


def _is_simple(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Match) or not any(True for _ in _blocks(stmt))


def _text(stmt: ast.stmt, memo: dict) -> str:
    """The statement as text, body included; a compound statement's text is built from its
    header and the (memoised) texts of its body, so nothing is unparsed twice."""
    found = memo.get(id(stmt))
    if found is None:
        if _is_simple(stmt):
            found = ast.unparse(stmt)
        else:
            parts = _header(stmt)
            for owner, _, block in _blocks(stmt):
                if owner is not stmt:
                    parts.append(_header(owner)[0] if owner.type else "except:")
                parts.extend("    " + _text(inner, memo).replace("\n", "\n    ") for inner in block)
            found = "\n".join(parts)
        memo[id(stmt)] = found
    return found


def _flatten(block: list[ast.stmt], depth: int, out: list[tuple[int, str]], memo: dict) -> None:
    for stmt in block:
        if _is_simple(stmt):
            out.extend((depth, line.strip()) for line in _text(stmt, memo).splitlines())
            continue
        out.extend((depth, line) for line in _header(stmt))
        _flatten(stmt.body, depth + 1, out, memo)
        for handler in getattr(stmt, "handlers", None) or ():
            out.append((depth, _header(handler)[0] if handler.type else "except:"))
            _flatten(handler.body, depth + 1, out, memo)
        if getattr(stmt, "orelse", None):
            out.append((depth, "else:"))
            _flatten(stmt.orelse, depth + 1, out, memo)
        if getattr(stmt, "finalbody", None):
            out.append((depth, "finally:"))
            _flatten(stmt.finalbody, depth + 1, out, memo)


def _statements(block: list[ast.stmt]):
    """Every statement in ``block`` and in the blocks inside it, in source order."""
    for stmt in block:
        yield stmt
        for _, _, inner in _blocks(stmt):
            yield from _statements(inner)


_SHAPE = re.compile(r"""(?<![\w'"])([A-Za-z]{0,2})('(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")|(?<![.\w])([A-Za-z_]\w*)""")
_FIELD = re.compile(r"\{([^{}]*)\}")


def _shape(line: str) -> str:
    """A line with every name blanked (strings, attributes and keywords kept, names inside an
    f-string's braces blanked): how a given line is recognised whatever the learner renamed in it."""
    def blank(match):
        prefix, string, word = match.groups()
        if string is not None:
            if "f" in prefix.lower():
                string = _FIELD.sub(lambda field: "{" + _shape(field.group(1)) + "}", string)
            return prefix + string
        return word if keyword.iskeyword(word) else "_"

    return _SHAPE.sub(blank, line)


def _subtract(lines: list[tuple[int, str]], given: tuple[str, ...]) -> tuple[tuple[int, str], ...]:
    """``lines`` without the release's lines (by :func:`_shape`, each release line once) and ``pass``."""
    left = Counter(given)
    kept = []
    for depth, text in lines:
        key = _shape(text)
        if left[key] > 0:
            left[key] -= 1
        elif text != "pass":
            kept.append((depth, text))
    return tuple(kept)


def _normalise_tree(tree: ast.Module, given: tuple[str, ...]) -> Normalised:
    _clean(tree)
    nodes = list(ast.walk(tree))
    bound = _bound_names(nodes)
    _drop_dead_stores(tree, nodes, bound)
    _rename_bound(nodes, bound)
    memo: dict = {}
    _canonical_order(tree, bound, memo, {})
    lines: list[tuple[int, str]] = []
    _flatten(tree.body, 0, lines, memo)
    return Normalised(_subtract(lines, given), parsed=True)


@lru_cache(maxsize=256)
def _given_statements(source: str) -> tuple[str, ...]:
    """The :func:`_shape` of every line of a release cell (its statements, headers of compound ones)."""
    try:
        tree = _parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ()
    _clean(tree)
    lines: list[tuple[int, str]] = []
    _flatten(tree.body, 0, lines, {})
    return tuple(_shape(text) for _, text in lines)


def normalise_cell(source: str, *, given: str = "") -> Normalised:
    """Normalise one code cell (see the module docstring); never runs it.

    given: the release's version of the cell; the statements it holds are left out.
    """
    source = _SOLUTION_MARKERS.sub("", source[:MAX_CELL_CHARS])
    try:
        tree = _parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _as_text(source, given)
    try:
        return _normalise_tree(tree, _given_statements(given))
    except (RecursionError, MemoryError, ValueError, TypeError, AttributeError):
        log.debug("normalising fell back to text", exc_info=True)
        return _as_text(source, given)


# ---------------------------------------------------------------------------
# The reference code
# ---------------------------------------------------------------------------


def _validators(module) -> set[str]:
    """Names in ``module`` that only validate input: ``lstm_helpers._validate``'s functions and
    the private helpers that call them (``_check_rnn_params``)."""
    names = {name for name, obj in vars(module).items()
             if getattr(obj, "__module__", "") == "lstm_helpers._validate" and callable(obj)}
    for _ in range(3):
        for name, obj in vars(module).items():
            if name.startswith("_") and inspect.isfunction(obj) and name not in names:
                if _called_names(obj) & names:
                    names.add(name)
    return names


def _called_names(func) -> set[str]:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return set()
    return {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def _private_helpers(func, validators: set[str]) -> list:
    """Private functions of the package that ``func`` calls (transitively), validators excluded."""
    found, queue = [], [func]
    while queue:
        current = queue.pop(0)
        namespace = current.__globals__
        for name in sorted(_called_names(current)):
            obj = namespace.get(name)
            if (name.startswith("_") and name not in validators and inspect.isfunction(obj)
                    and obj.__module__.startswith("lstm_helpers") and obj not in found and obj is not func):
                found.append(obj)
                queue.append(obj)
    return found


def _decorator_checks(source: str, module) -> list:
    """The check functions a reference names in its ``@checked_by(check)`` decorator."""
    func = ast.parse(source).body[0]
    checks = []
    for decorator in func.decorator_list:
        if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Name)
                and decorator.func.id == "checked_by" and decorator.args and isinstance(decorator.args[0], ast.Name)):
            check = getattr(module, decorator.args[0].id, None)
            if inspect.isfunction(check):
                checks.append(check)
    return checks


def _without_validation(source: str, validators: set[str]) -> tuple[str, bool]:
    """The function's source without its decorators and the statements that call a validator;
    whether any validation was removed."""
    tree = ast.parse(source)
    func = tree.body[0]
    func.decorator_list = []
    kept = [stmt for stmt in func.body
            if not any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in validators
                       for n in ast.walk(stmt))]
    removed = len(kept) < len(func.body)
    func.body = kept or [ast.Pass()]
    return ast.unparse(tree), removed


def reference_sources(exercise) -> dict[str, str]:
    """``{label: source}`` of the package's reference of ``exercise`` (see the module docstring);
    empty when the reference is not a plain function defined in the package (a computed value)."""
    func = exercise.reference
    if not inspect.isfunction(func) or func.__name__ == "<lambda>" or not func.__module__.startswith("lstm_helpers"):
        return {}
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return {}
    module = inspect.getmodule(func)
    validators = _validators(module)
    own, checks = _without_validation(source, validators)
    label = f"{func.__module__}.{func.__name__}"
    out = {label: own}
    if checks:
        out[f"{label} (with its input checks)"] = source
    decorated = _decorator_checks(source, module)
    if decorated:  # the checks live in a function the decorator names: a full copy brings it along
        out[f"{label} (with its input checks)"] = "\n\n".join(
            [own] + [textwrap.dedent(inspect.getsource(check)) for check in decorated])
    helpers = _private_helpers(func, validators)
    if helpers:
        parts = [own] + [_without_validation(textwrap.dedent(inspect.getsource(h)), validators)[0]
                         for h in helpers]
        out[f"{label} + {', '.join(h.__name__ for h in helpers)}"] = "\n\n".join(parts)
    return out


# ---------------------------------------------------------------------------
# Reading a class
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One learner's answer to one exercise, normalised, minus what the release gives."""

    student: str
    exercise: str
    chapter: str
    path: Path
    code: Normalised


def _cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else ""


def answer_cells(path: Path) -> list[tuple[str, str, str]]:
    """``[(grade_id, cell_type, source)]`` of the nbgrader solution cells of a notebook file.

    Raises ``ValueError`` when the file is not a readable notebook.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            nb = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a readable notebook ({type(exc).__name__})") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise ValueError("not a notebook (no list of cells)")
    out = []
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        meta = cell.get("metadata")
        grading = meta.get("nbgrader") if isinstance(meta, dict) else None
        if not isinstance(grading, dict) or not grading.get("solution"):
            continue
        grade_id = grading.get("grade_id")
        if isinstance(grade_id, str):
            out.append((grade_id, str(cell.get("cell_type", "code")), _cell_source(cell)))
    return out


def _normalise_one(key: tuple[str, str, str]) -> Normalised:
    cell_type, source, given = key
    return (normalise_cell if cell_type == "code" else normalise_markdown)(source, given=given)


def _normalise_all(keys: list[tuple[str, str, str]], workers: int) -> dict:
    """``{(cell_type, source, given): Normalised}``; with ``workers`` > 1, in that many processes."""
    if workers <= 1 or len(keys) < _PARALLEL_FROM:
        return {key: _normalise_one(key) for key in keys}
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        return dict(zip(keys, pool.map(_normalise_one, keys, chunksize=max(1, len(keys) // (8 * workers)))))


@dataclass(frozen=True)
class _Release:
    chapter: str
    cell_type: str
    given: str  # the cell's source in the release


def _read_release(root: Path, chapters: Iterable[str]) -> dict[str, _Release]:
    from . import course

    release = {}
    for chapter in chapters:
        path = course.release_notebook(root, chapter)
        if not path.is_file():
            log.warning("%s: no release notebook at %s; its answers are not compared", chapter, path)
            continue
        for grade_id, cell_type, source in answer_cells(path):
            release[grade_id] = _Release(chapter, cell_type, source)
    return release


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """Two answers to one exercise that are at least as similar as the threshold.

    ``student_b`` is :data:`REFERENCE` for a copy of the course's reference,
    and ``reference`` then names which one (solution notebook or package function).
    """

    chapter: str
    exercise: str
    student_a: str
    student_b: str
    similarity: float
    tokens_a: int
    tokens_b: int
    reference: str = ""


@dataclass
class SimilarityReport:
    """What :func:`similarity_report` found."""

    matches: list[Match]
    threshold: float
    min_tokens: int
    students: int
    compared: dict[str, int] = field(default_factory=dict)  # exercise -> answers compared
    blank: dict[str, int] = field(default_factory=dict)  # exercise -> answers with no code of their own
    short: dict[str, int] = field(default_factory=dict)  # exercise -> answers shorter than min_tokens
    median: dict[str, float] = field(default_factory=dict)  # exercise -> median similarity of all pairs
    common: dict[str, float] = field(default_factory=dict)  # exercises not listed: most answers alike
    notes: list[str] = field(default_factory=list)
    seconds_reading: float = 0.0  # finding, reading and normalising the answers
    seconds: float = 0.0  # everything

    CSV_COLUMNS = ("chapter", "exercise", "student_a", "student_b", "similarity", "tokens_a", "tokens_b",
                   "reference")

    def write_csv(self, path: str | Path) -> Path:
        path = Path(path)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(self.CSV_COLUMNS)
            for m in self.matches:
                writer.writerow([m.chapter, m.exercise, m.student_a, m.student_b, f"{m.similarity:.3f}",
                                 m.tokens_a, m.tokens_b, m.reference])
        return path

    def table(self, *, top: int | None = None) -> str:
        """The matches as a plain-text table, most similar first (the first ``top`` only), then a summary."""
        rows = [("exercise", "student A", "student B", "similarity")]
        for m in self.matches[:top]:
            other = f"reference: {m.reference}" if m.student_b == REFERENCE else m.student_b
            rows.append((m.exercise, m.student_a, other, f"{m.similarity:.2f}"))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = ["  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in
                           enumerate(zip(row, widths))).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        pairs = sum(m.student_b != REFERENCE for m in self.matches)
        copies = len(self.matches) - pairs
        summary = [
            "",
            f"{self.students} students; {pairs} pairs of students and {copies} answers like the reference "
            f"at similarity >= {self.threshold:.2f} (1 = identical after normalisation).",
        ]
        short = {name: n for name, n in self.short.items() if n}
        if short:
            summary.append(f"not compared, fewer than {self.min_tokens} tokens of own code: "
                           + ", ".join(f"{name} ({n})" for name, n in short.items()))
        blank = {name: n for name, n in self.blank.items() if n}
        if blank:
            summary.append("blank (nothing beyond the release): " + ", ".join(f"{name} ({n})" for name, n in
                                                                                blank.items()))
        if self.common:
            summary.append("not listed, most of the class wrote these alike (median pair similarity): " + ", ".join(
                f"{name} ({value:.2f})" for name, value in self.common.items()))
        if self.median:
            summary.append("median similarity of all pairs: " + ", ".join(
                f"{name} {value:.2f}" for name, value in self.median.items()))
        summary.extend(self.notes)
        if top is not None and len(self.matches) > top:
            summary.insert(2, f"(the {top} most similar of {len(self.matches)} rows; the CSV has them all)")
        if not self.matches:
            lines = ["no answers at or above the threshold"]
        return "\n".join(lines + summary)


def _encode(tokens: list[str], vocabulary: dict[str, str]) -> str:
    """Tokens as one string, one character per distinct token (what rapidfuzz compares fastest)."""
    out = []
    for token in tokens:
        char = vocabulary.get(token)
        if char is None:
            char = vocabulary[token] = chr(0x100 + len(vocabulary))
        out.append(char)
    return "".join(out)


def _compare(items: list[Answer], references: dict[str, Normalised], report: SimilarityReport,
             vocabulary: dict[str, str], workers: int) -> list[Match]:
    """The matches among the answers to one exercise, and between them and its references."""
    import numpy as np
    from rapidfuzz import process
    from rapidfuzz.distance import Indel

    grade_id, threshold = items[0].exercise, report.threshold - 1e-6
    encoded = [_encode(a.code.tokens(), vocabulary) for a in items]
    sizes = [a.code.size() for a in items]
    found = []
    if len(items) > 1:
        scores = process.cdist(encoded, encoded, scorer=Indel.normalized_similarity, workers=workers,
                               dtype=np.float32)
        median = float(np.median(scores[np.triu_indices(len(items), 1)]))
        report.median[grade_id] = median
        if len(items) >= COMMON_MIN_ANSWERS and median >= threshold:
            report.common[grade_id] = median  # most of the class wrote it alike: pairs say nothing
            return []
        for i, j in zip(*np.nonzero(np.triu(scores >= threshold, 1))):
            a, b = sorted((int(i), int(j)), key=lambda k: items[k].student)
            found.append(Match(items[a].chapter, grade_id, items[a].student, items[b].student,
                               round(float(scores[i, j]), 4), sizes[a], sizes[b]))
    labels = [label for label, ref in references.items() if ref.lines]
    if labels:
        refs = [_encode(references[label].tokens(), vocabulary) for label in labels]
        scores = process.cdist(encoded, refs, scorer=Indel.normalized_similarity, workers=workers,
                               dtype=np.float32)
        for i, j in zip(*np.nonzero(scores >= threshold)):
            found.append(Match(items[i].chapter, grade_id, items[i].student, REFERENCE,
                               round(float(scores[i, j]), 4), sizes[i], references[labels[j]].size(),
                               labels[j]))
    return found


def similarity_report(submitted: str | Path, *, course_root: str | Path | None = None,
                      threshold: float = DEFAULT_THRESHOLD, min_tokens: int = DEFAULT_MIN_TOKENS,
                      chapters: Sequence[str] | None = None, workers: int = 1,
                      processes: int = 1) -> SimilarityReport:
    """Compare every answer of a class with every other answer to the same exercise and with the reference.

    submitted: a folder in any layout ``lstm-course grade`` accepts (or one notebook).
    course_root: the course folder (with ``solutions/`` and ``notebooks/``); default: found upwards.
    threshold: report pairs at least this similar, in [0, 1].
    min_tokens: answers with fewer tokens of the learner's own code are not compared.
    chapters: only these chapters (default: all the course has).
    workers: threads rapidfuzz may use for the comparisons (-1: one per core).
    processes: processes that parse and normalise the answers (a class of 300 has 9 000 of them).
    Returns a :class:`SimilarityReport` whose ``matches`` are sorted most similar first.
    """
    from ..exercises import EXERCISES
    from . import course
    from .submissions import discover_submissions, plan_students

    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    if min_tokens < 0:
        raise ValueError(f"min_tokens must be 0 or more, got {min_tokens}")
    submitted = Path(submitted)
    if not submitted.exists():
        raise FileNotFoundError(f"{submitted}: no such folder")
    started = time.monotonic()
    root = course.find_root(course_root)
    known = course.chapters(root)
    if chapters:
        unknown = sorted(set(chapters) - set(known))
        if unknown:
            raise ValueError(f"unknown chapter(s): {', '.join(unknown)}; known: {', '.join(known)}")
    wanted = list(chapters or known)
    release = _read_release(root, wanted)
    order = {name: index for index, name in enumerate(release)}
    report = SimilarityReport([], threshold, min_tokens, 0)

    # every answer cell of the class
    found: list[tuple[str, str, Path, str, str]] = []  # student, grade_id, file, cell type, source
    seen: set[tuple[str, str]] = set()
    by_student = plan_students(discover_submissions(submitted, known))
    report.students = len(by_student)
    for student, entries in sorted(by_student.items()):
        for entry in entries:
            if entry.path is None:
                continue
            try:
                cells = answer_cells(entry.path)
            except ValueError as exc:
                report.notes.append(f"{student}: {entry.path.name} skipped: {exc}")
                log.warning("%s: %s skipped: %s", student, entry.path, exc)
                continue
            for grade_id, cell_type, source in cells:
                spec = release.get(grade_id)
                if spec is None or cell_type != spec.cell_type:
                    continue
                if (student, grade_id) in seen:
                    report.notes.append(f"{student}: a second answer to {grade_id} in {entry.path.name} "
                                        "was not compared")
                    continue
                seen.add((student, grade_id))
                found.append((student, grade_id, entry.path, cell_type, source))

    # normalised, minus the release; identical cells once
    keys = list(dict.fromkeys((cell_type, source, release[grade_id].given)
                              for _, grade_id, _, cell_type, source in found))
    normalised = _normalise_all(keys, processes)
    answers: dict[str, list[Answer]] = {name: [] for name in release}
    for student, grade_id, path, cell_type, source in found:
        code = normalised[(cell_type, source, release[grade_id].given)]
        answers[grade_id].append(Answer(student, grade_id, release[grade_id].chapter, path, code))
    report.seconds_reading = time.monotonic() - started
    log.info("read %d answers of %d students in %.1f s", len(found), report.students, report.seconds_reading)

    # the references, minus the release
    references: dict[str, dict[str, Normalised]] = {}
    for chapter in wanted:
        path = course.source_notebook(root, chapter)
        if not path.is_file():
            continue
        for grade_id, cell_type, source in answer_cells(path):
            if grade_id in release and cell_type == "code":
                references.setdefault(grade_id, {})[f"solutions/{chapter}"] = \
                    normalise_cell(source, given=release[grade_id].given)
    for grade_id in release:
        if grade_id in EXERCISES and release[grade_id].cell_type == "code":
            for label, source in reference_sources(EXERCISES[grade_id]).items():
                references.setdefault(grade_id, {})[label] = normalise_cell(source, given=release[grade_id].given)

    vocabulary: dict[str, str] = {}
    matches = []
    for grade_id, items in answers.items():
        report.blank[grade_id] = sum(1 for a in items if not a.code.lines)
        report.short[grade_id] = sum(1 for a in items if a.code.lines and a.code.size() < min_tokens)
        items = [a for a in items if a.code.lines and a.code.size() >= max(min_tokens, 1)]
        report.compared[grade_id] = len(items)
        if items:
            matches += _compare(items, references.get(grade_id, {}), report, vocabulary, workers)
    # one row per answer and reference: the best of the references
    best: dict[tuple, Match] = {}
    for m in matches:
        key = (m.exercise, m.student_a, m.student_b)
        if key not in best or m.similarity > best[key].similarity:
            best[key] = m
    report.matches = sorted(best.values(), key=lambda m: (-m.similarity, order.get(m.exercise, 0),
                                                           m.student_b == REFERENCE, m.student_a, m.student_b))
    report.seconds = time.monotonic() - started
    log.info("compared in %.1f s", report.seconds)
    return report


def answer_similarity(a: str, b: str, *, given: str = "") -> float:
    """The similarity of two code cells as the report computes it (1 = the same after normalisation).

    given: the release's version of the cell, subtracted from both first.
    """
    from rapidfuzz.distance import Indel

    vocabulary: dict[str, str] = {}
    first, second = (_encode(normalise_cell(s, given=given).tokens(), vocabulary) for s in (a, b))
    return float(Indel.normalized_similarity(first, second))


# ---------------------------------------------------------------------------
# The command line: lstm-course similarity
# ---------------------------------------------------------------------------


def _fraction(text: str) -> float:
    import argparse

    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def add_command(commands) -> None:
    """Register ``similarity`` on the ``lstm-course`` sub-command parsers ``commands``."""
    import argparse

    from .cli import _positive_int, _seconds as _count  # whole numbers: at least 1, at least 0

    parser = commands.add_parser(
        "similarity", help="pairs of near-identical answers, and answers like the course's reference",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="For each exercise, list the pairs of students whose answer cells are near-identical "
                    "after normalisation (comments, docstrings, formatting, variable names and the order of "
                    "independent statements do not count), and the answers that are near-copies of the "
                    "course's reference code. The learners' code is parsed, never run.",
        epilog="SUBMITTED_DIR is any layout `lstm-course grade` accepts. Similarity is the share of tokens\n"
               "two normalised answers have in common, in order (1 = identical). A high score is for you\n"
               "to judge, not proof: short answers that everyone writes alike are not compared.")
    parser.add_argument("submitted", metavar="SUBMITTED_DIR", help="folder of submissions")
    parser.add_argument("--out", "-o", metavar="CSV", default=None, help="also write the rows to this CSV file")
    parser.add_argument("--threshold", "-t", type=_fraction, default=DEFAULT_THRESHOLD, metavar="T",
                        help="report pairs at least this similar (default: %(default)s)")
    parser.add_argument("--min-tokens", type=_count, default=DEFAULT_MIN_TOKENS, metavar="N",
                        help="do not compare answers with fewer tokens of the learner's own code "
                             "(default: %(default)s)")
    parser.add_argument("--top", type=_count, default=200, metavar="N",
                        help="rows to print, most similar first (default: %(default)s; 0 = all); "
                             "the CSV has every row")
    parser.add_argument("--chapters", nargs="+", metavar="CHAPTER", default=None,
                        help="chapters to compare (default: all)")
    parser.add_argument("--jobs", "-j", type=_positive_int, default=os.cpu_count() or 1, metavar="N",
                        help="processes that parse the answers and threads that compare them "
                             "(default: number of cores, %(default)s here)")
    parser.add_argument("--course", metavar="DIR", default=None,
                        help="the course folder (default: found from the current folder upwards)")
    parser.set_defaults(handler=run_command)


def run_command(args) -> int:
    """``lstm-course similarity``: print the table, write the CSV."""
    import sys

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="lstm-course similarity: %(message)s")
    if not Path(args.submitted).exists():
        print(f"{args.submitted}: no such folder", file=sys.stderr)
        return 2
    try:
        report = similarity_report(args.submitted, course_root=args.course, threshold=args.threshold,
                                   min_tokens=args.min_tokens, chapters=args.chapters,
                                   workers=args.jobs, processes=args.jobs)
    except ValueError as exc:
        print(f"lstm-course similarity: {exc}", file=sys.stderr)
        return 2
    print(report.table(top=args.top or None))
    if args.out:
        print(f"wrote {report.write_csv(args.out)}")
    return 0
