"""Who may call what, through HTTP on both stores: a missing, malformed, unknown,
revoked or expired token is 401 with ``WWW-Authenticate: Bearer``; a wrong scope, a
suspended platform, a platform token on an operator route (and an operator token on a
platform route) is 403."""

from __future__ import annotations

import secrets
import time

import pytest
from sqlalchemy import update

from tidehash.registry.server import schema
from tidehash.registry.server.app import AUTH_CACHE_SECONDS

from .api_helpers import (
    api_fixture,  # noqa: F401 (the api fixture)
    assert_problem,
    bearer,
    image,
)

#: (method, path, body, scope) of one route per scope
ROUTES = [
    ("GET", "/v1/list/changes", None, "list:read"),
    ("GET", "/v1/list/snapshot", None, "list:read"),
    ("POST", "/v1/lookup", {"queries": [{"md5": "a" * 32}]}, "lookup"),
    ("POST", "/v1/feedback", {"feedback": [{"id": "1" * 16, "verdict": "matched"}]},
     "feedback:write"),
    ("GET", "/v1/admin/platforms", None, "admin"),
    ("POST", "/v1/admin/platforms", {"name": "newcomer"}, "admin"),
    ("GET", "/v1/admin/cases", None, "admin"),
    ("POST", "/v1/admin/platforms/p/suspend", None, "admin"),
    ("POST", "/v1/admin/tokens/0123456789abcdef/revoke", None, "admin"),
    ("POST", "/v1/admin/entries/0123456789abcdef/remove", None, "admin"),
]
ROUTE_IDS = [f"{m} {p}" for m, p, _, _ in ROUTES]


def call(api, route, headers):
    method, path, body, _ = route
    return api.client.request(method, path, json=body, headers=headers)


def assert_401(r):
    assert_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"].startswith("Bearer")


def fake_token(prefix="thp"):
    return f"{prefix}_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_no_or_malformed_or_unknown_token_is_401(api, route):
    api.platform("p")
    for headers in ({}, {"Authorization": ""}, {"Authorization": "Bearer"},
                    {"Authorization": "Bearer "}, {"Authorization": "Basic dXNlcjpwYXNz"},
                    {"Authorization": "Bearer a b"}, {"Authorization": "Token " + fake_token()},
                    bearer("thp_short"), bearer(fake_token("xyz")), bearer(fake_token()),
                    bearer(fake_token("tho"))):
        assert_401(call(api, route, headers))


def test_a_token_of_the_other_kind_with_a_real_id_is_401(api):
    """thp_<id of an operator token>_<its secret> is not a platform token."""
    op = api.services.store.operator_token()["token"]
    swapped = "thp" + op[3:]
    assert_401(api.get("/v1/list/changes", headers=bearer(swapped)))
    assert_401(api.get("/v1/admin/platforms", headers=bearer(swapped)))


def test_a_revoked_token_is_401(api):
    made = api.post("/v1/admin/platforms", json={"name": "p"}, headers=api.operator).json()
    headers = bearer(made["token"])
    assert api.get("/v1/list/changes", headers=headers).status_code == 200
    r = api.post(f"/v1/admin/tokens/{made['token_id']}/revoke", headers=api.operator)
    assert r.status_code == 200 and r.json() == {"token_id": made["token_id"], "revoked": True}
    for route in ROUTES:
        assert_401(call(api, route, headers))
    # the operator's own token, revoked, is 401 on the operator routes
    op = api.services.store.operator_token()
    api.post(f"/v1/admin/tokens/{op['token_id']}/revoke", headers=api.operator)
    assert_401(api.get("/v1/admin/platforms", headers=bearer(op["token"])))


def test_an_expired_token_is_401(api):
    made = api.post("/v1/admin/platforms", json={"name": "p", "expires_days": 1},
                    headers=api.operator).json()
    headers = bearer(made["token"])
    assert api.get("/v1/list/changes", headers=headers).status_code == 200
    with api.services.db.begin() as conn:  # a day has passed
        conn.execute(update(schema.token).where(schema.token.c.id == made["token_id"])
                     .values(expires=int(time.time()) - 1))
    time.sleep(AUTH_CACHE_SECONDS)  # the server took it as verified that long
    for route in ROUTES:
        assert_401(call(api, route, headers))


