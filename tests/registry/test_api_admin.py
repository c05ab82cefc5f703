"""The operator's routes through HTTP on both stores, /healthz and /readyz, and the
OpenAPI document."""

from __future__ import annotations

import time

from .api_helpers import (
    SMALL_LIMITS,
    api_fixture,  # noqa: F401 (the api fixture)
    assert_problem,
    bearer,
    image,
    running,
)


def test_platforms_are_made_listed_and_named_once(api):
    r = api.post("/v1/admin/platforms", json={"name": "alpha"}, headers=api.operator)
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    made = r.json()
    assert made["platform"] == "alpha" and made["token"].startswith("thp_")
    assert made["scopes"] == ["list:read", "lookup", "feedback:write"]
    assert made["expires"] is None and made["token_id"] in made["token"]
    r = api.post("/v1/admin/platforms", json={"name": "beta", "scopes": ["lookup"],
                                              "expires_days": 30}, headers=api.operator)
    assert r.status_code == 201 and r.json()["scopes"] == ["lookup"] and r.json()["expires"]
    assert_problem(api.post("/v1/admin/platforms", json={"name": "alpha"},
                            headers=api.operator), 409, "conflict")
    listed = api.get("/v1/admin/platforms", headers=api.operator).json()["platforms"]
    assert [(p["platform"], p["suspended"]) for p in listed] == [("alpha", False),
                                                                 ("beta", False)]
    assert [t["token_id"] for t in listed[0]["tokens"]] == [made["token_id"]]
    assert "token" not in listed[0]["tokens"][0]  # shown once, at creation


def test_tokens_are_minted_and_revoked(api):
    api.platform("alpha")
    r = api.post("/v1/admin/platforms/alpha/tokens", json={"scopes": ["list:read"],
                                                            "expires_days": 1},
                 headers=api.operator)
    assert r.status_code == 201, r.text
    token = r.json()
    assert token["platform"] == "alpha" and token["scopes"] == ["list:read"]
    assert api.get("/v1/list/changes", headers=bearer(token["token"])).status_code == 200
    r = api.post("/v1/admin/platforms/alpha/tokens", json={}, headers=api.operator)
    assert r.status_code == 201 and r.json()["scopes"] == ["list:read", "lookup",
                                                           "feedback:write"]
    r = api.post(f"/v1/admin/tokens/{token['token_id']}/revoke", headers=api.operator)
    assert r.status_code == 200
    assert api.get("/v1/list/changes", headers=bearer(token["token"])).status_code == 401
    for missing in ("0" * 16, "not-a-token-id"):
        assert_problem(api.post(f"/v1/admin/tokens/{missing}/revoke", headers=api.operator),
                       404, "not-found")
    assert_problem(api.post("/v1/admin/platforms/nobody/tokens", json={},
                            headers=api.operator), 404, "not-found")
    assert_problem(api.post("/v1/admin/platforms/nobody/suspend", headers=api.operator),
                   404, "not-found")


def test_cases_are_listed_by_status_in_pages(api):
    cases = [api.submit(image(3 * i), image(3 * i + 1)) for i in range(5)]
    api.post("/v1/cases/withdraw", json={"case_id": cases[1]["case_id"],
                                         "secret": cases[1]["secret"], "items": [0]})
    r = api.get("/v1/admin/cases", headers=api.operator)
    assert r.status_code == 200
    listed = r.json()
    assert sorted(c["case_id"] for c in listed["cases"]) == sorted(c["case_id"] for c in cases)
    assert listed["after"] is None
    by_id = {c["case_id"]: c for c in listed["cases"]}
    assert by_id[cases[1]["case_id"]]["items"] == {"pending": 0, "active": 1, "withdrawn": 1,
                                                   "removed": 0}
    assert by_id[cases[0]["case_id"]]["items"]["active"] == 2
    assert time.strftime("%Y-") in by_id[cases[0]["case_id"]]["created"]
    withdrawn = api.get("/v1/admin/cases", params={"status": "withdrawn"},
                        headers=api.operator).json()["cases"]
    assert [c["case_id"] for c in withdrawn] == [cases[1]["case_id"]]
    # pages of two, following "after"
    seen, after = [], None
    while True:
        params = {"limit": 2} if after is None else {"limit": 2, "after": after}
        page = api.get("/v1/admin/cases", params=params, headers=api.operator).json()
        seen += [c["case_id"] for c in page["cases"]]
        after = page["after"]
        if after is None:
            break
    assert seen == sorted(c["case_id"] for c in cases)


