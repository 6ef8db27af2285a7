"""Helpers for the browser tests: a throw-away Jupyter server started the way
learners start it, headless Debian Chromium, and small JupyterLab drivers.

Nothing here writes into the repository: the server's root is a temporary
copy of the course and every Jupyter folder (config, data, runtime, settings,
workspaces) points into a temporary directory.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from lstm_helpers.classroom import course, lab
from lstm_helpers.experiment import runner

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("LSTM_COURSE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


def copy_course(target):
    """The course sources the server needs (config, solutions, notebooks) under ``target``."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", target)
    skip = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    for folder in (course.SOURCE, course.RELEASE):
        shutil.copytree(ROOT / folder, target / folder, ignore=skip)
    return target


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Process:
    """A test-owned process started in a session of its own, with its output in a log file.

    Subclasses set ``self.proc`` and ``self._log`` in :meth:`start`, which returns ``self``.
    As a context manager the process (and whatever it started) always stops.
    """

    proc = None
    stop_grace_s = 20  # seconds between asking it to stop and killing its whole process group

    def stop(self):
        """Ask the process to stop (a Jupyter server shuts its kernels down); force it if it hangs."""
        if self.proc is None:
            return
        try:
            stop_process_group(self.proc, grace_s=self.stop_grace_s)
        finally:
            self._log.close()
            self.proc = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


class JupyterServer(_Process):
    """``jupyter lab`` (or ``jupyter notebook``) exactly as :mod:`lstm_helpers.lab`
    starts it for learners, plus test-only settings: loopback only, a free
    port, no token or password, no news, no update check, the app object
    exposed to the page, and every Jupyter folder in ``workdir``.

    Use as a context manager; the server (and its kernels) always stops.
    """

    def __init__(self, course_root, workdir, app="lab", startup_timeout=60, folder=None):
        self.course_root = Path(course_root)
        self.workdir = Path(workdir)
        self.app = app
        # The chapter tests open the release itself (notebooks/), where they put each
        # solution beside its student version; learners get a copy of it, their workspace.
        self.folder = Path(folder) if folder is not None else self.course_root / course.RELEASE
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.log_path = self.workdir / f"jupyter-{app}.log"

    def _test_env(self):
        return fresh_user_env(self.workdir)

    def launch(self):
        """Start the server process; :meth:`wait_ready` waits for it to answer."""
        spec = lab.learner_launch(self.workdir / "learner-config", root=self.course_root,
                                  argv=[f"--port={self.port}"], app=self.app, env=self._test_env(),
                                  folder=self.folder)
        self.command = spec["args"]
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(**spec, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self):
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter {self.app} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise TimeoutError(f"jupyter {self.app} did not answer within {self.startup_timeout} s:\n{self.log()}")

    def start(self):
        return self.launch().wait_ready()

    def get(self, path):
        """HTTP status of ``GET path`` on the server."""
        try:
            with urllib.request.urlopen(f"{self.url}/{path.lstrip('/')}", timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as err:
            return err.code

    def log(self):
        try:
            return self.log_path.read_text()[-6000:]
        except OSError:
            return ""

def fresh_user_env(workdir, new_learner=False):
    """The environment of a fresh Jupyter user whose folders are all in ``workdir``
    (nothing from this machine's ~/.jupyter), with the test-only server settings:
    loopback only, no port retries, no password or token, the app object exposed.

    Unless ``new_learner``, this user has also said no to JupyterLab's news
    prompt and switched its update check off. A ``new_learner`` has done
    neither, and keeps the token and the refusal to run as root: all of that
    is left to ``lstm-course lab`` and its command line.
    """
    workdir = Path(workdir)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JUPYTER", "JPY_")) and k not in ("MPLBACKEND", "IPYTHONDIR")}
    folders = {
        "JUPYTER_CONFIG_DIR": "user-config",
        "JUPYTER_DATA_DIR": "user-data",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
        "IPYTHONDIR": "ipython",
    }
    for name, folder in folders.items():
        path = workdir / folder
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    # Chapter 06's live training runs 64 s at most; 1 s per run still shows the progress bars.
    env.setdefault(runner.TIME_CAP_VARIABLE, "1")
    # The test-only server settings live in the isolated user config folder.
    settings = {
        "ServerApp": {"ip": "127.0.0.1", "port_retries": 0, "open_browser": False, "password": "",
                      "allow_root": hasattr(os, "geteuid") and os.geteuid() == 0},
        "IdentityProvider": {"token": ""},
        "LabApp": {"news_url": None, "expose_app_in_browser": True,
                   "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate"},
        "JupyterNotebookApp": {"expose_app_in_browser": True},
    }
    if new_learner:
        settings["ServerApp"].pop("allow_root")
        del settings["IdentityProvider"]
        settings["LabApp"] = {"expose_app_in_browser": True}
    (workdir / "user-config" / "jupyter_server_config.json").write_text(json.dumps(settings, indent=2))
    if not new_learner:
        # ...and the fresh user has answered JupyterLab's "news?" question with no.
        notification = workdir / "lab-settings" / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True, exist_ok=True)
        (notification / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return env


class LabCommand(_Process):
    """The learner's own command, ``lstm-course lab``, run in ``course_root`` for a
    new learner whose Jupyter folders are in ``workdir``; its output goes to a log.

    :meth:`start` waits for the line with the URL to open (then in ``url``).
    Use as a context manager; the launcher, its server and kernels always stop.
    """

    URL_LINE = re.compile(r"Open this URL in your browser: (\S+)")

    def __init__(self, course_root, workdir, args=(), startup_timeout=90):
        self.course_root, self.workdir = Path(course_root), Path(workdir)
        self.port = free_port()
        root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        self.args = [sys.executable, "-m", "lstm_helpers.classroom.cli", "lab", f"--port={self.port}",
                     "--no-browser", *root, *args]
        self.startup_timeout = startup_timeout
        self.proc, self.url = None, None
        self.log_path = self.workdir / f"lstm-course-lab-{self.port}.log"

    def start(self):
        env = fresh_user_env(self.workdir, new_learner=True)
        env["PYTHONUNBUFFERED"] = "1"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.args, cwd=self.course_root, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            found = self.URL_LINE.search(self.output())
            if found:
                self.url = found.group(1)
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"lstm-course lab exited with {self.proc.returncode}:\n{self.output()}")
            time.sleep(0.2)
        raise TimeoutError(f"lstm-course lab printed no URL within {self.startup_timeout} s:\n{self.output()}")

    def output(self):
        try:
            return self.log_path.read_text()
        except OSError:
            return ""


