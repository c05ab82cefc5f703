"""Bad input on every route with a body, through HTTP on both stores: malformed JSON,
wrong types, unknown fields, bad hex in every hash field, all-zero PDQ, limits, deep
nesting, oversize bodies, other media types. Each is a 4xx problem+json that names the
place (``items[2].pdq``), never a 500; and nothing of it is stored."""

from __future__ import annotations

import json

import pytest

from tidehash.registry.server import schema

from .api_helpers import (
    SMALL_LIMITS,
    assert_problem,
    image,
    pdq,
    small_api_fixture,  # noqa: F401 (the small_api fixture)
    video,
)

P = pdq(7)
ZERO = "0" * 64
FRAME = {"frame": 0, "quality": 80, "pdq": P, "timestamp": 0.0}
CASE = "TH-0000-0000-0000-0000"


def frame(**fields):
    return {**FRAME, **fields}


def bad_hex_cases():
    """(field path in a submission, body) for every hash field of a submission, each
    with a wrong length, a non-hex digit, and a non-string."""
    out = []
    for kind_field, digits in (("pdq", 64), ("md5", 32), ("sha256", 64)):
        for label, value in (("short", "a" * (digits - 1)), ("long", "a" * (digits + 1)),
                             ("not-hex", "g" + "a" * (digits - 1)), ("number", 12345),
                             ("empty", ""), ("spaces", " " + "a" * (digits - 2) + " ")):
            out.append((f"image.{kind_field}.{label}", "/v1/cases",
                        {"items": [image(1), image(2, **{kind_field: value})]},
                        f"items[1].{kind_field}"))
            if kind_field != "pdq":
                out.append((f"video.{kind_field}.{label}", "/v1/cases",
                            {"items": [{**video(1), kind_field: value}]},
                            f"items[0].{kind_field}"))
            out.append((f"lookup.{kind_field}.{label}", "/v1/lookup",
                        {"queries": [{"md5": "a" * 32}, {kind_field: value}]},
                        f"queries[1].{kind_field}"))
    for label, value in (("short", "a" * 63), ("not-hex", "z" * 64), ("number", 7)):
        out.append((f"video.vpdq.pdq.{label}", "/v1/cases",
                    {"items": [{"kind": "video", "vpdq": [FRAME, frame(pdq=value)]}]},
                    "items[0].vpdq[1].pdq"))
        out.append((f"lookup.vpdq.pdq.{label}", "/v1/lookup",
                    {"queries": [{"vpdq": [frame(pdq=value)]}]}, "queries[0].vpdq[0].pdq"))
    for label, value in (("short", "a" * 15), ("not-hex", "x" * 16), ("number", 1)):
        out.append((f"feedback.id.{label}", "/v1/feedback",
                    {"feedback": [{"id": value, "verdict": "matched"}]}, "feedback[0].id"))
    return out


BAD_HEX = bad_hex_cases()


@pytest.mark.parametrize("path, body, loc", [c[1:] for c in BAD_HEX],
                         ids=[c[0] for c in BAD_HEX])
def test_bad_hex_in_every_field_names_it(small_api, path, body, loc):
    r = small_api.post(path, json=body, headers=small_api.platform_headers)
    problem = assert_problem(r, 400, "invalid-request")
    assert [e["loc"] for e in problem["errors"]] == [loc]


