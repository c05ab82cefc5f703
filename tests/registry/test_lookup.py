"""The registry's lookup state and batcher against brute-force oracles: NumPy Hamming
distances over the active set for PDQ, set membership for digests, tidehash.match's
vpdq_match against every active video for vPDQ. Results compared exactly (ids,
distances, weak flags, variants, percentages)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tidehash.hashes import VPDQFeature
from tidehash.match import vpdq_match
from tidehash.pdq import DIHEDRAL_NAMES
from tidehash.registry.server import lookup
from tidehash.registry.server.lookup import (
    Batcher,
    LookupService,
    LookupState,
    NotReady,
    QueryError,
)

POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)
RNG = np.random.default_rng(11)
BASES = [RNG.integers(0, 256, 32, dtype=np.uint8) for _ in range(4)]
MD5S = [RNG.integers(0, 256, 16, dtype=np.uint8).tobytes().hex() for _ in range(3)]
SHAS = [RNG.integers(0, 256, 32, dtype=np.uint8).tobytes().hex() for _ in range(3)]


def flipped(base: int, bits) -> str:
    b = np.unpackbits(BASES[base].copy())
    for i in bits:
        b[i] ^= 1
    return np.packbits(b).tobytes().hex()


def distance(a: str, b: str) -> int:
    x = np.frombuffer(bytes.fromhex(a), np.uint8) ^ np.frombuffer(bytes.fromhex(b), np.uint8)
    return int(POPCOUNT[x].sum())


# ----------------------------------------------------------------------------- oracle
class Oracle:
    """The active set as a dict, and every query answered by brute force."""

    def __init__(self):
        self.active: dict[int, dict] = {}

    def signal_counts(self) -> dict[str, int]:
        return {s: sum(1 for e in self.active.values() if e.get(s) is not None)
                for s in ("pdq", "md5", "sha256")}

    def apply(self, changes):
        for c in changes:
            if c["op"] == "upsert":
                self.active[int(c["entry"]["id"], 16)] = c["entry"]
            else:
                self.active.pop(int(c["id"], 16), None)

    def search(self, queries):
        return [{"query": i, "matches": self._one(q)} for i, q in enumerate(queries)]

    def _one(self, q):
        if q.get("pdq") is not None:
            radius = q.get("radius", 31)
            variants = q["pdq"] if q.get("dihedral") else [q["pdq"]]
            out = []
            for eid, e in sorted(self.active.items()):
                if e.get("pdq") is None:
                    continue
                ds = [distance(v, e["pdq"]) for v in variants]
                d = min(ds)
                if d <= radius:
                    m = {"id": f"{eid:016x}", "signal": "pdq", "distance": d,
                         "weak": (q.get("quality") is not None and q["quality"] < 50)
                         or e["quality"] < 50}
                    if q.get("dihedral"):
                        m["variant"] = DIHEDRAL_NAMES[ds.index(d)]
                    out.append(m)
            out.sort(key=lambda m: (m["distance"], m["id"]))
            return out
        for signal in ("md5", "sha256"):
            if q.get(signal) is not None:
                return [{"id": f"{eid:016x}", "signal": signal}
                        for eid, e in sorted(self.active.items()) if e.get(signal) == q[signal]]
        query = [VPDQFeature(f["frame"], f["quality"], f["pdq"], f["timestamp"]) for f in q["vpdq"]]
        out = []
        for eid, e in sorted(self.active.items()):
            if not e.get("vpdq"):
                continue
            listed = [VPDQFeature(f["frame"], f["quality"], f["pdq"], f["timestamp"])
                      for f in e["vpdq"]]
            r = vpdq_match(query, listed)
            if r.is_match():
                out.append({"id": f"{eid:016x}", "signal": "vpdq",
                            "query_match": r.query_match_percent,
                            "compared_match": r.compared_match_percent})
        out.sort(key=lambda m: (-m["query_match"], m["id"]))
        return out


# ----------------------------------------------------------------------------- strategies
ids = st.integers(0, 11).map(lambda i: f"{(i * 0x9E3779B97F4A7C15) % (1 << 63):016x}")
pdq_hex = st.builds(flipped, st.integers(0, 3), st.lists(st.integers(0, 255), max_size=30))
frames = st.lists(st.builds(lambda h, q, i: {"frame": i, "quality": q, "pdq": h,
                                             "timestamp": float(i)},
                            pdq_hex, st.sampled_from([20, 50, 90]), st.integers(0, 5)),
                  min_size=1, max_size=4)


@st.composite
def entries(draw):
    eid = draw(ids)
    if draw(st.booleans()):
        e = {"id": eid, "kind": "image"}
        if draw(st.booleans()):
            e["pdq"] = draw(pdq_hex)
            e["quality"] = draw(st.sampled_from([0, 49, 50, 100]))
        if draw(st.booleans()) or "pdq" not in e:
            e["md5"] = draw(st.sampled_from(MD5S))
        if draw(st.booleans()):
            e["sha256"] = draw(st.sampled_from(SHAS))
    else:
        e = {"id": eid, "kind": "video", "vpdq": draw(frames)}
        if draw(st.booleans()):
            e["md5"] = draw(st.sampled_from(MD5S))
    e["added"] = "2026-12-01"
    return e


changes = st.lists(st.one_of(st.builds(lambda e: {"op": "upsert", "entry": e}, entries()),
                             st.builds(lambda i: {"op": "delete", "id": i}, ids)),
                   max_size=40)

queries = st.lists(st.one_of(
    st.builds(lambda h, q, r: {"pdq": h, "quality": q, "radius": r, "dihedral": False},
              pdq_hex, st.one_of(st.none(), st.sampled_from([10, 49, 50, 90])),
              st.sampled_from([0, 10, 31, 40])),
    st.builds(lambda hs, r: {"pdq": hs, "radius": r, "dihedral": True},
              st.lists(pdq_hex, min_size=8, max_size=8), st.sampled_from([20, 31])),
    st.builds(lambda m: {"md5": m}, st.sampled_from(MD5S)),
    st.builds(lambda s: {"sha256": s}, st.sampled_from(SHAS)),
    st.builds(lambda f: {"vpdq": f}, frames)), min_size=1, max_size=12)


def numbered(chs):
    return [dict(c, seq=i + 1) for i, c in enumerate(chs)]


def pages(items, sizes):
    out, at = [], 0
    for s in sizes:
        if at >= len(items):
            break
        out.append(items[at:at + s])
        at += s
    if at < len(items):
        out.append(items[at:])
    return out


def small_state():
    """A state whose bulk paths (compaction, merges, MIH refresh) run every few changes."""
    return LookupState(compact_min=2, merge_min=2, mih_min_rows=4)


@given(initial=st.lists(entries(), max_size=12), chs=changes,
       sizes=st.lists(st.integers(1, 9), max_size=10), qs=queries)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_changes_in_random_pages_equal_the_oracle(initial, chs, sizes, qs):
    state, oracle = small_state(), Oracle()
    state.load(initial)
    oracle.apply([{"op": "upsert", "entry": e} for e in initial])
    assert state.search(qs) == oracle.search(qs)
    assert state.signal_counts() == oracle.signal_counts()
    for page in pages(numbered(chs), sizes):
        state.apply(page)
        oracle.apply(page)
        assert state.signal_counts() == oracle.signal_counts()
    assert state.active_ids() == sorted(f"{i:016x}" for i in oracle.active)
    assert state.search(qs) == oracle.search(qs)
    # a fresh load of the final active set answers the same
    fresh = small_state()
    fresh.load(list(oracle.active.values()))
    assert fresh.search(qs) == oracle.search(qs)
    assert fresh.signal_counts() == oracle.signal_counts()


def image(i: int, pdq: str | None = None, quality: int = 90, **more) -> dict:
    e = {"id": f"{i:016x}", "kind": "image", "added": "2026-12-01", **more}
    if pdq is not None:
        e.update(pdq=pdq, quality=quality)
    return e


def test_bulk_load_and_many_deletes_compact_the_index(monkeypatch):
    """10,000 entries in one load (in chunks of 999, as 10M load in chunks of 65,536);
    deleting most of them compacts the Index (rows really go) and what stays matches
    exactly as before."""
    monkeypatch.setattr(lookup, "_LOAD_CHUNK", 999)
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, (10_000, 32), dtype=np.uint8)
    state = LookupState(compact_min=100, mih_min_rows=1000)
    state.load(image(i + 1, codes[i].tobytes().hex(), 30 + i % 70,
                     **({"md5": f"{i:032x}"} if i % 3 == 0 else {})) for i in range(10_000))
    assert [r["matches"] for r in state.search([{"md5": f"{i:032x}"} for i in (0, 1998, 1999)])] \
        == [[{"id": f"{1:016x}", "signal": "md5"}], [{"id": f"{1999:016x}", "signal": "md5"}], []]
    assert len(state) == 10_000 and state.pdq_rows == 10_000
    q = [{"pdq": codes[i].tobytes().hex()} for i in (0, 1, 998, 999, 9_999)]
    got = state.search(q)
    assert [r["matches"] for r in got] == [
        [{"id": f"{i + 1:016x}", "signal": "pdq", "distance": 0, "weak": 30 + i % 70 < 50}]
        for i in (0, 1, 998, 999, 9_999)]
    state.apply([{"seq": s, "op": "delete", "id": f"{i + 1:016x}"}
                 for s, i in enumerate(range(9_000), 1)])
    assert state.compactions == 1 and state.pdq_rows == 1_000 and len(state) == 1_000
    got = state.search(q)
    assert [r["matches"] for r in got[:4]] == [[]] * 4
    assert got[4]["matches"][0]["id"] == f"{10_000:016x}"
    state.apply([])
    assert len(state) == 1_000


def test_upsert_replaces_and_unknown_delete_is_ignored():
    a, b = flipped(0, []), flipped(1, [])
    state = LookupState()
    state.load([image(5, a)])
    state.apply([{"seq": 1, "op": "delete", "id": f"{99:016x}"},
                 {"seq": 2, "op": "upsert", "entry": image(5, b, quality=20)}])
    assert state.search([{"pdq": a, "radius": 0}])[0]["matches"] == []
    assert state.search([{"pdq": b, "radius": 0, "quality": 90}])[0]["matches"] == [
        {"id": f"{5:016x}", "signal": "pdq", "distance": 0, "weak": True}]
    assert len(state) == 1


def test_bad_queries_name_the_query():
    state = LookupState()
    for q, loc in [({"pdq": "zz" * 32}, "queries[0].pdq"), ({}, "queries[0]"),
                   ({"md5": "ab"}, "queries[0].md5"),
                   ({"pdq": "00" * 32, "dihedral": True}, "queries[0].pdq"),
                   ({"pdq": "00" * 32, "radius": 300}, "queries[0].radius"),
                   ({"vpdq": [{"pdq": "00" * 32, "quality": 101}]}, "queries[0].vpdq[0].quality")]:
        with pytest.raises(QueryError) as exc:
            state.search([q])
        assert exc.value.loc == loc


# ----------------------------------------------------------------------------- the batcher
def test_concurrent_lookups_share_one_search():
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (500, 32), dtype=np.uint8)
    state = LookupState()
    state.load(image(i + 1, codes[i].tobytes().hex()) for i in range(500))
    oracle = Oracle()
    oracle.apply([{"op": "upsert", "entry": image(i + 1, codes[i].tobytes().hex())}
                  for i in range(500)])
    batcher = Batcher(lambda: state)
    requests = [[{"pdq": codes[i].tobytes().hex(), "radius": 31}] for i in range(50)]
    requests.append([{"pdq": "zz"}])  # a bad request fails alone
    requests.append([{"md5": MD5S[0]}, {"pdq": codes[7].tobytes().hex(), "quality": 10}])

    async def main():
        return await asyncio.gather(*(batcher.lookup(r) for r in requests),
                                    return_exceptions=True)

    try:
        got = asyncio.run(main())
    finally:
        batcher.close()
    assert batcher.searches == 1 and batcher.requests == len(requests)
    for r, g in zip(requests[:50], got[:50]):
        assert g == oracle.search(r)
    assert isinstance(got[50], QueryError) and got[50].loc == "queries[0].pdq"
    assert got[51] == oracle.search(requests[51])


def test_encoded_answers_are_the_json_of_the_results():
    state = LookupState()
    state.load([image(1, flipped(0, []), md5=MD5S[1])])
    batcher = Batcher(lambda: state)
    q = [{"pdq": flipped(0, [1, 2])}, {"md5": MD5S[1]}, {"md5": MD5S[2]}]

    async def main():
        return await asyncio.gather(batcher.lookup(q, encoded=True), batcher.lookup(q))

    try:
        body, plain = asyncio.run(main())
    finally:
        batcher.close()
    assert batcher.searches == 1
    assert json.loads(body) == {"results": plain} == {"results": [
        {"query": 0, "matches": [{"id": f"{1:016x}", "signal": "pdq", "distance": 2,
                                  "weak": False}]},
        {"query": 1, "matches": [{"id": f"{1:016x}", "signal": "md5"}]},
        {"query": 2, "matches": []}]}


def test_batcher_caps_a_batch_and_follows_a_new_loop():
    state = LookupState()
    state.load([image(1, flipped(0, []))])
    batcher = Batcher(lambda: state, cap=10)
    q = [{"pdq": flipped(0, [3])}] * 4

    async def main():
        return await asyncio.gather(*(batcher.lookup(q) for _ in range(6)))

    try:
        for _ in range(2):  # a second event loop gets its own queue and worker
            got = asyncio.run(main())
            assert all(g == got[0] for g in got)
            assert got[0][3]["matches"][0]["distance"] == 1
        # 6 requests of 4 queries, at most 10 queries (or one request) a search: 3 a loop
        assert batcher.searches == 6
    finally:
        batcher.close()


# ----------------------------------------------------------------------------- the service
class ListChangelog:
    """A change log in memory with the two methods the service reads; ``fail``
    makes the next calls raise, as a database that went away does."""

    def __init__(self, initial):
        self.log = [{"seq": i + 1, "op": "upsert", "entry": e} for i, e in enumerate(initial)]
        self.fail = 0
        self.lock = threading.Lock()

    def _check(self):
        if self.fail:
            self.fail -= 1
            raise ConnectionError("database unreachable\nsecond line")

    def active_entries(self, seq):
        with self.lock:
            self._check()
            o = Oracle()
            o.apply(self.log)
            return len(self.log), iter(list(o.active.values()))

    def changes(self, after, limit, platform_id):
        assert platform_id is None
        with self.lock:
            self._check()
            return self.log[after:after + limit], len(self.log)

    def append(self, change):
        with self.lock:
            self.log.append(dict(change, seq=len(self.log) + 1))


class Settings:
    poll_interval = 0.01


def test_service_loads_tails_and_survives_errors(caplog):
    a, b = flipped(0, []), flipped(2, [])
    log = ListChangelog([image(1, a), image(2, b)])
    log.fail = 2
    service = LookupService(log, Settings())
    with pytest.raises(NotReady):
        asyncio.run(service.lookup([{"pdq": a}]))
    caplog.set_level(logging.WARNING, "tidehash.registry.lookup")
    service.start()
    try:
        assert service.wait_ready(30)
        got = asyncio.run(service.lookup([{"pdq": a, "radius": 0}, {"pdq": b, "radius": 0}]))
        assert [len(r["matches"]) for r in got] == [1, 1]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) >= 2 and all("\n" not in w for w in warnings)
        assert "database unreachable second line" in warnings[0]
        log.fail = 3
        log.append({"op": "delete", "id": f"{1:016x}"})
        deadline = threading.Event()
        for _ in range(3000):
            if service.seq == 3:
                break
            deadline.wait(0.01)
        assert service.seq == 3
        got = asyncio.run(service.lookup([{"pdq": a, "radius": 0}, {"pdq": b, "radius": 0}]))
        assert [len(r["matches"]) for r in got] == [0, 1]
    finally:
        service.stop()
    assert not service._thread.is_alive()


# ----------------------------------------------------------------------------- real change log
def wait_for(predicate, timeout=30.0):
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return True
        done.wait(0.02)
    return predicate()


@pytest.fixture
def registry(db_url):
    from tidehash.registry.server.changelog import Changelog
    from tidehash.registry.server.db import Database
    from tidehash.registry.server.keys import Keys
    from tidehash.registry.server.settings import Settings as RealSettings
    from tidehash.registry.server.store import Store

    db = Database(db_url)
    keys = Keys.load(db)
    try:
        yield Store(db, keys), Changelog(db, keys), RealSettings(db_url=db_url,
                                                                 poll_interval=0.02)
    finally:
        db.close()


def test_service_follows_the_real_change_log(registry):
    """Cases submitted, published, withdrawn and removed through the lead's store are
    found, then not found, by the service tailing the real change log."""
    store, changelog, settings = registry
    a, b, c = flipped(0, []), flipped(1, []), flipped(2, [])
    first = store.create_case([{"kind": "image", "pdq": a, "quality": 90, "md5": MD5S[0]},
                               {"kind": "image", "pdq": b, "quality": 30}])
    changelog.publish()
    service = LookupService(changelog, settings)
    service.start()
    try:
        assert service.wait_ready(30)
        queries = [{"pdq": a, "radius": 0}, {"pdq": b, "radius": 0}, {"md5": MD5S[0]},
                   {"pdq": c, "radius": 0}]
        got = asyncio.run(service.lookup(queries))
        assert [len(r["matches"]) for r in got] == [1, 1, 1, 0]
        assert got[1]["matches"][0]["weak"] is True and got[0]["matches"][0]["weak"] is False
        store.create_case([{"kind": "image", "pdq": c, "quality": 80}])
        store.withdraw(first["case_id"], first["secret"], [0])
        changelog.publish()
        head = changelog.head()
        assert wait_for(lambda: service.seq == head)
        got = asyncio.run(service.lookup(queries))
        assert [len(r["matches"]) for r in got] == [0, 1, 0, 1]
        entry = int(got[1]["matches"][0]["id"], 16)
        assert store.remove_entry(entry)
        changelog.publish()
        head = changelog.head()
        assert wait_for(lambda: service.seq == head)
        assert [len(r["matches"]) for r in asyncio.run(service.lookup(queries))] == [0, 0, 0, 1]
    finally:
        service.stop()


def test_service_reloads_when_its_changes_were_compacted(registry, caplog):
    store, changelog, settings = registry
    a, b = flipped(0, []), flipped(3, [])
    first = store.create_case([{"kind": "image", "pdq": a, "quality": 90}])
    changelog.publish()
    service = LookupService(changelog, settings)
    service._load()  # loaded at this head; the tailer starts below, after compaction
    store.withdraw(first["case_id"], first["secret"])
    store.create_case([{"kind": "image", "pdq": b, "quality": 90}])
    changelog.publish()
    changelog.compact(0)
    caplog.set_level(logging.WARNING, "tidehash.registry.lookup")
    service.start()
    try:
        head = changelog.head()
        assert wait_for(lambda: service.seq == head)
        got = asyncio.run(service.lookup([{"pdq": a, "radius": 0}, {"pdq": b, "radius": 0}]))
        assert [len(r["matches"]) for r in got] == [0, 1]
        assert any("compacted" in r.getMessage() for r in caplog.records)
    finally:
        service.stop()
