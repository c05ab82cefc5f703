"""How well matching works: which altered copies are found, and at which threshold.

``tidehash bench robustness [--photos DIR] [--distractors DIR] [--json OUT] [--plot OUT.png]``

Every photo is altered by each transform of ``transforms.TRANSFORMS`` at each of its
strengths (JPEG chains, resizes, blur, noise, colour changes, rotations, mirrors,
crops, borders, screenshots, overlays, other formats: Pillow and NumPy with fixed
seeds, so every run makes the same files), and each altered file is hashed by PDQ, PDQ
with the dihedral search, and pHash at 64 and 256 bits. The report gives, per
transform and strength, the distance to the original's hash (median, p90, p99, max)
and the recall at 31 / 47 / 63 / 70 bits and at the threshold that meets each target
false-positive rate; the false-positive rate over every unrelated pair with a
Clopper-Pearson upper bound (with N pairs and none seen, about 3 / N is all one can
claim); the threshold guidance table (per target rate, the threshold and the recall per
family it buys); and what the quality filter (PDQ quality >= 50) changes.

With no ``--photos`` it runs on the real photographs that scikit-image bundles: a small
sample, labelled so in every output. Impostor pairs are defined in ``analysis``.
``--videos DIR`` also alters each video (H.264 re-encodes of altered frames) and matches
the copies by vPDQ with python-threatexchange's rule (``video``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import zlib
from collections.abc import Sequence

import numpy as np
import PIL
import scipy

import tidehash

from .. import args as bench_args
from ..machine import cpu_model, dist_version, git_commit, loadavg
from . import analysis, metrics, run, sample
from . import transforms as tf

PROG = "tidehash bench robustness"
JSON_VERSION = 1


def _fpr_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated rates, got {text!r}") from None
    if not values or not all(0 < v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"each rate must be in (0, 1), got {text!r}")
    return tuple(sorted(set(values), reverse=True))


def parser(prog: str = PROG) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", metavar="DIR",
                    help="the photos to alter (every image file in DIR); default: the real "
                         "photographs bundled with scikit-image, a small sample")
    ap.add_argument("--distractors", metavar="DIR",
                    help="unrelated images (every image file in DIR) to count false positives "
                         "on; default: the other photos and their altered copies")
    ap.add_argument("--videos", metavar="DIR",
                    help="also alter the videos in DIR (H.264 re-encodes) and match them by vPDQ")
    ap.add_argument("--video-seconds", type=bench_args.positive_float(3600.0), default=10.0,
                    help="seconds of each video used (default 10)")
    ap.add_argument("--json", metavar="OUT", help="write every figure, machine and versions")
    ap.add_argument("--plot", metavar="OUT.png",
                    help="write recall-vs-threshold curves and distance histograms (PNG)")
    ap.add_argument("--workers", type=bench_args.int_in(1, 256), default=os.cpu_count() or 1,
                    help="processes making and hashing the copies (default: the CPU count)")
    ap.add_argument("--transforms", type=bench_args.name_list(tuple(tf.TRANSFORMS)),
                    default=None, help="comma-separated transforms (default: all): "
                                       + ", ".join(tf.TRANSFORMS))
    ap.add_argument("--limit", type=bench_args.int_in(2), default=None,
                    help="use only the first N photos")
    ap.add_argument("--max-side", type=bench_args.int_in(0, bench_args.MAX_SIDE), default=1600,
                    help="scale --photos larger than this down first (the listed photo is the "
                         "scaled one; 0: never); default 1600")
    ap.add_argument("--fpr-targets", type=_fpr_list, default=analysis.FPR_TARGETS,
                    help="target false-positive rates (default 0.01,0.001,0.0001)")
    ap.add_argument("--seed", type=bench_args.seed, default=0,
                    help="changes every random choice of the transforms (default 0)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return ap


def versions() -> dict:
    out = {"python": platform.python_version(), "tidehash": tidehash.__version__,
           "numpy": np.__version__, "Pillow": PIL.__version__, "scipy": scipy.__version__}
    for name in ("matplotlib", "scikit-image"):
        out[name] = dist_version(name)
    return out


def machine() -> dict:
    info = tidehash.cpu_info()
    return {"cpu_model": cpu_model(), "logical_cpus": os.cpu_count(), "loadavg": loadavg(),
            "active_isa": info["active_isa"], "platform": platform.platform(),
            "commit": git_commit()}


def _load(args, log) -> tuple[list[sample.Photo], str, str, list[tuple[str, bytes]]]:
    if args.photos:
        photos = sample.folder_photos(args.photos, args.max_side or None, log)
        label = f"{len(photos)} photos from {args.photos}"
        short = f"{len(photos)} photos"
    else:
        photos = sample.skimage_photos()
        label = sample.SAMPLE_LABEL
        short = f"SMALL SAMPLE, {len(photos)} scikit-image photos"
    if args.limit:
        photos = photos[:args.limit]
        label += f"; first {len(photos)} used (--limit)"
        short = f"{short}, first {len(photos)}"
    if args.seed:
        for p in photos:
            p.seed = zlib.crc32(p.name.encode()) + (args.seed << 32)
    distractors: list = []
    if args.distractors:
        for p in sample.folder_photos(args.distractors, args.max_side or None, log):
            distractors.append((p.name, p.data))
        if not distractors:  # else the other photos would stand in, unasked
            raise ValueError(f"{args.distractors}: no image file that decodes")
    return photos, label, short, distractors


#: module -> the bench extra's package that brings it
EXTRA = {"skimage": "scikit-image", "matplotlib": "matplotlib"}


def _missing_extra(args) -> str | None:
    """What the run would fail to import only after hashing for minutes (the plot is
    drawn at the end), as a message naming the extra; None when all is there."""
    needed = []
    if not args.photos:
        needed.append(("skimage.data", "the default photos (or give --photos DIR)"))
    if args.plot:
        needed.append(("matplotlib", "--plot"))
    for module, why in needed:
        try:
            importlib.import_module(module)
        except ImportError:
            package = EXTRA[module.split(".")[0]]
            return (f"{why} needs {package}, in the bench extra: "
                    "pip install 'tidehash[bench]'")
    return None


def run_benchmark(photos: Sequence[sample.Photo], chosen, *, workers: int = 1,
                  distractors: Sequence[tuple[str, bytes]] = (),
                  targets=analysis.FPR_TARGETS, label: str = "", short: str = "",
                  seed: int = 0, videos: Sequence[tuple[str, bytes]] = (),
                  video_seconds: float = 10.0, log=lambda m: None) -> dict:
    """Every figure of the benchmark, as written to --json."""
    t0 = time.perf_counter()
    corpus = run.build(photos, chosen, workers, distractors, log)
    t_hash = time.perf_counter() - t0
    matrices = {h: run.distance_matrix(corpus, h) for h in run.HASHERS}
    figures = analysis.analyse(corpus, chosen, matrices, targets)
    ver = versions()
    figures["meta"] = {
        "benchmark": "robustness", "json_version": JSON_VERSION,
        "sample": label or f"{len(photos)} photos",
        "sample_short": short or f"{len(photos)} photos",
        "photos": [{"name": p.name, "width": int(p.pixels.shape[1]),
                    "height": int(p.pixels.shape[0]),
                    "grey": bool(p.pixels.ndim == 2), "pdq_quality": h.quality}
                   for p, h in zip(photos, corpus.listed)],
        "distractor_files": list(corpus.distractor_files),
        "transforms": len({n for n, _ in chosen}), "variants": len(chosen),
        "transform_table": {n: {"family": t.family, "unit": t.unit, "strengths": list(t.strengths)}
                            for n, t in tf.TRANSFORMS.items() if n in {c[0] for c in chosen}},
        "copies": sum(1 for q in corpus.queries if q.photo >= 0 and q.transform != "original"),
        "hashers": {h: {"bits": b, "what": text} for h, (b, text) in run.HASHERS.items()},
        "thresholds": list(analysis.THRESHOLDS), "fpr_targets": list(targets),
        "seed": seed, "workers": workers, "min_quality": run.MIN_QUALITY,
        "machine": machine(), "versions": ver,
        "versions_line": ", ".join(f"{k} {v}" for k, v in ver.items() if v),
        "hash_seconds": t_hash,
    }
    if videos:
        from . import video

        log(f"making and hashing {len(videos) * len(video.video_variants())} altered videos")
        figures["video"] = video.analyse_videos(
            video.run_videos(videos, workers, video_seconds, log))
        figures["video"]["seconds_used"] = video_seconds
        figures["results"].extend(figures["video"]["results"])
    figures["meta"]["primary_target"] = _primary(figures)
    figures["meta"]["runtime_seconds"] = time.perf_counter() - t0
    return figures


def _primary(figures):
    from .report import primary_target
    return primary_target(figures)


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    args = parser(prog).parse_args(argv)

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    missing = _missing_extra(args)
    if missing:
        print(f"{prog}: {missing}", file=sys.stderr)
        return 2
    try:
        photos, label, short, distractors = _load(args, log)
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    if len(photos) < 2 and not distractors:
        print(f"{prog}: need at least 2 photos (or --distractors) to count unrelated pairs",
              file=sys.stderr)
        return 2
    if not photos:
        print(f"{prog}: no photos", file=sys.stderr)
        return 2
    videos = []
    if args.videos:
        from .video import folder_videos

        try:
            videos = folder_videos(args.videos)
        except ValueError as exc:
            print(f"{prog}: {exc}", file=sys.stderr)
            return 2
    chosen = tf.variants(args.transforms)
    log(f"{label}\nmaking and hashing {len(photos) * len(chosen)} altered copies with "
        f"{args.workers} workers")
    figures = run_benchmark(photos, chosen, workers=args.workers, distractors=distractors,
                            targets=args.fpr_targets, label=label, short=short,
                            seed=args.seed, videos=videos,
                            video_seconds=args.video_seconds, log=log)
    figures["meta"]["argv"] = list(sys.argv[1:] if argv is None else argv)
    figures["meta"]["runtime_seconds"] = time.perf_counter() - t0
    from .report import format_report

    print(format_report(figures))
    if args.plot:
        from .plot import write_plot

        write_plot(figures, args.plot)
        log(f"wrote {args.plot}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(_no_nan(figures), f, indent=1, allow_nan=False, default=_jsonable)
            f.write("\n")
        log(f"wrote {args.json}")
    return 0


def _no_nan(x):
    """NaN (a rate over no pairs, e.g. a family with no transform chosen) as null."""
    if isinstance(x, dict):
        return {k: _no_nan(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_no_nan(v) for v in x]
    if isinstance(x, float) and x != x:
        return None
    return x


def _jsonable(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    raise TypeError(f"not JSON: {type(x).__name__}")


__all__ = ["main", "metrics", "parser", "run_benchmark"]
