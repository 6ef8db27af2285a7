"""The learner's workspace in a real JupyterLab, opened by the learner's own command.

A new learner (fresh Jupyter folders, nothing answered yet) runs
``lstm-course lab`` in a copy of the course, opens the URL it prints in
headless Chromium, types an answer into chapter 02 and saves it with Ctrl-S.
The instructor then changes the chapter and releases it (``lstm-course
release``); the learner runs ``lstm-course update`` and ``lstm-course lab``
again, and finds the saved answer in the new version of the notebook.

Also: the first launch shows no "get notified about official Jupyter news?"
prompt, while a plain ``jupyter lab`` for the same fresh user does (the
control that shows the test would see it).

Needs Python Playwright and Debian's ``/usr/bin/chromium``, like ``test_browser.py``.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser_support as bs  # noqa: E402

from lstm_helpers.classroom import course, lab  # noqa: E402
from lstm_helpers.classroom import workspace as wsp  # noqa: E402

pytestmark = pytest.mark.browser

CH = "02_rnn"
UI_TIMEOUT_MS = 60_000
NEWS = "official Jupyter news"
NEWS_WAIT_S = 8
TEMPLATE = "    # YOUR CODE HERE\n    raise NotImplementedError()"
MY_LINES = ("    hx = np.concatenate([h_prev, x_t], axis=1)  # typed in the browser\n"
            "    h_t = np.tanh(hx @ W_h.T + b_h)")
NEW_PROSE = "Reading is cumulative: you never start again from nothing at each word."


@pytest.fixture(scope="module")
def context():
    driver = bs.start_playwright()
    try:
        browser = bs.launch_chromium(driver)
        try:
            ctx = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
            ctx.set_default_timeout(UI_TIMEOUT_MS)
            yield ctx
        finally:
            browser.close()
    finally:
        driver.stop()


def open_lab(context, url):
    """A page on JupyterLab at ``url`` (token included), once the app has restored its layout."""
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started", timeout=UI_TIMEOUT_MS)
    page.evaluate("async () => { await window.jupyterapp.restored; }")
    page.evaluate(bs.JS_INSTALL)
    return bs.JupyterPage(page)


def news_prompt_within(page, seconds):
    """Whether JupyterLab's news prompt shows up within ``seconds`` of the layout being restored."""
    try:
        page.get_by_text(NEWS).first.wait_for(state="visible", timeout=seconds * 1000)
        return True
    except Exception:
        return False


def cell_index(nb, grade_id):
    return next(c["index"] for c in nb.model() if (c["nbgrader"] or {}).get("grade_id") == grade_id)


def type_into_cell(nb, index, text):
    """Click into cell ``index``'s editor, select everything and type ``text`` (inserted as a paste
    would, so the editor's auto-indent does not re-indent it)."""
    nb.activate()
    nb.page.evaluate("""async ([id, index]) => {
        const panel = window.__lstmPanel(id);
        panel.content.activeCellIndex = index;
        await panel.content.scrollToItem(index);
    }""", [nb.id, index])
    editor = nb.panel.locator(".jp-Notebook .jp-Cell.jp-mod-active .cm-content")
    editor.click()
    nb.page.keyboard.press("Control+a")
    nb.page.keyboard.insert_text(text)


