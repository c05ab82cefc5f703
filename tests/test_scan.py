"""tidehash.scan: the back-scan, through real worker processes (a process pool and a
Dask LocalCluster), against tidehash.hash_file per file and a brute-force matcher."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pyarrow.parquet as pq
import pytest
import scan_helpers as sh
from PIL import Image

import tidehash
from tidehash.formats import HashRecord, write_list
from tidehash.scan import ScanError, hash_corpus, match_hashes
from tidehash.scan.plan import shard_name

SRC = os.path.dirname(os.path.dirname(tidehash.__file__))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("corpus"))
    files = sh.make_corpus(os.path.join(folder, "files"))
    vanished = os.path.join(folder, "files", "gone.png")
    keys = files["good"] + [files["corrupt"], vanished, files["no_frames"]]
    sizes = {k: os.path.getsize(k) for k in files["good"][:3]}
    etags = {files["good"][0]: '"abc-1"'}
    manifest = sh.write_manifest(os.path.join(folder, "manifest.txt"), keys, sizes, etags)
    return dict(files, folder=folder, keys=keys, vanished=vanished, manifest=manifest,
                sizes=sizes, etags=etags)


@pytest.fixture(scope="module")
def scanned(corpus, tmp_path_factory):
    """The corpus hashed once by the default process pool (2 workers), with the
    dihedral variants."""
    out = str(tmp_path_factory.mktemp("scan") / "out")
    report = hash_corpus(corpus["manifest"], out, workers=2, shard_size=5, dihedral=True)
    return out, report, sh.read_rows(out)


def _check_rows(rows, corpus, dihedral):
    assert [r["key"] for r in rows] == corpus["keys"]
    for row in rows:
        key = row["key"]
        if key in corpus["good"]:
            assert row["ok"] and row["error"] is None and row["reason"] is None, row
            expected = sh.expected_row(key, dihedral)
            assert {k: row[k] for k in expected} == expected, key
            assert row["size"] == os.path.getsize(key)
            assert row["etag"] == corpus["etags"].get(key)
        else:
            assert not row["ok"] and row["pdq"] is None and row["md5"] is None
    by_key = {r["key"]: r for r in rows}
    assert by_key[corpus["corrupt"]]["reason"] == "corrupt"
    assert by_key[corpus["vanished"]]["reason"] == "vanished"
    assert by_key[corpus["vanished"]]["error"] == "No such file or directory"
    assert by_key[corpus["no_frames"]]["reason"] == "no_frames"
    kinds = {r["kind"] for r in rows if r["ok"]}
    assert kinds == {"image", "video"}


def test_rows_equal_hash_file(scanned, corpus):
    out, report, rows = scanned
    _check_rows(rows, corpus, dihedral=True)
    assert report.complete and report.files == len(corpus["keys"]) == report.files_hashed
    assert report.shards == report.shards_hashed == -(-len(corpus["keys"]) // 5)
    assert report.errors == {"vanished": 1, "corrupt": 1, "no_frames": 1}
    assert os.getpid() not in report.worker_pids  # hashed in the pool's processes
    # pdq is lower-case hex, the qualities ints, exactly as hash_file gives them
    assert all(r["pdq"] == r["pdq"].lower() for r in rows if r["pdq"])


def test_a_thread_pool_and_the_process_pool_write_the_same(scanned, corpus, tmp_path):
    with ThreadPoolExecutor(2) as pool:
        report = hash_corpus(corpus["manifest"], tmp_path / "t", executor=pool, shard_size=5,
                             dihedral=True)
    assert report.complete and report.worker_pids == {os.getpid()}
    assert sh.read_rows(str(tmp_path / "t")) == scanned[2]


def test_a_folder_and_an_empty_corpus(corpus, tmp_path):
    with ThreadPoolExecutor(2) as pool:
        report = hash_corpus(os.path.join(corpus["folder"], "files"), tmp_path / "f",
                             executor=pool, shard_size=7)
        rows = sh.read_rows(str(tmp_path / "f"))
        found = sorted(os.path.join(corpus["folder"], "files", n)
                       for n in os.listdir(os.path.join(corpus["folder"], "files")))
        assert [r["key"] for r in rows] == found
        assert report.errors == {"corrupt": 1, "no_frames": 1}
        (tmp_path / "empty").mkdir()
        empty = hash_corpus(tmp_path / "empty", tmp_path / "e", executor=pool)
        assert (empty.files, empty.shards, empty.complete) == (0, 0, True)
        assert sh.read_rows(str(tmp_path / "e")) == []
        m = match_hashes(tmp_path / "e", _write_list(tmp_path / "l.jsonl", []),
                         tmp_path / "m.parquet", executor=pool)
        assert m.matches == 0 and pq.read_table(tmp_path / "m.parquet").num_rows == 0


def test_fsspec_urls_in_a_manifest_and_as_the_source(corpus, tmp_path):
    import fsspec

    good = corpus["good"][:4]
    fs = fsspec.filesystem("memory")
    for i, key in enumerate(good):
        with open(key, "rb") as src:
            fs.pipe(f"/scan-test/part{i // 2}/{os.path.basename(key)}", src.read())
    urls = [f"file://{good[0]}", f"memory://scan-test/part0/{os.path.basename(good[1])}",
            "memory://scan-test/no-such-file.png"]
    manifest = sh.write_manifest(str(tmp_path / "urls.txt"), urls)
    try:
        # memory:// lives in this process: a thread pool
        with ThreadPoolExecutor(2) as pool:
            hash_corpus(manifest, tmp_path / "u", executor=pool)
            hash_corpus("memory://scan-test/", tmp_path / "d", executor=pool, shard_size=3)
        rows = sh.read_rows(str(tmp_path / "u"))
        assert [r["key"] for r in rows] == urls
        for row, key in zip(rows[:2], good[:2]):
            expected = sh.expected_row(key, False)
            assert {k: row[k] for k in expected} == expected
        assert rows[2]["reason"] == "vanished"
        found = sh.read_rows(str(tmp_path / "d"))
        assert [r["key"] for r in found] == sorted(
            f"memory:///scan-test/part{i // 2}/{os.path.basename(k)}"  # fsspec's own form
            for i, k in enumerate(good))
        for row in found:
            name = row["key"].rsplit("/", 1)[1]
            key = next(k for k in good if os.path.basename(k) == name)
            assert row["pdq"] == sh.expected_row(key, False)["pdq"]
            assert row["size"] == os.path.getsize(key)
    finally:
        fs.rm("/scan-test", recursive=True)


def test_a_permission_error_is_an_error_row(corpus):
    """A file the worker may not read. Root reads any file, so as root the pool's
    workers run as nobody (their initializer drops privileges): the EACCES is the
    kernel's either way."""
    root = os.geteuid() == 0
    folder = tempfile.mkdtemp(prefix="tidehash-scan-perm-")
    try:
        os.chmod(folder, 0o777)
        secret = os.path.join(folder, "secret.png")
        shutil.copy(corpus["good"][0], secret)
        readable = os.path.join(folder, "open.png")
        shutil.copy(corpus["good"][1], readable)
        os.chmod(readable, 0o644)
        os.chmod(secret, 0o000)
        manifest = sh.write_manifest(os.path.join(folder, "m.txt"), [secret, readable])
        os.chmod(manifest, 0o644)
        out = os.path.join(folder, "out")
        os.mkdir(out)
        os.chmod(out, 0o777)
        import multiprocessing

        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=sh.drop_privileges if root else None) as pool:
            report = hash_corpus(manifest, out, executor=pool, resume=False)
        rows = sh.read_rows(out)
        assert [r["reason"] for r in rows] == ["permission", None]
        assert rows[0]["error"] == "Permission denied" and not rows[0]["ok"]
        assert rows[1]["pdq"] == sh.expected_row(corpus["good"][1], False)["pdq"]
        assert report.errors == {"permission": 1}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_bad_starts_are_clear_errors(corpus, scanned, tmp_path):
    out = scanned[0]
    with pytest.raises(ScanError, match="already holds a scan"):
        hash_corpus(corpus["manifest"], out, workers=1)
    with pytest.raises(ScanError, match="resume it as it was started"):
        hash_corpus(corpus["manifest"], out, workers=1, resume=True, dihedral=False)
    with pytest.raises(ScanError, match="no such folder or manifest"):
        hash_corpus(tmp_path / "nowhere", tmp_path / "o", workers=1)
    bad = tmp_path / "bad.txt"
    bad.write_text("a.png\tbig\n")
    with pytest.raises(ScanError, match="bad.txt:1: size 'big'"):
        hash_corpus(bad, tmp_path / "o2", workers=1)
    with pytest.raises(ScanError, match="not a manifest"):  # an image given as SOURCE
        hash_corpus(corpus["good"][0], tmp_path / "o3", workers=1)
    with pytest.raises(ScanError, match="no scan here"):
        match_hashes(tmp_path, corpus["manifest"], tmp_path / "m.parquet")


