"""The platform's list routes through HTTP on both stores: changes pages and cursors
(forged 400, compacted 410), the streamed snapshot (trailer, ETag, Range / If-Range,
416), pseudonyms per platform, and feedback."""

from __future__ import annotations

import hashlib
import json

from tidehash.registry.server import schema

from .api_helpers import (
    api_fixture,  # noqa: F401 (the api fixture)
    assert_problem,
    image,
    video,
)


def changes(api, headers, **params):
    r = api.get("/v1/list/changes", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def snapshot(api, headers, **extra):
    return api.get("/v1/list/snapshot", headers={**headers, **extra})


def parse_snapshot(body: bytes):
    lines = body.split(b"\n")
    assert lines[-1] == b""
    entries = [json.loads(x) for x in lines[:-2]]
    trailer = json.loads(lines[-2])["trailer"]
    return entries, trailer, body[:len(body) - len(lines[-2]) - 1]


def test_changes_come_in_pages_of_increasing_seq_without_gaps(api):
    headers = api.platform()
    for seed in range(7):
        api.submit(image(seed))
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3} if cursor is None else {"limit": 3, "cursor": cursor}
        page = changes(api, headers, **params)
        pages += 1
        seen += page["changes"]
        assert page["head"] == 7
        assert page["more"] == (seen[-1]["seq"] < 7 if seen else False)
        cursor = page["cursor"]
        if not page["more"]:
            break
    assert pages == 3
    assert [c["seq"] for c in seen] == list(range(1, 8))
    assert {c["entry"]["md5"] for c in seen} == {image(s)["md5"] for s in range(7)}
    # at the head: an empty page that keeps the cursor
    last = changes(api, headers, cursor=cursor)
    assert last == {"changes": [], "cursor": cursor, "more": False, "head": 7}


def test_an_empty_list_has_an_empty_first_page(api):
    page = changes(api, api.platform())
    assert page["changes"] == [] and page["head"] == 0 and page["more"] is False


def test_forged_cursors_are_400_and_compacted_ones_410(api):
    headers = api.platform()
    for seed in range(3):
        api.submit(image(seed))
    good = changes(api, headers, limit=1)["cursor"]
    tampered = good[:-1] + ("A" if good[-1] != "A" else "B")
    ahead = api.services.changelog.encode_cursor(99)
    for bad in (tampered, "c1.AAAAAAAAAAE", "c2.x.y", "hello", ahead, good + "."):
        problem = assert_problem(api.get("/v1/list/changes", params={"cursor": bad},
                                         headers=headers), 400, "bad-cursor")
        assert [e["loc"] for e in problem["errors"]] == ["cursor"]
    api.services.changelog.compact(keep=1)
    assert_problem(api.get("/v1/list/changes", params={"cursor": good}, headers=headers),
                   410, "cursor-compacted")
    assert_problem(api.get("/v1/list/changes", headers=headers), 410, "cursor-compacted")
    # a cursor at the floor still reads
    floor_cursor = api.services.changelog.encode_cursor(2)
    assert [c["seq"] for c in changes(api, headers, cursor=floor_cursor)["changes"]] == [3]


def test_each_platform_sees_its_own_pseudonym_of_a_case(api):
    a, b = api.platform("a"), api.platform("b")
    api.submit(image(1), image(2))
    api.submit(image(3))
    ca = {c["entry"]["md5"]: c["entry"] for c in changes(api, a)["changes"]}
    cb = {c["entry"]["md5"]: c["entry"] for c in changes(api, b)["changes"]}
    assert {k: v["id"] for k, v in ca.items()} == {k: v["id"] for k, v in cb.items()}
    m1, m2, m3 = (image(s)["md5"] for s in (1, 2, 3))
    assert ca[m1]["case"] == ca[m2]["case"] != ca[m3]["case"]
    assert cb[m1]["case"] == cb[m2]["case"] != cb[m3]["case"]
    assert {ca[m]["case"] for m in (m1, m3)}.isdisjoint({cb[m]["case"] for m in (m1, m3)})
    for entry in ca.values():
        assert len(entry["case"]) == 22 and "TH-" not in json.dumps(entry)


