"""Fast mode (JPEG decoded scaled in the DCT domain) against exact mode, side by side
with pip ``pdqhash`` + Pillow ``draft`` (the usual Python way of doing the same).

1. Corpus. ``--photos DIR``: every image Pillow can open in DIR is a source
   photograph. For each target size (``--sizes``, megapixels) it is converted to RGB,
   resized with LANCZOS to that area (aspect ratio kept; a source within 5 % of the
   area keeps its own pixels), given mild Gaussian noise (sigma 2 per channel, as
   sensor grain) when it was enlarged, and saved as JPEG quality 90 with 4:2:0 chroma
   subsampling. Without ``--photos``: the synthetic photo-like images of
   tidehash.bench.photos (seeds 0..N-1), made the same way.
2. Distances: PDQ Hamming distance between fast and exact mode on every image, for
   tidehash (``hash_file(path, fast=True)`` vs ``hash_file(path)``), for every floor
   of ``--floors`` (hash_file(fast=True) with FAST_MIN_SIDE set to the floor: a JPEG
   whose short side is at least 2 x floor is drafted to >= floor), and for pdqhash + Pillow
   ``draft("RGB", (512, 512))`` vs pdqhash on the full decode.
3. Speed, file -> hash, one thread, on ``--time-images`` images per size: tidehash
   exact, tidehash fast, pdqhash full decode, pdqhash + draft (and Pillow's decode
   alone, full and drafted). Per image, the competitors run in interleaved rounds
   (starting competitor rotated each round, one image per call); each image's median
   over the rounds is taken, and ms/image is their mean over the timed images. Each
   competitor runs on a thread of its own, so that exact and fast mode each keep their
   own reusable decode buffer, as each would in a batch.

Usage (``benchmarks/bench_fast.py`` is the same with BLAS / OpenMP pools pinned to one
thread)::

    python -m tidehash.bench fast --photos DIR --work-dir benchmarks/out/fast
    python -m tidehash.bench fast --quick          # synthetic, < 1 minute
    python -m tidehash.bench fast --photos DIR --json benchmarks/out/fast.json

Needs pip ``pdqhash``, the competitor.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image, features

import tidehash
from tidehash import image as tidehash_image
from tidehash.image import FAST_MIN_SIDE

from . import args as bench_args
from .hash import import_optional, pdqhash_hex
from .machine import cpu_model, dist_version, loadavg, scratch_dir
from .photos import make_photo_like
from .timing import run_interleaved

CORPUS_VERSION = 1  # bump when the derivation below changes (cached --work-dir files)
NOISE_SIGMA = 2.0
JPEG_QUALITY = 90
ANCHOR_FLOOR = 512  # the pdqhash + draft pipeline it is compared with


# ------------------------------------------------------------------------- corpus

def target_size(w: int, h: int, megapixels: float) -> tuple[int, int]:
    scale = (megapixels * 1e6 / (w * h)) ** 0.5
    if abs(scale * scale - 1.0) <= 0.05:
        return w, h
    return max(1, round(w * scale)), max(1, round(h * scale))


def derive(src: Image.Image, megapixels: float, seed: int) -> Image.Image:
    rgb = src.convert("RGB")
    w, h = target_size(*rgb.size, megapixels)
    if (w, h) == rgb.size:
        return rgb
    out = rgb.resize((w, h), Image.LANCZOS)
    if w > rgb.size[0]:  # enlarged: add grain so the image is not unnaturally smooth
        rng = np.random.default_rng(seed)
        arr = np.asarray(out, dtype=np.float32)
        arr += rng.standard_normal(arr.shape, dtype=np.float32) * NOISE_SIGMA
        out = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "RGB")
    return out


@dataclass
class CorpusImage:
    name: str
    megapixels: float
    path: str
    width: int
    height: int


def source_photos(photo_dir: str | None, count: int, log) -> list[tuple[str, Callable]]:
    """(name, loader) per source photograph, sorted by name."""
    if photo_dir is None:
        return [(f"synthetic{seed:03d}",
                 (lambda s=seed: Image.fromarray(make_photo_like(1600, 1200, s), "RGB")))
                for seed in range(count)]
    out = []
    for entry in sorted(os.listdir(photo_dir)):
        path = os.path.join(photo_dir, entry)
        try:
            with Image.open(path) as im:
                im.size  # noqa: B018 - identify only
        except Exception:  # noqa: BLE001 - not an image: skip it
            log(f"  skipped {entry} (not an image)")
            continue
        out.append((os.path.splitext(entry)[0], (lambda p=path: _load(p))))
    return out[:count] if count else out


def _load(path: str) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        return im.copy()


def build_corpus(sources, sizes: Sequence[float], work_dir: str, log) -> list[CorpusImage]:
    images = []
    t0 = time.perf_counter()
    for i, (name, loader) in enumerate(sources):
        src = None
        for mp in sizes:
            path = os.path.join(work_dir, f"v{CORPUS_VERSION}_{mp:g}mp_{name}.jpg")
            if not os.path.exists(path):
                if src is None:
                    src = loader()
                seed = int.from_bytes(hashlib.sha256(f"{name}/{mp}".encode()).digest()[:4],
                                      "little")
                im = derive(src, mp, seed)
                tmp = path + ".tmp"
                im.save(tmp, "JPEG", quality=JPEG_QUALITY, subsampling=2)
                os.replace(tmp, path)
            with Image.open(path) as im:
                w, h = im.size
            images.append(CorpusImage(name, mp, path, w, h))
        if (i + 1) % 10 == 0:
            log(f"  corpus: {i + 1}/{len(sources)} sources ({time.perf_counter() - t0:.0f} s)")
    return images


# ------------------------------------------------------------------------ hashing

def scale_for(short_side: int, floor: int) -> int:
    """tidehash's fast-mode rule with FAST_MIN_SIDE = floor: the DCT scale factor."""
    if short_side // floor < 2:
        return 1
    return next(s for s in (8, 4, 2) if short_side // floor >= s)


def tidehash_floor(path: str, floor: int) -> tidehash.PDQHash:
    """hash_file(path, fast=True) as it would be with FAST_MIN_SIDE = floor (the same
    code path, reusable decode buffer included). Calls never overlap: every
    competitor waits for its result, so setting the module constant is safe here."""
    saved = tidehash_image.FAST_MIN_SIDE
    tidehash_image.FAST_MIN_SIDE = floor
    try:
        return tidehash.hash_file(path, fast=True).pdq
    finally:
        tidehash_image.FAST_MIN_SIDE = saved


def pdqhash_file(path: str, draft: bool) -> str:
    with Image.open(path) as im:
        if draft:
            im.draft("RGB", (ANCHOR_FLOOR, ANCHOR_FLOOR))
        arr = np.asarray(im.convert("RGB"))
    import pdqhash  # checked in main

    vec, _q = pdqhash.compute(arr)
    return pdqhash_hex(vec)


def pillow_decode(path: str, draft: bool) -> None:
    with Image.open(path) as im:
        if draft:
            im.draft("RGB", (ANCHOR_FLOOR, ANCHOR_FLOOR))
        im.load()


def stats(values: Sequence[int]) -> dict:
    a = np.asarray(values, dtype=np.float64)
    return {"n": int(a.size), "mean": float(a.mean()), "p99": float(np.percentile(a, 99)),
            "max": int(a.max()), "median": float(np.median(a)),
            "zero": int((a == 0).sum())}


def measure_distances(images: list[CorpusImage], floors: Sequence[int], log) -> dict:
    """Per size: distances of each method from its own exact hash."""
    per_size: dict = {}
    t0 = time.perf_counter()
    for k, img in enumerate(images):
        exact = tidehash.hash_file(img.path).pdq
        fast = tidehash.hash_file(img.path, fast=True).pdq
        row = per_size.setdefault(img.megapixels, {"images": [], "tidehash_fast": [],
                                                    "pdqhash_draft": [], "floors": {}})
        d_fast = tidehash.hamming(exact, fast)
        d_floors = {}
        for floor in floors:
            h = tidehash_floor(img.path, floor)
            d_floors[floor] = tidehash.hamming(exact, h)
            row["floors"].setdefault(floor, []).append(d_floors[floor])
        if FAST_MIN_SIDE in d_floors:  # hash_file(fast=True) is exactly that rule
            assert d_floors[FAST_MIN_SIDE] == d_fast, (img.path, d_floors, d_fast)
        ref_full = pdqhash_file(img.path, draft=False)
        ref_draft = pdqhash_file(img.path, draft=True)
        d_ref = bin(int(ref_full, 16) ^ int(ref_draft, 16)).count("1")
        row["tidehash_fast"].append(d_fast)
        row["pdqhash_draft"].append(d_ref)
        row["images"].append({"name": img.name, "size": f"{img.width}x{img.height}",
                              "scale": scale_for(min(img.width, img.height), FAST_MIN_SIDE),
                              "quality": exact.quality, "tidehash_fast": d_fast,
                              "pdqhash_draft": d_ref,
                              "floors": {str(f): d for f, d in d_floors.items()}})
        if (k + 1) % 25 == 0:
            log(f"  distances: {k + 1}/{len(images)} ({time.perf_counter() - t0:.0f} s)")
    out = {}
    for mp, row in per_size.items():
        out[f"{mp:g}"] = {
            "tidehash_fast": stats(row["tidehash_fast"]),
            "pdqhash_draft": stats(row["pdqhash_draft"]),
            "floors": {str(f): stats(v) for f, v in row["floors"].items()},
            "scales": sorted({r["scale"] for r in row["images"]}),
            "images": row["images"],
        }
    return out


class OwnThread:
    """Runs a competitor on a thread of its own (one per competitor, kept for the whole
    run): hash_file keeps one reusable decode buffer per thread, keyed on the decoded
    size, and exact and fast mode interleaved on one thread would evict each other's
    buffer on every call, which neither pays in a batch of its own. Every competitor
    goes through one (the hand-off, ~50 us, is the same for all)."""

    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1)

    def wrap(self, fn: Callable[[], object]) -> Callable[[], object]:
        return lambda: self._pool.submit(fn).result()

    def close(self) -> None:
        self._pool.shutdown()


