"""The NCMEC and StopNCII views' auth and their answers to hostile requests, through
the app (FastAPI's TestClient) on SQLite and PostgreSQL: 401 / 403 as the registry's
own routes give them, and every bad query, header or body a 4xx problem+json, never a
500."""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tidehash.registry.server.ncmec import REASONS, parse_time

from .api_helpers import api_fixture, assert_problem, image, small_api_fixture  # noqa: F401

GOOD_FROM = "1970-01-01T00:00:00Z"


def basic(token: str, user: str = "anyone") -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def token_of(headers: dict) -> str:
    return headers["Authorization"].split()[1]


def stopncii(token: str) -> dict:
    return {"x-functions-key": token, "Ocp-Apim-Subscription-Key": token}


def test_ncmec_basic_auth(api):
    token = token_of(api.platform("p"))
    ok = api.get("/ncmec/v2/status", headers=basic(token, "whoever"))
    assert ok.status_code == 200
    assert api.get("/ncmec/v2/status", headers=basic(token, "")).status_code == 200
    for headers in ({}, basic("wrong"), basic(token[:-1] + "x"),
                    {"Authorization": "Basic !!!"}, {"Authorization": "Basic " + base64
                                                     .b64encode(token.encode()).decode()},
                    {"Authorization": "Digest " + token}):
        r = api.get("/ncmec/v2/entries", params={"from": GOOD_FROM}, headers=headers)
        assert_problem(r, 401, "unauthorized")
        assert r.headers["www-authenticate"].startswith("Basic ")
    lookup_only = token_of(api.platform("q", scopes=["lookup"]))
    assert_problem(api.get("/ncmec/v2/status", headers=basic(lookup_only)), 403, "forbidden")
    operator = token_of(api.operator)
    assert_problem(api.get("/ncmec/v2/status", headers=basic(operator)), 403, "forbidden")
    # feedback needs feedback:write
    reader = token_of(api.platform("r", scopes=["list:read"]))
    r = api.client.put(f"/ncmec/v2/entries/1/{'0' * 16}/PDQ/feedback", headers=basic(reader),
                       content=b"<feedbackSubmission><affirmative/></feedbackSubmission>")
    assert_problem(r, 403, "forbidden")
    api.client.post("/v1/admin/platforms/p/suspend", headers=api.operator)
    assert_problem(api.get("/ncmec/v2/status", headers=basic(token)), 403, "forbidden")


def test_stopncii_key_headers(api):
    token = token_of(api.platform("p"))
    for headers in ({"x-functions-key": token}, {"Ocp-Apim-Subscription-Key": token},
                    stopncii(token), {"x-functions-key": token,
                                      "Ocp-Apim-Subscription-Key": "a-gateway-key"}):
        assert api.get("/stopncii/v1/FetchHashes", headers=headers).status_code == 200
    other = token_of(api.platform("p2"))
    for headers in ({}, stopncii("nope"), {"x-functions-key": token,
                                           "Ocp-Apim-Subscription-Key": other},
                    {"x-functions-key": " "}):
        assert_problem(api.get("/stopncii/v1/FetchHashes", headers=headers), 401,
                       "unauthorized")
    lookup_only = token_of(api.platform("q", scopes=["lookup"]))
    assert_problem(api.get("/stopncii/v1/FetchHashes", headers=stopncii(lookup_only)), 403,
                   "forbidden")
    reader = token_of(api.platform("r", scopes=["list:read"]))
    r = api.post("/stopncii/v1/SubmitFeedback", headers=stopncii(reader),
                 json={"hashFeedbacks": []})
    assert_problem(r, 403, "forbidden")


