"""A term on a real JupyterHub, end to end, on 127.0.0.1.

One hub (configurable-http-proxy, DummyAuthenticator, the local-process
spawner) is set up with ``lstm-course hub setup`` for an instructor and four
learners, all real unix users made with ``useradd -m`` (so their homes start
mode 0755) and removed afterwards. The term, as the people involved do it:

1. the instructor releases chapter 01 with ``lstm-course exchange release``;
2. learner A fetches it through the Assignments API (the HTTP calls the Lab
   extension makes, with A's own token), submits it blank, then solves it in
   the notebook (saved through JupyterLab's contents API) and submits again;
   learner B fetches and submits the blank notebook; learner M writes an
   nbgrader_config.py claiming to be learner C and submits;
3. the instructor collects (``lstm-course exchange collect``), grades
   (``lstm-course grade``) and returns the feedback (``lstm-course exchange
   feedback``); A and B fetch their feedback through the Assignments API.

The tests below check each part; the term runs once (module fixture) and a
failed step is reported by every test that needs it. A fifth learner logs in
through the hub's login page in headless Chromium and fetches and opens the
chapter in the Assignments tab.
"""

import csv
import json
import os
import re
import stat
import subprocess
import sys
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import grader_fixtures as gf  # noqa: E402
import hub_support as hs  # noqa: E402
from conftest import copy_course  # noqa: E402

from lstm_helpers.classroom import exchange  # noqa: E402
from lstm_helpers.classroom.hub import setup as hub_setup  # noqa: E402

pytestmark = [pytest.mark.hub, pytest.mark.skipif(bool(hs.missing_requirements()),
                                                  reason=hs.missing_requirements() or "ok")]

CHAPTER = "01_feedforward"
COURSE_ID = "lstm-hub-test"
LSTM_COURSE = str(hs.VENV_BIN / "lstm-course")


# ---------------------------------------------------------------------------
# The class: users, course, class folder, hub
# ---------------------------------------------------------------------------

class Class:
    """The people and folders of the test class."""

    def __init__(self, users):
        self.users = users
        self.instructor = users.add("i")
        self.a, self.b, self.c, self.m, self.d = (users.add(r) for r in "abcmd")
        self.learners = [self.a, self.b, self.c, self.m, self.d]
        self.course = copy_course(users.home(self.instructor) / "course")
        subprocess.run(["chown", "-R", f"{self.instructor}:{self.instructor}", str(self.course)], check=True)
        self.dir = hs.shared_tempdir("lstm-class-")
        self.exchange = self.dir / "exchange"

    def setup(self):
        args = [sys.executable, "-m", "lstm_helpers.classroom.cli", "hub", "setup", str(self.dir),
                "--course", str(self.course), "--course-id", COURSE_ID, "--instructor", self.instructor,
                "--authenticator", "dummy", "--port", str(hs.free_port()), "--hub-port", str(hs.free_port()),
                "--proxy-api-port", str(hs.free_port()), "--proxy", str(hs.PROXY)]
        for learner in self.learners:
            args += ["--learner", learner]
        result = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def lstm_course(self, *args, timeout=900, check=True):
        """``lstm-course ARGS`` as the instructor, in the course folder."""
        return hs.run_as(self.instructor, [LSTM_COURSE, *map(str, args)], cwd=self.course, timeout=timeout,
                         check=check)


@pytest.fixture(scope="module")
def klass():
    with hs.UnixUsers() as users:
        people = Class(users)
        try:
            people.setup()
            yield people
        finally:
            subprocess.run(["rm", "-rf", str(people.dir)], timeout=120)


@pytest.fixture(scope="module")
def hub(klass):
    with hs.Hub(klass.dir) as running:
        yield running


