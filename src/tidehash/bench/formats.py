"""Hash-list reading speed and memory: ``tidehash.read_list`` on generated lists.

For each format a list of N random PDQ hashes is written to a temporary file (plain
hex, ``pdq <hex>``, the PDQ tool's ``hash,quality,filename`` CSV with 30-character
file names, and ``tidehash hash``-style JSON lines), then read in a fresh Python
process, so each figure has its own peak RSS:

* ``read``: ``read_list(path, format)``, to an (N, 32) array with ids (and quality,
  file names) and duplicates merged; lines/s and the process's peak RSS (VmHWM) when
  it returns, also over a process that only imports tidehash (``over base``), against
  the bytes the result holds (``result``) and the file size;
* ``write``: ``write_list`` of the list just read, back to a file (lines/s, and the
  peak RSS after it, ``+write RSS``);
* the list file (``tidehash index build``) of the plain hex list: ``save_list`` of the
  list read (``save``), then in a fresh process ``load_list`` with and without checksum
  verification, and ``Matcher.load`` plus matching 100 hashes against it (flat scan)
  from the start of the process (``first match``): what ``tidehash match`` pays;
* anchors on the plain hex file, each in its own process: the NumPy fixed-width trick
  (whole file in memory, ``np.frombuffer`` + a lookup table; no validation, no CRLF,
  no comments) and a plain Python loop (``bytes.fromhex`` per line).

Usage (``benchmarks/bench_formats.py`` is the same)::

    python -m tidehash.bench formats              # 10M lines, ~3 minutes
    python -m tidehash.bench formats --quick      # 1M lines
    python -m tidehash.bench formats --n 10000000 --jsonl-n 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

import tidehash

from . import args as bench_args
from .machine import cpu_model

HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
BLOCK = 1 << 20
FORMATS = ("hex", "pytx", "pdqcsv", "jsonl")  # what generate() writes
MAX_LINES = 10**9  # 65 GB of hex list: beyond that a value is a typo


def hex_block(rows: np.ndarray) -> np.ndarray:
    out = np.empty((rows.shape[0], 64), np.uint8)
    out[:, 0::2] = HEX[rows >> 4]
    out[:, 1::2] = HEX[rows & 15]
    return out


def generate(fmt: str, n: int, path: str, seed: int = 1) -> None:
    """N random PDQ hashes in ``fmt``, written a block at a time."""
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        for start in range(0, n, BLOCK):
            k = min(BLOCK, n - start)
            digits = hex_block(rng.integers(0, 256, (k, 32), dtype=np.uint8))
            if fmt in ("hex", "pytx"):
                prefix = b"pdq " if fmt == "pytx" else b""
                lines = np.empty((k, len(prefix) + 65), np.uint8)
                lines[:, :len(prefix)] = np.frombuffer(prefix, np.uint8)
                lines[:, len(prefix):-1] = digits
                lines[:, -1] = 10
                f.write(lines.tobytes())
                continue
            hexes = digits.tobytes().decode()
            ids = range(start, start + k)
            if fmt == "pdqcsv":
                text = "".join(f"{hexes[64 * j:64 * j + 64]},{i % 101},"
                               f"photos/2026/11/img_{i:010d}.jpg\n" for j, i in enumerate(ids))
            else:
                text = "".join(f'{{"path": "photos/2026/11/img_{i:010d}.jpg", "pdq": '
                               f'"{hexes[64 * j:64 * j + 64]}", "quality": {i % 101}}}\n'
                               for j, i in enumerate(ids))
            f.write(text.encode())


# Each measurement runs in its own process: "python -c CHILD <kind> <path> <fmt> <out>".
CHILD = r"""
import json, sys, time
kind, path, fmt, out = sys.argv[1:5]


def hwm():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork + exec from the parent
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


import os
import numpy as np
import tidehash
from tidehash.formats import read_list, write_list
result = {}
if kind == "read":
    t = time.perf_counter()
    hl = read_list(path, fmt)
    result["seconds"] = time.perf_counter() - t
    g = hl.pdq
    result["rows"], result["entries"], result["errors"] = len(g), g.n_entries, hl.error_count
    result["result_bytes"] = hl.nbytes
    result["peak_rss"] = hwm()
    t = time.perf_counter()
    write_list(hl, out, fmt)
    result["write_seconds"] = time.perf_counter() - t
elif kind == "save":
    from tidehash.formats import save_list
    hl = read_list(path, fmt)
    t = time.perf_counter()
    save_list(hl, out)
    result["seconds"] = time.perf_counter() - t
    result["rows"] = result["entries"] = hl.pdq.n_entries
    result["file_bytes"] = os.path.getsize(out)
