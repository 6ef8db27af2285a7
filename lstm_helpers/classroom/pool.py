"""Run grading workers side by side: one process per task, ``jobs`` at a time, retried once if one dies.

Each task runs in a fresh ``python -m lstm_helpers.classroom.worker`` process
in a session of its own, so a timeout kills it with everything it started.
Learners' kernels run in sandboxes that cannot see or signal the workers, so
a worker dies only by the grader's own fault or the machine's; then its task
runs once more before it is reported.
"""

import json
import logging
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

log = logging.getLogger("lstm_helpers.classroom.pool")


def worker_env():
    """The environment of worker processes: this Python's ``bin`` first on PATH (nbgrader runs
    ``alembic`` by name), UTF-8, no ``JPY_PARENT_PID``, and Jupyter's inline plotting."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.setdefault("PYTHONIOENCODING", "utf-8")
    env.pop("JPY_PARENT_PID", None)
    env.pop("MPLBACKEND", None)  # plots reach the feedback, and `check` on a laptop matches `grade`
    return env


def run_worker(task, *, timeout, log_path):
    """Run one task in a worker process; ``(reply, error)``: the reply dict, or None and why not."""
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "lstm_helpers.classroom.worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=log_file, env=worker_env(), start_new_session=True)
        try:
            out, _ = proc.communicate(json.dumps(task).encode(), timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return None, f"grading was stopped after {timeout:.0f} s (its time limit)"
        finally:
            _kill_group(proc)  # nothing the worker started outlives it
    if proc.returncode != 0 or not out:
        how = (f"killed by {signal.Signals(-proc.returncode).name}" if proc.returncode < 0
               else f"exit code {proc.returncode}")
        return None, f"the grading worker died ({how}); see {log_path}"
    try:
        reply = json.loads(out)
    except ValueError:
        return None, f"the grading worker's reply was not readable; see {log_path}"
    if not reply.get("ok"):
        with open(log_path, "a", encoding="utf-8") as log_file:
            log_file.write(reply.get("error") or "")
        lines = (reply.get("error") or "").strip().splitlines()
        return None, f"the grading worker failed: {lines[-1] if lines else 'no reason given'} (traceback in {log_path})"
    return reply, None


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def run_all(tasks, *, jobs, log_dir, on_done=None, failed=None):
    """Run every task (dicts with a ``timeout`` and a ``name``); ``[(reply or None, error or None, tries)]`` in order.

    A task whose worker dies, fails, or whose reply ``failed(reply)`` calls
    incomplete, runs once more in a fresh worker before it is reported.
    """
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    results = [None] * len(tasks)

    def run(index):
        task = tasks[index]
        name = task.get("name", f"task{index}")
        reply, error, tries = None, None, 0
        for tries in (1, 2):
            reply, error = run_worker(task, timeout=task["timeout"], log_path=log_dir / f"{name}.{tries}.log")
            if reply is not None and not (failed and failed(reply)):
                break
            if "time limit" in (error or ""):
                break
            log.warning("%s: %s; grading it once more in a fresh worker", name, error or "not every part graded")
        return index, (reply, error, tries)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run, index) for index in range(len(tasks))]
        for future in as_completed(futures):
            index, outcome = future.result()
            results[index] = outcome
            if on_done:
                on_done(tasks[index], *outcome)
    return results
