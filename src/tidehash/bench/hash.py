"""Single-image hashing benchmark: tidehash's PDQ and pHash against pip ``pdqhash`` and
``imagehash``, side by side in one run.

``python -m tidehash.bench hash [--quick] [--sizes 0.25,1,12] [--isa all] [--json OUT]``
(also ``tidehash bench hash``; ``benchmarks/bench_pdq.py`` runs the PDQ sections).

On synthetic photo-like images (``tidehash.bench.photos``) of each ``--sizes``:

1. PDQ hash only: ``tidehash.pdq_hash(arr)`` for each instruction-set level (forced with
   ``tidehash.use_isa``) against ``pdqhash.compute(arr)``, on the same (H, W, 3) uint8 array;
2. file to hash, on JPEG (quality 90) and PNG files of those pixels: (a) Pillow decode
   alone, ``Image.open(path)`` + ``.load()``; (b) ``tidehash.hash_file(path)``; (c) Pillow +
   pdqhash: open, ``convert("RGB")``, ``np.asarray``, ``pdqhash.compute``. Ratios are to
   (a), the floor for any Python pipeline that decodes with Pillow;
3. pHash: ``tidehash.phash(im, hs)`` against ``imagehash.phash(im, hs)`` on the same loaded
   Pillow RGB image, hash sizes 8 and 16 (64 and 256 bits).

pdqhash and imagehash (with scipy) are optional: without them (or with ``--no-pdqhash`` /
``--no-imagehash``) their rows and columns are left out and tidehash is timed alone.

Single-threaded by construction: every timed call is one call on this thread (Pillow's
decoders, pdqhash, imagehash's scipy DCT and tidehash's kernels all run on the calling
thread). Competitors are interleaved round by round, the first one rotating, with medians
after a warm-up and the garbage collector off while timing (``tidehash.bench.timing``).

Checked while benchmarking (a failure is printed loudly and makes the exit status 1):

* every tidehash ISA gives the same PDQ hash and quality, and the same pHash;
* ``hash_file`` gives ``pdq_hash``'s hash of the pixels Pillow decodes from that file;
* tidehash's pHash equals imagehash's (it does on every image: a difference is a bug).

tidehash's PDQ against pdqhash's on the same pixels is reported (differing bits), not an
error: pdqhash computes luma in float64 where Meta's C++ reference and tidehash use float32,
so about a third of RGB triples give a slightly different luma, and a coefficient close to
the median can land on the other side of it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
import PIL
from PIL import Image, features

import tidehash

from . import args as bench_args
from .machine import cpu_model, dist_version, loadavg, scratch_dir
from .photos import GENERATOR_VERSION, BenchImage, parse_sizes, prepare_images
from .timing import run_interleaved, with_isa

# Repetition policy: after the warm-up, each competitor gets about `budget`
# seconds of timed calls, between `lo` and `hi` repetitions (so 12 MP gets fewer).
FULL_POLICY = {"hash": (3.0, 11, 200), "file": (4.0, 11, 100), "warmup": 2}
QUICK_POLICY = {"hash": (0.08, 3, 8), "file": (0.12, 2, 5), "warmup": 1}

DEFAULT_SIZES = "0.25,1,12"
DEFAULT_PHASH_SIZES = (8, 16)

Log = Callable[[str], None]


# --------------------------------------------------------------------------- competitors

def import_optional(name: str):
    """The module, or None when it (or, for imagehash, scipy's DCT) cannot be imported."""
    try:
        module = importlib.import_module(name)
        if name == "imagehash":
            importlib.import_module("scipy.fftpack")
    except Exception:  # noqa: BLE001 - any failure just leaves the competitor out
        return None
    return module


def pdqhash_hex(vector: np.ndarray) -> str:
    """pdqhash's 256-bit vector as the reference's 64 hex digits (same order as tidehash)."""
    return np.packbits(np.asarray(vector, dtype=np.uint8)).tobytes().hex()


def hamming_hex(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def decoded_rgb(path: str) -> np.ndarray:
    """The pixels Pillow decodes from ``path``, as the (H, W, 3) array a Python pipeline
    hands to a hasher."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


# ---------------------------------------------------------------------- benchmarks

def bench_hash_only(images: Sequence[BenchImage], isas, pdqhash, policy, warmup, repeats,
                    log: Log, problems: list) -> list[dict]:
    rows = []
    for img in images:
        arr = img.array
        competitors = []
        row = {"size": img.label, "width": img.width, "height": img.height,
               "megapixels": img.width * img.height / 1e6, "pdqhash": None,
               "pdqhash_hex": None, "pdqhash_quality": None, "tidehash": {}}
        if pdqhash is not None:
            vec, q = pdqhash.compute(arr)
            row["pdqhash_hex"], row["pdqhash_quality"] = pdqhash_hex(vec), int(q)
            competitors.append(("pdqhash", lambda a=arr: pdqhash.compute(a)))
        parity = {}
        for isa in isas:
            with tidehash.use_isa(isa):
                h = tidehash.pdq_hash(arr)
            parity[isa] = {"hex": h.hex, "quality": h.quality}
            if row["pdqhash_hex"] is not None:
                parity[isa]["hamming_to_pdqhash"] = hamming_hex(h.hex, row["pdqhash_hex"])
                parity[isa]["quality_equal"] = h.quality == row["pdqhash_quality"]
            competitors.append((f"tidehash[{isa}]",
                                with_isa(isa, lambda a=arr: tidehash.pdq_hash(a))))
        if len({(p["hex"], p["quality"]) for p in parity.values()}) > 1:
            problems.append(f"PDQ {img.label}: the ISAs give different hashes: "
                            + "; ".join(f"{isa} {p['hex']} q{p['quality']}"
                                        for isa, p in parity.items()))
        log(f"  PDQ hash only {img.label} ...")
        res = run_interleaved(competitors, policy, warmup, repeats)
        if pdqhash is not None:
            row["pdqhash"] = res["pdqhash"].summary()
        for isa in isas:
            r = res[f"tidehash[{isa}]"]
            rec = row["tidehash"][isa] = {**r.summary(), **parity[isa]}
            if pdqhash is not None:
                rec["speedup_vs_pdqhash"] = res["pdqhash"].median / r.median
        rows.append(row)
    return rows


def bench_files(images: Sequence[BenchImage], isa, pdqhash, policy, warmup, repeats,
                log: Log, problems: list) -> list[dict]:
    def pillow_decode(path):
        im = Image.open(path)
        im.load()
        return im

    def pillow_pdqhash(path):
        return pdqhash.compute(decoded_rgb(path))

    rows = []
    for img in images:
        for fmt, path in img.files.items():
            with tidehash.use_isa(isa):
                rec = tidehash.hash_file(path)
                if rec.pdq is None:
                    raise RuntimeError(f"tidehash.hash_file({path!r}) failed: {rec.error}")
                of_pixels = tidehash.pdq_hash(decoded_rgb(path))
            if (rec.pdq.hex, rec.pdq.quality) != (of_pixels.hex, of_pixels.quality):
                problems.append(f"file {img.label} {fmt}: hash_file gives {rec.pdq.hex} "
                                f"q{rec.pdq.quality}, pdq_hash of Pillow's pixels "
                                f"{of_pixels.hex} q{of_pixels.quality}")
            competitors = [
                ("pillow_decode", lambda p=path: pillow_decode(p)),
                ("tidehash_file", with_isa(isa, lambda p=path: tidehash.hash_file(p))),
            ]
            if pdqhash is not None:
                competitors.append(("pillow_pdqhash", lambda p=path: pillow_pdqhash(p)))
            log(f"  file to hash {img.label} {fmt} ...")
            res = run_interleaved(competitors, policy, warmup, repeats)
            size = os.path.getsize(path)
            dec, ths = res["pillow_decode"].median, res["tidehash_file"].median
            row = {
                "size": img.label, "width": img.width, "height": img.height,
                "megapixels": img.width * img.height / 1e6, "format": fmt,
                "file_bytes": size, "bits_per_pixel": 8 * size / (img.width * img.height),
                "isa": isa,
                "pillow_decode": res["pillow_decode"].summary(),
                "tidehash_file": res["tidehash_file"].summary(),
                "pillow_pdqhash": None,
                "tidehash_over_decode": ths / dec,
                "pillow_pdqhash_over_tidehash": None,
                "tidehash_hex": rec.pdq.hex, "tidehash_quality": rec.pdq.quality,
                "tidehash_equals_pdq_hash_of_pixels": rec.pdq.hex == of_pixels.hex,
                "pdqhash_hex": None, "pdqhash_quality": None, "hamming_to_pdqhash": None,
            }
            if pdqhash is not None:
                vec, q = pillow_pdqhash(path)
                ref_hex = pdqhash_hex(vec)
                row.update({
                    "pillow_pdqhash": res["pillow_pdqhash"].summary(),
                    "pillow_pdqhash_over_tidehash": res["pillow_pdqhash"].median / ths,
                    "pdqhash_hex": ref_hex, "pdqhash_quality": int(q),
                    "hamming_to_pdqhash": hamming_hex(rec.pdq.hex, ref_hex)})
            rows.append(row)
    return rows


def bench_phash(images: Sequence[BenchImage], hash_sizes, isas, time_isa, imagehash, policy,
                warmup, repeats, log: Log, problems: list) -> list[dict]:
    rows = []
    for img in images:
        im = Image.fromarray(img.array, "RGB")
        im.load()
        for hs in hash_sizes:
            got = {}
            for isa in isas:
                with tidehash.use_isa(isa):
                    got[isa] = tidehash.phash(im, hs).hex
            if len(set(got.values())) > 1:
                problems.append(f"pHash {img.label} hash size {hs}: the ISAs give different "
                                "hashes: " + "; ".join(f"{k} {v}" for k, v in got.items()))
            with tidehash.use_isa(time_isa):
                mine = tidehash.phash(im, hs).hex
            competitors = [("tidehash", with_isa(time_isa,
                                                 lambda im=im, hs=hs: tidehash.phash(im, hs)))]
            ref = None
            if imagehash is not None:
                ref = str(imagehash.phash(im, hs))
                if ref != mine:
                    problems.append(f"pHash {img.label} hash size {hs}: tidehash {mine}, "
                                    f"imagehash {ref}")
                competitors.insert(0, ("imagehash",
                                       lambda im=im, hs=hs: imagehash.phash(im, hs)))
            log(f"  pHash {img.label} hash size {hs} ...")
            res = run_interleaved(competitors, policy, warmup, repeats)
            rows.append({
                "size": img.label, "width": img.width, "height": img.height,
                "megapixels": img.width * img.height / 1e6, "hash_size": hs, "isa": time_isa,
                "tidehash": res["tidehash"].summary(), "tidehash_hex": mine,
                "imagehash": res["imagehash"].summary() if ref is not None else None,
                "imagehash_hex": ref, "same": ref == mine if ref is not None else None,
                "speedup_vs_imagehash": (res["imagehash"].median / res["tidehash"].median
                                         if ref is not None else None),
            })
    return rows


# ------------------------------------------------------------------------ reporting

def text_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """Aligned columns: the first ``left`` columns left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        return "  ".join(str(c).ljust(w) if i < left else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    head = line(header)
    return [head, "-" * len(head), *map(line, rows)]


def same_label(hamming: int | None, q_equal: bool | None = True) -> str:
    if hamming is None:
        return "-"
    if hamming == 0:
        return "yes" if q_equal else "bits (quality differs)"
    return f"NO ({hamming} bits)"


def ms(summary: dict) -> str:
    return f"{summary['median_ms']:.3f}" if summary["median_ms"] < 10 else \
        f"{summary['median_ms']:.2f}"


def _versions(meta: dict) -> str:
    def competitor(name):
        if meta[name]:
            return f"{name} {meta[name]}"
        return f"{name} {meta[name + '_status']}"

    return (f"Python {meta['python']}, tidehash {meta['tidehash']}, numpy {meta['numpy']}, "
            f"Pillow {meta['pillow']} (libjpeg-turbo {meta['libjpeg_turbo']}, zlib "
            f"{meta['zlib']}), {competitor('pdqhash')}"
            + ("" if meta["phash_skipped"] else f", {competitor('imagehash')}"
               + (f", scipy {meta['scipy']}" if meta["scipy"] else "")))


def format_report(meta: dict, hash_rows: list, file_rows: list, phash_rows: list) -> str:
    out: list[str] = []
    w = out.append
    pdq = meta["pdqhash"] is not None
    w(f"tidehash hash benchmark ({meta['mode']} mode, single thread)")
    w(f"CPU            : {meta['cpu_model']} ({meta['logical_cpus']} logical CPUs)")
    w(f"SIMD           : active {meta['active_isa']} (default {meta['default_isa']}; "
      f"available {', '.join(meta['available_isas'])})")
    w(f"CPU features   : {' '.join(meta['cpu_features'])}")
    w(f"Versions       : {_versions(meta)}")
    w(f"Platform       : {meta['platform']}")
    w("Timing         : median ms per call after warm-up (reps = timed calls); competitors "
      "interleaved,")
    w("                 the first one rotating every round; GC off while timing")
    section = 0

    if hash_rows:
        section += 1
        w("")
        w(f"{section}. PDQ hash only: the same in-memory (H, W, 3) uint8 RGB array for every "
          "implementation")
        if pdq:
            w("   pdq/th = pdqhash ms / tidehash ms; same = the same 256 bits and quality as "
              "pdqhash")
        header = ["size", "MP", "implementation", "reps", "ms/hash", "hashes/s"]
        header += ["pdq/th", "same"] if pdq else []
        rows = []
        for row in hash_rows:
            lead = [row["size"], f"{row['megapixels']:.2f}"]
            if pdq:
                p = row["pdqhash"]
                rows.append(lead + ["pdqhash.compute", p["reps"], ms(p),
                                    f"{p['images_per_s']:.1f}", "1.00x", "-"])
                lead = ["", ""]
            for isa, t in row["tidehash"].items():
                cells = lead + [f"tidehash {isa}", t["reps"], ms(t), f"{t['images_per_s']:.1f}"]
                if pdq:
                    cells += [f"{t['speedup_vs_pdqhash']:.2f}x",
                              same_label(t["hamming_to_pdqhash"], t["quality_equal"])]
                rows.append(cells)
                lead = ["", ""]
        out += ["", *text_table(header, rows, left=3)]

    if file_rows:
        section += 1
        w("")
        w(f"{section}. File to hash (tidehash ISA {file_rows[0]['isa']}): ms per image")
        w("   decode    = Pillow Image.open(path) + .load()")
        w("   tidehash  = tidehash.hash_file(path)")
        if pdq:
            w("   Pil+pdq   = Image.open, .convert('RGB'), np.asarray, pdqhash.compute")
        w("   th/dec    = tidehash / decode" + ("; pdq/th = Pil+pdq / tidehash; same = "
                                                 "tidehash's hash equals pdqhash's" if pdq else ""))
        header = ["size", "fmt", "file MB", "bpp", "reps", "decode", "img/s", "tidehash",
                  "img/s"]
        header += ["Pil+pdq", "img/s"] if pdq else []
        header += ["th/dec"] + (["pdq/th", "same"] if pdq else [])
        rows = []
        for r in file_rows:
            cells = [r["size"], r["format"], f"{r['file_bytes'] / 1e6:.2f}",
                     f"{r['bits_per_pixel']:.2f}", r["tidehash_file"]["reps"]]
            keys = ["pillow_decode", "tidehash_file"] + (["pillow_pdqhash"] if pdq else [])
            for k in keys:
                cells += [ms(r[k]), f"{r[k]['images_per_s']:.1f}"]
            cells.append(f"{r['tidehash_over_decode']:.2f}")
            if pdq:
                cells += [f"{r['pillow_pdqhash_over_tidehash']:.2f}x",
                          same_label(r["hamming_to_pdqhash"],
                                     r["tidehash_quality"] == r["pdqhash_quality"])]
            rows.append(cells)
        out += ["", *text_table(header, rows, left=2)]
        keys = ["pillow_decode", "tidehash_file"] + (["pillow_pdqhash"] if pdq else [])
        faulty = [r for r in file_rows
                  if max(r[k]["minor_faults_median"] or 0 for k in keys) >= 1000]
        if faulty:
            w("")
            w("Minor page faults per call (median; first touch of freshly mapped memory):")
            for r in faulty:
                counts = "  ".join(f"{label} {int(r[k]['minor_faults_median'] or 0):>6}"
                                   for label, k in zip(("decode", "tidehash", "Pil+pdq"), keys))
                w(f"  {r['size']:<10} {r['format']:<4}  {counts}")

    if phash_rows:
        ih = phash_rows[0]["imagehash"] is not None
        section += 1
        w("")
        w(f"{section}. pHash (tidehash ISA {phash_rows[0]['isa']}): tidehash.phash(im, hash_size) "
          "on a loaded Pillow RGB image; ms per image")
        if ih:
            w("   imagehash = imagehash.phash on the same image; x = imagehash / tidehash; "
              "same = the same hash")
        header = ["size", "MP", "bits", "reps"] + (["imagehash"] if ih else []) + ["tidehash"]
        header += ["x", "same"] if ih else []
        rows = []
        for r in phash_rows:
            cells = [r["size"], f"{r['megapixels']:.2f}", r["hash_size"] ** 2,
                     r["tidehash"]["reps"]]
            if ih:
                cells.append(ms(r["imagehash"]))
            cells.append(ms(r["tidehash"]))
            if ih:
                cells += [f"{r['speedup_vs_imagehash']:.1f}x", "yes" if r["same"] else "NO"]
            rows.append(cells)
        out += ["", *text_table(header, rows, left=1)]

    w("")
    w(f"Load average   : {meta['loadavg_start']} at start, {meta['loadavg_end']} at end "
      f"({meta['logical_cpus']} logical CPUs)")
    w(f"Total wall time: {meta['wall_s']:.1f} s")
    return "\n".join(out)


# ----------------------------------------------------------------------------- main

def parser(prog: str = "python -m tidehash.bench hash") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=prog,
        description="Single-threaded hashing benchmark on synthetic photo-like images: "
                    "tidehash PDQ vs pdqhash (hash only, and file to hash next to Pillow's "
                    "decode), tidehash pHash vs imagehash. Competitors that are not installed "
                    "are left out. Prints tables; --json writes every figure.")
    ap.add_argument("--quick", action="store_true",
                    help="few repetitions, for a CI smoke run (about 20 s)")
    ap.add_argument("--json", metavar="OUT", help="write all results (with raw samples) as JSON")
    ap.add_argument("--isa", default="all",
                    help="'all' (every level available, hash-only section) or levels such as "
                         "scalar,avx2; one level is also used for the file and pHash "
                         "sections (default: all, and the active level there)")
    ap.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES),
                    help=f"comma-separated megapixels (4:3) or WxH; default: {DEFAULT_SIZES}")
    ap.add_argument("--phash-sizes", type=bench_args.hash_sizes, default=DEFAULT_PHASH_SIZES,
                    help="pHash hash sizes (8 = 64 bits, 16 = 256 bits); default: 8,16")
    ap.add_argument("--repeats", type=bench_args.int_in(1), default=None,
                    help="fixed number of timed rounds per case (default: adaptive)")
    ap.add_argument("--seed", type=bench_args.seed, default=1, help="seed of the synthetic images")
    ap.add_argument("--image-dir", metavar="DIR",
                    help="keep (and reuse) the generated images in DIR "
                         "(default: a temporary directory, deleted at exit)")
    ap.add_argument("--skip-files", action="store_true", help="no file-to-hash section")
    ap.add_argument("--skip-phash", action="store_true", help="no pHash section")
    ap.add_argument("--no-pdqhash", action="store_true",
                    help="leave pdqhash out even if it is installed")
    ap.add_argument("--no-imagehash", action="store_true",
                    help="leave imagehash out even if it is installed")
    ap.add_argument("--cpu", type=bench_args.cpu, default=None,
                    help="pin the process to this CPU (Linux sched_setaffinity)")
    return ap


