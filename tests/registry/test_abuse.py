"""Abuse control through the app on SQLite and PostgreSQL: trust tiers in every view,
the negative list, flood quarantine, dispute review and the operators' review queue.
Each rule is driven just below and at its threshold; quarantine and release are checked
against the change log's invariants (an older snapshot replays byte for byte, snapshot +
changes == the active set)."""

from __future__ import annotations

import json
import time

import pytest

from tidehash.registry.pow import solve
from tidehash.registry.server import schema
from tidehash.registry.server.settings import Settings

from .api_helpers import assert_problem, bearer, image, pdq, running

HOUR = 3600


def flipped(hex64: str, bits: int) -> str:
    """The hash with its first ``bits`` bits flipped (Hamming distance ``bits``)."""
    value = int(hex64, 16) ^ (((1 << bits) - 1) << (256 - bits))
    return f"{value:064x}"


def snapshot(api, headers, seq=None) -> tuple[bytes, list[dict], dict]:
    """(the raw bytes, the entry lines, the trailer) of a snapshot."""
    extra = {} if seq is None else {"Range": "bytes=0-", "If-Range": f'"{seq}"'}
    r = api.get("/v1/list/snapshot", headers={**headers, **extra})
    assert r.status_code in (200, 206), r.text
    lines = [json.loads(line) for line in r.content.splitlines()]
    return r.content, lines[:-1], lines[-1]["trailer"]


def changes(api, headers, cursor=None) -> list[dict]:
    out = []
    while True:
        params = {} if cursor is None else {"cursor": cursor}
        page = api.get("/v1/list/changes", params=params, headers=headers).json()
        out += page["changes"]
        cursor = page["cursor"]
        if not page["more"]:
            return out


def replay(api, headers) -> dict:
    """What a client holds after the snapshot and every change after it: id -> entry."""
    _, entries, trailer = snapshot(api, headers)
    held = {e["id"]: e for e in entries}
    for c in changes(api, headers, trailer["cursor"]):
        if c["op"] == "upsert":
            held[c["entry"]["id"]] = c["entry"]
        else:
            held.pop(c["id"], None)
    return held


def published(api) -> set:
    e = schema.entry.c
    with api.services.db.connect() as conn:
        rows = conn.execute(schema.entry.select().where(
            e.added_seq.is_not(None), e.removed_seq.is_(None))).all()
    return {f"{r.id:016x}" for r in rows}


def status(api, made) -> list[str]:
    r = api.post("/v1/cases/status", json={"case_id": made["case_id"],
                                           "secret": made["secret"]})
    assert r.status_code == 200, r.text
    return [i["status"] for i in r.json()["items"]]


def entry_ids(api, made) -> list[str]:
    """The current entry id of each item of a case (the newest version)."""
    e = schema.entry.c
    with api.services.db.connect() as conn:
        rows = conn.execute(schema.entry.select().where(e.case_id == made["case_id"])
                            .order_by(e.item, e.version)).all()
    return list({r.item: f"{r.id:016x}" for r in rows}.values())


def tick(api, hours: int) -> None:
    """A publisher tick ``hours`` from now (retried while the server's own publisher
    holds the lock), so that a delay of an hour passes at once."""
    at = time.time() + hours * HOUR
    for _attempt in range(1000):
        api.services.changelog.publish(now=at)
        with api.services.db.connect() as conn:
            if conn.execute(schema.publisher.select()).one().ticked_at == at:
                return
        time.sleep(0.01)
    raise AssertionError("the publisher never ticked")


def queue(api, **params) -> list[dict]:
    r = api.get("/v1/admin/review", params=params, headers=api.operator)
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def feedback(api, headers, entry_id, verdict, times=1):
    r = api.post("/v1/feedback", headers=headers,
                 json={"feedback": [{"id": entry_id, "verdict": verdict}] * times})
    assert r.status_code == 202, r.text


# ---------------------------------------------------------------------------- settings

@pytest.mark.parametrize("name,bad", [("flood_platforms", 0), ("flood_window_hours", 0),
                                      ("flood_rate_factor", 0), ("flood_rate_min", 0),
                                      ("dispute_platforms", 0), ("negative_radius", 64),
                                      ("negative_radius", -1), ("review_sample", 1.5),
                                      ("review_sample", True), ("flood_platforms", 2.0)])