class Term:
    """The term's steps, run once; each remembers its result, its time, or the error that stopped it."""

    def __init__(self):
        self.results, self.errors, self.seconds = {}, {}, {}

    def step(self, name, action, *needs):
        missing = [n for n in needs if n not in self.results]
        if missing:
            self.errors[name] = f"not run: {', '.join(missing)} did not complete"
            return None
        began = time.monotonic()
        try:
            self.results[name] = action()
        except Exception as exc:  # recorded; the tests that need this step report it
            self.errors[name] = f"{type(exc).__name__}: {exc}"
        self.seconds[name] = time.monotonic() - began
        return self.results.get(name)

    def get(self, name):
        if name not in self.results:
            pytest.fail(f"step {name!r} failed: {self.errors.get(name, 'not run')}")
        return self.results[name]


def _submissions(listing, chapter=CHAPTER):
    """Timestamps of the learner's submissions of ``chapter`` in an Assignments API listing."""
    return sorted(s["timestamp"] for entry in listing if entry["assignment_id"] == chapter
                  and entry["status"] == "submitted" for s in entry["submissions"])


def _solve(session, path):
    """Fill every answer cell of the learner's notebook with the solution and save it (as Lab saves)."""
    nb = session.get_notebook(path)
    solutions = gf.solution_sources(CHAPTER)
    filled = 0
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            cell["source"] = solutions[meta["grade_id"]]
            filled += 1
    session.save_notebook(path, nb)
    return filled


@pytest.fixture(scope="module")
def term(klass, hub):
    t = Term()
    t.results["startup"] = hub.startup_seconds
    began = time.monotonic()
    t.step("release", lambda: klass.lstm_course("exchange", "release", CHAPTER))

    def spawn_all():
        people = [klass.instructor, klass.a, klass.b, klass.m]
        with ThreadPoolExecutor(len(people)) as pool:
            return dict(zip(people, pool.map(hub.spawn, people)))
    t.step("spawn", spawn_all)
    sessions = {u: hs.UserSession(hub, u, hub.user_token(u)) for u in (klass.a, klass.b, klass.m)} \
        if "spawn" in t.results else {}

    def fetch(user):
        return sessions[user].assignment_action("fetch", COURSE_ID, CHAPTER)

    def submit(user):
        return _submissions(sessions[user].assignment_action("submit", COURSE_ID, CHAPTER))

    t.step("fetch", lambda: {u: fetch(u) for u in sessions}, "release", "spawn")
    t.step("submit B", lambda: submit(klass.b), "fetch")

    def impostor():
        config = f'c = get_config()\nc.CourseDirectory.student_id = "{klass.c}"\n'
        sessions[klass.m].call("PUT", "/api/contents/nbgrader_config.py",
                               body={"type": "file", "format": "text", "content": config})
        return submit(klass.m)
    t.step("submit M as C", impostor, "fetch")
    t.step("submit A blank", lambda: submit(klass.a), "fetch")
    t.step("solve A", lambda: _solve(sessions[klass.a], f"{CHAPTER}/{CHAPTER}.ipynb"), "submit A blank")
    t.step("submit A solved", lambda: submit(klass.a), "solve A")
    t.step("collect", lambda: klass.lstm_course("exchange", "collect", CHAPTER), "submit A solved", "submit B",
           "submit M as C")
    t.step("grade", lambda: klass.lstm_course("grade", "submitted", "--out", "grades.csv", "--feedback", "feedback",
                                              "--jobs", "2"), "collect")
    t.step("return feedback", lambda: klass.lstm_course("exchange", "feedback", CHAPTER), "grade")

    def fetch_feedback():
        return {u: sessions[u].assignment_action("fetch_feedback", COURSE_ID, CHAPTER) for u in (klass.a, klass.b)}
    t.step("fetch feedback", fetch_feedback, "return feedback")
    t.results["term"] = time.monotonic() - began
    t.sessions = sessions
    print(f"\nhub start-up {hub.startup_seconds:.1f} s; spawns "
          + ", ".join(f"{u}: {s:.1f} s" for u, s in (t.results.get("spawn") or {}).items())
          + f"; the whole term on {CHAPTER}: {t.results['term']:.0f} s ("
          + ", ".join(f"{k} {v:.1f} s" for k, v in t.seconds.items()) + ")")
    for name, error in t.errors.items():
        print(f"step {name!r} failed: {error}")
    return t


