"""Start JupyterLab the way a learner should see the course.

``lstm-course lab`` (or ``python -m lstm_helpers.classroom.lab``) opens JupyterLab on the
learner's **workspace** (:mod:`lstm_helpers.classroom.workspace`): on the first
launch a git-ignored copy of the course's ``notebooks/`` (by default
``<course>/workspace``; ``--workspace DIR`` chooses another folder, which later
launches remember), so a ``git pull`` of the course never meets the learner's
answers. Later launches open the same workspace, copy in chapters the course
added, and say which chapters have a newer version (``lstm-course update``
brings it in, keeping the answers). The launcher prints where the workspace
is and, once the server is up, the URL to open.

JupyterLab shows nbgrader's learner tools only:

* the **Validate** button in each notebook's toolbar stays;
* the instructor-only panels are switched off: Formgrader, the Create
  Assignment side panel, the Course List, and the Assignment List (which needs
  an nbgrader exchange this course does not use, and without one only shows an
  error), together with the Nbgrader menu that opens them;
* JupyterLab's announcements are off: no "get notified about official Jupyter
  news?" prompt over the first notebook, no news or update checks.

Nothing in the user's own Jupyter configuration is touched. Each launch writes
a small configuration folder into a temporary directory and puts it on
``JUPYTER_CONFIG_PATH`` for the server process only:

* ``labconfig/page_config.json`` lists the front-end plugins in
  ``disabledExtensions`` (the same file ``jupyter labextension disable``
  writes, but in a folder the course owns);
* ``jupyter_server_config.d/lstm-course-learner.json`` turns the matching
  nbgrader server extensions off in ``ServerApp.jpserver_extensions`` and sets
  ``LabApp.news_url`` to none and the update check to never.

The user's own config folder (``~/.jupyter``) still comes first on Jupyter's
search path, so a deliberate ``jupyter labextension enable`` there wins.

The server runs with the course folder as its working directory, so the
Validate button reads the course's ``nbgrader_config.py`` (its per-cell
timeout in particular). Run as root, the launcher says in one line what to do
instead of starting a server that refuses. Extra arguments are passed on to
``jupyter lab``; ``--instructor`` keeps every nbgrader panel and opens the
course folder itself.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import workspace as wsp
from .course import RELEASE, find_root, tool_env

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

#: JupyterLab's news and update announcements: its "get notified about official
#: Jupyter news?" prompt would cover the first notebook a learner opens.
QUIET_PLUGINS = ("@jupyterlab/apputils-extension:announcements",)

#: Server-side: no news feed, no update check (no requests to the internet).
QUIET_LAB_SETTINGS = {"news_url": None,
                      "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate"}

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
    page_config = {"disabledExtensions": {plugin: True for plugin in INSTRUCTOR_PLUGINS + QUIET_PLUGINS}}
    (labconfig / "page_config.json").write_text(json.dumps(page_config, indent=2) + "\n")
    server = {"ServerApp": {"jpserver_extensions": {ext: False for ext in INSTRUCTOR_SERVER_EXTENSIONS}},
              "LabApp": dict(QUIET_LAB_SETTINGS)}
    (server_d / "lstm-course-learner.json").write_text(json.dumps(server, indent=2) + "\n")
    return config_dir


def learner_env(config_dir, env=None):
    """A copy of ``env`` (default ``os.environ``) with ``config_dir`` first on ``JUPYTER_CONFIG_PATH``
    and this Python's ``bin`` folder first on ``PATH``, so that ``lstm-course update`` works in
    JupyterLab's terminal even when the virtual environment is not activated."""
    env = tool_env(dict(os.environ if env is None else env))
    extra = env.get("JUPYTER_CONFIG_PATH")
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(config_dir)] + ([extra] if extra else []))
    return env


def learner_command(root, argv=(), app="lab", instructor=False, folder=None):
    """The command line that starts ``app`` ("lab" or "notebook") for the course at ``root``.

    The server's root folder is ``folder`` (default: the learner's workspace,
    see :func:`lstm_helpers.classroom.workspace.locate`); ``instructor=True``
    opens ``root`` itself. ``argv`` comes last, so it can override anything.
    """
    if app not in APPS:
        raise ValueError(f"app must be one of {sorted(APPS)}, got {app!r}")
    if instructor:
        folder = Path(root)
    elif folder is None:
        folder = wsp.locate(root)
    return [sys.executable, "-m", APPS[app], f"--ServerApp.root_dir={folder}", *argv]


