#!/usr/bin/env python
"""Hash-list reading speed and memory: tidehash.read_list on generated lists.

A thin wrapper so the benchmark runs from a checkout; the code ships in the package as
``tidehash.bench.formats`` (``python -m tidehash.bench formats``). Same options; here the
BLAS / OpenMP thread pools are pinned to one thread first:

    PYTHONPATH=src python benchmarks/bench_formats.py --quick
    PYTHONPATH=src python benchmarks/bench_formats.py --help
"""

import sys

from _wrapper import prepare

prepare()

from tidehash.bench.formats import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="bench_formats.py"))
