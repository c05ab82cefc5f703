"""The registry's store and change log on both stores (a real SQLite file and a real
PostgreSQL server): the schema the migrations make, the case lifecycle, tokens, and the
change log's invariant (snapshot + changes == the active set, no gap, no duplicate)."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tidehash.registry.server import schema
from tidehash.registry.server.changelog import BadCursor, Changelog, CursorCompacted
from tidehash.registry.server.db import Database
from tidehash.registry.server.keys import Keys
from tidehash.registry.server.store import (
    AuthError,
    BadRequest,
    Conflict,
    NotFound,
    Store,
    normalise_case_id,
)


def image(seed: int) -> dict:
    h = hashlib.sha256(b"%d" % seed).hexdigest()
    return {"kind": "image", "pdq": h, "quality": 50 + seed % 50,
            "md5": hashlib.md5(b"%d" % seed).hexdigest(), "sha256": h[::-1]}


@pytest.fixture
def reg(db_url):
    db = Database(db_url)
    keys = Keys.load(db)
    yield Store(db, keys), Changelog(db, keys), db
    db.close()


def active_set(db) -> dict:
    """The entries that are active (not withdrawn or removed), straight from the table."""
    e = schema.entry.c
    return _entries(db, e.status == "active")


def published_set(db) -> dict:
    """The entries whose upsert is published and whose tombstone is not."""
    e = schema.entry.c
    return _entries(db, e.added_seq.is_not(None), e.removed_seq.is_(None))


def _entries(db, *where) -> dict:
    with db.connect() as conn:
        rows = conn.execute(schema.entry.select().where(*where)).all()
    return {f"{r.id:016x}": bytes(r.pdq).hex() if r.pdq is not None else None for r in rows}


def test_migrations_make_the_schema(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    db = Database(db_url)
    Database(db_url).close()  # a second open migrates nothing and breaks nothing
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    db.close()
    assert diff == []


def test_case_lifecycle(reg):
    store, log, db = reg
    made = store.create_case([image(1), image(2), image(3)])
    cid, secret = made["case_id"], made["secret"]
    assert normalise_case_id(cid) == cid and len(secret) >= 32
    assert [i["status"] for i in store.case_status(cid, secret)["items"]] == ["pending"] * 3
    assert log.publish() == 3
    # typed by a person: lower case, no dashes, O for 0
    typed = cid.lower().replace("-", "").replace("0", "o")
    assert [i["status"] for i in store.case_status(typed, secret)["items"]] == ["active"] * 3
    out = store.withdraw(cid, secret, [1])
    assert [i["status"] for i in out["items"]] == ["active", "withdrawn", "active"]
    assert store.withdraw(cid, secret, [1]) == out  # idempotent
    with pytest.raises(BadRequest) as e:
        store.withdraw(cid, secret, [0, 7])
    assert e.value.loc == "items[1]"
    assert active_set(db) != published_set(db)
    assert log.publish() == 1
    assert len(active_set(db)) == 2 and active_set(db) == published_set(db)
    store.withdraw(cid, secret)
    log.publish()
    assert active_set(db) == {}
    assert [i["status"] for i in store.case_status(cid, secret)["items"]] == ["withdrawn"] * 3


def test_unknown_case_and_wrong_secret_are_one_answer(reg):
    store, _, _ = reg
    made = store.create_case([image(1)])
    answers = []
    for case_id, secret in ((made["case_id"], "x" * 32), ("TH-0000-0000-0000-0000",
                                                          made["secret"]),
                            ("not a case id", made["secret"]), (made["case_id"], "")):
        with pytest.raises(NotFound) as e:
            store.case_status(case_id, secret)
        answers.append(str(e.value))
        with pytest.raises(NotFound):
            store.withdraw(case_id, secret)
    assert len(set(answers)) == 1


def test_secret_is_stored_only_as_a_keyed_hash(reg):
    store, _, db = reg
    made = store.create_case([image(1)])
    with db.connect() as conn:
        dump = repr([conn.execute(t.select()).all() for t in schema.metadata.sorted_tables])
    assert made["secret"] not in dump
    assert made["secret"].encode() not in dump.encode()
    assert hashlib.sha256(made["secret"].encode()).hexdigest() not in dump


def test_a_challenge_is_spent_once(reg):
    store, _, _ = reg
    store.create_case([image(1)], challenge_nonce="ab" * 16, challenge_expires=2 ** 40)
    with pytest.raises(BadRequest) as e:
        store.create_case([image(2)], challenge_nonce="ab" * 16, challenge_expires=2 ** 40)
    assert e.value.loc == "pow.challenge"


def test_tokens(reg):
    store, _, _ = reg
    p = store.add_platform("acme")
    who = store.authenticate(p["token"])
    assert who.kind == "platform" and who.platform == "acme"
    store.require(who, "list:read")
    with pytest.raises(AuthError) as e:
        store.require(who, "admin")
    assert e.value.status == 403
    op = store.authenticate(store.operator_token()["token"])
    store.require(op, "admin")
    with pytest.raises(AuthError) as e:
        store.require(op, "list:read")
    assert e.value.status == 403
    narrow = store.mint_token("acme", ["lookup"])
    with pytest.raises(AuthError) as e:
        store.require(store.authenticate(narrow["token"]), "list:read")
    assert e.value.status == 403
    bad = [None, "", "Bearer x", p["token"][:-1], p["token"] + "A",
           p["token"][:-4] + ("AAAA" if not p["token"].endswith("AAAA") else "BBBB"),
           "tho" + p["token"][3:]]
    for token in bad:
        with pytest.raises(AuthError) as e:
            store.authenticate(token)
        assert e.value.status == 401, token
    store.revoke_token(narrow["token_id"])
    with pytest.raises(AuthError) as e:
        store.authenticate(narrow["token"])
    assert e.value.status == 401 and "revoked" in e.value.detail
    store.set_suspended("acme", True)
    with pytest.raises(AuthError) as e:
        store.authenticate(p["token"])
    assert e.value.status == 403
    store.set_suspended("acme", False)
    store.authenticate(p["token"])
    with pytest.raises(Conflict):
        store.add_platform("acme")


def test_expired_token(reg):
    store, _, db = reg
    t = store.add_platform("acme", expires_days=1)
    store.authenticate(t["token"])
    with db.begin() as conn:
        conn.execute(schema.token.update().values(expires=1))
    with pytest.raises(AuthError) as e:
        store.authenticate(t["token"])
    assert e.value.status == 401 and "expired" in e.value.detail


def test_pseudonyms_differ_per_platform(reg):
    store, log, _ = reg
    store.create_case([image(1), image(2)])
    log.publish()
    a, b = store.add_platform("a")["platform_id"], store.add_platform("b")["platform_id"]
    ca = {c["entry"]["case"] for c in log.changes(0, 10, a)[0]}
    cb = {c["entry"]["case"] for c in log.changes(0, 10, b)[0]}
    assert len(ca) == 1 and len(cb) == 1 and ca != cb
    assert all("case" not in c["entry"] for c in log.changes(0, 10, None)[0])


def test_cursors(reg):
    store, log, _ = reg
    for i in range(5):
        store.create_case([image(i)])
    log.publish()
    c = log.encode_cursor(2)
    assert log.decode_cursor(c) == 2
    for forged in ("", "c1", "c1.AAAAAAAAAAI.xxxx", c[:-1] + ("A" if c[-1] != "A" else "B"),
                   "c2" + c[2:], log.encode_cursor(99), "c1.%%%.%%%", 5):
        with pytest.raises(BadCursor):
            log.decode_cursor(forged)
    log.compact(2)
    with pytest.raises(CursorCompacted):
        log.decode_cursor(c)
    assert log.decode_cursor(log.encode_cursor(3)) == 3


def test_hold_publishes_by_epochs(reg):
    store, _, db = reg
    log = Changelog(db, store.keys, delay=10)
    store.create_case([image(1)])
    assert log.publish(now=1000) == 0     # first boundary: the submission's epoch is current
    store.create_case([image(2)])
    assert log.publish(now=1005) == 0     # within the interval
    assert log.publish(now=1010) == 1     # the next boundary: the first case is due
    assert log.publish(now=1020) == 1
    made = store.create_case([image(3)])
    log.publish(now=1030)
    log.publish(now=1040)
    store.withdraw(made["case_id"], made["secret"])
    assert log.publish(now=1041) == 1     # a withdrawal does not wait for a boundary


def test_thousands_of_changes_in_one_batch_page_correctly(reg):
    store, log, db = reg
    for i in range(300):
        store.create_case([image(10 * i + k) for k in range(10)])
    assert log.publish() == 3000
    seen, after = [], 0
    while True:
        page, head = log.changes(after, 700, None)
        if not page:
            break
        seen += page
        after = page[-1]["seq"]
    assert [c["seq"] for c in seen] == list(range(1, 3001)) and head == 3000
    assert {c["entry"]["id"] for c in seen} == set(active_set(db))


def test_concurrent_publishers_never_gap_or_duplicate(reg):
    store, log, db = reg
    stop = threading.Event()
    errors = []

    def publish():
        while not stop.is_set():
            try:
                log.publish()
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

    threads = [threading.Thread(target=publish) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(60):
            store.create_case([image(i), image(1000 + i)])
    finally:
        stop.set()
        for t in threads:
            t.join()
    log.publish()
    assert errors == []
    page, head = log.changes(0, 10_000, None)
    assert [c["seq"] for c in page] == list(range(1, 121)) and head == 120


def replay(log, platform_id, snapshot_seq=None) -> tuple[dict, int]:
    """What a client holds after a snapshot and every change since: {id: pdq}."""
    seq, chunks = log.snapshot(platform_id, snapshot_seq)
    lines = b"".join(chunks).decode().splitlines()
    trailer = json.loads(lines[-1])["trailer"]
    body = "".join(line + "\n" for line in lines[:-1]).encode()
    assert trailer["count"] == len(lines) - 1
    assert trailer["sha256"] == hashlib.sha256(body).hexdigest()
    held = {}
    for line in lines[:-1]:
        e = json.loads(line)
        assert e["id"] not in held
        held[e["id"]] = e.get("pdq")
    after = log.decode_cursor(trailer["cursor"])
    assert after == seq
    while True:
        page, head = log.changes(after, 3, platform_id)
        if not page:
            return held, after
        for c in page:
            assert c["seq"] == after + 1  # no gap, no duplicate
            after = c["seq"]
            if c["op"] == "upsert":
                held[c["entry"]["id"]] = c["entry"].get("pdq")
            else:
                held.pop(c["id"], None)


ops = st.lists(st.one_of(
    st.tuples(st.just("submit"), st.integers(1, 3)),
    st.tuples(st.just("withdraw"), st.integers(0, 50), st.booleans()),
    st.tuples(st.just("remove"), st.integers(0, 200)),
    st.tuples(st.just("publish")),
    st.tuples(st.just("snapshot")),
    st.tuples(st.just("compact"), st.integers(0, 5)),
), max_size=25)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops)
def test_snapshot_plus_changes_is_the_active_set(db_url, ops):
    db = Database(db_url)
    keys = Keys.load(db)
    store, log = Store(db, keys), Changelog(db, keys)
    pid = store.add_platform("p" + secrets.token_hex(4))["platform_id"]
    cases = []
    old_snapshots = []
    try:
        for op in ops:
            if op[0] == "submit":
                made = store.create_case([image(secrets.randbits(30)) for _ in range(op[1])])
                cases.append(made)
            elif op[0] == "withdraw" and cases:
                c = cases[op[1] % len(cases)]
                store.withdraw(c["case_id"], c["secret"], [0] if op[2] else None)
            elif op[0] == "remove":
                e = schema.entry.c
                with db.connect() as conn:
                    ids = sorted(conn.execute(schema.entry.select().with_only_columns(e.id))
                                 .scalars())
                if ids:
                    store.remove_entry(ids[op[1] % len(ids)])
            elif op[0] == "publish":
                log.publish()
            elif op[0] == "snapshot":
                old_snapshots.append(log.head())
            elif op[0] == "compact":
                log.compact(op[1])
            want = published_set(db)
            if op[0] == "publish":  # nothing is held back with no delay
                assert want == active_set(db)
            held, _ = replay(log, pid)
            assert held == want
            head, floor = log.state()
            for s in old_snapshots:
                if s >= floor:  # an older snapshot still replays to today's set
                    assert replay(log, pid, s)[0] == want
    finally:
        db.close()


def test_snapshot_lines_are_json_of_the_wire_shape(reg):
    """The directly formatted lines are exactly what json.dumps makes of the entry."""
    from tidehash.registry.server.changelog import _raw_entry, _snapshot_lines
    key = b"k" * 32
    rows = [(5, "TH-A", "image", bytes(range(32)), 7, bytes(16), bytes(32), None, "2026-12-01",
             "person"),
            (2 ** 62, "TH-B", "image", bytes(32), 100, None, None, None, "2026-12-01", "person"),
            (9, "TH-C", "image", None, None, b"\x01" * 16, None, None, "2026-12-01", "person"),
            (11, "TH-D", "video", None, None, bytes(16), bytes(32),
             '[{"frame":0,"quality":9,"pdq":"' + "ab" * 32 + '","timestamp":0.5}]',
             "2026-11-30", "person"),
            (12, "TH-E", "image", bytes(range(32)), 7, bytes(16), bytes(32), None, "2026-12-01",
             "partner")]
    from tidehash.registry.server.keys import case_pseudonym
    want = "".join(json.dumps(_raw_entry(r, case_pseudonym(key, r[1])), separators=(",", ":"))
                   + "\n" for r in rows)
    assert _snapshot_lines(rows, key) == want


def test_nothing_dates_a_submission_finer_than_a_day(reg, store_kind):
    """The spent challenge is kept to the day; on PostgreSQL the publisher rewrites the
    published cases so their row versions (xmin) no longer order the submissions."""
    from sqlalchemy import text
    store, log, db = reg
    made = [store.create_case([image(i)], challenge_nonce=f"{i:032x}",
                              challenge_expires=1_800_000_123 + i) for i in range(4)]
    with db.connect() as conn:
        assert {r.expires % 86400 for r in conn.execute(schema.spent_challenge.select())} == {0}
    log.publish()
    if store_kind == "postgresql":
        with db.connect() as conn:
            xmins = {r[0] for r in conn.execute(text('SELECT xmin::text FROM "case"'))}
        assert len(made) == 4 and len(xmins) == 1
