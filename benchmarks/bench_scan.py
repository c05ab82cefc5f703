#!/usr/bin/env python
"""Back-scan benchmark: files/s of the process pool and a Dask LocalCluster against
hash_files on one thread, and the time to match stored hashes against a list.

A thin wrapper so the benchmark runs from a checkout; the code ships in the package as
``tidehash.bench.scan`` (``tidehash bench scan``). Same options:

    python benchmarks/bench_scan.py --quick
    python benchmarks/bench_scan.py --files 2000 --stored 1000000 --listed 100000 --new 10000
"""

import sys

from _wrapper import prepare

prepare()

from tidehash.bench.scan import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
