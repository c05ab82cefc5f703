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

from tidehash.bench.phash import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="bench_phash.py"))
