"""POST /v1/lookup through HTTP on both stores, answered by the service's index as it
follows the change log: PDQ with radius, weak flags and dihedral variants, MD5, SHA-256,
vPDQ; withdrawn and removed entries stop matching, unpublished ones never match."""

from __future__ import annotations

import time

import numpy as np

import tidehash

from .api_helpers import (
    api_fixture,  # noqa: F401 (the api fixture)
    assert_problem,
    image,
    running,
    video,
)


def flip_bits(hex64: str, n: int) -> str:
    value = int(hex64, 16)
    for bit in range(n):
        value ^= 1 << (7 * bit + 3)
    return f"{value:064x}"


def caught_up(api, timeout=30.0):
    """Wait until the lookup index has applied every published change."""
    svc = api.services
    assert svc.lookup.wait_ready(timeout)
    head = svc.changelog.head()
    deadline = time.monotonic() + timeout
    while svc.lookup.seq < head:
        assert time.monotonic() < deadline, (svc.lookup.seq, head)
        time.sleep(0.02)


def lookup(api, headers, *queries):
    r = api.post("/v1/lookup", json={"queries": list(queries)}, headers=headers)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [res["query"] for res in results] == list(range(len(queries)))
    return [res["matches"] for res in results]


def entry_ids(api, headers) -> dict:
    """md5 -> entry id, from the platform's changes."""
    page = api.get("/v1/list/changes", headers=headers).json()
    return {c["entry"]["md5"]: c["entry"]["id"] for c in page["changes"] if c["op"] == "upsert"}


def test_pdq_md5_sha256_lookups_find_the_entry(api):
    headers = api.platform()
    item, weak_item = image(1), image(2, quality=20)
    api.submit(item, weak_item)
    ids = entry_ids(api, headers)
    caught_up(api)
    exact, near, too_far, weak_query, weak_entry, by_md5, by_sha, nothing = lookup(
        api, headers,
        {"pdq": item["pdq"].upper()},
        {"pdq": flip_bits(item["pdq"], 5), "radius": 5},
        {"pdq": flip_bits(item["pdq"], 5), "radius": 4},
        {"pdq": item["pdq"], "quality": 10, "radius": 0},
        {"pdq": weak_item["pdq"], "quality": 90, "radius": 0},
        {"md5": item["md5"].upper()}, {"sha256": item["sha256"]},
        {"md5": "0" * 32})
    one = ids[item["md5"]]
    assert [m for m in exact if m["id"] == one] == [
        {"id": one, "signal": "pdq", "distance": 0, "weak": False}]
    assert near == [{"id": one, "signal": "pdq", "distance": 5, "weak": False}]
    assert too_far == []
    assert weak_query == [{"id": one, "signal": "pdq", "distance": 0, "weak": True}]
    assert weak_entry == [{"id": ids[weak_item["md5"]], "signal": "pdq", "distance": 0,
                           "weak": True}]
    assert by_md5 == [{"id": one, "signal": "md5"}]
    assert by_sha == [{"id": one, "signal": "sha256"}]
    assert nothing == []


def test_dihedral_lookup_finds_a_rotated_copy(api):
    headers = api.platform()
    pixels = np.random.default_rng(11).integers(0, 256, (96, 80, 3), dtype=np.uint8)
    rotated = tidehash.pdq_hash_dihedral(np.ascontiguousarray(np.rot90(pixels)))[0]
    api.submit({"kind": "image", "pdq": rotated.hex, "quality": rotated.quality})
    caught_up(api)
    variants = [h.hex for h in tidehash.pdq_hash_dihedral(pixels)]
    plain, turned = lookup(api, headers, {"pdq": variants[0]},
                           {"pdq": variants, "dihedral": True, "radius": 10})
    assert plain == []
    assert len(turned) == 1
    assert turned[0]["variant"] == "rot90" and turned[0]["distance"] <= 10


def test_vpdq_lookup_matches_a_video(api):
    headers = api.platform()
    clip = video(3, frames=5)
    api.submit(clip, image(4))
    ids = entry_ids(api, headers)
    caught_up(api)
    (found,) = lookup(api, headers, {"vpdq": clip["vpdq"]})
    assert found == [{"id": ids[clip["md5"]], "signal": "vpdq", "query_match": 100.0,
                      "compared_match": 100.0}]
    (other,) = lookup(api, headers, {"vpdq": video(9, frames=5)["vpdq"]})
    assert other == []


def test_withdrawn_and_removed_entries_stop_matching(api):
    headers = api.platform()
    a, b = image(5), image(6)
    case = api.submit(a, b)
    ids = entry_ids(api, headers)
    caught_up(api)
    assert [len(m) for m in lookup(api, headers, {"md5": a["md5"]}, {"md5": b["md5"]})] == [1, 1]
    api.post("/v1/cases/withdraw", json={"case_id": case["case_id"], "secret": case["secret"],
                                         "items": [0]})
    caught_up(api)
    assert [len(m) for m in lookup(api, headers, {"md5": a["md5"]}, {"pdq": a["pdq"]},
                                   {"md5": b["md5"]})] == [0, 0, 1]
    api.post(f"/v1/admin/entries/{ids[b['md5']]}/remove", headers=api.operator)
    caught_up(api)
    assert lookup(api, headers, {"md5": b["md5"]}, {"sha256": b["sha256"]}) == [[], []]


def test_unpublished_entries_do_not_match(db_url):
    with running(db_url, publish_delay=3600) as api:
        headers = api.platform()
        api.submit(image(7))
        caught_up(api)
        assert lookup(api, headers, {"md5": image(7)["md5"]}) == [[]]


def test_many_queries_in_one_request_come_back_in_order(api):
    headers = api.platform()
    items = [image(20 + i) for i in range(5)]
    api.submit(*items)
    ids = entry_ids(api, headers)
    caught_up(api)
    queries = [{"md5": it["md5"]} for it in reversed(items)] + [{"sha256": "1" * 64}]
    found = lookup(api, headers, *queries)
    assert [[m["id"] for m in ms] for ms in found] == \
        [[ids[it["md5"]]] for it in reversed(items)] + [[]]


def test_lookup_validates_before_searching(api):
    headers = api.platform()
    r = api.post("/v1/lookup", json={"queries": [{"md5": "a" * 32}, {"pdq": "x"}]},
                 headers=headers)
    assert [e["loc"] for e in assert_problem(r, 400)["errors"]] == ["queries[1].pdq"]


def test_lookups_are_503_until_the_index_has_loaded(pg):
    """The entry table is locked by another session while the service starts, so the
    index cannot load: /readyz and /v1/lookup answer 503 until the lock goes."""
    import psycopg

    from tidehash.registry.server.db import Database

    name = pg.create_database()
    url = pg.url(name)
    try:
        Database(url).close()  # migrated before the lock is taken
        libpq = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(libpq) as blocker:
            blocker.execute("LOCK TABLE entry IN ACCESS EXCLUSIVE MODE")
            with running(url) as api:
                headers = api.platform()
                assert not api.services.lookup.ready
                assert_problem(api.get("/readyz"), 503, "unavailable")
                r = api.post("/v1/lookup", json={"queries": [{"md5": "a" * 32}]},
                             headers=headers)
                assert_problem(r, 503, "unavailable")
                assert r.headers["retry-after"]
                blocker.rollback()
                assert api.services.lookup.wait_ready(30)
                assert api.get("/readyz").status_code == 200
                assert lookup(api, headers, {"md5": "a" * 32}) == [[]]
    finally:
        pg.drop_database(name)
