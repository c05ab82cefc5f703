#!/usr/bin/env python
"""Single-threaded PDQ benchmark: tidehash against the pip ``pdqhash`` package.

Both run in the same process, on the same inputs, interleaved round by round
(the order of the competitors is rotated each round, so neither always runs
first on a shared machine). Times are ``time.perf_counter`` medians of several
repetitions after a warm-up, with the garbage collector disabled while timing.

1. hash only: ``tidehash.pdq_hash(arr)`` for each instruction-set level (forced
   with ``tidehash.use_isa``) against ``pdqhash.compute(arr)`` on one (H, W, 3)
   uint8 array per size;
2. file to hash, on JPEG (quality 90) and PNG files of the same sizes:
   (a) Pillow decode alone, ``Image.open(path)`` + ``.load()``;
   (b) ``tidehash.hash_file(path)``;
   (c) Pillow + pdqhash: open, ``convert("RGB")``, ``np.asarray``, ``pdqhash.compute``.

The images are synthetic but photo-like (smooth gradients, blurred blobs,
soft-edged shapes, grain, text-like strokes): pure noise would decode unrealistically
slowly. They are written to a temporary directory (or ``--image-dir``).

Usage (from the repository root, after ``python setup.py build_ext --inplace``)::

    PYTHONPATH=src python benchmarks/bench_pdq.py                 # full, about 1-2 minutes
    PYTHONPATH=src python benchmarks/bench_pdq.py --quick         # CI smoke, < 30 s
    PYTHONPATH=src python benchmarks/bench_pdq.py --json benchmarks/out/pdq.json
    PYTHONPATH=src python benchmarks/bench_pdq.py --isa avx2 --sizes 0.25,1,12

``--sizes`` takes megapixels (4:3 frames: 0.25 -> 577x433, 1 -> 1155x866,
12 -> 4000x3000) or explicit WxH (``500x500``).
"""

from __future__ import annotations

import os

# Single-threaded by construction: no library may spread work over other cores.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import numpy as np  # noqa: E402
import PIL  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter, features  # noqa: E402

try:
    import resource  # noqa: E402  (POSIX only)
except ImportError:  # pragma: no cover
    resource = None

try:
    import pdqhash  # noqa: E402
except ImportError:  # pragma: no cover - the comparison is the point of the script
    sys.exit("bench_pdq.py needs the competitor: pip install 'pdqhash>=0.2.8'")

import tidehash  # noqa: E402

GENERATOR_VERSION = 1  # bump when the synthetic images change (cached --image-dir files)
GRAIN_LUMA, GRAIN_CHROMA, TEXTURE, LENS_BLUR = 6.0, 3.0, 24.0, 0.4

# Repetition policy: after the warm-up, each competitor gets about `budget`
# seconds of timed calls, between `lo` and `hi` repetitions (so 12 MP gets fewer).
FULL_POLICY = {"hash": (3.0, 11, 200), "file": (4.0, 11, 100), "warmup": 2}
QUICK_POLICY = {"hash": (0.08, 3, 8), "file": (0.12, 2, 5), "warmup": 1}


# --------------------------------------------------------------------------- helpers

def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def dist_version(name: str) -> str:
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001
        mod = sys.modules.get(name)
        return str(getattr(mod, "__version__", "unknown"))


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """'0.25,1,12' (megapixels, 4:3) or '500x500,4000x3000' -> [(width, height), ...]."""
    sizes = []
    for token in text.split(","):
        token = token.strip().lower()
        if not token:
            continue
        if "x" in token:
            w, h = token.split("x", 1)
            size = (int(w), int(h))
        else:
            mp = float(token)
            if mp <= 0:
                raise argparse.ArgumentTypeError(f"size must be positive: {token!r}")
            w = round(math.sqrt(mp * 1e6 * 4 / 3))
            size = (w, round(w * 3 / 4))
        if min(size) < 16:
            raise argparse.ArgumentTypeError(f"size too small: {token!r}")
        sizes.append(size)
    if not sizes:
        raise argparse.ArgumentTypeError("no sizes given")
    return sizes


