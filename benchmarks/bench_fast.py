#!/usr/bin/env python
"""Fast mode (JPEG decoded scaled in the DCT domain) against exact mode and pdqhash + Pillow draft.

A thin wrapper so the benchmark runs from a checkout; the code ships in the package as
``tidehash.bench.fast`` (``python -m tidehash.bench fast``). Same options; here the
BLAS / OpenMP thread pools are pinned to one thread first:

    PYTHONPATH=src python benchmarks/bench_fast.py --quick
    PYTHONPATH=src python benchmarks/bench_fast.py --help
"""

import sys

from _wrapper import prepare

prepare()

from tidehash.bench.fast import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="bench_fast.py"))
