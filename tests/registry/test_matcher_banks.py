"""A matcher's banks: a source that fails or sends garbage marks its bank unhealthy
(operator page, /metrics) and leaves the others serving, and recovers; a list-file bank
reloads when the file changes (and only then); per-bank radius and minimum quality;
the configuration's refusals. Both stores."""

from __future__ import annotations

import html
import json
import os
import random

import pytest

from tidehash.registry.server.matcher.config import ConfigError, load_config
from tidehash.registry.sources.base import entry_id_of

from .broken_servers import FakeNCMEC, Reply, ncmec_entry, scripted
from .matcher_helpers import (
    flip,
    matcher_client,
    random_pdq,
    secret_file,
    wait_for,
    write_config,
    write_hex_list,
)

FAST = {"attempts": 1, "backoff": 0.01}


def _lookup(client, pdq, bank=None):
    params = {"signal_type": "pdq", "signal": pdq}
    if bank:
        params["banks"] = bank
    r = client.get("/m/raw_lookup", params=params)
    assert r.status_code == 200, r.text
    return r.json()["matches"]


def test_a_failing_source_leaves_the_others_serving(tmp_path, db_url):
    rng = random.Random(5)
    good, later = random_pdq(rng), random_pdq(rng)
    write_hex_list(tmp_path / "good.txt", [good])
    state = {"down": True}
    pages = FakeNCMEC([[ncmec_entry(7, "e1", {"pdq": later})]])

    def down(seen):
        return Reply(500, b"<error/>") if state["down"] else pages(seen)

    def garbage(seen):
        return Reply(200, b"{\"hashRecords\": [1, 2", "application/json")

    def hostile(seen):
        return Reply(200, b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
                          b"<queryResult>&a;</queryResult>")

    creds_nc = secret_file(tmp_path / "nc.json", json.dumps({"user": "u", "password": "p"}))
    creds_sn = secret_file(tmp_path / "sn.json", json.dumps({"subscription_key": "k",
                                                              "fetch_key": "f"}))
    with scripted(down) as s_down, scripted(garbage) as s_garbage, \
            scripted(hostile) as s_hostile:
        config = write_config(tmp_path / "m.toml", {
            "GOOD": {"source": "list:good.txt"},
            "DOWN": {"source": f"ncmec:{s_down.url}", "credentials_file": str(creds_nc),
                     "poll_interval": 0.2},
            "GARBAGE": {"source": f"stopncii:{s_garbage.url}",
                        "credentials_file": str(creds_sn), "poll_interval": 0.2},
            "HOSTILE": {"source": f"ncmec:{s_hostile.url}", "credentials_file": str(creds_nc),
                        "poll_interval": 0.2}})
        with matcher_client(config, db_url, source_options=FAST) as (client, m):
            assert m.wait_ready(30)
            assert client.get("/status").status_code == 200
            assert _lookup(client, good) == [entry_id_of(f"list:pdq:{good}")]
            wait_for(lambda: all(m.bank(n).last_error for n in ("DOWN", "GARBAGE", "HOSTILE")),
                     20, "the errors to be reported")
            assert m.bank("GOOD").healthy
            for name, words in (("DOWN", "HTTP 500"), ("GARBAGE", "not JSON"),
                                ("HOSTILE", "DOCTYPE")):
                bank = m.bank(name)
                assert not bank.healthy and words in bank.last_error, (name, bank.last_error)
                assert m.store.bank(bank.bank_id).last_error == bank.last_error
            metrics = client.get("/metrics").text
            assert 'tidehash_matcher_bank_healthy{bank="GOOD"} 1' in metrics
            assert 'tidehash_matcher_bank_healthy{bank="DOWN"} 0' in metrics
            page = client.get("/")
            assert page.status_code == 200
            assert "default-src 'none'" in page.headers["content-security-policy"]
            assert "unhealthy" in page.text
            assert html.escape(m.bank("HOSTILE").last_error) in page.text
            assert "<script" not in page.text and "http" not in page.text.split("</head>")[0]

            # the source comes back: the bank recovers and serves its entries
            state["down"] = False
            wait_for(lambda: _lookup(client, later, "DOWN") and m.bank("DOWN").healthy, 20,
                     "the recovered bank")
            assert m.bank("DOWN").healthy and m.bank("DOWN").last_error is None
            assert _lookup(client, good) == [entry_id_of(f"list:pdq:{good}")]


