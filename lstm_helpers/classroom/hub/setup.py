"""Write a class folder: the hub's settings and the learners' and instructors' Jupyter configuration.

Everything :func:`write_class` writes is plain text an instructor can read and
edit; :mod:`.config` turns ``class.json`` into JupyterHub settings when the hub
starts.
"""

import json
import logging
import os
import pwd
import shutil
import stat
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

log = logging.getLogger(__name__)

#: Front-end plugins of nbgrader's Lab extension that learners on the hub do not get.
#: ``assignment-list`` (the Assignments tab), its ``menu`` and ``validate-assignment`` stay.
LEARNER_HIDDEN_PLUGINS = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
)
#: Their server halves; ``assignment_list`` and ``validate_assignment`` stay.
LEARNER_HIDDEN_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
)

#: Where a user's server finds the slider lecture page (Voila, through jupyter-server-proxy).
SLIDERS_PATH = "sliders"

AUTHENTICATORS = {
    # name in class.json: (JupyterHub authenticator class, what it is for)
    "pam": ("jupyterhub.auth.PAMAuthenticator", "the machine's unix passwords (JupyterHub's default)"),
    "native": ("nativeauthenticator.NativeAuthenticator", "sign-up with instructor approval (pip install "
               "jupyterhub-nativeauthenticator)"),
    "github": ("oauthenticator.GitHubOAuthenticator", "GitHub accounts (pip install oauthenticator)"),
    "generic-oauth": ("oauthenticator.generic.GenericOAuthenticator", "your institution's OAuth/OIDC login "
                      "(pip install oauthenticator)"),
    "dummy": ("jupyterhub.auth.DummyAuthenticator", "TESTS ONLY: any password is accepted"),
}


@dataclass
class ClassSettings:
    """One class on one server; saved as ``class.json`` in the class folder."""

    class_dir: str
    course_root: str
    course_id: str
    instructors: list
    learners: list = field(default_factory=list)  # empty: learner_group, else anyone the authenticator admits
    learner_group: str = ""                        # a unix group whose members are the learners
    exchange_root: str = ""                        # default: <class_dir>/exchange
    gradebook: str = ""                            # nbgrader db_url; default: the course's SQLite file
    authenticator: str = "pam"
    ip: str = "127.0.0.1"
    port: int = 8000
    hub_port: int = 8081
    proxy_api_port: int = 8001
    proxy_command: list = field(default_factory=lambda: ["configurable-http-proxy"])
    python: str = sys.executable                   # the class environment, readable by every user
    sliders: bool = True
    spawn_timeout: int = 120
    cell_timeout: int = 60

    def __post_init__(self):
        if not self.course_id or any(c in self.course_id for c in "+*/ "):
            raise ValueError(f"course_id must be a non-empty name without '+', '*', '/' or spaces, "
                             f"got {self.course_id!r}")
        if not self.instructors:
            raise ValueError("instructors must name at least one unix user")
        if self.authenticator not in AUTHENTICATORS and "." not in self.authenticator:
            raise ValueError(f"authenticator must be one of {sorted(AUTHENTICATORS)} or an import path, "
                             f"got {self.authenticator!r}")
        self.exchange_root = self.exchange_root or str(Path(self.class_dir) / "exchange")

    @property
    def state_dir(self):
        return Path(self.class_dir) / "state"

    def role(self, user):
        return "instructor" if user in self.instructors else "learner"

    def config_dir(self, role):
        return Path(self.class_dir) / role

    @property
    def bin_dir(self):
        return Path(self.python).parent


