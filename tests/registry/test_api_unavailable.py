"""The database going away: every route that needs it answers a 503 problem
(``unavailable``), the routes that do not keep working, and the service recovers by
itself when the database is back; what was acknowledged before is still there.

SQLite: the database's folder is moved away and the pool's connections dropped (as a
lost disk or mount would leave them): a new connection cannot open the file.
PostgreSQL: the test's own server is stopped and started again."""

from __future__ import annotations

import time

from tidehash.registry.server.db import Database

from .api_helpers import assert_problem, bearer, image, running


def assert_down(api, headers, case):
    secret = {"case_id": case["case_id"], "secret": case["secret"]}
    for r in (api.post("/v1/cases", json={"items": [image(50)]}),
              api.post("/v1/cases/status", json=secret),
              api.post("/v1/cases/withdraw", json=secret),
              api.get("/v1/list/changes", headers=headers),
              api.get("/v1/list/snapshot", headers=headers),
              api.post("/v1/feedback", headers=headers,
                       json={"feedback": [{"id": "1" * 16, "verdict": "matched"}]}),
              api.get("/v1/admin/platforms", headers=api.operator),
              api.get("/readyz")):
        problem = assert_problem(r, 503, "unavailable")
        assert r.headers["retry-after"]
        assert "Traceback" not in problem["detail"]
    # what needs no database
    assert api.get("/healthz").status_code == 200
    assert api.get("/v1/challenge").status_code == 200
    assert_problem(api.post("/v1/cases", content=b"{"), 415)


def assert_recovers(api, headers, case, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        r = api.post("/v1/cases/status", json={"case_id": case["case_id"],
                                                "secret": case["secret"]})
        if r.status_code == 200:
            break
        assert r.status_code == 503 and time.monotonic() < deadline, r.text
        time.sleep(0.1)
    assert [i["status"] for i in r.json()["items"]] == ["active"]
    assert api.post("/v1/cases", json={"items": [image(51)]}).status_code == 201
    md5s = {c["entry"]["md5"] for c in api.get("/v1/list/changes", headers=headers)
            .json()["changes"]}
    assert md5s == {image(1)["md5"], image(51)["md5"]}
    assert api.get("/readyz").status_code == 200


def test_sqlite_going_away_is_503_and_recovers(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    url = f"sqlite:///{folder / 'registry.db'}"
    db = Database(url)
    try:
        with running(url, database=db) as api:
            headers = api.platform()
            operator = api.operator
            case = api.submit(image(1))
            assert api.services.lookup.wait_ready(30)
            folder.rename(tmp_path / "moved")
            db.engine.dispose()
            assert_down(api, headers, case)
            (tmp_path / "moved").rename(folder)
            assert_recovers(api, headers, case)
            assert api.get("/v1/admin/platforms", headers=operator).status_code == 200
    finally:
        db.close()


def test_postgresql_going_away_is_503_and_recovers(pg_cluster):
    url = pg_cluster.url(pg_cluster.create_database())
    with running(url) as api:
        headers = api.platform()
        case = api.submit(image(1))
        assert api.services.lookup.wait_ready(30)
        pg_cluster.stop("fast")
        try:
            assert_down(api, headers, case)
        finally:
            pg_cluster.start()
        assert_recovers(api, headers, case)
        # a token made before the outage still works after it
        token = api.services.store.mint_token("platform-a", ["list:read"], None)["token"]
        assert api.get("/v1/list/changes", headers=bearer(token)).status_code == 200
