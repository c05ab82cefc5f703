"""Fixtures of the registry tests: a real PostgreSQL server for the session (``pg``), a
fresh database per test on each store (``db_url``: SQLite and PostgreSQL)."""

from __future__ import annotations

import os

import pytest

from .pg import Cluster, External, database_url


@pytest.fixture(scope="session")
def pg():
    """The session's PostgreSQL server (started here; failing to start is an error)."""
    url = os.environ.get("TIDEHASH_TEST_PG_URL")
    server = External(url) if url else Cluster()
    try:
        if isinstance(server, Cluster):
            server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def pg_cluster():
    """A private PostgreSQL cluster this test may stop and start (started)."""
    cluster = Cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_kind(request):
    return request.param


@pytest.fixture
def db_url(request, store_kind, tmp_path):
    """A fresh, empty database URL on each store."""
    with database_url(request, store_kind, tmp_path) as url:
        yield url