def load_settings(path):
    """The :class:`ClassSettings` saved in ``path`` (``class.json``)."""
    data = json.loads(Path(path).read_text())
    known = {f.name for f in fields(ClassSettings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{path}: unknown settings {unknown}; known: {sorted(known)}")
    return ClassSettings(**data)


def close_home(user):
    """Make ``user``'s home folder private (0700) if group or others may read or enter it.

    Debian's ``useradd -m`` makes homes mode 0755, so every learner could read
    the instructor's course folder and each other's work. Returns True if the
    mode was changed.
    """
    try:
        home = Path(pwd.getpwnam(user).pw_dir)
        mode = stat.S_IMODE(home.stat().st_mode)
    except (KeyError, FileNotFoundError):
        return False
    if mode & 0o077:
        os.chmod(home, mode & 0o700)
        log.warning("closed the home folder of %s (%s was mode %o, now %o)", user, home, mode, mode & 0o700)
        return True
    return False


# ---------------------------------------------------------------------------
# The Jupyter configuration of learners' and instructors' servers
# ---------------------------------------------------------------------------

def _write(path, text, mode=0o644):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)


def _sliders_config(settings):
    """``jupyter_server_config.py``: the slider lecture page at ``/user/<name>/sliders/``.

    jupyter-server-proxy starts :mod:`lstm_helpers.classroom.explore` (Voila) on
    first use. Each server draws its own token: Voila gets it in its
    environment and the proxy sends it with every request, so the Voila port
    on 127.0.0.1 is of no use to other users of the machine.
    """
    command = [settings.python, "-m", "lstm_helpers.classroom.explore", "--port={port}",
               "--base-url={base_url}" + SLIDERS_PATH + "/", "--no-browser"]
    return f'''\
"""The slider lecture page at /user/<name>/{SLIDERS_PATH}/ (written by `lstm-course hub setup`)."""
import secrets

c = get_config()  # noqa: F821
_token = secrets.token_urlsafe(32)
c.ServerProxy.servers = {{
    {SLIDERS_PATH!r}: {{
        "command": {command!r},
        "environment": {{"LSTM_COURSE_SLIDERS_TOKEN": _token}},
        "request_headers_override": {{"Authorization": "token " + _token}},
        "absolute_url": True,
        "timeout": 60,
        "launcher_entry": {{"title": "LSTM sliders"}},
    }}
}}
'''


#: JupyterLab settings a class starts from: no "official Jupyter news?" question, no update check.
LAB_SETTINGS = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def _write_server_config(settings, folder, name, disabled_extensions=()):
    """The server's and JupyterLab's settings (each reads its own ``*_config.d``), and the sliders."""
    if disabled_extensions:
        _write(folder / "jupyter_server_config.d" / f"{name}.json", json.dumps(
            {"ServerApp": {"jpserver_extensions": {ext: False for ext in disabled_extensions}}}, indent=2) + "\n")
    # no calls home from a classroom server, and no question about them (JupyterLab reads its own
    # jupyter_lab_config.json, not the server's config.d)
    _write(folder / "jupyter_lab_config.json", json.dumps(
        {"LabApp": {"news_url": None, "app_settings_dir": str(folder / "lab-settings"),
                    "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate"}},
        indent=2) + "\n")
    _write(folder / "lab-settings" / "overrides.json", json.dumps(LAB_SETTINGS, indent=2) + "\n")
    sliders = folder / "jupyter_server_config.py"
    if settings.sliders:
        _write(sliders, _sliders_config(settings))
    elif sliders.exists():
        sliders.unlink()


def write_learner_config(settings):
    """``<class_dir>/learner``: the JUPYTER_CONFIG_PATH folder of every learner's server."""
    folder = settings.config_dir("learner")
    _write(folder / "labconfig" / "page_config.json",
           json.dumps({"disabledExtensions": {p: True for p in LEARNER_HIDDEN_PLUGINS}}, indent=2) + "\n")
    _write_server_config(settings, folder, "lstm-course-learner", LEARNER_HIDDEN_SERVER_EXTENSIONS)
    _write(folder / "nbgrader_config.py", f'''\
"""nbgrader for the learners of {settings.course_id} (written by `lstm-course hub setup`)."""
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = {settings.course_id!r}
c.Exchange.root = {settings.exchange_root!r}
# Validate runs each cell at most this long, as the grader does.
c.Execute.timeout = {int(settings.cell_timeout)}
c.Execute.interrupt_on_timeout = True
''')
    return folder


def write_instructor_config(settings):
    """``<class_dir>/instructor``: the JUPYTER_CONFIG_PATH folder of the instructors' servers.

    Formgrader and every nbgrader panel stay; nbgrader's settings are the
    course's own ``nbgrader_config.py`` (with the class settings it loads).
    """
    folder = settings.config_dir("instructor")
    _write(folder / "labconfig" / "page_config.json", json.dumps({"disabledExtensions": {}}, indent=2) + "\n")
    _write_server_config(settings, folder, "lstm-course-instructor")
    course_config = Path(settings.course_root) / "nbgrader_config.py"
    _write(folder / "nbgrader_config.py", f'''\
"""nbgrader for the instructors of {settings.course_id} (written by `lstm-course hub setup`):
the course's own configuration, which also loads .nbgrader/class_config.py."""
c = get_config()  # noqa: F821
load_subconfig({str(course_config)!r})  # noqa: F821
''')
    return folder


def write_course_class_config(settings):
    """``<course>/.nbgrader/class_config.py``: course id, exchange and gradebook for nbgrader in the course.

    The course's ``nbgrader_config.py`` loads it last, so ``nbgrader collect``,
    formgrader and ``lstm-course exchange`` all see the same class. Owned by
    the owner of the course folder, mode 0600 (a gradebook URL may hold a
    password).
    """
    root = Path(settings.course_root)
    path = root / ".nbgrader" / "class_config.py"
    lines = [f'"""The class served from {settings.class_dir} (written by `lstm-course hub setup`)."""',
             "c = get_config()  # noqa: F821",
             f"c.CourseDirectory.course_id = {settings.course_id!r}",
             f"c.Exchange.root = {settings.exchange_root!r}"]
    if settings.gradebook:
        lines.append(f"c.CourseDirectory.db_url = {settings.gradebook!r}")
    _write(path, "\n".join(lines) + "\n", mode=0o600)
    owner = root.stat()
    if os.geteuid() == 0:
        for p in (path.parent, path):
            os.chown(p, owner.st_uid, owner.st_gid)
    return path


def write_class(settings):
    """Write the class folder for ``settings`` (see the package docstring); returns ``class.json``'s path."""
    class_dir = Path(settings.class_dir)
    class_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(class_dir, 0o755)  # learners read learner/
    settings.state_dir.mkdir(exist_ok=True)
    os.chmod(settings.state_dir, 0o700)
    exchange = Path(settings.exchange_root)
    exchange.mkdir(parents=True, exist_ok=True)
    # nbgrader wants the exchange root writable by all; the sticky bit stops anyone but its owner
    # from renaming or deleting a course folder or a submission in it.
    os.chmod(exchange, 0o1777)
    if not Path(settings.course_root, "nbgrader_config.py").is_file():
        raise FileNotFoundError(f"{settings.course_root} has no nbgrader_config.py: is it the course folder?")
    write_learner_config(settings)
    write_instructor_config(settings)
    write_course_class_config(settings)
    for user in settings.instructors:
        close_home(user)
    course_mode = stat.S_IMODE(Path(settings.course_root).stat().st_mode)
    if course_mode & 0o077:
        os.chmod(settings.course_root, course_mode & 0o700)
        log.warning("closed the course folder %s (was mode %o)", settings.course_root, course_mode)
    settings_path = class_dir / "class.json"
    _write(settings_path, json.dumps(asdict(settings), indent=2) + "\n")
    _write(class_dir / "jupyterhub_config.py", f'''\
"""JupyterHub for the class {settings.course_id}; the settings are in class.json beside this file.
Start it as root: lstm-course hub start {class_dir}"""
import os
from lstm_helpers.classroom.hub import config

config.configure(get_config(), os.path.join(os.path.dirname(os.path.abspath(__file__)), "class.json"))  # noqa: F821
''')
    return settings_path


def find_proxy():
    """configurable-http-proxy: on PATH, else in the course checkout's ``.ci/node_modules``."""
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    checkout = Path(__file__).resolve().parents[3]
    local = checkout / ".ci" / "node_modules" / ".bin" / "configurable-http-proxy"
    return str(local) if local.exists() else "configurable-http-proxy"
