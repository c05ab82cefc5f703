"""The tidehash command line (first command: ``tidehash hash``)."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__
from .cpu import cpu_info
from .files import hash_files
from .image import DEFAULT_MAX_PIXELS


def _cmd_hash(args) -> int:
    failed = 0
    out = sys.stdout
    for rec in hash_files(args.files, workers=args.workers, dihedral=args.dihedral,
                          max_pixels=args.max_pixels):
        if rec.error is not None:
            failed += 1
        out.write(json.dumps(rec.to_dict()) + "\n")
    out.flush()
    return 1 if failed else 0


def _cmd_info(args) -> int:
    info = {"version": __version__, **cpu_info()}
    print(json.dumps(info, indent=2))
    return 0


def _cmd_bench(args) -> int:
    from .bench.__main__ import main as bench_main

    return bench_main(args.args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tidehash", description=__doc__)
    parser.add_argument("--version", action="version", version=f"tidehash {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("hash", help="PDQ-hash image files; one JSON line per file")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--workers", type=int, default=None, help="threads (default: CPUs)")
    p.add_argument("--dihedral", action="store_true", help="also print the 8 dihedral hashes")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help=f"refuse larger images (default {DEFAULT_MAX_PIXELS})")
    p.set_defaults(func=_cmd_hash)
    p = sub.add_parser("info", help="version, CPU features and SIMD level in use")
    p.set_defaults(func=_cmd_info)
    p = sub.add_parser("bench", help="benchmarks on this hardware (tidehash bench search --help)",
                       add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
