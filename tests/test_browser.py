"""The course as a learner sees it: a real JupyterLab in headless Chromium.

Two learner JupyterLab servers (started exactly as ``lstm-course lab`` starts
them, each on its own temporary copy of the course) and one browser serve
every chapter discovered in ``solutions/``. The notebooks run on the first
server, in one JupyterLab page; Validate is clicked on the second, because
nbgrader's Validate handler blocks its server while it runs the notebook.
Every check is one test parametrised over the chapters:

* the student notebook runs through JupyterLab's Run All command (the test
  cells are tagged ``raises-exception``, so one Run All carries on past an
  unfinished exercise; should a run stop anyway, it is resumed with Run All
  Below, as a learner would); the only errors are the exercises'
  ``NotImplementedError``;
* LaTeX is typeset by MathJax and the diagrams are images;
* in each chapter with widgets, the solution notebook runs clean, every
  slider widget renders and each slider, moved with the keyboard, redraws
  its plot within 2 s (the other solutions run under Validate, and through
  nbclient in ``test_notebooks.py``);
* nbgrader's Validate button, clicked in the notebook's own toolbar, reports
  the ``NotImplementedError`` on the unedited student notebook and success
  on the solution.

Plus: the learner set-up hides nbgrader's instructor panels but keeps
Validate, and Jupyter Notebook 7 runs a chapter. Screenshots of every run
student notebook, of the Validate dialogs and of the widgets go to
``artifacts/screenshots/`` (git-ignored); the paths are printed.

Speed: the next chapter's notebooks are opened and started while the current
one is checked, and its validations start as soon as the current ones are
collected. Chapter 6's live training is capped at 1 s per run here.

Needs Python Playwright and Debian's ``/usr/bin/chromium`` (``.ci/setup``
installs it); the browser tests skip with the reason when either is missing.
Set ``LSTM_COURSE_NOTEBOOK_TIMEOUT`` (seconds, default 120) for slow machines.
"""

import ast
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser_support as bs  # noqa: E402

from lstm_helpers.classroom import course, lab
from lstm_helpers.classroom import engine as classroom  # noqa: E402

CHAPTERS = course.chapters(bs.ROOT)
NOTEBOOK_TIMEOUT = float(os.environ.get("LSTM_COURSE_NOTEBOOK_TIMEOUT", "120"))
UI_TIMEOUT_MS = 30_000
SLIDER_REDRAW_S = 2.0
WIDGET_MODULES = ("lstm_helpers.viz.widgets", "ipywidgets")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


# ---------------------------------------------------------------------------
# Fixtures: one course copy, one lab server, one browser for the whole module
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def playwright_driver():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Python playwright is not installed (pip install -e '.[test]')")
    if not bs.CHROMIUM.is_file():
        pytest.skip(f"{bs.CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/setup does)")
    driver = sync_playwright().start()
    try:
        yield driver
    finally:
        driver.stop()


