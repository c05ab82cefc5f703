"""python-threatexchange's own NCMEC and StopNCII clients, and their fetch loops, against
a live tidehash registry (a real uvicorn on loopback) on SQLite and PostgreSQL: what
they end up holding after random submit / withdraw / remove sequences is the registry's
active set (for StopNCII, apart from pytx's withdrawal bug, pinned by its own test)."""

from __future__ import annotations

import random
import time
from urllib.parse import parse_qsl, urlencode

import pytest

from .api_helpers import image, video
from .interchange_helpers import (
    NCMEC_LAG,
    hash_api,
    live_registry,
    pull,
    signals,
    stopncii_api,
)


@pytest.fixture(name="live")
def live_fixture(db_url, tmp_path):
    with live_registry(db_url, tmp_path) as live:
        yield live


def random_ops(live, rng: random.Random, n: int) -> None:
    """``n`` random writes: submissions (images, videos, a PDQ another case holds too),
    whole and partial withdrawals, operator removals."""
    for _ in range(n):
        op = rng.random()
        active = sorted(live.active())
        if op < 0.55 or not active:
            items = []
            for _ in range(rng.randint(1, 3)):
                seed = rng.randrange(1 << 30)
                if rng.random() < 0.25:
                    items.append(video(seed, frames=2))
                elif rng.random() < 0.2 and live.cases:
                    # the PDQ of an earlier image, in another case
                    earlier = [i for c in live.cases for i in c["items"]
                               if i["kind"] == "image"]
                    items.append(image(seed, pdq=rng.choice(earlier)["pdq"])
                                 if earlier else image(seed))
                else:
                    items.append(image(seed))
            live.submit(*items)
        elif op < 0.8:
            case = rng.choice(live.cases)
            if rng.random() < 0.5:
                live.withdraw(case)
            else:
                live.withdraw(case, [rng.randrange(len(case["items"]))])
        else:
            live.remove(rng.choice(active))


def active_hashes(active: dict) -> dict:
    return {"pdq": {e["pdq"] for e in active.values() if e["kind"] == "image" and "pdq" in e},
            "video_md5": {e["md5"] for e in active.values()
                          if e["kind"] == "video" and "md5" in e}}


def expected_fingerprints(entry: dict) -> dict:
    return {k: entry[k] for k in ("md5", "sha256", "pdq") if k in entry}


# ---------------------------------------------------------------------------- NCMEC

@pytest.mark.parametrize("seed", [1])
def test_pytx_ncmec_fetch_loop_holds_the_active_set(live, seed):
    rng = random.Random(seed)
    exchange = live.ncmec_exchange()
    state: dict = {}
    checkpoint = None
    for round_ in range(3):
        random_ops(live, rng, 10)
        live.settle(NCMEC_LAG)
        checkpoint = pull(exchange, state, checkpoint)
        active = live.active()
        assert {key.partition("-")[2] for key in state} == set(active), round_
        for key, update in state.items():
            entry = active[key.partition("-")[2]]
            assert update.member_id == 1 and not update.deleted
            assert update.entry_type.value == entry["kind"]
            assert update.fingerprints == expected_fingerprints(entry)
        got = signals(exchange, exchange.collab, state)
        want = active_hashes(active)
        assert got.get("pdq", set()) == want["pdq"]
        assert got.get("video_md5", set()) == want["video_md5"]
    assert checkpoint.paging_info is None  # a completed fetch


def test_ncmec_status_members_and_escaped_names(live):
    client = live.ncmec_client()
    me = client.status()
    assert (me.esp_id, me.esp_name) == (1000 + live.platform_id, "platform-a")
    # a name the registry would refuse now (renamed in the database): escaped on the wire
    from sqlalchemy import update

    from tidehash.registry.server import schema

    odd = live.store.add_platform("odd")
    with live.db.begin() as conn:
        conn.execute(update(schema.platform).where(schema.platform.c.name == "odd")
                     .values(name='odd <a> & "b"</member>'))
    me = live.ncmec_client(odd["token"]).status()
    assert (me.esp_id, me.esp_name) == (1000 + odd["platform_id"], 'odd <a> & "b"</member>')
    raw = live.http.get("/ncmec/v2/status", auth=("x", odd["token"]))
    assert b"odd &lt;a&gt; &amp; \"b\"&lt;/member&gt;" in raw.content
    assert raw.headers["content-type"] == "application/xml; charset=utf-8"
    members = client.members()
    assert [(m.esp_id, m.esp_name) for m in members] == [(1, "tidehash: person submissions"),
                                                         (2, "tidehash: partner submissions")]


