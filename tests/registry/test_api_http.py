"""The registry under a real uvicorn (``run.serve`` in its own process, on a free
loopback port) and under the TestClient, on both stores: a whole session of every kind
of request, sent with ``X-Forwarded-For`` and friends and a distinctive user agent,
leaves no address, no user agent and no case secret in any log line (the server's
stderr, the test process's log records) or in any table of the database (nor, on
SQLite, anywhere in the database's files)."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time

import httpx
from sqlalchemy import create_engine, inspect, select, text

from tidehash.registry import pow as pow_
from tidehash.registry.server.db import Database, normalise_url
from tidehash.registry.server.keys import Keys
from tidehash.registry.server.store import Store

from .api_helpers import (
    SERVE_SCRIPT,
    SRC,
    assert_problem,
    bearer,
    image,
    running,
    uvicorn_server,
    video,
)

ADDRESSES = ("203.0.113.77", "198.51.100.23", "192.0.2.99", "2001:db8::beef")
USER_AGENT = "TidehashPrivacyProbe/9.9 (distinctive-ua-7f3a91; like Gecko)"
IDENTIFYING = {
    "X-Forwarded-For": f"{ADDRESSES[0]}, {ADDRESSES[1]}",
    "Forwarded": f'for={ADDRESSES[2]};proto=https, for="[{ADDRESSES[3]}]"',
    "X-Real-IP": ADDRESSES[1],
    "User-Agent": USER_AGENT,
    "Referer": f"https://{ADDRESSES[2]}/from",
    "CF-Connecting-IP": ADDRESSES[0],
}
DIFFICULTY = 6


def session(client, operator_headers) -> dict:
    """Every kind of request a registry sees; returns what must leave no trace."""
    c = client.get("/v1/challenge").json()
    nonce = pow_.solve(c["challenge"], c["difficulty"])
    r = client.post("/v1/cases", json={"pow": {"challenge": c["challenge"], "nonce": nonce},
                                       "items": [image(1), video(2)]})
    assert r.status_code == 201, r.text
    case = r.json()
    secret_body = {"case_id": case["case_id"], "secret": case["secret"]}
    assert client.post("/v1/cases/status", json=secret_body).status_code == 200
    assert client.post("/v1/cases/withdraw", json={**secret_body, "items": [1]}).status_code \
        == 200
    assert client.post("/v1/cases/status", json={**secret_body, "secret": "wrong"}) \
        .status_code == 404
    # bad input of several kinds
    assert_problem(client.post("/v1/cases", content=b"{", headers={
        "Content-Type": "application/json"}), 400)
    assert_problem(client.post("/v1/cases", json={"pow": {"challenge": c["challenge"],
                                                          "nonce": nonce},
                                                  "items": [image(3)]}), 400, "challenge")
    assert_problem(client.get("/v1/no-such-route"), 404)
    assert_problem(client.get("/v1/list/changes"), 401)
    # the platform side
    r = client.post("/v1/admin/platforms", json={"name": "probe"}, headers=operator_headers)
    assert r.status_code == 201, r.text
    platform = bearer(r.json()["token"])
    snap = client.get("/v1/list/snapshot", headers=platform)
    assert snap.status_code == 200 and snap.content.endswith(b"}}\n")
    part = client.get("/v1/list/snapshot", headers={**platform, "Range": "bytes=3-",
                                                    "If-Range": snap.headers["etag"]})
    assert part.status_code == 206 and part.content == snap.content[3:]
    page = client.get("/v1/list/changes", headers=platform).json()
    ids = [ch["entry"]["id"] for ch in page["changes"] if ch["op"] == "upsert"]
    deadline = time.monotonic() + 30
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    deadline = time.monotonic() + 30
    while True:
        r = client.post("/v1/lookup", json={"queries": [{"md5": image(1)["md5"]}]},
                        headers=platform)
        assert r.status_code == 200, r.text
        if r.json()["results"][0]["matches"]:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    r = client.post("/v1/feedback", json={"feedback": [{"id": ids[0], "verdict": "matched"}]},
                    headers=platform)
    assert r.status_code == 202, r.text
    assert client.get("/healthz").status_code == 200
    return case


def dump_database(url: str) -> str:
    """Every row of every table, as text (bytes as hex and as latin-1)."""
    engine = create_engine(normalise_url(url))
    out = []
    try:
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                quoted = conn.dialect.identifier_preparer.quote(table)
                for row in conn.execute(select(text("*")).select_from(text(quoted))):
                    for value in row:
                        if isinstance(value, (bytes, memoryview)):
                            value = bytes(value)
                            out.append(value.hex())
                            out.append(value.decode("latin-1"))
                        else:
                            out.append(str(value))
                out.append(f"-- {table}")
    finally:
        engine.dispose()
    return "\n".join(out)


def sqlite_files(url: str) -> bytes:
    path = normalise_url(url).split("sqlite:///", 1)[1]
    data = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            with open(path + suffix, "rb") as f:
                data += f.read()
        except FileNotFoundError:
            pass
    return data


def assert_no_trace(where: str, haystack: str, case: dict) -> None:
    for needle in (*ADDRESSES, USER_AGENT, "distinctive-ua-7f3a91", case["secret"],
                   "127.0.0.1"):
        assert needle not in haystack, f"{needle!r} found in {where}"


def assert_audit_log_holds_nothing_about_a_person(url: str, case: dict) -> None:
    """The audit log has the session's operator actions and downloads (so the check
    can fail), and no case id (in any spelling), secret, token, address or user agent;
    no row comes from a person's request."""
    db = Database(url)
    try:
        with db.connect() as conn:
            db_rows = conn.execute(text("SELECT actor, action, detail FROM audit")).all()
        rows = "\n".join(" ".join(map(str, r)) for r in db_rows)
    finally:
        db.close()
    actions = {r.action for r in db_rows}
    assert {"platform.add", "list.download", "list.download.end"} <= actions, actions
    assert not any(a.startswith(("case", "person", "submit", "withdraw")) for a in actions
                   if a != "cases.list"), actions
    cid = case["case_id"]
    for needle in (*ADDRESSES, USER_AGENT, "distinctive-ua-7f3a91", case["secret"], cid,
                   cid.replace("-", ""), cid.lower(), "thp_", "tho_", "127.0.0.1"):
        assert needle not in rows, f"{needle!r} found in the audit log"