def test_bad_list_lines_are_counted_and_skipped(scanned, tmp_path):
    out, _, rows = scanned
    listed = _listed(rows)
    text = tmp_path / "list.jsonl"
    _write_list(text, listed)
    with open(text, "a") as f:
        f.write("{\"pdq\": \"not hex\"}\nnonsense\n")
    with ThreadPoolExecutor(1) as pool:
        report = match_hashes(out, text, tmp_path / "m.parquet", executor=pool)
    assert report.list_bad_lines == 2 and report.complete
    assert sh.match_set(str(tmp_path / "m.parquet")) == sh.brute_force(rows, listed)


# ----------------------------------------------------------------------------- matching
def _flip(hex_: str, rng, n: int) -> str:
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(hex_), np.uint8))
    bits[rng.choice(256, n, replace=False)] ^= 1
    return np.packbits(bits).tobytes().hex()


def _write_list(path, records) -> str:
    write_list(records, str(path), "jsonl")
    return str(path)


def _listed(rows, seed=3) -> list[HashRecord]:
    """A list near the stored hashes: flipped bits (some within 31, some not, some at
    the border), a rotated image's hash (dihedral), an MD5, a video."""
    rng = np.random.default_rng(seed)
    images = [r for r in rows if r["ok"] and r["kind"] == "image"]
    videos = [r for r in rows if r["ok"] and r["kind"] == "video"]
    out = []
    for i, row in enumerate(images[::2]):
        n = (0, 3, 12, 25, 31, 32, 40, 60)[i % 8]
        out.append(HashRecord("pdq", _flip(row["pdq"], rng, n), id=100 + i,
                              label=f"case-{i}", quality=90))
    with Image.open(images[1]["key"]) as img:
        turned = tidehash.pdq_hash(np.ascontiguousarray(np.rot90(np.asarray(
            img.convert("RGB")))))
    out.append(HashRecord("pdq", turned.hex, id=500, label="rotated"))
    out.append(HashRecord("md5", images[3]["md5"], id=600, label="exact copy"))
    feats = tuple(tidehash.VPDQFeature(f["frame_number"], f["quality"], f["pdq"],
                                       f["timestamp"]) for f in videos[0]["vpdq"])
    out.append(HashRecord("vpdq", None, id=700, label="video", features=feats))
    return out