def test_ncmec_tombstones_under_the_original_member_and_id(live):
    case = live.submit(image(1), video(2))
    ids = sorted(live.active())
    live.settle(0)
    client = live.ncmec_client()
    pages = list(client.get_entries_iter(start_timestamp=0, end_timestamp=2_000_000_000))
    first = [u for r in pages for u in r.updates]
    seen_at = max(r.max_timestamp for r in pages)
    assert sorted(u.id for u in first) == ids and not any(u.deleted for u in first)
    live.withdraw(case, [1])
    live.remove(next(u.id for u in first if u.entry_type.value == "image"))
    live.settle(0)
    everything = [u for r in client.get_entries_iter(start_timestamp=0,
                                                     end_timestamp=2_000_000_000)
                  for u in r.updates]
    assert everything == []  # added and removed inside one window: nothing at all
    since = [u for r in client.get_entries_iter(start_timestamp=seen_at,
                                                end_timestamp=2_000_000_000)
             for u in r.updates]
    assert sorted((u.id, u.deleted, u.member_id, u.entry_type.value) for u in since) == sorted(
        (u.id, True, 1, u.entry_type.value) for u in first)
    assert all(u.fingerprints == {} for u in since)


def test_ncmec_many_entries_in_one_second_page_by_seq(live):
    for n in range(12):
        live.submit(*[image(10_000 + 100 * n + i) for i in range(100)])
    want = set(live.active())
    assert len(want) == 1200
    live.settle(0)
    raw = live.http.get("/ncmec/v2/entries", params={"from": "1970-01-01T00:00:00Z"},
                        auth=("x", live.token))
    second = hash_api.GetEntriesResponse.from_xml(
        hash_api._XMLWrapper(_parse(raw.content)), 0).max_timestamp
    client = live.ncmec_client()
    pages = list(client.get_entries_iter(start_timestamp=second - 1, end_timestamp=second))
    assert [len(p.updates) for p in pages] == [1000, 200]
    got = [u.id for p in pages for u in p.updates]
    assert len(got) == len(set(got)) and set(got) == want
    assert all(p.max_timestamp == second for p in pages)
    # pytx's own fetch loop from nothing gets them all too
    state: dict = {}
    live.settle(NCMEC_LAG)
    pull(live.ncmec_exchange(), state, None)
    assert {k.partition("-")[2] for k in state} == want


def test_ncmec_next_link_stays_valid_when_to_moves(live):
    for n in range(3):
        live.submit(*[image(20_000 + 100 * n + i) for i in range(100)])
    live.settle(0)
    before = set(live.active())
    params = {"from": "1970-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z", "size": "120"}
    first = live.http.get("/ncmec/v2/entries", params=params, auth=("x", live.token))
    page = hash_api.GetEntriesResponse.from_xml(hash_api._XMLWrapper(_parse(first.content)), 0)
    assert len(page.updates) == 120 and page.next.startswith("/v2/entries?")
    # more entries published and seen, and later times asked for: the link is unmoved
    live.submit(*[image(30_000 + i) for i in range(50)])
    live.settle(0)
    client = live.ncmec_client()
    got = [u.id for u in page.updates]
    link = page.next
    while link:
        query = dict(parse_qsl(link.partition("?")[2]))
        query["to"] = "2200-01-01T00:00:00Z"  # `to` moved
        moved = "/v2/entries?" + urlencode(query)
        result = client.get_entries(next_=moved)
        got += [u.id for u in result.updates]
        link = result.next
    assert len(got) == len(set(got)) == 300 and set(got) == before


def _parse(content: bytes):
    import xml.etree.ElementTree as ET

    root = ET.fromstring(content)
    for el in root.iter():
        el.tag = el.tag.rpartition("}")[2]
    return root


