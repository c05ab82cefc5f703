"""``tidehash bench scan``: back-scan figures on this machine: hashing throughput
(files/s) of the local process pool (1 and N workers) and of a Dask LocalCluster
against hash_files on one thread, and the time to match N stored PDQ hashes against
a list, and against its new entries only (``since``); with ``--sides``, only the
same match with each side's PDQ hashes indexed. Prints the figures; asserts nothing
about speed. Needs the scan extra.

    tidehash bench scan [--quick] [--files 2000] [--stored 1000000] [--listed 100000]
                        [--new 10000] [--workers 2] [--skip-hashing] [--sides]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

import numpy as np
from PIL import Image

import tidehash
from tidehash.scan import dask_executor, hash_corpus, match_hashes

from .args import int_in


def make_images(folder: str, n: int, seed: int = 0) -> None:
    """n JPEG photos of 640x480: smooth shapes and noise (decoding dominates, as
    with real photos; at this size one takes a few ms)."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    yy, xx = np.mgrid[0:480, 0:640]
    for i in range(n):
        a, b, c = rng.uniform(0.005, 0.05, 3)
        img = np.stack([np.sin(xx * a + i) * 100 + 128, np.cos(yy * b) * 100 + 128,
                        np.sin((xx + yy) * c) * 100 + 128], -1)
        img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(os.path.join(folder, f"{i:06d}.jpg"), quality=90)


def bench_hashing(work: str, n: int, workers: int) -> dict:
    """files/s of hash_files on one thread, then of the scan on a process pool of 1 and
    of ``workers`` processes and on a LocalCluster of ``workers``; each executor is
    started and warmed (its workers' imports done, on a few files) before it is timed,
    and its start-up time is reported on its own."""
    from tidehash.scan import local_pool

    corpus = os.path.join(work, "corpus")
    make_images(corpus, n)
    paths = sorted(os.path.join(corpus, f) for f in os.listdir(corpus))
    warm = os.path.join(work, "warm.txt")
    with open(warm, "w") as f:
        f.write("\n".join(paths[:4 * workers]) + "\n")
    for name in paths:  # the page cache warm for every run
        with open(name, "rb") as f:
            f.read()
    out = {}
    start = time.perf_counter()
    for _ in tidehash.hash_files(paths, algorithms=("pdq", "md5", "sha256"), workers=1):
        pass
    out["hash_files_1_thread"] = n / (time.perf_counter() - start)

    def timed(label: str, executor) -> None:
        hash_corpus(warm, os.path.join(work, label + "-warm"), executor=executor,
                    shard_size=1)
        d = os.path.join(work, label)
        start = time.perf_counter()
        report = hash_corpus(corpus, d, executor=executor, shard_size=100)
        out[label] = n / (time.perf_counter() - start)
        assert report.complete and report.files == n
        shutil.rmtree(d)

    for k in sorted({1, workers}):
        start = time.perf_counter()
        with local_pool(k) as pool:
            out[f"start_pool_{k}"] = time.perf_counter() - start
            timed(f"pool_{k}_worker{'s' if k > 1 else ''}", pool)
    start = time.perf_counter()
    with dask_executor(local_workers=workers) as executor:
        out["start_dask"] = time.perf_counter() - start
        timed(f"dask_local_{workers}_worker{'s' if workers > 1 else ''}", executor)
    shutil.rmtree(corpus)
    return out


def synthetic_scan(folder: str, n: int, rng, shard_size: int = 100_000) -> np.ndarray:
    """A scan folder of n stored PDQ hashes (random, quality 100), as scan hash
    writes it; returns the hashes."""
    import pyarrow as pa

    from tidehash.scan.plan import Item, write_plan
    from tidehash.scan.shards import META_KIND, META_SHARD, hash_schema, write_table_atomically

    os.makedirs(folder, exist_ok=True)
    keys = [f"s3://corpus/{i:09d}.jpg" for i in range(n)]
    plan = write_plan(folder, "synthetic", (Item(k) for k in keys), shard_size,
                      {"dihedral": False, "seconds_per_hash": 1.0, "max_pixels": None})
    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    hexes = [codes[i].tobytes().hex() for i in range(n)]
    schema = hash_schema()
    for shard, rows in enumerate(plan.rows):
        lo = shard * shard_size
        k = rows
        cols = {name: pa.nulls(k, schema.field(name).type) for name in schema.names}
        cols.update(key=pa.array(keys[lo:lo + k]), ok=pa.array(np.ones(k, bool)),
                    kind=pa.array(["image"] * k), pdq=pa.array(hexes[lo:lo + k]),
                    quality=pa.array(np.full(k, 100, np.int16)))
        table = pa.table([cols[name] for name in schema.names], schema=schema)
        write_table_atomically(table, plan.shard_path(shard),
                               metadata={META_SHARD: str(shard).encode(), META_KIND: b"hash"})
    return codes