def test_a_list_bank_reloads_when_the_file_changes(tmp_path, db_url):
    rng = random.Random(6)
    a, b, c = (random_pdq(rng) for _ in range(3))
    path = tmp_path / "bank.txt"
    write_hex_list(path, [a, b])
    config = write_config(tmp_path / "m.toml", {"L": {"source": "list:bank.txt",
                                                      "poll_interval": 0.1}})
    with matcher_client(config, db_url) as (client, m):
        assert m.wait_ready(30)
        bank = m.bank("L")
        assert _lookup(client, a) and _lookup(client, b) and not _lookup(client, c)
        assert bank.source().reads == 1
        write_hex_list(path, [a, c])  # b removed, c added
        delay = wait_for(lambda: _lookup(client, c) and not _lookup(client, b), 10,
                         "the reloaded list")
        print(f"\nlist change -> matched: {delay:.3f} s")
        assert bank.source().reads == 2
        assert bank.changes_written == 2 + 2  # the first load, then one add and one removal
        # lines appended to a hex list: only they are read
        d = random_pdq(rng)
        with open(path, "a") as f:
            f.write(d + "\n")
        wait_for(lambda: _lookup(client, d), 10, "the appended line")
        assert bank.source().reads == 2 and bank.source().appends == 1
        assert _lookup(client, a) and _lookup(client, c) and not _lookup(client, b)
        write_hex_list(path, [a, c])  # d taken out again: the whole file is read
        wait_for(lambda: not _lookup(client, d), 10, "the rewritten list")
        assert bank.source().reads == 3
        # touched, same bytes: hashed, not read again
        os.utime(path, ns=(1, 1))
        wait_for(lambda: m.store.checkpoint(bank.bank_id)["mtime_ns"] == 1, 10, "the new mark")
        assert bank.source().reads == 3
    with matcher_client(config, db_url) as (client, m):  # a restart reads nothing again
        assert m.wait_ready(30)
        wait_for(lambda: m.bank("L").pulls >= 2, 10, "pulls")
        assert m.bank("L").source().reads == 0
        assert _lookup(client, a) and _lookup(client, c) and not _lookup(client, b)


def test_per_bank_radius_and_minimum_quality(tmp_path, db_url):
    rng = random.Random(7)
    low, high, base = random_pdq(rng), random_pdq(rng), random_pdq(rng)
    with open(tmp_path / "q.jsonl", "w") as f:
        f.write(json.dumps({"pdq": low, "quality": 30}) + "\n")
        f.write(json.dumps({"pdq": high, "quality": 80}) + "\n")
    write_hex_list(tmp_path / "r.txt", [base])
    config = write_config(tmp_path / "m.toml", {
        "Q": {"source": "list:q.jsonl", "min_quality": 50},
        "R": {"source": "list:r.txt", "pdq_radius": 4}})
    with matcher_client(config, db_url) as (client, m):
        assert m.wait_ready(30)
        assert not _lookup(client, low) and _lookup(client, high)
        assert _lookup(client, flip(base, 4, rng)) and not _lookup(client, flip(base, 5, rng))
        r = client.post("/v1/lookup", json={"queries": [{"pdq": high, "quality": 40}]})
        assert r.json()["results"][0]["matches"] == []  # an upload below the bank's minimum


@pytest.mark.parametrize("text, words", [
    ("", "no bank"),
    ("[bank.A]\nsource = \"ftp:x\"\n", "source kind"),
    ("[bank.A]\nsource = \"tidehash:http://h\"\n", "credentials_file"),
    ("[bank.A]\nsource = \"tidehash:http://h\"\ntoken = \"thp_x\"\n", "credentials go in a file"),
    ("[bank.A]\nsource = \"list:x\"\npdq_radius = 64\n", "pdq_radius"),
    ("[bank.A]\nsource = \"list:x\"\nmin_quality = true\n", "min_quality"),
    ("[bank.A]\nsource = \"list:x\"\nenabled = 1\n", "enabled"),
    ("[bank.\"a b\"]\nsource = \"list:x\"\n", "bank name"),
    ("[matcher]\ntoken_sha256 = \"secret\"\n[bank.A]\nsource = \"list:x\"\n", "64 hex"),
    ("not toml [", "not TOML"),
])
def test_config_refusals(tmp_path, text, words):
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert words in str(info.value)
    assert "thp_x" not in str(info.value)


