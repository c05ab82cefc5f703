#!/usr/bin/env python
"""A platform's matcher under lookup load: tidehash's matcher and any other lookup URL
(HMA's /m/raw_lookup), the same bank, queries and load generator on the same machine.

A thin wrapper so the benchmark runs from a checkout; the code ships in the package as
``tidehash.bench.matcher`` (``python -m tidehash.bench matcher``). Same options:

    python benchmarks/bench_matcher.py --quick                        # smoke run
    python benchmarks/bench_matcher.py --entries 1000000 --ceiling --json out.json
    python benchmarks/bench_matcher.py --entries 1000000 --bank-dir /tmp/bank \\
        --target 'hma=http://127.0.0.1:5100/m/raw_lookup?signal_type=pdq&signal={hex}&include_distance=true'
    python benchmarks/bench_matcher.py --help
"""

import sys

from _wrapper import prepare

prepare()

from tidehash.bench.matcher import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
