"""Hostile JSON and XML in everything the registry reads, on SQLite and PostgreSQL:
every JSON body of every route (taken from the OpenAPI document, so a route added later
is covered), the NCMEC view's XML feedback, the query parameters and the headers. Each
answer is a 4xx problem+json that says what is wrong; nothing is a 500, nothing is
stored, and a real server's memory stays bounded however the body is built."""

from __future__ import annotations

import base64
import json
import threading

import httpx
import pytest

from tidehash.registry.server import schema
from tidehash.registry.server.app import create_app
from tidehash.registry.server.db import Database
from tidehash.registry.server.keys import Keys
from tidehash.registry.server.store import Store

from .api_helpers import PROBLEM, assert_problem, image, pdq, running, test_settings, uvicorn_server
from .pg import database_url

DOCUMENT = create_app(test_settings("sqlite:///unused.db")).openapi()
#: (method, path) of every operation that reads a JSON body
JSON_ROUTES = sorted((m, p) for p, ops in DOCUMENT["paths"].items() for m, op in ops.items()
                     if "application/json" in op.get("requestBody", {}).get("content", {}))
MAX_BODY = 4 << 20  # the default limit: the hostile bodies are as big as a real one may be


class Hostile:
    def __init__(self, api, entry_id: str):
        self.api = api
        self.entry_id = entry_id
        self.platform = api.platform("hostile")
        self.token = self.platform["Authorization"].split()[1]

    def headers(self, path: str) -> dict:
        if path.startswith("/v1/admin/"):
            return dict(self.api.operator)
        if path.startswith("/stopncii/"):
            return {"x-functions-key": self.token}
        if path.startswith("/ncmec/"):
            return {"Authorization": "Basic " + base64.b64encode(
                f"x:{self.token}".encode()).decode()}
        return dict(self.platform)

    def send(self, method: str, path: str, body: bytes, content_type="application/json",
             **headers):
        path = path.replace("{name}", "hostile")
        all_headers = {**self.headers(path), **headers}
        if content_type is not None:
            all_headers["Content-Type"] = content_type
        return self.api.client.request(method, path, content=body, headers=all_headers)

    def stored(self) -> dict:
        """Row counts of what a request may write."""
        with self.api.services.db.connect() as conn:
            return {t.name: len(conn.execute(t.select()).all())
                    for t in (schema.case, schema.entry, schema.feedback, schema.platform,
                              schema.token)}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hostile(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    with database_url(request, request.param, folder) as url, running(url) as api:
        made = api.submit(image(1))
        api.platform("reader")  # a platform exists for the admin routes' path
        changes = api.get("/v1/list/changes", headers=api.platform("first")).json()
        assert [c["entry"]["id"] for c in changes["changes"]], made
        yield Hostile(api, changes["changes"][0]["entry"]["id"])


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


# a field of each route's body that is a number (or a string: then the number is the
# wrong type, refused as well)
NUMBER_IN = {
    "/v1/cases": b'{"items": [{"kind": "image", "pdq": "' + pdq(1).encode()
    + b'", "quality": %s}]}',
    "/v1/cases/status": b'{"case_id": [%s], "secret": "s"}',
    "/v1/cases/withdraw": b'{"case_id": "TH-0000-0000-0000-0000", "secret": "s", "items": [%s]}',
    "/v1/lookup": b'{"queries": [{"pdq": "' + pdq(1).encode() + b'", "radius": %s}]}',
    "/v1/feedback": b'{"feedback": [{"id": %s, "verdict": "matched"}]}',
    "/v1/admin/platforms": b'{"name": "n", "expires_days": %s}',
    "/v1/admin/platforms/{name}/tokens": b'{"expires_days": %s}',
    "/stopncii/v1/SubmitFeedback": b'{"count": %s, "hashFeedbacks": []}',
}


def body_with(path: str, value: bytes) -> bytes:
    return NUMBER_IN.get(path, b'{"x": %s}') % value


HOSTILE_JSON = {
    "deep-array": lambda path: deep(100_000),
    "deep-object": lambda path: b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "deep-in-a-field": lambda path: body_with(path, deep(20_000)),
    "1e400": lambda path: body_with(path, b"1e400"),
    "-1e400": lambda path: body_with(path, b"-1e400"),
    "5000-digit-int": lambda path: body_with(path, b"9" * 5000),
    "1e6-digit-int": lambda path: body_with(path, b"9" * 1_000_000),
    "NaN": lambda path: body_with(path, b"NaN"),
    "Infinity": lambda path: body_with(path, b"Infinity"),
    "-Infinity": lambda path: body_with(path, b"-Infinity"),
    "true-for-int": lambda path: body_with(path, b"true"),
    "string-for-int": lambda path: body_with(path, b'"1"'),
    "float-for-int": lambda path: body_with(path, b"1.0"),
    "object-for-int": lambda path: body_with(path, b'{"$gt": 0}'),
    "array-top": lambda path: b"[]",
    "null-top": lambda path: b"null",
    "string-top": lambda path: b'"' + b"a" * 100_000 + b'"',
    "duplicate-key": lambda path: b'{"x": 1, "x": 2}',
    "overlong-string": lambda path: body_with(path, b'"' + b"a" * (3 << 20) + b'"'),
    # (at 4 MiB, these two are in the memory test)
    "many-unknown-keys": lambda path: b"{" + b",".join(b'"k%d":0' % i
                                                       for i in range(20_000)) + b"}",
    "long-array": lambda path: b'{"x": [' + b",".join([b"0"] * 200_000) + b"]}",
    "not-utf8": lambda path: body_with(path, b'"\xff\xfe\xfd"'),
    "overlong-utf8": lambda path: body_with(path, b'"\xc0\xaf"'),
    "utf8-surrogate": lambda path: body_with(path, b'"\xed\xa0\x80"'),
    "utf16": lambda path: '{"x": 1}'.encode("utf-16"),
    "bom": lambda path: b"\xef\xbb\xbf" + body_with(path, b"1"),
    "nul-byte": lambda path: b'{"x"\x00: 1}',
    "trailing-comma": lambda path: b'{"x": 1,}',
    "comment": lambda path: b'{"x": 1 /* c */}',
    "single-quotes": lambda path: b"{'x': 1}",
    "truncated": lambda path: body_with(path, b"1")[:-3],
    "empty": lambda path: b"",
    "whitespace": lambda path: b" \n\t " * 1000,
}


@pytest.mark.parametrize("method, path", JSON_ROUTES, ids=[p for _m, p in JSON_ROUTES])
@pytest.mark.parametrize("kind", sorted(HOSTILE_JSON))
def test_hostile_json_is_a_400_naming_it(hostile, method, path, kind):
    before = hostile.stored()
    r = hostile.send(method, path, HOSTILE_JSON[kind](path))
    problem = assert_problem(r, 400)
    assert problem["type"].endswith("/invalid-request"), problem
    assert problem["errors"] and all(e["loc"] and e["msg"] for e in problem["errors"])
    # a problem is small, whatever the body was; the input is never echoed
    assert len(r.content) < 8 << 10, (len(r.content), problem["errors"][:3])
    assert b"aaaaaaaaaa" not in r.content and b"99999" not in r.content
    assert hostile.stored() == before


def test_the_json_messages_say_what_is_wrong(hostile):
    def msgs(body: bytes, path="/v1/lookup") -> str:
        """The errors' messages"""
        r = hostile.send("POST", path, body)
        return " | ".join(e["msg"] for e in assert_problem(r, 400)["errors"])
    assert "nested too deeply" in msgs(deep(100_000))
    assert "duplicate" in msgs(b'{"queries": [{"md5": "' + b"a" * 32 + b'"}], "queries": []}')
    assert "duplicate" in msgs(b'{"queries": [{"md5": "' + b"a" * 32 + b'", "md5": "'
                               + b"b" * 32 + b'"}]}')
    assert "number" in msgs(body_with("/v1/lookup", b"9" * 5000))
    assert "finite" in msgs(body_with("/v1/cases", b"1e400"), "/v1/cases") or \
        "integer" in msgs(body_with("/v1/cases", b"1e400"), "/v1/cases")
    assert "unicode" in msgs(body_with("/v1/lookup", b'"\xff"'))
    lone = msgs(body_with("/v1/lookup", b'"a\\ud800b"'))
    assert "surrogate" in lone or "escape" in lone
    assert "byte order mark" in msgs(b"\xef\xbb\xbf" + body_with("/v1/lookup", b"1"))
    # the errors of a body with very many are cut to a readable number, and say so
    many = b"{" + b",".join(b'"k%d":0' % i for i in range(10_000)) + b"}"
    errors = assert_problem(hostile.send("POST", "/v1/lookup", many), 400)["errors"]
    assert 1 < len(errors) <= 51 and "more" in errors[-1]["msg"], errors[-1]


def test_a_duplicate_key_anywhere_is_refused_and_a_good_body_is_not(hostile):
    good = {"queries": [{"pdq": pdq(1), "quality": 90}]}
    r = hostile.send("POST", "/v1/lookup", json.dumps(good).encode())
    assert r.status_code == 200, r.text
    for raw in (b'{"queries": [{"pdq": "%s", "quality": 90, "quality": 90}]}' % pdq(1).encode(),
                b'{"queries": [{"pdq": "%s", "pdq": "%s"}]}' % (pdq(1).encode(), pdq(2).encode())):
        assert_problem(hostile.send("POST", "/v1/lookup", raw), 400, "invalid-request")
        # the fast path of the lookups gives the same answer as the route
        assert_problem(hostile.send("POST", "/v1/lookup", raw), 400, "invalid-request")
    case = b'{"items": [{"kind": "image", "md5": "%s", "kind": "video"}]}' % (b"a" * 32)
    before = hostile.stored()
    assert_problem(hostile.send("POST", "/v1/cases", case), 400, "invalid-request")
    assert hostile.stored() == before


STRINGS = {
    "nul": "a\u0000b",
    "lone-surrogate": "a\ud800b",
    "reversed-surrogates": "\udc00\ud800",
    "noncharacter": "\uffff\ufffe",
    "rtl-override": "\u202eabc",
    "max-length": "x" * 500,
}


@pytest.mark.parametrize("kind", sorted(STRINGS))
def test_strange_strings_in_stored_text_are_stored_or_refused_never_a_500(hostile, kind):
    """A comment is the one free text the registry stores: a character PostgreSQL or
    SQLite cannot hold (NUL, a lone surrogate) is a 400, anything else is stored as
    sent."""
    text = STRINGS[kind]
    raw = json.dumps({"feedback": [{"id": hostile.entry_id, "verdict": "matched",
                                    "comment": text}]}).encode()
    r = hostile.send("POST", "/v1/feedback", raw)
    stopncii = json.dumps({"hashFeedbacks": [{"hashValue": pdq(1), "feedbackValue": "Blocked",
                                              "tags": [text[:100]]}]}).encode()
    r2 = hostile.send("POST", "/stopncii/v1/SubmitFeedback", stopncii)
    for response in (r, r2):
        if kind in ("nul", "lone-surrogate", "reversed-surrogates"):
            problem = assert_problem(response, 400, "invalid-request")
            msg = problem["errors"][0]["msg"]
            assert "NUL" in msg or "surrogate" in msg or "escape" in msg, problem
        else:
            assert response.status_code in (200, 202), response.text
    if kind in ("noncharacter", "rtl-override", "max-length"):
        with hostile.api.services.db.connect() as conn:
            comments = conn.execute(schema.feedback.select()).all()
        assert any(c.comment == text for c in comments)


@pytest.mark.parametrize("length", ["²", "١٢", "9" * 5000, "-1", "1e3", " 12", "0x10", ""])
def test_a_strange_content_length_is_a_4xx(hostile, length):
    # through the ASGI app: uvicorn's HTTP parser refuses most of these itself
    r = hostile.send("POST", "/v1/lookup", b"{}", **{"Content-Length": length.encode()})
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("charset", ["latin-1", "utf-16", "utf-32", "x" * 300])
def test_a_charset_other_than_utf8_is_415(hostile, charset):
    r = hostile.send("POST", "/v1/lookup", b"{}",
                     content_type=f"application/json; charset={charset}")
    assert_problem(r, 415, "unsupported-media-type")


# ------------------------------------------------------------------------- query strings

QUERY_VALUES = ["9" * 5000, "1e400", "NaN", "-0", "١٢", "²", "0x10", " 1", "1 ", "\x00",
                "%ff%fe", "a" * 10_000, "-" * 100, "2017-02-30T00:00:00Z",
                "99999-01-01T00:00:00Z", "2017-10-20T25:61:61Z", "1970-01-01T00:00:00+99:99"]
QUERY_ROUTES = sorted((p, [q["name"] for q in op.get("parameters", ()) if q["in"] == "query"])
                      for p, ops in DOCUMENT["paths"].items() for m, op in ops.items()
                      if m == "get" and any(q["in"] == "query" for q in op.get("parameters", ())))


@pytest.mark.parametrize("path, names", QUERY_ROUTES, ids=[p for p, _n in QUERY_ROUTES])
def test_hostile_query_values_are_4xx_problems(hostile, path, names):
    for name in names:
        for value in QUERY_VALUES:
            params = {name: value}
            if path == "/ncmec/v2/entries" and name != "from":
                params["from"] = "2017-10-20T00:00:00Z"
            r = hostile.api.client.get(path, params=params, headers=hostile.headers(path))
            assert r.status_code < 500, (name, value[:40], r.text)
            if r.status_code >= 400:
                assert r.headers["content-type"] == PROBLEM
                assert len(r.content) < 8 << 10


def test_an_unknown_query_parameter_is_a_400_on_every_route(hostile):
    for path, ops in DOCUMENT["paths"].items():
        if "{" in path:
            continue
        for method in ops:
            body = GOOD_XML if path.startswith("/ncmec/") else b"{}"
            r = hostile.send(method.upper(), path + "?cachebuster=1", body)
            problem = assert_problem(r, 400, "invalid-request")
            assert "cachebuster" in problem["detail"], (method, path, problem)
    # the lookup fast path gives the route's answer, not a 200
    good = json.dumps({"queries": [{"pdq": pdq(1)}]}).encode()
    assert hostile.send("POST", "/v1/lookup", good).status_code == 200
    assert_problem(hostile.send("POST", "/v1/lookup?x=1", good), 400, "invalid-request")


PATH_VALUES = ["%00", "a%00b", "%ff%fe", "..%2f..%2fetc", "9" * 5000, "%C0%AF", "x" * 4000,
               "%E2%80%AE", "%20", "-1", "1e400"]
PATH_ROUTES = sorted((m, p) for p, ops in DOCUMENT["paths"].items() for m, op in ops.items()
                     if any(q["in"] == "path" for q in op.get("parameters", ())))


@pytest.mark.parametrize("method, path", PATH_ROUTES, ids=[p for _m, p in PATH_ROUTES])
def test_hostile_path_values_are_4xx_problems(hostile, method, path):
    import re

    for value in PATH_VALUES:
        url = re.sub(r"\{[^}]+\}", value, path)
        body = GOOD_XML if path.startswith("/ncmec/") else b"{}"
        r = hostile.send(method.upper(), url, body)
        assert 400 <= r.status_code < 500, (url[:80], r.text)
        assert r.headers["content-type"] == PROBLEM
        assert len(r.content) < 8 << 10


@pytest.mark.parametrize("header", [
    "Bearer " + "a" * 60_000, "Basic " + "A" * 60_000, "Basic " + base64.b64encode(
        b"x:\xff\xfe").decode(), "Basic " + base64.b64encode(b"x:\x00").decode(),
    "Bearer thp_\x7f", "Bearer thp_" + "0" * 16 + "_" + "a" * 43, "bearer", "Bearer  ",
])
def test_hostile_credentials_are_401(hostile, header):
    for path in ("/v1/list/changes", "/ncmec/v2/status"):
        r = hostile.api.client.get(path, headers={"Authorization": header})
        assert_problem(r, 401, "unauthorized")
    r = hostile.api.client.get("/stopncii/v1/FetchHashes",
                               headers={"x-functions-key": header.split(" ", 1)[-1] or "x"})
    assert_problem(r, 401, "unauthorized")


# ------------------------------------------------------------------------- XML

def feedback_url(hostile) -> str:
    return f"/ncmec/v2/entries/1/{hostile.entry_id}/PDQ/feedback"


GOOD_XML = b"<feedbackSubmission><affirmative/></feedbackSubmission>"
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;")
                                                * 10) for i in range(1, 10))
          + b"]><feedbackSubmission><affirmative/>&lol9;</feedbackSubmission>")