NCMEC_BAD = [
    {}, {"from": "yesterday"}, {"from": "2017-13-01T00:00:00Z"},
    {"from": "2017-02-30T00:00:00Z"}, {"from": "99999-01-01T00:00:00Z"},
    {"from": "2017-01-01T00:00:00+99:99x"}, {"from": GOOD_FROM, "to": "soon"},
    {"from": GOOD_FROM, "size": "0"}, {"from": GOOD_FROM, "size": "10001"},
    {"from": GOOD_FROM, "size": "1e3"}, {"from": GOOD_FROM, "size": "-1"},
    {"from": GOOD_FROM, "start": "1"}, {"from": GOOD_FROM, "start": "0", "max": "5"},
    {"from": GOOD_FROM, "start": "1", "max": "99999999999999999999999"},
    {"from": GOOD_FROM, "start": "1", "max": "1", "min": "5"},
    {"from": GOOD_FROM, "min": "5"}, {"from": GOOD_FROM, "cursor": "x"},
    {"from": "\x00"}, {"from": "２０１７-01-01T00:00:00Z"}, {"from": GOOD_FROM + "\n"},
    {"from": GOOD_FROM, "size": "10\n"}, {"from": GOOD_FROM, "size": "١٠"},
]


@pytest.mark.parametrize("params", NCMEC_BAD)
def test_ncmec_hostile_queries_are_400(small_api, params):
    token = token_of(small_api.platform_headers)
    r = small_api.get("/ncmec/v2/entries", params=params, headers=basic(token))
    assert_problem(r, 400, "invalid-request")


STOPNCII_BAD = [
    ({"pageSize": "0"}, "invalid-request"), ({"pageSize": "10001"}, "invalid-request"),
    ({"pageSize": "-5"}, "invalid-request"), ({"pageSize": "ten"}, "invalid-request"),
    ({"startTimestamp": "-1"}, "invalid-request"),
    ({"startTimestamp": "1e99"}, "invalid-request"),
    ({"startTimestamp": "9" * 40}, "invalid-request"), ({"since": "0"}, "invalid-request"),
    ({"startTimestamp": "10\n"}, "invalid-request"), ({"pageSize": "١٠"}, "invalid-request"),
    ({"nextPageToken": "garbage"}, "bad-cursor"),
    ({"nextPageToken": "s1.AAAA.AAAA"}, "bad-cursor"),
    ({"nextPageToken": "s1." + "A" * 54 + ".AAAAAAAAAAAAAAAA"}, "bad-cursor"),
    ({"nextPageToken": "x" * 5000}, "bad-cursor"),
]


@pytest.mark.parametrize(("params", "slug"), STOPNCII_BAD)
def test_stopncii_hostile_queries_are_400(small_api, params, slug):
    token = token_of(small_api.platform_headers)
    r = small_api.get("/stopncii/v1/FetchHashes", params=params, headers=stopncii(token))
    assert_problem(r, 400, slug)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["from", "to", "start", "size", "max", "min",
                                        "startTimestamp", "pageSize", "nextPageToken"]),
                       st.text(max_size=30), max_size=5),
       st.sampled_from(["ncmec", "stopncii"]))
def test_views_never_500_on_any_query(small_api, params, view):
    token = token_of(small_api.platform_headers)
    if view == "ncmec":
        r = small_api.get("/ncmec/v2/entries", params=params, headers=basic(token))
    else:
        r = small_api.get("/stopncii/v1/FetchHashes", params=params, headers=stopncii(token))
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert_problem(r, 400)