def wait_for_file(path, needle, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if needle in Path(path).read_text():
            return True
        time.sleep(0.2)
    return False


def change_and_release(course_root):
    """The instructor rewords chapter 02 (prose, and the docstring of an answer cell) and releases it."""
    source = course.source_notebook(course_root, CH)
    nb = json.loads(source.read_text())
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        text = text.replace("When you read, you do not start from nothing at every word.", NEW_PROSE)
        text = text.replace('"""One step of a tanh RNN.', '"""One step of a plain (Elman) RNN with tanh.')
        cell["source"] = text
    source.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    released = subprocess.run([sys.executable, "-m", "lstm_helpers.classroom.cli", "release", CH],
                              cwd=course_root, capture_output=True, text=True, timeout=300)
    assert released.returncode == 0, released.stdout + released.stderr


def test_plain_jupyterlab_asks_a_fresh_user_about_news(context, tmp_path):
    """The control: the prompt the course switches off does appear for this fresh user otherwise."""
    course_root = bs.copy_course(tmp_path / "course")
    env = bs.fresh_user_env(tmp_path / "jupyter", new_learner=True)
    port = bs.free_port()
    args = [sys.executable, "-m", "jupyterlab", f"--port={port}", "--no-browser", "--allow-root",
            f"--ServerApp.root_dir={course_root / course.RELEASE}"]
    with open(tmp_path / "plain-lab.log", "w") as log:
        proc = subprocess.Popen(args, env=env, cwd=course_root, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        record = Path(env["JUPYTER_RUNTIME_DIR"]) / f"jpserver-{proc.pid}.json"
        deadline = time.monotonic() + 120
        while not record.is_file() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(0.5)
        url = lab.server_url(json.loads(record.read_text()))
        jp = open_lab(context, url)
        try:
            assert news_prompt_within(jp.page, NEWS_WAIT_S)
        finally:
            jp.close()
    finally:
        bs.stop_process_group(proc)


def test_lab_opens_the_workspace_and_a_saved_answer_survives_an_update_and_a_relaunch(context, tmp_path):
    course_root = bs.copy_course(tmp_path / "course").resolve()
    folder = course_root / wsp.DEFAULT_FOLDER
    mine = folder / CH / f"{CH}.ipynb"
    bs.SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # First launch: the workspace is made, and the launcher says where it is and what to open.
    with bs.LabCommand(course_root, tmp_path / "jupyter") as first:
        said = first.output()
        assert f"Your workspace: {folder}" in said and "Created now, with" in said, said
        assert "token=" in first.url and "Running as root is not recommended" not in said
        jp = open_lab(context, first.url)
        try:
            assert not news_prompt_within(jp.page, NEWS_WAIT_S), "the news prompt covers the notebook"
            listing = jp.page.locator(".jp-DirListing-itemText").all_inner_texts()
            assert CH in listing and course.SOURCE not in listing and course.RELEASE not in listing, listing
            nb = jp.open(f"{CH}/{CH}.ipynb", kernel=False)[0]
            index = cell_index(nb, "rnn_cell_forward")
            template = nb.model()[index]["source"]
            assert TEMPLATE in template
            type_into_cell(nb, index, template.replace(TEMPLATE, MY_LINES))
            nb.page.keyboard.press("Control+s")
            assert wait_for_file(mine, "typed in the browser"), "Ctrl-S did not save the notebook"
        finally:
            jp.close()
    release_copy = course.release_notebook(course_root, CH).read_bytes()

    # The course changes; the learner updates, then launches again.
    change_and_release(course_root)
    assert course.release_notebook(course_root, CH).read_bytes() != release_copy
    updated = subprocess.run([sys.executable, "-m", "lstm_helpers.classroom.cli", "update"], cwd=course_root,
                             env=bs.fresh_user_env(tmp_path / "jupyter", new_learner=True),
                             capture_output=True, text=True, timeout=300)
    print(updated.stdout)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert "02_rnn: updated to the course's new version." in updated.stdout
    assert "new wording merged in: rnn_cell_forward" in updated.stdout

    with bs.LabCommand(course_root, tmp_path / "jupyter") as second:
        said = second.output()
        assert f"Your workspace: {folder}" in said and "Created now" not in said, said
        jp = open_lab(context, second.url)
        try:
            nb = jp.open(f"{CH}/{CH}.ipynb", kernel=False)[0]
            cells = nb.model()
            answer = cells[cell_index(nb, "rnn_cell_forward")]["source"]
            # the new release's wording around the learner's own lines
            new_template = next(c for c in json.loads(course.release_notebook(course_root, CH).read_text())["cells"]
                                if c["metadata"].get("nbgrader", {}).get("grade_id") == "rnn_cell_forward")
            assert answer == "".join(new_template["source"]).replace(TEMPLATE, MY_LINES), answer
            assert "plain (Elman) RNN" in answer
            assert any(NEW_PROSE in c["source"] for c in cells)
            # Validate (nbgrader, with the course's config) on the workspace file: the carried answer passes
            result = nb.validate(timeout_ms=300_000, screenshot=bs.SCREENSHOTS / "workspace-validate.png")
            sources, errors = result["blocks"][0::2], result["blocks"][1::2]
            unanswered = ("NotImplementedError", "You did not provide a response.")  # code, and free text
            assert errors and all(any(word in e for word in unanswered) for e in errors), \
                [e[-600:] for e in errors if not any(word in e for word in unanswered)]
            assert not any('check("rnn_cell_forward"' in block for block in sources), result["text"][:3000]
            nb.page.evaluate("async ([id, index]) => { await window.__lstmPanel(id).content.scrollToItem(index); }",
                             [nb.id, cell_index(nb, "rnn_cell_forward")])
            nb.page.wait_for_timeout(300)
            shot = bs.SCREENSHOTS / "workspace-after-update.png"
            nb.page.screenshot(path=str(shot))
            print(f"screenshots: {shot}, {bs.SCREENSHOTS / 'workspace-validate.png'}")
        finally:
            jp.close()
