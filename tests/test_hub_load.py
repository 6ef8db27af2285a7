"""A bounded load test on 127.0.0.1: 20 learners spawn, fetch and submit at once; every submission is collected.

Real unix users, a real hub (see ``test_hub.py``); every request has a
timeout and the whole test a deadline, and it stops by itself. It prints the
hub's start-up time, each spawn time (min / median / max), the memory of each
learner's server (RSS and PSS, which shares common pages fairly) and the
time to collect. The machine's load average is printed with them, since the
figures depend on it.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hub_support as hs  # noqa: E402
from conftest import copy_course  # noqa: E402

from lstm_helpers.classroom import exchange  # noqa: E402

pytestmark = [pytest.mark.hub, pytest.mark.skipif(bool(hs.missing_requirements()),
                                                  reason=hs.missing_requirements() or "ok")]

LEARNERS = int(os.environ.get("LSTM_COURSE_LOAD_LEARNERS", "20"))
CHAPTER = "01_feedforward"
COURSE_ID = "lstm-load-test"
DEADLINE_S = 900  # spawn, fetch and submit of every learner, all together


def test_twenty_learners_spawn_fetch_and_submit_and_every_submission_is_collected():
    began = time.monotonic()
    with hs.UnixUsers() as users:
        instructor = users.add("i")
        learners = [users.add(f"l{n:02d}") for n in range(LEARNERS)]
        course = copy_course(users.home(instructor) / "course")
        subprocess.run(["chown", "-R", f"{instructor}:{instructor}", str(course)], check=True)
        class_dir = hs.shared_tempdir("lstm-load-")
        try:
            args = [sys.executable, "-m", "lstm_helpers.classroom.cli", "hub", "setup", str(class_dir),
                    "--course", str(course), "--course-id", COURSE_ID, "--instructor", instructor,
                    "--authenticator", "dummy", "--port", str(hs.free_port()), "--hub-port", str(hs.free_port()),
                    "--proxy-api-port", str(hs.free_port()), "--proxy", str(hs.PROXY), "--no-sliders"]
            for learner in learners:
                args += ["--learner", learner]
            subprocess.run(args, check=True, capture_output=True, timeout=120)
            settings_path = class_dir / "class.json"
            settings = json.loads(settings_path.read_text())
            settings["spawn_timeout"] = DEADLINE_S
            settings_path.write_text(json.dumps(settings))
            hs.run_as(instructor, [str(hs.VENV_BIN / "lstm-course"), "exchange", "release", CHAPTER], cwd=course)

            with hs.Hub(class_dir) as hub:
                def one_learner(user):
                    spawn = hub.spawn(user, timeout=DEADLINE_S)
                    session = hs.UserSession(hub, user, hub.user_token(user))
                    t0 = time.monotonic()
                    session.assignment_action("fetch", COURSE_ID, CHAPTER)
                    listing = session.assignment_action("submit", COURSE_ID, CHAPTER)
                    stamps = [s["timestamp"] for e in listing if e["status"] == "submitted" for s in e["submissions"]]
                    return spawn, time.monotonic() - t0, stamps

                t_load = time.monotonic()
                with ThreadPoolExecutor(LEARNERS) as pool:
                    outcomes = dict(zip(learners, pool.map(one_learner, learners)))
                load_s = time.monotonic() - t_load
                memory = {u: hs.memory_kib(hub.server_pid(u)) for u in learners}
                startup = hub.startup_seconds

            t_collect = time.monotonic()
            hs.run_as(instructor, [str(hs.VENV_BIN / "lstm-course"), "exchange", "collect", CHAPTER], cwd=course)
            collect_s = time.monotonic() - t_collect
        finally:
            subprocess.run(["rm", "-rf", str(class_dir)], timeout=120)

        spawns = sorted(o[0] for o in outcomes.values())
        rss = sorted(m[0] / 1024 for m in memory.values())
        pss = sorted(m[1] / 1024 for m in memory.values())
        print(f"\nload test, {LEARNERS} learners on {os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f} at the end: hub start-up {startup:.1f} s; all spawned, fetched and "
              f"submitted in {load_s:.0f} s; spawn min {spawns[0]:.1f} / median {statistics.median(spawns):.1f} / "
              f"max {spawns[-1]:.1f} s; fetch + submit median "
              f"{statistics.median(o[1] for o in outcomes.values()):.2f} s; memory per server RSS median "
              f"{statistics.median(rss):.0f} MiB (max {rss[-1]:.0f}), PSS median {statistics.median(pss):.0f} MiB "
              f"(max {pss[-1]:.0f}); collect {collect_s:.1f} s; whole test {time.monotonic() - began:.0f} s")

        assert load_s < DEADLINE_S
        assert all(o[2] for o in outcomes.values()), "a learner's submission is not listed"
        submitted = course / "submitted"
        for user, (_, _, stamps) in outcomes.items():
            assert (submitted / user / CHAPTER / "timestamp.txt").read_text().strip() == stamps[-1], user
        assert sorted(p.name for p in submitted.iterdir()) == sorted(learners)
        assert exchange.collection_notes(course) == {}  # every learner handed in under their own name
        assert all(r > 0 for r in rss), "a server's memory could not be read"
