"""What the audit log records, through the app (TestClient) and the command line on
both stores: every operator action (with the token id that did it, never the token),
every list download (platform, route, seq range, entry count), empty polls counted into
one row per window, nothing about a person; and a download that cannot be audited is
not sent."""

from __future__ import annotations

import base64
import json

from sqlalchemy import text

from tidehash.registry.server import audit
from tidehash.registry.server.db import Database
from tidehash.registry.server.keys import Keys

from .api_helpers import assert_problem, bearer, image, running
from .client_helpers import cli, cli_json


def rows(api, since: int = 0) -> list[dict]:
    return audit.rows(api.services.db, since=since)


def last_seq(api) -> int:
    return audit.head(api.services.db)[0]


def assert_verifies(api) -> None:
    report = audit.verify(api.services.db, api.services.keys)
    assert report.ok, report.problems


def test_operator_actions_through_the_api_are_audited_with_their_token_id(db_url):
    with running(db_url, audit_poll_window=0) as api:
        made_op = api.services.store.operator_token()
        op = bearer(made_op["token"])
        r = api.post("/v1/admin/platforms", json={"name": "acme", "scopes": ["list:read"]},
                     headers=op)
        assert r.status_code == 201
        acme = r.json()
        assert api.get("/v1/admin/platforms", headers=op).status_code == 200
        assert api.post("/v1/admin/platforms/acme/suspend", headers=op).status_code == 200
        assert api.post("/v1/admin/platforms/acme/resume", headers=op).status_code == 200
        r = api.post("/v1/admin/platforms/acme/tokens", json={"scopes": ["lookup"]}, headers=op)
        minted = r.json()
        assert api.post(f"/v1/admin/tokens/{minted['token_id']}/revoke",
                        headers=op).status_code == 200
        case = api.submit(image(1), image(2))
        assert api.get("/v1/admin/cases", params={"status": "active"},
                       headers=op).status_code == 200
        changes = api.get("/v1/list/changes", headers=bearer(acme["token"])).json()
        entry_id = changes["changes"][0]["entry"]["id"]
        assert api.post(f"/v1/admin/entries/{entry_id}/remove", headers=op).status_code == 200
        # failures change nothing and leave no row
        before = last_seq(api)
        assert_problem(api.post("/v1/admin/platforms/nope/suspend", headers=op), 404)
        assert_problem(api.post("/v1/admin/platforms", json={"name": "acme"}, headers=op), 409)
        assert last_seq(api) == before
        got = rows(api)
        assert_verifies(api)
    actor = f"operator:{made_op['token_id']}"
    by_action = {}
    for r in got:
        by_action.setdefault(r["action"], []).append(r)
    assert [r["action"] for r in got] == [
        "token.operator", "platform.add", "platform.list", "platform.suspend",
        "platform.resume", "token.mint",
        "token.revoke", "cases.list", "list.download", "entry.remove"]
    assert by_action["token.operator"][0]["actor"] == "cli"
    assert all(r["actor"] == actor for r in got[1:] if r["action"] != "list.download")
    assert by_action["platform.add"][0]["detail"] == {
        "platform": "acme", "platform_id": acme["platform_id"], "token_id": acme["token_id"],
        "scopes": ["list:read"], "expires": None}
    assert by_action["token.mint"][0]["detail"]["token_id"] == minted["token_id"]
    assert by_action["token.revoke"][0]["detail"] == {"token_id": minted["token_id"]}
    assert by_action["platform.list"][0]["detail"] == {"returned": 1}
    assert by_action["cases.list"][0]["detail"] == {
        "status": "active", "limit": 100, "after_given": False, "returned": 1}
    assert by_action["entry.remove"][0]["detail"] == {"entry": entry_id, "removed": True}
    download = by_action["list.download"][0]
    assert download["actor"] == f"platform:{acme['token_id']}"
    assert download["detail"] == {"route": "changes", "platform": "acme", "entries": 2,
                                  "after": 0, "to": 2, "head": 2}
    text_of_log = json.dumps(got)
    for secret in (made_op["token"], acme["token"], minted["token"], case["case_id"],
                   case["secret"]):
        assert secret not in text_of_log