def measure_speed(images: list[CorpusImage], per_size: int, rounds: int, floors, log) -> dict:
    """Per size: ms per image of each competitor = the mean over the timed images of
    each image's median over ``rounds`` interleaved rounds. One call is one image,
    so a burst of load from another process hits all competitors alike."""
    names = ["pillow_decode", "pillow_decode_draft", "tidehash_exact", "tidehash_fast",
             "pdqhash_full", "pdqhash_draft"]
    names += [f"tidehash_floor{f}" for f in floors if f != FAST_MIN_SIDE]
    threads = {name: OwnThread() for name in names}
    try:
        return _measure_speed(images, per_size, rounds, floors, threads, log)
    finally:
        for t in threads.values():
            t.close()


def _measure_speed(images, per_size, rounds, floors, threads, log) -> dict:
    out = {}
    for mp in sorted({i.megapixels for i in images}):
        pool = [i for i in images if i.megapixels == mp]
        step = max(1, len(pool) // per_size)
        chosen = [i.path for i in pool[::step][:per_size]]
        log(f"  speed {mp:g} MP: {len(chosen)} images x {rounds} rounds ...")
        per_image: dict[str, list[float]] = {}
        for path in chosen:
            competitors = [
                ("pillow_decode", lambda p=path: pillow_decode(p, False)),
                ("pillow_decode_draft", lambda p=path: pillow_decode(p, True)),
                ("tidehash_exact", lambda p=path: tidehash.hash_file(p)),
                ("tidehash_fast", lambda p=path: tidehash.hash_file(p, fast=True)),
                ("pdqhash_full", lambda p=path: pdqhash_file(p, False)),
                ("pdqhash_draft", lambda p=path: pdqhash_file(p, True)),
            ]
            for floor in floors:
                if floor != FAST_MIN_SIDE:
                    competitors.append((f"tidehash_floor{floor}",
                                        lambda p=path, f=floor: tidehash_floor(p, f)))
            competitors = [(name, threads[name].wrap(fn)) for name, fn in competitors]
            res = run_interleaved(competitors, (0.0, rounds, rounds), warmup=1, repeats=rounds)
            for name, r in res.items():
                per_image.setdefault(name, []).append(r.median * 1e3)
        out[f"{mp:g}"] = {
            "files": [os.path.basename(p) for p in chosen],
            "ms_per_image": {k: float(np.mean(v)) for k, v in per_image.items()},
            "median_ms_by_image": {k: [round(x, 3) for x in v] for k, v in per_image.items()},
        }
    return out


# ----------------------------------------------------------------------- reporting

def scale_list(scales) -> str:
    """{1, 2} -> '1,1/2': the DCT scale factors that occurred."""
    return ",".join(f"1/{s}" if s > 1 else "1" for s in sorted(scales))


def format_report(meta: dict, dist: dict, speed: dict) -> str:
    out = []
    w = out.append
    w("tidehash fast mode benchmark (single thread)")
    w(f"CPU            : {meta['cpu_model']} ({meta['logical_cpus']} logical CPUs)")
    w(f"SIMD           : active {meta['active_isa']} (available "
      f"{', '.join(meta['available_isas'])})")
    w(f"Versions       : Python {meta['python']}, tidehash {meta['tidehash']}, "
      f"Pillow {meta['pillow']} (libjpeg-turbo {meta['libjpeg_turbo']}), "
      f"pdqhash {meta['pdqhash']}")
    w(f"Corpus         : {meta['corpus']}")
    w(f"Fast mode      : FAST_MIN_SIDE = {meta['fast_min_side']} (JPEG drafted when its "
      "short side >= 2 x that)")
    w("")
    w("1. PDQ distance, fast vs exact decode of the same file (bits of 256)")
    w("   tidehash: hash_file(fast=True) vs hash_file(); pdqhash: Pillow draft('RGB', "
      f"({ANCHOR_FLOOR}, {ANCHOR_FLOOR})) vs full decode")
    w("")
    hdr = (f"{'size':>7} {'n':>3} {'scale':>8}  {'method':<24} {'mean':>6} {'p99':>6} "
           f"{'max':>4} {'=0':>4}")
    w(hdr)
    w("-" * len(hdr))
    for mp, d in dist.items():
        scales = scale_list(d["scales"])
        for label, s in (("tidehash fast", d["tidehash_fast"]),
                         ("pdqhash + draft", d["pdqhash_draft"])):
            w(f"{mp + ' MP':>7} {s['n']:>3} {scales:>8}  {label:<24} {s['mean']:>6.2f} "
              f"{s['p99']:>6.1f} {s['max']:>4} {s['zero']:>4}")
    if any(d["floors"] for d in dist.values()):
        w("")
        w("   tidehash, by floor (draft when short side >= 2 x floor; same rule as fast mode)")
        w("")
        hdr = (f"{'size':>7} {'floor':>6} {'scale':>8} {'mean':>6} {'p99':>6} {'max':>4} "
               f"{'ms/img':>8}")
        w(hdr)
        w("-" * len(hdr))
        for mp, d in dist.items():
            for floor, s in d["floors"].items():
                sc = {scale_for(min(map(int, r["size"].split("x"))), int(floor))
                      for r in d["images"]}
                scales = scale_list(sc)
                sp = speed.get(mp, {}).get("ms_per_image", {})
                key = "tidehash_fast" if int(floor) == meta["fast_min_side"] else \
                    f"tidehash_floor{floor}"
                ms = f"{sp[key]:>8.2f}" if key in sp else f"{'':>8}"
                w(f"{mp + ' MP':>7} {floor:>6} {scales:>8} {s['mean']:>6.2f} {s['p99']:>6.1f} "
                  f"{s['max']:>4} {ms}")
    if speed:
        w("")
        w("2. File -> hash, ms per image (per-image medians of interleaved rounds, averaged), "
          "one thread")
        w("   decode = Pillow open + load; th = tidehash.hash_file; pdq = Pillow "
          "convert('RGB') + np.asarray + pdqhash.compute")
        w("")
        hdr = (f"{'size':>7} {'decode':>8} {'dec+draft':>9} {'th exact':>9} {'th fast':>8} "
               f"{'pdq full':>9} {'pdq+draft':>9}  {'th fast/exact':>13} "
               f"{'pdq draft/full':>14} {'th fast vs pdq+draft':>20}")
        w(hdr)
        w("-" * len(hdr))
        for mp, s in speed.items():
            m = s["ms_per_image"]
            w(f"{mp + ' MP':>7} {m['pillow_decode']:>8.2f} {m['pillow_decode_draft']:>9.2f} "
              f"{m['tidehash_exact']:>9.2f} {m['tidehash_fast']:>8.2f} {m['pdqhash_full']:>9.2f} "
              f"{m['pdqhash_draft']:>9.2f}  "
              f"{m['tidehash_exact'] / m['tidehash_fast']:>12.2f}x "
              f"{m['pdqhash_full'] / m['pdqhash_draft']:>13.2f}x "
              f"{m['pdqhash_draft'] / m['tidehash_fast']:>19.2f}x")
        w("")
        w("   th fast/exact = speed-up of fast mode; pdq draft/full = the same for pdqhash;")
        w("   th fast vs pdq+draft = pdqhash+draft time / tidehash fast time (> 1: tidehash "
          "faster)")
    w("")
    w(f"Load average   : {meta['loadavg_start']} at start, {meta['loadavg_end']} at end")
    w(f"Total wall time: {meta['wall_s']:.1f} s")
    return "\n".join(out)


# ---------------------------------------------------------------------------- main

def parser(prog: str = "python -m tidehash.bench fast") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    ap.add_argument("--photos", metavar="DIR",
                    help="source photographs (default: synthetic photo-like images)")
    ap.add_argument("--count", type=bench_args.int_in(0), default=0,
                    help="use the first N sources (default: all photos, 48 synthetic)")
    ap.add_argument("--sizes", type=bench_args.megapixel_list(min_side=16),
                    default=[12.0, 1.0, 0.25], help="megapixels, default 12,1,0.25")
    ap.add_argument("--floors", type=bench_args.int_list(1, bench_args.MAX_SIDE),
                    default=(),
                    help=f"also measure these floors (e.g. 256,384,{FAST_MIN_SIDE},768,1024)")
    ap.add_argument("--time-images", type=bench_args.int_in(1), default=8,
                    help="images per size for timing")
    ap.add_argument("--rounds", type=bench_args.int_in(1), default=5, help="timed rounds")
    ap.add_argument("--work-dir", metavar="DIR",
                    help="keep (and reuse) the corpus JPEGs here (default: temporary)")
    ap.add_argument("--quick", action="store_true",
                    help="6 synthetic sources, 2 timing images, 2 rounds")
    ap.add_argument("--no-speed", action="store_true", help="distances only")
    ap.add_argument("--json", metavar="OUT", help="write everything (per image too) as JSON")
    return ap


def main(argv: Sequence[str] | None = None, prog: str = "python -m tidehash.bench fast") -> int:
    ap = parser(prog)
    args = ap.parse_args(argv)
    if import_optional("pdqhash") is None:
        print(f"{prog} needs the competitor: pip install 'pdqhash>=0.2.8'", file=sys.stderr)
        return 2
    sizes, floors = list(args.sizes), list(args.floors)
    if args.quick:
        args.count = args.count or 6
        args.time_images, args.rounds = 2, 2
    count = args.count or (0 if args.photos else 48)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    load_start = loadavg()
    with scratch_dir(args.work_dir, "tidehash-fast-") as work_dir:
        sources = source_photos(args.photos, count, log)
        log(f"building the corpus: {len(sources)} sources x {len(sizes)} sizes in {work_dir}")
        images = build_corpus(sources, sizes, work_dir, log)
        log("measuring distances ...")
        dist = measure_distances(images, floors, log)
        speed = {} if args.no_speed else measure_speed(images, args.time_images, args.rounds,
                                                       floors, log)

    info = tidehash.cpu_info()
    corpus = (f"{len(sources)} photographs from {args.photos}" if args.photos else
              f"{len(sources)} synthetic photo-like images "
              "(tidehash.bench.photos.make_photo_like, 1600x1200)")
    corpus += (f"; per size: LANCZOS to the area, noise sigma {NOISE_SIGMA} when enlarged, "
               f"JPEG q{JPEG_QUALITY} 4:2:0")
    meta = {
        "cpu_model": cpu_model(), "logical_cpus": os.cpu_count(),
        "active_isa": info["active_isa"], "available_isas": info["available_isas"],
        "python": platform.python_version(), "tidehash": tidehash.__version__,
        "pillow": Image.__version__, "pdqhash": dist_version("pdqhash"),
        "libjpeg_turbo": features.version("libjpeg_turbo"),
        "corpus": corpus, "sources": [name for name, _ in sources], "sizes": sizes,
        "fast_min_side": FAST_MIN_SIDE, "floors": floors, "anchor_floor": ANCHOR_FLOOR,
        "time_images": args.time_images, "rounds": args.rounds,
        "loadavg_start": load_start, "loadavg_end": loadavg(),
        "wall_s": time.perf_counter() - t_start,
    }
    print(format_report(meta, dist, speed))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"meta": meta, "distances": dist, "speed": speed}, fh, indent=2)
        log(f"wrote {args.json}")
    return 0