# (id, path, body, [locs]) -- a body of bytes is sent as it is
CASES = [
    # wrong types: no coercion between str and int, bool is not an int, no float for int
    ("quality-string", "/v1/cases", {"items": [image(1, quality="90")]}, ["items[0].quality"]),
    ("quality-bool", "/v1/cases", {"items": [image(1, quality=True)]}, ["items[0].quality"]),
    ("quality-float", "/v1/cases", {"items": [image(1, quality=90.0)]}, ["items[0].quality"]),
    ("quality-range-high", "/v1/cases", {"items": [image(1, quality=101)]}, ["items[0].quality"]),
    ("quality-range-low", "/v1/cases", {"items": [image(1, quality=-1)]}, ["items[0].quality"]),
    ("quality-huge", "/v1/cases", b'{"items": [{"kind": "image", "pdq": "%s", "quality": %s}]}'
     % (P.encode(), b"9" * 5000), ["body"]),
    ("kind-number", "/v1/cases", {"items": [{"kind": 1, "md5": "a" * 32}]}, ["items[0]"]),
    ("kind-unknown", "/v1/cases", {"items": [{"kind": "audio", "md5": "a" * 32}]}, ["items[0]"]),
    ("kind-missing", "/v1/cases", {"items": [{"md5": "a" * 32}]}, ["items[0]"]),
    ("items-not-list", "/v1/cases", {"items": {"kind": "image"}}, ["items"]),
    ("items-empty", "/v1/cases", {"items": []}, ["items"]),
    ("items-missing", "/v1/cases", {}, ["items"]),
    ("item-not-object", "/v1/cases", {"items": ["a" * 32]}, ["items[0]"]),
    ("frame-string", "/v1/cases", {"items": [{"kind": "video", "vpdq": [frame(frame="0")]}]},
     ["items[0].vpdq[0].frame"]),
    ("timestamp-string", "/v1/cases",
     {"items": [{"kind": "video", "vpdq": [frame(timestamp="1.5")]}]},
     ["items[0].vpdq[0].timestamp"]),
    ("timestamp-nan", "/v1/cases",
     b'{"items": [{"kind": "video", "vpdq": [{"frame": 0, "quality": 80, "pdq": "%s", '
     b'"timestamp": NaN}]}]}' % P.encode(), ["items[0].vpdq[0].timestamp"]),
    ("timestamp-negative", "/v1/cases",
     {"items": [{"kind": "video", "vpdq": [frame(timestamp=-1)]}]},
     ["items[0].vpdq[0].timestamp"]),
    ("frame-quality-range", "/v1/cases",
     {"items": [{"kind": "video", "vpdq": [frame(quality=200)]}]}, ["items[0].vpdq[0].quality"]),
    ("vpdq-empty", "/v1/cases", {"items": [{"kind": "video", "vpdq": []}]}, ["items[0].vpdq"]),
    ("case-id-number", "/v1/cases/status", {"case_id": 12, "secret": "s"}, ["case_id"]),
    ("secret-number", "/v1/cases/status", {"case_id": CASE, "secret": 12}, ["secret"]),
    ("secret-missing", "/v1/cases/status", {"case_id": CASE}, ["secret"]),
    ("withdraw-items-bool", "/v1/cases/withdraw",
     {"case_id": CASE, "secret": "s", "items": [True]}, ["items[0]"]),
    ("withdraw-items-string", "/v1/cases/withdraw",
     {"case_id": CASE, "secret": "s", "items": ["0"]}, ["items[0]"]),
    ("withdraw-items-negative", "/v1/cases/withdraw",
     {"case_id": CASE, "secret": "s", "items": [-1]}, ["items[0]"]),
    ("withdraw-items-empty", "/v1/cases/withdraw",
     {"case_id": CASE, "secret": "s", "items": []}, ["items"]),
    ("radius-high", "/v1/lookup", {"queries": [{"pdq": P, "radius": 64}]}, ["queries[0].radius"]),
    ("radius-low", "/v1/lookup", {"queries": [{"pdq": P, "radius": -1}]}, ["queries[0].radius"]),
    ("radius-bool", "/v1/lookup", {"queries": [{"pdq": P, "radius": False}]},
     ["queries[0].radius"]),
    ("dihedral-int", "/v1/lookup", {"queries": [{"pdq": P, "dihedral": 1}]},
     ["queries[0].dihedral"]),
    ("dihedral-one-hash", "/v1/lookup", {"queries": [{"pdq": P, "dihedral": True}]},
     ["queries[0].pdq"]),
    ("variants-without-dihedral", "/v1/lookup", {"queries": [{"pdq": [P] * 8}]},
     ["queries[0].pdq"]),
    ("seven-variants", "/v1/lookup", {"queries": [{"pdq": [P] * 7, "dihedral": True}]},
     ["queries[0].pdq"]),
    ("bad-variant", "/v1/lookup",
     {"queries": [{"pdq": [P] * 5 + ["g" * 64] + [P] * 2, "dihedral": True}]},
     ["queries[0].pdq[5]"]),
    ("zero-variant", "/v1/lookup",
     {"queries": [{"pdq": [P] * 7 + [ZERO], "dihedral": True}]}, ["queries[0].pdq[7]"]),
    ("query-quality-range", "/v1/lookup", {"queries": [{"pdq": P, "quality": 101}]},
     ["queries[0].quality"]),
    ("query-two-signals", "/v1/lookup", {"queries": [{"pdq": P, "md5": "a" * 32}]},
     ["queries[0]"]),
    ("query-no-signal", "/v1/lookup", {"queries": [{"radius": 3}]}, ["queries[0]"]),
    ("queries-empty", "/v1/lookup", {"queries": []}, ["queries"]),
    ("verdict-unknown", "/v1/feedback", {"feedback": [{"id": "1" * 16, "verdict": "spam"}]},
     ["feedback[0].verdict"]),
    ("comment-long", "/v1/feedback",
     {"feedback": [{"id": "1" * 16, "verdict": "matched", "comment": "x" * 501}]},
     ["feedback[0].comment"]),
    ("comment-number", "/v1/feedback",
     {"feedback": [{"id": "1" * 16, "verdict": "matched", "comment": 5}]},
     ["feedback[0].comment"]),
    # the signals an item must carry
    ("pdq-without-quality", "/v1/cases", {"items": [{"kind": "image", "pdq": P}]},
     ["items[0].quality"]),
    ("quality-without-pdq", "/v1/cases",
     {"items": [{"kind": "image", "md5": "a" * 32, "quality": 50}]}, ["items[0].quality"]),
    ("image-no-signal", "/v1/cases", {"items": [{"kind": "image"}]}, ["items[0]"]),
    ("video-no-signal", "/v1/cases", {"items": [{"kind": "video"}]}, ["items[0]"]),
    ("image-with-vpdq", "/v1/cases", {"items": [image(1, vpdq=[FRAME])]}, ["items[0].vpdq"]),
    ("video-with-pdq", "/v1/cases", {"items": [{**video(1), "pdq": P}]}, ["items[0].pdq"]),
    # all-zero PDQ: refused where it is the signal; a flat video frame only if weak
    ("image-zero-pdq", "/v1/cases", {"items": [image(1, pdq=ZERO)]}, ["items[0].pdq"]),
    ("image-zero-pdq-quality-0", "/v1/cases", {"items": [image(1, pdq=ZERO, quality=0)]},
     ["items[0].pdq"]),
    ("lookup-zero-pdq", "/v1/lookup", {"queries": [{"pdq": ZERO}]}, ["queries[0].pdq"]),
    ("frame-zero-pdq-strong", "/v1/cases",
     {"items": [{"kind": "video", "vpdq": [FRAME, frame(pdq=ZERO, quality=50)]}]},
     ["items[0].vpdq[1].pdq"]),
    # unknown fields at every level
    ("unknown-top", "/v1/cases", {"items": [image(1)], "ip": "1.2.3.4"}, ["ip"]),
    ("unknown-item", "/v1/cases", {"items": [image(1, filename="a.jpg")]},
     ["items[0].filename"]),
    ("unknown-frame", "/v1/cases", {"items": [{"kind": "video", "vpdq": [frame(extra=1)]}]},
     ["items[0].vpdq[0].extra"]),
    ("unknown-pow", "/v1/cases", {"items": [image(1)], "pow": {"challenge": "a", "nonce": "1",
                                                               "x": 1}}, ["pow.x"]),
    ("unknown-status", "/v1/cases/status", {"case_id": CASE, "secret": "s", "x": 1}, ["x"]),
    ("unknown-query", "/v1/lookup", {"queries": [{"md5": "a" * 32, "radius": 3}]},
     ["queries[0].radius"]),
    ("unknown-feedback", "/v1/feedback",
     {"feedback": [{"id": "1" * 16, "verdict": "matched", "by": "me"}]}, ["feedback[0].by"]),
    # limits (SMALL_LIMITS)
    ("too-many-items", "/v1/cases", {"items": [image(i) for i in range(6)]}, ["items"]),
    ("too-many-frames-one", "/v1/cases",
     {"items": [{"kind": "video", "vpdq": [frame(frame=i) for i in range(11)]}]},
     ["items[0].vpdq"]),
    ("too-many-frames-in-all", "/v1/cases",
     {"items": [{"kind": "video", "vpdq": [frame(frame=i) for i in range(6)]}] * 2}, ["body"]),
    ("too-many-queries", "/v1/lookup", {"queries": [{"md5": "a" * 32}] * 5}, ["queries"]),
    ("too-many-lookup-frames", "/v1/lookup", {"queries": [{"vpdq": [FRAME] * 6}] * 2}, ["body"]),
    ("too-much-feedback", "/v1/feedback",
     {"feedback": [{"id": "1" * 16, "verdict": "matched"}] * 4}, ["feedback"]),
    # the JSON itself
    ("malformed", "/v1/cases", b'{"items": [', ["body"]),
    ("trailing-garbage", "/v1/cases", b'{"items": []} x', ["body"]),
    ("empty-body", "/v1/cases", b"", ["body"]),
    ("not-an-object", "/v1/cases", b"[]", ["body"]),
    ("a-string", "/v1/lookup", b'"queries"', ["body"]),
    ("not-utf8", "/v1/cases", b'{"items": ["\xff\xfe"]}', ["body"]),
    ("deep-array", "/v1/cases", b"[" * 50_000, ["body"]),
    ("deep-object", "/v1/lookup", b'{"a":' * 8_000 + b"1" + b"}" * 8_000, ["body"]),
    ("deep-in-a-field", "/v1/cases",
     b'{"items": [{"kind": "image", "md5": ' + b"[" * 5000 + b"]" * 5000 + b"}]}", ["body"]),
]


