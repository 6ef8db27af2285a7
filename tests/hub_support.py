"""Helpers for the JupyterHub tests: real unix users, a real hub with configurable-http-proxy.

Everything runs on 127.0.0.1 and is removed afterwards, also when a test fails:

* :class:`UnixUsers` makes users with ``useradd -m`` (unique names, a comment
  naming this test process) and, on exit, kills every process running under
  their uids and removes them with ``userdel -r``. Users left by a test
  process that was killed outright are removed by the next run
  (:func:`remove_stale_users`: only users whose comment names a process that
  no longer exists).
* :class:`Hub` runs ``jupyterhub`` in a PID namespace of its own
  (``unshare --pid --fork --kill-child``, and the kernel's parent-death signal
  on ``unshare``): when the hub stops, or the test process dies, every process
  it started, the proxy and the users' servers and kernels included, is killed
  by the kernel.
"""

import ctypes
import json
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from browser_support import _Process, free_port  # noqa: F401  (free_port: for the tests)

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PROXY = ROOT / ".ci" / "node_modules" / ".bin" / "configurable-http-proxy"
USER_COMMENT = "lstm-course hub test pid="
SERVICE = "lstm-course-test"


def missing_requirements():
    """Why the hub tests cannot run here, or ``""``."""
    if os.geteuid() != 0:
        return "the hub tests make unix users and spawn servers as them: run them as root"
    for tool in ("useradd", "userdel", "unshare"):
        if not shutil.which(tool):
            return f"{tool} is missing"
    if not PROXY.exists():
        return f"{PROXY} is missing: run bash .ci/setup (npm installs configurable-http-proxy there)"
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        return "jupyterhub is not installed (pip install -e '.[hub]')"
    # every user must be able to run the class environment's Python
    for part in [*reversed(Path(sys.executable).parents), Path(sys.executable)]:
        mode = part.stat().st_mode
        if not mode & stat.S_IXOTH:
            return (f"{part} is not open to other users, so they cannot run {sys.executable}: "
                    "build .venv from Debian's /usr/bin/python3 (bash .ci/setup does)")
    return ""


