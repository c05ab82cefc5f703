"""The sync list's merging on its own: snapshots and pages of changes built by hand,
applied to list files and checked against a dict / set oracle (what the registry's
entries are after the changes), through save_list / load_list every time."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tidehash import Matcher
from tidehash.formats import load_list, save_list
from tidehash.formats.model import sorted_rows
from tidehash.registry import listsync
from tidehash.registry.listsync import (
    SnapshotBuilder,
    SyncError,
    apply_changes,
    fast_sorted_rows,
    find_rows,
    member_mask,
)

SOURCE = "http://registry.test"


def hexid(n: int) -> str:
    return f"{n:016x}"


def frames(seed: int, n: int = 3) -> list:
    rng = np.random.default_rng(seed)
    return [{"frame": i, "quality": int(rng.integers(0, 101)),
             "pdq": rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex(),
             "timestamp": float(i)} for i in range(n)]


def pool_hex(rng, n: int, width: int) -> list:
    return [rng.integers(0, 256, width, dtype=np.uint8).tobytes().hex() for _ in range(n)]


def make_entry(id_: int, rng, pools: dict) -> dict:
    """An image or a video entry whose hashes come from small pools (so that hashes
    repeat across entries, as the same picture submitted twice does)."""
    e = {"id": hexid(id_), "case": f"{int(rng.integers(0, 1 << 40)):022x}"}
    if rng.random() < 0.2:
        e.update(kind="video", vpdq=frames(int(rng.integers(0, 4))))
    else:
        e.update(kind="image", pdq=pools["pdq"][int(rng.integers(len(pools["pdq"])))],
                 quality=int(rng.integers(0, 101)))
    for name in ("md5", "sha256"):
        if rng.random() < 0.85:
            e[name] = pools[name][int(rng.integers(len(pools[name])))]
    if not any(k in e for k in ("pdq", "md5", "sha256", "vpdq")):
        e["md5"] = pools["md5"][0]
    return e


def expected(state: dict) -> dict:
    """signal -> the set of (id, hash, quality, label) the list must hold."""
    out = {s: set() for s in ("pdq", "md5", "sha256", "vpdq")}
    for id_, e in state.items():
        for s in ("pdq", "md5", "sha256"):
            if s in e:
                out[s].add((id_, e[s], e.get("quality") if s == "pdq" else None, e["case"]))
        if "vpdq" in e:
            lines = tuple(f"{f['frame']},{f['quality']},{f['pdq']},{f['timestamp']:.3f}"
                          for f in e["vpdq"])
            out["vpdq"].add((id_, lines, None, e["case"]))
    return out


def held(hl) -> dict:
    out = {s: set() for s in ("pdq", "md5", "sha256", "vpdq")}
    for s in hl.signals:
        for rec in hl[s].records():
            value = tuple(f.to_line() for f in rec.features) if s == "vpdq" else rec.hash
            assert rec.source == SOURCE
            out[s].add((rec.id, value, rec.quality, rec.label))
    return out


def check_invariants(hl) -> None:
    for s in hl.signals:
        g = hl[s]
        if s == "vpdq":
            continue
        rows = np.asarray(g.hashes)
        # rows are unique, and every entry's hash is its row's
        assert np.unique(rows.view(f"V{rows.shape[1]}").ravel()).shape[0] == rows.shape[0]
        assert g.has_duplicates == (g.n_entries != len(g))
        if s in ("md5", "sha256"):
            np.testing.assert_array_equal(np.asarray(g.sorted_rows), sorted_rows(rows))


def roundtrip(hl, tmp_path, name="l.thl"):
    path = tmp_path / name
    save_list(hl, path, extra={"registry": {"url": SOURCE}})
    return load_list(path)  # verify=True: checksums, CSR tables, sorted rows


def snapshot_of(entries: list, blocks: int = 2):
    b = SnapshotBuilder(SOURCE)
    step = max(1, len(entries) // blocks)
    for at in range(0, len(entries), step):
        b.add(entries[at:at + step])
    return b.finish()


# ----------------------------------------------------------------------------- pieces
def test_member_mask_is_isin():
    rng = np.random.default_rng(1)
    values = rng.integers(0, 1 << 63, 50_000, dtype=np.int64)
    picked = np.unique(np.concatenate([rng.choice(values, 700),
                                       rng.integers(0, 1 << 63, 300, dtype=np.int64)]))
    np.testing.assert_array_equal(member_mask(values, picked), np.isin(values, picked))
    # sequential ids (not random) and edge sizes
    seq = np.arange(10_000, dtype=np.int64)
    np.testing.assert_array_equal(member_mask(seq, np.array([0, 9_999], np.int64)),
                                  np.isin(seq, [0, 9_999]))
    assert member_mask(seq, np.empty(0, np.int64)).sum() == 0
    assert member_mask(np.empty(0, np.int64), seq).shape == (0,)


def test_find_rows_is_a_dict_lookup():
    rng = np.random.default_rng(2)
    rows = np.unique(rng.integers(0, 256, (20_000, 16), dtype=np.uint8), axis=0)
    rng.shuffle(rows)
    queries = np.concatenate([rows[rng.choice(len(rows), 500)],
                              rng.integers(0, 256, (500, 16), dtype=np.uint8)])
    # rows that share the first 8 bytes with a listed one but differ after
    near = rows[:50].copy()
    near[:, 15] ^= 1
    queries = np.concatenate([queries, near])
    where = {r.tobytes(): i for i, r in enumerate(rows)}
    want = [where.get(q.tobytes(), -1) for q in queries]
    assert find_rows(rows, queries).tolist() == want
    assert find_rows(rows[:0], queries).tolist() == [-1] * len(queries)


def test_fast_sorted_rows_equals_byte_order():
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 256, (5_000, 32), dtype=np.uint8)
    rows[100:140, :8] = rows[7, :8]  # long runs of equal first 8 bytes
    rows[200:203, :31] = rows[9, :31]
    rows = np.unique(rows, axis=0)
    rng.shuffle(rows)
    np.testing.assert_array_equal(fast_sorted_rows(rows), sorted_rows(rows))
    assert fast_sorted_rows(rows[:0]).shape == (0,)


# ----------------------------------------------------------------------------- merging
def test_snapshot_then_pages_against_the_oracle(tmp_path):
    rng = np.random.default_rng(4)
    pools = {"pdq": pool_hex(rng, 40, 32), "md5": pool_hex(rng, 60, 16),
             "sha256": pool_hex(rng, 60, 32)}
    ids = rng.choice(1 << 62, 400, replace=False).tolist()
    state = {i: make_entry(i, rng, pools) for i in ids[:200]}
    hl = roundtrip(snapshot_of(list(state.values()), 3), tmp_path)
    assert held(hl) == expected(state)
    check_invariants(hl)
    seq = 0
    for page in range(8):
        changes, before = [], set(state)
        counts = {"added": 0, "removed": 0, "updated": 0}
        last: dict = {}
        for _ in range(int(rng.integers(1, 60))):
            id_ = int(rng.choice(ids))
            seq += 1
            if rng.random() < 0.4:
                changes.append({"seq": seq, "op": "delete", "id": hexid(id_)})
                last[id_] = None
                state.pop(id_, None)
            else:
                e = make_entry(id_, rng, pools)
                changes.append({"seq": seq, "op": "upsert", "entry": e})
                last[id_] = e
                state[id_] = e
        for id_, e in last.items():
            if e is None:
                counts["removed"] += id_ in before
            else:
                counts["updated" if id_ in before else "added"] += 1
        new, stats = apply_changes(hl, changes, SOURCE)
        assert stats == counts, page
        hl = roundtrip(new, tmp_path, f"p{page}.thl")
        assert held(hl) == expected(state), page
        check_invariants(hl)
    # the same entries as a snapshot of the final state
    assert held(snapshot_of(list(state.values()))) == held(hl)


def test_deleting_everything_and_a_video_only_list(tmp_path):
    entries = [{"id": hexid(5), "case": "c" * 22, "kind": "video", "md5": "a" * 32,
                "vpdq": frames(1)},
               {"id": hexid(6), "case": "d" * 22, "kind": "image", "pdq": "1" * 64,
                "quality": 90}]
    hl = roundtrip(snapshot_of(entries), tmp_path)
    assert hl.signals == ("pdq", "md5", "vpdq")
    gone, stats = apply_changes(hl, [{"seq": 1, "op": "delete", "id": hexid(5)},
                                     {"seq": 2, "op": "delete", "id": hexid(6)},
                                     {"seq": 3, "op": "delete", "id": hexid(7)}], SOURCE)
    assert stats == {"added": 0, "removed": 2, "updated": 0}
    gone = roundtrip(gone, tmp_path, "empty.thl")
    assert gone.signals == () and gone.n_entries == 0
    back, stats = apply_changes(gone, [{"seq": 4, "op": "upsert", "entry": entries[0]}], SOURCE)
    assert stats["added"] == 1
    assert held(roundtrip(back, tmp_path, "back.thl")) == expected({5: entries[0]})


def test_a_replaced_hash_matches_under_its_new_value_only(tmp_path):
    a = {"id": hexid(11), "case": "e" * 22, "kind": "image", "pdq": "f0" * 32, "quality": 80}
    hl = roundtrip(snapshot_of([a]), tmp_path)
    b = dict(a, pdq="0f" * 32)
    new = roundtrip(apply_changes(hl, [{"seq": 1, "op": "upsert", "entry": b}], SOURCE)[0],
                    tmp_path, "b.thl")
    m = Matcher(new, radius=0)
    assert [e.id for x in m.match_pdq("0f" * 32) for e in x.entries] == [11]
    assert m.match_pdq("f0" * 32) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_interleavings(tmp_path_factory, data):
    tmp_path = tmp_path_factory.mktemp("h")
    seed = data.draw(st.integers(0, 1 << 30))
    rng = np.random.default_rng(seed)
    pools = {"pdq": pool_hex(rng, 3, 32), "md5": pool_hex(rng, 3, 16),
             "sha256": pool_hex(rng, 3, 32)}
    ids = list(range(1, 13))
    start = data.draw(st.lists(st.sampled_from(ids), unique=True, max_size=8))
    state = {i: make_entry(i, rng, pools) for i in start}
    hl = roundtrip(snapshot_of(list(state.values())), tmp_path)
    seq = 0
    pages = data.draw(st.lists(st.lists(st.tuples(st.sampled_from(ids), st.booleans()),
                                        max_size=10), max_size=4))
    for n, page in enumerate(pages):
        changes = []
        for id_, delete in page:
            seq += 1
            if delete:
                changes.append({"seq": seq, "op": "delete", "id": hexid(id_)})
                state.pop(id_, None)
            else:
                state[id_] = make_entry(id_, rng, pools)
                changes.append({"seq": seq, "op": "upsert", "entry": state[id_]})
        hl = roundtrip(apply_changes(hl, changes, SOURCE)[0], tmp_path, f"{n}.thl")
        assert held(hl) == expected(state)
        check_invariants(hl)


def test_a_large_list_takes_a_page_of_changes(tmp_path):
    """100,000 entries, 10,000 changes: the arrays against a NumPy oracle."""
    rng = np.random.default_rng(5)
    n = 100_000
    ids = rng.choice(1 << 62, n + 5_000, replace=False)
    pdq = rng.integers(0, 256, (n + 5_000, 32), dtype=np.uint8)
    md5 = rng.integers(0, 256, (n + 5_000, 16), dtype=np.uint8)
    md5[1:400:2] = md5[0:400:2]  # 200 pairs of equal MD5s
    quality = rng.integers(0, 101, n + 5_000)

    def entry(i):
        return {"id": hexid(int(ids[i])), "case": f"{i:022x}", "kind": "image",
                "pdq": pdq[i].tobytes().hex(), "quality": int(quality[i]),
                "md5": md5[i].tobytes().hex()}

    hl = roundtrip(snapshot_of([entry(i) for i in range(n)], 4), tmp_path)
    deleted = rng.choice(n, 5_000, replace=False)
    changes = [{"seq": s + 1, "op": "delete", "id": hexid(int(ids[i]))}
               for s, i in enumerate(deleted)]
    changes += [{"seq": 5_001 + j, "op": "upsert", "entry": entry(n + j)} for j in range(5_000)]
    new, stats = apply_changes(hl, changes, SOURCE)
    assert stats == {"added": 5_000, "removed": 5_000, "updated": 0}
    new = roundtrip(new, tmp_path, "new.thl")
    alive = np.setdiff1d(np.arange(n + 5_000), deleted)
    got = np.asarray(new.pdq.ids)
    order = np.argsort(got)
    want = np.argsort(ids[alive])
    np.testing.assert_array_equal(got[order], ids[alive][want])
    rows = np.asarray(new.pdq.entry_row) if new.pdq.has_duplicates else np.arange(len(got))
    np.testing.assert_array_equal(np.asarray(new.pdq.hashes)[rows][order], pdq[alive][want])
    np.testing.assert_array_equal(np.asarray(new.pdq.quality)[order], quality[alive][want])
    md5_rows = np.asarray(new.md5.hashes)[np.asarray(new.md5.entry_row)]
    md5_order = np.argsort(np.asarray(new.md5.ids))
    np.testing.assert_array_equal(md5_rows[md5_order], md5[alive][want])
    check_invariants(new)


@pytest.mark.parametrize("changes, message", [
    ([{"seq": 1, "op": "move", "id": hexid(1)}], "unknown change op"),
    ([{"seq": 1, "op": "delete", "id": "xyz"}], "not a registry entry id"),
    ([{"seq": 1, "op": "delete", "id": "f" * 16}], "over 63 bits"),
    ([{"seq": 1, "op": "upsert", "entry": {"id": hexid(1), "pdq": "ab", "quality": 1}}],
     "64 hex digits"),
    ([{"seq": 1, "op": "upsert", "entry": {"id": hexid(1), "pdq": "a" * 64, "quality": 101}}],
     "quality"),
    ([{"seq": 1, "op": "upsert"}], "without an entry"),
])
def test_malformed_changes_are_refused(changes, message):
    hl = snapshot_of([])
    with pytest.raises(SyncError, match=message):
        apply_changes(hl, changes, SOURCE)


def test_seqs_must_follow_one_by_one():
    listsync.check_seqs([5, 6, 7], 4)
    for seqs in ([6], [5, 5], [5, 7], ["5"]):
        with pytest.raises(SyncError, match="out of order"):
            listsync.check_seqs(seqs, 4)


def canonical(e: dict) -> bytes:
    """The line the server writes for an image with every signal, or with PDQ only
    (changelog.py's two formatted shapes)."""
    head = (f'{{"id":"{e["id"]}","case":"{e["case"]}","kind":"image","pdq":"{e["pdq"]}",'
            f'"quality":{e["quality"]}')
    if "md5" in e:
        head += f',"md5":"{e["md5"]}","sha256":"{e["sha256"]}"'
    return (head + ',"added":"2026-12-01"}\n').encode()


def test_image_lines_are_read_as_arrays_as_json_reads_them():
    rng = np.random.default_rng(9)
    pools = {"pdq": pool_hex(rng, 50, 32), "md5": pool_hex(rng, 50, 16),
             "sha256": pool_hex(rng, 50, 32)}
    lines, want, fast_lines = [], [], 0
    for _ in range(400):
        e = make_entry(int(rng.integers(0, 1 << 62)), rng, pools)
        if e["kind"] == "image" and ("md5" in e) == ("sha256" in e):
            e["quality"] = int(rng.choice([0, 7, 10, 99, 100, int(rng.integers(0, 101))]))
            line = canonical(e)
            fast_lines += 1
        else:
            line = (json.dumps(e, separators=(",", ":")) + "\n").encode()
        lines.append(line)
        want.append(e)
    # lines not in the server's form: each must go the JSON way (or be refused there)
    base = dict(want[0], kind="image", pdq="ab" * 32, quality=50, md5="cd" * 16,
                sha256="ef" * 32)
    odd = [canonical(base).replace(b'"id":"', b'"id": "'),              # a space
           canonical(base).replace(b"ab" * 32, b"ag" * 32),              # not hex
           canonical(base).replace(b'"case":"0', b'"case":"x'),           # nor this
           canonical(dict(base, id="8" + "0" * 15)),                     # id over 63 bits
           canonical(base).replace(b'"quality":50', b'"quality":07'),    # leading zero
           canonical(dict(base, quality=101)),                           # out of range
           canonical(base).replace(b'"added":"2026-12-01"', b'"added":"2026-12-0x"'),
           canonical(base).replace(b'"md5":"', b'"md6":"')]
    fast, others = listsync.parse_image_lines(b"".join(lines + odd))
    assert fast["pdq"]["ids"].shape[0] == fast_lines
    assert len(others) == len(lines) + len(odd) - fast_lines
    assert others[-len(odd):] == odd  # every odd line went the JSON way
    got = {}
    for signal, g in fast.items():
        for n, id_ in enumerate(g["ids"].tolist()):
            e = got.setdefault(id_, {"id": hexid(id_), "kind": "image"})
            e["case"] = bytes(g["labels"][0][22 * n:22 * n + 22]).decode()
            e[signal] = bytes(g["hashes"][n]).hex()
            if signal == "pdq":
                e["quality"] = int(g["quality"][n])
    slow = [json.loads(line) for line in others[:-len(odd)]]
    def key(e):
        return json.dumps(e, sort_keys=True)
    assert sorted(map(key, list(got.values()) + slow)) == sorted(map(key, want))
    # a builder fed the block holds what one fed the parsed entries holds
    b = SnapshotBuilder(SOURCE)
    b.add_lines(b"".join(lines))
    assert b.count == len(want)
    assert held(b.finish()) == held(snapshot_of(want))