def start_playwright():
    """Playwright's driver, started; skips the calling test when Playwright or Chromium is missing."""
    import pytest

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Python playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/setup does)")
    return sync_playwright().start()


def launch_chromium(driver):
    """Headless Debian Chromium through Playwright's ``driver``."""
    return driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


# ---------------------------------------------------------------------------
# Driving JupyterLab (and Notebook 7) through the app object the page exposes
# (``window.jupyterapp``, enabled by the test-only ``expose_app_in_browser``).
# Every helper takes the id of one notebook panel and looks only at it;
# commands get that panel as ``widgetId``, so two open notebooks never mix.
# ---------------------------------------------------------------------------

JS_INSTALL = """
() => {
  window.__lstmPanel = (id) => {
    const app = window.jupyterapp;
    for (const w of app.shell.widgets('main')) { if (w.id === id) return w; }
    const current = app.shell.currentWidget;
    return current && current.id === id ? current : null;
  };
  window.__lstmRuns = window.__lstmRuns || {};
}
"""

# Open notebooks (their kernels start side by side, unless told not to
# start any); returns the panels' ids.
JS_OPEN = """
async ([paths, kernel]) => {
  const app = window.jupyterapp;
  await app.restored;
  const panels = [];
  const kernelPreference = kernel ? undefined : {shouldStart: false, canStart: false};
  for (const path of paths) {
    panels.push(await app.commands.execute('docmanager:open', {path, factory: 'Notebook', kernelPreference}));
  }
  await Promise.all(panels.map(async (panel) => { await panel.context.ready; await panel.sessionContext.ready; }));
  return panels.map(panel => panel.id);
}
"""

