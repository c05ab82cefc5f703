#!/usr/bin/env python
"""The registry under a mixed load through two faults: a real ``tidehash serve`` over a
private PostgreSQL cluster on 127.0.0.1, with submitters, lookups, a withdrawer, a
changes follower and a ``sync_list`` loop running together; PostgreSQL is stopped and
started again, then the server is killed (SIGKILL) and started again on the same port.

Prints, with the CPU and SIMD level: each operation's throughput and p50 / p95 / p99
latency in the steady phase, the statuses of every phase (0: no answer), and how long
after each fault each kind of client first succeeded again; then checks, as the test
does, that nothing acknowledged was lost and the change log has no gap or repeat.
Bounded: ``--seconds`` a phase, ``--max-calls`` a client; it stops by itself.

    python benchmarks/bench_registry_load.py                    # 5 s a phase
    python benchmarks/bench_registry_load.py --seconds 10 --submitters 4 --lookups 4
    python benchmarks/bench_registry_load.py --json out.json

The load and the checks are ``tests/registry/loadfault.py`` (the test runs the same
with 2 s phases); PostgreSQL's binaries as the tests find them (``initdb`` on PATH or in
/usr/lib/postgresql/*/bin).
"""

import argparse
import json
import os
import sys
import tempfile

from _wrapper import prepare

prepare()
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from registry import loadfault  # noqa: E402
from registry.pg import Cluster  # noqa: E402

import tidehash  # noqa: E402
from tidehash.bench.machine import cpu_model, loadavg  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="seconds of each phase (5)")
    ap.add_argument("--submitters", type=int, default=2, help="submitting clients (2)")
    ap.add_argument("--lookups", type=int, default=2, help="lookup clients (2)")
    ap.add_argument("--max-calls", type=int, default=100_000, help="calls a client at most")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    info = tidehash.cpu_info()
    print(f"CPU: {cpu_model()}; SIMD: {info['active_isa']}; load average {loadavg()}")
    cluster = Cluster()
    try:
        cluster.start()
        with tempfile.TemporaryDirectory(prefix="tidehash-load-") as work:
            report = loadfault.run(cluster, work, seconds=args.seconds,
                                   submitters=args.submitters, lookups=args.lookups,
                                   max_calls=args.max_calls)
            counts = loadfault.check(report)
    finally:
        cluster.cleanup()
    fig = loadfault.figures(report)
    print(loadfault.table(fig))
    print(f"checked: {counts['cases']} acknowledged cases, {counts['withdrawals']} "
          f"acknowledged withdrawals, {counts['changes']} changes (seq 1..N, none twice), "
          f"{counts['active']} active entries = the synced list; client errors: "
          f"{len(report.errors)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"figures": fig, "counts": counts, "cpu": cpu_model()}, f, indent=1)
    return 0 if not report.errors else 1


if __name__ == "__main__":
    sys.exit(main())
