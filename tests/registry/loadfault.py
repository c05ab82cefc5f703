"""A bounded load on a real registry (``tidehash serve`` on 127.0.0.1 over a private
PostgreSQL cluster) with two faults in the middle of it: PostgreSQL stopped and started
again, then the server killed with SIGKILL and started again on the same port (on
SQLite: the kill only).

The load is made of clients that keep going by themselves, as a platform's jobs and
people's browsers do (each retries its own operation after a failure, after a short
pause; nothing restarts them):

* submitters: ``Client.submit`` of two-image cases; every 201 is recorded;
* a withdrawer: ``Client.withdraw`` of an acknowledged case (the whole case, or item 1);
  every 200 is recorded;
* lookups: ``Client.lookup`` of an acknowledged case's PDQ;
* a changes follower: ``Client.changes`` page after page, from its last cursor, every
  change kept;
* a list syncer: ``Client.sync_list`` of a list file, again and again.

Every call is timed and its status counted (0: no answer at all) by phase. ``run()``
returns a Report; ``check()`` verifies it against the database (the test); ``figures()``
and ``table()`` summarise it (the benchmark). Everything is bounded: each phase lasts
its seconds, each client stops at the end or at ``max_calls``, each wait has a deadline.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import threading
import time
from collections import Counter, defaultdict

from tidehash.registry.client import Client, RegistryError

from .servers import Server

PHASES = ("steady", "pg-down", "pg-back", "server-down", "after")
OPS = ("submit", "lookup", "changes", "sync", "withdraw")


def image(n: int) -> dict:
    h = hashlib.sha256(b"load image %d" % n).hexdigest()
    return {"kind": "image", "pdq": h, "quality": 90,
            "md5": hashlib.md5(b"load %d" % n).hexdigest(), "sha256": h[::-1]}


@dataclasses.dataclass
class Call:
    op: str
    phase: str
    status: int  # the HTTP status; 0: no answer (connection refused or cut)
    seconds: float
    at: float  # monotonic, when it ended


@dataclasses.dataclass
class Report:
    calls: list
    acked_cases: list          # (201 body, request items)
    acked_withdrawals: list    # (case_id, items or None)
    changes: list              # every change the follower saw, in order
    errors: list               # client exceptions other than RegistryError (none, we hope)
    syncs: list                # the results of sync_list that succeeded
    list_path: str
    events: dict               # phase -> monotonic start; plus "pg-start", "server-start"
    db_url: str
    token: str
    url: str


class Load:
    """The clients of one run; ``phase`` is read by each call as it ends."""

    def __init__(self, url: str, token: str, workdir: str, *, submitters: int = 2,
                 lookups: int = 2, seed: int = 1, max_calls: int = 20_000, pause: float = 0.05):
        self.url = url
        self.token = token
        self.workdir = workdir
        self.phase = PHASES[0]
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.calls: list = []
        self.acked: list = []
        self.withdrawn: list = []
        self.changes: list = []
        self.syncs: list = []
        self.errors: list = []  # what a client raised other than a RegistryError
        self.max_calls = max_calls
        self.pause = pause
        self.rng = random.Random(seed)
        self.list_path = os.path.join(workdir, "synced.thl")
        self.threads = (
            [threading.Thread(target=self._loop, args=("submit", self._submit, k),
                              name=f"load-submit-{k}") for k in range(submitters)]
            + [threading.Thread(target=self._loop, args=("lookup", self._lookup, k),
                                name=f"load-lookup-{k}") for k in range(lookups)]
            + [threading.Thread(target=self._loop, args=("withdraw", self._withdraw, 0),
                                name="load-withdraw"),
               threading.Thread(target=self._loop, args=("changes", self._follow, 0),
                                name="load-changes"),
               threading.Thread(target=self._loop, args=("sync", self._sync, 0),
                                name="load-sync")])
        self._cursor = None
        self._counter = 0

    # ------------------------------------------------------------------ the clients
    def _loop(self, op: str, one, k: int) -> None:
        person = Client(self.url, timeout=10)
        platform = Client(self.url, token=self.token, timeout=10)
        n = 0
        while not self.stop.is_set() and n < self.max_calls:
            n += 1
            start = time.monotonic()
            try:
                one(person, platform, k)
                status = 200
            except RegistryError as exc:
                status = exc.status
            except Exception as exc:  # noqa: BLE001 (a client that broke: counted, kept)
                status = -1
                with self.lock:
                    self.errors.append(f"{op}: {exc!r}"[:300])
            end = time.monotonic()
            with self.lock:
                self.calls.append(Call(op, self.phase, status, end - start, end))
            if status != 200 or op in ("changes", "sync", "withdraw"):
                # a failed call is tried again shortly; the pollers poll, not spin
                self.stop.wait(self.pause if status == 200 else self.pause * 4)

    def _submit(self, person: Client, _platform: Client, k: int) -> None:
        with self.lock:
            self._counter += 1
            n = self._counter
        items = [image(2 * n), image(2 * n + 1)]
        made = person.submit(items)
        with self.lock:
            self.acked.append((made, items))

    def _pick(self):
        with self.lock:
            return self.rng.choice(self.acked) if self.acked else None

    def _lookup(self, _person: Client, platform: Client, k: int) -> None:
        picked = self._pick()
        pdq = picked[1][0]["pdq"] if picked else image(-1)["pdq"]
        platform.lookup([{"pdq": pdq, "quality": 90}])

    def _withdraw(self, person: Client, _platform: Client, k: int) -> None:
        picked = self._pick()
        if picked is None:
            return
        made = picked[0]
        items = None if self.rng.random() < 0.5 else [1]
        person.withdraw(made["case_id"], made["secret"], items)
        with self.lock:
            self.withdrawn.append((made["case_id"], items))

    def _follow(self, _person: Client, platform: Client, k: int) -> None:
        page = platform.changes(self._cursor, limit=200)
        self.changes.extend(page["changes"])
        self._cursor = page["cursor"]

    def _sync(self, _person: Client, platform: Client, k: int) -> None:
        self.syncs.append(platform.sync_list(self.list_path))

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in self.threads), "a load client did not stop"

    def first_success_after(self, op: str, t: float, deadline: float) -> float | None:
        """Wait (until ``deadline``) for a 200 of ``op`` that started after ``t``; its end."""
        while time.monotonic() < deadline:
            with self.lock:
                for c in self.calls:
                    if c.op == op and c.status == 200 and c.at - c.seconds >= t:
                        return c.at
            time.sleep(0.05)
        return None


def run(pg_cluster, workdir: str, *, seconds: float = 2.0, submitters: int = 2,
        lookups: int = 2, max_calls: int = 20_000, recover_timeout: float = 60.0) -> Report:
    """One run (see the module docstring): ``seconds`` of each phase. ``pg_cluster``
    None: on an SQLite file in ``workdir``, without the PostgreSQL phases."""
    from tidehash.registry.server.db import Database
    from tidehash.registry.server.keys import Keys
    from tidehash.registry.server.store import Store

    if pg_cluster is None:
        url = f"sqlite:///{os.path.join(workdir, 'registry.db')}"
    else:
        url = pg_cluster.url(pg_cluster.create_database())
    db = Database(url)
    try:
        token = Store(db, Keys.load(db)).add_platform("load")["token"]
    finally:
        db.close()
    events: dict = {}
    server = Server(url).wait_ready()
    load = Load(server.url, token, workdir, submitters=submitters, lookups=lookups,
                max_calls=max_calls)
    try:
        events["steady"] = time.monotonic()
        load.start()
        time.sleep(seconds)
        if pg_cluster is not None:
            load.phase = "pg-down"
            events["pg-down"] = time.monotonic()
            pg_cluster.stop("fast")
            time.sleep(seconds)
            load.phase = "pg-back"
            pg_cluster.start()
            events["pg-back"] = time.monotonic()
            back = time.monotonic()
            for op in OPS:
                events[f"pg-recovered-{op}"] = load.first_success_after(
                    op, back, back + recover_timeout)
            time.sleep(seconds)
        load.phase = "server-down"
        events["server-down"] = time.monotonic()
        server.kill()
        time.sleep(seconds / 2)
        server = Server(url, port=server.port)
        server.wait_ready()
        load.phase = "after"
        events["after"] = time.monotonic()
        up = time.monotonic()
        for op in OPS:
            events[f"server-recovered-{op}"] = load.first_success_after(
                op, up, up + recover_timeout)
        time.sleep(seconds)
    finally:
        load.finish()
    try:
        # the clients' last word: everything published is pulled (bounded)
        platform = Client(server.url, token=token, timeout=30)
        deadline = time.monotonic() + recover_timeout
        while time.monotonic() < deadline:
            if not _outbox_left(url):
                break
            time.sleep(0.1)
        load.syncs.append(platform.sync_list(load.list_path))
        while True:
            page = platform.changes(load._cursor, limit=1000)
            load.changes.extend(page["changes"])
            load._cursor = page["cursor"]
            if not page["more"]:
                break
    finally:
        server.stop()
    return Report(load.calls, load.acked, load.withdrawn, load.changes, load.errors, load.syncs,
                  load.list_path, events, url, token, server.url)


def _outbox_left(url: str) -> bool:
    from sqlalchemy import func, select

    from tidehash.registry.server import schema
    from tidehash.registry.server.db import Database

    db = Database(url, migrate=False)
    try:
        with db.connect() as conn:
            return conn.execute(select(func.count()).select_from(schema.outbox)).scalar_one() > 0
    finally:
        db.close()


# ---------------------------------------------------------------------------- checks

def check(report: Report) -> dict:
    """Asserts that nothing acknowledged was lost and the change log is whole; returns
    counts."""
    from tidehash.formats.binary import load_list
    from tidehash.registry.server import schema
    from tidehash.registry.server.db import Database

    db = Database(report.db_url, migrate=False)
    try:
        with db.connect() as conn:
            entries = conn.execute(schema.entry.select()).all()
            cases = {r.id for r in conn.execute(schema.case.select())}
            log = conn.execute(schema.change.select().order_by(schema.change.c.seq)).all()
            outbox = conn.execute(schema.outbox.select()).all()
    finally:
        db.close()
    by_case = defaultdict(dict)
    for e in entries:
        by_case[e.case_id][e.item] = e
    # every 201 is in the database with both of its items, hashes as sent
    for made, items in report.acked_cases:
        assert made["case_id"] in cases, made["case_id"]
        stored = by_case[made["case_id"]]
        assert sorted(stored) == list(range(len(items))), (made["case_id"], sorted(stored))
        for n, item in enumerate(items):
            assert bytes(stored[n].pdq).hex() == item["pdq"]
            assert bytes(stored[n].md5).hex() == item["md5"]
    # every acknowledged withdrawal holds
    for case_id, items in report.acked_withdrawals:
        for n in (items if items is not None else sorted(by_case[case_id])):
            assert by_case[case_id][n].status == "withdrawn", (case_id, n)
    # nothing left unpublished once the load has stopped
    assert outbox == []
    # the change log: seq 1..N, each entry added at most once, removed at most once, and
    # removed only after it was added; it agrees with the entries' added / removed seqs
    assert [c.seq for c in log] == list(range(1, len(log) + 1))
    ops = Counter((c.entry_id, c.op) for c in log)
    assert max(ops.values(), default=1) == 1, ops.most_common(3)
    added = {c.entry_id: c.seq for c in log if c.op == "upsert"}
    removed = {c.entry_id: c.seq for c in log if c.op == "delete"}
    assert all(e in added and added[e] < s for e, s in removed.items())
    for e in entries:
        assert added.get(e.id) == e.added_seq and removed.get(e.id) == e.removed_seq, e.id
    # an acknowledged entry is published, unless its withdrawal came first (an entry
    # withdrawn before its publication is never published: no change at all)
    for made, items in report.acked_cases:
        for n in range(len(items)):
            e = by_case[made["case_id"]][n]
            assert e.id in added or e.status == "withdrawn", e.id
    # what the follower saw through the API: the same log, no gap, no repeat
    seen = [c["seq"] for c in report.changes]
    assert seen == list(range(1, len(log) + 1)), (seen[:5], len(seen), len(log))
    # the synced list is the active set
    active = {e.id for e in entries if e.added_seq is not None and e.removed_seq is None}
    hl = load_list(report.list_path)
    assert {int(i) for i in hl.pdq.ids} == active  # every entry here has a PDQ
    return {"cases": len(report.acked_cases), "withdrawals": len(report.acked_withdrawals),
            "changes": len(log), "active": len(active)}


# ---------------------------------------------------------------------------- figures

def percentile(values: list, q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def figures(report: Report) -> dict:
    ev = report.events
    steady = [c for c in report.calls if c.phase == "steady"]
    span = ev.get("pg-down", ev["server-down"]) - ev["steady"]
    out: dict = {"ops": {}, "outage": {}, "recovery_s": {}}
    for op in sorted({c.op for c in report.calls}):
        ok = [c.seconds for c in steady if c.op == op and c.status == 200]
        out["ops"][op] = {"per_s": len(ok) / span, "p50_ms": percentile(ok, .5) * 1e3,
                          "p95_ms": percentile(ok, .95) * 1e3,
                          "p99_ms": percentile(ok, .99) * 1e3, "calls": len(ok)}
    for phase in (p for p in PHASES if p in ev):
        out["outage"][phase] = dict(sorted(Counter(
            str(c.status) for c in report.calls if c.phase == phase).items()))
    for what, since in (("pg", ev.get("pg-back")), ("server", ev["after"])):
        if since is None:  # (no PostgreSQL phases on SQLite)
            continue
        for op in OPS:
            t = ev.get(f"{what}-recovered-{op}")
            out["recovery_s"][f"{what}:{op}"] = None if t is None else t - since
    return out


def table(fig: dict) -> str:
    lines = ["op        per s    p50 ms   p95 ms   p99 ms   (steady phase, 200s only)"]
    for op, f in fig["ops"].items():
        lines.append(f"{op:9s} {f['per_s']:7.1f} {f['p50_ms']:8.1f} {f['p95_ms']:8.1f} "
                     f"{f['p99_ms']:8.1f}")
    lines.append("statuses by phase (0: no answer)")
    for phase, counts in fig["outage"].items():
        lines.append(f"  {phase:12s} " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    lines.append("first success after PostgreSQL is back / after the server restarted, s")
    for key, value in fig["recovery_s"].items():
        lines.append(f"  {key:18s} " + ("never" if value is None else f"{value:.2f}"))
    return "\n".join(lines)
