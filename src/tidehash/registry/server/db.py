"""The registry's database: SQLite (WAL, synchronous=FULL: an acknowledged write
survives ``kill -9`` and a power cut) or PostgreSQL through psycopg 3, one code path.

``Database(url)`` migrates the schema to the newest version on open (Alembic, under a
lock so that several processes starting together migrate once). ``begin()`` is a write
transaction (``BEGIN IMMEDIATE`` on SQLite: the write lock is taken up front, so two
writers never deadlock on the upgrade from a read lock); ``connect()`` a read one.
A database that cannot be reached raises ``Unavailable`` (the service answers 503)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, event, exc, text
from sqlalchemy.engine import Connection, make_url

MIGRATIONS = Path(__file__).with_name("migrations")
# pg_advisory_lock keys (any two constants of our own)
MIGRATE_LOCK = 0x7469_6465_0001
PUBLISH_LOCK = 0x7469_6465_0002
SQLITE_BUSY_MS = 10_000


class Unavailable(Exception):
    """The database cannot be reached (or stays locked); try again later."""


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here; a bare path means an SQLite file."""
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Database:
    """An open registry database (see the module docstring)."""

    def __init__(self, url: str, *, migrate: bool = True, pool_size: int = 8):
        url = normalise_url(url)
        parsed = make_url(url)
        self.url = url
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {self.dialect!r}: use sqlite:///PATH "
                             "or postgresql+psycopg://...")
        if self.dialect == "sqlite":
            database = parsed.database or ""
            if database in ("", ":memory:") or database.startswith("file:"):
                raise ValueError("the registry needs an SQLite file (sqlite:///PATH), "
                                 "not an in-memory database")
            self.path = os.path.abspath(database)
            self.engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_MS / 1000},
                pool_size=pool_size, max_overflow=pool_size)
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        else:
            self.path = None
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=pool_size,
                                        max_overflow=pool_size)
        if migrate:
            self.migrate()

    # ------------------------------------------------------------------ transactions
    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction, committed when the block ends without an exception."""
        with self._guard(), self.engine.connect() as conn:
            conn.info["tidehash_begin"] = "BEGIN IMMEDIATE"
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info["tidehash_begin"] = "BEGIN"

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A read transaction (one consistent view for the block)."""
        with self._guard(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def _guard(self):
        try:
            yield
        except exc.DBAPIError as e:
            if _is_unavailable(e):
                raise Unavailable(_reason(e)) from None
            raise

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ migrations
    def migrate(self) -> None:
        """Bring the schema to the newest version (idempotent)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self._guard(), self._migration_lock():
            with self.engine.connect() as conn:
                cfg.attributes["connection"] = conn
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATE_LOCK})
                    conn.commit()
                try:
                    # "heads": revisions written side by side (one per subsystem) may
                    # branch from the same parent; every branch is applied
                    command.upgrade(cfg, "heads")
                    conn.commit()
                finally:
                    if self.dialect == "postgresql":
                        conn.rollback()
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"),
                                     {"k": MIGRATE_LOCK})
                        conn.commit()

    @contextlib.contextmanager
    def _migration_lock(self):
        if self.dialect != "sqlite":
            yield
            return
        # a lock file beside the database: flock on the database file itself would be
        # released for SQLite's own POSIX locks when our descriptor closes
        fd = os.open(self.path + "-migrate-lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _sqlite_connect(dbapi_conn, _record) -> None:
    # our own BEGIN (below), not pysqlite's implicit one
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cur.close()


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql(conn.info.get("tidehash_begin", "BEGIN"))


def _is_unavailable(e: exc.DBAPIError) -> bool:
    if e.connection_invalidated or isinstance(e, (exc.InterfaceError,)):
        return True
    if isinstance(e, exc.OperationalError):
        return True  # cannot connect, server gone, database locked, disk I/O error
    return False


def _reason(e: exc.DBAPIError) -> str:
    return f"the database is unavailable ({type(e.orig).__name__})"