def test_thresholds_are_checked_settings(name, bad):
    with pytest.raises(ValueError, match=name):
        Settings(**{name: bad})
    Settings(flood_platforms=1, flood_window_hours=1, flood_rate_factor=1, flood_rate_min=1,
             dispute_platforms=1, negative_radius=63, review_sample=1.0)


# ---------------------------------------------------------------------------- trust tiers

def test_trust_tiers_are_told_apart_in_every_view(db_url):
    with running(db_url, pow_difficulty=4) as api:
        made = api.client.post("/v1/admin/platforms", headers=api.operator, json={
            "name": "hotline", "scopes": ["submit:partner"]}).json()
        partner = bearer(made["token"])
        # the default scopes of a platform never include submit:partner
        reader = api.platform("reader")
        assert api.client.get("/v1/admin/platforms", headers=api.operator).json()[
            "platforms"][1]["tokens"][0]["scopes"] == ["list:read", "lookup", "feedback:write"]
        # a partner needs no proof of work; a person still does
        assert_problem(api.post("/v1/cases", json={"items": [image(1)]}), 400, "challenge")
        by_partner = api.post("/v1/cases", json={"items": [image(1)]}, headers=partner)
        assert by_partner.status_code == 201, by_partner.text
        assert by_partner.json()["items"] == [{"item": 0, "kind": "image", "status": "pending"}]
        challenge = api.get("/v1/challenge").json()
        nonce = solve(challenge["challenge"], challenge["difficulty"])
        by_person = api.post("/v1/cases", json={"items": [image(2)], "pow": {
            "challenge": challenge["challenge"], "nonce": nonce}})
        assert by_person.status_code == 201
        assert by_partner.json()["tier"] == "partner" and "tier" not in by_person.json()
        # any other credential is ignored, as on every person route: a person's
        # submission, with its proof of work
        for headers in (bearer("thp_" + "0" * 16 + "_" + "x" * 43), reader, api.operator,
                        {"Authorization": "Basic eDp5"}):
            assert_problem(api.post("/v1/cases", json={"items": [image(3)]},
                                    headers=headers), 400, "challenge")
        # the partner credential reads nothing
        assert_problem(api.get("/v1/list/snapshot", headers=partner), 403, "forbidden")
        with api.services.db.connect() as conn:
            cases = {r.id: r for r in conn.execute(schema.case.select())}
        assert cases[by_partner.json()["case_id"]].tier == "partner"
        assert cases[by_partner.json()["case_id"]].partner_id == made["platform_id"]
        assert cases[by_person.json()["case_id"]].tier == "person"
        assert cases[by_person.json()["case_id"]].partner_id is None
        p_id, = entry_ids(api, by_partner.json())
        q_id, = entry_ids(api, by_person.json())

        # native snapshot and changes: a partner's entry says so, a person's has no tier
        _, lines, _ = snapshot(api, reader)
        tiers = {e["id"]: e.get("tier") for e in lines}
        assert tiers == {p_id: "partner", q_id: None}
        assert {c["entry"]["id"]: c["entry"].get("tier") for c in changes(api, reader)} == tiers
        # lookup
        api.services.lookup.wait_ready(30)
        deadline = time.monotonic() + 30
        while True:
            r = api.post("/v1/lookup", headers=reader, json={"queries": [
                {"pdq": pdq(1)}, {"md5": image(2)["md5"]}, {"sha256": image(1)["sha256"]}]})
            results = r.json()["results"]
            if all(res["matches"] for res in results) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert results[0]["matches"] == [{"id": p_id, "signal": "pdq", "distance": 0,
                                          "weak": False, "tier": "partner"}]
        assert results[1]["matches"] == [{"id": q_id, "signal": "md5"}]
        assert results[2]["matches"] == [{"id": p_id, "signal": "sha256", "tier": "partner"}]

        # NCMEC: a member per tier; StopNCII: caseTiers beside caseNumbers
        token = reader["Authorization"].split()[1]
        import base64
        basic = {"Authorization": "Basic " + base64.b64encode(f"x:{token}".encode()).decode()}
        members = api.get("/ncmec/v2/members", headers=basic).text
        assert 'id="1">tidehash: person submissions' in members
        assert 'id="2">tidehash: partner submissions' in members
        api.get("/ncmec/v2/status", headers=basic)  # marks the head on the views' clock
        time.sleep(3.5)  # the views answer up to now - 2 s
        xml = api.get("/ncmec/v2/entries", params={"from": "1970-01-01T00:00:00Z"},
                      headers=basic).text
        import xml.etree.ElementTree as ET
        ns = "{https://hashsharing.ncmec.org/hashsharing/v2}"
        root = ET.fromstring(xml)
        members_of = {el.find(f"{ns}id").text: el.find(f"{ns}member").get("id")
                      for el in root.iter(f"{ns}image")}
        assert members_of == {p_id: "2", q_id: "1"}
        keys = {"x-functions-key": token}
        records = api.get("/stopncii/v1/FetchHashes", params={"startTimestamp": "0"},
                          headers=keys).json()["hashRecords"]
        by_hash = {r["hashValue"]: r for r in records}
        for seed, tier in ((1, "partner"), (2, "person")):
            rec = by_hash[pdq(seed)]
            assert set(rec["caseTiers"]) == set(rec["caseNumbers"])
            assert list(rec["caseTiers"].values()) == [tier]


