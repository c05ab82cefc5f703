"""``tidehash sync --from ncmec`` and ``--from stopncii`` against a live tidehash
registry's NCMEC and StopNCII views (a real uvicorn on loopback), on SQLite and
PostgreSQL: after random submit / withdraw / remove sequences the synced list file
holds exactly the registry's active set (for StopNCII: the active image PDQs and
video MD5s), through the same Source code a matcher's bank uses."""

from __future__ import annotations

import json
import random

import pytest

from tidehash.formats.binary import load_list
from tidehash.registry import Client, listsync
from tidehash.registry.sources import entry_id_of, open_source

from .api_helpers import image
from .client_helpers import cli
from .interchange_helpers import NCMEC_LAG, live_registry
from .source_helpers import credentials_file, held
from .test_interchange_pytx import random_ops


@pytest.fixture(name="live")
def live_fixture(db_url, tmp_path):
    with live_registry(db_url, tmp_path) as live:
        yield live


def ncmec_source(live, **options):
    return open_source("ncmec", {"url": live.url + "/ncmec", "user": "any",
                                 "password": live.token}, **options)


def stopncii_source(live, **options):
    return open_source("stopncii", {"url": live.url + "/stopncii/v1",
                                    "subscription_key": live.token,
                                    "fetch_key": live.token}, **options)


def ncmec_expected(active: dict) -> dict:
    out = {s: set() for s in ("pdq", "md5", "sha256", "vpdq")}
    for e in active.values():
        fid = f"ncmec:1:{e['id']}"
        for s in ("pdq", "md5", "sha256"):
            if s in e and (s != "pdq" or e["kind"] == "image"):
                out[s].add((entry_id_of(fid), e[s], None, fid))
    return out


def stopncii_expected(active: dict) -> dict:
    out = {s: set() for s in ("pdq", "md5", "sha256", "vpdq")}
    for e in active.values():
        if e["kind"] == "image" and "pdq" in e:
            fid = f"stopncii:ImagePDQ:{e['pdq']}"
            out["pdq"].add((entry_id_of(fid), e["pdq"], None, fid))
        elif e["kind"] == "video" and "md5" in e:
            fid = f"stopncii:VideoMD5:{e['md5']}"
            out["md5"].add((entry_id_of(fid), e["md5"], None, fid))
    return out


@pytest.mark.parametrize("kind", ["ncmec", "stopncii"])
def test_synced_list_is_the_active_set_after_random_writes(live, kind, tmp_path):
    rng = random.Random(7 if kind == "ncmec" else 8)
    listed = tmp_path / "list.thl"
    make, expected = (ncmec_source, ncmec_expected) if kind == "ncmec" else \
        (stopncii_source, stopncii_expected)
    for round_ in range(3):
        random_ops(live, rng, 12)
        live.settle(NCMEC_LAG)
        # small pages, so that a round spans several
        result = listsync.sync_source(listed, make(live, page_size=4))
        assert result["errors"] == 0 and result["refused"] == [], result
        assert held(load_list(listed)) == expected(live.active()), round_
        assert result["entries"] == len({i for v in expected(live.active()).values()
                                          for i, *_ in v})
    # a sync with nothing new changes nothing
    before = listed.read_bytes()
    again = listsync.sync_source(listed, make(live, page_size=4))
    assert (again["added"], again["removed"], again["updated"]) == (0, 0, 0)
    assert listed.read_bytes() == before


def test_ncmec_many_entries_in_one_second_page_through(live, tmp_path):
    """ThreatExchange #1679: more entries in one second than a page holds."""
    for i in range(0, 60, 10):
        live.submit(*[image(1000 + i + j) for j in range(10)])
    live.settle(NCMEC_LAG)
    listed = tmp_path / "list.thl"
    result = listsync.sync_source(listed, ncmec_source(live, page_size=7))
    assert result["pages"] == 9 and result["entries"] == 60
    assert held(load_list(listed)) == ncmec_expected(live.active())


def test_ncmec_an_interrupted_window_resumes_without_skipping(live, tmp_path):
    """ThreatExchange #1744: a sync stopped inside a window goes on with that window's
    own bounds, whatever was published since; the next window then brings the rest."""
    live.submit(*[image(2000 + j) for j in range(9)])
    live.settle(NCMEC_LAG)
    listed = tmp_path / "list.thl"
    source = ncmec_source(live, page_size=4)
    pages = source.fetch(None)
    first = next(pages)
    pages.close()
    assert first.checkpoint["next"] and len(first.added) == 4
    # what a sync stopped after its first page leaves: that page and its checkpoint
    hl, _ = listsync.apply_changes(listsync.HashList({}, format="registry"),
                                   [{"op": "upsert", "entry": e.wire()} for e in first.added],
                                   source.url)
    listsync.save_list(hl, listed, extra={"registry": {
        "url": source.url, "source": "ncmec", "checkpoint": first.checkpoint,
        "entries": 4}})
    later = live.submit(image(2100), image(2101))
    live.withdraw(live.cases[0], [0])
    live.settle(NCMEC_LAG)
    result = listsync.sync_source(listed, source)
    assert result["checkpoint"] == {"time": first.checkpoint["to"]}
    state = load_list(listed).extra["registry"]["checkpoint"]
    assert state == {"time": first.checkpoint["to"]}
    # the window finished; the entries published after it come with the next one
    result = listsync.sync_source(listed, source)
    assert held(load_list(listed)) == ncmec_expected(live.active())
    assert result["checkpoint"]["time"] > first.checkpoint["to"]
    assert later["case_id"]


