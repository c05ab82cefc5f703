"""The lookup fast path (``server/fastpath.py``) answers exactly as the full route:
the same bytes for the plain case, and for everything else the route's own answer,
with the body it had already read given back."""

from __future__ import annotations

import json

import pytest

from .api_helpers import assert_problem, bearer, image, running
from .test_api_lookup import caught_up, flip_bits


def queries():
    return {"queries": [{"pdq": image(1)["pdq"], "quality": 90},
                        {"pdq": flip_bits(image(1)["pdq"], 5), "radius": 4},
                        {"md5": image(2)["md5"]}, {"sha256": image(3)["sha256"]},
                        {"pdq": image(99)["pdq"]}]}


def answers(api, headers, body: bytes, content_type="application/json"):
    r = api.post("/v1/lookup", content=body,
                 headers={**headers, "Content-Type": content_type})
    return r.status_code, r.headers.get("content-type"), r.content


@pytest.fixture
def both(db_url):
    """The same database behind two apps: with the fast path, and without it."""
    with running(db_url) as fast:
        token = fast.services.store.add_platform("p")["token"]
        fast.submit(image(1), image(2), image(3))
        caught_up(fast)
        with running(db_url, database=fast.services.db) as full:
            full.app.fast_lookup = None
            full.app.middleware_stack = None  # built again, without the fast path
            caught_up(full)
            yield fast, full, token


def test_the_plain_answer_is_the_routes_bytes(both):
    fast, full, token = both
    body = json.dumps(queries()).encode()
    want = answers(full, bearer(token), body)
    assert want[0] == 200 and json.loads(want[2])["results"][0]["matches"]
    # the first request verifies the token (full route), the next ones take the fast path
    for _ in range(3):
        assert answers(fast, bearer(token), body) == want
    assert fast.services.tokens.get(token) is not None


@pytest.mark.parametrize("body, content_type, status", [
    (b'{"queries": [{"pdq": "zz"}]}', "application/json", 400),
    (b'{"queries": [', "application/json", 400),
    (b'{"queries": [], "extra": 1}', "application/json", 400),
    (json.dumps(queries()).encode(), "text/plain", 415),
    (b'{"queries": [{"md5": "' + b"0" * 32 + b'"}]}' + b" " * (5 << 20), "application/json",
     413),
])
def test_a_bad_request_with_a_verified_token_gets_the_routes_problem(both, body, content_type,
                                                                     status):
    fast, full, token = both
    answers(fast, bearer(token), json.dumps(queries()).encode())  # the token is now cached
    got = answers(fast, bearer(token), body, content_type)
    want = answers(full, bearer(token), body, content_type)
    assert got[0] == want[0] == status
    assert json.loads(got[2])["type"] == json.loads(want[2])["type"]


def test_scope_and_revocation_still_hold(both):
    fast, _, token = both
    store = fast.services.store
    narrow = store.mint_token("p", ["list:read"])["token"]
    body = json.dumps(queries()).encode()
    fast.get("/v1/list/changes", headers=bearer(narrow))  # verified and cached
    assert fast.services.tokens.get(narrow) is not None
    assert_problem(fast.post("/v1/lookup", content=body, headers={
        **bearer(narrow), "Content-Type": "application/json"}), 403)
    assert answers(fast, bearer(token), body)[0] == 200
    token_id = token.split("_")[1]
    r = fast.post(f"/v1/admin/tokens/{token_id}/revoke", headers=fast.operator)
    assert r.status_code == 200
    assert_problem(fast.post("/v1/lookup", content=body, headers={
        **bearer(token), "Content-Type": "application/json"}), 401)