# ---------------------------------------------------------------------------- negative list

def test_a_submission_on_the_negative_list_is_held_and_the_person_cannot_tell(db_url):
    base = pdq(500)
    with running(db_url, publish_delay=3600) as api:
        r = api.post("/v1/admin/negative", headers=api.operator, json={
            "signal": "pdq", "value": base.upper(), "radius": 8, "label": "a stock photo"})
        assert r.status_code == 201, r.text
        neg = r.json()["negative"]
        assert neg["value"] == base and neg["radius"] == 8 and r.json()["held"] == []
        md5 = api.post("/v1/admin/negative", headers=api.operator, json={
            "signal": "md5", "value": image(77)["md5"]}).json()["negative"]
        at = api.submit(image(10, pdq=flipped(base, 8)))         # at the radius: held
        beyond = api.submit(image(11, pdq=flipped(base, 9)))     # just outside: published
        exact = api.submit(image(77, pdq=pdq(78)))              # md5 on the list: held
        ordinary = api.submit(image(12))
        # the person's answers: the same shape, the same "pending", for every item
        for made in (at, beyond, exact, ordinary):
            assert made["items"] == [{"item": 0, "kind": "image", "status": "pending"}]
            assert status(api, made) == ["pending"]
        bodies = [api.post("/v1/cases/status", json={"case_id": m["case_id"],
                                                     "secret": m["secret"]}).json()
                  for m in (at, ordinary)]
        assert [dict(b, case_id=None) for b in bodies][0] == \
            [dict(b, case_id=None) for b in bodies][1]
        # the publisher's next epochs: ordinary items publish, held ones stay pending
        tick(api, 1)
        tick(api, 2)
        assert status(api, beyond) == ["active"] and status(api, ordinary) == ["active"]
        assert status(api, at) == ["pending"] and status(api, exact) == ["pending"]
        held_at, = entry_ids(api, at)
        held_exact, = entry_ids(api, exact)
        assert published(api) == {entry_ids(api, beyond)[0], entry_ids(api, ordinary)[0]}
        # the queue: hashes and counts, the rule, no case id
        r = api.get("/v1/admin/review", headers=api.operator)
        assert at["case_id"] not in r.text and exact["case_id"] not in r.text
        items = {e["id"]: e for e in r.json()["entries"]}
        assert set(items) == {held_at, held_exact}
        assert items[held_at]["flags"] == [{"rule": "negative", "opened": items[held_at][
            "flags"][0]["opened"], "platforms": 0, "matches": 0, "disputes": 0,
            "negative": neg["id"], "distance": 8}]
        assert items[held_exact]["flags"][0]["negative"] == md5["id"]
        assert items[held_at]["pdq"] == flipped(base, 8) and items[held_at]["status"] == "held"
        assert items[held_at]["published"] is False
        assert [e["id"] for e in queue(api, rule="negative")] == sorted(items)
        assert queue(api, rule="flood") == []
        # release one, remove the other
        out = api.post(f"/v1/admin/review/{held_at}/release", headers=api.operator).json()
        assert out == {"id": held_at, "decision": "released"}
        assert api.post(f"/v1/admin/review/{held_exact}/remove",
                        headers=api.operator).json()["decision"] == "removed"
        tick(api, 3)
        tick(api, 4)
        assert status(api, at) == ["active"] and status(api, exact) == ["removed"]
        assert held_at in published(api) and held_exact not in published(api)
        assert queue(api) == []
        shown = api.get(f"/v1/admin/review/{held_at}", headers=api.operator).json()
        assert [(f["rule"], f["state"]) for f in shown["flags"]] == [("negative", "released")]
        # a decision is made once
        assert_problem(api.post(f"/v1/admin/review/{held_at}/release", headers=api.operator),
                       404, "not-found")
        # the list, and taking a hash off it
        listed = api.get("/v1/admin/negative", headers=api.operator).json()["negative"]
        assert [n["id"] for n in listed] == [neg["id"], md5["id"]]
        assert api.post(f"/v1/admin/negative/{md5['id']}/remove",
                        headers=api.operator).json() == {"id": md5["id"], "removed": True}
        again = api.submit(image(77, pdq=pdq(79)))
        # a hash added after the server read the list is seen at once
        api.post("/v1/admin/negative", headers=api.operator,
                 json={"signal": "sha256", "value": image(88)["sha256"]})
        late = api.submit(image(88))
        tick(api, 5)
        tick(api, 6)
        assert status(api, again) == ["active"] and status(api, late) == ["pending"]