@pytest.fixture(scope="module")
def browser(playwright_driver):
    chromium = playwright_driver.chromium.launch(executable_path=str(bs.CHROMIUM), headless=True,
                                                 args=bs.CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture(scope="module")
def context(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    ctx.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory):
    return bs.copy_course(tmp_path_factory.mktemp("browser-course") / "course")


@pytest.fixture(scope="module")
def notebook7_launch(playwright_driver, tmp_path_factory):
    """``jupyter notebook`` on its own course copy, started early so it is up when needed."""
    work = tmp_path_factory.mktemp("jupyter-notebook")
    server = bs.JupyterServer(bs.copy_course(work / "course"), work, app="notebook")
    try:
        yield server.launch()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def validate_launch(playwright_driver, tmp_path_factory):
    """A second learner JupyterLab, on a fresh course copy of its own, where
    Validate is clicked: while nbgrader validates a notebook it blocks its
    server, and the notebooks running on the first server must not wait."""
    work = tmp_path_factory.mktemp("jupyter-validate")
    server = bs.JupyterServer(bs.copy_course(work / "course"), work)
    try:
        yield server.launch()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def lab_server(playwright_driver, notebook7_launch, validate_launch, course_copy, tmp_path_factory):
    with bs.JupyterServer(course_copy, tmp_path_factory.mktemp("jupyter-lab")) as server:
        yield server


class ScreenshotReport:
    """Lists the screenshots in pytest's terminal summary (registered by the fixture below)."""

    def __init__(self):
        self.paths = []

    def pytest_terminal_summary(self, terminalreporter):
        if self.paths:
            terminalreporter.section(f"browser screenshots ({len(self.paths)}) in {bs.SCREENSHOTS}")
            for path in self.paths:
                terminalreporter.write_line(str(path))


@pytest.fixture(scope="module")
def screenshots(request):
    """The list of screenshots taken (in ``artifacts/screenshots/``), shown at the end of the run."""
    bs.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    report = ScreenshotReport()
    request.config.pluginmanager.register(report, "lstm-course-browser-screenshots")
    return report.paths


def shoot(nb, screenshots, name):
    for old in [*bs.SCREENSHOTS.glob(f"{name}.*"), *bs.SCREENSHOTS.glob(f"{name}-[0-9]*.*")]:
        old.unlink(missing_ok=True)  # a shorter notebook leaves no stale parts behind
    paths = nb.screenshot(bs.SCREENSHOTS / f"{name}.jpeg")
    for path in paths:
        print(f"screenshot: {path}")
    screenshots.extend(paths)
    return paths


@pytest.fixture(scope="module", params=CHAPTERS or [pytest.param(None, marks=pytest.mark.skip("no chapters"))])
def chapter(request):
    return request.param


def imported_modules(source):
    """The modules a cell's code imports (``from a import b`` counts as ``a`` and ``a.b``)."""
    try:  # magics and shell escapes become plain Python first, as the grader reads them
        tree = ast.parse(classroom._python_source(source))
    except SyntaxError:
        return set()
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def uses_widgets(notebook_path):
    """Whether the notebook imports the course's widgets (or ipywidgets)."""
    cells = json.loads(Path(notebook_path).read_text())["cells"]
    return any(m == w or m.startswith(w + ".")
               for c in cells if c["cell_type"] == "code"
               for m in imported_modules("".join(c["source"])) for w in WIDGET_MODULES)


def solution_run_of(chapter_session):
    if "solution" not in chapter_session.runs:
        pytest.skip(f"{chapter_session.chapter} has no widget; its solution runs under Validate "
                    "(see the Validate test) and in tests/test_notebooks.py")
    return chapter_session.runs["solution"]


class Run:
    """A notebook run in the browser and what it shows, kept open for the checks."""

    def __init__(self, nb, state=None, problem=None):
        self.nb, self.state, self.problem = nb, state, problem
        self.cells = nb.model()

    def code_cells(self):
        return [c for c in self.cells if c["type"] == "code"]

    def describe(self, cell):
        return f"{self.nb.label} cell {cell['index']} ({bs.first_line(cell['source'])!r})"


class Stopwatch:
    def __init__(self):
        self.start = self.last = time.monotonic()
        self.laps = []

    def lap(self, what):
        now = time.monotonic()
        self.laps.append(f"{what} {now - self.last:.1f} s")
        self.last = now

    def __str__(self):
        return f"{time.monotonic() - self.start:.1f} s (" + ", ".join(self.laps) + ")"


def attempt(action):
    """``(result, None)``, or ``(None, message)`` when ``action`` fails: one failing
    step must not hide the results of the others."""
    try:
        return action(), None
    except Exception as exc:  # reported by the test that needs the result
        return None, f"{type(exc).__name__}: {exc}"


class Pages:
    """The long-lived JupyterLab pages the chapters share, made on first use.

    ``run-0`` and ``run-1`` (on the lab server, taken in turn by the chapters)
    run and show the notebooks; ``student`` and
    ``solution`` (on the validation server) each hold one chapter's notebook
    at a time and click its Validate button, so a result dialog always belongs
    to that notebook. Loading JupyterLab costs seconds, so the pages are kept;
    one that went wrong is :meth:`discard`-ed and made again.
    """

    def __init__(self, context, servers):
        self.context, self.servers, self.pages = context, servers, {}

    def __getitem__(self, name):
        if name not in self.pages:
            server = self.servers[name]
            self.pages[name] = bs.JupyterPage.lab(self.context, server.wait_ready(), f"browser-test-{name}",
                                                  UI_TIMEOUT_MS)
        return self.pages[name]

    def discard(self, name):
        page = self.pages.pop(name, None)
        if page is not None:
            page.close()

    def close(self):
        for name in list(self.pages):
            self.discard(name)


class ChapterSession:
    """A chapter's student and solution notebooks, run and photographed on the
    run page and validated on the validation pages.

    ``begin()`` opens both on the run page and starts them; ``start_validation()``
    opens them on the validation server and clicks Validate on each (nbgrader
    runs the saved file there, blocking that server, not the one the runs use);
    ``finish()`` waits for the runs, takes the screenshots and collects both
    validations. The next chapter is begun before this one finishes, so its
    kernels (and any time-boxed training in it) work while this chapter is
    checked; its validation starts when this one's dialogs are closed.
    """

    KINDS = ("student", "solution")

    def __init__(self, chapter, pages, course_copy, validate_copy, screenshots):
        self.chapter, self.pages, self.screenshots = chapter, pages, screenshots
        self.course_copy, self.validate_copy = course_copy, validate_copy
        self.notebooks, self.problem = [], None
        self.to_validate, self.clicked = {}, {}
        self.runs, self.validations = {}, {}
        self.clock = Stopwatch()
        self.finished = False
        self.paths = ()
        self.widgets = uses_widgets(course.source_notebook(course_copy, chapter))
        # Neighbouring chapters run in different pages (renderer processes):
        # one chapter's screenshots do not wait for the next one's outputs to draw.
        self.run_page = f"run-{CHAPTERS.index(chapter) % 2}" if chapter in CHAPTERS else "run-0"

    def begin(self):
        chapter = self.chapter
        student_path = course.release_notebook(self.course_copy, chapter)
        if not student_path.is_file():
            self.problem = f"{chapter}: no student notebook at notebooks/{chapter}/{chapter}.ipynb"
            return self
        # The learner's server only sees notebooks/: put the solution next to the student version.
        solution_name = f"{chapter}.solution.ipynb"
        for root in (self.course_copy, self.validate_copy):
            shutil.copy(course.source_notebook(root, chapter),
                        course.release_notebook(root, chapter).with_name(solution_name))
        self.paths = (f"{chapter}/{student_path.name}", f"{chapter}/{solution_name}")
        # The solution runs in the browser when it has widgets to try; every
        # solution also runs under Validate, and through nbclient in test_notebooks.py.
        try:
            self.notebooks = self.pages[self.run_page].open(*(self.paths if self.widgets else self.paths[:1]))
            for nb in self.notebooks:
                nb.start_run_all()
        except Exception as exc:
            self.problem = f"{chapter}: could not open and run the notebooks: {type(exc).__name__}: {exc}"
        self.clock.lap("open both notebooks and start them")
        return self

    def start_validation(self):
        if self.problem or self.to_validate or self.clicked:
            return self
        # Open both before clicking: the first click blocks the validation server.
        for kind, path in zip(self.KINDS, self.paths):
            # nbgrader runs the saved file in a kernel of its own: none is needed in the page
            opened, self.clicked[kind] = attempt(lambda: self.pages[kind].open(path, kernel=False))
            if opened:
                self.to_validate[kind] = opened[0]
        for kind, nb in self.to_validate.items():
            self.clicked[kind] = attempt(nb.click_validate)[1]
        self.clock.lap("open both on the validation server and click Validate")
        return self

    def finish(self):
        if self.finished or self.problem:
            return self
        self.finished = True
        self.start_validation()
        for name, nb in zip(self.KINDS, self.notebooks):
            state, problem = attempt(lambda: nb.wait_run(NOTEBOOK_TIMEOUT))
            if problem and nb.jp.console:
                problem += "\nbrowser console:\n  " + "\n  ".join(nb.jp.console[-10:])
            self.runs[name] = Run(nb, state, problem)
            self.clock.lap(f"{name} run finished")
        shoot(self.notebooks[0], self.screenshots, f"{self.chapter}-student")
        if "solution" in self.runs:  # shown whole, as the student version was for its picture
            self.notebooks[1].show_whole_notebook()
            self.notebooks[1].wait_for_math()
            self.notebooks[1].jp.reset_viewport()
        self.clock.lap("screenshot")
        timeout_ms = int(NOTEBOOK_TIMEOUT * 1000)
        for kind in self.KINDS:
            shot = bs.SCREENSHOTS / f"{self.chapter}-{kind}-validate.png"
            shot.unlink(missing_ok=True)
            if self.clicked[kind]:
                self.validations[kind] = (None, self.clicked[kind])
            else:
                self.validations[kind] = attempt(lambda: self.to_validate[kind].validation_result(timeout_ms, shot))
            if shot.is_file():
                self.screenshots.append(shot)
            nb = self.to_validate.pop(kind, None)
            if self.validations[kind][1]:
                self.pages.discard(kind)  # a dialog may still come: the next chapter gets a new page
            elif nb is not None:
                nb.jp.close_notebooks([nb])
        self.clock.lap("validations")
        print(f"{self.chapter}: {self.clock}")
        return self

    def close(self):
        if self.notebooks:
            self.notebooks[0].jp.close_notebooks(self.notebooks)
            self.notebooks = []
        for kind in list(self.to_validate):
            self.pages.discard(kind)
            self.to_validate.pop(kind)


@pytest.fixture(scope="module")
def pages(context, lab_server, validate_launch):
    shared = Pages(context, {"run-0": lab_server, "run-1": lab_server,
                             "student": validate_launch, "solution": validate_launch})
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture(scope="module")
def chapter_pipeline(request, pages, course_copy, validate_launch, screenshots):
    """Chapter sessions by name, begun one chapter ahead of the tests (see :class:`ChapterSession`)."""
    selected = {item.callspec.params.get("chapter") for item in request.session.items
                if item.module is request.module and hasattr(item, "callspec")}
    order = [c for c in CHAPTERS if c in selected]
    sessions = {}

    def get(chapter):
        if chapter not in sessions:
            sessions[chapter] = ChapterSession(chapter, pages, course_copy, validate_launch.course_root,
                                               screenshots).begin()
        return sessions[chapter]

    get.order = order
    try:
        yield get
    finally:
        for session in sessions.values():
            session.close()


@pytest.fixture(scope="module")
def chapter_session(chapter, chapter_pipeline):
    session = chapter_pipeline(chapter)
    session.start_validation()
    order = chapter_pipeline.order
    following = order[order.index(chapter) + 1] if chapter in order and order.index(chapter) + 1 < len(order) else None
    if following:
        chapter_pipeline(following)  # start the next chapter's kernels now
    session.finish()
    if following:
        chapter_pipeline(following).start_validation()  # the validation pages are free again
    if session.problem:
        pytest.fail(session.problem)
    try:
        yield session
    finally:
        session.close()


# ---------------------------------------------------------------------------
# Checks shared by the tests
# ---------------------------------------------------------------------------

def assert_all_ran(run):
    assert run.problem is None, run.problem
    skipped = [run.describe(c) for c in run.code_cells() if c["source"].strip() and c["execution_count"] is None]
    assert not skipped, "cells never ran:\n  " + "\n  ".join(skipped)


def unexpected_output(run, allowed_error):
    """Error outputs the run should not have, and anything written to stderr."""
    problems = []
    for cell in run.code_cells():
        for out in cell["outputs"]:
            if out["output_type"] == "error" and not allowed_error(cell, out):
                problems.append(f"{run.describe(cell)}: {out['ename']}: {out['evalue']}")
            elif out["output_type"] == "stream" and out["name"] == "stderr":
                problems.append(f"{run.describe(cell)} wrote to stderr: {out['text'][:300]!r}")
    return problems


def is_exercise_cell(cell):
    meta = cell["nbgrader"] or {}
    return bool(meta.get("grade") or meta.get("solution"))


def check_math_and_images(run):
    dom = run.nb.dom()
    problems = []
    latex_cells = [c for c in run.cells if c["type"] == "markdown" and bs.has_latex(c["source"])]
    for cell in latex_cells:
        node = dom[cell["index"]]
        if not node["mathjax"]:
            problems.append(f"{run.describe(cell)}: LaTeX not typeset (no MathJax output)")
        if node["math_errors"]:
            problems.append(f"{run.describe(cell)}: MathJax errors {node['math_errors']}")
        raw = bs.RAW_TEX.findall(node["prose"])
        if raw:
            problems.append(f"{run.describe(cell)}: LaTeX left untypeset in the text: {raw[:5]}")
    images_expected = 0
    for cell in run.code_cells():
        node = dom[cell["index"]]
        model_images = sum(1 for o in cell["outputs"] if any(m.startswith("image/") for m in o["mimes"]))
        images_expected += model_images
        shown = [i for i in node["images"] if not i["widget"]]
        if len(shown) < model_images:
            problems.append(f"{run.describe(cell)}: {model_images} image outputs but {len(shown)} shown")
        for img in shown:
            if not (img["complete"] and img["width"] > 0):
                problems.append(f"{run.describe(cell)}: an image did not load ({img})")
        for out in cell["outputs"]:
            if not any(m.startswith("image/") for m in out["mimes"]) and out["plain"].startswith("<Figure size"):
                problems.append(f"{run.describe(cell)}: a figure shows as text {out['plain']!r}, not as an image")
    source = "\n".join(c["source"] for c in run.code_cells())
    if "plots." in source and images_expected == 0:
        problems.append(f"{run.nb.label}: calls lstm_helpers plots but shows no diagram")
    return latex_cells, images_expected, problems


# ---------------------------------------------------------------------------
# Student notebooks
# ---------------------------------------------------------------------------

@pytest.mark.browser
def test_student_notebook_runs_with_only_not_implemented_errors(chapter_session):
    student_run = chapter_session.runs["student"]
    assert_all_ran(student_run)
    problems = unexpected_output(
        student_run,
        allowed_error=lambda cell, out: out["ename"] == "NotImplementedError" and is_exercise_cell(cell))
    assert not problems, "unexpected error output in the student notebook:\n  " + "\n  ".join(problems)
    raised = [c for c in student_run.code_cells()
              if any(o["output_type"] == "error" for o in c["outputs"])]
    assert raised, f"{student_run.nb.label}: no exercise raised NotImplementedError; is this the student version?"
    sliders = student_run.nb.panel.locator(".noUi-handle[role='slider']").count()
    assert chapter_session.widgets or not sliders, (
        f"{student_run.nb.label} shows {sliders} sliders, but no widget import was found in the solution, "
        "so its sliders were not tried: see uses_widgets()")
    resumed = student_run.state["resumed"]
    print(f"{student_run.nb.label}: {len(student_run.code_cells())} code cells ran; NotImplementedError in "
          f"{len(raised)} exercise cells; " + (f"Run All resumed at cells {resumed}" if resumed else
                                              "one Run All ran every cell"))


@pytest.mark.browser
def test_student_notebook_typesets_math_and_shows_diagrams(chapter_session):
    student_run = chapter_session.runs["student"]
    latex_cells, images, problems = check_math_and_images(student_run)
    assert not problems, "\n".join(problems)
    assert latex_cells, f"{student_run.nb.label}: no LaTeX found in the markdown cells"
    print(f"{student_run.nb.label}: {len(latex_cells)} markdown cells typeset by MathJax, {images} images shown")


@pytest.mark.browser
def test_validate_reports_not_implemented_on_student_notebook(chapter_session):
    result, problem = chapter_session.validations["student"]
    assert problem is None, f"Validate on the student notebook: {problem}"
    assert "validation-failed" in result["classes"], f"Validate did not report failures:\n{result['text'][:2000]}"
    errors = result["blocks"][1::2]
    assert errors, result["text"][:2000]
    # nbgrader's own word for a written answer (a manually graded cell) that is still empty
    unanswered = "You did not provide a response."
    other = [e[:400] for e in errors if "NotImplementedError" not in e and e.strip() != unanswered]
    assert not other, "Validate reported errors other than NotImplementedError:\n" + "\n---\n".join(other)
    print(f"{chapter_session.chapter}: Validate reports {len(errors)} failing cell(s), all NotImplementedError")


# ---------------------------------------------------------------------------
# Solution notebooks
# ---------------------------------------------------------------------------

@pytest.mark.browser
def test_solution_notebook_runs_clean(chapter_session):
    solution_run = solution_run_of(chapter_session)
    assert_all_ran(solution_run)
    problems = unexpected_output(solution_run, allowed_error=lambda cell, out: False)
    assert not problems, "the solution notebook shows errors:\n  " + "\n  ".join(problems)
    assert not solution_run.state["resumed"], "Run All stopped early in the solution notebook"
    _, _, problems = check_math_and_images(solution_run)
    assert not problems, "\n".join(problems)


@pytest.mark.browser
def test_widgets_render_and_sliders_redraw(chapter_session, screenshots):
    solution_run = solution_run_of(chapter_session)
    assert_all_ran(solution_run)
    nb = solution_run.nb
    dom = nb.dom()
    errors = [e for node in dom for e in node["widget_errors"]]
    assert not errors, f"widgets failed to render: {errors}"
    view_cells = [c for c in solution_run.code_cells() if any(WIDGET_VIEW in o["mimes"] for o in c["outputs"])]
    assert view_cells, f"{nb.label} imports widgets but displayed no widget view"
    missing = [solution_run.describe(c) for c in view_cells if not dom[c["index"]]["widget_views"]]
    assert not missing, "widget output but no rendered widget in:\n  " + "\n  ".join(missing)

    nb.activate()
    checked, problems = 0, []
    apps = nb.panel.locator(".jp-OutputArea-output > .jupyter-widgets")
    for a in range(apps.count()):
        app = apps.nth(a)
        sliders = app.locator(".noUi-handle[role='slider']")
        images = app.locator("img.widget-image")
        if not sliders.count() or not images.count():
            continue
        for s in range(sliders.count()):
            slider = sliders.nth(s)
            name = slider.evaluate(bs.JS_SLIDER_NAME) or f"#{s + 1}"
            slider.evaluate(bs.JS_SCROLL_INTO_VIEW)  # no waiting for the page to be still, as Playwright's would
            before_value = slider.evaluate(bs.JS_SLIDER_VALUE)
            before = nb.image_digest(app)
            slider.focus()
            started = time.monotonic()
            slider.press("ArrowRight")
            if slider.evaluate(bs.JS_SLIDER_VALUE) == before_value:  # already at its maximum
                started = time.monotonic()
                slider.press("ArrowLeft")
            moved_to = slider.evaluate(bs.JS_SLIDER_VALUE)
            if moved_to == before_value:
                problems.append(f"widget {a + 1} slider {name!r}: the arrow keys do not move it ({before_value})")
                continue
            after = before
            while after == before and time.monotonic() - started < SLIDER_REDRAW_S:
                nb.page.wait_for_timeout(50)
                after = nb.image_digest(app)
            elapsed = time.monotonic() - started
            checked += 1
            if after == before:
                problems.append(f"widget {a + 1} slider {name!r}: plot unchanged {SLIDER_REDRAW_S} s after moving it "
                                f"({before_value} -> {moved_to})")
            else:
                print(f"{nb.label}: widget {a + 1} slider {name!r} {before_value} -> {moved_to}: "
                      f"plot redrawn in {elapsed:.2f} s")
        shot = bs.SCREENSHOTS / f"{chapter_session.chapter}-solution-widget-{a + 1}.png"
        nb.element_screenshot(app, shot)
        print(f"screenshot: {shot}")
        screenshots.append(shot)
    assert not problems, "\n".join(problems)
    assert checked, f"{nb.label} imports widgets, but no widget with a slider and a plot rendered"


@pytest.mark.browser
def test_validate_succeeds_on_solution_notebook(chapter_session):
    result, problem = chapter_session.validations["solution"]
    assert problem is None, f"Validate on the solution notebook: {problem}"
    assert "validation-success" in result["classes"], f"Validate did not pass the solution:\n{result['text'][:3000]}"


# ---------------------------------------------------------------------------
# The learner set-up
# ---------------------------------------------------------------------------

@pytest.mark.browser
def test_learner_lab_hides_instructor_panels_and_keeps_validate(context, lab_server):
    first = CHAPTERS[0] if CHAPTERS else pytest.skip("no chapters")
    jp, opened = bs.JupyterPage.lab(context, lab_server, "panels", UI_TIMEOUT_MS), []
    try:
        opened = jp.open(f"{first}/{first}.ipynb")
        nb = opened[0]
        page = jp.page
        nb.activate()
        assert nb.panel.locator(".validate-button").is_visible(), "no Validate button in the notebook toolbar"
        commands = page.evaluate("() => window.jupyterapp.commands.listCommands().filter(c => c.startsWith('nbgrader:'))")
        assert commands == [], f"instructor nbgrader commands are available: {commands}"
        menus = page.locator("#jp-MainMenu .lm-MenuBar-itemLabel").all_inner_texts()
        assert "Nbgrader" not in menus, f"the Nbgrader menu is shown: {menus}"
        assert page.locator("#nbgrader-create_assignemnt").count() == 0, "the Create Assignment panel is present"
        titles = page.evaluate("() => [...document.querySelectorAll('.lm-TabBar-tab')]"
                               ".map(t => (t.title + ' ' + t.textContent).trim())")
        shown = [t for t in titles if any(w in t for w in ("Assignment", "Formgrader", "Course"))]
        assert not shown, f"instructor panels in the side bars: {shown}"
        config = json.loads(page.locator("#jupyter-config-data").text_content())
        assert set(lab.INSTRUCTOR_PLUGINS) <= set(config["disabledExtensions"])
        assert lab.VALIDATE_PLUGIN not in config["disabledExtensions"]
        # and on the server: no formgrader, no exchange-backed lists; Validate's endpoint is there
        assert lab_server.get("/formgrader") == 404
        assert lab_server.get("/assignments") == 404
        assert lab_server.get("/formgraders") == 404
        assert lab_server.get("/nbgrader_version?version=0") == 200
    finally:
        jp.close(opened)


@pytest.mark.browser
def test_notebook7_opens_and_runs_a_chapter(notebook7_launch, context, screenshots):
    first = CHAPTERS[0] if CHAPTERS else pytest.skip("no chapters")
    server = notebook7_launch.wait_ready()
    jp, nb = bs.JupyterPage.notebook7(context, server, f"{first}/{first}.ipynb", UI_TIMEOUT_MS)
    try:
        state, problem = attempt(lambda: nb.run_all(NOTEBOOK_TIMEOUT))
        run = Run(nb, state, problem)
        assert_all_ran(run)
        problems = unexpected_output(
            run, allowed_error=lambda cell, out: out["ename"] == "NotImplementedError" and is_exercise_cell(cell))
        assert not problems, "\n".join(problems)
        assert nb.panel.locator(".validate-button").is_visible(), "no Validate button in Notebook 7"
        menus = jp.page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
        assert "Nbgrader" not in menus, f"the Nbgrader menu is shown in Notebook 7: {menus}"
        shoot(nb, screenshots, f"{first}-student-notebook7")
    finally:
        jp.close([nb])
        server.stop()  # now rather than at the end of the module


# ---------------------------------------------------------------------------
# lstm_helpers.lab without a browser
# ---------------------------------------------------------------------------

def test_lab_main_starts_jupyterlab_on_notebooks_with_learner_config(monkeypatch, tmp_path):
    seen = {}

    def fake_run(args, env, cwd):
        config = Path(env["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0])
        seen.update(args=args, cwd=cwd, env=env,
                    page=json.loads((config / "labconfig" / "page_config.json").read_text()),
                    server=json.loads((config / "jupyter_server_config.d" / "lstm-course-learner.json").read_text()))
        return 0

    monkeypatch.setattr(lab, "_run", fake_run)
    monkeypatch.chdir(bs.ROOT / course.RELEASE)
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", "/somewhere/else")
    assert lab.main(["--port=9999", "--no-browser"]) == 0
    assert seen["args"][:3] == [sys.executable, "-m", "jupyterlab"]
    assert seen["args"][-2:] == ["--port=9999", "--no-browser"]
    assert f"--ServerApp.root_dir={bs.ROOT / course.RELEASE}" in seen["args"]
    assert Path(seen["cwd"]) == bs.ROOT  # Validate reads the course's nbgrader_config.py
    assert seen["env"]["JUPYTER_CONFIG_PATH"].endswith(os.pathsep + "/somewhere/else")
    assert set(seen["page"]["disabledExtensions"]) == set(lab.INSTRUCTOR_PLUGINS)
    assert lab.VALIDATE_PLUGIN not in seen["page"]["disabledExtensions"]
    switched = seen["server"]["ServerApp"]["jpserver_extensions"]
    assert switched and not any(switched.values())
    assert "nbgrader.server_extensions.validate_assignment" not in switched


def test_instructor_plugin_ids_exist_in_installed_nbgrader():
    """A renamed plugin id would silently bring the instructor panels back."""
    from jupyter_core.paths import jupyter_path

    static = [p for base in jupyter_path("labextensions")
              for p in (Path(base) / "@jupyter" / "nbgrader" / "static").glob("*.js")]
    if not static:
        pytest.skip("nbgrader's JupyterLab extension (@jupyter/nbgrader) is not installed")
    code = "\n".join(p.read_text(errors="replace") for p in static)
    for plugin in (*lab.INSTRUCTOR_PLUGINS, lab.VALIDATE_PLUGIN):
        assert f'"{plugin}"' in code, f"{plugin} is not a plugin of the installed @jupyter/nbgrader"