def test_ncmec_feedback_through_pytx(live):
    from sqlalchemy import select

    from tidehash.registry.server import schema

    live.submit(image(5), image(6))
    live.settle(0)
    client = live.ncmec_client()
    entries = [u for r in client.get_entries_iter(start_timestamp=0,
                                                  end_timestamp=2_000_000_000)
               for u in r.updates]
    a, b = sorted(entries, key=lambda u: u.id)
    client.submit_upvote(a.member_id, a.id, hash_api.FingerprintType.pdq)
    reasons = client.feedback_reasons(hash_api.FingerprintType.md5)
    guid = next(g for g, name in reasons.items() if name == "Not NCII")
    client.submit_feedback(b.member_id, b.id, hash_api.FingerprintType.md5,
                           hash_api.FeedbackType.downvote, guid)
    with live.db.connect() as conn:
        rows = conn.execute(select(schema.feedback.c.entry_id, schema.feedback.c.verdict,
                                   schema.feedback.c.platform_id)).all()
    assert sorted((f"{r.entry_id:016x}", r.verdict, r.platform_id) for r in rows) == [
        (a.id, "confirmed", live.platform_id), (b.id, "not_ncii", live.platform_id)]
    # a wrong member id or an unknown entry: 404, nothing stored
    import requests

    with pytest.raises(requests.HTTPError) as err:
        client.submit_upvote(7, a.id, hash_api.FingerprintType.pdq)
    assert err.value.response.status_code == 404
    with pytest.raises(requests.HTTPError) as err:
        client.submit_upvote(1, "0" * 16, hash_api.FingerprintType.pdq)
    assert err.value.response.status_code == 404


# ---------------------------------------------------------------------------- StopNCII

def stopncii_statuses(client) -> dict:
    """(signal type, hash) -> the hashStatus of its last record, pulling from the start
    with pytx's client loop."""
    out = {}
    for page in client.fetch_hashes_iter():
        for r in page.hashRecords:
            out[(r.signalType.value, r.hashValue)] = r
    return out


_PYTX_NAMES = {"ImagePDQ": "pdq", "VideoMD5": "video_md5"}


@pytest.mark.parametrize("seed", [2])
def test_pytx_stopncii_fetch_loop_holds_the_active_set_but_for_the_withdrawal_bug(
        live, seed):
    rng = random.Random(seed)
    exchange = live.stopncii_exchange()
    state: dict = {}
    checkpoint = None
    seen: dict = {}  # (signal type, hash) -> its last record, pulled incrementally
    since = stopncii_api.StopNCIIAPI.DEFAULT_START_TIME
    for round_ in range(3):
        random_ops(live, rng, 10)
        live.settle(0)
        checkpoint = pull(exchange, state, checkpoint)
        for page in live.stopncii_client().fetch_hashes_iter(since):
            seen.update({(r.signalType.value, r.hashValue): r for r in page.hashRecords})
            since = page.nextSetTimestamp
        want = active_hashes(live.active())
        want_keys = {("pdq", v) for v in want["pdq"]} | {("video_md5", v)
                                                        for v in want["video_md5"]}
        for records in (seen, stopncii_statuses(live.stopncii_client())):
            # incrementally and from the start: the Active records are the active set
            active = {(_PYTX_NAMES[k], v) for (k, v), r in records.items()
                      if r.hashStatus.value == "Active"}
            assert active == want_keys, (round_, _explain(live, active ^ want_keys, records))
        # pytx keeps every hash it ever saw: the active ones and, by its bug, the rest
        assert set(state) == {(_PYTX_NAMES[k], v) for k, v in seen}, round_
        assert set(state) - want_keys == {(_PYTX_NAMES[k], v) for (k, v), r in seen.items()
                                          if r.hashStatus.value != "Active"}
        for (kind, value), r in seen.items():
            holders = [e for e in live.all_entries() if _stopncii_hash(e) == (kind, value)]
            assert set(r.caseNumbers) == {live.keys.pseudonym(live.platform_id, e["case_id"])
                                          for e in holders}
            assert r.CSPFeedbacks == []
            statuses = {s.value for s in r.caseNumbers.values()}
            assert r.hashStatus.value == ("Active" if "Active" in statuses else
                                          "Withdrawn" if statuses == {"Withdrawn"} else
                                          "Deleted")
    assert checkpoint.update_time > 0


def _explain(live, keys, records) -> list:
    """The entries behind hashes the two sides disagree on (for a failure message)."""
    from sqlalchemy import select

    from tidehash.registry.server import schema

    e = schema.entry.c
    out = []
    with live.db.connect() as conn:
        for kind, value in keys:
            col = e.pdq if kind == "pdq" else e.md5
            rows = conn.execute(select(e.id, e.kind, e.status, e.added_seq, e.removed_seq)
                                .where(col == bytes.fromhex(value))).all()
            record = records.get(("ImagePDQ" if kind == "pdq" else "VideoMD5", value))
            out.append((value[:8], [tuple(r) for r in rows],
                        record and (record.hashStatus, record.caseNumbers)))
        out.append(conn.execute(select(schema.view_clock)).all())
        out.append(conn.execute(select(schema.publisher.c.head)).scalar())
    return out