def _random_pdq(n: int, seed: int, first_id: int) -> list[HashRecord]:
    """n random PDQ entries: none near a stored hash (a bigger list side)."""
    rng = np.random.default_rng(seed)
    return [HashRecord("pdq", rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex(),
                       id=first_id + i, label=f"noise-{i}") for i in range(n)]


@pytest.mark.parametrize("index", ["list", "stored"])
@pytest.mark.parametrize("options", [
    {}, {"radius": 12}, {"dihedral": True}, {"min_quality": "median"},
    {"video_distance": 0, "video_match": 100.0}])
def test_matches_equal_brute_force(scanned, tmp_path, options, index):
    """Either side indexed (forced), the same matches as the brute-force oracle."""
    out, _, rows = scanned
    listed = _listed(rows)
    options = dict(options)
    if options.get("min_quality") == "median":
        options["min_quality"] = int(np.median([r["quality"] for r in rows if r["quality"]]))
    list_path = _write_list(tmp_path / "list.jsonl", listed)
    with ThreadPoolExecutor(2) as pool:
        report = match_hashes(out, list_path, tmp_path / "m.parquet", executor=pool,
                              index=index, **options)
    got = sh.match_set(str(tmp_path / "m.parquet"))
    expected = sh.brute_force(rows, listed, **options)
    assert got == expected
    assert report.complete and report.matches == len(expected) > 0
    assert report.indexed == index
    signals = {m[1] for m in expected}
    assert {"pdq", "md5"} <= signals
    if "video_distance" not in options:
        assert "vpdq" in signals
    if options.get("dihedral"):
        assert any(m[6] == "rotated" for m in expected)
    else:
        assert not any(m[6] == "rotated" for m in expected)
    if "min_quality" in options:  # the option left some out
        assert len(expected) < len(sh.brute_force(rows, listed))


