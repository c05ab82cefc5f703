"""A matcher following a live tidehash registry three ways at once (its own feed, its
NCMEC-style view, its StopNCII-style view: real uvicorn on loopback) ends with their
active sets after random submissions and withdrawals; an entry is matchable, and a
withdrawn one stops matching, within a bounded time (printed); a restart resumes from
the stored checkpoints (the registry's audit log shows no list download after it)."""

from __future__ import annotations

import json
import random
import time

from sqlalchemy import func, select

from tidehash.registry.server import schema
from tidehash.registry.sources.base import entry_id_of

from .interchange_helpers import live_registry
from .matcher_helpers import (
    matcher_client,
    random_md5,
    random_pdq,
    secret_file,
    wait_for,
    write_config,
)

PERSON_MEMBER = 1  # the NCMEC view's member of person submissions (views.TIER_MEMBERS)


def _config(tmp_path, live):
    token = live.token
    th = secret_file(tmp_path / "th.token", token)
    nc = secret_file(tmp_path / "nc.json", json.dumps({"user": "platform", "password": token}))
    sn = secret_file(tmp_path / "sn.json", json.dumps({"subscription_key": token,
                                                        "fetch_key": token}))
    return write_config(tmp_path / "matcher.toml", {
        "TH": {"source": f"tidehash:{live.url}", "credentials_file": str(th),
               "poll_interval": 0.2},
        "NC": {"source": f"ncmec:{live.url}/ncmec", "credentials_file": str(nc),
               "poll_interval": 0.5},
        "SN": {"source": f"stopncii:{live.url}/stopncii/v1", "credentials_file": str(sn),
               "poll_interval": 0.5}})


def _image(rng):
    return {"kind": "image", "pdq": random_pdq(rng), "quality": rng.randint(50, 100),
            "md5": random_md5(rng)}


def _expected(live) -> dict:
    active = live.active()
    pdqs = {e["pdq"] for e in active.values() if e.get("pdq")}
    return {
        "TH": {int(i, 16) for i in active},
        "NC": {entry_id_of(f"ncmec:{PERSON_MEMBER}:{i}") for i in active},
        "SN": {entry_id_of(f"stopncii:ImagePDQ:{p}") for p in pdqs},
    }


def _held(m) -> dict:
    out = {}
    for b in m.banks:
        _head, rows = m.store.active(b.bank_id)
        ids = {int(r.id) for r in rows}
        # the index holds what the database holds
        assert {int(i, 16) for i in b.state.active_ids()} == ids, b.name
        out[b.name] = ids
    return out


def _downloads(live) -> int:
    with live.db.connect() as conn:
        return int(conn.execute(select(func.count()).where(
            schema.audit.c.action == "list.download")).scalar_one())


def test_follows_a_live_registry_and_its_views(db_url, tmp_path):
    rng = random.Random(17)
    with live_registry(db_url, tmp_path) as live:
        cases = [live.submit(*[_image(rng) for _ in range(rng.randint(1, 2))])
                 for _ in range(8)]
        config = _config(tmp_path, live)
        with matcher_client(config, db_url) as (client, m):
            assert m.wait_ready(60)

            # a new entry: matchable in bounded time; withdrawn: gone in bounded time
            item = _image(rng)
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
                cases.append(live.submit(_image(rng)))
            live.settle(5)
            expected = _expected(live)
            wait_for(lambda: _held(m) == expected, 45, "the banks to hold the active sets")
            assert all(expected.values())
            assert all(b.healthy and b.last_error is None for b in m.banks)
            before = _downloads(live)

        # a restart resumes from the checkpoints: nothing is downloaded again
        with matcher_client(config, db_url) as (client, m):
            assert m.wait_ready(60)
            assert _held(m) == expected
            wait_for(lambda: all(b.pulls >= 2 for b in m.banks), 30, "pulls after the restart")
            assert sum(b.changes_written for b in m.banks) == 0
            assert _downloads(live) == before
            # and goes on following
            item = _image(rng)
            live.submit(item)
            q = {"signal_type": "pdq", "signal": item["pdq"], "banks": "TH"}
            wait_for(lambda: client.get("/m/raw_lookup", params=q).json()["matches"], 10,
                     "an entry added after the restart")
            assert _downloads(live) > before