JS_CURRENT = """
async () => {
  const app = window.jupyterapp;
  await app.restored;
  const panel = app.shell.currentWidget;
  await panel.context.ready;
  await panel.sessionContext.ready;
  return panel.id;
}
"""

# Run All Cells. The exercises' test cells are tagged raises-exception, so the
# kernel carries on past a failing check; should any other cell stop the run,
# resume, like a learner who skips an unfinished exercise, with Run Selected
# Cell and All Below from the first cell left unexecuted, until every cell has run.
JS_RUN_ALL = """
(id) => {
  const app = window.jupyterapp;
  const panel = window.__lstmPanel(id);
  const args = {widgetId: id, activate: false};
  const state = window.__lstmRuns[id] = {done: false, error: null, resumed: []};
  const firstUnexecuted = () => {
    const cells = panel.content.model.cells;
    for (let i = 0; i < cells.length; i++) {
      const c = cells.get(i);
      if (c.type === 'code' && c.sharedModel.getSource().trim() && c.executionCount === null) return i;
    }
    return -1;
  };
  // The command's promise settles at the first failing cell, but the cells
  // after it stay queued in the kernel (a cell tagged raises-exception fails
  // without stopping the queue) and still run. Count the execute requests
  // sent and the replies received, and look for unrun cells only once no
  // reply has been outstanding for a quarter of a second (JupyterLab sends
  // the requests one after another): resuming earlier runs cells twice.
  const kernel = panel.sessionContext.session.kernel;
  let pending = 0;
  const count = (_, {msg, direction}) => {
    if (direction === 'send' && msg.header.msg_type === 'execute_request') pending++;
    if (direction === 'recv' && msg.header.msg_type === 'execute_reply') pending--;
  };
  kernel.anyMessage.connect(count);
  const settled = async () => {
    for (let quiet = 0; quiet < 5;) {
      await new Promise(resolve => setTimeout(resolve, 50));
      quiet = pending > 0 ? 0 : quiet + 1;
    }
  };
  (async () => {
    await app.commands.execute('notebook:run-all-cells', args);
    let last = -1;
    for (;;) {
      await settled();
      const next = firstUnexecuted();
      if (next < 0 || next <= last) break;
      last = next;
      state.resumed.push(next);
      panel.content.activeCellIndex = next;
      panel.content.deselectAll();
      await app.commands.execute('notebook:run-all-below', args);
    }
  })().then(() => { state.done = true; }, (e) => { state.error = String(e); state.done = true; })
    .finally(() => kernel.anyMessage.disconnect(count));
}
"""

JS_RUN_STATE = """
(id) => {
  const panel = window.__lstmPanel(id);
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const running = [...panel.node.querySelectorAll('.jp-InputPrompt')].filter(p => p.textContent.includes('*')).length;
  return Object.assign({}, window.__lstmRuns[id], {kernel: kernel ? kernel.status : null, running});
}
"""

JS_MODEL = """
(id) => {
  const panel = window.__lstmPanel(id);
  const cells = panel.content.model.cells;
  const out = [];
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    const j = c.toJSON();
    const text = (t) => (t === undefined ? '' : (Array.isArray(t) ? t.join('') : String(t)));
    out.push({
      index: i, type: c.type, source: text(j.source),
      nbgrader: (j.metadata || {}).nbgrader || null,
      execution_count: c.type === 'code' ? c.executionCount : null,
      outputs: (j.outputs || []).map(o => ({
        output_type: o.output_type, ename: o.ename || null, evalue: o.evalue || null,
        name: o.name || null, text: text(o.text), mimes: Object.keys(o.data || {}),
        plain: text((o.data || {})['text/plain']),
      })),
    });
  }
  return out;
}
"""

