"""Start JupyterLab the way a learner should see the course.

``lstm-course lab`` (or ``python -m lstm_helpers.classroom.lab``) opens JupyterLab on the
course's ``notebooks/`` folder with nbgrader's learner tools only:

* the **Validate** button in each notebook's toolbar stays;
* the instructor-only panels are switched off: Formgrader, the Create
  Assignment side panel, the Course List, and the Assignment List (which needs
  an nbgrader exchange this course does not use, and without one only shows an
  error), together with the Nbgrader menu that opens them.

Nothing in the user's own Jupyter configuration is touched. Each launch writes
a small configuration folder into a temporary directory and puts it on
``JUPYTER_CONFIG_PATH`` for the server process only:

* ``labconfig/page_config.json`` lists the front-end plugins in
  ``disabledExtensions`` (the same file ``jupyter labextension disable``
  writes, but in a folder the course owns);
* ``jupyter_server_config.d/lstm-course-learner.json`` turns the matching
  nbgrader server extensions off in ``ServerApp.jpserver_extensions``.

The user's own config folder (``~/.jupyter``) still comes first on Jupyter's
search path, so a deliberate ``jupyter labextension enable`` there wins.

The server runs with the course folder as its working directory, so the
Validate button reads the course's ``nbgrader_config.py`` (its per-cell
timeout in particular). Extra arguments are passed on to ``jupyter lab``;
``--instructor`` keeps every nbgrader panel and opens the course folder itself.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .course import RELEASE, find_root

#: Front-end plugins of nbgrader's JupyterLab extension (``@jupyter/nbgrader``)
#: that only instructors need. ``validate-assignment`` is not in the list.
INSTRUCTOR_PLUGINS = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
    "@jupyter/nbgrader:assignment-list",
    "@jupyter/nbgrader:menu",
)

#: Their server halves. ``validate_assignment`` stays enabled.
INSTRUCTOR_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
    "nbgrader.server_extensions.assignment_list",
)

#: The plugin that puts the Validate button in every notebook toolbar.
VALIDATE_PLUGIN = "@jupyter/nbgrader:validate-assignment"

APPS = {"lab": "jupyterlab", "notebook": "notebook"}


def write_learner_config(config_dir):
    """Write the learner configuration into ``config_dir`` (created if needed).

    Returns ``config_dir`` as a ``Path``. Put it on ``JUPYTER_CONFIG_PATH``
    (see :func:`learner_env`) for a server to use it.
    """
    config_dir = Path(config_dir)
    labconfig = config_dir / "labconfig"
    server_d = config_dir / "jupyter_server_config.d"
    labconfig.mkdir(parents=True, exist_ok=True)
    server_d.mkdir(parents=True, exist_ok=True)
    page_config = {"disabledExtensions": {plugin: True for plugin in INSTRUCTOR_PLUGINS}}
    (labconfig / "page_config.json").write_text(json.dumps(page_config, indent=2) + "\n")
    server = {"ServerApp": {"jpserver_extensions": {ext: False for ext in INSTRUCTOR_SERVER_EXTENSIONS}}}
    (server_d / "lstm-course-learner.json").write_text(json.dumps(server, indent=2) + "\n")
    return config_dir


def learner_env(config_dir, env=None):
    """A copy of ``env`` (default ``os.environ``) with ``config_dir`` first on ``JUPYTER_CONFIG_PATH``."""
    env = dict(os.environ if env is None else env)
    extra = env.get("JUPYTER_CONFIG_PATH")
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(config_dir)] + ([extra] if extra else []))
    return env


def learner_command(root, argv=(), app="lab", instructor=False):
    """The command line that starts ``app`` ("lab" or "notebook") for the course at ``root``.

    The learner's root folder is ``root/notebooks``; ``instructor=True`` opens
    ``root`` itself. ``argv`` comes last, so it can override anything.
    """
    if app not in APPS:
        raise ValueError(f"app must be one of {sorted(APPS)}, got {app!r}")
    folder = Path(root) if instructor else Path(root) / RELEASE
    return [sys.executable, "-m", APPS[app], f"--ServerApp.root_dir={folder}", *argv]


def learner_launch(config_dir, root=None, argv=(), app="lab", env=None):
    """Everything needed to start the learner's server, as ``subprocess.Popen`` keyword arguments.

    Writes the learner configuration into ``config_dir`` and returns
    ``{"args": [...], "env": {...}, "cwd": root}``. ``root`` defaults to the
    course folder found from the current directory (see :func:`course_root`).
    Tests use this to start the server exactly as learners get it.
    """
    root = Path(root) if root is not None else course_root()
    write_learner_config(config_dir)
    return {
        "args": learner_command(root, argv, app=app),
        "env": learner_env(config_dir, env),
        "cwd": str(root),
    }


def course_root():
    """The course folder: found from the current directory, else from this package's checkout."""
    try:
        return find_root()
    except FileNotFoundError:
        try:
            return find_root(Path(__file__).resolve().parent)
        except FileNotFoundError:
            raise FileNotFoundError(
                "no course folder found: run this from the course checkout "
                "(the folder with nbgrader_config.py, solutions/ and notebooks/)"
            ) from None


def _run(args, env, cwd):
    """Run the server in the foreground and return its exit status.

    Ctrl-C belongs to the server (it asks whether to shut down and stops its
    kernels), so this process only keeps waiting. A SIGTERM sent to this
    process is passed on, so the server never outlives it.
    """
    proc = subprocess.Popen(args, env=env, cwd=cwd)

    def forward(signum, frame):
        proc.send_signal(signum)

    try:
        previous = signal.signal(signal.SIGTERM, forward)
    except ValueError:  # not the main thread: nothing to forward from
        previous = None
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:
                continue
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def main(argv=None):
    """Open JupyterLab on the course's ``notebooks/`` with the learner set-up.

    ``argv`` (default ``sys.argv[1:]``) is passed on to ``jupyter lab``, except
    ``--instructor``, which keeps all nbgrader panels and opens the course
    folder. Returns the server's exit status.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv) and len(argv) == 1:
        print(__doc__)
        print("All other arguments go to `jupyter lab`; see `jupyter lab --help`.")
        return 0
    instructor = "--instructor" in argv
    argv = [a for a in argv if a != "--instructor"]
    root = course_root()
    if not (root / RELEASE).is_dir():
        print(f"{root / RELEASE} does not exist yet; create it with `lstm-course release` "
              "(or `nbgrader generate_assignment --force <chapter>`).", file=sys.stderr)
        return 1
    if instructor:
        return _run(learner_command(root, argv, instructor=True), dict(os.environ), str(root))
    with tempfile.TemporaryDirectory(prefix="lstm-course-jupyter-") as config_dir:
        return _run(**learner_launch(config_dir, root=root, argv=argv))


if __name__ == "__main__":
    sys.exit(main())
