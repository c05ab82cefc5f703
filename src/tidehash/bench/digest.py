"""MD5 + SHA-256 in the read that decodes the image, against a second read.

Per file (the photo-like JPEG and PNG images of tidehash.bench.photos), one thread:

* ``pdq``          tidehash.hash_file(path)
* ``pdq+digests``  tidehash.hash_file(path, algorithms=("pdq", "md5", "sha256")):
                   one read, the digests fed by the reader Pillow decodes from
* ``two reads``    tidehash.hash_file(path) then tidehash.file_digests(path)
* ``digests``      tidehash.file_digests(path) alone (1 MiB chunks)
* ``hashlib``      open(path).read() + hashlib.md5 + hashlib.sha256 (reference)

``--cold`` evicts the file from the page cache (posix_fadvise DONTNEED, on these
files only) before every read of it: at the start of every call, and in "two
reads" also between the two, as when the digests are a second pass over a corpus
larger than memory. The eviction is inside the timing of every competitor alike.
Without it every read after the warm-up is served from the page cache, the best
case for a second read.

Usage (``benchmarks/bench_digest.py`` is the same with BLAS / OpenMP pools pinned to one
thread)::

    python -m tidehash.bench digest [--cold] [--quick] [--json OUT]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Sequence

import tidehash

from .hash import FULL_POLICY, QUICK_POLICY
from .machine import cpu_model, loadavg, scratch_dir
from .photos import parse_sizes, prepare_images
from .timing import run_interleaved

ALGOS = ("pdq", "md5", "sha256")


def evict(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def competitors(path: str, cold: bool):
    def wrap(fn):
        if not cold:
            return fn

        def call():
            evict(path)
            return fn()
        return call

    def two_reads():
        tidehash.hash_file(path)
        if cold:
            evict(path)
        return tidehash.file_digests(path)

    def plain_hashlib():
        with open(path, "rb") as fh:
            data = fh.read()
        return hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()

    return [
        ("pdq", wrap(lambda: tidehash.hash_file(path))),
        ("pdq+digests", wrap(lambda: tidehash.hash_file(path, algorithms=ALGOS))),
        ("two reads", wrap(two_reads)),
        ("digests", wrap(lambda: tidehash.file_digests(path))),
        ("hashlib", wrap(plain_hashlib)),
    ]


def parser(prog: str = "python -m tidehash.bench digest") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=parse_sizes, default=parse_sizes("0.25,1,12"))
    ap.add_argument("--cold", action="store_true", help="evict each file before every call")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--image-dir", metavar="DIR", help="keep / reuse the images here")
    ap.add_argument("--json", metavar="OUT")
    return ap


def main(argv: Sequence[str] | None = None, prog: str = "python -m tidehash.bench digest") -> int:
    ap = parser(prog)
    args = ap.parse_args(argv)
    policy = QUICK_POLICY if args.quick else FULL_POLICY

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    load_start = loadavg()
    rows = []
    with scratch_dir(args.image_dir, "tidehash-digest-") as image_dir:
        images = prepare_images(args.sizes, 1, image_dir, log)
        for img in images:
            for fmt, path in img.files.items():
                rec = tidehash.hash_file(path, algorithms=ALGOS)
                with open(path, "rb") as fh:
                    data = fh.read()
                assert rec.md5 == hashlib.md5(data).hexdigest()
                assert rec.sha256 == hashlib.sha256(data).hexdigest()
                assert rec.pdq == tidehash.hash_file(path).pdq
                log(f"  {img.label} {fmt} ...")
                res = run_interleaved(competitors(path, args.cold), policy["file"],
                                      policy["warmup"])
                ms = {k: r.median * 1e3 for k, r in res.items()}
                rows.append({"size": img.label, "format": fmt, "file_bytes": len(data),
                             "ms": ms, "reps": len(res["pdq"].samples),
                             "summaries": {k: r.summary() for k, r in res.items()}})

    info = tidehash.cpu_info()
    print(f"tidehash MD5+SHA-256 benchmark ({'cold' if args.cold else 'warm'} page cache, "
          "one thread)")
    print(f"CPU   : {cpu_model()} ({os.cpu_count()} logical CPUs); SIMD active "
          f"{info['active_isa']}; Python {platform.python_version()}")
    print("ms per file, median; ratios against 'pdq' (file -> PDQ alone)")
    print()
    hdr = (f"{'size':<10} {'fmt':<4} {'MB':>5} {'reps':>4} {'pdq':>8} {'pdq+dig':>8} "
           f"{'2 reads':>8} {'digests':>8} {'hashlib':>8}  {'1 read/pdq':>10} "
           f"{'2 reads/pdq':>11} {'2 reads/1 read':>14}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        m = r["ms"]
        print(f"{r['size']:<10} {r['format']:<4} {r['file_bytes'] / 1e6:>5.2f} {r['reps']:>4} "
              f"{m['pdq']:>8.2f} {m['pdq+digests']:>8.2f} {m['two reads']:>8.2f} "
              f"{m['digests']:>8.2f} {m['hashlib']:>8.2f}  "
              f"{m['pdq+digests'] / m['pdq']:>10.3f} {m['two reads'] / m['pdq']:>11.3f} "
              f"{m['two reads'] / m['pdq+digests']:>14.3f}")
    print()
    print(f"Load average: {load_start} at start, {loadavg()} at end; "
          f"wall {time.perf_counter() - t0:.1f} s")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"cold": args.cold, "cpu": cpu_model(), "isa": info["active_isa"],
                       "rows": rows}, fh, indent=2)
    return 0

