"""The matcher's memory at N list entries, one source tree beside another in one run.

    python benchmarks/bench_matcher_memory.py --dir DIR [--entries 1000000] SRC [SRC ...]

Makes (once, in DIR) the random PDQ bank ``tidehash bench matcher`` makes (``hex`` list,
seed 1) and a SQLite matcher database holding it (the first SRC's matcher pulls it), then
for each SRC (a tree's ``src`` directory) starts ``tidehash serve --role matcher`` on that
stored bank, waits for ``/status`` 200, sends 50 lookups and prints the process's RSS, PSS
and peak RSS (MB, from /proc). Prints figures, asserts nothing."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = r"""
import json, sys, urllib.request
from tidehash.bench.matcher import Proc, free_port, memory
config, db, lookups = sys.argv[1], sys.argv[2], int(sys.argv[3])
port = free_port()
with Proc([sys.executable, "-m", "tidehash.cli", "serve", "--role", "matcher", "--config",
           config, "--db", f"sqlite:///{db}", "--host", "127.0.0.1", "--port", str(port)]) as p:
    ready = p.wait_ready(port, "/status", 3600)
    for _ in range(lookups):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/m/raw_lookup?signal_type=pdq"
                               f"&signal={'ab' * 32}").read()
    mem = memory(p.pid)
    print(json.dumps({"ready_s": round(ready, 1), "rss_mb": round(mem["rss_mb"]),
                      "pss_mb": round(mem["pss_mb"]), "peak_rss_mb": round(mem["peak_rss_mb"])}))
"""


def run(src: str, config: str, db: str, lookups: int) -> dict:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src)}
    out = subprocess.run([sys.executable, "-c", CHILD, config, db, str(lookups)], env=env,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("src", nargs="+")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    bank = os.path.join(args.dir, f"bank-{args.entries}.txt")
    db = os.path.join(args.dir, f"m-{args.entries}.db")
    config = os.path.join(args.dir, "matcher.toml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(f'[bank.BENCH]\nsource = "list:{bank}"\n')
    if not os.path.exists(bank):
        subprocess.run([sys.executable, "-c", "import sys; from tidehash.bench.matcher import "
                        "build_bank; build_bank(sys.argv[1], sys.argv[1] + '.npy', "
                        "int(sys.argv[2]), 1)", bank, str(args.entries)], check=True,
                       env={**os.environ, "PYTHONPATH": os.path.abspath(args.src[0])})
    if not os.path.exists(db):
        t = time.perf_counter()
        first = run(args.src[0], config, db, 0)
        print(f"first start (pull + store + load) with {args.src[0]}: {first} "
              f"({time.perf_counter() - t:.0f} s)", flush=True)
    for src in args.src:
        print(f"{src}: restart on the stored {args.entries:,} entries: {run(src, config, db, 50)}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