def shared_tempdir(prefix):
    """A temporary folder every user can enter (pytest's own are root-only)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(path, 0o755)
    return path


# ---------------------------------------------------------------------------
# Unix users
# ---------------------------------------------------------------------------

def _pids_of(uids):
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid in uids:
                pids.append(int(entry.name))
        except FileNotFoundError:
            pass
    return pids


def kill_processes_of(uids):
    """SIGKILL every process running under one of ``uids`` (users this test made)."""
    for _ in range(20):
        pids = _pids_of(set(uids))
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def _userdel(name):
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    kill_processes_of({uid})
    subprocess.run(["userdel", "-r", "-f", name], capture_output=True, timeout=60)


def remove_stale_users():
    """Remove users made by an earlier test process that no longer exists (killed before its clean-up)."""
    for entry in pwd.getpwall():
        if not entry.pw_gecos.startswith(USER_COMMENT):
            continue
        try:
            pid = int(entry.pw_gecos[len(USER_COMMENT):].split(",")[0])
        except ValueError:
            continue
        if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
            _userdel(entry.pw_name)


class UnixUsers:
    """Real unix users for one test module; ``add(role)`` returns a new, unique user name."""

    def __init__(self):
        self.names = []
        self.tag = secrets.token_hex(2)

    def add(self, role):
        name = f"lc{self.tag}{role}"[:32]
        subprocess.run(["useradd", "-m", "-s", "/bin/bash", "-c", f"{USER_COMMENT}{os.getpid()}", name],
                       check=True, capture_output=True, timeout=60)
        self.names.append(name)
        return name

    def uid(self, name):
        return pwd.getpwnam(name).pw_uid

    def home(self, name):
        return Path(pwd.getpwnam(name).pw_dir)

    def remove(self):
        kill_processes_of({self.uid(n) for n in self.names if self._exists(n)})
        for name in self.names:
            _userdel(name)
        self.names = []

    @staticmethod
    def _exists(name):
        try:
            pwd.getpwnam(name)
            return True
        except KeyError:
            return False

    def __enter__(self):
        remove_stale_users()
        return self

    def __exit__(self, *exc):
        self.remove()


def user_env(name, extra=None):
    entry = pwd.getpwnam(name)
    env = {"HOME": entry.pw_dir, "USER": name, "LOGNAME": name, "SHELL": "/bin/bash", "LANG": "C.UTF-8",
           "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin", "MPLBACKEND": "Agg"}
    env.update(extra or {})
    return env


def run_as(name, args, *, cwd=None, env=None, timeout=600, check=True):
    """Run ``args`` as the unix user ``name`` (uid, gid, no supplementary groups); returns the CompletedProcess."""
    entry = pwd.getpwnam(name)
    result = subprocess.run(args, cwd=cwd or entry.pw_dir, env=user_env(name, env), user=entry.pw_uid,
                            group=entry.pw_gid, extra_groups=[], umask=0o022, text=True, capture_output=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} as {name} exited with {result.returncode}:\n"
                             f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def can_read(name, path):
    """Whether the unix user ``name`` can list (a folder) or read (a file) ``path``."""
    code = ("import os, sys; p = sys.argv[1]\n"
            "os.listdir(p) if os.path.isdir(p) else open(p, 'rb').read(1)")
    return run_as(name, [sys.executable, "-c", code, str(path)], check=False, timeout=60).returncode == 0


# ---------------------------------------------------------------------------
# The hub
# ---------------------------------------------------------------------------

PR_SET_PDEATHSIG = 1


def _die_with_parent():
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Hub(_Process):
    """``jupyterhub`` for a class folder written by ``lstm-course hub setup``, plus a test-only API service.

    ``start()`` waits until the hub answers; ``stop()`` (or leaving the
    ``with`` block) ends it and everything it started: SIGTERM makes the hub stop the
    servers and the proxy, then killing ``unshare`` kills the hub, PID 1 of its namespace,
    and with it every process still in the namespace.
    """

    stop_grace_s = 30

    def __init__(self, class_dir, *, startup_timeout=120):
        self.class_dir = Path(class_dir)
        self.settings = json.loads((self.class_dir / "class.json").read_text())
        self.url = f"http://127.0.0.1:{self.settings['port']}"
        self.api_url = f"{self.url}/hub/api"
        self.token = secrets.token_hex(32)
        self.startup_timeout = startup_timeout
        self.proc = None
        self.log_path = self.class_dir / "state" / "jupyterhub-test.log"
        self.startup_seconds = None

    def _write_test_config(self):
        """The class's own jupyterhub_config.py, plus an API service for the test (not in class.json)."""
        path = self.class_dir / "state" / "test_jupyterhub_config.py"
        path.write_text(f'''\
c = get_config()  # noqa: F821
load_subconfig({str(self.class_dir / "jupyterhub_config.py")!r})  # noqa: F821
c.JupyterHub.services = [{{"name": {SERVICE!r}, "api_token": {self.token!r}}}]
c.JupyterHub.load_roles = [{{
    "name": {SERVICE!r}, "services": [{SERVICE!r}],
    "scopes": ["admin:users", "admin:servers", "tokens", "access:servers", "list:users", "read:users"],
}}]
c.JupyterHub.log_level = "INFO"
''')
        os.chmod(path, 0o600)
        return path

    def start(self):
        config = self._write_test_config()
        command = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc",
                   sys.executable, "-m", "jupyterhub", "-f", str(config)]
        self._log = open(self.log_path, "w")
        began = time.monotonic()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
        env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}"
        self.proc = subprocess.Popen(command, cwd=self.class_dir / "state", env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        deadline = began + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited with {self.proc.returncode}:\n{self.log()}")
            try:
                self.api("GET", "/")
                self.startup_seconds = time.monotonic() - began
                return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise TimeoutError(f"jupyterhub did not answer within {self.startup_timeout} s:\n{self.log()}")

    def log(self, tail=8000):
        try:
            return self.log_path.read_text()[-tail:]
        except OSError:
            return ""

    # -- REST ------------------------------------------------------------------
    def request(self, method, url, *, token=None, body=None, timeout=120, raw=False):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"token {token or self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
            if raw:
                return response.status, payload
            return json.loads(payload) if payload.strip() else None

    def api(self, method, path, body=None, **kwargs):
        return self.request(method, self.api_url + path, body=body, **kwargs)

    def spawn(self, user, timeout=300):
        """Start ``user``'s server and wait until it is ready; returns the seconds it took."""
        began = time.monotonic()
        if not self.user_exists(user):
            self.api("POST", f"/users/{user}", body={})
        try:
            self.api("POST", f"/users/{user}/server", body={})
        except urllib.error.HTTPError as err:
            if err.code != 400:  # 400: already running
                raise
        deadline = began + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"/users/{user}")
            server = model.get("servers", {}).get("", {})
            if server.get("ready"):
                return time.monotonic() - began
            if not server.get("pending") and not server:
                raise RuntimeError(f"the server of {user} stopped while starting:\n{self.log()}")
            time.sleep(0.25)
        raise TimeoutError(f"the server of {user} was not ready within {timeout} s:\n{self.log()}")

    def user_exists(self, user):
        try:
            self.api("GET", f"/users/{user}")
            return True
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return False
            raise

    def user_token(self, user):
        """A new API token of ``user``, as a learner's own browser session would hold."""
        return self.api("POST", f"/users/{user}/tokens", body={"note": "lstm-course test"})["token"]

    def server_pid(self, user):
        """The host PID of ``user``'s single-user server (found by its uid), or None."""
        uid = pwd.getpwnam(user).pw_uid
        for pid in _pids_of({uid}):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue
            if any(part.endswith(b"jupyterhub-singleuser") for part in cmdline):
                return pid
        return None


class UserSession:
    """The HTTP calls a learner's JupyterLab makes to their own server, with their own token."""

    def __init__(self, hub, user, token):
        self.hub, self.user, self.token = hub, user, token
        self.base = f"{hub.url}/user/{user}"

    def call(self, method, path, body=None, **kwargs):
        return self.hub.request(method, self.base + path, token=self.token, body=body, **kwargs)

    # nbgrader's Assignments tab (@jupyter/nbgrader:assignment-list)
    def assignments(self, course_id):
        return self.call("GET", f"/assignments?course_id={course_id}")

    def assignment_action(self, action, course_id, assignment_id):
        result = self.call("POST", f"/assignments/{action}",
                           body={"course_id": course_id, "assignment_id": assignment_id}, timeout=300)
        if not result.get("success", False):
            raise AssertionError(f"{action} {assignment_id} as {self.user} failed: {result.get('value')}")
        return result["value"]

    # JupyterLab's contents API (open, save)
    def get_notebook(self, path):
        return self.call("GET", f"/api/contents/{path}?content=1")["content"]

    def save_notebook(self, path, notebook):
        return self.call("PUT", f"/api/contents/{path}", body={"type": "notebook", "format": "json",
                                                               "content": notebook})


def memory_kib(pid):
    """``(rss, pss)`` of a process and its children in KiB, from /proc (PSS splits shared pages fairly)."""
    rss = pss = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except FileNotFoundError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            pass
    return rss, pss