JS_DOM = """
(id) => {
  const panel = window.__lstmPanel(id);
  return panel.content.widgets.map((w, i) => ({
    index: i,
    rendered: w.rendered === undefined ? null : w.rendered,
    mathjax: w.node.querySelectorAll('mjx-container').length,
    // MathJax marks TeX errors with <merror>, and undefined macros as red text
    math_errors: [
      ...[...w.node.querySelectorAll('mjx-merror')].map(e => e.getAttribute('data-mjx-error') || e.textContent),
      ...[...w.node.querySelectorAll('mjx-assistive-mml mtext[mathcolor="red"]')].map(e => e.textContent),
    ],
    // rendered prose without math and code: raw TeX left here was not typeset
    prose: (() => {
      const view = w.node.querySelector('.jp-RenderedMarkdown');
      if (!view) return '';
      const copy = view.cloneNode(true);
      copy.querySelectorAll('mjx-container, code, pre, script').forEach(e => e.remove());
      return copy.textContent;
    })(),
    images: [...w.node.querySelectorAll('.jp-OutputArea-output img')].map(img => ({
      complete: img.complete, width: img.naturalWidth, widget: img.classList.contains('widget-image')})),
    widget_views: w.node.querySelectorAll('.jp-OutputArea-output > .jupyter-widgets').length,
    widget_errors: [...w.node.querySelectorAll('.jp-OutputArea-output')]
      .map(o => o.textContent).filter(t => /Error displaying widget|Loading widget|model not found/i.test(t)),
  }));
}
"""

JS_SCROLLER = """
(id) => {
  const panel = window.__lstmPanel(id);
  const outer = panel.node.querySelector('.jp-WindowedPanel-outer') || panel.content.node;
  // the bottom of the last cell: scrollHeight also counts the "scroll past end" space
  const cells = panel.content.widgets;
  const last = cells.length ? cells[cells.length - 1].node : outer;
  const bottom = last.getBoundingClientRect().bottom - outer.getBoundingClientRect().top + outer.scrollTop;
  return {height: Math.ceil(Math.min(bottom + 24, outer.scrollHeight)), client: outer.clientHeight};
}
"""

JS_SCROLL_TO = """
([id, top]) => {
  const panel = window.__lstmPanel(id);
  const outer = panel.node.querySelector('.jp-WindowedPanel-outer') || panel.content.node;
  outer.scrollTop = top;
  return outer.scrollTop;
}
"""

JS_IMAGE_DIGEST = """
async (root) => {
  const parts = [];
  for (const img of root.querySelectorAll('img')) {
    const buf = await (await fetch(img.src)).arrayBuffer();
    const digest = await crypto.subtle.digest('SHA-256', buf);
    parts.push([...new Uint8Array(digest)].map(b => b.toString(16).padStart(2, '0')).join(''));
  }
  return parts.join(':');
}
"""

JS_SCROLL_INTO_VIEW = "(element) => element.scrollIntoView({block: 'nearest'})"

# A slider's value as the learner reads it: the readout (aria-valuenow is rounded).
JS_SLIDER_VALUE = """
(handle) => {
  const box = handle.closest('.widget-slider');
  const readout = box && box.querySelector('.widget-readout');
  return (readout && readout.textContent.trim()) || handle.getAttribute('aria-valuetext')
    || handle.getAttribute('aria-valuenow');
}
"""

JS_SLIDER_NAME = """
(handle) => {
  const box = handle.closest('.widget-slider');
  const label = box && box.querySelector('.widget-label');
  return ((label && label.textContent) || handle.getAttribute('aria-label') || '').trim();
}
"""

JS_HIDE_DIALOGS = """
(hide) => {
  const old = document.getElementById('lstm-hide-dialogs');
  if (old) old.remove();
  if (hide) {
    const style = document.createElement('style');
    style.id = 'lstm-hide-dialogs';
    style.textContent = '.jp-Dialog { visibility: hidden !important; }';
    document.head.appendChild(style);
  }
}
"""

