#!/usr/bin/env python
"""MD5 + SHA-256 in the read that decodes the image, against a second read.

A thin wrapper so the benchmark runs from a checkout; the code ships in the package as
``tidehash.bench.digest`` (``python -m tidehash.bench digest``). Same options; here the
BLAS / OpenMP thread pools are pinned to one thread first:

    PYTHONPATH=src python benchmarks/bench_digest.py --quick
    PYTHONPATH=src python benchmarks/bench_digest.py --help
"""

import sys

from _wrapper import prepare

prepare()

from tidehash.bench.digest import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="bench_digest.py"))
