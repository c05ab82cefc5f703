"""The two layers around the app, driven as ASGI apps: Privacy hands on a request with
no client address and none of the identifying headers; LastResort turns an escaping
exception into a 500 problem and logs where it happened, never its message. And the
log filter of ``run.serve`` blanks addresses."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from tidehash.registry.server.middleware import IDENTIFYING_HEADERS, LastResort, Privacy
from tidehash.registry.server.run import LOG_CONFIG, NoAddresses, redact_addresses

from .api_helpers import PROBLEM


def drive(app, scope, body=b""):
    """Run one HTTP request through an ASGI app; (messages sent, scopes it saw)."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)
    asyncio.run(app(scope, receive, send))
    return sent


def http_scope(headers):
    return {"type": "http", "method": "GET", "path": "/", "raw_path": b"/",
            "query_string": b"", "root_path": "", "scheme": "http", "http_version": "1.1",
            "headers": headers, "client": ("203.0.113.9", 54321), "server": ("127.0.0.1", 80)}


def test_privacy_drops_the_address_and_identifying_headers():
    seen = []

    async def probe(scope, receive, send):
        seen.append(scope)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    headers = [(b"host", b"registry.example"), (b"X-Forwarded-For", b"203.0.113.1"),
               (b"forwarded", b"for=198.51.100.2"), (b"x-real-ip", b"192.0.2.3"),
               (b"user-agent", b"Probe/1.0"), (b"USER-AGENT", b"Probe/2.0"),
               (b"referer", b"https://x.example/"), (b"cookie", b"a=b"),
               (b"cf-connecting-ip", b"192.0.2.4"), (b"sec-ch-ua", b'"Probe";v="1"'),
               (b"content-type", b"application/json"), (b"authorization", b"Bearer t")]
    original = http_scope(list(headers))
    drive(Privacy(probe), original)
    (scope,) = seen
    assert scope["client"] is None
    assert scope["headers"] == [(b"host", b"registry.example"),
                                (b"content-type", b"application/json"),
                                (b"authorization", b"Bearer t")]
    assert original["headers"] == headers  # the server's own scope is not edited
    assert {b"x-forwarded-for", b"forwarded", b"x-real-ip", b"user-agent"} <= \
        IDENTIFYING_HEADERS


def test_privacy_passes_lifespan_untouched():
    seen = []

    async def probe(scope, receive, send):
        seen.append(scope)
    scope = {"type": "lifespan", "state": {}}
    asyncio.run(Privacy(probe)(scope, None, None))
    assert seen == [scope]


def test_last_resort_answers_a_bug_with_a_500_problem_and_logs_no_message(caplog):
    async def buggy(scope, receive, send):
        raise KeyError("case TH-AAAA-BBBB secret s3cr3t from 203.0.113.5")

    with caplog.at_level(logging.DEBUG, logger="tidehash"):
        sent = drive(LastResort(buggy), http_scope([]))
    start, body = sent
    assert start["status"] == 500
    assert (b"content-type", PROBLEM.encode()) in start["headers"]
    problem = json.loads(body["body"])
    assert problem["type"].endswith("/internal") and problem["status"] == 500
    (record,) = [r for r in caplog.records if r.name.startswith("tidehash")]
    logged = record.getMessage()
    assert "KeyError" in logged and "test_api_middleware.py" in logged and "buggy" in logged
    for secret in ("TH-AAAA", "s3cr3t", "203.0.113.5"):
        assert secret not in logged and secret not in caplog.text


def test_last_resort_after_the_response_started_only_ends_it(caplog):
    async def cut(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("the database went away mid-stream")

    with caplog.at_level(logging.DEBUG, logger="tidehash"):
        sent = drive(LastResort(cut), http_scope([]))
    assert [m.get("status") for m in sent] == [200, None]
    assert "went away" not in caplog.text and "RuntimeError" in caplog.text


@pytest.mark.parametrize("text, expected", [
    ("from 203.0.113.5:4433 -", "from <address>:4433 -"),
    ("client ('192.0.2.1', 5000)", "client ('<address>', 5000)"),
    ("v6 2001:db8::1 and ::1 and fe80::1%eth0", "v6 <address> and <address> and <address>"),
    ("at 12:30 on 2026-12-01, version 1.2.3", "at 12:30 on 2026-12-01, version 1.2.3"),
])
def test_the_log_filter_blanks_addresses(text, expected):
    assert redact_addresses(text) == expected
    record = logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, "%s", (text,),
                               None)
    assert NoAddresses().filter(record) and record.getMessage() == expected


def test_the_log_config_has_no_access_log():
    access = LOG_CONFIG["loggers"]["uvicorn.access"]
    assert access["handlers"] == [] and access["propagate"] is False
    for name, logger in LOG_CONFIG["loggers"].items():
        for handler in logger["handlers"]:
            assert "no_addresses" in LOG_CONFIG["handlers"][handler]["filters"], name
