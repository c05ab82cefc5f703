#!/usr/bin/env python
"""Exact Hamming search benchmark: tidehash vs faiss (if installed) vs NumPy.

A thin wrapper so the benchmark runs from a checkout; the code ships in the package as
``tidehash.bench.search`` (``python -m tidehash.bench search``). Same options:

    python benchmarks/bench_search.py --quick                 # CI smoke run, < 1 minute
    python benchmarks/bench_search.py --n 1000000 --json out.json
    python benchmarks/bench_search.py --help
"""

import os
import sys

try:
    import tidehash  # noqa: F401  (installed, or on PYTHONPATH)
except ImportError:  # a checkout built in place: python setup.py build_ext --inplace
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from tidehash.bench.search import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
