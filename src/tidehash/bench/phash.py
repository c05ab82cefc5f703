"""Single-threaded pHash benchmark: ``tidehash.phash`` against ``imagehash.phash``.

Both hash the same already-loaded Pillow RGB images, in the same process,
interleaved round by round (the competitor that goes first rotates each round),
with the garbage collector off while timing; times are ``perf_counter`` medians
after a warm-up. Each timed call starts from the same cache state for every
competitor (otherwise whichever runs right after the other finds the shared
image in cache): by default ``--cache warm``, the same call is made once,
untimed, just before (image, tables and buffers in cache, as right after
decoding); ``--cache cold`` reads a 64 MB buffer instead, so the image comes
from memory. Per size and hash size (8 = 64 bits, 16 = 256 bits):

* ``imagehash``  ``imagehash.phash(im, hs)``: Pillow's convert("L") and LANCZOS
  resize, then scipy's DCT;
* ``tidehash``   ``tidehash.phash(im, hs)`` on the same image object. Pillow keeps
  an image over 16 MB (about 4 MP of RGB) in several memory blocks, which it
  cannot export in place: tidehash then reads it in ~2 MB strips (crops);
* ``one block``  ``tidehash.phash`` on the same pixels decoded by
  ``tidehash.image.decode`` (one block, read in place: what ``hash_file`` sees);
* ``new size``   ``tidehash.phash`` with its per-size coefficient cache emptied
  before every call (the first image of a size: two sin() per resize tap).

"same" says whether the two hashes are equal (they must be, on every image). The
images are synthetic but photo-like (smooth fields, shapes, grain); both
implementations' costs barely depend on content.

Usage (``benchmarks/bench_phash.py`` is the same with BLAS / OpenMP pools pinned to one
thread, as its timings assume; needs pip ``imagehash`` and ``scipy``)::

    python -m tidehash.bench phash                  # about a minute
    python -m tidehash.bench phash --quick          # CI smoke, seconds
    python -m tidehash.bench phash --json benchmarks/out/phash.json
    python -m tidehash.bench phash --isa all --sizes 0.25,1,12,500x500

``--sizes`` takes megapixels (4:3 frames: 0.25 -> 577x433, 1 -> 1155x866,
12 -> 4000x3000) or explicit WxH.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import io
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
import PIL
from PIL import Image, ImageDraw, ImageFilter

import tidehash
from tidehash.image import arrow_capsules, decode

from . import args as bench_args
from .args import image_sizes
from .hash import import_optional
from .machine import cpu_model, loadavg
from .timing import with_isa

phash_module = importlib.import_module("tidehash.phash")

# After the warm-up each case gets about `budget` seconds, between lo and hi rounds.
FULL_POLICY = {"budget": 3.0, "lo": 11, "hi": 200, "warmup": 2}
QUICK_POLICY = {"budget": 0.1, "lo": 3, "hi": 8, "warmup": 1}
COMPETITORS = ("imagehash", "tidehash", "one_block", "new_size")


parse_sizes = image_sizes(min_side=1)


def photo_like(w: int, h: int, seed: int) -> np.ndarray:
    """A deterministic photo-like (h, w, 3) uint8 image: smooth colour fields,
    soft shapes, sensor grain."""
    rng = np.random.default_rng([seed, w, h])
    field = rng.integers(0, 256, (max(2, h // 150), max(2, w // 150), 3), dtype=np.uint8)
    im = Image.fromarray(field, "RGB").resize((w, h), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.02, 0.2) * w, rng.uniform(0.02, 0.2) * h
        draw.ellipse([x - rx, y - ry, x + rx, y + ry],
                     fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    im = im.filter(ImageFilter.GaussianBlur(max(1.0, w / 1500)))
    arr = np.asarray(im, dtype=np.int16)
    arr = arr + rng.integers(-6, 7, (h, w, 1), dtype=np.int16)
    return np.clip(arr, 0, 255).astype(np.uint8)


def one_block_copy(arr: np.ndarray) -> Image.Image:
    """The same pixels as tidehash.image.decode loads them (one memory block)."""
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, format="PPM")
    im = decode(buf.getvalue()).image
    assert im is not None and arrow_capsules(im) is not None
    return im


_EVICT = None


def evict_caches() -> None:
    """Read 64 MB (more than the L3 of most CPUs) so the next call starts cold."""
    global _EVICT
    if _EVICT is None:
        _EVICT = np.ones(64 << 20 >> 3, dtype=np.int64)
    _EVICT.sum()


def run_interleaved(cases: Sequence[tuple[str, Callable[[], object]]], policy: dict,
                    repeats: int | None, cache: str = "warm") -> dict[str, dict]:
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        slowest = 0.0
        for _ in range(policy["warmup"]):
            for _name, fn in cases:
                t0 = time.perf_counter()
                fn()
                slowest = max(slowest, time.perf_counter() - t0)
        if repeats is None:
            repeats = int(min(policy["hi"], max(policy["lo"],
                                                policy["budget"] / max(slowest, 1e-6))))
        wall = {name: [] for name, _ in cases}
        cpu = {name: [] for name, _ in cases}
        for r in range(repeats):
            for k in range(len(cases)):
                name, fn = cases[(r + k) % len(cases)]
                if cache == "cold":
                    evict_caches()
                else:
                    fn()
                c0, t0 = time.thread_time(), time.perf_counter()
                fn()
                t1, c1 = time.perf_counter(), time.thread_time()
                wall[name].append(t1 - t0)
                cpu[name].append(c1 - c0)
            gc.collect()
    finally:
        if was_enabled:
            gc.enable()
    out = {}
    for name, _ in cases:
        s = sorted(wall[name])
        out[name] = {"reps": len(s), "median_ms": statistics.median(s) * 1e3,
                     "min_ms": s[0] * 1e3, "max_ms": s[-1] * 1e3,
                     "cpu_median_ms": statistics.median(cpu[name]) * 1e3,
                     "samples_ms": [round(t * 1e3, 4) for t in wall[name]]}
    return out


def bench(sizes, hash_sizes, isas, policy, repeats, seed, cache, log) -> list[dict]:
    import imagehash  # checked in main

    rows = []
    for w, h in sizes:
        arr = photo_like(w, h, seed)
        im = Image.fromarray(arr, "RGB")
        im.load()
        block = one_block_copy(arr)
        blocks = "one" if arrow_capsules(im) is not None else "several"
        for hs in hash_sizes:
            ref = str(imagehash.phash(im, hs))
            for isa in isas:
                with tidehash.use_isa(isa):
                    got = {tidehash.phash(im, hs).hex, tidehash.phash(block, hs).hex}

                def new_size(im=im, hs=hs):
                    phash_module._table.cache_clear()
                    return tidehash.phash(im, hs)

                cases = [("imagehash", lambda im=im, hs=hs: imagehash.phash(im, hs)),
                         ("tidehash", with_isa(isa, lambda im=im, hs=hs: tidehash.phash(im, hs))),
                         ("one_block",
                          with_isa(isa, lambda b=block, hs=hs: tidehash.phash(b, hs))),
                         ("new_size", with_isa(isa, new_size))]
                log(f"  {w}x{h} hash_size {hs} {isa} ...")
                res = run_interleaved(cases, policy, repeats, cache)
                base = res["imagehash"]["median_ms"]
                rows.append({
                    "size": f"{w}x{h}", "width": w, "height": h, "megapixels": w * h / 1e6,
                    "hash_size": hs, "isa": isa, "pillow_blocks": blocks,
                    "imagehash_hex": ref, "tidehash_hex": sorted(got), "same": got == {ref},
                    **{k: res[k] for k in COMPETITORS},
                    "speedup": {k: base / res[k]["median_ms"] for k in COMPETITORS[1:]},
                })
    return rows


def format_report(meta: dict, rows: list[dict]) -> str:
    out = [f"tidehash pHash benchmark ({meta['mode']} mode, single thread)",
           f"CPU       : {meta['cpu_model']} ({meta['logical_cpus']} logical CPUs)",
           f"SIMD      : active {meta['active_isa']} (available "
           f"{', '.join(meta['available_isas'])})",
           f"Versions  : Python {meta['python']}, numpy {meta['numpy']}, Pillow "
           f"{meta['pillow']}, imagehash {meta['imagehash']}, scipy {meta['scipy']}",
           f"Median ms per image (perf_counter, {meta['cache']} caches); "
           "x = imagehash / tidehash. tidehash = the same",
           "Pillow image; one block = as tidehash.image.decode loads it; new size = empty",
           "coefficient cache (the first image of its size).",
           ""]
    hdr = (f"{'size':<10} {'MP':>5} {'hs':>3} {'isa':<7} {'reps':>4} {'imagehash':>10} "
           f"{'tidehash':>9} {'x':>6} {'one block':>9} {'x':>6} {'new size':>8} {'x':>6}  same")
    out += [hdr, "-" * len(hdr)]
    for r in rows:
        s = r["speedup"]
        size = r["size"] + ("*" if r["pillow_blocks"] == "several" else "")
        out.append(
            f"{size:<10} {r['megapixels']:>5.2f} {r['hash_size']:>3} {r['isa']:<7} "
            f"{r['imagehash']['reps']:>4} {r['imagehash']['median_ms']:>10.3f} "
            f"{r['tidehash']['median_ms']:>9.3f} {s['tidehash']:>5.1f}x "
            f"{r['one_block']['median_ms']:>9.3f} {s['one_block']:>5.1f}x "
            f"{r['new_size']['median_ms']:>8.3f} {s['new_size']:>5.1f}x  "
            f"{'yes' if r['same'] else 'NO'}")
    out.append("")
    if any(r["pillow_blocks"] == "several" for r in rows):
        out.append("* Pillow holds this image in several memory blocks (read in strips).")
    out += [f"Load average {meta['loadavg_start']} at start, {meta['loadavg_end']} at end; "
            f"wall time {meta['wall_s']:.1f} s"]
    return "\n".join(out)


def parser(prog: str = "python -m tidehash.bench phash") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description="pHash benchmark: tidehash vs imagehash")
    ap.add_argument("--quick", action="store_true", help="few repetitions (CI smoke)")
    ap.add_argument("--json", metavar="OUT", help="write all results (raw samples too) as JSON")
    ap.add_argument("--sizes", type=parse_sizes, default=parse_sizes("0.25,1,12"),
                    help="comma-separated megapixels (4:3) or WxH; default 0.25,1,12")
    ap.add_argument("--hash-sizes", type=bench_args.hash_sizes, default=(8, 16),
                    help="default 8,16")
    ap.add_argument("--isa", default="active",
                    help="'active' (default), 'all', or levels such as scalar,avx2")
    ap.add_argument("--repeats", type=bench_args.int_in(1), default=None,
                    help="fixed rounds per case")
    ap.add_argument("--seed", type=bench_args.seed, default=1)
    ap.add_argument("--cpu", type=bench_args.cpu, default=None, help="pin to this CPU (Linux)")
    ap.add_argument("--cache", choices=("warm", "cold"), default="warm",
                    help="warm: each timed call right after the same call, untimed "
                         "(default); cold: after reading 64 MB, so the image comes from memory")
    return ap


def main(argv: Sequence[str] | None = None, prog: str = "python -m tidehash.bench phash") -> int:
    ap = parser(prog)
    args = ap.parse_args(argv)
    if import_optional("imagehash") is None:  # also checks scipy's DCT
        print(f"{prog} needs the competitor: pip install imagehash scipy", file=sys.stderr)
        return 2
    import imagehash
    import scipy

    available = list(tidehash.available_isas())
    active = tidehash.cpu_info()["active_isa"]
    if args.isa == "active":
        isas = [active]
    elif args.isa == "all":
        isas = available
    else:
        isas = [s.strip().lower() for s in args.isa.split(",") if s.strip()]
        if any(s not in available for s in isas):
            ap.error(f"available ISAs: {', '.join(available)}")
    hash_sizes = list(args.hash_sizes)
    if args.cpu is not None:
        try:
            os.sched_setaffinity(0, {args.cpu})
        except (AttributeError, OSError) as exc:
            ap.error(f"cannot pin to CPU {args.cpu}: {exc}")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t0, load0 = time.perf_counter(), loadavg()
    policy = QUICK_POLICY if args.quick else FULL_POLICY
    rows = bench(args.sizes, hash_sizes, isas, policy, args.repeats, args.seed, args.cache, log)
    info = tidehash.cpu_info()
    meta = {
        "mode": "quick" if args.quick else "full", "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(), "pinned_cpu": args.cpu,
        "active_isa": info["active_isa"], "available_isas": info["available_isas"],
        "cpu_features": info["features"], "python": platform.python_version(),
        "platform": platform.platform(), "numpy": np.__version__, "pillow": PIL.__version__,
        "imagehash": getattr(imagehash, "__version__", "?"), "scipy": scipy.__version__,
        "tidehash": tidehash.__version__, "policy": policy, "seed": args.seed,
        "cache": args.cache,
        "loadavg_start": load0, "loadavg_end": loadavg(), "wall_s": time.perf_counter() - t0,
    }
    print(format_report(meta, rows))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"meta": meta, "rows": rows}, fh, indent=2)
        log(f"wrote {args.json}")
    if not all(r["same"] for r in rows):
        log("warning: tidehash and imagehash hashes differ on some image")
        return 1
    return 0