def test_every_list_download_is_audited(db_url):
    with running(db_url, audit_poll_window=0) as api:
        token = api.platform("p")
        token_id = token["Authorization"].split("_")[1]
        api.submit(image(1), image(2), image(3))
        start = last_seq(api)
        snap = api.get("/v1/list/snapshot", headers=token)
        assert snap.status_code == 200
        part = api.get("/v1/list/snapshot", headers={**token, "Range": "bytes=10-",
                                                     "If-Range": snap.headers["etag"]})
        assert part.status_code == 206
        page = api.get("/v1/list/changes", params={"limit": 2}, headers=token).json()
        page2 = api.get("/v1/list/changes", params={"cursor": page["cursor"]},
                        headers=token).json()
        api.get("/v1/list/changes", params={"cursor": page2["cursor"]}, headers=token)
        basic = {"Authorization": "Basic " + base64.b64encode(
            b"x:" + token["Authorization"].split()[1].encode()).decode()}
        assert api.get("/ncmec/v2/entries", params={"from": "1970-01-01T00:00:00Z"},
                       headers=basic).status_code == 200
        key = token["Authorization"].split()[1]
        assert api.get("/stopncii/v1/FetchHashes",
                       headers={"x-functions-key": key}).status_code == 200
        # a lookup is not a download
        assert api.post("/v1/lookup", json={"queries": [{"md5": image(1)["md5"]}]},
                        headers=token).status_code in (200, 503)
        got = rows(api, since=start)
        assert_verifies(api)
    trailer = json.loads(snap.content.splitlines()[-1])["trailer"]
    assert all(r["actor"] == f"platform:{token_id}" for r in got)
    details = [(r["action"], r["detail"]) for r in got]
    assert details[:4] == [
        ("list.download", {"route": "snapshot", "platform": "p", "entries": None,
                           "seq": 3, "from_byte": 0}),
        ("list.download.end", {"route": "snapshot", "platform": "p", "seq": 3, "from_byte": 0,
                               "bytes": len(snap.content), "complete": True,
                               "entries": trailer["count"]}),
        ("list.download", {"route": "snapshot", "platform": "p", "entries": None,
                           "seq": 3, "from_byte": 10}),
        ("list.download.end", {"route": "snapshot", "platform": "p", "seq": 3,
                               "from_byte": 10, "bytes": len(snap.content) - 10,
                               "complete": True, "entries": 3})]
    assert details[4:7] == [
        ("list.download", {"route": "changes", "platform": "p", "entries": 2, "after": 0,
                           "to": 2, "head": 3}),
        ("list.download", {"route": "changes", "platform": "p", "entries": 1, "after": 2,
                           "to": 3, "head": 3}),
        ("list.download", {"route": "changes", "platform": "p", "entries": 0, "after": 3,
                           "to": 3, "head": 3})]
    # the views show a change only once a view second has passed: here, empty windows
    assert [(a, d["route"]) for a, d in details[7:]] == [
        ("list.download", "ncmec.entries"), ("list.download", "stopncii.fetch")]
    for _a, d in details[7:]:
        assert set(d) >= {"platform", "entries", "window", "start", "to"}
    assert trailer["count"] == 3