@pytest.mark.parametrize("path, body, locs", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_bodies_are_400_naming_the_place(small_api, path, body, locs):
    if isinstance(body, bytes):
        r = small_api.post(path, content=body, headers={
            "Content-Type": "application/json", **small_api.platform_headers})
    else:
        r = small_api.post(path, json=body, headers=small_api.platform_headers)
    problem = assert_problem(r, 400, "invalid-request")
    assert [e["loc"] for e in problem["errors"]] == locs, problem
    assert all(isinstance(e["msg"], str) and e["msg"] for e in problem["errors"])


def test_several_errors_are_all_named(small_api):
    r = small_api.post("/v1/cases", json={"items": [
        image(1), image(2, md5="x"), {"kind": "image", "pdq": P}, image(4, sha256=5)]})
    problem = assert_problem(r, 400, "invalid-request")
    assert [e["loc"] for e in problem["errors"]] == [
        "items[1].md5", "items[2].quality", "items[3].sha256"]


def test_errors_never_echo_the_input(small_api):
    secret_looking = "zz-not-hex-" + "q" * 53
    r = small_api.post("/v1/cases", json={"items": [image(1, pdq=secret_looking)]})
    assert_problem(r, 400)
    assert secret_looking not in r.text


@pytest.mark.parametrize("path", ["/v1/cases", "/v1/cases/status", "/v1/cases/withdraw",
                                  "/v1/lookup", "/v1/feedback", "/v1/admin/platforms"])
def test_oversize_bodies_are_413(small_api, path):
    limit = SMALL_LIMITS["max_body"]
    big = json.dumps({"items": [image(1, md5="a" * 32)], "pad": "x" * limit}).encode()
    headers = {"Content-Type": "application/json", **small_api.platform_headers}
    if path == "/v1/admin/platforms":
        headers.update(small_api.operator)
    # declared by Content-Length
    assert_problem(small_api.post(path, content=big, headers=headers), 413, "body-too-large")

    # sent in chunks without a length: counted as it arrives
    def chunks():
        for i in range(0, len(big), 4096):
            yield big[i:i + 4096]
    r = small_api.post(path, content=chunks(), headers=headers)
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert_problem(r, 413, "body-too-large")


def test_a_body_of_exactly_the_limit_is_read(small_api):
    body = json.dumps({"items": [image(1)]}).encode()
    padded = body[:-1] + b" " * (SMALL_LIMITS["max_body"] - len(body)) + b"}"
    assert len(padded) == SMALL_LIMITS["max_body"]
    r = small_api.post("/v1/cases", content=padded, headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    r = small_api.post("/v1/cases", content=padded + b" ",
                       headers={"Content-Type": "application/json"})
    assert_problem(r, 413, "body-too-large")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x",
                                          "application/json; charset=latin-1"])