HOSTILE_XML = {
    "billion-laughs": (LAUGHS, 400, "DOCTYPE"),
    "external-entity": (b'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x SYSTEM '
                        b'"file:///etc/passwd">]><feedbackSubmission><affirmative/>&x;'
                        b"</feedbackSubmission>", 400, "DOCTYPE"),
    "external-dtd": (b'<?xml version="1.0"?><!DOCTYPE feedbackSubmission SYSTEM '
                     b'"http://127.0.0.1:9/x.dtd"><feedbackSubmission><affirmative/>'
                     b"</feedbackSubmission>", 400, "DOCTYPE"),
    "parameter-entity": (b'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY % p SYSTEM '
                         b'"file:///etc/passwd"> %p;]><feedbackSubmission><affirmative/>'
                         b"</feedbackSubmission>", 400, "DOCTYPE"),
    "public-dtd": (b'<!DOCTYPE f PUBLIC "-//X//EN" "file:///etc/passwd"><feedbackSubmission>'
                   b"<affirmative/></feedbackSubmission>", 400, "DOCTYPE"),
    "undefined-entity": (b"<feedbackSubmission><affirmative/>&x;</feedbackSubmission>", 400,
                         "XML"),
    "deep-nesting": (b"<feedbackSubmission>" + b"<a>" * 5000 + b"</a>" * 5000
                     + b"</feedbackSubmission>", 400, "deep"),
    "wide": (b"<feedbackSubmission>" + b"<a/>" * 15_000 + b"</feedbackSubmission>", 400,
             "affirmative"),
    "many-attributes": (b"<feedbackSubmission " + b" ".join(b'a%d="1"' % i for i in range(5000))
                        + b"><affirmative/></feedbackSubmission>", 200, None),
    "truncated": (GOOD_XML[:-5], 400, "XML"),
    "two-roots": (GOOD_XML + GOOD_XML, 400, "XML"),
    "not-utf8": (b"<feedbackSubmission>\xff\xfe<affirmative/></feedbackSubmission>", 400, "XML"),
    "unknown-encoding": (b'<?xml version="1.0" encoding="x-klingon"?>' + GOOD_XML, 400, "XML"),
    # XML in UTF-16 with its byte order mark is XML: taken
    "utf16": (('<?xml version="1.0" encoding="utf-16"?>' + GOOD_XML.decode()).encode("utf-16"),
              200, None),
    "nul": (b"<feedbackSubmission>\x00<affirmative/></feedbackSubmission>", 400, "XML"),
    "cdata-bomb": (b"<feedbackSubmission><negative><reasonIds><guid><![CDATA["
                   + b"a" * 60_000 + b"]]></guid></reasonIds></negative></feedbackSubmission>",
                   400, "reason"),
    "json": (b'{"affirmative": true}', 400, "XML"),
    "empty": (b"", 400, "XML"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_XML))