def test_adding_a_negative_hash_tombstones_what_it_hits(db_url):
    base = pdq(600)
    with running(db_url) as api:
        reader = api.platform("reader")
        cases = [api.submit(image(20 + d, pdq=flipped(base, d))) for d in (0, 5, 6)]
        video = api.submit({"kind": "video", "md5": image(30)["md5"]})
        ids = [entry_ids(api, c)[0] for c in cases + [video]]
        before, _, trailer = snapshot(api, reader)
        r = api.post("/v1/admin/negative", headers=api.operator,
                     json={"signal": "pdq", "value": base, "radius": 5})
        assert r.status_code == 201 and r.json()["held"] == sorted(ids[:2])
        r = api.post("/v1/admin/negative", headers=api.operator,
                     json={"signal": "md5", "value": image(30)["md5"]})
        assert r.json()["held"] == [ids[3]]
        # tombstones in the change log, the active set without them
        deletes = [c["id"] for c in changes(api, reader, trailer["cursor"])]
        assert sorted(deletes) == sorted([ids[0], ids[1], ids[3]])
        assert set(replay(api, reader)) == {ids[2]} == published(api)
        # the older snapshot replays byte for byte
        assert snapshot(api, reader, trailer["seq"])[0] == before
        assert [status(api, c) for c in cases + [video]] == [["pending"], ["pending"],
                                                             ["active"], ["pending"]]
        flagged = {e["id"]: e for e in queue(api)}
        assert set(flagged) == {ids[0], ids[1], ids[3]}
        assert [f["distance"] for f in flagged[ids[1]]["flags"]] == [5]
        assert flagged[ids[1]]["published"] is True
        # a second hash hitting the same entries raises no second flag of that rule
        r = api.post("/v1/admin/negative", headers=api.operator,
                     json={"signal": "sha256", "value": image(20)["sha256"]})
        assert r.json()["held"] == []
        assert len(queue(api)) == 3


# ---------------------------------------------------------------------------- flood

def test_flood_by_distinct_platforms_just_below_and_at_the_threshold(db_url):
    with running(db_url, flood_platforms=3, flood_window_hours=1) as api:
        store = api.services.store
        now = [1_800_000_000.0]
        store.clock = lambda: now[0]
        platforms = [api.platform(f"p{i}") for i in range(4)]
        made = api.submit(image(40), image(41))
        target, other = entry_ids(api, made)
        # two platforms two hours ago: outside the window
        now[0] -= 2 * HOUR
        feedback(api, platforms[0], target, "matched")
        feedback(api, platforms[1], target, "confirmed")
        now[0] += 2 * HOUR
        # in the window: one platform many times, then a second: 2 distinct
        feedback(api, platforms[2], target, "matched", times=50)
        feedback(api, platforms[3], target, "matched")
        feedback(api, platforms[3], other, "matched")
        feedback(api, platforms[2], target, "disputed")  # not a match
        assert published(api) == {target, other} and queue(api) == []
        # the next clock hour: the previous one is still in the window; a third platform
        now[0] += HOUR
        feedback(api, platforms[0], target, "matched")
        assert target not in published(api) and other in published(api)
        assert status(api, made) == ["pending", "active"]
        item, = queue(api, rule="flood")
        assert item["id"] == target and item["status"] == "held"
        assert item["flags"][0]["platforms"] == 3 and item["flags"][0]["matches"] == 52
        assert item["counts"]["match_platforms"] == 3 and item["counts"]["matches_total"] == 54


