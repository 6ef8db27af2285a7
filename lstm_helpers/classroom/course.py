"""The course on disk: where it is, which chapters it has, and its release.

``solutions/<chapter>/<chapter>.ipynb`` is the nbgrader source of each
chapter and ``notebooks/<chapter>/<chapter>.ipynb`` its student version.
Chapters are discovered from ``solutions/``, so a new chapter needs no code.
"""

import os
import subprocess
import sys
from pathlib import Path

SOURCE, RELEASE = "solutions", "notebooks"


def find_root(start=None):
    """The course folder: the nearest folder at or above ``start`` holding
    ``nbgrader_config.py`` and ``solutions/``."""
    here = Path(start or os.getcwd()).resolve()
    for folder in [here, *here.parents]:
        if (folder / "nbgrader_config.py").is_file() and (folder / SOURCE).is_dir():
            return folder
    raise FileNotFoundError(
        f"no course folder (with nbgrader_config.py and {SOURCE}/) at or above {here}; "
        "run this from the course checkout"
    )


def chapters(root):
    """Names of the chapters in ``root/solutions``, in course order."""
    source = Path(root) / SOURCE
    return sorted(p.name for p in source.iterdir() if (p / f"{p.name}.ipynb").is_file())


def source_notebook(root, chapter):
    return Path(root) / SOURCE / chapter / f"{chapter}.ipynb"


def release_notebook(root, chapter):
    return Path(root) / RELEASE / chapter / f"{chapter}.ipynb"


def tool_env(env=None):
    """The environment for nbgrader and Jupyter subprocesses.

    nbgrader runs helper programs (``alembic``) by name, so this Python's
    ``bin`` folder goes first on PATH even when the virtual environment is
    not activated.
    """
    env = dict(os.environ if env is None else env)
    bin_dir = os.path.dirname(sys.executable)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def nbgrader(root, *args, check=True, env=None, **kwargs):
    """Run ``nbgrader`` with this Python in ``root``; returns the CompletedProcess."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    return subprocess.run(cmd, cwd=root, check=check, text=True, capture_output=True, env=tool_env(env), **kwargs)


def release(root, names=None):
    """Regenerate ``notebooks/`` from ``solutions/`` with nbgrader (no gradebook needed).

    Returns the list of student notebooks written.
    """
    names = chapters(root) if names is None else names
    written = []
    for chapter in names:
        result = nbgrader(root, "generate_assignment", chapter, "--force", "--no-db", check=False)
        target = release_notebook(root, chapter)
        if result.returncode != 0 or not target.is_file():
            raise RuntimeError(f"nbgrader could not release {chapter}:\n{result.stdout}\n{result.stderr}")
        written.append(target)
    return written