def _stopncii_hash(e: dict):
    if e["kind"] == "image" and e.get("pdq"):
        return "ImagePDQ", e["pdq"]
    if e["kind"] == "video" and e.get("md5"):
        return "VideoMD5", e["md5"]
    return None


def test_pytx_stopncii_withdrawal_bug_keeps_withdrawn_and_deleted_hashes(live):
    """pytx compares the hash *value* with Withdrawn / Deleted (stop_ncii_api.py,
    ``_get_delta_mapping``), so it never drops a hash whose hashStatus says so."""
    gone = live.submit(image(1))
    kept = live.submit(image(2), image(3))
    live.settle(0)
    exchange = live.stopncii_exchange()
    state: dict = {}
    checkpoint = pull(exchange, state, None)
    assert set(state) == {("pdq", image(n)["pdq"]) for n in (1, 2, 3)}
    live.withdraw(gone)
    removed = next(i for i, e in live.active().items() if e["pdq"] == image(3)["pdq"])
    live.remove(removed)
    live.settle(0)
    seen = []
    for page in live.stopncii_client().fetch_hashes_iter(start_timestamp=checkpoint.update_time):
        seen += [(r.hashValue, r.hashStatus.value) for r in page.hashRecords]
    assert sorted(seen) == sorted([(image(1)["pdq"], "Withdrawn"),
                                   (image(3)["pdq"], "Deleted")])
    pull(exchange, state, checkpoint)
    # the bug: both are still held, with metadata, although the records said otherwise
    assert set(state) == {("pdq", image(n)["pdq"]) for n in (1, 2, 3)}
    assert all(state[("pdq", image(n)["pdq"])] is not None for n in (1, 3))
    assert kept["case_id"]


def test_stopncii_pages_one_window_with_next_page_token(live):
    for n in range(3):
        live.submit(*[image(40_000 + 100 * n + i) for i in range(100)])
    live.settle(0)
    client = live.stopncii_client()
    pages = []
    page = client.fetch_hashes(page_size=120, start_timestamp=0)
    pages.append(page)
    live.submit(image(50_000))  # published during the pull: not in this window
    live.settle(0)
    while page.hasMoreRecords:
        page = client.fetch_hashes(page_size=120, start_timestamp=0,
                                   next_page=page.nextPageToken)
        pages.append(page)
    assert [len(p.hashRecords) for p in pages] == [120, 120, 60]
    values = [r.hashValue for p in pages for r in p.hashRecords]
    assert len(set(values)) == 300 and image(50_000)["pdq"] not in values
    assert pages[-1].nextPageToken is None
    assert all(p.nextSetTimestamp <= pages[-1].nextSetTimestamp for p in pages)
    again = [r.hashValue for p in client.fetch_hashes_iter(pages[-1].nextSetTimestamp)
             for r in p.hashRecords]
    assert again == [image(50_000)["pdq"]]


def test_stopncii_feedback_through_pytx(live):
    from sqlalchemy import select

    from tidehash.registry.server import schema

    shared = image(7)
    live.submit(shared)
    live.submit(image(8, pdq=shared["pdq"]))
    live.settle(0)
    client = live.stopncii_client()
    client.submit_feedback(stopncii_api.StopNCIISignalType.ImagePDQ, shared["pdq"],
                           stopncii_api.StopNCIICSPFeedbackValue.Blocked, {"Nude"})
    client.submit_feedback(stopncii_api.StopNCIISignalType.ImagePDQ, shared["pdq"],
                           stopncii_api.StopNCIICSPFeedbackValue.None_)
    with live.db.connect() as conn:
        rows = conn.execute(select(schema.feedback.c.entry_id, schema.feedback.c.verdict,
                                   schema.feedback.c.comment)).all()
    assert sorted((f"{r.entry_id:016x}", r.verdict, r.comment) for r in rows) == sorted(
        (i, "confirmed", "stopncii Nude") for i in live.active())


