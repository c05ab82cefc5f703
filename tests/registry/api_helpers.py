"""Helpers of the HTTP API tests: the app on a fresh database of each store behind
FastAPI's TestClient (``api`` fixture), a real uvicorn in its own process on a free
loopback port (``uvicorn_server``), hash items, and the problem+json check."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import warnings

import httpx
import pytest

import tidehash
from tidehash.registry.server.app import create_app
from tidehash.registry.server.settings import Settings

from .pg import database_url
from .ports import free_port, owns_listener

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx's successor
    from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"
SRC = str(pathlib.Path(tidehash.__file__).parent.parent)


def test_settings(db_url: str, **overrides) -> Settings:
    """Settings for a test: publish at once, no proof of work, unless overridden."""
    values = {"db_url": db_url, "publish_delay": 0, "pow_difficulty": 0}
    values.update(overrides)
    return Settings(**values)


test_settings.__test__ = False  # a helper, not a test


def pdq(seed: int) -> str:
    return hashlib.sha256(b"pdq %d" % seed).hexdigest()


def image(seed: int, **fields) -> dict:
    item = {"kind": "image", "pdq": pdq(seed), "quality": 90,
            "md5": hashlib.md5(b"%d" % seed).hexdigest(),
            "sha256": hashlib.sha256(b"%d" % seed).hexdigest()}
    item.update(fields)
    return item


def video(seed: int, frames: int = 3) -> dict:
    return {"kind": "video", "md5": hashlib.md5(b"video %d" % seed).hexdigest(),
            "sha256": hashlib.sha256(b"video %d" % seed).hexdigest(),
            "vpdq": [{"frame": i, "quality": 80, "pdq": pdq(1000 * seed + i),
                      "timestamp": float(i)} for i in range(frames)]}


def assert_problem(response, status: int, slug: str | None = None) -> dict:
    """The response is a problem+json of this status (and slug); returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM, response.headers
    body = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str) and isinstance(body["detail"], str)
    assert body["type"].startswith("https://tidehash.org/problems/")
    if slug is not None:
        assert body["type"] == "https://tidehash.org/problems/" + slug, body
    return body


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


class Api:
    """The app on one database, behind a TestClient, with an operator token."""

    def __init__(self, client: TestClient, app):
        self.client = client
        self.app = app
        self._operator = None

    @property
    def services(self):
        return self.app.state.services

    @property
    def operator(self) -> dict:
        """Headers with an operator token (made as ``tidehash admin`` makes one)."""
        if self._operator is None:
            self._operator = bearer(self.services.store.operator_token()["token"])
        return self._operator

    def platform(self, name: str = "platform-a", **fields) -> dict:
        """A new platform (through the operator route); its token's headers."""
        r = self.client.post("/v1/admin/platforms", json={"name": name, **fields},
                             headers=self.operator)
        assert r.status_code == 201, r.text
        return bearer(r.json()["token"])

    def submit(self, *items) -> dict:
        r = self.client.post("/v1/cases", json={"items": list(items) or [image(1)]})
        assert r.status_code == 201, r.text
        return r.json()

    def get(self, *args, **kwargs):
        return self.client.get(*args, **kwargs)

    def post(self, *args, **kwargs):
        return self.client.post(*args, **kwargs)


@contextlib.contextmanager
def running(db_url: str, *, database=None, **overrides):
    app = create_app(test_settings(db_url, **overrides), database=database)
    with TestClient(app) as client:
        yield Api(client, app)


@pytest.fixture(name="api")
def api_fixture(db_url):
    """The app on a fresh database of each store (import this name to use ``api``)."""
    with running(db_url) as a:
        yield a


# ----------------------------------------------------------------------------- uvicorn

SERVE_SCRIPT = """
import json, sys
from tidehash.registry.server.run import serve
from tidehash.registry.server.settings import Settings
serve(Settings(**json.loads(sys.argv[1])), "127.0.0.1", int(sys.argv[2]))
"""


class Server:
    def __init__(self, base_url: str, stderr_path: pathlib.Path, process):
        self.base_url = base_url
        self.stderr_path = stderr_path
        self.process = process

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@contextlib.contextmanager
def uvicorn_server(db_url: str, log_dir: pathlib.Path, **overrides):
    """``run.serve`` in its own process on a free loopback port; stopped (SIGTERM, then
    SIGKILL) when the block ends. Yields a Server; its stderr is kept in a file."""
    settings = {"db_url": db_url, "publish_delay": 0, "pow_difficulty": 0, **overrides}
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for attempt in range(3):
        port = free_port()
        stderr_path = log_dir / f"uvicorn-{port}.stderr"
        with open(stderr_path, "wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-c", SERVE_SCRIPT, json.dumps(settings), str(port)],
                stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            up = False
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    # from this server, not from a program that took the port first
                    if httpx.get(base + "/healthz", timeout=2).status_code == 200 \
                            and owns_listener(process.pid, port):
                        up = True
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
            if up:
                yield Server(base, stderr_path, process)
                return
            if attempt == 2 or process.poll() is None:
                raise RuntimeError("the server did not start: "
                                   + stderr_path.read_text(errors="replace")[-3000:])
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


#: the small limits of ``small_api``: a test can cross each one
SMALL_LIMITS = {"max_items": 5, "max_frames": 10, "max_lookup_queries": 4, "max_feedback": 3,
                "max_body": 64 << 10}


@pytest.fixture(name="small_api", scope="module", params=["sqlite", "postgresql"])
def small_api_fixture(request, tmp_path_factory):
    """One app per store for a module of tests that write nothing that matters to
    each other, with SMALL_LIMITS, and ``.platform_headers`` of a platform with every
    scope."""
    folder = tmp_path_factory.mktemp("small-api")
    with database_url(request, request.param, folder) as url, \
            running(url, **SMALL_LIMITS) as a:
        a.store_kind = request.param
        a.platform_headers = a.platform("small")
        yield a