elif kind == "load":
    from tidehash.formats import load_list
    from tidehash.match import Matcher
    t0 = time.perf_counter()
    hl = load_list(out)
    result["seconds"] = time.perf_counter() - t0
    result["rows"] = result["entries"] = hl.pdq.n_entries
    t = time.perf_counter()
    load_list(out, verify=False)
    result["noverify_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    m = Matcher.load(out, strategy="flat")
    q = np.asarray(hl.pdq.hashes[::max(1, len(hl.pdq) // 100)][:100])
    found = m.match_pdq_batch(q)
    assert all(ms and ms[0].distance == 0 for ms in found)
    result["match_seconds"] = time.perf_counter() - t
    result["first_match_seconds"] = time.perf_counter() - t0
elif kind == "numpy":
    t = time.perf_counter()
    raw = np.fromfile(path, np.uint8).reshape(-1, 65)[:, :64]
    lut = np.zeros(256, np.uint8)
    lut[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16)
    lut[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)
    nib = lut[raw]
    arr = (nib[:, 0::2] << 4) | nib[:, 1::2]
    result["seconds"] = time.perf_counter() - t
    result["rows"] = result["entries"] = len(arr)
elif kind == "python":
    t = time.perf_counter()
    buf = bytearray()
    with open(path, "rb") as f:
        for line in f:
            buf += bytes.fromhex(line.decode().strip())
    arr = np.frombuffer(buf, np.uint8).reshape(-1, 32)
    result["seconds"] = time.perf_counter() - t
    result["rows"] = result["entries"] = len(arr)
result.setdefault("peak_rss", hwm())
result["peak_rss_write"] = hwm()
print(json.dumps(result))
"""


def run_child(kind: str, path: str, fmt: str, out: str) -> dict:
    # the child imports this tidehash (the folder holding the package first)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(tidehash.__file__)))] +
        [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    done = subprocess.run([sys.executable, "-c", CHILD, kind, path, fmt, out], env=env,
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def parser(prog: str = "python -m tidehash.bench formats") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=bench_args.int_in(1, MAX_LINES), default=10_000_000,
                    help="lines per list")
    ap.add_argument("--jsonl-n", type=bench_args.int_in(1, MAX_LINES), default=None,
                    help="lines of the JSON-lines list (Python-parsed; default: --n / 10)")
    ap.add_argument("--formats", type=bench_args.name_list(FORMATS), default=FORMATS,
                    help="default " + ",".join(FORMATS))
    ap.add_argument("--no-anchors", action="store_true", help="skip the NumPy / Python runs")
    ap.add_argument("--quick", action="store_true", help="1M lines")
    ap.add_argument("--dir", default=None, help="where to write the lists (default: a temp dir)")
    ap.add_argument("--json", default=None, help="also write the results here")
    return ap


def main(argv=None, prog: str = "python -m tidehash.bench formats") -> int:
    ap = parser(prog)
    args = ap.parse_args(argv)
    n = 1_000_000 if args.quick else args.n
    jsonl_n = args.jsonl_n or max(1, n // 10)
    workdir = tempfile.mkdtemp(prefix="tidehash-bench-formats-", dir=args.dir)

    print(f"tidehash {tidehash.__version__}, Python {platform.python_version()}, "
          f"NumPy {np.__version__}, CPU: {cpu_model()} ({os.cpu_count()} logical), "
          f"ISA {tidehash.cpu_info()['active_isa']}")
    rows = []
    list_file_rows = []
    try:
        base = run_child("none", os.devnull, "hex", os.devnull)["peak_rss"]
        for fmt in args.formats:
            lines = jsonl_n if fmt == "jsonl" else n
            path = os.path.join(workdir, f"list.{fmt}")
            t = time.perf_counter()
            generate(fmt, lines, path)
            gen = time.perf_counter() - t
            size = os.path.getsize(path)
            runs = [("tidehash read_list", run_child("read", path, fmt, path + ".out"))]
            if fmt == "hex" and not args.no_anchors:
                runs.append(("NumPy fixed-width", run_child("numpy", path, fmt, "")))
                runs.append(("Python fromhex loop", run_child("python", path, fmt, "")))
            if fmt == "hex":
                saved = run_child("save", path, fmt, path + ".thl")
                loaded = run_child("load", path, fmt, path + ".thl")
                list_file_rows.append(dict(lines=lines, list_bytes=size, save=saved, load=loaded))
                os.unlink(path + ".thl")
            for name, r in runs:
                assert r["entries"] == lines, (fmt, name, r)
                rows.append(dict(format=fmt, reader=name, lines=lines, file_bytes=size,
                                 generate_seconds=gen, base_rss=base, **r))
            for p in (path, path + ".out"):
                if os.path.exists(p):
                    os.unlink(p)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\nbase RSS (python + import tidehash): {base / 2**20:.0f} MB\n")
    head = (f"{'format':8} {'reader':20} {'lines':>10} {'file MB':>8} {'read s':>7} "
            f"{'M lines/s':>9} {'peak RSS MB':>11} {'over base':>9} {'result MB':>9} "
            f"{'write M/s':>9} {'+write RSS':>10}")
    print(head)
    print("-" * len(head))
    for r in rows:
        write = f"{r['lines'] / r['write_seconds'] / 1e6:9.2f} " \
            f"{r['peak_rss_write'] / 2**20:10.0f}" if "write_seconds" in r \
            else f"{'-':>9} {'-':>10}"
        result = f"{r['result_bytes'] / 2**20:9.0f}" if "result_bytes" in r else f"{'-':>9}"
        print(f"{r['format']:8} {r['reader']:20} {r['lines']:>10} "
              f"{r['file_bytes'] / 2**20:8.0f} {r['seconds']:7.2f} "
              f"{r['lines'] / r['seconds'] / 1e6:9.2f} {r['peak_rss'] / 2**20:11.0f} "
              f"{(r['peak_rss'] - base) / 2**20:9.0f} {result} {write}")
    for r in list_file_rows:
        save, load = r["save"], r["load"]
        print(f"\nlist file of the hex list ({r['lines']} hashes): "
              f"{save['file_bytes'] / 2**20:.0f} MB ({save['file_bytes'] / r['lines']:.1f} "
              f"B/hash), save_list {save['seconds']:.2f} s; in a fresh process: load_list "
              f"{load['seconds']:.3f} s (checksums verified), {load['noverify_seconds']:.4f} s "
              f"(not verified), Matcher.load + 100 queries (flat) {load['match_seconds']:.2f} s, "
              f"first match {load['first_match_seconds']:.2f} s after start, peak RSS "
              f"{load['peak_rss'] / 2**20:.0f} MB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu_model(), "rows": rows, "list_file": list_file_rows}, f,
                      indent=1)
    return 0