def test_ncmec_feedback_bodies(api):
    token = token_of(api.platform("p"))
    api.submit(image(1))
    r = api.get("/ncmec/v2/entries", params={"from": GOOD_FROM, "to": "2200-01-01T00:00:00Z"},
                headers=basic(token))
    assert r.status_code == 200
    # published, but not yet in any view second: take the id from the change log
    changes = api.get("/v1/list/changes", headers={"Authorization": f"Bearer {token}"}).json()
    entry_id = changes["changes"][0]["entry"]["id"]
    url = f"/ncmec/v2/entries/1/{entry_id}/PDQ/feedback"
    bad = [b"", b"not xml", b"<feedbackSubmission>", b"<other/>",
           b"<feedbackSubmission/>", b"<feedbackSubmission><affirmative/><negative/>"
           b"</feedbackSubmission>",
           b"<feedbackSubmission><negative/></feedbackSubmission>",
           b"<feedbackSubmission><negative><reasonIds><guid>nope</guid></reasonIds>"
           b"</negative></feedbackSubmission>",
           b'<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa">]>'
           b"<feedbackSubmission><affirmative/></feedbackSubmission>",
           b"<a>" * 100 + b"</a>" * 100]
    for body in bad:
        assert_problem(api.client.put(url, content=body, headers=basic(token)), 400,
                       "invalid-request")
    too_big = b"<feedbackSubmission>" + b" " * (70 << 10) + b"<affirmative/></feedbackSubmission>"
    assert_problem(api.client.put(url, content=too_big, headers=basic(token)), 413)
    good = b"<feedbackSubmission><affirmative/></feedbackSubmission>"
    for wrong in (f"/ncmec/v2/entries/2/{entry_id}/PDQ/feedback",
                  f"/ncmec/v2/entries/1/{'f' * 16}/PDQ/feedback",
                  "/ncmec/v2/entries/1/zz/PDQ/feedback",
                  f"/ncmec/v2/entries/1/{entry_id}/TMK_PDQF/feedback",
                  f"/ncmec/v2/entries/x/{entry_id}/PDQ/feedback"):
        assert_problem(api.client.put(wrong, content=good, headers=basic(token)), 404)
    guid = next(g for g, (name, _v) in REASONS.items() if name == "Disputed")
    negative = (b"<feedbackSubmission xmlns=\"https://hashsharing.ncmec.org/hashsharing/v2\">"
                b"<negative><reasonIds><guid>" + guid.encode() +
                b"</guid></reasonIds></negative></feedbackSubmission>")
    for body in (good, negative):
        assert api.client.put(url, content=body, headers=basic(token)).status_code == 200
    from sqlalchemy import select

    from tidehash.registry.server import schema

    with api.services.db.connect() as conn:
        verdicts = sorted(conn.execute(select(schema.feedback.c.verdict)).scalars())
    assert verdicts == ["confirmed", "disputed"]


def test_stopncii_feedback_bodies(api):
    token = token_of(api.platform("p"))
    api.submit(image(1))
    url = "/stopncii/v1/SubmitFeedback"
    value = image(1)["pdq"]
    for body, status in (
            ({"hashFeedbacks": [{"hashValue": "ab" * 32, "feedbackValue": "Blocked"}]}, 400),
            ({"hashFeedbacks": [{"hashValue": value, "feedbackValue": "Liked"}]}, 400),
            ({"hashFeedbacks": [{"hashValue": "zz", "feedbackValue": "Blocked"}]}, 400),
            ({"hashFeedbacks": [{"hashValue": value, "feedbackValue": 1}]}, 400),
            ({"hashFeedbacks": [{"hashValue": value, "feedbackValue": "Blocked",
                                 "extra": 1}]}, 400),
            ({"hashFeedbacks": "all"}, 400), ({}, 400)):
        assert_problem(api.post(url, json=body, headers=stopncii(token)), status)
    assert_problem(api.post(url, content=b"{", headers={**stopncii(token),
                                                         "Content-Type": "application/json"}),
                   400)
    assert_problem(api.post(url, content=b"<x/>", headers={**stopncii(token),
                                                            "Content-Type": "text/xml"}), 415)
    r = api.post(url, json={"hashFeedbacks": [{"hashValue": value.upper(),
                                               "feedbackValue": "NotBlocked",
                                               "tags": ["b", "a"]}]},
                 headers=stopncii(token))
    assert r.status_code == 200 and r.json() == {"count": 1, "stored": 1}


@pytest.mark.parametrize(("text", "value"), [
    ("1970-01-01T00:00:00Z", 0), ("2017-10-20T00:00:00.000Z", 1508457600),
    ("2017-10-20T02:00:00+02:00", 1508457600), ("2017-10-19T19:00:00-0500", 1508457600),
    ("2017-10-20T00:00:00", 1508457600), ("1969-12-31T19:00:00Z", 0)])
def test_ncmec_times(text, value):
    assert parse_time(text, "from") == value