@pytest.mark.parametrize("scopes", [["list:read"], ["lookup"], ["feedback:write"],
                                    ["list:read", "lookup"]])
def test_a_token_reaches_only_the_routes_of_its_scopes(api, scopes):
    api.platform("p")
    r = api.post("/v1/admin/platforms/p/tokens", json={"scopes": scopes}, headers=api.operator)
    assert r.status_code == 201, r.text
    assert r.json()["scopes"] == scopes
    headers = bearer(r.json()["token"])
    for route in ROUTES:
        r = call(api, route, headers)
        if route[3] in scopes:
            assert r.status_code not in (401, 403), (route, r.text)
        else:
            assert_problem(r, 403, "forbidden")
            assert "www-authenticate" not in r.headers


def test_a_suspended_platform_is_403_until_resumed(api):
    headers = api.platform("p")
    other = api.platform("q")
    r = api.post("/v1/admin/platforms/p/suspend", headers=api.operator)
    assert r.status_code == 200 and r.json() == {"platform": "p", "suspended": True}
    for route in ROUTES[:4]:
        problem = assert_problem(call(api, route, headers), 403, "forbidden")
        assert "suspended" in problem["detail"]
    assert api.get("/v1/list/changes", headers=other).status_code == 200
    r = api.post("/v1/admin/platforms/p/resume", headers=api.operator)
    assert r.status_code == 200 and r.json() == {"platform": "p", "suspended": False}
    assert api.get("/v1/list/changes", headers=headers).status_code == 200


def test_a_platform_token_never_reaches_an_operator_route(api):
    headers = api.platform("p")
    for route in ROUTES:
        if route[3] == "admin":
            assert_problem(call(api, route, headers), 403, "forbidden")
    # and nothing happened
    names = [p["platform"] for p in api.get("/v1/admin/platforms",
                                            headers=api.operator).json()["platforms"]]
    assert names == ["p"]


def test_an_operator_token_is_not_a_platform_token(api):
    for route in ROUTES:
        if route[3] != "admin":
            assert_problem(call(api, route, api.operator), 403, "forbidden")


def test_person_routes_need_no_token_and_ignore_one(api):
    r = api.post("/v1/cases", json={"items": [image(1)]}, headers=bearer(fake_token()))
    assert r.status_code == 201
    assert api.get("/v1/challenge", headers={"Authorization": "Basic x"}).status_code == 200


def test_a_revocation_made_outside_the_server_takes_effect_within_the_cache_time(api):
    """``tidehash admin token revoke`` writes the database directly: a token verified
    just before is taken as verified for at most AUTH_CACHE_SECONDS more."""
    made = api.post("/v1/admin/platforms", json={"name": "p"}, headers=api.operator).json()
    headers = bearer(made["token"])
    assert api.get("/v1/list/changes", headers=headers).status_code == 200
    api.services.store.revoke_token(made["token_id"])  # as tidehash admin does
    time.sleep(AUTH_CACHE_SECONDS)
    assert_401(api.get("/v1/list/changes", headers=headers))


def test_a_verified_token_is_not_asked_for_again_within_the_cache_time(api):
    headers = api.platform("p")
    assert api.get("/v1/list/changes", headers=headers).status_code == 200
    calls = []
    authenticate = api.services.store.authenticate

    def counting(token):
        calls.append(1)
        return authenticate(token)
    api.services.store.authenticate = counting
    try:
        for _ in range(5):
            assert api.get("/v1/list/changes", headers=headers).status_code == 200
        assert len(calls) <= 1  # at most once, if the cache time ran out meanwhile
        api.post("/v1/admin/platforms/p/suspend", headers=api.operator)
        assert_problem(api.get("/v1/list/changes", headers=headers), 403, "forbidden")
    finally:
        api.services.store.authenticate = authenticate