@pytest.mark.parametrize("index", ["auto", "list", "stored"])
def test_since_matches_the_new_entries_only(scanned, tmp_path, index):
    out, _, rows = scanned
    listed = _listed(rows)
    old = listed[::3]
    old_path = _write_list(tmp_path / "old.jsonl", old)
    new_path = _write_list(tmp_path / "new.jsonl", listed)
    with ThreadPoolExecutor(2) as pool:
        full = match_hashes(out, new_path, tmp_path / "full.parquet", executor=pool)
        since = match_hashes(out, new_path, tmp_path / "since.parquet", executor=pool,
                             since=old_path, index=index)
    old_ids = {r.id for r in old}
    expected = {m for m in sh.match_set(str(tmp_path / "full.parquet")) if m[5] not in old_ids}
    assert expected == sh.brute_force(rows, [r for r in listed if r.id not in old_ids])
    assert sh.match_set(str(tmp_path / "since.parquet")) == expected != set()
    assert since.list_entries == len(listed) - len(old) and full.list_entries == len(listed)
    new_pdq = len({r.hash for r in listed if r.signal == "pdq" and r.id not in old_ids})
    assert since.list_pdq == new_pdq and full.list_pdq == len(
        {r.hash for r in listed if r.signal == "pdq"})
    # the few new entries are the smaller side: auto indexes them
    assert since.indexed == ("list" if index == "auto" else index)


@pytest.mark.parametrize("options", [{}, {"dihedral": True, "min_quality": 60}])
def test_auto_indexes_the_smaller_side(scanned, tmp_path, options, monkeypatch):
    """The stored PDQ hashes are counted from the shards' metadata, the list's from
    its list file; with the threshold at 1, a list bigger than the corpus (its
    variants with dihedral) gets the stored hashes indexed, a smaller one its own;
    both equal the oracle, as does `--since` with a big list change against this
    small corpus. At the default threshold (1000) the list is still indexed."""
    from tidehash.scan import matching

    out, _, rows = scanned
    stored = sum(1 for r in rows if r["pdq"] is not None)
    variants = 8 if options.get("dihedral") else 1
    listed = _listed(rows)
    small = _write_list(tmp_path / "small.jsonl", listed)
    noise = _random_pdq(stored * variants + 5, seed=11, first_id=10_000)
    big_records = listed + noise
    big = str(tmp_path / "big.thl")
    from tidehash.formats.binary import save_list

    save_list(tidehash.read_list(_write_list(tmp_path / "big.jsonl", big_records)), big)
    with ThreadPoolExecutor(1) as pool:
        assert match_hashes(out, big, tmp_path / "d.parquet", executor=pool,
                            **options).indexed == "list"
    monkeypatch.setattr(matching, "STORED_SIDE_FACTOR", 1)
    with ThreadPoolExecutor(2) as pool:
        a = match_hashes(out, small, tmp_path / "a.parquet", executor=pool, **options)
        b = match_hashes(out, big, tmp_path / "b.parquet", executor=pool, **options)
        c = match_hashes(out, big, tmp_path / "c.parquet", executor=pool, since=small,
                         **options)
    assert a.stored_pdq == b.stored_pdq == stored
    assert (a.indexed, b.indexed) == ("list", "stored")
    assert b.list_pdq == len({r.hash for r in big_records if r.signal == "pdq"})
    assert sh.match_set(str(tmp_path / "a.parquet")) == sh.brute_force(rows, listed, **options)
    expected = sh.brute_force(rows, big_records, **options)
    assert sh.match_set(str(tmp_path / "b.parquet")) == expected != set()
    assert c.indexed == "stored" and c.list_pdq == len(noise)
    assert sh.match_set(str(tmp_path / "c.parquet")) == sh.brute_force(rows, noise, **options)
    with pytest.raises(ValueError, match="index must be"):
        match_hashes(out, small, tmp_path / "x.parquet", index="both")