def test_flood_by_match_rate_just_below_and_at_the_threshold(db_url):
    with running(db_url, flood_platforms=100, flood_rate_factor=5, flood_rate_min=12) as api:
        store = api.services.store
        store.clock = lambda: 1_800_000_000.0
        p = api.platform("p")
        made = api.submit(*[image(50 + i) for i in range(4)])
        target, *others = entry_ids(api, made)
        for entry, n in zip(others, (2, 3, 2)):  # the median (lower middle) of the others: 2
            feedback(api, p, entry, "matched", times=n)
        feedback(api, p, target, "matched", times=9)
        feedback(api, p, target, "matched")  # 10 = 5 x 2, but below the minimum of 12
        feedback(api, p, target, "matched")  # 11
        assert target in published(api)
        feedback(api, p, others[0], "matched", times=1)  # others 3, 3, 2: median 3 -> 15
        feedback(api, p, target, "matched", times=3)     # 14
        assert target in published(api) and queue(api) == []
        feedback(api, p, target, "matched")               # 15 = 5 x 3
        assert target not in published(api)
        item, = queue(api)
        assert item["flags"][0]["rule"] == "flood" and item["flags"][0]["matches"] == 15


def test_a_released_quarantine_comes_back_under_a_new_id(db_url):
    with running(db_url, flood_platforms=2) as api:
        reader = api.platform("reader")
        a, b = api.platform("a"), api.platform("b")
        made = api.submit(image(60), image(61))
        old, keep = entry_ids(api, made)
        first, _, t1 = snapshot(api, reader)
        feedback(api, a, old, "matched")
        feedback(api, b, old, "matched")
        assert replay(api, reader).keys() == {keep}
        second, _, t2 = snapshot(api, reader)
        out = api.post(f"/v1/admin/review/{old}/release", headers=api.operator).json()
        new = out["republished_as"]
        assert out == {"id": old, "decision": "released", "republished_as": new}
        assert new != old and entry_ids(api, made) == [new, keep]
        assert status(api, made) == ["active", "active"]
        # the change log: delete old, then upsert new; older snapshots unchanged
        log = changes(api, reader, t1["cursor"])
        assert [(c["op"], c.get("id") or c["entry"]["id"]) for c in log] == \
            [("delete", old), ("upsert", new)]
        entry = log[1]["entry"]
        assert entry["pdq"] == pdq(60) and entry["added"] == made_day(api, made)
        assert snapshot(api, reader, t1["seq"])[0] == first
        assert snapshot(api, reader, t2["seq"])[0] == second
        assert replay(api, reader).keys() == {new, keep} == published(api)
        # lookup finds the new version only
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = api.post("/v1/lookup", headers=reader, json={"queries": [{"pdq": pdq(60)}]}
                         ).json()["results"][0]["matches"]
            if [x["id"] for x in m] == [new]:
                break
            time.sleep(0.05)
        assert [x["id"] for x in m] == [new]
        # the person can still withdraw it (the new version), and the operator remove
        r = api.post("/v1/cases/withdraw", json={"case_id": made["case_id"],
                                                 "secret": made["secret"], "items": [0]})
        assert [i["status"] for i in r.json()["items"]] == ["withdrawn", "active"]
        assert replay(api, reader).keys() == {keep}
        listed = api.get("/v1/admin/cases", headers=api.operator).json()["cases"]
        assert listed[0]["items"] == {"pending": 0, "active": 1, "withdrawn": 1, "removed": 0}
        # the new version has fresh counts: the old matches do not count against it
        assert api.get(f"/v1/admin/review/{new}", headers=api.operator).status_code == 404