def main(argv: Sequence[str] | None = None, prog: str = "python -m tidehash.bench hash") -> int:
    ap = parser(prog)
    args = ap.parse_args(argv)

    info = tidehash.cpu_info()
    available = list(tidehash.available_isas())
    default_isa = info["active_isa"]
    if args.isa.strip().lower() == "all":
        isas, single_isa = available, default_isa
    else:
        isas = [s.strip().lower() for s in args.isa.split(",") if s.strip()]
        bad = [s for s in isas if s not in available]
        if bad or not isas:
            ap.error(f"ISA {', '.join(bad) or '?'} not available here; available: "
                     f"{', '.join(available)}")
        single_isa = isas[0] if len(isas) == 1 else default_isa
    if args.cpu is not None:
        try:
            os.sched_setaffinity(0, {args.cpu})
        except (AttributeError, OSError) as exc:
            ap.error(f"cannot pin to CPU {args.cpu}: {exc}")

    pdqhash = None if args.no_pdqhash else import_optional("pdqhash")
    imagehash = (None if args.no_imagehash or args.skip_phash
                 else import_optional("imagehash"))
    policy = QUICK_POLICY if args.quick else FULL_POLICY

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    load_start = loadavg()
    problems: list[str] = []
    with scratch_dir(args.image_dir, "tidehash-bench-") as image_dir:
        log(f"preparing images in {image_dir}")
        images = prepare_images(args.sizes, args.seed, image_dir, log)
        hash_rows = bench_hash_only(images, isas, pdqhash, policy["hash"], policy["warmup"],
                                    args.repeats, log, problems)
        file_rows = [] if args.skip_files else bench_files(
            images, single_isa, pdqhash, policy["file"], policy["warmup"], args.repeats,
            log, problems)
        phash_rows = [] if args.skip_phash else bench_phash(
            images, args.phash_sizes, isas, single_isa, imagehash, policy["hash"],
            policy["warmup"], args.repeats, log, problems)

    def status(module, flag):
        if module is not None:
            return "used"
        return "left out (--no-" + flag + ")" if getattr(args, "no_" + flag) else \
            "not installed (left out)"

    meta = {
        "mode": "quick" if args.quick else "full",
        "argv": list(sys.argv[1:] if argv is None else argv),
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "pinned_cpu": args.cpu,
        "cpu_info": info,
        "active_isa": info["active_isa"], "default_isa": info["default_isa"],
        "best_isa": info["best_isa"], "available_isas": info["available_isas"],
        "forced_by_env": info["forced_by_env"], "cpu_features": info["features"],
        "isas_benchmarked": isas, "file_isa": single_isa, "phash_isa": single_isa,
        "python": platform.python_version(), "platform": platform.platform(),
        "tidehash": tidehash.__version__, "numpy": np.__version__,
        "pillow": PIL.__version__,
        "pdqhash": dist_version("pdqhash") if pdqhash is not None else None,
        "pdqhash_status": status(pdqhash, "pdqhash"),
        "imagehash": dist_version("imagehash") if imagehash is not None else None,
        "imagehash_status": status(imagehash, "imagehash"),
        "scipy": dist_version("scipy") if imagehash is not None else None,
        "phash_skipped": args.skip_phash,
        "libjpeg_turbo": features.version("libjpeg_turbo") or features.version("jpg"),
        "zlib": features.version("zlib"),
        "seed": args.seed, "generator_version": GENERATOR_VERSION,
        "policy": policy, "fixed_repeats": args.repeats,
        "loadavg_start": load_start, "loadavg_end": loadavg(),
        "wall_s": time.perf_counter() - t_start,
    }
    print(format_report(meta, hash_rows, file_rows, phash_rows), flush=True)
    pdq_differs = [f"{r['size']} {isa}" for r in hash_rows for isa, t in r["tidehash"].items()
                   if t.get("hamming_to_pdqhash")]
    pdq_differs += [f"{r['size']} {r['format']}" for r in file_rows if r["hamming_to_pdqhash"]]
    notes = []
    if pdq_differs:
        notes.append(f"tidehash's PDQ differs from pdqhash's on {', '.join(pdq_differs)}: "
                     "pdqhash computes luma in float64, Meta's reference and tidehash in "
                     "float32, which can move a coefficient across the median")
    for note in notes:
        print(f"note: {note}")
    for problem in problems:
        print(f"!! {problem}")
    if problems:
        print(f"!! {len(problems)} DISAGREEMENT(S): a bug in tidehash or in this benchmark")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"meta": meta, "hash_only": hash_rows, "file_to_hash": file_rows,
                       "phash": phash_rows, "problems": problems, "notes": notes},
                      fh, indent=2)
        log(f"wrote {args.json}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