def server_side_records(caplog) -> str:
    """The log records of the test process but those of the HTTP client (httpx and
    httpcore log the URLs they call, 127.0.0.1 included: that is the client's side)."""
    return "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records
                     if not r.name.startswith(("httpx", "httpcore")))


def operator_token(url: str) -> dict:
    db = Database(url)
    try:
        return bearer(Store(db, Keys.load(db)).operator_token()["token"])
    finally:
        db.close()


def test_a_session_through_uvicorn_leaves_no_trace(db_url, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    operator = operator_token(db_url)
    with uvicorn_server(db_url, tmp_path, pow_difficulty=DIFFICULTY) as server:
        with httpx.Client(base_url=server.base_url, headers=IDENTIFYING, timeout=30) as client:
            case = session(client, operator)
            r = client.get("/healthz")
            # uvicorn adds neither a Server nor a Date header
            assert "server" not in r.headers and "date" not in r.headers
        # a request uvicorn cannot parse: it logs a warning, which must not say who
        with socket.create_connection(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1]))) as s:
            s.sendall(b"GARBAGE \x00\x01 " + USER_AGENT.encode() + b"\r\n\r\n")
            s.settimeout(10)
            try:
                s.recv(1024)
            except OSError:
                pass
        assert server.process.poll() is None
    stderr = server.stderr()
    assert "Invalid HTTP request received" in stderr  # what uvicorn logs is captured
    assert "GET /v1" not in stderr and "POST /v1" not in stderr  # no access log
    assert_no_trace("the server's stderr", stderr, case)
    assert_no_trace("the test's log records", server_side_records(caplog), case)
    assert_no_trace("the database", dump_database(db_url), case)
    assert_audit_log_holds_nothing_about_a_person(db_url, case)
    if db_url.startswith("sqlite"):
        raw = sqlite_files(db_url)
        for needle in (*ADDRESSES, USER_AGENT, case["secret"]):
            assert needle.encode() not in raw, f"{needle!r} in the database files"


def test_a_session_through_the_test_client_leaves_no_trace(db_url, caplog):
    caplog.set_level(logging.DEBUG)
    with running(db_url, pow_difficulty=DIFFICULTY) as api:
        api.client.headers.update(IDENTIFYING)
        case = session(api.client, api.operator)
    assert_no_trace("the log records", server_side_records(caplog), case)
    assert_no_trace("the database", dump_database(db_url), case)
    assert_audit_log_holds_nothing_about_a_person(db_url, case)


def test_serve_exits_3_when_it_cannot_start(tmp_path):
    """The port taken, or the database unreachable: uvicorn's own exit status 3."""
    env = {**os.environ, "PYTHONPATH": SRC}
    unreachable = f"postgresql+psycopg://nobody@/x?host={tmp_path / 'no-such-socket-dir'}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for url, busy_port in ((f"sqlite:///{tmp_path / 'r.db'}", port), (unreachable, 0)):
            r = subprocess.run([sys.executable, "-c", SERVE_SCRIPT,
                                json.dumps({"db_url": url}), str(busy_port)],
                               capture_output=True, text=True, timeout=120, env=env)
            assert r.returncode == 3, r.stderr[-2000:]