def test_empty_polls_are_counted_into_one_row_per_window(db_url):
    with running(db_url, audit_poll_window=3600) as api:
        token = api.platform("p")
        other = api.platform("q")
        api.submit(image(1))
        start = last_seq(api)
        page = api.get("/v1/list/changes", headers=token).json()
        for _ in range(5):  # at the head: nothing to download
            assert api.get("/v1/list/changes", params={"cursor": page["cursor"]},
                           headers=token).json()["changes"] == []
        for _ in range(2):
            api.get("/v1/list/changes", params={"cursor": page["cursor"]}, headers=other)
        assert [r["action"] for r in rows(api, since=start)] == ["list.download"]
        api.submit(image(2))  # the next non-empty page writes the count before its row
        api.get("/v1/list/changes", params={"cursor": page["cursor"]}, headers=token)
        got = rows(api, since=start)
        assert [r["action"] for r in got] == ["list.download", "list.polls", "list.download"]
        polls = got[1]["detail"]
        assert polls["polls"] == 5 and polls["route"] == "changes" and polls["platform"] == "p"
        assert polls["after"] == polls["to"] == polls["head"] == 1
        mark = last_seq(api)
    # shutdown writes what is still counted (the other platform's two polls)
    db = Database(db_url)
    try:
        got = audit.rows(db, since=mark)
        assert [(r["action"], r["detail"]["platform"], r["detail"]["polls"]) for r in got] \
            == [("list.polls", "q", 2)]
        assert audit.verify(db, Keys.load(db)).ok
    finally:
        db.close()


def test_nothing_is_sent_that_cannot_be_audited(db_url):
    with running(db_url, audit_poll_window=0) as api:
        token = api.platform("p")
        api.submit(image(1))
        with api.services.db.begin() as conn:
            conn.execute(text("DELETE FROM audit_head"))
        r = api.get("/v1/list/changes", headers=token)
        assert_problem(r, 503, "unavailable")
        assert "audit" in r.json()["detail"]
        assert_problem(api.get("/v1/list/snapshot", headers=token), 503, "unavailable")
        assert_problem(api.post("/v1/admin/platforms", json={"name": "x"},
                                headers=api.operator), 503, "unavailable")
        # person routes are not audited: they still work
        assert api.post("/v1/cases", json={"items": [image(2)]}).status_code == 201


def test_person_actions_are_not_audited(db_url):
    with running(db_url, audit_poll_window=0) as api:
        start = last_seq(api)
        case = api.submit(image(1))
        body = {"case_id": case["case_id"], "secret": case["secret"]}
        assert api.post("/v1/cases/status", json=body).status_code == 200
        assert api.post("/v1/cases/withdraw", json=body).status_code == 200
        assert last_seq(api) == start


def test_operator_commands_on_the_command_line_are_audited(db_url):
    cli_json("admin", "--db", db_url, "platform", "add", "acme")
    tok = cli_json("admin", "--db", db_url, "token", "mint", "acme")
    cli_json("admin", "--db", db_url, "token", "revoke", tok["token_id"])
    cli_json("admin", "--db", db_url, "platform", "suspend", "acme")
    cli_json("admin", "--db", db_url, "platform", "resume", "acme")
    cli_json("admin", "--db", db_url, "operator-token")
    cli_json("admin", "--db", db_url, "publish")
    cli_json("admin", "--db", db_url, "compact", "--keep", "0")
    assert cli("admin", "--db", db_url, "entry", "remove", "00000000000000ff").returncode == 1
    r = cli("admin", "--db", db_url, "cases")
    assert r.returncode == 0
    assert cli("admin", "--db", db_url, "platform", "list").returncode == 0
    db = Database(db_url)
    try:
        got = audit.rows(db)
        assert audit.verify(db, Keys.load(db)).ok
    finally:
        db.close()
    assert [r["action"] for r in got] == [
        "platform.add", "token.mint", "token.revoke", "platform.suspend", "platform.resume",
        "token.operator", "list.publish", "list.compact", "cases.list", "platform.list"]
    assert {r["actor"] for r in got} == {"cli"}
    assert got[6]["detail"] == {"published": 0, "from": None, "to": None, "head": 0}
    assert got[7]["detail"] == {"keep": 0, "floor": 0, "head": 0, "changes_deleted": 0,
                                "entries_forgotten": 0}