def test_the_snapshot_streams_entries_and_a_trailer(api):
    headers = api.platform()
    api.submit(image(1), video(2))
    api.submit(image(3))
    withdrawn = api.submit(image(4))
    api.post("/v1/cases/withdraw", json={"case_id": withdrawn["case_id"],
                                         "secret": withdrawn["secret"]})
    r = snapshot(api, headers)
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] == "application/x-ndjson"
    assert r.headers["accept-ranges"] == "bytes"
    head = api.services.changelog.head()
    assert head == 5 and r.headers["etag"] == f'"{head}"'
    entries, trailer, before = parse_snapshot(r.content)
    assert trailer["seq"] == head and trailer["count"] == len(entries) == 3
    assert trailer["sha256"] == hashlib.sha256(before).hexdigest()
    assert {e["md5"] for e in entries} == {image(1)["md5"], video(2)["md5"], image(3)["md5"]}
    assert next(e for e in entries if e["kind"] == "video")["vpdq"] == video(2)["vpdq"]
    # the trailer's cursor follows on from the snapshot
    page = changes(api, headers, cursor=trailer["cursor"])
    assert page["changes"] == [] and page["head"] == head
    # the same platform gets the same bytes again
    assert snapshot(api, headers).content == r.content


def test_an_empty_snapshot_is_just_the_trailer(api):
    r = snapshot(api, api.platform())
    entries, trailer, before = parse_snapshot(r.content)
    assert entries == [] and before == b""
    assert trailer["count"] == 0 and trailer["sha256"] == hashlib.sha256(b"").hexdigest()


def test_range_with_if_range_resumes_the_same_snapshot(api):
    headers = api.platform()
    for seed in range(4):
        api.submit(image(seed))
    full = snapshot(api, headers)
    etag = full.headers["etag"]
    size = len(full.content)
    # the list moves on meanwhile: the resume is still of the snapshot at the ETag
    api.submit(image(10))
    for start in (1, 100, size - 1):
        r = snapshot(api, headers, Range=f"bytes={start}-", **{"If-Range": etag})
        assert r.status_code == 206, r.text
        assert r.content == full.content[start:]
        assert r.headers["content-range"] == f"bytes {start}-{size - 1}/{size}"
        assert r.headers["etag"] == etag
    r = snapshot(api, headers, Range=f"bytes={size}-", **{"If-Range": etag})
    assert_problem(r, 416, "range-not-satisfiable")
    assert r.headers["content-range"] == f"bytes */{size}"
    # another ETag, a compacted one, or a Range form we do not serve: the current whole
    now = snapshot(api, headers)
    assert now.headers["etag"] != etag and len(parse_snapshot(now.content)[0]) == 5
    for extra in ({"Range": "bytes=5-", "If-Range": '"999"'},
                  {"Range": "bytes=5-", "If-Range": "W/\"4\""},
                  {"Range": "bytes=0-10"}, {"Range": "lines=3-"}, {"If-Range": etag}):
        r = snapshot(api, headers, **extra)
        assert r.status_code == 200 and r.content == now.content, extra
    # a Range without If-Range is of the current snapshot
    r = snapshot(api, headers, Range="bytes=7-")
    assert r.status_code == 206 and r.content == now.content[7:]
    api.services.changelog.compact(keep=0)
    r = snapshot(api, headers, Range="bytes=5-", **{"If-Range": etag})
    assert r.status_code == 200 and r.content == now.content


def test_snapshots_of_two_platforms_differ_only_in_pseudonyms(api):
    a, b = api.platform("a"), api.platform("b")
    api.submit(image(1), image(2))
    ea, _, _ = parse_snapshot(snapshot(api, a).content)
    eb, _, _ = parse_snapshot(snapshot(api, b).content)
    strip = [{k: v for k, v in e.items() if k != "case"} for e in ea]
    assert strip == [{k: v for k, v in e.items() if k != "case"} for e in eb]
    assert {e["case"] for e in ea}.isdisjoint({e["case"] for e in eb})


def test_feedback_is_stored_per_entry(api):
    headers = api.platform()
    api.submit(image(1), image(2))
    ids = [c["entry"]["id"] for c in changes(api, headers)["changes"]]
    r = api.post("/v1/feedback", headers=headers, json={"feedback": [
        {"id": ids[0], "verdict": "matched"},
        {"id": ids[1].upper(), "verdict": "not_ncii", "comment": "a cat"}]})
    assert r.status_code == 202, r.text
    assert r.json() == {"stored": 2}
    with api.services.db.connect() as conn:
        rows = conn.execute(schema.feedback.select().order_by(schema.feedback.c.id)).all()
    assert [(f"{row.entry_id:016x}", row.verdict, row.comment) for row in rows] == [
        (ids[0], "matched", None), (ids[1], "not_ncii", "a cat")]
    r = api.post("/v1/feedback", headers=headers, json={"feedback": [
        {"id": ids[0], "verdict": "confirmed"}, {"id": "7" * 16, "verdict": "disputed"}]})
    problem = assert_problem(r, 400, "invalid-request")
    assert [e["loc"] for e in problem["errors"]] == ["feedback[1].id"]
    with api.services.db.connect() as conn:
        assert len(conn.execute(schema.feedback.select()).all()) == 2