def test_other_media_types_are_415(small_api, content_type):
    headers = {} if content_type is None else {"Content-Type": content_type}
    r = small_api.post("/v1/cases", content=json.dumps({"items": [image(1)]}).encode(),
                       headers=headers)
    assert_problem(r, 415, "unsupported-media-type")


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "Application/JSON;charset=UTF-8",
                                          "application/problem+json"])
def test_json_media_types_are_read(small_api, content_type):
    r = small_api.post("/v1/cases", content=json.dumps({"items": [image(11)]}).encode(),
                       headers={"Content-Type": content_type})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("method, path", [("GET", "/v1/nothing"), ("POST", "/"),
                                          ("GET", "/nothing.js"),
                                          ("DELETE", "/v1/cases"), ("GET", "/v1/cases"),
                                          ("PUT", "/v1/lookup"), ("POST", "/v1/challenge"),
                                          ("GET", "/v1/admin/platforms/x/suspend")])
def test_unknown_routes_and_methods_are_problems(small_api, method, path):
    r = small_api.client.request(method, path)
    if r.status_code == 405:
        assert_problem(r, 405, "method-not-allowed")
        assert r.headers["allow"]
    else:
        assert_problem(r, 404, "not-found")


@pytest.mark.parametrize("query, loc", [("limit=0", "limit"), ("limit=10001", "limit"),
                                        ("limit=ten", "limit"), ("limit=1.5", "limit"),
                                        ("cursor=" + "c" * 65, "cursor")])