def bench_matching(work: str, stored: int, listed: int, new: int, workers: int) -> dict:
    from tidehash.formats import HashList
    from tidehash.formats.binary import save_list

    rng = np.random.default_rng(1)
    scan = os.path.join(work, "stored")
    codes = synthetic_scan(scan, stored, rng)
    out = {}

    def a_list(n: int, planted: int, path: str) -> str:
        hashes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
        at = rng.choice(stored, planted, replace=False)
        hashes[:planted] = codes[at]  # exact copies of stored hashes: known matches
        hl = HashList.from_records({"pdq": h.tobytes().hex(), "id": i}
                                   for i, h in enumerate(hashes))
        save_list(hl, path)
        return path

    full = a_list(listed, 100, os.path.join(work, "list.thl"))
    start = time.perf_counter()
    report = match_hashes(scan, full, os.path.join(work, "m.parquet"), workers=workers)
    out["full"] = {"seconds": time.perf_counter() - start, "stored": stored, "list": listed,
                   "matches": report.matches}
    old = full
    new_list = os.path.join(work, "new.thl")
    hl = tidehash.read_list(old)
    extra = a_list(new, 10, os.path.join(work, "extra.thl"))
    save_list(HashList.merge(hl, tidehash.read_list(extra)), new_list)
    start = time.perf_counter()
    report = match_hashes(scan, new_list, os.path.join(work, "s.parquet"), workers=workers,
                          since=old)
    out["since"] = {"seconds": time.perf_counter() - start, "stored": stored,
                    "new_entries": report.list_entries, "matches": report.matches}
    shutil.rmtree(scan)
    return out


def bench_sides(work: str, stored: int, listed: int, workers: int) -> dict:
    """The same match with each side indexed: {"list": s, "stored": s, ...}."""
    from tidehash.formats import HashList
    from tidehash.formats.binary import save_list

    rng = np.random.default_rng(2)
    scan = os.path.join(work, "sides")
    codes = synthetic_scan(scan, stored, rng, shard_size=1000)
    hashes = rng.integers(0, 256, (listed, 32), dtype=np.uint8)
    hashes[:10] = codes[:10]  # known matches
    path = os.path.join(work, "sides.thl")
    save_list(HashList.from_records({"pdq": h.tobytes().hex(), "id": i}
                                    for i, h in enumerate(hashes)), path)
    out = {"n_stored": stored, "n_listed": listed}
    for side in ("list", "stored", "auto", "stored", "list", "auto"):  # best of two
        start = time.perf_counter()
        report = match_hashes(scan, path, os.path.join(work, f"{side}.parquet"),
                              workers=workers, index=side)
        seconds = time.perf_counter() - start
        if side not in out or seconds < out[side]["seconds"]:
            out[side] = {"seconds": seconds, "matches": report.matches,
                         "indexed": report.indexed}
    shutil.rmtree(scan)
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tidehash bench scan",
                                description=__doc__.splitlines()[0].strip("`"))
    p.add_argument("--quick", action="store_true",
                   help="a small run: 200 files, 100,000 stored, 10,000 listed, 1,000 new")
    p.add_argument("--files", type=int_in(1, 10_000_000), default=None,
                   help="generated 640x480 JPEG photos to hash (default 2000)")
    p.add_argument("--stored", type=int_in(1, 2_000_000_000), default=None,
                   help="synthetic stored PDQ hashes to match (default 1,000,000)")
    p.add_argument("--listed", type=int_in(100, 1_000_000_000), default=None,
                   help="list entries (default 100,000)")
    p.add_argument("--new", type=int_in(10, 1_000_000_000), default=None,
                   help="entries added to the list, matched with since (default 10,000)")
    p.add_argument("--workers", type=int_in(1, 4096), default=2,
                   help="worker processes (pool and LocalCluster)")
    p.add_argument("--skip-hashing", action="store_true", help="only the matching figures")
    p.add_argument("--sides", action="store_true",
                   help="only this: --stored hashes (shards of 1000) against --listed list "
                        "entries with the list indexed, the stored hashes indexed, and the "
                        "side auto chooses (each the best of two runs)")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    quick = (200, 100_000, 10_000, 1_000) if args.quick else (2000, 1_000_000, 100_000, 10_000)
    for name, default in zip(("files", "stored", "listed", "new"), quick):
        if getattr(args, name) is None:
            setattr(args, name, default)
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), "")
    except OSError:
        pass
    print(json.dumps({"cpu": model, "isa": tidehash.cpu_info()["active_isa"],
                      "cpus": os.cpu_count(), "workers": args.workers}))
    work = tempfile.mkdtemp(prefix="tidehash-bench-scan-")
    try:
        if args.sides:
            m = bench_sides(work, args.stored, args.listed, args.workers)
            a, b = m["list"], m["stored"]
            print(f"match {m['n_stored']:,} stored vs {m['n_listed']:,} listed: list indexed "
                  f"{a['seconds']:.1f} s, stored indexed {b['seconds']:.1f} s "
                  f"(list / stored = {a['seconds'] / b['seconds']:.2f}), auto indexed the "
                  f"{m['auto']['indexed']}: {m['auto']['seconds']:.1f} s; matches "
                  f"{a['matches']} / {b['matches']} / {m['auto']['matches']}")
            return 0
        if not args.skip_hashing:
            figures = bench_hashing(work, args.files, args.workers)
            base = figures["hash_files_1_thread"]
            for name, rate in figures.items():
                if name.startswith("start_"):
                    continue
                print(f"hash {args.files} files  {name:24s} {rate:8.1f} files/s "
                      f"({rate / base:.2f}x hash_files on one thread)")
            print("start-up (not in the rates above): " + ", ".join(
                f"{name[6:]} {v:.1f} s" for name, v in figures.items()
                if name.startswith("start_")))
            print(f"load average while it ran: {os.getloadavg()[0]:.1f} "
                  f"on {os.cpu_count()} CPUs")
        m = bench_matching(work, args.stored, args.listed, args.new, args.workers)
        f, s = m["full"], m["since"]
        print(f"match {f['stored']:,} stored vs {f['list']:,} listed: {f['seconds']:.1f} s "
              f"({f['stored'] / f['seconds']:,.0f} stored hashes/s), {f['matches']} matches")
        print(f"match --since {s['stored']:,} stored vs {s['new_entries']:,} new entries: "
              f"{s['seconds']:.1f} s, {s['matches']} matches")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0