def test_hostile_xml_feedback(hostile, kind):
    body, status, says = HOSTILE_XML[kind]
    before = hostile.stored()
    r = hostile.send("PUT", feedback_url(hostile), body, content_type="application/xml")
    if status == 200:
        assert r.status_code == 200, r.text
        assert hostile.stored()["feedback"] == before["feedback"] + 1
        return
    problem = assert_problem(r, status)
    assert says.lower() in problem["detail"].lower(), problem
    assert b"root:" not in r.content  # nothing of /etc/passwd
    assert len(r.content) < 8 << 10
    assert hostile.stored() == before


def test_a_huge_xml_body_is_413_however_it_comes(hostile):
    url = feedback_url(hostile)
    huge = b"<feedbackSubmission>" + b" " * (8 << 20) + b"<affirmative/></feedbackSubmission>"
    assert_problem(hostile.send("PUT", url, huge, content_type="application/xml"), 413)

    def chunks():  # no Content-Length: counted as it arrives
        yield b"<feedbackSubmission>"
        for _ in range(200):
            yield b" " * (64 << 10)
    r = hostile.api.client.put(url, content=chunks(), headers=hostile.headers(url))
    assert_problem(r, 413, "body-too-large")
    # a declared length over the limit is refused before a byte is read
    r = hostile.send("PUT", url, GOOD_XML, content_type="application/xml",
                     **{"Content-Length": str(1 << 40)})
    assert 400 <= r.status_code < 500