def test_the_cli_syncs_from_both_views_and_refuses_open_credentials(live, tmp_path):
    live.submit(image(3000), image(3001))
    live.settle(NCMEC_LAG)
    ncmec = credentials_file(tmp_path / "ncmec.json", {
        "url": live.url + "/ncmec", "user": "acme", "password": live.token})
    stopncii = credentials_file(tmp_path / "stopncii.json", {
        "url": live.url + "/stopncii/v1", "subscription_key": live.token,
        "fetch_key": live.token})
    for kind, creds in (("ncmec", ncmec), ("stopncii", stopncii)):
        listed = tmp_path / f"{kind}.thl"
        r = cli("sync", "--from", kind, "--credentials", creds, "--into", listed)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["from"] == kind and out["entries"] == 2 and out["added"] == 2
        assert out["errors"] == 0 and out["refused"] == []
        assert live.token not in r.stdout + r.stderr
        # a list synced from one source is not synced from another
        other = "stopncii" if kind == "ncmec" else "ncmec"
        r = cli("sync", "--from", other, "--credentials",
                stopncii if kind == "ncmec" else ncmec, "--into", listed)
        assert r.returncode == 1 and f"synced from {kind}" in r.stderr
    open_file = tmp_path / "open.json"
    open_file.write_text(json.dumps({"url": live.url + "/ncmec", "user": "a",
                                     "password": live.token}))
    open_file.chmod(0o644)
    r = cli("sync", "--from", "ncmec", "--credentials", open_file, "--into",
            tmp_path / "x.thl")
    assert r.returncode == 2 and "chmod 600" in r.stderr and live.token not in r.stderr
    r = cli("sync", "--from", "ncmec", "--into", tmp_path / "x.thl")
    assert r.returncode == 2 and "--credentials" in r.stderr
    # a wrong password: a clear error, no list, the secret nowhere
    wrong = credentials_file(tmp_path / "wrong.json", {
        "url": live.url + "/ncmec", "user": "a", "password": "thp_wrong"})
    r = cli("sync", "--from", "ncmec", "--credentials", wrong, "--into", tmp_path / "w.thl")
    assert r.returncode == 1 and "401" in r.stderr and "thp_wrong" not in r.stderr
    assert not (tmp_path / "w.thl").exists() and not (tmp_path / "x.thl").exists()
    # --from tidehash with a credentials file is the registry's own sync
    mine = credentials_file(tmp_path / "tidehash.json", {"url": live.url,
                                                         "token": live.token})
    r = cli("sync", "--credentials", mine, "--into", tmp_path / "t.thl")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["mode"] == "snapshot"


def test_the_tidehash_source_pages_the_change_feed(live, tmp_path):
    """The registry's own feed as a Source (what a matcher's bank follows): registry ids,
    case pseudonyms as labels, qualities kept; its checkpoint resumes."""
    from .test_client_listsync import expected

    rng = random.Random(9)
    listed = tmp_path / "list.thl"
    source = open_source("tidehash", {"url": live.url, "token": live.token}, page_size=5)
    for round_ in range(2):
        random_ops(live, rng, 10)
        live.settle(0)
        result = listsync.sync_source(listed, source)
        assert result["errors"] == 0
        # the platform's own snapshot: the active set with its case pseudonyms
        snapshot = Client(live.url, token=live.token).snapshot()
        state = {int(e["id"], 16): e for e in snapshot}
        assert set(state) == {int(i, 16) for i in live.active()}
        assert held(load_list(listed)) == expected(state), round_
    checkpoint = load_list(listed).extra["registry"]["checkpoint"]
    assert set(checkpoint) == {"cursor", "seq"} and checkpoint["seq"] > 0
    assert list(source.fetch(checkpoint))[0].added == []
    # from nothing: the snapshot, in pages, the checkpoint only on the last
    pages = list(source.fetch(None))
    assert pages[0].reset and not any(p.reset for p in pages[1:])
    assert [p.checkpoint for p in pages[:-1]] == [None] * (len(pages) - 1)
    assert pages[-1].checkpoint["seq"] == checkpoint["seq"]
    assert sorted(e.id for p in pages for e in p.added) == sorted(state)
    # a compacted cursor: the snapshot again, replacing what the list held
    from tidehash.registry.server.changelog import Changelog

    random_ops(live, rng, 8)
    live.settle(0)
    Changelog(live.db, live.keys).compact(0)
    result = listsync.sync_source(listed, source)
    assert result["pages"] >= 1
    state = {int(e["id"], 16): e for e in Client(live.url, token=live.token).snapshot()}
    assert held(load_list(listed)) == expected(state)
