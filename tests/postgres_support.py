"""A throw-away PostgreSQL server for tests: ``initdb`` in a temporary folder, 127.0.0.1 only.

    from postgres_support import postgres_server
    with postgres_server() as pg:
        url = pg.create_database("gradebook")   # postgresql://lstm:<password>@127.0.0.1:<port>/gradebook

Or use the module-scoped pytest fixture: ``from postgres_support import postgres``
in a test module, then ask for ``postgres``. PostgreSQL refuses to run as root, so under root the server runs
as the ``postgres`` system user (Debian's package makes it), or ``nobody``.
It listens on a free port of 127.0.0.1 only, with its socket in its own
folder, and accepts only the password of its one superuser (drawn at random):
other users of the machine cannot log in. The server runs in the
foreground of its own process group; leaving the block stops it, kills the
group and removes the folder, also when the test failed.
"""

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from browser_support import free_port, stop_process_group

SUPERUSER = "lstm"


def postgres_bin():
    """Debian's PostgreSQL programs (``/usr/lib/postgresql/<version>/bin``), newest first, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0, reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def missing_requirements():
    if postgres_bin() is None:
        return "PostgreSQL's initdb is missing (apt-get install postgresql; .ci/setup does)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[hub]')"
    if os.geteuid() == 0 and _server_user() is None:
        return "no unprivileged user (postgres or nobody) to run the server as"
    return ""


def _server_user():
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


class PostgresServer:
    def __init__(self, folder, port, password, proc):
        self.folder, self.port, self.password, self.proc = folder, port, password, proc

    def url(self, database="postgres", driver=""):
        scheme = "postgresql" + (f"+{driver}" if driver else "")
        return f"{scheme}://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def connect(self, database="postgres"):
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, password=self.password,
                               dbname=database, autocommit=True, connect_timeout=10)

    def create_database(self, name):
        """A new, empty database; returns its ``postgresql://`` URL."""
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def postgres_server(startup_timeout=60):
    """Start a private PostgreSQL server; yields a :class:`PostgresServer`."""
    bin_dir = postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="lstm-postgres-"))
    run_as = {}
    if os.geteuid() == 0:
        user = _server_user()
        run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        os.chown(folder, user.pw_uid, user.pw_gid)
    os.chmod(folder, 0o700)
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(folder)}
    password = secrets.token_hex(16)
    pwfile = folder / "pw"
    pwfile.write_text(password + "\n")
    if run_as:
        os.chown(pwfile, run_as["user"], run_as["group"])
    proc = None
    try:
        subprocess.run([str(bin_dir / "initdb"), "-D", str(folder / "data"), "-U", SUPERUSER,
                        f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"],
                       cwd=folder, env=env, check=True, capture_output=True, timeout=120, **run_as)
        pwfile.unlink()
        port = free_port()
        log = open(folder / "server.log", "w")
        proc = subprocess.Popen(
            [str(bin_dir / "postgres"), "-D", str(folder / "data"), "-c", "listen_addresses=127.0.0.1",
             "-p", str(port), "-c", f"unix_socket_directories={folder}", "-c", "fsync=off",
             "-c", "full_page_writes=off", "-c", "synchronous_commit=off"],
            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **run_as)
        server = PostgresServer(folder, port, password, proc)
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {proc.returncode}:\n{(folder / 'server.log').read_text()}")
            try:
                with server.connect():
                    break
            except Exception:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"postgres did not accept connections within {startup_timeout} s:\n"
                                       f"{(folder / 'server.log').read_text()}")
                time.sleep(0.2)
        yield server
    finally:
        if proc is not None:
            stop_process_group(proc, grace_s=30, first_signal=signal.SIGINT)  # SIGINT: fast shutdown
        shutil.rmtree(folder, ignore_errors=True)


def _fixture():
    import pytest

    @pytest.fixture(scope="module")
    def postgres():
        """A private PostgreSQL server for the test module (skips when PostgreSQL or psycopg is missing)."""
        reason = missing_requirements()
        if reason:
            pytest.skip(reason)
        with postgres_server() as server:
            yield server

    return postgres


#: The pytest fixture: ``from postgres_support import postgres`` in a test module, then ask for ``postgres``.
postgres = _fixture()
