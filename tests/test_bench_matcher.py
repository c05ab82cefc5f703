"""`tidehash bench matcher`, run as a user runs it (a separate process), on a bank of 1,000
hashes and a few hundred lookups: its JSON holds the figures, and the hits it counts are
real matches (the queries checked against the bank with a NumPy oracle)."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import tidehash
from tidehash.bench.matcher import bank_paths, free_port, load_samples, make_queries

SRC = str(pathlib.Path(tidehash.__file__).resolve().parents[1])
ENTRIES, QUERIES, SEED = 1000, 300, 5


def env() -> dict:
    e = {k: v for k, v in os.environ.items() if k != "TIDEHASH_ISA"}
    e["PYTHONPATH"] = SRC + os.pathsep + e.get("PYTHONPATH", "")
    return e


def bench(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tidehash.cli", "bench", "matcher",
                           *map(str, args)], env=env(), capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def oracle_distances(bank: pathlib.Path, hexes: list[str]) -> np.ndarray:
    """The distance from each query to its nearest bank hash (NumPy popcount)."""
    codes = np.array([np.frombuffer(bytes.fromhex(line), np.uint8)
                      for line in bank.read_text().split()])
    assert codes.shape == (ENTRIES, 32)
    q = np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).reshape(-1, 32)
    xor = np.bitwise_xor(q[:, None, :], codes[None, :, :])
    return np.unpackbits(xor, axis=2).sum(axis=2).min(axis=1)


def check_queries(bank_dir: pathlib.Path) -> int:
    """The bench's expectations are the truth: a hit is a listed hash at exactly the
    distance the bench expects, a miss is more than 31 bits from every listed hash.
    Returns the number of hits among the queries."""
    bank, samples = bank_paths(str(bank_dir), ENTRIES, SEED)
    rows, codes = load_samples(samples)
    lines = pathlib.Path(bank).read_text().split()
    assert [lines[r] for r in rows[:50]] == [c.tobytes().hex() for c in codes[:50]]
    hexes, expect, _ = make_queries(codes, QUERIES, 0.5, 31, SEED)
    nearest = oracle_distances(pathlib.Path(bank), hexes)
    expect = np.array(expect)
    hit = expect >= 0
    assert 100 <= hit.sum() <= 200
    assert (nearest[hit] == expect[hit]).all()
    assert (nearest[~hit] > 31).all()
    assert len(set(expect[hit].tolist())) > 10  # distances 0..31, not one of them
    return int(hit.sum())


def check_level(level: dict, hits: int) -> None:
    assert level["requests"] == QUERIES  # every query once (the count bound, not the time)
    assert level["errors"] == 0, level["first_errors"]
    assert level["wrong"] == 0
    assert level["hits"] == hits
    assert level["lookups_per_s"] > 0
    assert 0 < level["p50_ms"] <= level["p90_ms"] <= level["p99_ms"] <= level["max_ms"]


def test_bench_matcher_drives_any_lookup_url(tmp_path):
    """A lookup URL of another server (here the minimal FastAPI endpoint over an Index,
    POST with a JSON body), with the generator's ceiling measured on a trivial server."""
    bank_dir = tmp_path / "bank"
    r = bench("--entries", ENTRIES, "--seed", SEED, "--bank-dir", bank_dir, "--build-only",
              cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    hits = check_queries(bank_dir)
    bank, _ = bank_paths(str(bank_dir), ENTRIES, SEED)
    hl = tidehash.read_list(bank)
    index = tidehash.Index()
    index.add(hl.pdq.hashes, np.array([hl.pdq.ids_of(i)[0] for i in range(len(hl.pdq))]))
    index.save(str(tmp_path / "bank.thi"))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c",
         "import uvicorn\nfrom tidehash.bench.registry_bare import create_app\n"
         f"uvicorn.run(create_app({str(tmp_path / 'bank.thi')!r}), host='127.0.0.1', "
         f"port={port}, log_level='warning')"], env=env(), stderr=subprocess.PIPE)
    try:
        # the bench waits for its own servers, not for a --target's: wait for this one to
        # listen (under load its start takes longer than the ceiling run before it)
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the bare server never listened"
                time.sleep(0.1)
        out = tmp_path / "out.json"
        r = bench("--entries", ENTRIES, "--seed", SEED, "--bank-dir", bank_dir,
                  "--queries", QUERIES, "--requests", QUERIES, "--concurrency", "1,8",
                  "--duration", 30, "--warmup", 0, "--no-tidehash", "--ceiling",
                  "--target", f"bare=http://127.0.0.1:{port}/lookup",
                  "--body", 'bare={"pdq": "{hex}"}', "--pid", f"bare={server.pid}",
                  "--ready-timeout", 60, "--json", out, cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
        with open(f"/proc/{server.pid}/stat") as f:  # the server's own CPU so far
            fields = f.read().rsplit(")", 1)[1].split()
        server_cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    finally:
        server.terminate()
        server.wait(20)
    res = json.loads(out.read_text())
    # the bench ran without TIDEHASH_ISA (env() drops it): at the CPU's best level
    assert res["machine"]["isa"] == tidehash.cpu_info()["best_isa"]
    assert res["machine"]["cpu"] and res["machine"]["cores"] >= 1
    assert [lv["concurrency"] for lv in res["levels"]] == [1, 8]
    for level in res["levels"]:
        assert level["target"] == "bare"
        check_level(level, hits)
    # the CPU the server used over each measured level: its share of the server's total
    measured = [level["server_cpu_s"] for level in res["levels"]]
    assert all(cpu >= 0 for cpu in measured) and 0 < sum(measured) <= server_cpu_s
    for level in res["levels"]:
        assert level["server_cpu_ms_per_lookup"] == \
            pytest.approx(1e3 * level["server_cpu_s"] / level["requests"])
    assert [c["concurrency"] for c in res["ceiling"]] == [1, 8]
    for c in res["ceiling"]:
        assert c["errors"] == 0 and c["hits"] == 0 and c["lookups_per_s"] > 0
    mem = res["targets"]["bare"]["memory_per_process"]
    assert mem["pid"] == server.pid and 0 < mem["pss_mb"] <= mem["rss_mb"]
    assert "bare" in r.stdout and "generator ceiling" in r.stdout


def test_bench_matcher_runs_tidehash_matcher(tmp_path):
    """The default run: the bench starts `tidehash serve --role matcher` over the bank's
    list file, drives its /m/raw_lookup, times a new line appended to the list until it
    matches, and stops the matcher."""
    bank_dir, out = tmp_path / "bank", tmp_path / "out.json"
    r = bench("--entries", ENTRIES, "--seed", SEED, "--bank-dir", bank_dir,
              "--queries", QUERIES, "--requests", QUERIES, "--concurrency", "1,8",
              "--duration", 30, "--warmup", 0, "--adds", 1, "--add-timeout", 30,
              "--ready-timeout", 60, "--json", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    hits = check_queries(bank_dir)
    res = json.loads(out.read_text())
    assert [(lv["target"], lv["concurrency"]) for lv in res["levels"]] == [
        ("tidehash", 1), ("tidehash", 8)]
    for level in res["levels"]:
        check_level(level, hits)
    th = res["targets"]["tidehash"]
    assert th["ready_s"] > 0
    assert 0 < th["memory_per_process"]["pss_mb"] <= th["memory_per_process"]["rss_mb"]
    add = th["add_to_match"]
    assert add["adds"] == 1 and len(add["delays_s"]) == 1 and add["max_s"] > 0, add
    # the matcher was stopped: nothing listens on its port any more
    port = int(th["url"].split(":")[2].split("/")[0])
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
