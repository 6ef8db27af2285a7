"""Bubblewrap sandboxes: where a learner's kernel runs while ``lstm-course grade`` grades it.

Each graded notebook gets its own sandbox (one per kernel start), built with
Debian's ``bwrap``. Inside it, the learner's code sees:

* the Python environment and ``/usr``, read-only;
* the course package at ``/opt/lstm-course/lstm_helpers``, read-only, in a
  build from which the references of the chapter being graded are replaced by
  stubs that raise :class:`lstm_helpers.ReferenceUnavailable`
  (:func:`build_package`); any installed copy of the real package inside the
  bound trees is covered by that build;
* a private home (``/home/learner``, with the working folder ``work/``) and
  ``/tmp``, both small tmpfs mounts that vanish with the sandbox;
* one folder shared with the grader for the kernel's sockets and connection
  file; when grading as root, the grader takes it back once the kernel has
  bound its sockets (``SandboxKernelManager._seal`` in :mod:`.nbgrader_plugins`), so nothing more can be
  written there.

It does not see ``solutions/``, the template course, any gradebook, other
students' notebooks, the grader's results or the network (``--unshare-net``),
and it has its own PID namespace: it cannot see or signal any process outside.
When the kernel's process ends, bwrap's init ends and the kernel kills every
process left in the namespace, detached children included
(``--die-with-parent`` does the same if the grader dies).

Limits (:class:`Limits`) are set with ``setrlimit`` before bwrap starts:
address space, processes, CPU seconds, file size, open files. When the grader
runs as root, each sandbox runs the kernel under a fresh unprivileged uid
(``setpriv``), and where the grader may create control groups, memory,
processes and CPU are limited for the whole sandbox (:class:`Cgroup`); run by
an ordinary user without them, memory is limited per process and the process
limit counts that user's other processes too.

The kernel talks to the grader over ZeroMQ's ``ipc`` transport (TCP cannot
cross ``--unshare-net``), ``JPY_PARENT_PID`` is unset (in its own PID
namespace ipykernel would think its parent had died), and interrupts go as
messages on the control channel (a signal to bwrap would not reach it).
"""

import ast
import compileall
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import lstm_helpers

PACKAGE_DIR = Path(lstm_helpers.__file__).resolve().parent
INSIDE_PACKAGES = "/opt/lstm-course"
HOME = "/home/learner"
WORK = f"{HOME}/work"
UID_BASE = 1_650_000_000  # grading as root, each sandbox runs as a fresh uid above this one
UID_SPAN = 1 << 24        # ... and below UID_BASE + UID_SPAN


@dataclass
class Limits:
    """Resource limits of one sandbox.

    With a control group (:func:`cgroup_kind`), ``memory``, ``processes`` and
    ``cpus`` bound the whole sandbox; without one, ``memory`` bounds each
    process's address space and ``processes`` the sandbox's uid, and CPU use is
    bounded only in time. ``cpu_seconds``, ``file_size`` and ``open_files`` are
    ``setrlimit`` limits per process in both cases.
    """

    memory: int = 4 << 30          # bytes
    processes: int = 256           # processes and threads
    cpus: float = 1.0              # CPU cores the sandbox may keep busy (control group only)
    cpu_seconds: int = 1800        # CPU time per process
    file_size: int = 64 << 20      # largest file a process may write, bytes
    open_files: int = 512
    scratch: int = 256 << 20       # size of the tmpfs home and of /tmp, bytes


@dataclass
class Spec:
    """Everything the launcher needs to start one sandboxed kernel (stored as JSON)."""

    packages: str                                  # folder holding the sandbox build of lstm_helpers
    ipc_dir: str = ""                              # shared with the grader, bound read-write at the same path
    files: dict = field(default_factory=dict)      # path inside HOME -> host file copied in
    readonly: list = field(default_factory=list)   # host trees bound read-only at the same path
    masks: list = field(default_factory=list)      # installed copies of lstm_helpers to cover with the build
    uid: int = -1                                  # run the kernel as this uid (root only); -1 keeps ours
    limits: dict = field(default_factory=lambda: asdict(Limits()))
    env: dict = field(default_factory=dict)        # extra environment variables for the kernel
    cgroup: str = ""                               # name of this sandbox's control group ("" for none)


# ---------------------------------------------------------------------------
# Is there a sandbox here?
# ---------------------------------------------------------------------------