def test_stopncii_signal_type_spellings(live):
    live.submit(image(9))
    live.settle(0)
    value = image(9)["pdq"]
    for spelling in ("ImagePDQ", "StopNCIISignalType.ImagePDQ", "imagepdq", "pdq",
                     "IMAGE_PDQ"):
        r = live.http.post("/stopncii/v1/SubmitFeedback", headers=live.stopncii_headers(),
                           json={"count": 1, "hashFeedbacks": [
                               {"hashValue": value, "feedbackValue": "PendingReview",
                                "signalType": spelling, "tags": []}]})
        assert r.status_code == 200, (spelling, r.text)
        assert r.json()["stored"] == 1
    r = live.http.post("/stopncii/v1/SubmitFeedback", headers=live.stopncii_headers(),
                       json={"hashFeedbacks": [{"hashValue": value, "feedbackValue": "Blocked",
                                                "signalType": "VideoTMK"}]})
    assert r.status_code == 400


def test_pytx_clients_get_401_and_403(live):
    import requests

    lookup_only = live.platform("lookup-only", ["lookup"])["token"]
    for token, status in (("thp_" + "0" * 16 + "_" + "A" * 43, 401), (lookup_only, 403)):
        with pytest.raises(requests.HTTPError) as err:
            live.ncmec_client(token).status()
        assert err.value.response.status_code == status
        with pytest.raises(requests.HTTPError) as err:
            live.stopncii_client(token).fetch_hashes()
        assert err.value.response.status_code == status


def test_stopncii_record_of_a_hash_a_case_added_and_withdrew_inside_one_window(live):
    """A StopNCII record is per hash: a second case that adds a hash and withdraws it
    between two pulls changed that hash's record (its caseNumbers), and a hash that came
    and went inside one window is there as Withdrawn; the pull from the checkpoint and
    the pull from the start agree on every record."""
    first = live.submit(image(7))
    live.settle(0)
    client = live.stopncii_client()
    since = 0
    for page in client.fetch_hashes_iter(since):
        since = page.nextSetTimestamp
    shared = live.submit(image(8, pdq=image(7)["pdq"]))
    alone = live.submit(image(9))
    deadline = time.monotonic() + 30
    while not {e["case_id"] for e in live.all_entries()} >= {shared["case_id"],
                                                            alone["case_id"]}:
        assert time.monotonic() < deadline, "the two cases were never published"
        time.sleep(0.1)
    live.withdraw(shared)
    live.withdraw(alone)
    live.settle(0)
    later = {r.hashValue: r for page in client.fetch_hashes_iter(since)
             for r in page.hashRecords}
    pseudonym = lambda case: live.keys.pseudonym(live.platform_id, case["case_id"])  # noqa: E731
    assert {v: (r.hashStatus.value, {p: s.value for p, s in r.caseNumbers.items()})
            for v, r in later.items()} == {
        image(7)["pdq"]: ("Active", {pseudonym(first): "Active",
                                     pseudonym(shared): "Withdrawn"}),
        image(9)["pdq"]: ("Withdrawn", {pseudonym(alone): "Withdrawn"})}
    from_start = stopncii_statuses(client)
    for v, r in later.items():
        assert from_start[("ImagePDQ", v)].caseNumbers == r.caseNumbers


# ---------------------------------------------------------------------------- tiers, abuse

def test_pytx_ncmec_partner_entries_and_their_tombstones_are_member_2(live):
    """A partner's entries are NCMEC member 2 through pytx's fetch loop, and so are
    their tombstones: pytx keys what it holds by member and id, so a tombstone under
    another member would leave the entry in its state."""
    from .api_helpers import bearer

    hotline = live.platform("hotline", ["submit:partner"])["token"]
    r = live.http.post("/v1/cases", json={"items": [image(11), image(12)]},
                       headers=bearer(hotline))
    assert r.status_code == 201 and r.json()["tier"] == "partner", r.text
    partner = {**r.json(), "items": [image(11), image(12)]}
    live.submit(image(13))
    live.settle(NCMEC_LAG)
    exchange = live.ncmec_exchange()
    state: dict = {}
    checkpoint = pull(exchange, state, None)
    active = live.active()
    member = {i: 2 if e.get("tier") == "partner" else 1 for i, e in active.items()}
    assert sorted(member.values()) == [1, 2, 2]
    assert {k: u.member_id for k, u in state.items()} == {f"{m}-{i}": m
                                                         for i, m in member.items()}
    # one partner item withdrawn with the case's secret, the other removed by the operator
    by_pdq = {e["pdq"]: i for i, e in active.items()}
    live.withdraw(partner, [0])
    live.remove(by_pdq[image(12)["pdq"]])
    live.settle(NCMEC_LAG)
    tombstones = [u for r in live.ncmec_client().get_entries_iter(
        start_timestamp=checkpoint.get_progress_timestamp(), end_timestamp=2_000_000_000)
        for u in r.updates]
    assert sorted((u.id, u.member_id, u.deleted) for u in tombstones) == sorted(
        (by_pdq[image(n)["pdq"]], 2, True) for n in (11, 12))
    pull(exchange, state, checkpoint)
    assert set(state) == {f"1-{by_pdq[image(13)['pdq']]}"} == {f"1-{i}" for i in live.active()}