def test_compaction_keeps_the_hashes_of_a_held_entry(db_url):
    with running(db_url, flood_platforms=2) as api:
        reader = api.platform("reader")
        a, b = api.platform("a"), api.platform("b")
        made = api.submit(image(63), image(64))
        held, gone = entry_ids(api, made)
        feedback(api, a, held, "matched")
        feedback(api, b, held, "matched")
        api.post("/v1/cases/withdraw", json={"case_id": made["case_id"],
                                             "secret": made["secret"], "items": [1]})
        done = api.services.changelog.compact(0)
        assert done["entries_forgotten"] == 1  # the withdrawn one; the held one is kept
        new = api.post(f"/v1/admin/review/{held}/release",
                       headers=api.operator).json()["republished_as"]
        assert replay(api, reader)[new]["pdq"] == pdq(63)
        assert replay(api, reader)[new]["sha256"] == image(63)["sha256"]


def made_day(api, made) -> str:
    return api.post("/v1/cases/status", json={"case_id": made["case_id"],
                                              "secret": made["secret"]}).json()["created"]


def test_a_quarantine_removed_by_the_reviewer_stays_gone(db_url):
    with running(db_url, flood_platforms=2) as api:
        reader = api.platform("reader")
        a, b = api.platform("a"), api.platform("b")
        made = api.submit(image(62))
        eid, = entry_ids(api, made)
        feedback(api, a, eid, "matched")
        feedback(api, b, eid, "confirmed")
        assert api.post(f"/v1/admin/review/{eid}/remove", headers=api.operator).json() == \
            {"id": eid, "decision": "removed"}
        assert status(api, made) == ["removed"] and replay(api, reader) == {}
        # more matches of a removed entry raise nothing
        feedback(api, a, eid, "matched")
        assert queue(api) == []


# ---------------------------------------------------------------------------- dispute

def test_dispute_review_needs_k_distinct_platforms(db_url):
    with running(db_url, dispute_platforms=3) as api:
        reader = api.platform("reader")
        ps = [api.platform(f"d{i}") for i in range(7)]
        made = api.submit(image(70))
        eid, = entry_ids(api, made)
        feedback(api, ps[0], eid, "not_ncii", times=10)  # one platform alone: nothing
        feedback(api, ps[1], eid, "disputed")
        feedback(api, ps[2], eid, "matched")
        assert queue(api) == []
        feedback(api, ps[3], eid, "not_ncii")            # the third distinct platform
        item, = queue(api, rule="dispute")
        assert item["id"] == eid and item["status"] == "active"  # still published
        assert item["flags"][0]["platforms"] == 3 and item["flags"][0]["disputes"] == 12
        assert item["counts"]["dispute_platforms"] == 3
        assert eid in published(api)
        # kept: a new flag needs K more platforms
        assert api.post(f"/v1/admin/review/{eid}/release", headers=api.operator).json() == \
            {"id": eid, "decision": "released"}
        assert eid in published(api)
        feedback(api, ps[4], eid, "disputed")
        feedback(api, ps[5], eid, "disputed")
        assert queue(api) == []
        feedback(api, ps[6], eid, "disputed")
        assert [e["id"] for e in queue(api)] == [eid]
        api.post(f"/v1/admin/review/{eid}/remove", headers=api.operator)
        assert replay(api, reader) == {} and status(api, made) == ["removed"]
        shown = api.get(f"/v1/admin/review/{eid}", headers=api.operator).json()
        assert [(f["rule"], f["state"], f["platforms"]) for f in shown["flags"]] == \
            [("dispute", "released", 3), ("dispute", "removed", 6)]


# ---------------------------------------------------------------------------- sample

def test_the_review_sample_holds_ordinary_submissions(db_url):
    with running(db_url, review_sample=1.0) as api:
        made = api.submit(image(80), image(81))
        assert status(api, made) == ["pending", "pending"]
        assert [f["rule"] for e in queue(api) for f in e["flags"]] == ["sample", "sample"]
        # a person's withdrawal closes the flags
        api.post("/v1/cases/withdraw", json={"case_id": made["case_id"],
                                             "secret": made["secret"]})
        assert queue(api) == [] and status(api, made) == ["withdrawn", "withdrawn"]
    with running(db_url, review_sample=0.0) as api:
        assert status(api, api.submit(image(82))) == ["active"]


