"""`tidehash admin audit verify / list` and GET /v1/admin/audit on both stores: a clean
log verifies and prints its head; rows edited, deleted, inserted or reordered with raw
SQL (and the newest rows cut, with the head moved back) make verify exit 1 naming the
seq; the API route takes an operator token and no unknown parameter."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tidehash.registry.server.db import Database
from tidehash.registry.server.keys import Keys
from tidehash.registry.server.store import Store

from .api_helpers import assert_problem, running
from .client_helpers import cli


def sql(url: str, statement: str, **params) -> None:
    db = Database(url)
    try:
        with db.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        db.close()


def verify(url: str, *extra) -> tuple[int, dict, str]:
    r = cli("admin", "audit", "verify", "--db", url, *extra)
    return r.returncode, json.loads(r.stdout) if r.stdout else {}, r.stderr


@pytest.fixture
def logged(db_url):
    """A database whose audit log has 6 rows (platform commands, as `admin` runs them)."""
    db = Database(db_url)
    try:
        store = Store(db, Keys.load(db))
        for name in ("a", "b", "c"):
            store.add_platform(name)
            store.set_suspended(name, True)
    finally:
        db.close()
    return db_url


def test_a_clean_log_verifies_and_lists(logged):
    code, out, stderr = verify(logged)
    assert code == 0, stderr
    assert out["ok"] and out["rows"] == 6 and out["problems"] == []
    seq, digest = out["head"].split(":")
    assert seq == "6" and len(digest) == 64
    assert verify(logged, "--expect", out["head"])[0] == 0
    r = cli("admin", "--db", logged, "audit", "list", "--since", "2", "--limit", "3")
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["seq"] for x in lines] == [3, 4, 5]
    assert [x["action"] for x in lines] == ["platform.add", "platform.suspend", "platform.add"]
    r = cli("admin", "--db", logged, "audit", "list", "--action", "platform.suspend")
    assert [json.loads(line)["detail"]["platform"] for line in r.stdout.splitlines()] == [
        "a", "b", "c"]
    assert cli("admin", "--db", logged, "audit", "list").stdout.splitlines()[-1] \
        .endswith(f'"hash": "{digest}"}}')


@pytest.mark.parametrize("tamper, named", [
    ("UPDATE audit SET detail = '{\"platform\":\"z\"}' WHERE seq = 3", "seq 3: the row does "
     "not match its hash"),
    ("UPDATE audit SET at = at - 86400 WHERE seq = 2", "seq 2: the row does not match"),
    ("DELETE FROM audit WHERE seq = 4", "seq 4: seq 4 missing (deleted)"),
    ("INSERT INTO audit (seq, at, actor, action, detail, hash) SELECT 7, at, actor, action, "
     "detail, hash FROM audit WHERE seq = 6", "seq 7: after the head (seq 6)"),
    ("UPDATE audit SET seq = 100 + seq WHERE seq IN (2, 3)", "seq 2: seqs 2..3 missing (deleted)"),
    ("DELETE FROM audit WHERE seq >= 5", "seq 5: seqs 5..6 missing: the newest rows were "
     "deleted"),
])
def test_verify_names_the_row_that_was_tampered_with(logged, tamper, named):
    sql(logged, tamper)
    code, out, stderr = verify(logged)
    assert code == 1
    assert out["ok"] is False and out["problems"]
    assert named in stderr, stderr


def test_reordered_rows_fail(logged):
    sql(logged, "UPDATE audit SET seq = -1 WHERE seq = 3")
    sql(logged, "UPDATE audit SET seq = 3 WHERE seq = 4")
    sql(logged, "UPDATE audit SET seq = 4 WHERE seq = -1")
    code, out, stderr = verify(logged)
    assert code == 1
    assert [p["seq"] for p in out["problems"]] == [3, 4, 5]


def test_a_cut_tail_with_its_head_moved_back_fails_only_against_a_saved_head(logged):
    saved = verify(logged)[1]["head"]
    sql(logged, "DELETE FROM audit WHERE seq > 4")
    sql(logged, "UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit WHERE seq = 4)")
    code, out, _stderr = verify(logged)
    assert code == 0 and out["head"].startswith("4:")  # what a full writer can hide...
    code, out, stderr = verify(logged, "--expect", saved)
    assert code == 1  # ...until a head kept elsewhere is checked
    assert "seq 6: the expected head seq 6 is not in the log" in stderr


def test_a_missing_master_key_is_said(logged):
    sql(logged, "DELETE FROM server_key")
    code, _out, stderr = verify(logged)
    assert code == 1 and "no master key" in stderr


def test_the_admin_audit_route(db_url):
    with running(db_url, audit_poll_window=0) as api:
        platform = api.platform("p")
        r = api.get("/v1/admin/audit", headers=api.operator)
        assert r.status_code == 200
        page = r.json()
        assert [x["action"] for x in page["rows"]] == ["token.operator", "platform.add"]
        assert page["since"] is None
        # the read is audited too, and the head moves with it
        assert page["head"]["seq"] == 3
        r = api.get("/v1/admin/audit", params={"since": 1, "limit": 1}, headers=api.operator)
        assert [x["seq"] for x in r.json()["rows"]] == [2] and r.json()["since"] == 2
        assert [x["seq"] for x in api.get("/v1/admin/audit", params={
            "action": "audit.list"}, headers=api.operator).json()["rows"]] == [3, 4]
        for params in ({"bogus": "1"}, {"limit": "0"}, {"limit": "1001"}, {"since": "-1"},
                       {"action": "Not An Action"}, {"since": "x"}):
            assert_problem(api.get("/v1/admin/audit", params=params, headers=api.operator),
                           400, "invalid-request")
        assert_problem(api.get("/v1/admin/audit"), 401)
        assert_problem(api.get("/v1/admin/audit", headers=platform), 403)
        doc = api.get("/openapi.json").json()
        assert set(doc["paths"]["/v1/admin/audit"]["get"]["parameters"][i]["name"]
                   for i in range(3)) == {"since", "limit", "action"}
        assert {"AuditPage", "AuditRow", "AuditHead"} <= set(doc["components"]["schemas"])
