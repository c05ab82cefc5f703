"""Hypothesis sends arbitrary JSON, and valid bodies with one field replaced by an
arbitrary value, to every route with a body: the answer is never a 5xx, and every 4xx
is a problem+json."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .api_helpers import (
    PROBLEM,
    image,
    pdq,
    small_api_fixture,  # noqa: F401 (the small_api fixture)
    video,
)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=80),
    lambda children: st.lists(children, max_size=6)
    | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=30)

VALID = {
    "/v1/cases": {"items": [image(1), video(2)]},
    "/v1/cases/status": {"case_id": "TH-0000-0000-0000-0000", "secret": "s"},
    "/v1/cases/withdraw": {"case_id": "TH-0000-0000-0000-0000", "secret": "s", "items": [0]},
    "/v1/lookup": {"queries": [{"pdq": pdq(1), "radius": 3}, {"md5": "a" * 32},
                               {"vpdq": video(3)["vpdq"]}]},
    "/v1/feedback": {"feedback": [{"id": "1" * 16, "verdict": "matched", "comment": "c"}]},
    "/v1/admin/platforms": {"name": "fuzzed", "scopes": ["lookup"], "expires_days": 3},
    "/v1/admin/platforms/small/tokens": {"scopes": ["lookup"], "expires_days": 3},
}
ROUTES = sorted(VALID)
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def paths(value, prefix=()):
    """Every (path) into a JSON value."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, prefix + (key,))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from paths(child, prefix + (i,))


def replaced(value, path, new):
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return copy


def check(api, route, raw: bytes):
    headers = {"Content-Type": "application/json", **api.platform_headers}
    if "/admin/" in route:
        headers.update(api.operator)
    r = api.post(route, content=raw, headers=headers)
    assert r.status_code < 500, (route, raw[:300], r.text)
    if r.status_code >= 400:
        assert r.headers["content-type"].split(";")[0] == PROBLEM
        assert r.json()["status"] == r.status_code


@FUZZ
@given(route=st.sampled_from(ROUTES), body=JSON)
def test_arbitrary_json_is_never_a_server_error(small_api, route, body):
    check(small_api, route, json.dumps(body).encode())


@FUZZ
@given(data=st.data(), route=st.sampled_from(ROUTES), new=JSON)
def test_one_field_replaced_is_never_a_server_error(small_api, data, route, new):
    valid = VALID[route]
    path = data.draw(st.sampled_from(list(paths(valid))))
    check(small_api, route, json.dumps(replaced(valid, path, new)).encode())


@FUZZ
@given(route=st.sampled_from(ROUTES), raw=st.binary(max_size=300))
def test_arbitrary_bytes_are_never_a_server_error(small_api, route, raw):
    check(small_api, route, raw)