def test_feedback_through_pytx_drives_dispute_and_flood_review(db_url, tmp_path):
    """Feedback sent with pytx's own clients is a platform's feedback like any other:
    "Not NCII" / "Disputed" downvotes of two distinct platforms put an entry in the
    review queue (one platform, however often, cannot), StopNCII "Blocked" from two
    platforms quarantines one (gone from both views and from pytx's NCMEC state), and
    a reviewer's release brings it back under a new id."""
    with live_registry(db_url, tmp_path, dispute_platforms=2, flood_platforms=2) as live:
        other = live.platform("platform-b")["token"]
        for n in (21, 22, 23):
            live.submit(image(n))
        live.settle(NCMEC_LAG)
        exchange = live.ncmec_exchange()
        state: dict = {}
        checkpoint = pull(exchange, state, None)
        by_pdq = {e["pdq"]: i for i, e in live.active().items()}
        disputed, flooded = by_pdq[image(21)["pdq"]], by_pdq[image(22)["pdq"]]

        def queue() -> dict:
            r = live.http.get("/v1/admin/review", headers=live.operator)
            assert r.status_code == 200, r.text
            return {e["id"]: e for e in r.json()["entries"]}

        pdq_type = hash_api.FingerprintType.pdq
        reasons = {name: guid for guid, name in
                   live.ncmec_client().feedback_reasons(pdq_type).items()}
        for _ in range(3):  # one platform alone, three times: nothing
            live.ncmec_client().submit_feedback(1, disputed, pdq_type,
                                                hash_api.FeedbackType.downvote,
                                                reasons["Not NCII"])
        assert queue() == {}
        live.ncmec_client(other).submit_feedback(1, disputed, pdq_type,
                                                 hash_api.FeedbackType.downvote,
                                                 reasons["Disputed"])
        flagged = queue()
        assert list(flagged) == [disputed]
        assert [(f["rule"], f["platforms"], f["disputes"]) for f in flagged[disputed][
            "flags"]] == [("dispute", 2, 4)]
        assert disputed in live.active()  # a dispute is reviewed, not withdrawn

        blocked = stopncii_api.StopNCIICSPFeedbackValue.Blocked
        signal = stopncii_api.StopNCIISignalType.ImagePDQ
        live.stopncii_client().submit_feedback(signal, image(22)["pdq"], blocked, {"Nude"})
        assert flooded in live.active() and set(queue()) == {disputed}
        live.stopncii_client(other).submit_feedback(signal, image(22)["pdq"], blocked)
        assert flooded not in live.active()
        assert [f["rule"] for f in queue()[flooded]["flags"]] == ["flood"]
        live.settle(NCMEC_LAG)
        checkpoint = pull(exchange, state, checkpoint)
        assert {k.partition("-")[2] for k in state} == set(live.active())
        assert flooded not in {k.partition("-")[2] for k in state}
        record = stopncii_statuses(live.stopncii_client())[("ImagePDQ", image(22)["pdq"])]
        assert record.hashStatus.value == "Deleted"

        r = live.http.post(f"/v1/admin/review/{flooded}/release", headers=live.operator)
        assert r.status_code == 200, r.text
        new = r.json()["republished_as"]
        assert new != flooded and new in live.active()
        live.settle(NCMEC_LAG)
        pull(exchange, state, checkpoint)
        assert {k.partition("-")[2] for k in state} == set(live.active())
        assert new in {k.partition("-")[2] for k in state}
        record = stopncii_statuses(live.stopncii_client())[("ImagePDQ", image(22)["pdq"])]
        assert record.hashStatus.value == "Active"
