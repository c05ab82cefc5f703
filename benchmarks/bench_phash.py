#!/usr/bin/env python
"""Single-threaded pHash benchmark: ``tidehash.phash`` against ``imagehash.phash``.

A thin wrapper so the benchmark runs from a checkout; the code ships in the package as
``tidehash.bench.phash`` (``python -m tidehash.bench phash``). Same options; here the
BLAS / OpenMP thread pools are pinned to one thread first:

    PYTHONPATH=src python benchmarks/bench_phash.py                  # about a minute
    PYTHONPATH=src python benchmarks/bench_phash.py --quick          # CI smoke, seconds
    PYTHONPATH=src python benchmarks/bench_phash.py --json benchmarks/out/phash.json
    PYTHONPATH=src python benchmarks/bench_phash.py --isa all --sizes 0.25,1,12,500x500
"""

import sys

from _wrapper import prepare

prepare()

from tidehash.bench.phash import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="bench_phash.py"))