# Shut the notebook's kernel down and close its tab without asking about unsaved changes.
JS_SHUTDOWN = """
async (id) => {
  const panel = window.__lstmPanel(id);
  if (!panel) return;
  try { await panel.sessionContext.shutdown(); } finally { panel.dispose(); }
}
"""

RAW_TEX = re.compile(r"\\[A-Za-z]{2,}|\$\$")
LATEX = re.compile(r"\$[^$\n]+\$|\$\$.+?\$\$|\\begin\{|\\\(|\\\[", re.S)
INLINE_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


def has_latex(markdown):
    return bool(LATEX.search(INLINE_CODE.sub("", markdown)))


def first_line(source):
    lines = [line for line in source.splitlines() if line.strip()]
    return (lines[0][:70] if lines else "<empty>")


class JupyterPage:
    """One browser page running JupyterLab (or Notebook 7), with its own workspace."""

    def __init__(self, page):
        self.page = page
        self.console = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    @classmethod
    def lab(cls, context, server, workspace, timeout_ms):
        page = context.new_page()
        try:
            page.set_default_timeout(timeout_ms)
            page.goto(f"{server.url}/lab/workspaces/{workspace}?reset")
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started", timeout=timeout_ms)
            page.evaluate(JS_INSTALL)
            return cls(page)
        except BaseException:
            page.close()
            raise

    def open(self, *paths, kernel=True):
        """Open the notebooks at ``paths`` (relative to the server root) in this
        JupyterLab, each with a kernel unless ``kernel`` is false."""
        ids = self.page.evaluate(JS_OPEN, [list(paths), kernel])
        return [Notebook(self, panel_id, path) for panel_id, path in zip(ids, paths)]

    @classmethod
    def notebook7(cls, context, server, path, timeout_ms):
        """Notebook 7's page for ``path``, and the notebook in it."""
        page = context.new_page()
        try:
            page.set_default_timeout(timeout_ms)
            page.goto(f"{server.url}/notebooks/{path}")
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started"
                                   " && window.jupyterapp.shell.currentWidget", timeout=timeout_ms)
            page.evaluate(JS_INSTALL)
            jp = cls(page)
            return jp, Notebook(jp, page.evaluate(JS_CURRENT), path)
        except BaseException:
            page.close()
            raise

    def reset_viewport(self, width=1280, height=900):
        self.page.set_viewport_size({"width": width, "height": height})

    def close_notebooks(self, notebooks):
        """Shut the notebooks' kernels down and close their tabs; never raises."""
        try:  # a dialog left open by a failed step would block the next one
            while self.page.locator(".jp-Dialog").count():
                self.page.keyboard.press("Escape")
                self.page.wait_for_timeout(100)
        except Exception:
            pass
        for nb in notebooks:
            try:
                self.page.evaluate(JS_SHUTDOWN, nb.id)
            except Exception:
                pass
        try:
            self.reset_viewport()
        except Exception:
            pass

    def close(self, notebooks=()):
        """Close ``notebooks`` and the page; never raises."""
        self.close_notebooks(notebooks)
        try:
            self.page.close()
        except Exception:
            pass


