#!/usr/bin/env python
"""Exact Hamming search benchmark: tidehash vs faiss (if installed) vs NumPy.

A thin wrapper so the benchmark runs from a checkout; the code ships in the package as
``tidehash.bench.search`` (``python -m tidehash.bench search``). Same options:

    python benchmarks/bench_search.py --quick                 # CI smoke run, < 1 minute
    python benchmarks/bench_search.py --n 1000000 --json out.json
    python benchmarks/bench_search.py --help
"""

import sys

from _wrapper import prepare

prepare()

from tidehash.bench.search import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
