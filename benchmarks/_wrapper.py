"""What every script in benchmarks/ does before it runs its ``tidehash.bench`` command.

The benchmarks ship in the package (``python -m tidehash.bench NAME``); these scripts only
let them run from a checkout, single-threaded by construction.
"""

import os
import sys

_THREAD_POOLS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def prepare() -> None:
    """Pin the BLAS / OpenMP pools to one thread (before numpy is first imported, which
    is when they read it), then find tidehash: installed, on PYTHONPATH, or built in
    place in this checkout (python setup.py build_ext --inplace)."""
    for var in _THREAD_POOLS:
        os.environ.setdefault(var, "1")
    try:
        import tidehash  # noqa: F401
    except ImportError:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