# ---------------------------------------------------------------------------- bad input

def test_the_review_routes_refuse_bad_input_with_a_reason(db_url):
    with running(db_url) as api:
        platform = api.platform("p")
        op = api.operator
        for body, loc in (
                ({"signal": "pdq", "value": "0" * 64}, "value"),
                ({"signal": "pdq", "value": "ab" * 16}, "value"),
                ({"signal": "md5", "value": "ab" * 32}, "value"),
                ({"signal": "pdq", "value": "zz" * 32}, "value"),
                ({"signal": "md5", "value": "ab" * 16, "radius": 3}, "radius"),
                ({"signal": "pdq", "value": pdq(1), "radius": 64}, "radius"),
                ({"signal": "pdq", "value": pdq(1), "radius": "3"}, "radius"),
                ({"signal": "tmk", "value": pdq(1)}, "signal"),
                ({"signal": "pdq", "value": pdq(1), "label": "x" * 201}, "label"),
                ({"signal": "pdq", "value": pdq(1), "extra": 1}, "extra"),
                ({"value": pdq(1)}, "signal")):
            r = api.post("/v1/admin/negative", headers=op, json=body)
            problem = assert_problem(r, 400, "invalid-request")
            assert [e["loc"] for e in problem["errors"]] == [loc], (body, problem)
        assert api.post("/v1/admin/negative", headers=op,
                        json={"signal": "pdq", "value": pdq(1)}).json()["negative"][
            "radius"] == 16  # the server's default
        assert_problem(api.post("/v1/admin/negative", headers=op,
                                json={"signal": "pdq", "value": pdq(1).upper()}),
                       409, "conflict")
        for path in ("/v1/admin/negative/0/remove", f"/v1/admin/negative/{2**40}/remove",
                     "/v1/admin/negative/x/remove"):
            assert_problem(api.post(path, headers=op), 400, "invalid-request")
        assert_problem(api.post("/v1/admin/negative/999/remove", headers=op), 404)
        for params in ({"rule": "other"}, {"limit": 0}, {"limit": 1001}, {"after": "xyz"},
                       {"after": "1" * 17}):
            assert_problem(api.get("/v1/admin/review", headers=op, params=params), 400)
        assert_problem(api.get("/v1/admin/negative", headers=op, params={"after": 2**40}),
                       400)
        for entry in ("0" * 16, "f" * 16, "nothex", "1" * 17):
            for action in ("", "/release", "/remove"):
                method = api.get if not action else api.post
                assert_problem(method(f"/v1/admin/review/{entry}{action}", headers=op), 404,
                               "not-found")
        # operator only
        for method, path in (("get", "/v1/admin/review"), ("get", "/v1/admin/negative"),
                             ("post", f"/v1/admin/review/{'1' * 16}/release")):
            assert_problem(getattr(api, method)(path, headers=platform), 403, "forbidden")
            assert_problem(getattr(api, method)(path), 401, "unauthorized")


# ---------------------------------------------------------------------------- audit

def test_every_decision_and_negative_change_is_in_the_audit_log(db_url):
    from tidehash.registry.server import audit
    with running(db_url) as api:
        made = api.submit(image(90))
        eid, = entry_ids(api, made)
        nid = api.post("/v1/admin/negative", headers=api.operator, json={
            "signal": "sha256", "value": image(90)["sha256"]}).json()["negative"]["id"]
        api.post(f"/v1/admin/review/{eid}/release", headers=api.operator)
        api.post(f"/v1/admin/negative/{nid}/remove", headers=api.operator)
        rows = list(audit.rows(api.services.db))
        mine = [(r["action"], r["detail"]) for r in rows
                if r["action"].startswith(("negative.", "review."))]
        assert [a for a, _ in mine] == ["negative.add", "review.release", "negative.remove"]
        assert mine[0][1]["held"] == 1 and mine[1][1]["id"] == eid
        assert all(r["actor"].startswith("operator:") for r in rows
                   if r["action"].startswith(("negative.", "review.")))
        assert made["case_id"] not in json.dumps(rows)
        assert audit.verify(api.services.db, api.services.keys).ok

