#!/usr/bin/env python
"""What auditing list downloads costs the platform routes: GET /v1/list/changes (a
page of entries, and an empty poll at the head) and GET /v1/list/snapshot, with the
audit rows written and with the recorder switched off in this process (the "before"),
in alternating rounds, through the app in-process (FastAPI's TestClient: the figure is
the route's own cost, without a network).

    python benchmarks/bench_audit.py                          # SQLite, 5,000 entries
    python benchmarks/bench_audit.py --db postgresql+psycopg://...  --entries 20000
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
import warnings

from _wrapper import prepare

prepare()

from tidehash.registry.server import audit  # noqa: E402
from tidehash.registry.server.app import create_app  # noqa: E402
from tidehash.registry.server.changelog import Changelog  # noqa: E402
from tidehash.registry.server.db import Database  # noqa: E402
from tidehash.registry.server.keys import Keys  # noqa: E402
from tidehash.registry.server.settings import Settings  # noqa: E402
from tidehash.registry.server.store import Store  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402


def item(seed: int) -> dict:
    h = hashlib.sha256(b"%d" % seed).hexdigest()
    return {"kind": "image", "pdq": h, "quality": 90,
            "md5": hashlib.md5(b"%d" % seed).hexdigest(), "sha256": h[::-1]}


def fill(url: str, entries: int) -> str:
    db = Database(url)
    try:
        keys = Keys.load(db)
        store = Store(db, keys)
        for start in range(0, entries, 100):
            store.create_case([item(i) for i in range(start, min(start + 100, entries))])
        Changelog(db, keys).publish()
        return store.add_platform("bench")["token"]
    finally:
        db.close()


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default=None, help="a database URL (default: a temporary SQLite)")
    ap.add_argument("--entries", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=40, help="changes requests per round")
    args = ap.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="tidehash-bench-audit-")
    url = args.db or f"sqlite:///{os.path.join(tmp, 'r.db')}"
    token = fill(url, args.entries)
    headers = {"Authorization": f"Bearer {token}"}
    # window 60 s: the empty polls are counted in memory (the default); window 0 would
    # write a row for each
    app = create_app(Settings(db_url=url, publish_delay=0, pow_difficulty=0))
    figures: dict = {}
    with TestClient(app) as client:
        downloads = app.state.services.downloads
        real = downloads.record, downloads.finish
        head_cursor = client.get("/v1/list/changes", params={"limit": 10_000},
                                 headers=headers).json()
        while head_cursor["more"]:
            head_cursor = client.get("/v1/list/changes", params={
                "cursor": head_cursor["cursor"], "limit": 10_000}, headers=headers).json()
        cases = {
            "changes, 100 entries": lambda: client.get(
                "/v1/list/changes", params={"limit": 100}, headers=headers),
            "changes, empty poll": lambda: client.get(
                "/v1/list/changes", params={"cursor": head_cursor["cursor"]}, headers=headers),
            f"snapshot, {args.entries} entries": lambda: client.get(
                "/v1/list/snapshot", headers=headers),
        }
        for rnd in range(args.rounds):
            for audited in ((True, False) if rnd % 2 == 0 else (False, True)):
                if audited:
                    downloads.record, downloads.finish = real
                else:
                    downloads.record = downloads.finish = lambda *a, **k: None
                for name, fn in cases.items():
                    n = 3 if name.startswith("snapshot") else args.requests
                    figures.setdefault((name, audited), []).extend(timed(fn, n))
        downloads.record, downloads.finish = real
        rows = len(audit.rows(app.state.services.db))
    store = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    print(f"audit cost on {store}, {args.entries} entries, {args.rounds} rounds "
          f"(median ms per request; {rows} audit rows written)")
    print(f"{'route':<28} {'before':>9} {'audited':>9} {'cost':>9}")
    for name in cases:
        before = statistics.median(figures[(name, False)]) * 1000
        after = statistics.median(figures[(name, True)]) * 1000
        print(f"{name:<28} {before:9.2f} {after:9.2f} {after - before:+9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