def test_a_world_readable_credentials_file_is_refused(tmp_path, db_url):
    creds = tmp_path / "token"
    creds.write_text("thp_0000000000000000_secret")
    os.chmod(creds, 0o644)
    write_hex_list(tmp_path / "a.txt", [random_pdq(random.Random(1))])
    config = write_config(tmp_path / "m.toml", {
        "A": {"source": "list:a.txt"},
        "T": {"source": "tidehash:http://127.0.0.1:9", "credentials_file": str(creds)}})
    with matcher_client(config, db_url, source_options=FAST) as (client, m):
        assert m.wait_ready(30)
        bank = m.bank("T")
        assert not bank.healthy and "chmod 600" in bank.last_error
        assert "secret" not in bank.last_error
        assert "secret" not in client.get("/").text


def test_two_matcher_processes_share_one_database(tmp_path, db_url):
    """Two matchers on one database (PostgreSQL: several processes behind a load
    balancer): one of them pulls each bank, both follow it and answer the same."""
    rng = random.Random(8)
    a, b = random_pdq(rng), random_pdq(rng)
    path = tmp_path / "bank.txt"
    write_hex_list(path, [a])
    config = write_config(tmp_path / "m.toml", {"L": {"source": "list:bank.txt",
                                                      "poll_interval": 0.1}})
    with matcher_client(config, db_url) as (c1, m1), matcher_client(config, db_url) as (c2, m2):
        assert m1.wait_ready(30) and m2.wait_ready(30)
        assert [m1.bank("L").lock.held, m2.bank("L").lock.held].count(True) == 1
        assert _lookup(c1, a) == _lookup(c2, a) == [entry_id_of(f"list:pdq:{a}")]
        write_hex_list(path, [b])
        for client in (c1, c2):
            wait_for(lambda c=client: _lookup(c, b) and not _lookup(c, a), 10, "the change")
        assert m1.bank("L").source().reads + m2.bank("L").source().reads == 2


@pytest.mark.parametrize("seed", range(40))
def test_appended_lines_merge_as_a_full_sort_would(seed):
    """The pairs kept after lines are appended to a list bank (merged into the sorted
    pairs) equal the full re-sort of old then new, the later line winning a repeated
    id; the oracle is np.unique over the concatenation."""
    import numpy as np

    from tidehash.registry.server.matcher.banks import _merged_pairs, _sorted_pairs
    rng = np.random.default_rng(seed)
    span = int(rng.choice([5, 50, 10_000, 2**62]))
    old_ids = np.unique(rng.integers(-span, span, int(rng.integers(0, 300))))
    old_dig = rng.integers(-2**62, 2**62, old_ids.size)
    n_new = int(rng.integers(0, 40))
    new_raw = rng.integers(-span - 3, span + 3, n_new)
    if old_ids.size and n_new:  # some appended lines repeat listed ids
        take = rng.random(n_new) < 0.3
        new_raw[take] = rng.choice(old_ids, int(take.sum()))
    new_dig_raw = rng.integers(-2**62, 2**62, n_new)
    got = _merged_pairs((old_ids, old_dig), _sorted_pairs(new_raw.tolist(),
                                                          new_dig_raw.tolist()))
    ids = np.concatenate([old_ids, new_raw])
    dig = np.concatenate([old_dig, new_dig_raw])
    uniq, first = np.unique(ids[::-1], return_index=True)
    assert got[0].dtype == np.int64 and got[1].dtype == np.int64
    assert got[0].tolist() == uniq.tolist()
    assert got[1].tolist() == dig[::-1][first].tolist()


def _pdqs(page) -> list[str]:
    return [e.pdq for e in page.added]


def _first_pull(path):
    from tidehash.registry.server.matcher.listbank import ListSource
    pages = list(ListSource(str(path)).fetch(None))
    assert len(pages) == 1 and pages[0].reset and pages[0].checkpoint["lines"]
    return pages[0].checkpoint