@pytest.mark.parametrize("dihedral", [False, True])
def test_both_sides_on_synthetic_hashes_with_tied_variants(dihedral):
    """match_table with each side indexed, on hashes made to have ties: variants that
    are equal, listed hashes at the same distance from two variants, listed hashes
    repeated under several entries, qualities around the weak threshold; both equal
    the oracle (the smallest distance, then the smallest variant)."""
    import pyarrow as pa

    from tidehash.formats import HashList
    from tidehash.match import Matcher
    from tidehash.scan.shards import hash_schema
    from tidehash.scan.work import match_table

    rng = np.random.default_rng(5)
    rows, listed = [], []
    for i in range(40):
        variants = [rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex() for _ in range(8)]
        variants[5] = variants[2] if i % 2 else variants[5]  # a tie between two variants
        rows.append({"key": f"k{i:02d}", "ok": True, "kind": "image", "pdq": variants[0],
                     "quality": int(rng.integers(30, 100)), "pdq_dihedral": variants})
        target = variants[int(rng.choice([0, 2, 5, 7]))]
        n = int(rng.choice([0, 5, 20, 31, 32]))
        listed.append(HashRecord("pdq", _flip(target, rng, n), id=i, label=f"l{i}"))
        if i % 7 == 0:  # the same hash under a second entry
            listed.append(HashRecord("pdq", listed[-1].hash, id=1000 + i, label="again"))
    table = pa.Table.from_pylist(rows, schema=hash_schema())
    matcher = Matcher(HashList.from_records(listed), dihedral=dihedral)
    shape = [(r["key"], "pdq", r["distance"], r["weak"], r.get("variant"), r["id"], r["label"],
              None, None) for r in match_table(table, matcher, "list")]
    swapped = [(r["key"], "pdq", r["distance"], r["weak"], r.get("variant"), r["id"],
                r["label"], None, None) for r in match_table(table, matcher, "stored")]
    oracle_rows = [dict(r, md5=None, sha256=None, vpdq=None) for r in rows]
    expected = sh.brute_force(oracle_rows, listed, dihedral=dihedral)
    assert sorted(shape) == sorted(swapped) and set(swapped) == expected
    assert len(swapped) == len(expected) > (20 if dihedral else 5)
    if dihedral:  # the tied variants 2 and 5 (odd keys) report 2, the smaller
        tied = {m[4] for m in expected if int(m[0][1:]) % 2 and m[4] in ("rot180", "flipy")}
        assert tied == {"rot180"}
        assert "flipy" in {m[4] for m in expected}  # where it is no tie, 5 is reported


