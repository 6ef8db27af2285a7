"""``lstm-course explore``: the slider lecture page, served by Voila, in headless Chromium.

The page must show every slider app of the course (every ``SliderApp`` that
``lstm_helpers.viz.widgets`` exports), no code, and each slider, moved with
the keyboard, must redraw its plot within 2 s, as in the notebooks
(``test_browser.py``). The server is started by the test on 127.0.0.1 and
stopped, with its kernels, afterwards.
"""

import ast
import inspect
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser_support as bs  # noqa: E402

from lstm_helpers.classroom import explore  # noqa: E402
from lstm_helpers.viz import widgets  # noqa: E402

SLIDER_REDRAW_S = 2.0
PAGE_TIMEOUT_MS = 180_000


def slider_apps():
    """Names of every slider app the course's widgets package exports."""
    return sorted(name for name in widgets.__all__
                  if inspect.isclass(getattr(widgets, name)) and issubclass(getattr(widgets, name), widgets.SliderApp)
                  and getattr(widgets, name) is not widgets.SliderApp)


def shown_apps():
    """The apps the lecture notebook's code cells build, in order."""
    cells = json.loads(Path(explore.lecture_notebook()).read_text())["cells"]
    names = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "widgets":
                names.append(node.func.attr)
    return names


def code_lines():
    """The non-blank lines of the lecture notebook's code cells."""
    cells = json.loads(Path(explore.lecture_notebook()).read_text())["cells"]
    return [line.strip() for cell in cells if cell["cell_type"] == "code"
            for line in "".join(cell["source"]).splitlines() if line.strip()]


def test_the_lecture_page_builds_every_slider_app_of_the_course():
    assert slider_apps(), "no slider app found"
    assert sorted(shown_apps()) == slider_apps()


def test_lecture_notebook_is_shipped_with_the_package():
    import tomllib

    package_data = tomllib.loads((bs.ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = Path(explore.lecture_notebook()).relative_to(bs.ROOT / "lstm_helpers")
    assert any(shipped.match(pattern) for pattern in package_data["lstm_helpers"])


@pytest.fixture(scope="module")
def voila_server(tmp_path_factory):
    pytest.importorskip("voila")
    work = tmp_path_factory.mktemp("explore")
    port = bs.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    env.update(JUPYTER_CONFIG_DIR=str(work / "config"), JUPYTER_DATA_DIR=str(work / "data"),
               JUPYTER_RUNTIME_DIR=str(work / "runtime"), MPLBACKEND="Agg")
    log = open(work / "voila.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "lstm_helpers.classroom.cli", "explore", "--port", str(port),
                             "--no-browser"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"lstm-course explore exited with {proc.returncode}:\n"
                                   f"{(work / 'voila.log').read_text()[-4000:]}")
            try:
                urllib.request.urlopen(url + "voila/static/voila.js", timeout=5).close()
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise TimeoutError("lstm-course explore did not answer within 120 s")
                time.sleep(0.3)
        yield url
    finally:
        bs.stop_process_group(proc)  # Voila's kernels run in its process group
        log.close()


@pytest.fixture(scope="module")
def chromium():
    with bs.headless_chromium() as browser:
        yield browser


def open_lecture_page(browser, url, shot_name, extra_headers=None):
    """The lecture page with every app rendered; returns (page, app locators)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, extra_http_headers=extra_headers or {})
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(url)
    expected = len(shown_apps())
    page.wait_for_function(f"() => document.querySelectorAll('img.widget-image').length >= {expected}",
                           timeout=PAGE_TIMEOUT_MS)
    apps = page.locator(".jp-OutputArea-output .widget-vbox:has(img.widget-image)")
    bs.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(bs.SCREENSHOTS / shot_name), full_page=True)
    print(f"screenshot: {bs.SCREENSHOTS / shot_name}")
    return context, page, apps


@pytest.mark.browser
def test_lstm_course_explore_shows_every_slider_app_without_code_and_sliders_redraw(voila_server, chromium):
    context, page, apps = open_lecture_page(chromium, voila_server, "explore-sliders.png")
    try:
        assert apps.count() == len(shown_apps())
        text = page.inner_text("body")
        # the page shows Python source on purpose (the cell viewer's text), so look for the lecture's own code
        shown_code = [line for line in code_lines() if line in text]
        assert not shown_code, f"the page shows code: {shown_code}"
        assert "Traceback" not in text
        assert page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0, "a cell wrote to stderr"
        checked, problems = 0, []
        for a in range(apps.count()):
            moved, trouble = bs.move_sliders(page, apps.nth(a), f"lecture page app {a + 1}", SLIDER_REDRAW_S)
            checked += moved
            problems += trouble
        assert not problems, "\n".join(problems)
        assert checked >= apps.count()
    finally:
        context.close()
