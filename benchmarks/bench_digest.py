#!/usr/bin/env python
"""MD5 + SHA-256 in the read that decodes the image, against a second read.

A thin wrapper so the benchmark runs from a checkout; the code ships in the package as
``tidehash.bench.digest`` (``python -m tidehash.bench digest``). Same options; here the
BLAS / OpenMP thread pools are pinned to one thread first:

    PYTHONPATH=src python benchmarks/bench_digest.py --quick
    PYTHONPATH=src python benchmarks/bench_digest.py --help
"""

import os
import sys

# Single-threaded by construction: no library may spread work over other cores. Set
# before numpy is first imported, which is when those pools read it.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ.setdefault(_var, "1")

try:
    import tidehash  # noqa: F401  (installed, or on PYTHONPATH)
except ImportError:  # a checkout built in place: python setup.py build_ext --inplace
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from tidehash.bench.digest import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="bench_digest.py"))