def test_match_through_the_process_pool_and_a_list_file(scanned, tmp_path):
    """The default executor, and a list file from `tidehash index build`, which the
    workers map (never a pickled index)."""
    out, _, rows = scanned
    listed = _listed(rows)
    text = _write_list(tmp_path / "list.jsonl", listed)
    list_file = str(tmp_path / "list.thl")
    subprocess.run([sys.executable, "-m", "tidehash.cli", "index", "build", text, "-o",
                    list_file], check=True, env=dict(os.environ, PYTHONPATH=SRC))
    report = match_hashes(out, list_file, tmp_path / "m.parquet", workers=2)
    assert sh.match_set(str(tmp_path / "m.parquet")) == sh.brute_force(rows, listed)
    assert os.getpid() not in report.worker_pids
    assert not [n for n in os.listdir(out) if n.startswith(".match-list")]


def test_the_command_line(corpus, tmp_path):
    """The names other checks rely on: scan hash SOURCE --out DIR --workers N writes
    *.parquet with key, ok, error, kind, pdq, quality, md5; scan match DIR LIST --out
    FILE.parquet --radius R writes key, distance, label."""
    env = dict(os.environ, PYTHONPATH=SRC)
    cmd = [sys.executable, "-m", "tidehash.cli", "scan"]
    folder = os.path.join(corpus["folder"], "files")
    out = str(tmp_path / "out")
    run = subprocess.run(cmd + ["hash", folder, "--out", out, "--workers", "2"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr  # the corrupt file and the empty video
    assert "error rows: 1 corrupt, 1 no_frames" in run.stderr
    table = pq.read_table(os.path.join(out, shard_name(0)))
    assert {"key", "ok", "error", "kind", "pdq", "quality", "md5"} <= set(table.column_names)
    again = subprocess.run(cmd + ["hash", folder, "--out", out, "--resume"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert "1 kept from before): 0 hashed" in again.stderr, again.stderr
    rows = table.to_pylist()
    image = next(r for r in rows if r["kind"] == "image")
    list_path = tmp_path / "list.txt"
    list_path.write_text(_flip(image["pdq"], np.random.default_rng(0), 9) + "\n")
    m = subprocess.run(cmd + ["match", out, str(list_path), "--out", str(tmp_path / "m.parquet"),
                              "--radius", "10", "--workers", "1"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert m.returncode == 0, m.stderr
    found = pq.read_table(tmp_path / "m.parquet").to_pylist()
    assert [(r["key"], r["distance"], r["label"]) for r in found] == [(image["key"], 9, None)]
    assert "indexed: the list's PDQ hashes" in m.stderr, m.stderr
    swapped = subprocess.run(cmd + ["match", out, str(list_path), "--out",
                                    str(tmp_path / "s.parquet"), "--radius", "10",
                                    "--workers", "1", "--index", "stored"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert swapped.returncode == 0 and "indexed: the stored PDQ hashes" in swapped.stderr
    assert pq.read_table(tmp_path / "s.parquet").to_pylist() == found
    on_dask = subprocess.run(cmd + ["hash", folder, "--out", str(tmp_path / "d"),
                                    "--dask-local", "2"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert on_dask.returncode == 1 and "error rows: 1 corrupt, 1 no_frames" in on_dask.stderr
    assert sh.read_rows(str(tmp_path / "d")) == sh.read_rows(out)
    both = subprocess.run(cmd + ["hash", folder, "--out", out, "--workers", "2",
                                 "--dask-local", "2"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert both.returncode == 2 and "cannot be used together" in both.stderr


# ----------------------------------------------------------------------------- resume, kills
def test_resume_keeps_finished_shards_and_redoes_partial_ones(scanned, corpus, tmp_path):
    out = str(tmp_path / "copy")
    shutil.copytree(scanned[0], out)
    before = {n: os.stat(os.path.join(out, n)).st_mtime_ns for n in os.listdir(out)}
    truncated = os.path.join(out, shard_name(1))
    with open(truncated, "r+b") as f:
        f.truncate(os.path.getsize(truncated) // 2)
    os.unlink(os.path.join(out, shard_name(3)))
    stray = os.path.join(out, f".{shard_name(2)}.0123456789ab.tmp")
    with open(stray, "wb") as f:
        f.write(b"PAR1 half a shard")
    with ThreadPoolExecutor(2) as pool:
        report = hash_corpus(corpus["manifest"], out, executor=pool, resume=True,
                             dihedral=True)
    assert report.complete and report.shards_hashed == 2
    assert report.shards_skipped == report.shards - 2
    assert report.errors == scanned[1].errors
    assert not os.path.exists(stray)
    for name in (shard_name(0), shard_name(2)):  # kept as they were
        assert os.stat(os.path.join(out, name)).st_mtime_ns == before[name]
    assert sh.read_rows(out) == scanned[2]


def _kill_test(corpus, tmp_path, run):
    """A manifest whose shard 1 holds a FIFO: the worker that reads it blocks there,
    mid-shard, and is killed with SIGKILL (every time it is retried). This process
    holds the FIFO's write end open, writing nothing: the worker's open returns
    (so the FIFO shows among its open files) and its read waits."""
    fifo = str(tmp_path / "stuck.png")
    os.mkfifo(fifo)
    hold = os.open(fifo, os.O_RDWR)
    keys = corpus["good"][:3] + [corpus["good"][3], fifo] + corpus["good"][4:9]
    manifest = sh.write_manifest(str(tmp_path / "m.txt"), keys)
    out = str(tmp_path / "out")
    result = {}
    thread = threading.Thread(target=lambda: result.update(report=run(manifest, out)))
    thread.start()
    try:
        killed = sh.kill_holders_until(fifo, lambda: not thread.is_alive())
    finally:
        os.close(hold)  # a worker still on it reads the end of the file
        thread.join(120)
    report = result["report"]
    assert killed >= 1
    assert list(report.failed_shards) == [1]
    assert "died" in report.failed_shards[1]
    assert report.shards_hashed == report.shards - 1  # only that shard lost
    assert not os.path.exists(os.path.join(out, shard_name(1)))
    # the file is there now: --resume completes the scan, no row lost or repeated
    os.unlink(fifo)
    shutil.copy(corpus["good"][10], fifo)
    with ThreadPoolExecutor(1) as pool:
        again = hash_corpus(manifest, out, executor=pool, resume=True, shard_size=3)
    assert again.complete and again.shards_hashed == 1
    rows = sh.read_rows(out)
    assert [r["key"] for r in rows] == keys
    for row in rows:
        assert row["pdq"] == sh.expected_row(row["key"], False)["pdq"], row["key"]
    return report


def test_a_killed_pool_worker_costs_only_its_shard(corpus, tmp_path):
    report = _kill_test(corpus, tmp_path, lambda manifest, out: hash_corpus(
        manifest, out, workers=2, shard_size=3))
    assert os.getpid() not in report.worker_pids


def test_dask_local_cluster(corpus, scanned, tmp_path):
    """A real LocalCluster of 2 worker processes: the same shards as the process
    pool; a worker killed mid-shard costs only that shard."""
    import dask

    from tidehash.scan import dask_executor

    # a task whose worker died is given up at once (not retried on three more workers)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with dask_executor(local_workers=2) as executor:
            report = hash_corpus(corpus["manifest"], tmp_path / "d", executor=executor,
                                 shard_size=5, dihedral=True)
            assert report.complete and os.getpid() not in report.worker_pids
            assert len(report.worker_pids) == 2
            assert sh.read_rows(str(tmp_path / "d")) == scanned[2]
            listed = _listed(scanned[2])
            m = match_hashes(tmp_path / "d", _write_list(tmp_path / "l.jsonl", listed),
                             tmp_path / "m.parquet", executor=executor, dihedral=True)
            assert os.getpid() not in m.worker_pids
            assert sh.match_set(str(tmp_path / "m.parquet")) == sh.brute_force(
                scanned[2], listed, dihedral=True)
            (tmp_path / "k").mkdir()
            _kill_test(corpus, tmp_path / "k", lambda manifest, out: hash_corpus(
                manifest, out, executor=executor, shard_size=3))
