"""The bubblewrap sandbox a graded notebook's kernel runs in, probed from inside one real kernel.

One kernel is started the way the grader starts it (``SandboxKernelManager``)
and asked to do what a hostile answer would: read the course, write the
package, reach the network, see or kill other processes, leave a child
behind, allocate without bound. Each probe's result is checked from outside.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from grader_fixtures import ROOT, chapters, release_notebook
from lstm_helpers.classroom import sandbox
from lstm_helpers.classroom.nbgrader_plugins import SandboxKernelManager

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sandbox.unavailable_reason() is not None,
                                                   reason=f"no sandbox here: {sandbox.unavailable_reason()}")]


def test_the_package_build_stubs_exactly_the_chapters_references(tmp_path):
    build = sandbox.build_package(tmp_path, sandbox.blocked_references("02_rnn"))
    probe = ("import lstm_helpers.rnn as r, lstm_helpers.lstm as l, lstm_helpers, numpy as np\n"
             "try:\n    r.rnn_forward(np.zeros((1, 1, 1)), np.zeros((1, 1)), {})\n"
             "except lstm_helpers.ReferenceUnavailable as e:\n    print('stubbed:', e)\n"
             "x = np.zeros((2, 3)); h = np.zeros((2, 4))\n"
             "p = l.init_lstm_params(3, 4, np.random.default_rng(0))\n"
             "print('other chapters work:', l.lstm_cell_forward(x, h, h, p)[0].shape)\n")
    out = subprocess.run([sys.executable, "-c", probe], env=dict(os.environ, PYTHONPATH=str(build)),
                         cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert "stubbed: lstm_helpers.rnn.rnn_forward, the course's reference, is not available" in out
    assert "other chapters work: (2, 4)" in out
    assert not (build / "lstm_helpers" / "classroom").exists()  # the grader is no business of a kernel
    assert not os.access(build / "lstm_helpers" / "rnn.py", os.W_OK) or os.geteuid() == 0


PROBES = {
    "whoami": "import os, sys; print('uid', os.getuid(), 'pid', os.getpid(), 'cwd', os.getcwd())",
    "course": (f"import os, importlib.util; print('course visible:', os.path.exists({str(ROOT / 'solutions')!r}))\n"
               "try:\n    found = importlib.util.find_spec('lstm_helpers.classroom') is not None\n"
               "except Exception:\n    found = False\nprint('grader importable:', found)"),
    "package": ("import lstm_helpers, os\ntarget = os.path.join(os.path.dirname(lstm_helpers.__file__), 'rnn.py')\n"
                "try:\n    open(target, 'a').write('#')\n    print('package written')\n"
                "except OSError as e:\n    print('package read-only:', e.errno)"),
    "network": ("import socket\ns = socket.socket(); s.settimeout(2)\n"
                "try:\n    s.connect(('127.0.0.1', PORT)); print('network reached')\n"
                "except OSError as e:\n    print('no network:', e.errno)"),
    "processes": "import os; print('processes seen:', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))",
    "child": ("import subprocess, os\nsubprocess.Popen(['sleep', '3639'], start_new_session=True)\n"
              "if os.fork() == 0:\n    os.setsid()\n    import time\n    time.sleep(3639)\nprint('children left')"),
    "memory": ("import numpy as np\ntry:\n    a = np.ones(8 << 30, dtype=np.uint8)\n    print('8 GiB allocated')\n"
               "except MemoryError:\n    print('memory refused')"),
    "forks": ("import os\nn = 0\ntry:\n    while n < 5000:\n        pid = os.fork()\n        if pid == 0:\n"
              "            import time\n            time.sleep(20)\n            os._exit(0)\n        n += 1\n"
              "except OSError:\n    pass\nprint('forks', n)"),
    "sockets": ("import os, sys\nfolder = os.path.dirname(sys.argv[sys.argv.index('-f') + 1])\n"
                "try:\n    open(os.path.join(folder, 'fill'), 'w').write('x')\n    print('socket folder writable')\n"
                "except OSError:\n    print('socket folder sealed')"),
}


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    work = tmp_path_factory.mktemp("sandbox")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    package = sandbox.build_package(work / "pkg", sandbox.blocked_references("02_rnn"))
    trees = sandbox.readonly_trees()
    spec = dict(packages=str(package), readonly=trees, masks=sandbox.masks(trees),
                uid=sandbox.UID_BASE if os.geteuid() == 0 else -1, files=sandbox.matplotlib_cache(work / "mpl"),
                limits=dict(vars(sandbox.Limits()), processes=64))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code.replace("PORT", str(port)))
                                         for code in PROBES.values()])
    client = NotebookClient(nb, timeout=60, allow_errors=True)
    client.km = SandboxKernelManager(sandbox_spec=spec, sandbox_root=str(sandbox.socket_root(work)))
    started = time.monotonic()
    client.execute()
    seconds = time.monotonic() - started
    try:
        listener.accept()
        reached = True
    except OSError:
        reached = False
    listener.close()
    time.sleep(1)
    left = subprocess.run(["pgrep", "-f", "sleep 3639"], capture_output=True, text=True).stdout.split()
    for pid in left:
        subprocess.run(["kill", "-9", pid])
    outputs = {name: "".join(o.get("text", "") + o.get("evalue", "") for o in cell.outputs)
               for name, cell in zip(PROBES, nb.cells)}
    return {"out": outputs, "reached": reached, "left": left, "seconds": seconds}


def test_the_kernel_runs_as_another_user_in_its_own_home(probed):
    out = probed["out"]["whoami"]
    assert "cwd /home/learner/work" in out
    if os.geteuid() == 0:
        uid = int(out.split("uid ")[1].split()[0])
        assert sandbox.UID_BASE <= uid < sandbox.UID_BASE + sandbox.UID_SPAN


def test_the_course_and_the_package_are_out_of_reach(probed):
    assert "course visible: False" in probed["out"]["course"]
    assert "grader importable: False" in probed["out"]["course"]
    assert "package read-only" in probed["out"]["package"]


def test_no_network(probed):
    assert "no network" in probed["out"]["network"] and not probed["reached"]


def test_its_own_process_namespace(probed):
    import re

    seen = [int(n) for n in re.findall(r"\d+", probed["out"]["processes"].split("processes seen:")[1])]
    host = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    assert 1 in seen and 2 in seen, seen  # bwrap's init and the kernel, numbered from 1 in their namespace
    assert len(seen) < 20 < len(host), (seen, len(host))


def test_nothing_outlives_the_kernel(probed):
    assert "children left" in probed["out"]["child"]
    assert probed["left"] == []


def test_memory_and_processes_are_bounded(probed):
    assert "memory refused" in probed["out"]["memory"]
    forks = int(probed["out"]["forks"].split("forks")[1].split()[0])
    assert forks < 64


@pytest.mark.skipif(os.geteuid() != 0, reason="the socket folder is sealed only when grading as root")
def test_the_socket_folder_is_sealed_once_the_kernel_is_up(probed):
    assert "socket folder sealed" in probed["out"]["sockets"]



@pytest.mark.parametrize("chapter", chapters())
def test_the_setup_cell_imports_in_the_chapters_package_build(tmp_path, chapter):
    """Importing the checks must not call a reference that the chapter's build stubs (a question's
    wrong answer computed at import, say): the learner's setup cell would fail while graded."""
    build = sandbox.build_package(tmp_path, sandbox.blocked_references(chapter))
    setup = next(cell.source for cell in release_notebook(chapter).cells
                 if cell.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    imports = "\n".join(line for line in setup.splitlines() if line.startswith(("import ", "from ")))
    probe = imports + "\nimport lstm_helpers.exercises as e\nprint('exercises:', len(e.EXERCISES))\n"
    result = subprocess.run([sys.executable, "-c", probe], env=dict(os.environ, PYTHONPATH=str(build), MPLBACKEND="Agg"),
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "exercises:" in result.stdout