def mp_label(w: int, h: int) -> str:
    mp = w * h / 1e6
    return f"{mp:.2f} MP" if mp < 10 else f"{mp:.1f} MP"


def pdqhash_hex(vector: np.ndarray) -> str:
    """pdqhash's 256-bit vector as the reference's 64 hex digits (same order as tidehash)."""
    return np.packbits(np.asarray(vector, dtype=np.uint8)).tobytes().hex()


def hamming_hex(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


# ------------------------------------------------------------------ synthetic images

def _smooth_field(rng: np.random.Generator, w: int, h: int, cells: int,
                  channels: int = 3) -> np.ndarray:
    """Random values on a coarse grid (`cells` across), bicubic-upscaled: smooth blobs in [0, 1]."""
    gw = max(2, cells)
    gh = max(2, round(cells * h / w))
    small = rng.integers(0, 256, (gh, gw, channels), dtype=np.uint8)
    mode = "RGB" if channels == 3 else "L"
    im = Image.fromarray(small if channels == 3 else small[:, :, 0], mode)
    big = im.resize((w, h), Image.BICUBIC)
    return np.asarray(big, dtype=np.float32) / 255.0


def make_photo_like(w: int, h: int, seed: int) -> np.ndarray:
    """A deterministic photo-like RGB image, (h, w, 3) uint8.

    The scene is laid out relative to the frame (the same picture at every size);
    the grain is per pixel, as in a camera image."""
    rng = np.random.default_rng([seed, 0x9D9])
    scale = math.sqrt(w * h / 1e6)  # 1.0 at 1 MP

    # 1. Smooth background: vertical sky-to-ground gradient, a horizontal tint, a vignette.
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    top = np.array([120, 170, 225], np.float32)
    bottom = np.array([95, 120, 70], np.float32)
    img = top + y * (bottom - top) + (x - 0.5) * np.array([30, 10, -20], np.float32)
    img *= 1.0 - 0.35 * ((x - 0.5) ** 2 + (y - 0.5) ** 2)  # vignette

    # 2. Blurred blobs at two scales (clouds, foliage, out-of-focus background).
    blobs = _smooth_field(rng, w, h, 6)
    blobs -= 0.5
    blobs *= 90.0
    img += blobs
    blobs = _smooth_field(rng, w, h, 24)
    blobs -= 0.5
    blobs *= 45.0
    img += blobs
    del blobs
    np.clip(img, 0, 255, out=img)
    img = img.astype(np.uint8)

    # 3. Objects: soft-edged ellipses and polygons composited over the background.
    base = Image.fromarray(img, "RGB")
    layer = Image.new("RGB", (w, h))
    mask = Image.new("L", (w, h), 0)
    dl, dm = ImageDraw.Draw(layer), ImageDraw.Draw(mask)
    for _ in range(14):
        cx, cy = rng.uniform(0, w), rng.uniform(0.25 * h, h)
        rx, ry = rng.uniform(0.03, 0.16) * w, rng.uniform(0.03, 0.16) * h
        colour = tuple(int(c) for c in rng.integers(20, 236, 3))
        if rng.random() < 0.5:
            box = [cx - rx, cy - ry, cx + rx, cy + ry]
            dl.ellipse(box, fill=colour)
            dm.ellipse(box, fill=255)
        else:
            n = int(rng.integers(3, 7))
            ang = np.sort(rng.uniform(0, 2 * np.pi, n))
            pts = [(float(cx + rx * np.cos(a)), float(cy + ry * np.sin(a))) for a in ang]
            dl.polygon(pts, fill=colour)
            dm.polygon(pts, fill=255)
    layer = layer.filter(ImageFilter.GaussianBlur(1.2 * scale))
    mask = mask.filter(ImageFilter.GaussianBlur(1.5 * scale))
    base = Image.composite(layer, base, mask)
    img = np.asarray(base, dtype=np.float32)  # a fresh, writable array

    # Shading inside the objects so they are not flat.
    shade = _smooth_field(rng, w, h, 40, channels=1)
    shade *= 0.3
    shade += 0.85
    img *= shade[:, :, None]
    del shade

    # 4. Texture: per-pixel grain everywhere (as from a camera sensor), plus stronger
    #    texture in some regions (grass, fabric), modulated by a smooth mask so the
    #    sky stays smooth.
    img += rng.standard_normal((h, w, 1), dtype=np.float32) * GRAIN_LUMA
    img += rng.standard_normal((h, w, 3), dtype=np.float32) * GRAIN_CHROMA
    tex = rng.integers(0, 256, (h, w), dtype=np.uint8)
    tex_im = Image.fromarray(tex, "L").filter(ImageFilter.GaussianBlur(0.9))
    tex_f = np.asarray(tex_im, dtype=np.float32)
    tex_f -= float(tex_f.mean())
    tex_f *= TEXTURE / max(1.0, float(tex_f.std()))
    region = _smooth_field(rng, w, h, 8, channels=1)
    region *= 2.2
    region -= 0.8
    np.clip(region, 0, 1, out=region)
    region *= y[:, :, 0]
    tex_f *= region
    img += tex_f[:, :, None]
    del tex_f, region
    np.clip(img, 0, 255, out=img)
    img = img.astype(np.uint8)

    # 5. Text-like strokes: a few "signs" with lines of glyphs (random short strokes).
    base = Image.fromarray(img, "RGB")
    draw = ImageDraw.Draw(base)
    for _ in range(3):
        bw, bh = rng.uniform(0.18, 0.32) * w, rng.uniform(0.08, 0.16) * h
        bx, by = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        paper = tuple(int(c) for c in rng.integers(200, 250, 3))
        ink = tuple(int(c) for c in rng.integers(10, 70, 3))
        draw.rectangle([bx, by, bx + bw, by + bh], fill=paper)
        glyph_h = max(6.0, bh / 6)
        glyph_w = glyph_h * 0.6
        stroke = max(1, round(glyph_h / 9))
        line_y = by + glyph_h * 0.6
        while line_y + glyph_h < by + bh:
            gx = bx + glyph_w * 0.5
            while gx + glyph_w < bx + bw:
                if rng.random() < 0.16:  # space between words
                    gx += glyph_w
                    continue
                for _s in range(int(rng.integers(2, 5))):
                    x0, x1 = gx + rng.uniform(0, glyph_w, 2)
                    y0, y1 = line_y + rng.uniform(0, glyph_h, 2)
                    draw.line([(x0, y0), (x1, y1)], fill=ink, width=stroke)
                gx += glyph_w * 1.15
            line_y += glyph_h * 1.5
    # A light optical blur, as a lens would give; then back to an array.
    base = base.filter(ImageFilter.GaussianBlur(LENS_BLUR))
    return np.ascontiguousarray(np.asarray(base, dtype=np.uint8))


@dataclass
class BenchImage:
    width: int
    height: int
    array: np.ndarray
    files: dict[str, str] = field(default_factory=dict)  # format -> path

    @property
    def label(self) -> str:
        return f"{self.width}x{self.height}"


def prepare_images(sizes: Sequence[tuple[int, int]], seed: int, directory: str,
                   log: Callable[[str], None]) -> list[BenchImage]:
    images = []
    for w, h in sizes:
        stem = os.path.join(directory, f"photo_v{GENERATOR_VERSION}_s{seed}_{w}x{h}")
        jpg, png = stem + ".jpg", stem + ".png"
        if os.path.exists(jpg) and os.path.exists(png):
            # Reuse cached files; the array is the exact PNG content (lossless).
            with Image.open(png) as im:
                arr = np.ascontiguousarray(np.asarray(im.convert("RGB")))
            log(f"  reused {w}x{h} images from {directory}")
        else:
            t0 = time.perf_counter()
            arr = make_photo_like(w, h, seed)
            im = Image.fromarray(arr, "RGB")
            im.save(jpg, format="JPEG", quality=90)  # Pillow default 4:2:0, like cameras
            im.save(png, format="PNG")  # Pillow default compress_level=6
            log(f"  generated {w}x{h} ({mp_label(w, h)}) in {time.perf_counter() - t0:.1f} s")
        images.append(BenchImage(w, h, arr, {"JPEG": jpg, "PNG": png}))
    return images


# ------------------------------------------------------------------------- timing

@dataclass
class Result:
    name: str
    samples: list[float] = field(default_factory=list)  # seconds
    faults: list[int] = field(default_factory=list)  # minor page faults per call

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def summary(self) -> dict:
        s = sorted(self.samples)
        q = statistics.quantiles(s, n=4) if len(s) >= 2 else [s[0]] * 3
        return {
            "name": self.name, "reps": len(s),
            "median_ms": self.median * 1e3, "min_ms": s[0] * 1e3,
            "p25_ms": q[0] * 1e3, "p75_ms": q[2] * 1e3, "max_ms": s[-1] * 1e3,
            "images_per_s": 1.0 / self.median,
            "minor_faults_median": statistics.median(self.faults) if self.faults else None,
            "samples_ms": [round(t * 1e3, 4) for t in self.samples],
        }


def _minor_faults() -> int:
    """Minor page faults of this process so far (0 where getrusage is unavailable).

    Read outside the timed window: fresh memory (first touch of newly mapped pages)
    is a real cost that a timing alone does not explain."""
    if resource is None:
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def run_interleaved(competitors: Sequence[tuple[str, Callable[[], object]]],
                    policy: tuple[float, int, int], warmup: int,
                    repeats: int | None = None) -> dict[str, Result]:
    """Time competitors round-robin: each round runs every competitor once, the
    starting competitor rotating from round to round (A,B,C / B,C,A / C,A,B ...)."""
    budget, lo, hi = policy
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        # Warm-up (also estimates the cost of one round to size the repetitions).
        slowest = 0.0
        for _ in range(warmup):
            for _name, fn in competitors:
                t0 = time.perf_counter()
                fn()
                slowest = max(slowest, time.perf_counter() - t0)
        if repeats is None:
            repeats = int(min(hi, max(lo, budget / max(slowest, 1e-6))))
        results = {name: Result(name) for name, _ in competitors}
        n = len(competitors)
        for r in range(repeats):
            for k in range(n):
                name, fn = competitors[(r + k) % n]
                f0 = _minor_faults()
                t0 = time.perf_counter()
                fn()
                t1 = time.perf_counter()
                results[name].samples.append(t1 - t0)
                results[name].faults.append(_minor_faults() - f0)
            gc.collect()  # outside any timed call
    finally:
        if gc_was_enabled:
            gc.enable()
    return results


def with_isa(isa: str, fn: Callable[[], object]) -> Callable[[], object]:
    def call():
        with tidehash.use_isa(isa):
            return fn()
    return call


# ---------------------------------------------------------------------- benchmarks

def bench_hash_only(images, isas, policy, warmup, repeats, log):
    rows = []
    for img in images:
        arr = img.array
        ref_vec, ref_q = pdqhash.compute(arr)
        ref_hex = pdqhash_hex(ref_vec)
        competitors = [("pdqhash", lambda a=arr: pdqhash.compute(a))]
        parity = {}
        for isa in isas:
            with tidehash.use_isa(isa):
                h = tidehash.pdq_hash(arr)
            parity[isa] = {"hex": h.hex, "quality": h.quality,
                           "hamming_to_pdqhash": hamming_hex(h.hex, ref_hex),
                           "quality_equal": h.quality == int(ref_q)}
            competitors.append((f"tidehash[{isa}]",
                                with_isa(isa, lambda a=arr: tidehash.pdq_hash(a))))
        log(f"  hash-only {img.label} ...")
        res = run_interleaved(competitors, policy, warmup, repeats)
        base = res["pdqhash"].median
        row = {"size": img.label, "width": img.width, "height": img.height,
               "megapixels": img.width * img.height / 1e6,
               "pdqhash": res["pdqhash"].summary(), "pdqhash_hex": ref_hex,
               "pdqhash_quality": int(ref_q), "tidehash": {}}
        for isa in isas:
            r = res[f"tidehash[{isa}]"]
            row["tidehash"][isa] = {**r.summary(), **parity[isa],
                                    "speedup_vs_pdqhash": base / r.median}
        rows.append(row)
    return rows


def bench_files(images, isa, policy, warmup, repeats, log):
    def pillow_decode(path):
        im = Image.open(path)
        im.load()
        return im

    def pillow_pdqhash(path):
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"))
        return pdqhash.compute(arr)

    rows = []
    for img in images:
        for fmt, path in img.files.items():
            with tidehash.use_isa(isa):
                rec = tidehash.hash_file(path)
            vec, q = pillow_pdqhash(path)
            ref_hex = pdqhash_hex(vec)
            competitors = [
                ("pillow_decode", lambda p=path: pillow_decode(p)),
                ("tidehash_file", with_isa(isa, lambda p=path: tidehash.hash_file(p))),
                ("pillow_pdqhash", lambda p=path: pillow_pdqhash(p)),
            ]
            log(f"  file-to-hash {img.label} {fmt} ...")
            res = run_interleaved(competitors, policy, warmup, repeats)
            dec, ths, pdq = (res[k].median for k in _FILE_KEYS)
            size = os.path.getsize(path)
            rows.append({
                "size": img.label, "width": img.width, "height": img.height,
                "megapixels": img.width * img.height / 1e6, "format": fmt,
                "file_bytes": size, "bits_per_pixel": 8 * size / (img.width * img.height),
                "isa": isa,
                "pillow_decode": res["pillow_decode"].summary(),
                "tidehash_file": res["tidehash_file"].summary(),
                "pillow_pdqhash": res["pillow_pdqhash"].summary(),
                "tidehash_over_decode": ths / dec,
                "pillow_pdqhash_over_tidehash": pdq / ths,
                "tidehash_hex": rec.pdq.hex, "tidehash_quality": rec.pdq.quality,
                "pdqhash_hex": ref_hex, "pdqhash_quality": int(q),
                "hamming_to_pdqhash": hamming_hex(rec.pdq.hex, ref_hex),
            })
    return rows


# ------------------------------------------------------------------------ reporting

def match_label(hamming: int, q_equal: bool) -> str:
    if hamming == 0:
        return "yes" if q_equal else "bits (quality differs)"
    return f"NO ({hamming} bits)"


_FILE_KEYS = ("pillow_decode", "tidehash_file", "pillow_pdqhash")


def loadavg() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


def format_report(meta: dict, hash_rows: list, file_rows: list) -> str:
    out = []
    w = out.append
    w(f"tidehash PDQ benchmark ({meta['mode']} mode, single thread)")
    w(f"CPU            : {meta['cpu_model']} ({meta['logical_cpus']} logical CPUs)")
    w(f"SIMD           : active {meta['active_isa']} (default {meta['default_isa']}; "
      f"available {', '.join(meta['available_isas'])})")
    w(f"CPU features   : {' '.join(meta['cpu_features'])}")
    w(f"Versions       : Python {meta['python']}, tidehash {meta['tidehash']}, "
      f"numpy {meta['numpy']}, Pillow {meta['pillow']} "
      f"(libjpeg-turbo {meta['libjpeg_turbo']}, zlib {meta['zlib']}), pdqhash {meta['pdqhash']}")
    w(f"Platform       : {meta['platform']}")
    w("Timing         : time.perf_counter, median of N reps after warm-up; competitors "
      "interleaved,")
    w("                 starting competitor rotated every round; GC off while timing")
    w("")
    w("1. Hash only: in-memory (H, W, 3) uint8 RGB array, same array for every competitor")
    w("   pdq/th = pdqhash ms / tidehash ms; 'same hash' = identical 256 bits and quality")
    w("")
    hdr = f"{'size':<10} {'MP':>5}  {'implementation':<18} {'reps':>4} {'ms/img':>9} " \
          f"{'img/s':>8} {'pdq/th':>8}  same hash"
    w(hdr)
    w("-" * len(hdr))
    for row in hash_rows:
        p = row["pdqhash"]
        w(f"{row['size']:<10} {row['megapixels']:>5.2f}  {'pdqhash.compute':<18} "
          f"{p['reps']:>4} {p['median_ms']:>9.3f} {p['images_per_s']:>8.1f} {'1.00x':>8}  -")
        for isa, t in row["tidehash"].items():
            w(f"{'':<10} {'':>5}  {'tidehash ' + isa:<18} {t['reps']:>4} "
              f"{t['median_ms']:>9.3f} {t['images_per_s']:>8.1f} "
              f"{t['speedup_vs_pdqhash']:>7.2f}x  "
              f"{match_label(t['hamming_to_pdqhash'], t['quality_equal'])}")
    w("")
    if file_rows:
        isa = file_rows[0]["isa"]
        w(f"2. File to hash (tidehash ISA: {isa}); ms per image (images/s)")
        w("   decode    = Pillow Image.open(path) + .load()")
        w("   tidehash  = tidehash.hash_file(path)")
        w("   Pil+pdq   = Image.open, .convert('RGB'), np.asarray, pdqhash.compute")
        w("   th/dec    = tidehash / decode (target <= 1.3 for JPEG); "
          "pdq/th = Pil+pdq / tidehash")
        w("")
        hdr = (f"{'size':<10} {'fmt':<4} {'file MB':>7} {'bpp':>5} {'reps':>4}  "
               f"{'decode':>17}  {'tidehash':>17}  {'Pil+pdq':>17}  {'th/dec':>6} "
               f"{'pdq/th':>6}  same hash")
        w(hdr)
        w("-" * len(hdr))

        def cell(s):
            return f"{s['median_ms']:>8.2f} ({s['images_per_s']:>6.1f})"

        for r in file_rows:
            reps = r["tidehash_file"]["reps"]
            same = match_label(r["hamming_to_pdqhash"],
                               r["tidehash_quality"] == r["pdqhash_quality"])
            w(f"{r['size']:<10} {r['format']:<4} {r['file_bytes'] / 1e6:>7.2f} "
              f"{r['bits_per_pixel']:>5.2f} {reps:>4}  {cell(r['pillow_decode'])}  "
              f"{cell(r['tidehash_file'])}  {cell(r['pillow_pdqhash'])}  "
              f"{r['tidehash_over_decode']:>6.2f} {r['pillow_pdqhash_over_tidehash']:>5.2f}x"
              f"  {same}")
        w("")
        faulty = [r for r in file_rows
                  if max(r[k]["minor_faults_median"] or 0 for k in _FILE_KEYS) >= 1000]
        if faulty:
            w("Minor page faults per call (median; first touch of freshly mapped memory):")
            for r in faulty:
                d, t, p = (int(r[k]["minor_faults_median"] or 0) for k in _FILE_KEYS)
                w(f"  {r['size']:<10} {r['format']:<4}  decode {d:>6}  tidehash {t:>6}  "
                  f"Pil+pdq {p:>6}")
            w("")
    w(f"Load average   : {meta['loadavg_start']} at start, {meta['loadavg_end']} at end "
      f"({meta['logical_cpus']} logical CPUs)")
    w(f"Total wall time: {meta['wall_s']:.1f} s")
    return "\n".join(out)


# ----------------------------------------------------------------------------- main

def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Single-threaded PDQ benchmark: tidehash vs pdqhash "
                    "(hash only, and file to hash).")
    ap.add_argument("--quick", action="store_true",
                    help="few repetitions, for a CI smoke run (< 30 s)")
    ap.add_argument("--json", metavar="OUT", help="write all results (with raw samples) as JSON")
    ap.add_argument("--isa", default="all",
                    help="'all' (every level available, hash-only section) or one level "
                         "(e.g. scalar, avx2, avx512), also used for the file section; "
                         "default: all")
    ap.add_argument("--sizes", type=parse_sizes, default=parse_sizes("0.25,1,12"),
                    help="comma-separated megapixels (4:3) or WxH; default: 0.25,1,12")
    ap.add_argument("--repeats", type=int, default=None,
                    help="fixed number of timed rounds per case (default: adaptive)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the synthetic images")
    ap.add_argument("--image-dir", metavar="DIR",
                    help="keep (and reuse) the generated images in DIR, e.g. benchmarks/out/images"
                         " (default: a temporary directory, deleted at exit)")
    ap.add_argument("--skip-files", action="store_true", help="hash-only section only")
    ap.add_argument("--cpu", type=int, default=None,
                    help="pin the process to this CPU (Linux sched_setaffinity)")
    args = ap.parse_args(argv)

    available = list(tidehash.available_isas())
    default_isa = tidehash.cpu_info()["active_isa"]
    if args.isa.strip().lower() == "all":
        isas, file_isa = available, default_isa
    else:
        isas = [s.strip().lower() for s in args.isa.split(",") if s.strip()]
        bad = [s for s in isas if s not in available]
        if bad:
            ap.error(f"ISA {', '.join(bad)} not available here; available: {', '.join(available)}")
        file_isa = isas[0] if len(isas) == 1 else default_isa
    if args.repeats is not None and args.repeats < 1:
        ap.error("--repeats must be >= 1")
    if args.cpu is not None:
        try:
            os.sched_setaffinity(0, {args.cpu})
        except (AttributeError, OSError) as exc:
            ap.error(f"cannot pin to CPU {args.cpu}: {exc}")

    policy = QUICK_POLICY if args.quick else FULL_POLICY

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    load_start = loadavg()
    tmp = None
    if args.image_dir:
        image_dir = args.image_dir
        os.makedirs(image_dir, exist_ok=True)
    else:
        tmp = image_dir = tempfile.mkdtemp(prefix="tidehash-bench-")
    try:
        log(f"preparing images in {image_dir}")
        images = prepare_images(args.sizes, args.seed, image_dir, log)
        hash_rows = bench_hash_only(images, isas, policy["hash"], policy["warmup"],
                                    args.repeats, log)
        file_rows = [] if args.skip_files else bench_files(
            images, file_isa, policy["file"], policy["warmup"], args.repeats, log)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    info = tidehash.cpu_info()
    meta = {
        "mode": "quick" if args.quick else "full",
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "pinned_cpu": args.cpu,
        "active_isa": info["active_isa"], "default_isa": info["default_isa"],
        "best_isa": info["best_isa"], "available_isas": info["available_isas"],
        "forced_by_env": info["forced_by_env"], "cpu_features": info["features"],
        "isas_benchmarked": isas, "file_isa": file_isa,
        "python": platform.python_version(), "platform": platform.platform(),
        "tidehash": tidehash.__version__, "numpy": np.__version__,
        "pillow": PIL.__version__, "pdqhash": dist_version("pdqhash"),
        "libjpeg_turbo": features.version("libjpeg_turbo") or features.version("jpg"),
        "zlib": features.version("zlib"),
        "seed": args.seed, "generator_version": GENERATOR_VERSION,
        "policy": policy, "fixed_repeats": args.repeats,
        "loadavg_start": load_start, "loadavg_end": loadavg(),
        "wall_s": time.perf_counter() - t_start,
    }
    print(format_report(meta, hash_rows, file_rows))
    if args.json:
        parent = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(parent, exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"meta": meta, "hash_only": hash_rows, "file_to_hash": file_rows},
                      fh, indent=2)
        log(f"wrote {args.json}")
    mismatches = [r for r in hash_rows for t in r["tidehash"].values()
                  if t["hamming_to_pdqhash"]] + [r for r in file_rows if r["hamming_to_pdqhash"]]
    if mismatches:
        log(f"warning: {len(mismatches)} case(s) where tidehash and pdqhash hashes differ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
