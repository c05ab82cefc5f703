"""`tidehash bench hash`, run as a user runs it (a separate process), on tiny images so it
takes seconds: it exits 0, prints its tables and writes sane figures to JSON."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

import tidehash

# the subprocess imports the same tidehash these tests imported (in-place build or installed)
SRC = str(pathlib.Path(tidehash.__file__).resolve().parents[1])
BENCH_PDQ = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "bench_pdq.py"
TINY = ("--quick", "--sizes", "0.05,64x48", "--phash-sizes", "8")


def run(*args, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TIDEHASH_ISA"}
    env["PYTHONPATH"] = SRC
    return subprocess.run([sys.executable, *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def positive_times(summary: dict) -> None:
    assert summary["reps"] >= 1
    assert 0 < summary["min_ms"] <= summary["median_ms"] <= summary["max_ms"]
    assert len(summary["samples_ms"]) == summary["reps"]


def test_bench_hash_quick_run(tmp_path):
    out = tmp_path / "out" / "hash.json"
    r = run("-m", "tidehash.cli", "bench", "hash", *TINY, "--json", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:] + r.stdout[-2000:]
    assert "tidehash hash benchmark (quick mode, single thread)" in r.stdout
    for heading in ("1. PDQ hash only", "2. File to hash", "3. pHash"):
        assert heading in r.stdout
    assert "!!" not in r.stdout

    report = json.loads(out.read_text())
    meta = report["meta"]
    isas = list(tidehash.available_isas())
    # the subprocess runs without TIDEHASH_ISA (run() drops it): it is at the CPU's best
    # level, whatever level this process was forced to
    assert meta["active_isa"] == tidehash.cpu_info()["best_isa"]
    assert meta["active_isa"] in isas and meta["isas_benchmarked"] == isas
    assert meta["cpu_model"] and meta["python"] and meta["numpy"] and meta["pillow"]
    assert meta["tidehash"] == tidehash.__version__
    has_pdqhash, has_imagehash = installed("pdqhash"), installed("imagehash")
    assert (meta["pdqhash"] is not None) == has_pdqhash
    assert (meta["imagehash"] is not None) == has_imagehash
    for isa in isas:
        assert f"tidehash {isa}" in r.stdout
    assert report["problems"] == []

    rows = report["hash_only"]
    assert [row["size"] for row in rows] == ["258x194", "64x48"]
    for row in rows:
        assert set(row["tidehash"]) == set(isas)
        for rec in row["tidehash"].values():
            positive_times(rec)
            assert len(rec["hex"]) == 64
        if has_pdqhash:
            positive_times(row["pdqhash"])
            for rec in row["tidehash"].values():
                assert rec["speedup_vs_pdqhash"] > 0 and rec["hamming_to_pdqhash"] >= 0

    files = report["file_to_hash"]
    assert sorted((f["size"], f["format"]) for f in files) == [
        ("258x194", "JPEG"), ("258x194", "PNG"), ("64x48", "JPEG"), ("64x48", "PNG")]
    for f in files:
        positive_times(f["pillow_decode"])
        positive_times(f["tidehash_file"])
        assert f["tidehash_over_decode"] > 0 and f["file_bytes"] > 0
        assert f["tidehash_equals_pdq_hash_of_pixels"] is True
        if has_pdqhash:
            positive_times(f["pillow_pdqhash"])

    phash = report["phash"]
    assert [(p["size"], p["hash_size"]) for p in phash] == [("258x194", 8), ("64x48", 8)]
    for p in phash:
        positive_times(p["tidehash"])
        assert p["isa"] == meta["active_isa"]
        if has_imagehash:
            assert p["same"] is True and p["speedup_vs_imagehash"] > 0


def test_bench_hash_without_competitors(tmp_path):
    """With pdqhash and imagehash left out, tidehash is timed alone and their columns go."""
    out = tmp_path / "hash.json"
    r = run("-m", "tidehash.bench", "hash", *TINY, "--isa", "scalar", "--no-pdqhash",
            "--no-imagehash", "--json", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "pdqhash.compute" not in r.stdout and "pdq/th" not in r.stdout
    assert "imagehash" not in r.stdout.split("3. pHash")[1]
    report = json.loads(out.read_text())
    assert report["meta"]["pdqhash"] is None and report["meta"]["imagehash"] is None
    assert all(set(row["tidehash"]) == {"scalar"} and row["pdqhash"] is None
               for row in report["hash_only"])
    assert all(f["pillow_pdqhash"] is None and f["isa"] == "scalar"
               for f in report["file_to_hash"])
    assert all(p["imagehash"] is None and p["same"] is None for p in report["phash"])


def test_bench_usage_lists_hash_and_bad_isa_is_a_usage_error(tmp_path):
    r = run("-m", "tidehash.bench", "--help", cwd=tmp_path)
    assert r.returncode == 0 and "hash " in r.stdout
    r = run("-m", "tidehash.cli", "bench", "hash", "--isa", "no-such-isa", cwd=tmp_path)
    assert r.returncode == 2 and "not available" in r.stderr


@pytest.mark.skipif(not BENCH_PDQ.exists(), reason="no checkout (benchmarks/ absent)")
@pytest.mark.skipif(not installed("pdqhash"), reason="bench_pdq.py needs pdqhash")
def test_bench_pdq_script_wraps_the_packaged_benchmark(tmp_path):
    out = tmp_path / "pdq.json"
    r = run(BENCH_PDQ, "--quick", "--sizes", "64x48", "--isa", "scalar", "--json", out,
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "1. PDQ hash only" in r.stdout and "pHash" not in r.stdout
    report = json.loads(out.read_text())
    assert report["hash_only"] and report["file_to_hash"] and report["phash"] == []