# ---------------------------------------------------------------------------
# The hub and the two Labs
# ---------------------------------------------------------------------------

def _page_config(hub, user, token):
    status, html = hub.request("GET", f"{hub.url}/user/{user}/lab", token=token, raw=True)
    match = re.search(rb'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, re.S)
    assert status == 200 and match, f"no JupyterLab page for {user}"
    return json.loads(match.group(1))


def test_learners_lab_has_assignments_and_validate_but_no_instructor_panels(klass, hub, term):
    term.get("spawn")
    token = term.sessions[klass.a].token
    config = _page_config(hub, klass.a, token)
    disabled = set(config.get("disabledExtensions", []))
    for plugin in hub_setup.LEARNER_HIDDEN_PLUGINS:
        assert plugin in disabled, f"{plugin} is not disabled for learners"
    for plugin in ("@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:validate-assignment",
                   "@jupyter/nbgrader:menu"):
        assert plugin not in disabled
    assert config["appSettingsDir"] == str(klass.dir / "learner" / "lab-settings")  # the class's Lab settings
    # the server halves: formgrader is not served to a learner, the Assignments API is
    with pytest.raises(urllib.error.HTTPError) as err:
        hub.request("GET", f"{hub.url}/user/{klass.a}/formgrader", token=token, raw=True)
    assert err.value.code == 404
    assert term.sessions[klass.a].assignments(COURSE_ID)["success"]


def test_instructors_lab_has_formgrader_on_the_course(klass, hub, term):
    term.get("spawn")
    token = hub.user_token(klass.instructor)
    config = _page_config(hub, klass.instructor, token)
    assert "@jupyter/nbgrader:formgrader" not in set(config.get("disabledExtensions", []))
    status, html = hub.request("GET", f"{hub.url}/user/{klass.instructor}/formgrader/manage_assignments",
                               token=token, raw=True)
    assert status == 200 and b"Manage Assignments" in html
    # formgrader reads the course's gradebook: the released chapter is listed by the API
    assignments = hub.request("GET", f"{hub.url}/user/{klass.instructor}/formgrader/api/assignments", token=token)
    assert CHAPTER in {a["name"] for a in assignments}, assignments


def test_hub_settings_stay_in_the_class_folder(klass):
    assert not Path("/etc/jupyter/nbgrader_config.py").exists()
    class_config = klass.course / ".nbgrader" / "class_config.py"
    text = class_config.read_text()
    assert f"course_id = {COURSE_ID!r}" in text and str(klass.exchange) in text
    assert stat.S_IMODE(class_config.stat().st_mode) == 0o600
    assert class_config.stat().st_uid == klass.users.uid(klass.instructor)


# ---------------------------------------------------------------------------
# Release, fetch, submit, collect
# ---------------------------------------------------------------------------

def test_learners_fetch_the_released_chapter_through_the_assignments_api(klass, term):
    fetched = term.get("fetch")
    for user, listing in fetched.items():
        entry = [e for e in listing if e["assignment_id"] == CHAPTER]
        assert entry and entry[0]["status"] == "fetched", (user, listing)
        assert (klass.users.home(user) / CHAPTER / f"{CHAPTER}.ipynb").is_file()
    assert term.get("solve A") == len(gf.solution_sources(CHAPTER))


def test_collect_takes_each_learners_last_submission_with_its_timestamp(klass, term):
    term.get("collect")
    first, last = term.get("submit A solved")[-2:]
    assert term.get("submit A blank") == [first]
    submitted = klass.course / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == sorted([klass.a, klass.b, klass.c])
    assert (submitted / klass.a / CHAPTER / "timestamp.txt").read_text().strip() == last
    # the last submission is the solved one
    nb = json.loads((submitted / klass.a / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    answers = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    assert answers and not any("NotImplementedError" in "".join(c["source"]) for c in answers)
    record = exchange.read_collected(klass.course)["submissions"]
    assert len(record) == 4  # A twice, B, and M's under C
    owners = {(r["student"], r["timestamp"]): r["owner"] for r in record}
    assert owners[(klass.a, first)] == owners[(klass.a, last)] == klass.a
    assert [r["collected"] for r in record if r["student"] == klass.a and r["timestamp"] == first] == [False]
    record_file = klass.course / exchange.COLLECTED
    assert record_file.stat().st_uid == klass.users.uid(klass.instructor)
    assert stat.S_IMODE(record_file.stat().st_mode) == 0o600


def test_a_submission_under_another_learners_id_is_noted(klass, term):
    term.get("collect")
    notes = exchange.collection_notes(klass.course)
    assert notes == {(klass.c, CHAPTER): [f"submission by unix user {klass.m} under the id {klass.c}"]}
    assert "submission by unix user" in term.get("collect").stdout


# ---------------------------------------------------------------------------
# Grades and feedback (lstm-course grade is the lead's; these check what the term needs of it)
# ---------------------------------------------------------------------------

def _grades(klass):
    return {row["student"]: row for row in gf.read_csv(klass.course / "grades.csv")}


def test_grades_csv_has_the_right_scores(klass, term):
    term.get("grade")
    rows = _grades(klass)
    assert set(rows) == {klass.a, klass.b, klass.c}
    assert float(rows[klass.a][CHAPTER]) == gf.max_points(CHAPTER)
    assert float(rows[klass.b][CHAPTER]) == 0
    assert float(rows[klass.c][CHAPTER]) == 0
    # all answered: only the chapter's free-response answers wait, for the instructor
    assert all("awaiting manual grading" in part for part in rows[klass.a]["status"].split("; ")), rows[klass.a]


def test_grade_report_says_not_attempted_and_flags_the_impostor(klass, term):
    term.get("grade")
    rows = _grades(klass)
    assert "not attempted" in rows[klass.b]["status"], rows[klass.b]["status"]
    assert klass.m in rows[klass.c]["status"], rows[klass.c]["status"]
    assert "feedback//" not in term.get("grade").stdout


def test_feedback_is_returned_and_both_learners_fetch_it(klass, term):
    term.get("fetch feedback")
    for user in (klass.a, klass.b):
        stamp = (klass.course / "submitted" / user / CHAPTER / "timestamp.txt").read_text().strip()
        html = klass.users.home(user) / CHAPTER / "feedback" / stamp / f"{CHAPTER}.html"
        assert html.is_file(), f"no feedback for {user} at {html}"
        assert "BEGIN HIDDEN TESTS" not in html.read_text()


# ---------------------------------------------------------------------------
# Isolation
# ---------------------------------------------------------------------------

def test_learners_cannot_read_the_course_or_each_others_homes(klass, term):
    term.get("fetch")
    a, b = klass.a, klass.b
    for user in (a, b):  # useradd -m made them 0755; the hub closed them before the servers started
        assert stat.S_IMODE(klass.users.home(user).stat().st_mode) & 0o077 == 0
    # the checks can succeed: each reads their own work and the released chapter
    assert hs.can_read(a, klass.users.home(a) / CHAPTER / f"{CHAPTER}.ipynb")
    assert hs.can_read(a, klass.exchange / COURSE_ID / "outbound" / CHAPTER / f"{CHAPTER}.ipynb")
    assert not hs.can_read(a, klass.course)
    assert not hs.can_read(a, klass.course / "solutions" / CHAPTER / f"{CHAPTER}.ipynb")
    assert not hs.can_read(a, klass.users.home(b) / CHAPTER / f"{CHAPTER}.ipynb")
    assert not hs.can_read(b, klass.users.home(a))
    assert not hs.can_read(a, klass.exchange / COURSE_ID / "inbound")  # others' submissions
    rename = hs.run_as(a, [sys.executable, "-c", "import os, sys; os.rename(sys.argv[1], sys.argv[1] + '-x')",
                           str(klass.exchange / COURSE_ID)], check=False)
    assert rename.returncode != 0 and (klass.exchange / COURSE_ID).is_dir()


# ---------------------------------------------------------------------------
# The slider lecture page on the hub
# ---------------------------------------------------------------------------

def test_slider_page_is_served_on_the_hub_for_logged_in_users_only(klass, hub, term):
    term.get("spawn")
    token = term.sessions[klass.b].token
    status, html = hub.request("GET", f"{hub.url}/user/{klass.b}/sliders/", token=token, raw=True, timeout=180)
    assert status == 200 and b"<title>sliders</title>" in html
    for source in ("widgets.GradientFlowApp()", "from lstm_helpers.viz import widgets"):
        assert source.encode() not in html, "Voila shows the page without its code"
    # Voila itself listens on 127.0.0.1 and wants the token that only the user's proxy sends
    voila = [pid for pid in hs._pids_of({klass.users.uid(klass.b)})
             if b"lstm_helpers.classroom.explore" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert voila, "no Voila process of the learner"
    port = re.search(rb"--port=(\d+)", Path(f"/proc/{voila[0]}/cmdline").read_bytes()).group(1).decode()
    assert b"token" not in Path(f"/proc/{voila[0]}/cmdline").read_bytes().lower()
    code = hs.run_as(klass.m, [sys.executable, "-c", (
        "import sys, urllib.request, urllib.error\n"
        "class NoRedirect(urllib.request.HTTPRedirectHandler):\n"
        "    def redirect_request(self, *a): return None\n"
        "try:\n"
        f"    urllib.request.build_opener(NoRedirect).open('http://127.0.0.1:{port}/user/{klass.b}/sliders/')\n"
        "    print(200)\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code)")]).stdout.strip()
    assert code != "200", "another user reached the learner's Voila around the hub"


# ---------------------------------------------------------------------------
# In headless Chromium: log in, Assignments tab, fetch, open
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium():
    import browser_support as bs

    with bs.headless_chromium() as browser:
        yield browser


@pytest.mark.browser
def test_learner_logs_in_fetches_and_opens_the_chapter_in_the_assignments_tab(klass, hub, term, chromium):
    import browser_support as bs

    term.get("release")
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(120_000)
    shot = bs.SCREENSHOTS / "hub-learner-assignments.png"
    try:
        page.goto(f"{hub.url}/hub/login")
        page.fill("#username_input", klass.d)
        page.fill("#password_input", "any password: DummyAuthenticator, tests only")
        began = time.monotonic()
        page.click("#login_submit")
        page.wait_for_url(f"**/user/{klass.d}/lab**", timeout=300_000)
        page.locator("#jp-main-dock-panel").wait_for(state="visible", timeout=300_000)
        print(f"\nlogin to Lab in the browser: {time.monotonic() - began:.1f} s (spawn included)")

        # the Nbgrader menu offers the Assignments tab, and nothing of the instructor's
        page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
        items = page.locator(".lm-Menu-content .lm-Menu-itemLabel").all_inner_texts()
        assert "Assignment List" in items and not any("Formgrader" in i or "Course" in i for i in items), items
        page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()

        released = page.locator("#released_assignments_list .list_item", has_text=CHAPTER)
        released.locator("button", has_text="Fetch").click()
        fetched = page.locator("#fetched_assignments_list .list_item", has_text=CHAPTER).first
        fetched.wait_for(state="visible")
        fetched.locator("a.assignment-notebooks-link").click()
        page.locator("#fetched_assignments_list .assignment-notebooks a", has_text=CHAPTER).first.click()
        page.locator(".lm-TabBar-tabLabel", has_text=f"{CHAPTER}.ipynb").wait_for(state="visible")
        page.locator(".jp-NotebookPanel:visible .jp-RenderedMarkdown").first.wait_for(state="visible")
        page.locator(".jp-NotebookPanel:visible .jp-Notebook-cell .cm-content", has_text="YOUR CODE HERE") \
            .first.wait_for(state="attached")
        assert page.locator("text=official Jupyter news").count() == 0  # the class's Lab settings
        assert page.locator(".jp-NotebookPanel:visible .validate-button").count() == 1
        bs.SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot))
        print(f"screenshot: {shot}")
        assert (klass.users.home(klass.d) / CHAPTER / f"{CHAPTER}.ipynb").is_file()
    finally:
        context.close()