def test_an_entry_removed_by_the_operator_is_tombstoned(api):
    headers = api.platform()
    case = api.submit(image(1), image(2))
    first = api.get("/v1/list/changes", headers=headers).json()
    target = first["changes"][0]["entry"]["id"]
    r = api.post(f"/v1/admin/entries/{target}/remove", headers=api.operator)
    assert r.status_code == 200 and r.json() == {"id": target, "status": "removed"}
    page = api.get("/v1/list/changes", params={"cursor": first["cursor"]},
                   headers=headers).json()
    assert [(c["op"], c["id"]) for c in page["changes"]] == [("delete", target)]
    statuses = api.post("/v1/cases/status", json={"case_id": case["case_id"],
                                                  "secret": case["secret"]}).json()["items"]
    assert sorted(i["status"] for i in statuses) == ["active", "removed"]
    # idempotent, and publishes nothing more
    assert api.post(f"/v1/admin/entries/{target.upper()}/remove",
                    headers=api.operator).status_code == 200
    assert api.get("/v1/list/changes", params={"cursor": page["cursor"]},
                   headers=headers).json()["changes"] == []
    for missing in ("0" * 16, "f" * 16, "xyz", "1" * 17):
        assert_problem(api.post(f"/v1/admin/entries/{missing}/remove", headers=api.operator),
                       404, "not-found")


def test_health_and_readiness(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.services.lookup.wait_ready(30)
    r = api.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready"}


def test_the_openapi_document_is_3_1_and_states_the_limits(db_url):
    with running(db_url, **SMALL_LIMITS) as api:
        r = api.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    expected = {
        "/v1/challenge": {"get"}, "/v1/cases": {"post"}, "/v1/cases/status": {"post"},
        "/v1/cases/withdraw": {"post"}, "/v1/list/snapshot": {"get"},
        "/v1/list/changes": {"get"}, "/v1/lookup": {"post"}, "/v1/feedback": {"post"},
        "/v1/admin/platforms": {"get", "post"}, "/v1/admin/platforms/{name}/suspend": {"post"},
        "/v1/admin/platforms/{name}/resume": {"post"},
        "/v1/admin/platforms/{name}/tokens": {"post"},
        "/v1/admin/tokens/{token_id}/revoke": {"post"}, "/v1/admin/cases": {"get"},
        "/v1/admin/entries/{entry_id}/remove": {"post"}, "/v1/admin/audit": {"get"},
        "/healthz": {"get"},
        "/readyz": {"get"},
        # the compatible views (their XML / JSON described, so schemathesis covers them)
        "/ncmec/v2/status": {"get"}, "/ncmec/v2/members": {"get"},
        "/ncmec/v2/entries": {"get"}, "/ncmec/v2/feedback/{fingerprint}/reasons": {"get"},
        "/ncmec/v2/entries/{member_id}/{entry_id}/{fingerprint}/feedback": {"put"},
        "/stopncii/v1/FetchHashes": {"get"}, "/stopncii/v1/SubmitFeedback": {"post"},
        "/v1/admin/review": {"get"}, "/v1/admin/review/{entry_id}": {"get"},
        "/v1/admin/review/{entry_id}/release": {"post"},
        "/v1/admin/review/{entry_id}/remove": {"post"},
        "/v1/admin/negative": {"get", "post"}, "/v1/admin/negative/{negative_id}/remove": {"post"}}
    assert {p: set(ops) for p, ops in doc["paths"].items()} == expected
    schemas = doc["components"]["schemas"]
    body = doc["paths"]["/v1/cases"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/CaseCreate"}
    assert schemas["CaseCreate"]["properties"]["items"]["maxItems"] == SMALL_LIMITS["max_items"]
    assert schemas["CaseCreate"]["additionalProperties"] is False
    assert schemas["LookupRequest"]["properties"]["queries"]["maxItems"] == \
        SMALL_LIMITS["max_lookup_queries"]
    assert {"ImageItem", "VideoItem", "VPDQFrame", "PDQQuery", "Problem"} <= set(schemas)
    refs = []

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(doc)
    missing = {ref for ref in refs if ref.split("/")[-1] not in schemas}
    assert refs and missing == set()
    assert "bearer" in str(doc["components"].get("securitySchemes", {})).lower()


def test_the_publisher_and_the_lookup_tailer_stop_with_the_app(db_url):
    import threading

    def ours():
        return sorted(t.name for t in threading.enumerate()
                      if t.name in ("tidehash-publisher", "tidehash-lookup-tail"))
    before = ours()
    with running(db_url) as api:
        assert api.services.lookup.wait_ready(30)
        assert ours() == sorted(before + ["tidehash-lookup-tail", "tidehash-publisher"])
    assert ours() == before


def test_the_review_queue_cursor_is_checked(api):
    # 16 hex digits above the largest entry id: a bad cursor (400), not a missing entry
    for bad in ("f" * 16, "8000000000000000"):
        assert_problem(api.get("/v1/admin/review", params={"after": bad},
                               headers=api.operator), 400, "invalid-request")
    for bad in ("xyz", "1" * 17):  # not 16 hex digits: the parameter's own check
        assert api.get("/v1/admin/review", params={"after": bad},
                       headers=api.operator).status_code == 400
    ok = api.get("/v1/admin/review", params={"after": "0" * 16}, headers=api.operator)
    assert ok.status_code == 200 and ok.json() == {"entries": [], "after": None}