def test_bad_query_parameters_are_400(small_api, query, loc):
    r = small_api.get("/v1/list/changes?" + query, headers=small_api.platform_headers)
    problem = assert_problem(r, 400, "invalid-request")
    assert [e["loc"] for e in problem["errors"]] == [loc]


def test_admin_bodies_are_validated(small_api):
    op = small_api.operator
    for body, loc in [({"name": "a b"}, "name"), ({"name": ""}, "name"), ({"name": 5}, "name"),
                      ({"name": "x", "scopes": ["admin"]}, "scopes[0]"),
                      ({"name": "x", "scopes": []}, "scopes"),
                      ({"name": "x", "expires_days": 0}, "expires_days"),
                      ({"name": "x", "expires_days": "7"}, "expires_days"),
                      ({"name": "x", "role": "admin"}, "role")]:
        r = small_api.post("/v1/admin/platforms", json=body, headers=op)
        problem = assert_problem(r, 400, "invalid-request")
        assert [e["loc"] for e in problem["errors"]] == [loc], body
    r = small_api.post("/v1/admin/platforms/small/tokens", json={"scopes": ["root"]}, headers=op)
    assert [e["loc"] for e in assert_problem(r, 400)["errors"]] == ["scopes[0]"]
    r = small_api.get("/v1/admin/cases?status=lost", headers=op)
    assert [e["loc"] for e in assert_problem(r, 400)["errors"]] == ["status"]
    r = small_api.get("/v1/admin/cases?limit=0", headers=op)
    assert [e["loc"] for e in assert_problem(r, 400)["errors"]] == ["limit"]


def test_nothing_invalid_was_stored(small_api):
    """Every bad submission above left no case and no entry behind (the good ones of the
    media-type tests did, and only those)."""
    with small_api.services.db.connect() as conn:
        entries = conn.execute(schema.entry.select()).all()
    md5s = {bytes(e.md5).hex() for e in entries if e.md5 is not None}
    assert md5s <= {image(i)["md5"] for i in (1, 11)}