def test_the_good_feedback_is_taken_after_all_of_that(hostile):
    before = hostile.stored()["feedback"]
    r = hostile.send("PUT", feedback_url(hostile), GOOD_XML, content_type="application/xml")
    assert r.status_code == 200, r.text
    assert hostile.stored()["feedback"] == before + 1


# ------------------------------------------------------------------------- memory

def peak_rss(pid: int) -> int:
    """The process's peak resident memory, bytes (Linux: VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_a_real_server_stays_small_under_hostile_bodies(tmp_path):
    """A uvicorn process on SQLite gets the worst bodies of each kind at the size limit,
    from several clients at once; its peak memory stays within a bound fixed by the limit
    (not by what the bodies would expand to), and it answers a good lookup afterwards."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    db = Database(url)
    try:
        token = Store(db, Keys.load(db)).add_platform("p")["token"]
    finally:
        db.close()
    n = MAX_BODY // 20
    bodies = [
        b"{" + b",".join(b'"k%07d":0' % i for i in range(MAX_BODY // 14)) + b"}",
        b'{"queries": [' + b",".join([b"{}"] * (MAX_BODY // 3 - 10)) + b"]}",
        b'{"queries": [' + b",".join([b'"a"'] * (MAX_BODY // 4 - 10)) + b"]}",
        deep(MAX_BODY // 2 - 1),
        b'{"queries": [{"md5": "' + b"a" * (MAX_BODY - 40) + b'"}]}',
        b'{"queries": [' + b",".join([b"1e400"] * n) + b"]}",
    ]
    assert all(len(b) <= MAX_BODY for b in bodies)
    with uvicorn_server(url, tmp_path) as server:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        with httpx.Client(base_url=server.base_url, timeout=120) as client:
            r = client.post("/v1/lookup", json={"queries": [{"pdq": pdq(1)}]}, headers=headers)
            assert r.status_code == 200
            baseline = peak_rss(server.process.pid)
        statuses: list = []

        def hammer(body):
            with httpx.Client(base_url=server.base_url, timeout=120) as c:
                for _ in range(3):
                    statuses.append(c.post("/v1/lookup", content=body, headers=headers)
                                    .status_code)
        threads = [threading.Thread(target=hammer, args=(b,)) for b in bodies]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        assert statuses == [400] * (3 * len(bodies)), statuses
        grown = peak_rss(server.process.pid) - baseline
        with httpx.Client(base_url=server.base_url, timeout=120) as client:
            r = client.post("/v1/lookup", json={"queries": [{"pdq": pdq(1)}]}, headers=headers)
            assert r.status_code == 200
        print(f"peak memory grew by {grown >> 20} MiB over {baseline >> 20} MiB")
        # six 4 MiB bodies at once, each parsed and refused: a few hundred MiB at worst
        assert grown < 1536 << 20, grown >> 20
        assert "unhandled error" not in server.stderr()
