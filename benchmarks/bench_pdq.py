#!/usr/bin/env python
"""Single-threaded PDQ benchmark: tidehash against the pip ``pdqhash`` package.

A thin wrapper so the benchmark runs from a checkout; the code ships in the package as
``tidehash.bench.hash`` (``python -m tidehash.bench hash``, which adds a pHash section
against imagehash; this script leaves it out). Same options:

    PYTHONPATH=src python benchmarks/bench_pdq.py                 # full, about 1-2 minutes
    PYTHONPATH=src python benchmarks/bench_pdq.py --quick         # CI smoke, < 30 s
    PYTHONPATH=src python benchmarks/bench_pdq.py --json benchmarks/out/pdq.json
    PYTHONPATH=src python benchmarks/bench_pdq.py --isa avx2 --sizes 0.25,1,12
    PYTHONPATH=src python benchmarks/bench_pdq.py --help

Here the BLAS / OpenMP thread pools are pinned to one thread first.
"""

import sys

from _wrapper import prepare

prepare()

try:
    import pdqhash  # noqa: F401
except ImportError:  # pragma: no cover - the comparison is the point of the script
    sys.exit("bench_pdq.py needs the competitor: pip install 'pdqhash>=0.2.8'")

from tidehash.bench.hash import main as _hash_main  # noqa: E402


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return _hash_main(["--skip-phash", *argv], prog="bench_pdq.py")


if __name__ == "__main__":
    sys.exit(main())