def learner_launch(config_dir, root=None, argv=(), app="lab", env=None, folder=None):
    """Everything needed to start the learner's server, as ``subprocess.Popen`` keyword arguments.

    Writes the learner configuration into ``config_dir`` and returns
    ``{"args": [...], "env": {...}, "cwd": root}``. ``root`` defaults to the
    course folder found from the current directory (see :func:`course_root`).
    ``folder`` is the folder the server opens: by default the learner's
    workspace, which is prepared first (:func:`lstm_helpers.classroom.workspace.prepare`).
    Tests use this to start the server exactly as learners get it.
    """
    root = Path(root) if root is not None else course_root()
    if folder is None:
        folder = wsp.prepare(root, wsp.locate(root, env=env)).workspace.path
    write_learner_config(config_dir)
    return {
        "args": learner_command(root, argv, app=app, folder=folder),
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


def _runtime_dir(env):
    """The folder where the server started with ``env`` writes its ``jpserver-<pid>.json``."""
    if env.get("JUPYTER_RUNTIME_DIR"):
        return Path(env["JUPYTER_RUNTIME_DIR"])
    from jupyter_core.paths import jupyter_runtime_dir

    return Path(jupyter_runtime_dir())


def server_url(info, app="lab"):
    """The URL to open for a running server, from its ``jpserver-*.json`` record (token included)."""
    url = info["url"].rstrip("/") + "/" + ("lab" if app == "lab" else "tree")
    return url + (f"?token={info['token']}" if info.get("token") else "")


def _announce_url(proc, env, app, out, timeout=180):
    """Print the URL to open as soon as the server ``proc`` has written its record."""
    record = _runtime_dir(env) / f"jpserver-{proc.pid}.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            info = json.loads(record.read_text())
        except (OSError, ValueError):
            time.sleep(0.25)
            continue
        print(f"\nJupyterLab is running. Open this URL in your browser: {server_url(info, app)}\n"
              "(Ctrl-C here stops JupyterLab.)\n", file=out, flush=True)
        return info
    return None


def _run(args, env, cwd, app=None, out=None):
    """Run the server in the foreground and return its exit status.

    Ctrl-C belongs to the server (it asks whether to shut down and stops its
    kernels), so this process only keeps waiting. A SIGTERM sent to this
    process is passed on, so the server never outlives it. With ``app``, the
    URL to open is printed once the server is up.
    """
    proc = subprocess.Popen(args, env=env, cwd=cwd)
    if app is not None:
        threading.Thread(target=_announce_url, args=(proc, env, app, out or sys.stdout), daemon=True).start()

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


ROOT_MESSAGE = ("lstm-course lab: you are root, and Jupyter refuses to run as root; start it as an ordinary "
                "user, or, in a container or cloud shell where root is normal, run `lstm-course lab --allow-root`.")


def _allows_root(argv):
    return any(a == "--allow-root" or a.lower().startswith(("--serverapp.allow_root=t", "--notebookapp.allow_root=t"))
               for a in argv)


def _take_option(argv, name):
    """Remove ``--name VALUE`` / ``--name=VALUE`` from ``argv``; returns ``(value or None, rest)``."""
    value, rest, items = None, [], iter(argv)
    for arg in items:
        if arg == name:
            value = next(items, None)
            if value is None:
                raise SystemExit(f"lstm-course lab: {name} needs a folder")
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return value, rest


def _describe_workspace(prepared, chosen_note, out):
    ws = prepared.workspace
    print(f"Your workspace: {ws.path}", file=out)
    print("  Your own copies of the chapters: save your work here. Course updates never write over them;", file=out)
    print("  `lstm-course update` brings a new version of a chapter in and carries your answers over.", file=out)
    if chosen_note:
        print(f"  {chosen_note}", file=out)
    if prepared.created:
        print(f"  Created now, with {len(prepared.added)} chapters from the course.", file=out)
    elif prepared.added:
        print(f"  New chapters copied in: {', '.join(prepared.added)}", file=out)
    for status in prepared.unreadable():
        print(f"  {status.chapter}: your notebook cannot be read ({status.detail}); it is left as it is.", file=out)
    changed = prepared.changed()
    if changed:
        print(f"  The course has a newer version of {', '.join(changed)}: run `lstm-course update` "
              "(your answers are carried over; `--dry-run` shows what would change).", file=out)


def main(argv=None, out=None):
    """Open JupyterLab on the learner's workspace with the learner set-up.

    ``argv`` (default ``sys.argv[1:]``) is passed on to ``jupyter lab``, except
    ``--workspace DIR`` (the workspace folder; remembered for later launches)
    and ``--instructor``, which keeps all nbgrader panels and opens the course
    folder. Returns the server's exit status.
    """
    out = out or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv) and len(argv) == 1:
        print(__doc__, file=out)
        print("Options: --workspace DIR  the folder to work in (remembered); --instructor  open the course "
              "folder with every nbgrader panel.\nAll other arguments go to `jupyter lab`; see "
              "`jupyter lab --help`.", file=out)
        return 0
    instructor = "--instructor" in argv
    argv = [a for a in argv if a != "--instructor"]
    chosen, argv = _take_option(argv, "--workspace")
    if hasattr(os, "geteuid") and os.geteuid() == 0 and not _allows_root(argv):
        print(ROOT_MESSAGE, file=sys.stderr)
        return 1
    root = course_root()
    if not (root / RELEASE).is_dir():
        print(f"{root / RELEASE} does not exist yet; create it with `lstm-course release` "
              "(or `nbgrader generate_assignment --force <chapter>`).", file=sys.stderr)
        return 1
    if instructor:
        return _run(learner_command(root, argv, instructor=True), dict(os.environ), str(root))
    folder = wsp.locate(root, chosen)
    note = ""
    if chosen:
        note = ("Remembered: later launches open this folder too." if wsp.remember(root, folder) else
                f"(The course folder is read-only, so pass --workspace {folder} every time, or set "
                f"{wsp.ENV_VARIABLE}.)")
    try:
        prepared = wsp.prepare(root, folder)
    except OSError as exc:
        print(f"lstm-course lab: cannot make the workspace at {folder} ({exc.strerror or exc}); choose a folder "
              "you can write to with `lstm-course lab --workspace DIR`.", file=sys.stderr)
        return 1
    _describe_workspace(prepared, note, out)
    with tempfile.TemporaryDirectory(prefix="lstm-course-jupyter-") as config_dir:
        launch = learner_launch(config_dir, root=root, argv=argv, folder=prepared.workspace.path)
        return _run(**launch, app="lab", out=out)


if __name__ == "__main__":
    sys.exit(main())
