"""A real PostgreSQL server for the tests: its own cluster in a temporary folder,
listening only on a Unix socket there (no TCP), started with initdb + pg_ctl (as the
postgres user when the tests run as root: initdb refuses root).

``TIDEHASH_TEST_PG_URL`` (a psycopg URL of a server the tests may create databases
on) uses that server instead. A server that cannot be started is an error, never a skip."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid


def _bindir() -> str:
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                       key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
                       reverse=True):
        if os.path.exists(os.path.join(cand, "initdb")):
            return cand
    path = shutil.which("initdb")
    if path:
        return os.path.dirname(path)
    raise RuntimeError("PostgreSQL's initdb was not found (apt-get install postgresql)")


class Cluster:
    """One PostgreSQL cluster: ``start()``, ``stop(mode)``, ``url(dbname)``,
    ``create_database()`` / ``drop_database(name)``, ``cleanup()``."""

    def __init__(self):
        self.bindir = _bindir()
        self.root = tempfile.mkdtemp(prefix="tidehash-pg-")
        self.data = os.path.join(self.root, "data")
        self.as_root = os.geteuid() == 0
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        os.chmod(self.root, 0o700)
        self.user = "postgres" if self.as_root else pwd.getpwuid(os.geteuid()).pw_name
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", self.user, "--no-sync",
                  "-E", "UTF8", "--locale=C")
        self.started = False

    def _run(self, tool, *args, check=True):
        cmd = [os.path.join(self.bindir, tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        # PostgreSQL is not ours to sanitize: no ASan runtime preloaded into it
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
        if check and r.returncode != 0:
            raise RuntimeError(f"{tool} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
        return r

    def start(self) -> None:
        opts = (f"-c listen_addresses='' -c unix_socket_directories={self.root} "
                "-c max_connections=200 -c shared_buffers=64MB")
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.root, "log"),
                  "-o", opts, "-w", "-t", "60", "start")
        self.started = True

    def stop(self, mode: str = "fast") -> None:
        if self.started:
            self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop",
                      check=False)
            self.started = False

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@/{dbname}?host={self.root}"

    def create_database(self) -> str:
        import psycopg
        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(f"dbname=postgres user={self.user} host={self.root}",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg
        with psycopg.connect(f"dbname=postgres user={self.user} host={self.root}",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class External:
    """A server given by TIDEHASH_TEST_PG_URL."""

    def __init__(self, url: str):
        from sqlalchemy.engine import make_url
        self.base = make_url(url)

    def url(self, dbname: str = "postgres") -> str:
        return self.base.set(database=dbname).render_as_string(hide_password=False)

    def _admin(self):
        import psycopg
        u = self.base.set(drivername="postgresql", database="postgres")
        return psycopg.connect(u.render_as_string(hide_password=False), autocommit=True)

    def create_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:16]
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def cleanup(self) -> None:
        pass


@contextlib.contextmanager
def database_url(request, kind: str, folder):
    """A fresh, empty database URL of this kind ("sqlite": a file in ``folder``;
    "postgresql": a new database on the session's server, the ``pg`` fixture, dropped
    afterwards), for the ``db_url`` fixture and fixtures wider than one test."""
    if kind == "sqlite":
        yield f"sqlite:///{os.path.join(folder, 'registry.db')}"
        return
    server = request.getfixturevalue("pg")
    name = server.create_database()
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)
