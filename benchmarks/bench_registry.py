#!/usr/bin/env python
"""The registry under load: a real server over N PDQ entries (lookups, snapshot, sync,
changes, submissions), the load generator on the same machine.

A thin wrapper so the benchmark runs from a checkout; the code ships in the package as
``tidehash.bench.registry`` (``python -m tidehash.bench registry``). Same options:

    python benchmarks/bench_registry.py --quick                      # smoke run
    python benchmarks/bench_registry.py --json out.json              # 1M entries
    python benchmarks/bench_registry.py --entries 10000000 --bare --db-dir /tmp/reg
    python benchmarks/bench_registry.py --help
"""

import sys

from _wrapper import prepare

prepare()

from tidehash.bench.registry import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
