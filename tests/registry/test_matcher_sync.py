"""A matcher following a live tidehash registry three ways at once (its own feed, its
NCMEC-style view, its StopNCII-style view: real uvicorn on loopback) ends with their
active sets after random submissions and withdrawals; an entry is matchable, and a
withdrawn one stops matching, within a bounded time (printed); a restart resumes from
the stored checkpoints (the registry's audit log shows no list download after it)."""

from __future__ import annotations

import random
import time

from sqlalchemy import func, select

from tidehash.registry.server import schema
from tidehash.registry.sources.base import entry_id_of

from .interchange_helpers import live_registry
from .matcher_helpers import live_banks_config, matcher_client, random_image, wait_for

PERSON_MEMBER = 1  # the NCMEC view's member of person submissions (views.TIER_MEMBERS)


def _expected(live) -> dict:
    active = live.active()
    pdqs = {e["pdq"] for e in active.values() if e.get("pdq")}
    return {
        "TH": {int(i, 16) for i in active},
        "NC": {entry_id_of(f"ncmec:{PERSON_MEMBER}:{i}") for i in active},
        "SN": {entry_id_of(f"stopncii:ImagePDQ:{p}") for p in pdqs},
    }


def _held(m) -> dict:
    """bank -> (the ids its database rows hold, the ids its index holds)."""
    out = {}
    for b in m.banks:
        if b.name not in ("TH", "NC", "SN"):
            continue
        _head, rows = m.store.active(b.bank_id)
        out[b.name] = ({int(r.id) for r in rows}, {int(i, 16) for i in b.state.active_ids()})
    return out


def _holds(m, expected) -> bool:
    return _held(m) == {name: (ids, ids) for name, ids in expected.items()}


def _downloads(live) -> int:
    with live.db.connect() as conn:
        return int(conn.execute(select(func.count()).where(
            schema.audit.c.action == "list.download")).scalar_one())


def test_follows_a_live_registry_and_its_views(db_url, tmp_path):
    rng = random.Random(17)
    with live_registry(db_url, tmp_path) as live:
        cases = [live.submit(*[random_image(rng) for _ in range(rng.randint(1, 2))])
                 for _ in range(8)]
        config = live_banks_config(tmp_path, live)
        with matcher_client(config, db_url) as (client, m):
            assert m.wait_ready(60)

            # a new entry: matchable in bounded time; withdrawn: gone in bounded time
            item = random_image(rng)
            started = time.monotonic()
            case = live.submit(item)
            q = {"signal_type": "pdq", "signal": item["pdq"], "banks": "TH"}
            added = wait_for(lambda: client.get("/m/raw_lookup", params=q).json()["matches"],
                             10, "the new entry matching")
            print(f"\nnew entry -> first match: {time.monotonic() - started:.3f} s "
                  f"(polled {added:.3f} s)")
            started = time.monotonic()
            live.withdraw(case)
            wait_for(lambda: not client.get("/m/raw_lookup", params=q).json()["matches"], 10,
                     "the withdrawn entry to stop matching")
            print(f"withdrawal -> no match: {time.monotonic() - started:.3f} s")

            # random withdrawals and submissions while the matcher follows
            for c in rng.sample(cases, 4):
                live.withdraw(c, [0])
            for _ in range(4):
                cases.append(live.submit(random_image(rng)))
            expected = _expected(live)
            wait_for(lambda: _holds(m, expected), 45, "the banks (rows and index) to hold the "
                     "active sets")
            assert all(expected.values())
            assert all(b.healthy and b.last_error is None for b in m.banks)
            before = _downloads(live)

        # a restart resumes from the checkpoints: nothing is downloaded again
        with matcher_client(config, db_url) as (client, m):
            assert m.wait_ready(60)
            assert _holds(m, expected)
            wait_for(lambda: all(b.pulls >= 2 for b in m.banks), 30, "pulls after the restart")
            assert sum(b.changes_written for b in m.banks) == 0
            assert _downloads(live) == before
            # and goes on following
            item = random_image(rng)
            live.submit(item)
            q = {"signal_type": "pdq", "signal": item["pdq"], "banks": "TH"}
            wait_for(lambda: client.get("/m/raw_lookup", params=q).json()["matches"], 10,
                     "an entry added after the restart")
            assert _downloads(live) > before