class Notebook:
    """One open notebook panel; every query is scoped to it."""

    def __init__(self, jp, panel_id, label):
        self.jp, self.page, self.id, self.label = jp, jp.page, panel_id, label

    @property
    def panel(self):
        return self.page.locator(f"[id='{self.id}']")

    def activate(self):
        """Bring this notebook's tab to the front (a learner clicking its tab)."""
        self.page.evaluate("(id) => window.jupyterapp.shell.activateById(id)", self.id)
        self.panel.wait_for(state="visible")
        self.page.wait_for_function(
            "(id) => { const o = window.__lstmPanel(id).node.querySelector('.jp-WindowedPanel-outer');"
            " return !o || o.clientHeight > 0; }", arg=self.id)

    # -- running ----------------------------------------------------------------
    def start_run_all(self):
        """Start running every cell through JupyterLab's commands; returns at once."""
        self.page.evaluate(JS_RUN_ALL, self.id)

    def run_state(self):
        return self.page.evaluate(JS_RUN_STATE, self.id)

    def wait_run(self, timeout_s):
        """Wait for the run to end and the kernel to be idle; ``TimeoutError`` says where it hangs."""
        deadline = time.monotonic() + timeout_s
        state = {}
        while time.monotonic() < deadline:
            state = self.run_state()
            if state["done"] and state["kernel"] == "idle" and not state["running"]:
                return state
            time.sleep(0.2)
        raise TimeoutError(f"{self.label}: cells still running after {timeout_s:.0f} s ({state})")

    def run_all(self, timeout_s):
        self.start_run_all()
        return self.wait_run(timeout_s)

    def model(self):
        return self.page.evaluate(JS_MODEL, self.id)

    def dom(self):
        return self.page.evaluate(JS_DOM, self.id)

    # -- looking ----------------------------------------------------------------
    def show_whole_notebook(self, width=1280, max_height=16000):
        """Bring the notebook to the front, make the viewport tall enough for all
        of it (so nothing is left unrendered) and scroll to the top. Returns its height."""
        self.activate()
        # Off-screen cells only have an estimated height until they are drawn,
        # so grow the viewport until the measured height stops changing.
        # JupyterLab lays itself out again a moment after each resize.
        size = self.page.evaluate(JS_SCROLLER, self.id)
        chrome = self.page.viewport_size["height"] - size["client"]
        for _ in range(6):
            wanted = max(300, min(max_height, size["height"] + chrome))
            if wanted == self.page.viewport_size["height"]:
                break
            self.page.set_viewport_size({"width": width, "height": wanted})
            try:
                self.page.wait_for_function(
                    "([id, client]) => Math.abs(window.__lstmPanel(id).node.querySelector("
                    "'.jp-WindowedPanel-outer').clientHeight - client) <= 2",
                    arg=[self.id, wanted - chrome], timeout=5000)
            except Exception:
                pass  # measure anyway
            self.page.wait_for_timeout(100)
            size = self.page.evaluate(JS_SCROLLER, self.id)
        self.page.evaluate(JS_SCROLL_TO, [self.id, 0])
        return self.page.evaluate(JS_SCROLLER, self.id)["height"]

    def wait_for_math(self, timeout_s=20):
        """Wait until every markdown cell with LaTeX holds typeset MathJax output.
        JupyterLab typesets a cell once it is on screen: see :meth:`show_whole_notebook`."""
        wanted = [c["index"] for c in self.model() if c["type"] == "markdown" and has_latex(c["source"])]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            dom = self.dom()
            if all(dom[i]["mathjax"] for i in wanted):
                break
            time.sleep(0.2)
        return wanted

    def screenshot(self, path, max_height=16000):
        """The whole notebook in one picture (several when it is taller than ``max_height``),
        PNG or JPEG by the suffix of ``path`` (JPEG is encoded several times faster)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # A Validate running meanwhile may pop its dialog up: keep it out of the picture.
        self.page.evaluate(JS_HIDE_DIALOGS, True)
        try:
            return self._screenshot(path, max_height)
        finally:
            self.page.evaluate(JS_HIDE_DIALOGS, False)

    def _screenshot(self, path, max_height):
        height = self.show_whole_notebook(max_height=max_height)
        self.wait_for_math()
        self.page.wait_for_timeout(200)
        client = self.page.evaluate(JS_SCROLLER, self.id)["client"]
        paths, top, part = [], 0, 0
        while True:
            target = path if part == 0 else path.with_name(f"{path.stem}-{part + 1}{path.suffix}")
            self.page.evaluate(JS_SCROLL_TO, [self.id, top])
            self.page.wait_for_timeout(100)
            self.page.screenshot(path=str(target), **({"quality": 85} if target.suffix == ".jpeg" else {}))
            paths.append(target)
            top += client
            part += 1
            if top >= height:
                break
        self.page.evaluate(JS_SCROLL_TO, [self.id, 0])
        self.jp.reset_viewport()
        return paths

    def element_screenshot(self, locator, path):
        """A picture of one element (scrolled into view), taken at once: Playwright's
        element screenshot first waits for the page to be still, seconds on a busy machine."""
        locator.evaluate(JS_SCROLL_INTO_VIEW)
        self.page.screenshot(path=str(path), clip=locator.bounding_box())

    def image_digest(self, locator):
        return locator.evaluate(JS_IMAGE_DIGEST)

    # -- nbgrader -----------------------------------------------------------------
    def click_validate(self):
        """Bring this notebook to the front and click the Validate button in its own toolbar."""
        self.activate()
        self.panel.locator(".validate-button").click()

    def validation_result(self, timeout_ms, screenshot=None):
        """Wait for the Validation Results dialog; return its outcome and close it."""
        message = self.page.locator(".jp-Dialog #validation-message")
        message.wait_for(timeout=timeout_ms)
        result = message.evaluate("""(m) => ({
            classes: [...m.classList],
            text: m.innerText,
            blocks: [...m.querySelectorAll('.jp-RenderedText pre')].map(p => p.innerText),
        })""")
        if screenshot:
            self.page.screenshot(path=str(screenshot))
        dialog = self.page.locator(".jp-Dialog")
        dialog.locator(".jp-Dialog-button.jp-mod-accept").first.click()
        dialog.wait_for(state="detached", timeout=10_000)
        return result

    def validate(self, timeout_ms, screenshot=None):
        self.click_validate()
        return self.validation_result(timeout_ms, screenshot)


def image_digest(locator):
    """A digest of the images inside ``locator`` (changes when a plot is redrawn)."""
    return locator.evaluate(JS_IMAGE_DIGEST)


def move_sliders(page, app, label, redraw_s):
    """Move every slider of one widget app with the keyboard and wait for its plot to change.

    ``app``: a locator of the app's root element. Returns ``(checked, problems)``:
    the number of sliders tried and what went wrong with them (printing the
    redraw times of the others).
    """
    checked, problems = 0, []
    sliders = app.locator(".noUi-handle[role='slider']")
    for s in range(sliders.count()):
        slider = sliders.nth(s)
        name = slider.evaluate(JS_SLIDER_NAME) or f"#{s + 1}"
        slider.evaluate(JS_SCROLL_INTO_VIEW)  # no waiting for the page to be still, as Playwright's would
        before_value = slider.evaluate(JS_SLIDER_VALUE)
        before = image_digest(app)
        slider.focus()
        started = time.monotonic()
        slider.press("ArrowRight")
        if slider.evaluate(JS_SLIDER_VALUE) == before_value:  # already at its maximum
            started = time.monotonic()
            slider.press("ArrowLeft")
        moved_to = slider.evaluate(JS_SLIDER_VALUE)
        if moved_to == before_value:
            problems.append(f"{label} slider {name!r}: the arrow keys do not move it ({before_value})")
            continue
        after = before
        while after == before and time.monotonic() - started < redraw_s:
            page.wait_for_timeout(50)
            after = image_digest(app)
        elapsed = time.monotonic() - started
        checked += 1
        if after == before:
            problems.append(f"{label} slider {name!r}: plot unchanged {redraw_s} s after moving it "
                            f"({before_value} -> {moved_to})")
        else:
            print(f"{label} slider {name!r} {before_value} -> {moved_to}: plot redrawn in {elapsed:.2f} s")
    return checked, problems


def stop_process_group(proc, grace_s=20, first_signal=signal.SIGTERM):
    """Send ``first_signal`` to ``proc``, wait up to ``grace_s``, then SIGKILL its whole process group
    (started with ``start_new_session=True``), so nothing it started outlives it."""
    if proc.poll() is None:
        proc.send_signal(first_signal)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait(timeout=30)


@contextlib.contextmanager
def headless_chromium():
    """Debian's Chromium under Playwright; skips the test when either is missing."""
    driver = start_playwright()
    try:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        driver.stop()
