"""A note for a human: code in a learner's cells that an instructor may want to look at.

This is not a defence: scores are decided outside the learner's kernel (see
:mod:`lstm_helpers.classroom.verdicts`) and the kernel runs in a sandbox
(:mod:`lstm_helpers.classroom.sandbox`). The scan only points at constructs an
exercise of this course never needs, such as reading the interpreter's frames,
running code from strings, starting processes or changing a module from
outside, so that a reviewer can see what a submission tried. It never changes
a score, and a clean scan proves nothing.
"""

import ast
import re

from .verdicts import _python

#: Modules an answer has no reason to import.
MODULES = {"inspect", "gc", "ctypes", "importlib", "runpy", "subprocess", "multiprocessing", "signal", "socket",
           "sqlite3", "threading", "pty", "resource", "marshal", "pickle", "code", "codeop", "types"}
#: Calls an answer has no reason to make.
CALLS = {"exec", "eval", "compile", "__import__", "get_ipython", "globals", "vars", "breakpoint", "setattr",
         "delattr"}
#: Attributes an answer has no reason to touch.
ATTRIBUTES = {"_getframe", "f_back", "f_locals", "f_globals", "f_code", "tb_frame", "gi_frame", "cr_frame",
              "__code__", "__globals__", "__closure__", "__subclasses__", "__builtins__", "__dict__",
              "input_transformers_post", "input_transformers_cleanup", "system", "popen", "fork", "kill",
              "killpg", "execv", "execve", "setsid", "modules"}
#: Modules whose contents an answer has no reason to change (``np.allclose = ...``).
PROTECTED = {"numpy", "lstm_helpers", "builtins", "sys", "IPython", "importlib", "warnings", "types", "inspect",
             "gc", "os", "nbgrader", "ipykernel", "jupyter_client"}
#: Magics that only time, display or document code.
MAGICS = {"time", "timeit", "matplotlib", "precision", "pprint", "who", "whos", "pdoc", "pinfo", "pinfo2",
          "psearch", "pdef", "xmode", "debug", "page", "history", "lsmagic", "magic"}


def _magics(source):
    found = []
    for number, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("!") or re.match(r"^\w+\s*=\s*!", stripped):
            found.append((number, "runs a shell command (!)"))
        elif stripped.startswith("%"):
            name = (stripped.lstrip("%").split(None, 1) or [""])[0]
            if name not in MAGICS:
                found.append((number, f"uses the magic %{name}"))
    return found


def _plain(source):
    """``source`` without the magics that only time or display code (a ``%%time`` cell's body stays)."""
    lines = source.splitlines()
    if lines and lines[0].strip().startswith("%%") and lines[0].strip()[2:].split(None, 1)[0] in MAGICS:
        lines = lines[1:]
    return "\n".join(line for line in lines
                     if not (line.strip().startswith("%") and not line.strip().startswith("%%")
                             and (line.strip().lstrip("%").split(None, 1) or [""])[0] in MAGICS))


def scan_source(source, module_names):
    """``[(line, what)]`` for one cell; ``module_names``: names bound to protected modules anywhere."""
    found = _magics(source)
    try:
        tree = ast.parse(_python(_plain(source)))
    except SyntaxError:
        return found
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                if name.split(".")[0] in MODULES:
                    found.append((line, f"imports {name}"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CALLS:
            found.append((line, f"calls {node.func.id}()"))
        elif isinstance(node, ast.Attribute) and node.attr in ATTRIBUTES:
            found.append((line, f"uses .{node.attr}"))
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                root = target
                while isinstance(root, (ast.Attribute, ast.Subscript)):
                    root = root.value
                if root is not target and isinstance(root, ast.Name) and root.id in module_names:
                    found.append((line, f"changes {ast.unparse(target)}, part of a module"))
    return sorted(set(found))


def _module_names(trees):
    """Names bound to a protected module or one of its submodules (``np``, ``nt`` for numpy.testing)."""
    names = set(PROTECTED)
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {a.asname or a.name.split(".")[0] for a in node.names
                          if a.name.split(".")[0] in PROTECTED}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PROTECTED:
                names |= {a.asname or a.name for a in node.names}
    return names


def scan_notebook(nb, release):
    """Review notes for every code cell the learner wrote or changed: ``["cell <id> line <n>: <what>"]``."""
    course_code = {cell.source.strip() for cell in release.cells if cell.cell_type == "code"}
    cells = [(index, cell) for index, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and cell.source.strip() not in course_code]
    trees = []
    for cell in list(release.cells) + [c for _, c in cells]:
        if cell.cell_type == "code":
            try:
                trees.append(ast.parse(_python(_plain(cell.source))))
            except SyntaxError:
                pass
    modules = _module_names(trees)
    notes = []
    for index, cell in cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        label = f"cell {grade_id}" if grade_id else f"cell {index + 1}"
        notes += [f"{label} line {line}: {what}" for line, what in scan_source(cell.source, modules)]
    return notes
