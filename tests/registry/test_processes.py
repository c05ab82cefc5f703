"""The registry as processes: an acknowledged submission survives ``kill -9`` of the
server at any moment (SQLite and PostgreSQL), and several servers on one PostgreSQL
database are correct together (one publisher at a time, every index follows the log)."""

from __future__ import annotations

import hashlib
import random
import threading
import time

import httpx
import pytest

from tidehash.registry.server import audit, schema
from tidehash.registry.server.changelog import Changelog
from tidehash.registry.server.db import Database
from tidehash.registry.server.keys import Keys
from tidehash.registry.server.store import Store

from .servers import Server


def image(seed: int) -> dict:
    h = hashlib.sha256(b"img%d" % seed).hexdigest()
    return {"kind": "image", "pdq": h, "quality": 90,
            "md5": hashlib.md5(b"%d" % seed).hexdigest(), "sha256": h[::-1]}


def submit_loop(url: str, acked: list, stop: threading.Event, seed: int) -> None:
    """Submit two-item cases until the server dies; every 201 is recorded."""
    n = seed * 1_000_000
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            n += 1
            body = {"items": [image(2 * n), image(2 * n + 1)]}
            try:
                r = client.post(url + "/v1/cases", json=body)
            except httpx.HTTPError:
                return  # the server is gone
            if r.status_code == 201:
                acked.append((r.json(), body))


@pytest.mark.parametrize("rounds", [3])
def test_acknowledged_submissions_survive_kill_9(db_url, rounds):
    rng = random.Random(11)
    acked: list = []
    for r in range(rounds):
        server = Server(db_url).wait_ready()
        stop = threading.Event()
        threads = [threading.Thread(target=submit_loop, args=(server.url, acked, stop, 10 * r + k))
                   for k in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.5 + rng.random() * 1.5)
        server.kill()
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert len(acked) > 20
    # a new server publishes whatever was committed and not yet published
    with Server(db_url) as server, httpx.Client(timeout=10) as client:
        deadline = time.monotonic() + 30
        pending = list(acked)
        while pending and time.monotonic() < deadline:
            still = []
            for made, _ in pending:
                r = client.post(server.url + "/v1/cases/status",
                                json={"case_id": made["case_id"], "secret": made["secret"]})
                assert r.status_code == 200, r.text
                if [i["status"] for i in r.json()["items"]] != ["active", "active"]:
                    still.append((made, _))
            pending = still
            if pending:
                time.sleep(0.2)
        assert pending == []
    db = Database(db_url)
    try:
        e = schema.entry.c
        with db.connect() as conn:
            per_case = {}
            for row in conn.execute(schema.entry.select()):
                per_case.setdefault(row.case_id, []).append(row)
            changes = conn.execute(schema.change.select().order_by(schema.change.c.seq)).all()
            published = conn.execute(schema.entry.select().where(e.added_seq.is_not(None))).all()
        # nothing half-written: every case has both of its items, every published entry
        # is one change, the change log has no gap
        assert all(len(rows) == 2 for rows in per_case.values())
        assert [c.seq for c in changes] == list(range(1, len(changes) + 1))
        assert sorted(c.entry_id for c in changes) == sorted(r.id for r in published)
        stored = {(bytes(r.pdq).hex(), bytes(r.md5).hex()) for rows in per_case.values()
                  for r in rows}
        for _, body in acked:
            for item in body["items"]:
                assert (item["pdq"], item["md5"]) in stored
    finally:
        db.close()


def lookup(client, server, token, pdq) -> list:
    r = client.post(server.url + "/v1/lookup", headers={"Authorization": f"Bearer {token}"},
                    json={"queries": [{"pdq": pdq, "quality": 90}]})
    assert r.status_code == 200, r.text
    return [m["id"] for m in r.json()["results"][0]["matches"]]


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_two_servers_on_one_postgresql(pg):
    name = pg.create_database()
    url = pg.url(name)
    try:
        db = Database(url)
        keys = Keys.load(db)
        token = Store(db, keys).add_platform("acme")["token"]
        db.close()
        with Server(url, publish_delay=0.3) as a, Server(url, publish_delay=0.3) as b, \
                httpx.Client(timeout=10) as client:
            cases = []
            for i in range(20):  # through both, so both publishers run
                via = a if i % 2 else b
                r = client.post(via.url + "/v1/cases", json={"items": [image(i)]})
                assert r.status_code == 201, r.text
                cases.append(r.json())
            first = image(0)["pdq"]
            assert wait_for(lambda: lookup(client, a, token, first)
                            and lookup(client, b, token, first))
            assert lookup(client, a, token, first) == lookup(client, b, token, first)
            # withdrawn through one, gone from both
            r = client.post(a.url + "/v1/cases/withdraw",
                            json={"case_id": cases[0]["case_id"], "secret": cases[0]["secret"]})
            assert r.status_code == 200
            assert wait_for(lambda: not lookup(client, a, token, first)
                            and not lookup(client, b, token, first))
            for i in range(1, 20):
                assert wait_for(lambda i=i: lookup(client, b, token, image(i)["pdq"]))
            # downloads through both at once: one audit chain, no fork, no gap
            def pull(server, out):
                with httpx.Client(timeout=30) as own:
                    for _ in range(15):
                        r = own.get(server.url + "/v1/list/changes", params={"limit": 1},
                                    headers={"Authorization": f"Bearer {token}"})
                        out.append(r.status_code)
            codes: list = []
            pullers = [threading.Thread(target=pull, args=(s, codes)) for s in (a, b, a, b)]
            for t in pullers:
                t.start()
            for t in pullers:
                t.join()
            assert codes == [200] * 60
        db = Database(url)
        with db.connect() as conn:
            seqs = [r.seq for r in conn.execute(schema.change.select()
                                                .order_by(schema.change.c.seq))]
        db.close()
        assert seqs == list(range(1, 22))  # 20 upserts, 1 tombstone, from two publishers
        log_db = Database(url)
        assert Changelog(log_db, Keys.load(log_db)).head() == 21
        report = audit.verify(log_db, Keys.load(log_db))
        downloads = audit.rows(log_db, action="list.download")
        log_db.close()
        assert report.ok, report.problems
        assert len(downloads) == 60 and report.rows == 61  # and platform.add
    finally:
        pg.drop_database(name)