def test_appended_lines_are_taken_before_the_file_is_hashed(tmp_path):
    """A hex list's appended lines come in a page before the whole file is hashed (the
    hash of a 10M-line list reads 650 MB); when the hash then shows the old part changed,
    the whole list is read again in the same pull."""
    from tidehash.registry.server.matcher.listbank import ListSource
    rng = random.Random(11)
    a, b, c, d = (random_pdq(rng) for _ in range(4))
    path = tmp_path / "bank.txt"
    write_hex_list(path, [a, b])
    ck = _first_pull(path)
    with open(path, "a") as f:
        f.write(c + "\n")
    source = ListSource(str(path))
    pull = source.fetch(ck)
    first = next(pull)
    assert _pdqs(first) == [c] and not first.reset
    assert first.checkpoint["sha256"] is None  # not hashed yet
    # the old part changes (same size) before the pull goes on to hash the file
    with open(path, "r+") as f:
        f.write(d)
    rest = list(pull)
    assert len(rest) == 1 and rest[0].reset and sorted(_pdqs(rest[0])) == sorted([d, b, c])
    assert rest[0].checkpoint["sha256"] is not None
    assert source.appends == 1 and source.reads == 1
    # an append whose old part is intact: the lines, then the checked hash, nothing read
    ck = rest[0].checkpoint
    with open(path, "a") as f:
        f.write(a + "\n")
    source = ListSource(str(path))
    pages = list(source.fetch(ck))
    assert [_pdqs(p) for p in pages] == [[a], []] and not any(p.reset for p in pages)
    import hashlib
    assert pages[-1].checkpoint["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert pages[-1].checkpoint["size"] == path.stat().st_size
    assert source.appends == 1 and source.reads == 0
    assert list(ListSource(str(path)).fetch(pages[-1].checkpoint)) == []


def test_a_pull_stopped_between_the_lines_and_the_hash_resumes(tmp_path):
    """The checkpoint of the appended lines' page (a restart before the hash): the next
    pull checks the old part, then takes only lines appended after it, or reads the whole
    list when the old part changed."""
    import hashlib

    from tidehash.registry.server.matcher.listbank import ListSource
    rng = random.Random(12)
    a, b, c, d = (random_pdq(rng) for _ in range(4))
    path = tmp_path / "bank.txt"
    write_hex_list(path, [a])
    base = _first_pull(path)
    with open(path, "a") as f:
        f.write(b + "\n")
    unverified = next(ListSource(str(path)).fetch(base)).checkpoint
    assert unverified["sha256"] is None
    # nothing more: only the hash
    pages = list(ListSource(str(path)).fetch(unverified))
    assert [_pdqs(p) for p in pages] == [[]]
    assert pages[0].checkpoint["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    # a line appended after the stop: just it
    with open(path, "a") as f:
        f.write(c + "\n")
    source = ListSource(str(path))
    pages = list(source.fetch(unverified))
    assert [_pdqs(p) for p in pages] == [[c]] and not pages[0].reset
    assert pages[0].checkpoint["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    # the old part rewritten since: the whole list
    write_hex_list(path, [d, b, c])
    source = ListSource(str(path))
    pages = list(source.fetch(unverified))
    assert len(pages) == 1 and pages[0].reset and sorted(_pdqs(pages[0])) == sorted([d, b, c])
    assert source.reads == 1


def test_lines_appended_during_a_pull_are_the_next_pulls(tmp_path):
    """A line appended while a pull hashes the file (after the appended lines' page) is
    left to the next pull, and the checkpoint's hash is of exactly the bytes it names,
    so the next pull takes that line alone instead of reading the list again."""
    import hashlib

    from tidehash.registry.server.matcher.listbank import ListSource
    rng = random.Random(13)
    a, b, c = (random_pdq(rng) for _ in range(3))
    path = tmp_path / "bank.txt"
    write_hex_list(path, [a])
    ck = _first_pull(path)
    with open(path, "a") as f:
        f.write(b + "\n")
    source = ListSource(str(path))
    pull = source.fetch(ck)
    assert _pdqs(next(pull)) == [b]
    size_b = path.stat().st_size
    with open(path, "a") as f:  # while the pull goes on to hash the file
        f.write(c + "\n")
    rest = list(pull)
    got = [_pdqs(p) for p in rest]  # (each page's entries can be read once)
    assert got in ([[c]], [[]])
    ck = rest[-1].checkpoint
    data = path.read_bytes()
    assert ck["sha256"] == hashlib.sha256(data[:ck["size"]]).hexdigest()
    assert ck["size"] in (size_b, len(data))
    later = ListSource(str(path))
    pages = list(later.fetch(ck))
    taken = got + [_pdqs(p) for p in pages]
    assert sorted(sum(taken, [])) == [c] and later.reads == 0 and source.reads == 0