@lru_cache(maxsize=None)
def unavailable_reason():
    """None when bubblewrap sandboxes work on this machine; else one line that says why not."""
    if not sys.platform.startswith("linux"):
        return f"sandboxes need Linux with bubblewrap; this is {sys.platform}"
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed; on Debian or Ubuntu: apt-get install bubblewrap"
    if shutil.which("setpriv") is None and os.geteuid() == 0:
        return "setpriv (util-linux) is missing"
    probe = [*_namespace_flags(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--", "true"]
    try:
        result = subprocess.run(["bwrap", *probe], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not start: {exc}"
    if result.returncode != 0:
        return f"bwrap cannot create a sandbox here: {result.stderr.strip()[:300]}"
    return None


def _namespace_flags():
    flags = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
             "--die-with-parent", "--new-session"]
    if os.geteuid() != 0:
        flags.insert(0, "--unshare-user")
    return flags


# ---------------------------------------------------------------------------
# Control groups: memory, processes and CPU for the whole sandbox
# ---------------------------------------------------------------------------

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "lstm-course"
_V1 = ("memory", "pids", "cpu")


@lru_cache(maxsize=None)
def cgroup_kind():
    """``"v1"`` or ``"v2"`` when this process can make control groups for sandboxes, else None."""
    probe = f"probe-{os.getpid()}"
    for kind in ("v2", "v1"):
        try:
            group = Cgroup(kind, probe)
            group.create(Limits(memory=256 << 20, processes=16, cpus=0.5))
            if group.remove(seconds=2):
                return kind
        except OSError:
            Cgroup(kind, probe).remove(seconds=1)
    return None


class Cgroup:
    """One sandbox's control group (v1: one per controller; v2: one with three controllers)."""

    def __init__(self, kind, name):
        self.kind, self.name = kind, name

    def _dirs(self):
        if self.kind == "v2":
            return [CGROUP_ROOT / CGROUP_PARENT / self.name]
        return [CGROUP_ROOT / controller / CGROUP_PARENT / self.name for controller in _V1]

    def create(self, limits):
        quota = max(1000, int(limits.cpus * 100_000))
        if self.kind == "v2":
            if not (CGROUP_ROOT / "cgroup.controllers").is_file():
                raise OSError("no cgroup v2 here")
            parent = CGROUP_ROOT / CGROUP_PARENT
            parent.mkdir(exist_ok=True)
            (parent / "cgroup.subtree_control").write_text("+memory +pids +cpu")
            group = parent / self.name
            group.mkdir(exist_ok=True)
            (group / "memory.max").write_text(str(limits.memory))
            (group / "memory.swap.max").write_text("0") if (group / "memory.swap.max").exists() else None
            (group / "pids.max").write_text(str(limits.processes))
            (group / "cpu.max").write_text(f"{quota} 100000")
            return
        for controller, group in zip(_V1, self._dirs()):
            if not (CGROUP_ROOT / controller).is_dir():
                raise OSError(f"no {controller} controller here")
            group.mkdir(parents=True, exist_ok=True)
        memory, pids, cpu = self._dirs()
        (memory / "memory.limit_in_bytes").write_text(str(limits.memory))
        (pids / "pids.max").write_text(str(limits.processes))
        (cpu / "cpu.cfs_period_us").write_text("100000")
        (cpu / "cpu.cfs_quota_us").write_text(str(quota))

    def join(self, pid):
        for group in self._dirs():
            (group / "cgroup.procs").write_text(str(pid))

    def pids(self):
        found = set()
        for group in self._dirs():
            try:
                found |= {int(p) for p in (group / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return found

    def remove(self, seconds=10.0):
        """Kill whatever still runs in the group, then delete it; False if it could not be deleted in time."""
        import signal
        import time

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            busy = False
            for group in self._dirs():
                try:
                    group.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    busy = True
            if not busy:
                return True
            time.sleep(0.05)
        return False


def sweep_cgroups():
    """Remove the control groups of grading workers that are gone (a worker killed before it cleaned up)."""
    kind = cgroup_kind()
    if kind is None:
        return
    parent = CGROUP_ROOT / (CGROUP_PARENT if kind == "v2" else f"pids/{CGROUP_PARENT}")
    for group in parent.iterdir() if parent.is_dir() else []:
        owner = group.name.split("-", 1)[0]
        if group.is_dir() and owner.isdigit() and not Path(f"/proc/{owner}").exists():
            Cgroup(kind, group.name).remove(seconds=2)


# ---------------------------------------------------------------------------
# The package build without the chapter's references
# ---------------------------------------------------------------------------

def _stub(node, qualified):
    """``node`` (a FunctionDef) with its body replaced by a raise."""
    raise_stmt = ast.parse(f"raise __import__('lstm_helpers').ReferenceUnavailable({qualified!r})").body
    node.body = raise_stmt
    node.decorator_list = []
    return node


def build_package(target, blocked):
    """Write a copy of ``lstm_helpers`` into ``target/lstm_helpers`` with the ``blocked`` functions stubbed.

    ``blocked``: ``"module:function"`` targets (``"lstm_helpers.rnn:rnn_forward"``).
    The classroom and the notebooks (the lecture page) are left out: nothing in a learner's kernel needs them. The
    copy is byte-compiled, since it is mounted read-only. Returns ``target``.
    """
    target = Path(target)
    destination = target / "lstm_helpers"
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(PACKAGE_DIR, destination,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "classroom", "*.egg-info", "*.ipynb"))
    by_module = {}
    for item in blocked:
        module, function = item.split(":")
        by_module.setdefault(module, set()).add(function)
    for module, functions in sorted(by_module.items()):
        relative = Path(*module.split(".")[1:]).with_suffix(".py")
        path = destination / relative
        if not path.is_file():
            path = destination / Path(*module.split(".")[1:]) / "__init__.py"
        tree = ast.parse(path.read_text())
        found = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in functions:
                _stub(node, f"{module}.{node.name}")
                found.add(node.name)
        missing = functions - found
        if missing:
            raise ValueError(f"cannot block {', '.join(sorted(missing))}: not defined at the top of {module}")
        path.write_text(ast.unparse(tree) + "\n")
    compileall.compile_dir(str(destination), quiet=1)
    for folder, dirs, files in os.walk(target):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
    return target


def blocked_references(chapter):
    """The references the chapter's exercises must not call, as ``"module:function"`` targets."""
    from ..exercises import CHAPTERS, EXERCISES

    return sorted({target for name in CHAPTERS.get(chapter, []) for target in EXERCISES[name].block})


def package_digest():
    """A digest of the installed package's source, to key cached builds."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".json", ".npz"):
            digest.update(str(path.relative_to(PACKAGE_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------
# What to bind
# ---------------------------------------------------------------------------

def readonly_trees():
    """The host trees a kernel needs, read-only: this Python (the venv and the installation it is built on)."""
    trees = []
    for prefix in (sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))):
        real = os.path.realpath(prefix)
        if real.startswith("/usr/") or real == "/usr":
            continue
        for tree in (prefix, real):
            if tree not in trees and os.path.isdir(tree):
                trees.append(tree)
    return trees


def masks(trees):
    """Installed copies of the real package inside ``trees``: the sandbox covers them with its build."""
    out = []
    for tree in ["/usr", *trees]:
        if str(PACKAGE_DIR).startswith(tree.rstrip("/") + "/"):
            out.append(str(PACKAGE_DIR))
    return out


def matplotlib_cache(folder):
    """A matplotlib font cache built once outside, copied into each sandbox (else every kernel rebuilds it)."""
    folder = Path(folder)
    if not any(folder.glob("fontlist-*.json")):
        folder.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, MPLCONFIGDIR=str(folder))
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, check=True,
                       capture_output=True, timeout=300)
    return {f".config/matplotlib/{p.name}": str(p) for p in folder.glob("fontlist-*.json")}


# ---------------------------------------------------------------------------
# The bwrap command line, and the launcher that sets the limits
# ---------------------------------------------------------------------------

def _ancestors(path):
    parts = Path(path).parts
    return [str(Path(*parts[: i + 1])) for i in range(1, len(parts) - 1)]


def command(spec, argv, fds):
    """The ``bwrap`` command line for ``spec`` that runs ``argv``; ``fds``: ``{inside path: open fd}``."""
    limits = Limits(**spec.limits)
    args = ["bwrap", *_namespace_flags(), "--clearenv"]
    env = {"HOME": HOME, "USER": "learner", "LOGNAME": "learner", "LANG": "C.UTF-8",
           "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
           "PYTHONPATH": INSIDE_PACKAGES, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8",
           "MPLCONFIGDIR": f"{HOME}/.config/matplotlib", "IPYTHONDIR": f"{HOME}/.ipython",
           "JUPYTER_CONFIG_DIR": f"{HOME}/.jupyter", "JUPYTER_DATA_DIR": f"{HOME}/.local/share/jupyter",
           "JUPYTER_RUNTIME_DIR": f"{HOME}/.local/share/jupyter/runtime", "TMPDIR": "/tmp",
           "LSTM_COURSE_SANDBOX": "1", **spec.env}
    for key, value in env.items():
        args += ["--setenv", key, str(value)]
    args += ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(limits.scratch), "--tmpfs", "/tmp"]
    made = {"/tmp"}

    def make_parents(path):
        nonlocal args
        for parent in _ancestors(path):
            if parent not in made:
                args += ["--perms", "0755", "--dir", parent]
                made.add(parent)

    for tree in spec.readonly:
        make_parents(tree)
        args += ["--ro-bind", tree, tree]
        made.add(tree)
    make_parents(f"{INSIDE_PACKAGES}/x")
    args += ["--ro-bind", spec.packages, INSIDE_PACKAGES]
    for mask in spec.masks:
        args += ["--ro-bind", os.path.join(spec.packages, "lstm_helpers"), mask]
    make_parents(spec.ipc_dir)
    args += ["--bind", spec.ipc_dir, spec.ipc_dir]
    make_parents(f"{HOME}/x")
    args += ["--perms", "0777", "--size", str(limits.scratch), "--tmpfs", HOME]
    folders = {WORK} | {os.path.dirname(os.path.join(HOME, inside)) for inside in fds}
    for folder in sorted(folders, key=len):
        for parent in [*_ancestors(os.path.join(folder, "x"))]:
            if parent.startswith(HOME + "/") and parent not in made:
                args += ["--perms", "0777", "--dir", parent]
                made.add(parent)
    for inside, fd in fds.items():
        args += ["--perms", "0666", "--file", str(fd), os.path.join(HOME, inside)]
    args += ["--chdir", WORK, "--"]
    if spec.uid >= 0:
        args += ["setpriv", f"--reuid={spec.uid}", f"--regid={spec.uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    return args + list(argv)


def _user_tasks(uid):
    """Processes and threads that ``uid`` runs now (what RLIMIT_NPROC counts)."""
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields["Threads"])
        except (OSError, KeyError, ValueError):
            continue
    return count


def set_limits(limits, uid, in_cgroup):
    """``setrlimit`` for this process and everything it starts (the sandbox).

    In a control group, memory and processes are bounded for the whole
    sandbox already; otherwise per process (address space) and per uid.
    """
    pairs = [(resource.RLIMIT_CPU, limits.cpu_seconds), (resource.RLIMIT_FSIZE, limits.file_size),
             (resource.RLIMIT_NOFILE, limits.open_files), (resource.RLIMIT_CORE, 0),
             (resource.RLIMIT_AS, limits.memory)]
    if not in_cgroup:
        processes = limits.processes if uid >= 0 else _user_tasks(os.getuid()) + limits.processes
        pairs.append((resource.RLIMIT_NPROC, processes))
        os.nice(5)  # no CPU quota: at least the grader keeps priority over the sandbox
    for which, value in pairs:
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (value, value))


def launch(spec_path, argv):
    """Start ``argv`` in the sandbox that ``spec_path`` describes (this process becomes bwrap)."""
    spec = Spec(**json.loads(Path(spec_path).read_text()))
    fds = {}
    for inside, host in spec.files.items():
        fd = os.open(host, os.O_RDONLY)
        os.set_inheritable(fd, True)
        fds[inside] = fd
    limits = Limits(**spec.limits)
    if spec.cgroup:
        Cgroup(cgroup_kind(), spec.cgroup).join(os.getpid())  # the sandbox and all it starts stay inside
    set_limits(limits, spec.uid, bool(spec.cgroup))
    args = command(spec, argv, fds)
    os.execvp(args[0], args)


def socket_root(work):
    """Where the kernels' socket folders go: ``work/sockets`` (only the grader can reach it on the host)."""
    root = Path(work) / "sockets"
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    return root


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit("usage: python -m lstm_helpers.classroom.sandbox SPEC.json -- COMMAND ...  "
                 "(started by the grader's kernel manager)")
    launch(sys.argv[1], sys.argv[3:])
