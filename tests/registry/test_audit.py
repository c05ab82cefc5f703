"""The audit log on both stores: the chain, its appends from several threads and
processes at once, and ``verify`` against rows edited, deleted, inserted and reordered
with raw SQL."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import threading

import pytest
from sqlalchemy import text

import tidehash
from tidehash.registry.server import audit, schema
from tidehash.registry.server.db import Database
from tidehash.registry.server.keys import Keys

# the tidehash these tests import (src/ in a work tree, site-packages when installed): the
# appender processes must import the same one, with its built extension
SRC = str(pathlib.Path(tidehash.__file__).resolve().parents[1])


@pytest.fixture
def log(db_url):
    db = Database(db_url)
    keys = Keys.load(db)
    yield db, keys
    db.close()


def append(db, n: int, actor: str = "cli", start: int = 0) -> None:
    for i in range(start, start + n):
        with db.begin() as conn:
            audit.record(conn, actor=actor, action="platform.add",
                         detail={"platform": f"p{i}", "scopes": ["lookup"], "n": i})


def problems(db, keys, **kw) -> list:
    return audit.verify(db, keys, **kw).problems


def raw(db, sql: str, **params) -> int:
    with db.begin() as conn:
        return conn.execute(text(sql), params).rowcount


def test_a_clean_log_verifies_and_its_head_is_the_last_row(log):
    db, keys = log
    report = audit.verify(db, keys)
    assert report.ok and report.rows == 0 and report.head_seq == 0
    assert report.head_hash == "00" * 32
    append(db, 5)
    report = audit.verify(db, keys)
    assert report.ok, report.problems
    assert report.rows == 5 and report.head_seq == 5
    rows = audit.rows(db)
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert report.head_hash == rows[-1]["hash"] == audit.head(db)[1]
    assert rows[2]["detail"] == {"platform": "p2", "scopes": ["lookup"], "n": 2}
    assert rows[2]["actor"] == "cli" and rows[2]["action"] == "platform.add"
    assert rows[2]["at"].endswith("Z") and len(rows[2]["at"]) == 20
    # the chain by hand: each hash covers the one before it
    prev = bytes(32)
    for r in rows:
        want = audit.row_hash(keys, prev, r["seq"], _at(db, r["seq"]), r["actor"],
                              r["action"], audit.canonical(r["detail"]))
        assert want.hex() == r["hash"]
        prev = want
    assert [r["seq"] for r in audit.rows(db, since=2, limit=2)] == [3, 4]
    assert audit.verify(db, keys, expect=(5, report.head_hash)).ok
    assert audit.verify(db, keys, expect=(3, rows[2]["hash"])).ok
    assert audit.verify(db, keys, expect=(0, "00" * 32)).ok


def _at(db, seq: int) -> int:
    with db.connect() as conn:
        return conn.execute(text("SELECT at FROM audit WHERE seq = :s"), {"s": seq}).scalar()


def test_an_action_and_its_row_commit_together_or_not_at_all(log):
    db, keys = log
    append(db, 1)
    with pytest.raises(RuntimeError, match="abort"):
        with db.begin() as conn:
            conn.execute(schema.platform.insert().values(name="gone", suspended=False,
                                                         created_day="2026-01-01"))
            audit.record(conn, actor="cli", action="platform.add", detail={"platform": "gone"})
            raise RuntimeError("abort")
    assert audit.head(db)[0] == 1 and len(audit.rows(db)) == 1
    append(db, 1, start=1)
    assert audit.verify(db, keys).ok and audit.head(db)[0] == 2


def test_record_refuses_what_would_identify_a_person_or_is_malformed(log):
    db, _keys = log
    bad = [dict(actor="cli", action="x", detail={"case_id": "TH-1"}),
           dict(actor="cli", action="x", detail={"n": [{"token": "thp_..."}]}),
           dict(actor="cli", action="x", detail={"User_Agent": "curl"}),
           dict(actor="cli", action="x", detail={"ip": "127.0.0.1"}),
           dict(actor="cli", action="x", detail={"b": b"bytes"}),
           dict(actor="cli", action="x", detail={"n": "x" * audit.MAX_DETAIL}),
           dict(actor="cli", action="X", detail={}),
           dict(actor="has space", action="x", detail={}),
           dict(actor="cli", action="x", detail=["not a dict"])]
    for kw in bad:
        with pytest.raises(audit.AuditError):
            with db.begin() as conn:
                audit.record(conn, **kw)
    assert audit.head(db)[0] == 0


def test_record_needs_a_write_transaction_on_sqlite(log):
    db, _keys = log
    if db.dialect != "sqlite":
        return  # on PostgreSQL FOR UPDATE makes a read transaction wait all the same
    with pytest.raises(RuntimeError, match="write transaction"):
        with db.connect() as conn:
            audit.record(conn, actor="cli", action="x", detail={})


# ---------------------------------------------------------------------------- tampering

def test_an_edited_row_is_named(log):
    db, keys = log
    append(db, 6)
    raw(db, "UPDATE audit SET detail = :d WHERE seq = 3", d='{"platform":"other"}')
    assert problems(db, keys) == [(3, "the row does not match its hash (edited, inserted "
                                      "or moved)")]
    raw(db, "UPDATE audit SET detail = :d WHERE seq = 3",
        d=audit.canonical({"platform": "p2", "scopes": ["lookup"], "n": 2}))
    assert audit.verify(db, keys).ok  # put back: clean again
    for column, value in (("actor", "'someone'"), ("action", "'token.revoke'"),
                          ("at", "at + 1")):
        raw(db, f"UPDATE audit SET {column} = {value} WHERE seq = 4")
        assert [s for s, _ in problems(db, keys)] == [4], column
        raw(db, "DELETE FROM audit")  # start over
        raw(db, "UPDATE audit_head SET seq = 0, hash = :z", z=bytes(32))
        append(db, 6)


def test_an_edited_hash_is_named_at_its_row_and_the_next(log):
    db, keys = log
    append(db, 4)
    raw(db, "UPDATE audit SET hash = :h WHERE seq = 2", h=b"\x01" * 32)
    assert [s for s, _ in problems(db, keys)] == [2, 3]


def test_a_deleted_row_is_named(log):
    db, keys = log
    append(db, 6)
    raw(db, "DELETE FROM audit WHERE seq = 3")
    assert problems(db, keys) == [(3, "seq 3 missing (deleted)"),
                                  (4, "cannot be checked: the row before it is missing")]
    raw(db, "DELETE FROM audit WHERE seq IN (1, 2)")
    found = problems(db, keys)
    assert found == [(1, "seqs 1..3 missing (deleted)"),
                     (4, "cannot be checked: the row before it is missing")]


def test_deleting_the_newest_rows_is_named(log):
    db, keys = log
    append(db, 6)
    raw(db, "DELETE FROM audit WHERE seq >= 5")
    assert problems(db, keys) == [(5, "seqs 5..6 missing: the newest rows were deleted "
                                      "(the head is at 6)")]
    raw(db, "DELETE FROM audit")
    assert [s for s, _ in problems(db, keys)] == [1]


def test_a_cut_tail_with_the_head_moved_back_is_caught_by_a_saved_head(log):
    # someone who knows the scheme deletes the newest rows and moves the head onto the
    # last one left: the log is consistent again; only a head saved elsewhere shows it
    db, keys = log
    append(db, 6)
    saved = audit.head(db)
    with db.connect() as conn:
        h4 = conn.execute(text("SELECT hash FROM audit WHERE seq = 4")).scalar()
    raw(db, "DELETE FROM audit WHERE seq > 4")
    raw(db, "UPDATE audit_head SET seq = 4, hash = :h", h=h4)
    assert audit.verify(db, keys).ok
    assert audit.head(db) == (4, bytes(h4).hex())
    assert problems(db, keys, expect=saved) == [
        (6, "the expected head seq 6 is not in the log (the log ends at 4): rows were "
            "deleted")]
    # and a log rewritten below a saved head (here: rows appended again after the cut)
    append(db, 3, start=100)
    assert audit.verify(db, keys).ok
    assert problems(db, keys, expect=saved) == [
        (6, "the row at the expected head has another hash: the log was rewritten up "
            "to it")]


def test_an_inserted_row_is_named(log):
    db, keys = log
    append(db, 4)
    raw(db, "INSERT INTO audit (seq, at, actor, action, detail, hash) "
        "VALUES (5, 1, 'cli', 'entry.remove', '{}', :h)", h=b"\x02" * 32)
    assert problems(db, keys) == [
        (5, "the row does not match its hash (edited, inserted or moved)"),
        (5, "after the head (seq 4): inserted, or the head was moved back")]
    raw(db, "DELETE FROM audit WHERE seq = 5")
    raw(db, "INSERT INTO audit (seq, at, actor, action, detail, hash) "
        "VALUES (0, 1, 'cli', 'entry.remove', '{}', :h)", h=b"\x02" * 32)
    assert problems(db, keys) == [(0, "a row before seq 1 (inserted)")]


def test_reordered_rows_are_named(log):
    db, keys = log
    append(db, 5)
    # swap rows 2 and 4 (contents and hashes move together)
    raw(db, "UPDATE audit SET seq = -2 WHERE seq = 2")
    raw(db, "UPDATE audit SET seq = 2 WHERE seq = 4")
    raw(db, "UPDATE audit SET seq = 4 WHERE seq = -2")
    assert [s for s, _ in problems(db, keys)] == [2, 3, 4, 5]


def test_a_deleted_head_row_is_named(log):
    db, keys = log
    append(db, 2)
    raw(db, "DELETE FROM audit_head")
    assert problems(db, keys)[0] == (0, "the audit head row is missing (deleted)")


def test_parse_expect():
    assert audit.parse_expect("12:" + "AB" * 32) == (12, "ab" * 32)
    for bad in ("12", "x:" + "ab" * 32, "12:" + "ab" * 31, ""):
        with pytest.raises(ValueError):
            audit.parse_expect(bad)


# ---------------------------------------------------------------------------- concurrency

def test_appends_from_many_threads_and_two_handles_stay_one_chain(db_url):
    dbs = [Database(db_url), Database(db_url)]
    keys = Keys.load(dbs[0])
    threads, errors = [], []

    def worker(db, t):
        try:
            append(db, 25, actor=f"t{t}", start=t * 1000)
        except Exception as exc:  # reported below
            errors.append(exc)

    for t in range(6):
        threads.append(threading.Thread(target=worker, args=(dbs[t % 2], t)))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    try:
        assert errors == []
        report = audit.verify(dbs[1], keys)
        assert report.ok, report.problems
        rows = audit.rows(dbs[0])
        assert [r["seq"] for r in rows] == list(range(1, 151))
        assert sorted(r["detail"]["n"] for r in rows) == sorted(
            t * 1000 + i for t in range(6) for i in range(25))
    finally:
        for db in dbs:
            db.close()


APPENDER = """
import sys
from tidehash.registry.server import audit
from tidehash.registry.server.db import Database
db = Database(sys.argv[1])
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()
for i in range(int(sys.argv[3])):
    with db.begin() as conn:
        audit.record(conn, actor="proc" + sys.argv[2], action="list.changes",
                     detail={"n": i, "proc": int(sys.argv[2])})
db.close()
"""


def test_appends_from_several_processes_stay_one_chain(db_url):
    db = Database(db_url)
    keys = Keys.load(db)
    env = {**os.environ, "PYTHONPATH": os.path.abspath(SRC)}
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, db_url, str(p), "40"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                              text=True) for p in range(3)]
    try:
        for p in procs:
            assert p.stdout.readline() == "ready\n"
        for p in procs:  # all start at once
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            assert p.wait(timeout=120) == 0
        report = audit.verify(db, keys)
        assert report.ok, report.problems
        rows = audit.rows(db)
        assert [r["seq"] for r in rows] == list(range(1, 121))
        assert sorted((r["detail"]["proc"], r["detail"]["n"]) for r in rows) == [
            (p, i) for p in range(3) for i in range(40)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        db.close()
