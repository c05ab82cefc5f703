"""The command line, run as a user runs it: a separate process, `python -m tidehash.cli`."""

from __future__ import annotations

import csv
import io
import json
import os
import pathlib
import re
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import tidehash

# the subprocess imports the same tidehash these tests imported (in-place build or installed)
SRC = str(pathlib.Path(tidehash.__file__).resolve().parents[1])


def cli(*args, cwd=None, **env_extra) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TIDEHASH_ISA"}
    env["PYTHONPATH"] = SRC
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "tidehash.cli", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def lines(stdout: str) -> list[dict]:
    out = []
    for line in stdout.splitlines():
        assert line.strip(), "no blank lines in JSON-lines output"
        out.append(json.loads(line))
    return out


def make(tmp_path, name: str, seed: int, size=(90, 120)) -> pathlib.Path:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (size[0] // 10, size[1] // 10, 3), dtype=np.uint8)
    arr = np.asarray(Image.fromarray(small).resize((size[1], size[0]), Image.BILINEAR))
    p = tmp_path / name
    Image.fromarray(arr).save(p)
    return p


@pytest.fixture
def good(tmp_path):
    return [make(tmp_path, "a.png", 1), make(tmp_path, "b.jpg", 2),
            make(tmp_path, "c d (spaces).png", 3), make(tmp_path, "é-unicode.png", 4)]


def test_hash_good_files(good):
    r = cli("hash", *good)
    assert r.returncode == 0, r.stderr
    recs = lines(r.stdout)
    assert len(recs) == len(good)
    for p, rec in zip(good, recs):
        want = tidehash.hash_file(p).pdq
        assert set(rec) == {"path", "kind", "pdq", "quality"}
        assert rec["path"] == str(p)
        assert rec["pdq"] == want.hex
        assert rec["quality"] == want.quality
        assert isinstance(rec["quality"], int)
        assert len(rec["pdq"]) == 64 and rec["pdq"] == rec["pdq"].lower()


def test_hash_relative_paths_keep_the_path_as_given(tmp_path, good):
    r = cli("hash", "a.png", "./b.jpg", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [rec["path"] for rec in lines(r.stdout)] == ["a.png", "./b.jpg"]


def test_hash_with_a_bad_file(tmp_path, good):
    bad = tmp_path / "broken.jpg"
    data = good[1].read_bytes()
    bad.write_bytes(data[: len(data) // 2])  # truncated in half
    txt = tmp_path / "readme.txt"
    txt.write_text("not an image")
    missing = tmp_path / "missing.png"
    args = [good[0], bad, good[1], txt, missing, good[2]]
    r = cli("hash", "--workers", "2", *args)
    assert r.returncode == 1, (r.stdout, r.stderr)
    recs = lines(r.stdout)
    assert [rec["path"] for rec in recs] == [str(a) for a in args]  # input order
    for a, rec in zip(args, recs):
        if a in good:
            assert rec["pdq"] == tidehash.hash_file(a).pdq.hex
            assert "error" not in rec
        else:
            assert set(rec) == {"path", "error"}
            assert isinstance(rec["error"], str) and rec["error"]
    assert "Traceback" not in r.stderr


def test_hash_only_bad_files(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    r = cli("hash", p)
    assert r.returncode == 1
    (rec,) = lines(r.stdout)
    assert set(rec) == {"path", "error"}
    assert rec["path"] == str(p) and "empty" in rec["error"]
    assert "Traceback" not in r.stderr


def test_hash_header_truncated_jpeg_is_an_error_record(tmp_path, good):
    # Image.open raising OSError (see test_bad_inputs) must still be a record here
    p = tmp_path / "hdr.jpg"
    p.write_bytes(good[1].read_bytes()[:100])
    r = cli("hash", "--workers", "1", p, good[0])
    assert r.returncode == 1
    recs = lines(r.stdout)
    assert recs[0]["path"] == str(p) and "error" in recs[0]
    assert recs[1]["pdq"] == tidehash.hash_file(good[0]).pdq.hex


@pytest.mark.parametrize("workers", ["1", "3"])
def test_hash_workers(good, workers):
    r = cli("hash", "--workers", workers, *good)
    assert r.returncode == 0, r.stderr
    assert [rec["pdq"] for rec in lines(r.stdout)] == [tidehash.hash_file(p).pdq.hex
                                                       for p in good]


def test_hash_dihedral(good):
    r = cli("hash", "--dihedral", *good[:2])
    assert r.returncode == 0, r.stderr
    recs = lines(r.stdout)
    assert len(recs) == 2
    for p, rec in zip(good, recs):
        want = tidehash.hash_file(p, dihedral=True)
        assert rec["path"] == str(p)
        assert isinstance(rec["pdq_dihedral"], list)
        assert len(rec["pdq_dihedral"]) == 8
        assert rec["pdq_dihedral"] == [h.hex for h in want.pdq_dihedral]
        assert rec["pdq"] == want.pdq.hex == rec["pdq_dihedral"][0]
        assert rec["quality"] == want.pdq.quality
        # the 8 variants of a non-symmetric image differ
        assert len(set(rec["pdq_dihedral"])) == 8


def test_hash_max_pixels(good):
    r = cli("hash", "--max-pixels", "1000", good[0])
    assert r.returncode == 1
    (rec,) = lines(r.stdout)
    assert rec["path"] == str(good[0]) and "1000" in rec["error"]


def test_hash_isa_env(good):
    r = cli("hash", good[0], TIDEHASH_ISA="scalar")
    assert r.returncode == 0, r.stderr
    assert lines(r.stdout)[0]["pdq"] == tidehash.hash_file(good[0]).pdq.hex


def test_info():
    r = cli("info")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["version"] == tidehash.__version__
    assert info["active_isa"] in tidehash.available_isas()
    assert info["active_isa"] == tidehash.cpu_info()["best_isa"]
    assert info["available_isas"] == list(tidehash.available_isas())
    assert isinstance(info["features"], list)


def test_info_with_forced_isa():
    r = cli("info", TIDEHASH_ISA="scalar")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["active_isa"] == "scalar"
    assert info["forced_by_env"] == "scalar"


def test_version():
    r = cli("--version")
    assert r.returncode == 0
    assert tidehash.__version__ in r.stdout


@pytest.mark.parametrize("args", [(), ("hash",), ("frobnicate",), ("hash", "--workers")])
def test_usage_errors(args):
    r = cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "usage" in r.stderr.lower()
    assert r.stdout == ""
    assert "Traceback" not in r.stderr


def test_help():
    r = cli("--help")
    assert r.returncode == 0
    assert "hash" in r.stdout and "info" in r.stdout


def test_bench_usage_and_help():
    assert cli("bench").returncode == 2
    r = cli("bench", "search", "--help")
    assert r.returncode == 0 and "--quick" in r.stdout


def test_every_bench_command_is_in_the_package():
    """Each `tidehash bench` command is tidehash.bench.<command>.main; the scripts in
    benchmarks/ only wrap them."""
    import importlib

    from tidehash.bench import COMMANDS

    assert {"hash", "search", "video", "fast", "digest", "formats", "phash"} <= set(COMMANDS)
    for command in COMMANDS:
        assert callable(importlib.import_module(f"tidehash.bench.{command}").main), command
        r = cli("bench", command, "--help")
        assert r.returncode == 0 and f"bench {command}" in r.stdout, command


def test_bench_search_tiny_run_agrees(tmp_path):
    """`tidehash bench search` runs without faiss and checks every result it times."""
    out = tmp_path / "bench.json"
    r = cli("bench", "search", "--n", "20000", "--queries", "50", "--single", "5",
            "--budget", "0.2", "--datasets", "random", "--threads", "1", "--no-faiss",
            "--no-numpy", "--json", out)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["disagreements"] == []
    engines = {rec["engine"] for rec in report["results"]}
    assert {"tidehash-flat", "tidehash-mih", "tidehash-auto"} <= engines
    assert all(rec["agree"] == "ok" for rec in report["results"])


# ----------------------------------------------------------------------------- hash (click)
def test_hash_help_lists_every_option():
    r = cli("hash", "--help")
    assert r.returncode == 0
    for opt in ("--algo", "--dihedral", "--fast", "--workers", "--seconds-per-hash",
                "--max-pixels", "--format", "--output"):
        assert opt in r.stdout


def test_hash_folder_recursive_sorted(tmp_path):
    top = tmp_path / "top"
    (top / "b" / "deeper").mkdir(parents=True)
    (top / "a").mkdir()
    files = [make(top / "a", "2.png", 5), make(top / "b" / "deeper", "x.png", 6),
             make(top / "b", "1.png", 7), make(top, "z.png", 8)]
    (top / ".hidden.png").write_bytes(files[0].read_bytes())
    r = cli("hash", top)
    assert r.returncode == 0, r.stderr
    got = [rec["path"] for rec in lines(r.stdout)]
    assert got == [str(top / "z.png"), str(top / "a" / "2.png"), str(top / "b" / "1.png"),
                   str(top / "b" / "deeper" / "x.png")]


def test_hash_paths_from_stdin(tmp_path, good):
    env = {k: v for k, v in os.environ.items() if k != "TIDEHASH_ISA"}
    env["PYTHONPATH"] = SRC
    listing = "\n".join(str(p) for p in good[:3]) + "\n\n"
    r = subprocess.run([sys.executable, "-m", "tidehash.cli", "hash", "-", str(good[3])],
                       input=listing, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert [rec["path"] for rec in lines(r.stdout)] == [str(p) for p in good]


def test_hash_bad_file_reported_on_stderr_one_line_each(tmp_path, good):
    txt = tmp_path / "notes.txt"
    txt.write_text("not an image")
    missing = tmp_path / "missing.png"
    r = cli("hash", good[0], txt, missing, good[1])
    assert r.returncode == 1
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(err) == 2
    assert str(txt) in err[0] and str(missing) in err[1]
    assert [rec.get("pdq") is not None for rec in lines(r.stdout)] == [True, False, False, True]


def test_hash_no_progress_bar_when_piped(tmp_path):
    files = [make(tmp_path, f"{i}.png", 20 + i) for i in range(8)]
    r = cli("hash", *files)
    assert r.returncode == 0
    assert r.stderr == ""


def test_hash_algorithms_and_csv(tmp_path, good):
    r = cli("hash", "--algo", "pdq,phash,md5,sha256", "--format", "csv", good[0], good[1])
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == ["path", "kind", "pdq", "quality", "phash", "md5", "sha256", "error"]
    for p, row in zip(good, rows):
        want = tidehash.hash_file(p, algorithms=("pdq", "phash", "md5", "sha256"))
        assert row["path"] == str(p) and row["kind"] == "image"
        assert row["pdq"] == want.pdq.hex and int(row["quality"]) == want.pdq.quality
        assert (row["phash"], row["md5"], row["sha256"]) == (want.phash, want.md5, want.sha256)
        assert row["error"] == ""


def test_hash_unknown_algorithm_is_a_usage_error(good):
    r = cli("hash", "--algo", "pdq,sha1", good[0])
    assert r.returncode == 2 and "sha1" in r.stderr and r.stdout == ""


@pytest.mark.parametrize("fmt", ["hex", "pytx", "pdq-csv"])
def test_hash_list_formats_read_back(tmp_path, good, fmt):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    r = cli("hash", "--format", fmt, good[0], bad, good[1])
    assert r.returncode == 1
    want = [tidehash.hash_file(p).pdq for p in good[:2]]
    body = r.stdout.splitlines()
    if fmt == "hex":
        assert body == [h.hex for h in want]
    elif fmt == "pytx":
        assert body == [f"pdq {h.hex}" for h in want]
    else:
        assert body == [f"{h.hex},{h.quality},{p}" for h, p in zip(want, good[:2])]
    hl = tidehash.read_list(r.stdout.encode())
    assert [hl.pdq.hex(i) for i in range(len(hl.pdq))] == [h.hex for h in want]


def test_hash_output_file_is_written_whole(tmp_path, good):
    out = tmp_path / "out.jsonl"
    r = cli("hash", "-o", out, *good)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert [rec["pdq"] for rec in lines(out.read_text())] == [
        tidehash.hash_file(p).pdq.hex for p in good]
    assert sorted(os.listdir(tmp_path)) == sorted([p.name for p in good] + ["out.jsonl"])


def test_hash_failed_run_leaves_no_output_file(tmp_path, good):
    # the output folder is made read-only after the temp file... simpler: a usage error
    # after -o and a missing output folder both leave nothing behind
    out = tmp_path / "out.jsonl"
    r = cli("hash", "-o", out, "--algo", "bogus", good[0])
    assert r.returncode == 2
    r = cli("hash", "-o", tmp_path / "no-such-dir" / "out.jsonl", good[0])
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert not out.exists()
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_hash_ctrl_c_exits_130_and_leaves_no_output(tmp_path, good):
    out = tmp_path / "out.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "TIDEHASH_ISA"}
    env["PYTHONPATH"] = SRC
    proc = subprocess.Popen([sys.executable, "-m", "tidehash.cli", "hash", "--workers", "1",
                             "-o", str(out), "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    proc.stdin.write(f"{good[0]}\n")
    proc.stdin.flush()  # stdin stays open: the run is mid-way when interrupted
    deadline = time.monotonic() + 60
    while not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    proc.stdin.close() if not proc.stdin.closed else None
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert not out.exists()
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_ctrl_c_swallowed_by_library_code_still_exits_130_without_output(tmp_path, good,
                                                                       monkeypatch):
    """A KeyboardInterrupt can be swallowed where Python cannot raise it (a __del__,
    a C callback printing "Exception ignored"); the run must still end as interrupted
    and commit nothing. In-process, with a real SIGINT to this process."""
    import tidehash.cli.hashing as hashing_cmd
    from tidehash.cli import main

    real = hashing_cmd.hash_files

    def swallowing(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler raises here
        except KeyboardInterrupt:
            pass  # swallowed
        yield from real(*args, **kwargs)

    monkeypatch.setattr(hashing_cmd, "hash_files", swallowing)
    out = tmp_path / "out.jsonl"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert main(["hash", str(good[0]), "-o", str(out)]) == 130
    assert not out.exists()
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    # the interrupt belongs to that run: the next one, here from another thread (where no
    # handler is installed), runs and writes its output
    import threading

    monkeypatch.setattr(hashing_cmd, "hash_files", real)
    codes = []
    worker = threading.Thread(target=lambda: codes.append(
        main(["hash", str(good[0]), "-o", str(out)])))
    worker.start()
    worker.join(60)
    assert codes == [0] and out.exists()


def test_index_build_interrupted_while_saving_writes_nothing(tmp_path, pdq_list, monkeypatch):
    """An interrupt swallowed while the list file is written: nothing is renamed in."""
    import tidehash.formats.binary as binary
    from tidehash.cli import main

    real = binary.atomic_file

    def interrupted(path, before_commit=None):
        def swallow_then_check():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)
            except KeyboardInterrupt:
                pass
            before_commit()
        return real(path, swallow_then_check)

    monkeypatch.setattr(binary, "atomic_file", interrupted)
    idx = tmp_path / "x.idx"
    assert main(["index", "build", str(pdq_list), "-o", str(idx)]) == 130
    assert not idx.exists() and not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_hash_progress_bar_on_a_terminal(tmp_path):
    files = [make(tmp_path, f"{i}.png", 40 + i) for i in range(6)]
    r, seen = run_on_pty("stderr", "hash", *files)
    assert r.returncode == 0
    assert "6/6" in seen and "ETA" in seen
    assert len(lines(r.stdout.decode())) == 6  # the bar never reaches stdout


_CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def terminal_lines(seen: str) -> list[str]:
    """What each line of a terminal transcript ends up showing: the text after the
    line's last carriage return, control sequences removed (a line the bar was drawn
    on and a row then written after it keeps both)."""
    lines_ = seen.replace("\r\n", "\n").split("\n")  # the terminal's own newline mapping
    return [_CSI.sub("", line.split("\r")[-1]).rstrip() for line in lines_]


@pytest.mark.parametrize("command", ["hash", "match"])
def test_progress_bar_and_table_rows_share_a_terminal(tmp_path, command):
    """Regression (fixed): with stdout and stderr on one terminal and 4+ inputs, table
    rows were printed on the progress bar's line (``hashing [###---] 3/6 ... ETA 0s
    image  100  ...``). Rows and error messages now print above the bar, whole."""
    files = [make(tmp_path, f"{i}.png", 60 + i) for i in range(8)]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    inputs = [*files[:4], bad, *files[4:]]
    hexes = [tidehash.hash_file(f).pdq.hex for f in files]
    if command == "hash":
        args = ("hash", "--workers", "1", *inputs)
    else:
        listed = tmp_path / "l.txt"
        listed.write_text("".join(h + "\n" for h in hexes))
        args = ("match", "--workers", "1", "--against", listed, *inputs)
    r, seen = run_on_pty("both", *args)
    assert r.returncode == 1
    shown = terminal_lines(seen)
    rows = [line for line in shown if any(h in line for h in hexes)
            or line.startswith(("KIND", "SIGNAL", "error", "pdq", "image", "tidehash:"))]
    for line in rows:  # no row shares a line with the bar
        assert "ETA" not in line and "/9" not in line and "━" not in line, shown
    if command == "hash":
        assert rows[0].split()[:3] == ["KIND", "QUAL", "PDQ"]
        for f, h in zip(files, hexes):
            assert [line.split() for line in rows if line.endswith(str(f))] == \
                [["image", "100", h, str(f)]] or \
                [line.split()[2] for line in rows if line.endswith(str(f))] == [h]
        assert [line.split()[0] for line in rows if line.endswith(str(bad))] == ["error"]
    else:
        assert rows[0].split()[:2] == ["SIGNAL", "DIST"]
        for f in files:
            assert len([line for line in rows if line.startswith("pdq")
                        and line.endswith(str(f))]) == 1, shown
    assert len([line for line in rows if line.startswith("tidehash: ")
                and str(bad) in line]) == 1


# ----------------------------------------------------------------------------- help
@pytest.mark.parametrize("command", [("hash",), ("info",), ("compare",), ("convert",),
                                     ("index",), ("index", "build"), ("index", "info"),
                                     ("match",), ("bench",)])
def test_every_command_has_help(command):
    r = cli(*command, "--help")
    assert r.returncode == 0, r.stderr
    assert "usage" in r.stdout.lower()


@pytest.mark.parametrize("args", [("compare", "x"), ("convert", "in.txt"),
                                  ("index", "build", "l.txt"), ("match", "x"),
                                  ("index", "frobnicate")])
def test_more_usage_errors(args, tmp_path):
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "usage" in r.stderr.lower() and "Traceback" not in r.stderr


# ----------------------------------------------------------------------------- compare
def reencode(src: pathlib.Path, dest: pathlib.Path, quality: int = 60) -> pathlib.Path:
    """A JPEG re-encoding, as a re-upload makes (these 120x90 test images are too small
    to resize and stay within 31 bits)."""
    with Image.open(src) as im:
        im.convert("RGB").save(dest, quality=quality)
    return dest


def test_compare_files_and_hashes(tmp_path, good):
    copy = reencode(good[0], tmp_path / "copy.jpg")
    r = cli("compare", good[0], copy)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    want = tidehash.hamming(tidehash.hash_file(good[0]).pdq, tidehash.hash_file(copy).pdq)
    assert out["signal"] == "pdq" and out["distance"] == want and want <= 31
    r = cli("compare", good[0], tidehash.hash_file(copy).pdq.hex.upper())
    assert r.returncode == 0 and json.loads(r.stdout)["distance"] == want
    p1 = tidehash.hash_file(good[0], algorithms="phash").phash
    r = cli("compare", p1, good[1])
    assert r.returncode == 0
    p2 = tidehash.hash_file(good[1], algorithms="phash").phash
    assert json.loads(r.stdout)["distance"] == bin(int(p1, 16) ^ int(p2, 16)).count("1")
    r = cli("compare", good[0], copy, "--format", "table")
    assert r.returncode == 0 and r.stdout == f"pdq distance {want}\n"


def test_compare_errors(tmp_path, good):
    r = cli("compare", good[0], "abc")
    assert r.returncode == 2 and "neither a file nor a hash" in r.stderr
    r = cli("compare", "0" * 64, "1" * 16)
    assert r.returncode == 2
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"x")
    r = cli("compare", good[0], bad)
    assert r.returncode == 1 and "bad.png" in r.stderr and "Traceback" not in r.stderr


def test_compare_two_videos(tmp_path):
    from videos import make_video

    a = make_video(tmp_path / "a.mp4", frames=50, script=lambda i: "scene")
    b = make_video(tmp_path / "b.mp4", frames=50, script=lambda i: "scene",
                   options={"crf": "35"})
    r = cli("compare", a, b)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["signal"] == "vpdq"
    want = tidehash.vpdq_match(tidehash.vpdq_hash(a), tidehash.vpdq_hash(b))
    assert out["query_match_percent"] == round(want.query_match_percent, 2)
    assert out["compared_match_percent"] == round(want.compared_match_percent, 2)
    assert out["match"] is True and out["query_match_percent"] >= 80


# ----------------------------------------------------------------------------- convert
@pytest.fixture
def pdq_list(tmp_path, good):
    p = tmp_path / "list.jsonl"
    with p.open("w") as f:
        for i, img in enumerate(good):
            h = tidehash.hash_file(img).pdq
            f.write(json.dumps({"pdq": h.hex, "quality": h.quality, "id": 100 + i,
                                "label": f"case-{100 + i}"}) + "\n")
    return p


def pdqs_of(path, fmt=None) -> list[str]:
    return [r.hash for r in tidehash.iter_records(str(path), fmt)]


@pytest.mark.parametrize("fmt", ["hex", "pytx", "pdqcsv", "jsonl"])
def test_convert_round_trip(tmp_path, pdq_list, fmt):
    mid, back = tmp_path / f"mid.{fmt}", tmp_path / "back.jsonl"
    r = cli("convert", pdq_list, "-o", mid, "--to", fmt)
    assert r.returncode == 0, r.stderr
    r = cli("convert", mid, "-o", back, "--to", "jsonl", "--from", fmt)
    assert r.returncode == 0, r.stderr
    assert pdqs_of(back) == pdqs_of(pdq_list)
    if fmt in ("pdqcsv", "jsonl"):  # formats that carry quality
        assert [r.quality for r in tidehash.iter_records(str(back))] == \
            [r.quality for r in tidehash.iter_records(str(pdq_list))]


def test_convert_vpdq_round_trip(tmp_path):
    from videos import make_video

    video = make_video(tmp_path / "v.mp4", frames=50)
    feats = tuple(tidehash.vpdq_hash(video))
    src = tmp_path / "v.vpdq"
    tidehash.write_list([tidehash.HashRecord("vpdq", None, 7, features=feats)], src, "vpdq")
    mid, back = tmp_path / "v.json", tmp_path / "back.vpdq"
    assert cli("convert", src, "-o", mid, "--to", "vpdq-json").returncode == 0
    r = cli("convert", mid, "-o", back, "--to", "vpdq")
    assert r.returncode == 0, r.stderr
    (rec,) = tidehash.iter_records(str(back))
    assert [f.hex for f in rec.features] == [f.hex for f in feats]


def test_convert_bad_lines(tmp_path, pdq_list):
    src = tmp_path / "bad.txt"
    hexes = pdqs_of(pdq_list)
    src.write_text(f"{hexes[0]}\nnot-a-hash\n{hexes[1]}\n{'0' * 64}\n")
    out = tmp_path / "out.txt"
    r = cli("convert", src, "-o", out, "--to", "pytx")
    assert r.returncode == 1
    assert out.read_text().splitlines() == [f"pdq {h}" for h in hexes[:2]]
    err = r.stderr.splitlines()
    assert len(err) == 2
    assert err[0].startswith(f"{src}:2: ") and err[1].startswith(f"{src}:4: ")
    out2 = tmp_path / "strict.txt"
    r = cli("convert", src, "-o", out2, "--to", "pytx", "--strict")
    assert r.returncode == 1 and r.stderr.startswith(f"{src}:2: ")
    assert len(r.stderr.splitlines()) == 1
    assert not out2.exists()
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_convert_to_stdout_and_mixed_types_need_signal(tmp_path, good):
    src = tmp_path / "mixed.jsonl"
    r = cli("hash", "--algo", "pdq,md5", "-o", src, *good[:2])
    assert r.returncode == 0
    r = cli("convert", src, "-o", "-", "--to", "hex")
    assert r.returncode == 2 and "signal" in r.stderr
    r = cli("convert", src, "-o", "-", "--to", "hex", "--signal", "md5")
    assert r.returncode == 0
    assert r.stdout.splitlines() == [tidehash.hash_file(p, algorithms="md5").md5
                                     for p in good[:2]]


# ----------------------------------------------------------------------------- index
def test_index_build_info_and_match(tmp_path, good, pdq_list):
    extra = tmp_path / "extra.txt"
    extra.write_text(pdqs_of(pdq_list)[0] + "\nbad line\n")
    idx = tmp_path / "list.idx"
    r = cli("index", "build", pdq_list, extra, "-o", idx)
    assert r.returncode == 1  # the bad line was skipped and reported
    assert f"{extra}:2: " in r.stderr
    assert os.listdir(tmp_path).count("list.idx") == 1  # one file, no sidecar, no temp
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]
    loaded = tidehash.Index.load(idx)  # the PDQ hashes, ids = rows
    assert len(loaded) == len(good)  # the repeated hash is one row
    want = tidehash.read_list([str(pdq_list), str(extra)])
    back = tidehash.read_list(str(idx))  # every entry kept, as read from the lists
    assert [r.to_dict() for r in back.records()] == [r.to_dict() for r in want.records()]
    assert [int(i) for i in back.pdq.ids_of(0)] == [100, 1]

    r = cli("index", "info", idx)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["pdq"] == len(good) and info["entries"] == len(good) + 1
    assert info["file_bytes"] == idx.stat().st_size
    assert info["sources"] == [str(pdq_list), str(extra)]
    assert info["lists"] == [str(pdq_list), str(extra)]
    r = cli("index", "info", idx, "--format", "table")
    assert r.returncode == 0 and f"pdq:         {len(good)}" in r.stdout
    # a list file converts back to a text list: the same entries as the lists give
    r = cli("convert", idx, "-o", "-", "--to", "jsonl")
    assert r.returncode == 0, r.stderr
    r2 = cli("convert", pdq_list, "-o", "-", "--to", "jsonl")
    r3 = cli("convert", extra, "-o", "-", "--to", "jsonl")
    assert sorted(r.stdout.splitlines()) == sorted(r2.stdout.splitlines()
                                                   + r3.stdout.splitlines())

    copy = reencode(good[2], tmp_path / "copy.jpg")
    r = cli("match", copy, "--against", idx)
    assert r.returncode == 0, r.stderr
    recs = lines(r.stdout)
    hit = [m for m in recs if m["id"] == 102]
    assert hit and hit[0]["label"] == "case-102" and hit[0]["source"] == str(pdq_list)
    assert hit[0]["distance"] == tidehash.hamming(tidehash.hash_file(copy).pdq,
                                                  tidehash.hash_file(good[2]).pdq) <= 31
    # the same answers as matching against the lists themselves
    r2 = cli("match", copy, "--against", pdq_list)
    assert [m for m in lines(r2.stdout)] == [m for m in recs if m["id"] != 1]


def test_index_holds_digests_and_videos(tmp_path, good):
    """A list file matches MD5 / SHA-256 and videos, not only PDQ."""
    from videos import make_video

    video = make_video(tmp_path / "v.mp4", frames=75, script=lambda i: "scene")
    copy = make_video(tmp_path / "copy.mp4", frames=75, script=lambda i: "scene",
                      options={"crf": "35"})
    images = tmp_path / "images.jsonl"
    assert cli("hash", "--algo", "md5,sha256", "-o", images, *good[:3]).returncode == 0
    videos = tmp_path / "videos.jsonl"
    tidehash.write_list([tidehash.HashRecord("vpdq", None, 9, label="case-9",
                                             features=tuple(tidehash.vpdq_hash(video)))],
                        videos, "jsonl")
    idx = tmp_path / "all.idx"
    assert cli("index", "build", images, videos, "-o", idx).returncode == 0
    info = lines(cli("index", "info", idx).stdout)[0]
    assert (info["md5"], info["sha256"], info["vpdq"]) == (3, 3, 1) and "pdq" not in info
    r = cli("match", good[1], copy, "--against", idx)
    assert r.returncode == 0, r.stderr
    got = {(m["query"], m["signal"], m.get("label")) for m in lines(r.stdout)}
    assert got == {(str(good[1]), "md5", str(good[1])), (str(good[1]), "sha256", str(good[1])),
                   (str(copy), "vpdq", "case-9")}
    md5 = tidehash.hash_file(good[2], algorithms="md5").md5
    r = cli("match", md5.upper(), "--against", idx)
    assert [(m["signal"], m["label"]) for m in lines(r.stdout)] == [("md5", str(good[2]))]


def test_index_strict_and_bad_index(tmp_path, pdq_list):
    src = tmp_path / "bad.txt"
    src.write_text("nope\n")
    r = cli("index", "build", src, "-o", tmp_path / "x.idx", "--strict")
    assert r.returncode == 1 and not (tmp_path / "x.idx").exists()
    junk = tmp_path / "junk.idx"
    junk.write_bytes(b"TIDEIDX\x00" + b"\x00" * 10)
    r = cli("index", "info", junk)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    idx = tmp_path / "l.idx"
    assert cli("index", "build", pdq_list, "-o", idx).returncode == 0
    data = idx.read_bytes()
    first_array = -(-(24 + int.from_bytes(data[12:16], "little")) // 64) * 64

    def flip(at):
        return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]

    for name, bad in (("cut", data[:len(data) // 2]), ("short", data[:20]),
                      ("flipped-data", flip(first_array + 5)), ("flipped-pad", flip(-3)),
                      ("flipped-dir", flip(30))):
        broken = tmp_path / f"{name}.idx"
        broken.write_bytes(bad)
        for args in (("index", "info", broken), ("match", "0" * 64, "--against", broken)):
            r = cli(*args)
            assert r.returncode == 1, (name, args, r.stderr)
            assert "Traceback" not in r.stderr and str(broken) in r.stderr


# ----------------------------------------------------------------------------- match
def test_match_reencoded_copy_against_a_list(tmp_path, good, pdq_list):
    copy = reencode(good[1], tmp_path / "copy.jpg")
    other = make(tmp_path, "unrelated.png", 999)
    r = cli("match", copy, other, "--against", pdq_list)
    assert r.returncode == 0, r.stderr
    recs = lines(r.stdout)
    # the unrelated image: one "no match" record
    assert [m for m in recs if m["query"] == str(other)] == [{"query": str(other),
                                                             "matches": []}]
    recs = [m for m in recs if m["query"] != str(other)]
    assert {m["query"] for m in recs} == {str(copy)}
    best = min(recs, key=lambda m: m["distance"])
    assert best["id"] == 101 and best["label"] == "case-101" and best["signal"] == "pdq"
    assert best["distance"] <= 31 and best["weak"] is False
    assert best["quality"] == tidehash.hash_file(copy).pdq.quality


def test_match_literal_hashes_and_radius(tmp_path, pdq_list):
    hexes = pdqs_of(pdq_list)
    flipped = f"{int(hexes[3][:2], 16) ^ 0x07:02x}" + hexes[3][2:]  # 3 bits off
    r = cli("match", flipped, "--against", pdq_list, "--radius", "3")
    assert r.returncode == 0, r.stderr
    (m,) = [m for m in lines(r.stdout) if m["id"] == 103]
    assert m["distance"] == 3 and m["query"] == flipped
    r = cli("match", flipped, "--against", pdq_list, "--radius", "2")
    assert r.returncode == 0 and all(m.get("id") != 103 for m in lines(r.stdout))


def test_match_dihedral_finds_a_rotated_copy(tmp_path, good, pdq_list):
    rotated = tmp_path / "rot.png"
    with Image.open(good[0]) as im:
        im.transpose(Image.ROTATE_90).save(rotated)
    r = cli("match", rotated, "--against", pdq_list, "--radius", "10")
    assert all(m.get("id") != 100 for m in lines(r.stdout))
    r = cli("match", rotated, "--against", pdq_list, "--radius", "10", "--dihedral")
    assert r.returncode == 0, r.stderr
    (m,) = [m for m in lines(r.stdout) if m["id"] == 100]
    assert m["variant"] in tidehash.DIHEDRAL_NAMES and m["variant"] != "original"


def test_match_weak_and_min_quality(tmp_path):
    yy, xx = np.mgrid[0:90, 0:120]
    flat = tmp_path / "flat.png"
    Image.fromarray(np.stack([(128 + xx * 4 // 120).astype(np.uint8)] * 3, -1)).save(flat)
    h = tidehash.hash_file(flat).pdq
    assert h.quality < 50
    lst = tmp_path / "l.txt"
    lst.write_text(f"{h.hex}\n")
    r = cli("match", flat, "--against", lst)
    assert r.returncode == 0
    (m,) = lines(r.stdout)
    assert m["weak"] is True and m["distance"] == 0
    r = cli("match", flat, "--against", lst, "--min-quality", "50")
    assert r.returncode == 0 and lines(r.stdout) == [{"query": str(flat), "matches": []}]


def test_match_md5_exact_and_failed_input(tmp_path, good):
    lst = tmp_path / "l.jsonl"
    assert cli("hash", "--algo", "pdq,md5", "-o", lst, good[0]).returncode == 0
    r = cli("match", good[0], tmp_path / "missing.png", "--against", lst, "--format", "csv")
    assert r.returncode == 1 and "missing.png" in r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert {row["signal"] for row in rows} == {"md5", "pdq"}
    assert all(row["distance"] == "0" and row["label"] == str(good[0]) for row in rows)


def test_match_video_against_a_list(tmp_path):
    from videos import make_video

    video = make_video(tmp_path / "v.mp4", frames=75, script=lambda i: "scene")
    copy = make_video(tmp_path / "copy.mp4", frames=75, script=lambda i: "scene",
                      options={"crf": "35"})
    feats = tuple(tidehash.vpdq_hash(video))
    lst = tmp_path / "videos.jsonl"
    tidehash.write_list([tidehash.HashRecord("vpdq", None, 9, label="case-9", features=feats)],
                        lst, "jsonl")
    r = cli("match", copy, "--against", lst)
    assert r.returncode == 0, r.stderr
    (m,) = lines(r.stdout)
    want = tidehash.vpdq_match(tidehash.vpdq_hash(copy), feats)
    assert m["signal"] == "vpdq" and m["id"] == 9 and m["label"] == "case-9"
    assert m["query_match_percent"] == round(want.query_match_percent, 2) >= 80
    r = cli("match", copy, "--against", lst, "--video-match", "100.1")
    assert r.returncode == 2


def run_on_pty(stream: str, *args) -> tuple[subprocess.CompletedProcess, str]:
    """Run the CLI with ``stream`` ("stdout", "stderr" or "both") on a pseudo-terminal
    and the other piped; returns the process and what reached the terminal."""
    import pty

    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "TIDEHASH_ISA"}
    env["PYTHONPATH"] = SRC
    ends = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    for name in (("stdout", "stderr") if stream == "both" else (stream,)):
        ends[name] = slave
    try:
        r = subprocess.run([sys.executable, "-m", "tidehash.cli", *map(str, args)],
                           env=env, timeout=120, **ends)
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    return r, seen.decode()


def on_terminal(*args) -> tuple[int, str]:
    """Run with stdout on a pseudo-terminal (stderr piped); returns (exit code, output)."""
    r, seen = run_on_pty("stdout", *args)
    return r.returncode, seen


def test_hash_table_on_a_terminal(tmp_path, good):
    txt = tmp_path / "x.txt"
    txt.write_text("no")
    code, out = on_terminal("hash", good[0], txt)
    assert code == 1
    rows = out.splitlines()
    assert rows[0].split()[:3] == ["KIND", "QUAL", "PDQ"]
    assert tidehash.hash_file(good[0]).pdq.hex in rows[1] and rows[1].startswith("image")
    assert rows[2].startswith("error") and rows[2].endswith(str(txt))


def test_info_text_on_a_terminal():
    code, out = on_terminal("info")
    assert code == 0
    assert f"version:         {tidehash.__version__}" in out
    assert "active_isa:" in out
    code, out = on_terminal("info", "--format", "json")
    assert code == 0 and json.loads(out)["version"] == tidehash.__version__
    r = cli("info", "--format", "table")  # a table even when piped
    assert r.returncode == 0 and f"version:         {tidehash.__version__}" in r.stdout


def test_hash_video_seconds_per_hash(tmp_path):
    from videos import make_video

    video = make_video(tmp_path / "v.mp4", frames=50)
    r = cli("hash", "--seconds-per-hash", "0.5", video)
    assert r.returncode == 0, r.stderr
    (rec,) = lines(r.stdout)
    assert [f["pdq"] for f in rec["vpdq"]] == [f.hex for f in tidehash.vpdq_hash(video, 0.5)]
    assert cli("hash", "--seconds-per-hash", "0", video).returncode == 2


def test_match_sha256_literal_and_paths_from_stdin(tmp_path, good):
    lst = tmp_path / "l.jsonl"
    assert cli("hash", "--algo", "pdq,sha256", "-o", lst, good[0], good[1]).returncode == 0
    sha = tidehash.hash_file(good[1], algorithms="sha256").sha256
    r = cli("match", sha, "--against", lst)
    assert r.returncode == 0, r.stderr
    assert [(m["signal"], m["label"]) for m in lines(r.stdout)] == [("sha256", str(good[1]))]
    env = {k: v for k, v in os.environ.items() if k != "TIDEHASH_ISA"}
    env["PYTHONPATH"] = SRC
    r = subprocess.run([sys.executable, "-m", "tidehash.cli", "match", "-", "--against",
                        str(lst)], input=f"{good[0]}\n", env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert {(m["signal"], m["label"]) for m in lines(r.stdout)
            if m["distance"] == 0} == {("pdq", str(good[0])), ("sha256", str(good[0]))}


def test_match_and_compare_tagged_literal_hashes(tmp_path, good):
    """``<type> <hex>`` (tidehash.hashes.parse_hash) names what a literal hash is: a
    tagged SHA-256 is looked up as SHA-256 only, a tagged PDQ as PDQ only; bare 64 hex
    digits are both."""
    lst = tmp_path / "l.jsonl"
    assert cli("hash", "--algo", "pdq,sha256", "-o", lst, good[0]).returncode == 0
    rec = tidehash.hash_file(good[0], algorithms=("pdq", "sha256"))
    for query, signals in ((f"sha256 {rec.sha256}", {"sha256"}), (rec.sha256, {"sha256"}),
                           (f"PDQ {rec.pdq.hex.upper()}", {"pdq"}), (rec.pdq.hex, {"pdq"})):
        r = cli("match", query, "--against", lst)
        assert r.returncode == 0, r.stderr
        assert {m["signal"] for m in lines(r.stdout)} == signals, query
        assert {m["query"] for m in lines(r.stdout)} == {query.split()[-1].lower()}
    r = cli("compare", good[0], f"pdq {rec.pdq.hex}")
    assert r.returncode == 0 and json.loads(r.stdout)["distance"] == 0
    r = cli("compare", good[0], f"md5 {'0' * 32}")
    assert r.returncode == 2 and "neither a file nor a hash" in r.stderr


def test_match_against_an_index_saved_by_the_python_api(tmp_path, good, pdq_list):
    """An Index.save file (hashes and ids, no entries) works as --against: ids shown."""
    index = tidehash.Index()
    index.add(np.stack([np.frombuffer(bytes.fromhex(h), np.uint8) for h in pdqs_of(pdq_list)]),
              ids=np.arange(500, 500 + len(good)))
    idx = tmp_path / "api.idx"
    index.save(idx)
    r = cli("match", good[3], "--against", idx)
    assert r.returncode == 0, r.stderr
    (m,) = [m for m in lines(r.stdout) if m["distance"] == 0]
    assert m["id"] == 503 and m["row"] == 3 and "label" not in m


def test_hash_fast_and_info_json(good):
    r = cli("hash", "--fast", good[1])
    assert r.returncode == 0, r.stderr
    assert lines(r.stdout)[0]["pdq"] == tidehash.hash_file(good[1], fast=True).pdq.hex
    r = cli("info", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["version"] == tidehash.__version__


@pytest.mark.parametrize("args", [
    ("hash", "--seconds-per-hash", "nan"), ("hash", "--seconds-per-hash", "inf"),
    ("hash", "--seconds-per-hash", "-inf"), ("compare", "--seconds-per-hash", "nan"),
    ("compare", "--seconds-per-hash", "inf"), ("match", "--video-match", "nan"),
    ("match", "--video-match", "inf"), ("match", "--video-match", "-nan"),
    ("hash", "--workers", "0"), ("hash", "--max-pixels", "-1"), ("match", "--radius", "1e9")])
def test_non_finite_numbers_are_usage_errors(tmp_path, good, args):
    """Regression (fixed): nan and inf passed click's FloatRange and came out of the
    library as a ValueError traceback with exit 1."""
    listed = tmp_path / "l.txt"
    listed.write_text(tidehash.hash_file(good[0]).pdq.hex + "\n")
    rest = {"hash": (good[0],), "compare": (good[0], good[1]),
            "match": ("--against", listed, good[0])}[args[0]]
    r = cli(*args, *rest)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Invalid value" in r.stderr
    assert r.stdout == ""


# ----------------------------------------------------------------------------- pipes
def test_hash_reads_pipes(tmp_path, good):
    """Regression (fixed): `tidehash hash <(cat photo.jpg)` said "empty file" (a pipe's
    size is 0); a pipe is now read once into memory and hashes as the file does,
    PDQ, MD5 and vPDQ alike."""
    from videos import make_video

    video = make_video(tmp_path / "v.mp4", frames=30)
    for path in (good[1], video):
        want = tidehash.hash_file(path, algorithms=("pdq", "md5"))
        r = subprocess.run(["bash", "-c", '"$0" -m tidehash.cli hash --algo pdq,md5 '
                            '<(cat "$1") "$1"', sys.executable, str(path)],
                           env=dict(os.environ, PYTHONPATH=SRC), capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        piped, direct = lines(r.stdout)
        assert piped["path"].startswith("/dev/fd/")
        assert {k: v for k, v in piped.items() if k != "path"} == \
            {k: v for k, v in direct.items() if k != "path"}
        assert direct["md5"] == want.md5
        if want.pdq is not None:
            assert piped["pdq"] == want.pdq.hex
        else:
            assert [f["pdq"] for f in piped["vpdq"]] == [f.hex for f in want.vpdq]


def _blocks_until_written(tmp_path, args, data: bytes, fifo_at: int):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    argv = [str(fifo) if i == fifo_at else str(a) for i, a in enumerate(args)]
    env = dict(os.environ, PYTHONPATH=SRC)
    proc = subprocess.Popen([sys.executable, "-m", "tidehash.cli", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        assert proc.poll() is None, ("returned before a writer came", proc.communicate())
        with open(fifo, "wb") as w:
            w.write(data)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err


@pytest.mark.parametrize("command", ["hash", "hash-md5", "match-query", "match-against",
                                     "convert", "index-build"])
def test_a_fifo_with_no_writer_waits_for_one_in_every_command(tmp_path, good, command):
    """Regression (fixed): a FIFO with no writer made `hash` return at once ("empty
    file") while `convert` (and vpdq_hash) waited. The rule, everywhere: a FIFO is
    opened like any file, so the command waits for its writer, as cat does."""
    image = good[1].read_bytes()
    pdq = tidehash.hash_file(good[1]).pdq.hex
    listed = tmp_path / "l.txt"
    listed.write_text(pdq + "\n")
    args, data, fifo_at = {
        "hash": (("hash", None), image, 1),
        "hash-md5": (("hash", "--algo", "md5", None), image, 3),
        "match-query": (("match", "--against", listed, None), image, 3),
        "match-against": (("match", "--against", None, good[1]), (pdq + "\n").encode(), 2),
        "convert": (("convert", None, "--to", "hex", "-o", "-"), (pdq + "\n").encode(), 1),
        "index-build": (("index", "build", None, "-o", tmp_path / "x.list"),
                        (pdq + "\n").encode(), 2),
    }[command]
    code, out, err = _blocks_until_written(tmp_path, args, data, fifo_at)
    assert code == 0, err
    if command == "hash":
        assert lines(out)[0]["pdq"] == pdq
    elif command == "hash-md5":
        assert lines(out)[0]["md5"] == tidehash.file_digests(good[1], "md5")["md5"]
    elif command.startswith("match"):
        assert [m["distance"] for m in lines(out)] == [0]
    elif command == "convert":
        assert out == pdq + "\n"
    else:
        assert len(tidehash.read_list(tmp_path / "x.list")["pdq"]) == 1


def test_vpdq_hash_of_a_fifo_waits_for_its_writer(tmp_path):
    import threading

    from videos import make_video

    video = make_video(tmp_path / "v.mp4", frames=30)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    t = threading.Thread(target=lambda: got.append(tidehash.vpdq_hash(fifo)))
    t.start()
    time.sleep(0.5)
    assert t.is_alive() and not got
    with open(fifo, "wb") as w:
        w.write(pathlib.Path(video).read_bytes())
    t.join(60)
    assert [f.hex for f in got[0]] == [f.hex for f in tidehash.vpdq_hash(video)]


def cli_with_pillow_limit_1000(*args) -> subprocess.CompletedProcess:
    """The CLI in a subprocess with Pillow's bomb limit lowered to 1,000 pixels, so
    that small images stand for big ones in the --max-pixels tests."""
    code = ("import sys, PIL.Image; PIL.Image.MAX_IMAGE_PIXELS = 1000; "
            "from tidehash.cli import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *map(str, args)],
                          env=dict(os.environ, PYTHONPATH=SRC), capture_output=True,
                          text=True, timeout=120)


def test_max_pixels_is_the_command_lines_one_bomb_guard(tmp_path):
    """Regression (fixed): Pillow's DecompressionBombWarning was printed raw for images
    between Pillow's limit and twice it (89-179 MP by default), and --max-pixels above
    twice Pillow's limit was accepted but did nothing (Pillow refused first). Run here
    with Pillow's limit lowered to 1,000 pixels, so small images stand for big ones."""
    sizes = {"warned.png": (30, 50), "refused.png": (50, 50)}  # 1,500 and 2,500 px
    for name, size in sizes.items():
        rng = np.random.default_rng(len(name))
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(tmp_path / name)
    paths = [tmp_path / n for n in sizes]
    want = [tidehash.hash_file(p).pdq.hex for p in paths]  # Pillow's default limit here
    run = cli_with_pillow_limit_1000

    r = run("hash", *paths)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and [rec["pdq"] for rec in lines(r.stdout)] == want
    r = run("hash", "--max-pixels", 2000, *paths)
    assert r.returncode == 1
    recs = lines(r.stdout)
    assert recs[0]["pdq"] == want[0] and "exceeds the limit of 2000" in recs[1]["error"]
    assert "DecompressionBomb" not in r.stderr
    r = run("match", "--against", paths[1], paths[1])  # an image is not a list
    assert "DecompressionBomb" not in r.stderr


# ----------------------------------------------------------------------------- read back
def _reencode_video(src, dest, crf: int = 32) -> str:
    """A lossy re-encoding of ``src`` (another codec setting, as a re-upload makes)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dest), "w") as out:
        sin = inp.streams.video[0]
        sout = out.add_stream("libx264", rate=sin.average_rate)
        sout.width, sout.height, sout.pix_fmt = sin.width, sin.height, "yuv420p"
        sout.options = {"crf": str(crf), "preset": "veryfast"}
        for frame in inp.decode(sin):
            frame.pts = None
            for packet in sout.encode(frame.reformat(format="yuv420p")):
                out.mux(packet)
        for packet in sout.encode():
            out.mux(packet)
    return str(dest)


def test_hash_a_video_then_index_build_and_match_find_it_and_a_reencoding(tmp_path):
    """Regression (fixed): `tidehash hash --algo vpdq,md5 -o v.jsonl clip.mp4` then `index
    build v.jsonl` failed with "vpdq: expected a list of feature strings" (hash writes
    frame objects; the JSON lines reader wanted strings), as did convert: there was no
    command-line way to build a video list. One wire shape now, written and read."""
    from videos import make_video

    clip = make_video(tmp_path / "clip.mp4", width=160, height=96, frames=100,
                      script=lambda i: "scene")
    copy = _reencode_video(clip, tmp_path / "copy.mp4")
    listed = tmp_path / "v.jsonl"
    assert cli("hash", "--algo", "vpdq,md5", "-o", listed, clip).returncode == 0
    idx = tmp_path / "v.list"
    r = cli("index", "build", listed, "-o", idx)
    assert r.returncode == 0, r.stderr
    want = [f.hex for f in tidehash.vpdq_hash(clip)]
    for against in (listed, idx):
        hl = tidehash.read_list(against)
        assert [f.hex for f in hl["vpdq"].features[0]] == want and not hl.errors
        r = cli("match", "--against", against, clip, copy)
        assert r.returncode == 0, r.stderr
        got = {(m["query"], m["signal"]) for m in lines(r.stdout)}
        assert got == {(str(clip), "vpdq"), (str(clip), "md5"), (str(copy), "vpdq")}, got
    r = cli("convert", listed, "--to", "vpdq", "--signal", "vpdq", "-o", "-")
    assert r.returncode == 0, r.stderr
    assert r.stdout == tidehash.format_vpdq(tidehash.vpdq_hash(clip))


ALGO_SETS = ("pdq", "pdq,md5", "vpdq,md5", "pdq,phash,md5,sha256,vpdq", "md5", "sha256",
             "phash", "vpdq", "pdq,sha256")


@pytest.mark.parametrize("algos", ALGO_SETS)
def test_every_record_hash_writes_reads_back(tmp_path, good, algos):
    """What `tidehash hash --format jsonl` writes, for any --algo, images and videos,
    reads back (read_list, index build, convert, match) with the same hashes."""
    from videos import make_video

    video = make_video(tmp_path / "v.mp4", frames=40)
    # pHash alone does not open videos, vPDQ alone hashes no image (both said on
    # stderr, exit 1: test_hash_says_what_it_leaves_out): images only, videos only then
    inputs = {"phash": [good[0], good[1]], "vpdq": [video]}.get(algos,
                                                                [good[0], good[1], video])
    out = tmp_path / "h.jsonl"
    r = cli("hash", "--algo", algos, "-o", out, *inputs)
    assert r.returncode == 0, r.stderr
    recs = [tidehash.hash_file(p, algorithms=algos.split(",")) for p in inputs]
    hl = tidehash.read_list(out)
    assert not hl.errors
    for kind in ("pdq", "md5", "sha256", "phash"):
        want = sorted({getattr(rec, kind).hex if kind == "pdq" else getattr(rec, kind)
                       for rec in recs if getattr(rec, kind) is not None})
        group = hl[kind]
        assert sorted(group.hex(row) for row in range(len(group))) == want, kind
    assert [list(map(str, f)) for f in (hl["vpdq"].features or ())] == \
        [list(map(str, rec.vpdq)) for rec in recs if rec.vpdq is not None]
    assert cli("index", "build", out, "-o", tmp_path / "x.list").returncode == 0
    r = cli("convert", out, "--to", "jsonl", "-o", tmp_path / "back.jsonl")
    assert r.returncode == 0, r.stderr
    assert tidehash.read_list(tmp_path / "back.jsonl").n_entries == hl.n_entries
    r = cli("match", "--against", out, *inputs)
    assert r.returncode == 0, r.stderr
    matched = {m["query"] for m in lines(r.stdout) if "matches" not in m}
    assert matched == {str(p) for p, rec in zip(inputs, recs)
                       if rec.pdq or rec.md5 or rec.sha256 or rec.vpdq}


def test_hash_pdq_csv_is_the_list_writers_format(tmp_path):
    """`hash --format pdq-csv` and `convert --to pdqcsv` write one format, the one the
    reader reads: hostile file names come back as they were."""
    from test_formats import HOSTILE_NAMES

    rng = np.random.default_rng(5)
    arr = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    names = [n for n in HOSTILE_NAMES if "/" not in n and "\0" not in n
             and not n.startswith("\udcff") and n not in (".", "..") and n.strip(".")]
    folder = tmp_path / "in"
    folder.mkdir()
    paths = []
    for i, name in enumerate(names):
        p = folder / f"{i:02d}{name}"
        Image.fromarray(arr).save(p, format="PNG")
        paths.append(p)
    r = subprocess.run([sys.executable, "-m", "tidehash.cli", "hash", "--format", "pdq-csv",
                        *map(str, paths)], env=dict(os.environ, PYTHONPATH=SRC),
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    hl = tidehash.read_list(r.stdout, "pdqcsv", strict=True)
    assert [hl.pdq.label(e) for e in range(hl.pdq.n_entries)] == [str(p) for p in paths]
    listed = tmp_path / "l.pdqcsv"
    listed.write_bytes(r.stdout)
    r2 = cli("convert", listed, "--from", "pdqcsv", "--to", "pdqcsv", "-o", "-")
    assert r2.returncode == 0, r2.stderr
    assert r2.stdout.encode() == r.stdout


def test_hash_says_what_it_leaves_out(tmp_path, good):
    """Regression (fixed): `hash --format hex|pdq-csv|pytx clip.mp4` printed nothing and
    exited 0; `--algo phash --format hex` printed nothing although hex holds pHash;
    `--algo vpdq image.jpg` gave a record with no hash and no warning. What is left out
    is said on stderr, and an input for which no hash was written makes the exit 1."""
    from videos import make_video

    video = make_video(tmp_path / "v.mp4", frames=30)
    feats = tidehash.vpdq_hash(video)
    for fmt in ("hex", "pdq-csv"):
        r = cli("hash", "--format", fmt, video)
        assert r.returncode == 1 and r.stdout == ""
        assert f"{video}: left out: pdq (a video has no single PDQ" in r.stderr
    r = cli("hash", "--format", "pytx", video)  # pytx holds vPDQ
    assert r.returncode == 0, r.stderr
    assert list(tidehash.read_list(r.stdout.encode())["vpdq"].features[0]) == \
        tidehash.vpdq_from_json(tidehash.vpdq_to_json(feats))
    r = cli("hash", "--format", "hex", video, good[0])  # something written: the image
    assert r.returncode == 1 and r.stdout == tidehash.hash_file(good[0]).pdq.hex + "\n"
    ph = tidehash.hash_file(good[0], algorithms="phash").phash
    r = cli("hash", "--algo", "phash", "--format", "hex", good[0])
    assert r.returncode == 0 and r.stdout == ph + "\n" and r.stderr == ""
    r = cli("hash", "--algo", "pdq,md5", "--format", "hex", good[0])
    assert r.returncode == 0 and r.stdout == tidehash.hash_file(good[0]).pdq.hex + "\n"
    assert "--format hex holds one hash type; writing pdq: md5 left out" in r.stderr
    r = cli("hash", "--algo", "vpdq", good[0])
    assert r.returncode == 1
    assert lines(r.stdout) == [{"path": str(good[0]), "kind": "image"}]
    assert "an image has no vPDQ" in r.stderr
    r = cli("hash", "--algo", "vpdq,md5", good[0])  # the MD5 is useful: exit 0, still said
    assert r.returncode == 0 and "an image has no vPDQ" in r.stderr
    r = cli("hash", "--algo", "vpdq,md5", "--format", "csv", video)
    assert r.returncode == 0 and "csv has no vPDQ column" in r.stderr
    r = cli("hash", "--algo", "pdq,phash", video)
    assert r.returncode == 0 and "a video has no pHash" in r.stderr
    r = cli("hash", "--format", "pdq-csv", "--algo", "pdq,sha256", good[0])
    assert r.returncode == 0 and "sha256 left out" in r.stderr


def test_match_says_no_match_and_exits_1_on_bad_list_lines(tmp_path, good):
    """Regression (fixed): a query with no match printed nothing (a table could not show
    it ran), and `match --against LIST` with bad lines exited 0 where `index build`
    exits 1."""
    h = tidehash.hash_file(good[0]).pdq.hex
    listed = tmp_path / "l.txt"
    listed.write_text(h + "\n")
    r = cli("match", "--against", listed, good[0], good[1], "f" * 64)
    assert r.returncode == 0, r.stderr
    recs = lines(r.stdout)
    assert [m["query"] for m in recs] == [str("f" * 64), str(good[0]), str(good[1])]
    assert recs[0] == {"query": "f" * 64, "matches": []}
    assert recs[1]["distance"] == 0 and recs[2] == {"query": str(good[1]), "matches": []}
    code, out = on_terminal("match", "--against", listed, good[1])
    assert code == 0
    rows = out.splitlines()
    assert rows[0].split()[:2] == ["SIGNAL", "DIST"]
    assert rows[1].split()[0] == "-" and "no match" in rows[1] and rows[1].endswith(str(good[1]))
    r = cli("match", "--against", listed, "--format", "csv", good[1])
    assert list(csv.reader(io.StringIO(r.stdout)))[1][0] == str(good[1])
    bad = tmp_path / "bad.txt"
    bad.write_text(h + "\nnot a hash\n")
    r = cli("match", "--against", bad, good[0])
    assert r.returncode == 1 and f"{bad}:2:" in r.stderr
    assert lines(r.stdout)[0]["distance"] == 0  # the good lines still match
    assert cli("index", "build", bad, "-o", tmp_path / "x.list").returncode == 1


def test_compare_dihedral_says_which_variant_matched(tmp_path, good):
    """Regression (fixed): `compare --dihedral` gave the best distance over B's 8 variants
    but not which one it was."""
    from tidehash import DIHEDRAL_NAMES

    for transpose in (Image.ROTATE_90, Image.FLIP_LEFT_RIGHT, Image.ROTATE_180):
        b = tmp_path / f"t{transpose}.png"
        with Image.open(good[0]) as im:
            im.transpose(transpose).save(b)
        variants = tidehash.hash_file(b, dihedral=True).pdq_dihedral
        a_hash = tidehash.hash_file(good[0]).pdq
        dists = [tidehash.hamming(a_hash, v) for v in variants]
        best = dists.index(min(dists))
        r = cli("compare", "--dihedral", good[0], b)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["distance"] == dists[best] and out["variant"] == DIHEDRAL_NAMES[best]
        assert out["variant"] != "original" and out["distance"] <= 31
        r = cli("compare", "--dihedral", "--format", "table", good[0], b)
        assert f"(B's {DIHEDRAL_NAMES[best]} variant)" in r.stdout
    r = cli("compare", good[0], good[0])
    assert "variant" not in json.loads(r.stdout)


@pytest.mark.parametrize("fmt", ["csv", "pdq-csv", "hex", "pytx"])
def test_every_line_format_hash_writes_reads_back(tmp_path, good, fmt):
    """Regression (fixed): `hash --format csv` output could not be read at all ("cannot
    tell the list's format"); every format `hash` writes reads back with the hashes it
    holds, hostile paths included (CSV quoting)."""
    from videos import make_video

    video = make_video(tmp_path / "v.mp4", frames=30)
    odd = tmp_path / 'we,ird "name"\nwith a break.png'
    odd.write_bytes(good[0].read_bytes())
    inputs = [good[0], good[1], odd, video]
    algos = "pdq,md5" if fmt != "pdq-csv" else "pdq"
    out = tmp_path / f"h.{fmt}"
    r = cli("hash", "--algo", algos, "--format", fmt, "-o", out, *inputs)
    assert r.returncode == (1 if fmt in ("hex", "pdq-csv") else 0), r.stderr
    hl = tidehash.read_list(out, strict=True)
    recs = [tidehash.hash_file(p, algorithms=algos.split(",")) for p in inputs]
    pdqs = sorted({rec.pdq.hex for rec in recs if rec.pdq is not None})
    assert sorted(hl.pdq.hex(i) for i in range(len(hl.pdq))) == pdqs
    if fmt in ("csv", "pytx"):
        md5s = sorted({rec.md5 for rec in recs})
        assert sorted(hl.md5.hex(i) for i in range(len(hl.md5))) == md5s
    if fmt in ("csv", "pdq-csv"):
        labels = {hl.pdq.label(e) for e in range(hl.pdq.n_entries)}
        assert labels == {str(p) for p in inputs[:3]}
    assert cli("index", "build", out, "-o", tmp_path / "x.list").returncode == 0
    r = cli("match", "--against", out, good[0])
    assert r.returncode == 0 and lines(r.stdout)[0]["distance"] == 0


def _run_with_stdin(data: str, *args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TIDEHASH_ISA"}
    env["PYTHONPATH"] = SRC
    return subprocess.run([sys.executable, "-m", "tidehash.cli", *map(str, args)], input=data,
                          env=env, capture_output=True, text=True, timeout=120)


def test_convert_signal_leaves_other_types_out_quietly(tmp_path, good):
    """Regression (fixed): `convert --signal pdq` of `hash --algo vpdq,md5,pdq` output
    reported the video's record as a bad line ("no hash field (pdq)") and exited 1;
    `--signal phash` did so for every record. Records without the type are left out
    quietly; a list with none of it is said (exit 1); real bad lines still count."""
    from videos import make_video

    video = make_video(tmp_path / "v.mp4", frames=30)
    listed = tmp_path / "o.jsonl"
    assert cli("hash", "--algo", "vpdq,md5,pdq", "-o", listed, video, good[0]).returncode == 0
    image = tidehash.hash_file(good[0], algorithms=("pdq", "md5"))
    md5s = sorted([tidehash.hash_file(video, algorithms="md5").md5, image.md5])
    r = cli("convert", listed, "--to", "hex", "--signal", "pdq", "-o", "-")
    assert (r.returncode, r.stdout, r.stderr) == (0, image.pdq.hex + "\n", "")
    r = _run_with_stdin(listed.read_text(), "convert", "-", "--to", "hex", "--signal", "md5",
                        "-o", "-")
    assert (r.returncode, sorted(r.stdout.split()), r.stderr) == (0, md5s, "")
    out = tmp_path / "p.txt"
    r = cli("convert", listed, "--to", "hex", "--signal", "phash", "-o", out)
    assert r.returncode == 1 and not out.exists()
    assert r.stderr.splitlines() == [f"tidehash: {listed}: no phash hashes (it holds pdq, "
                                     "md5, vpdq); nothing written"]
    pytx_list = tmp_path / "l.pytx"  # pytx tags each line: other tags were bad lines
    assert cli("hash", "--algo", "pdq,md5", "--format", "pytx", "-o", pytx_list,
               video, good[0]).returncode == 0
    r = cli("convert", pytx_list, "--to", "hex", "--signal", "md5", "-o", "-")
    assert (r.returncode, sorted(r.stdout.split()), r.stderr) == (0, md5s, "")
    with listed.open("a") as f:
        f.write('{"path": "x", "md5": "123"}\nnot json\n')
    r = cli("convert", listed, "--to", "hex", "--signal", "pdq", "-o", "-")
    assert r.returncode == 1 and r.stdout == image.pdq.hex + "\n"
    assert [e.split(": ")[0] for e in r.stderr.splitlines()] == [f"{listed}:3", f"{listed}:4"]
    sha = tmp_path / "sha.txt"  # a plain hex list is still read as --signal says
    sha.write_text("ab" * 32 + "\n")
    r = cli("convert", sha, "--to", "pytx", "--signal", "sha256", "-o", "-")
    assert (r.returncode, r.stdout) == (0, f"video_sha256 {'ab' * 32}\n")


def _variant_name(query, listed_hex: str) -> str:
    """Oracle: the name of the query's dihedral variant nearest the listed hash (the
    first one at the least distance)."""
    listed = tidehash.PDQHash.from_hex(listed_hex)
    dists = [int(tidehash.hamming(listed, v))
             for v in tidehash.hash_file(query, dihedral=True).pdq_dihedral]
    return tidehash.DIHEDRAL_NAMES[dists.index(min(dists))]


def test_match_dihedral_names_the_variant_in_every_format(tmp_path, good):
    """Regression (fixed): `match --dihedral` gave the variant as a number in JSON lines
    ("variant": 3, where compare --dihedral says "rot270") and not at all in table and
    CSV. Every format gives its name; table and CSV have a column for it."""
    h = tidehash.hash_file(good[0]).pdq.hex
    listed = tmp_path / "l.txt"
    listed.write_text(h + "\n")
    queries = []
    for transpose in (Image.ROTATE_90, Image.FLIP_LEFT_RIGHT):
        q = tmp_path / f"t{transpose}.png"
        with Image.open(good[0]) as im:
            im.transpose(transpose).save(q)
        queries.append(q)
    want = [_variant_name(q, h) for q in queries]
    assert all(w != "original" for w in want)
    r = cli("match", "--against", listed, "--dihedral", *queries)
    assert r.returncode == 0, r.stderr
    assert [m["variant"] for m in lines(r.stdout)] == want
    r = cli("match", "--against", listed, "--dihedral", "--format", "csv", *queries)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["variant"] for row in rows] == want
    r = cli("match", "--against", listed, "--dihedral", "--format", "table", *queries)
    table = r.stdout.splitlines()
    assert table[0].split()[:3] == ["SIGNAL", "DIST", "VARIANT"]
    assert [row.split()[2] for row in table[1:]] == want
    r = cli("match", "--against", listed, "--format", "csv", good[0])  # no --dihedral: as was
    assert r.stdout.splitlines()[0] == ("query,signal,distance,quality,weak,id,source,label,"
                                        "row,query_match_percent,compared_match_percent")


def test_hash_dihedral_in_every_format(tmp_path, good):
    """Regression (fixed): `hash --dihedral --format hex|pdq-csv|pytx|csv|table` wrote
    no dihedral hash and said nothing. pytx writes them as python-threatexchange's
    rotation lines (ROTATE90 pdq <hex>, which the pytx reader reads); the others say
    on stderr that they left them out."""
    from pdq_helpers import ref_pdqhash

    from tidehash.formats.pytx import ROTATION_NAMES

    rec = tidehash.hash_file(good[0], dihedral=True)
    variants = [v.hex for v in rec.pdq_dihedral]
    r = cli("hash", "--dihedral", "--format", "pytx", good[0])
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.splitlines() == [f"pdq {variants[0]}"] + [
        f"{name} pdq {v}" for name, v in zip(ROTATION_NAMES[1:], variants[1:])]
    hl = tidehash.read_list(r.stdout.encode(), strict=True)
    assert [(hl.pdq.hex(i), hl.pdq.label(i)) for i in range(8)] == \
        [(variants[0], None)] + list(zip(variants[1:], ROTATION_NAMES[1:]))
    # each name is the variant of the image turned as python-threatexchange turns it
    # (content_type/photo.py), hashed by pip pdqhash
    t = Image.Transpose
    with Image.open(good[0]) as im:
        im = im.convert("RGB")
        turned = {"ORIGINAL": im, "ROTATE90": im.rotate(90, expand=True),
                  "ROTATE180": im.rotate(180, expand=True),
                  "ROTATE270": im.rotate(270, expand=True),
                  "FLIPX": im.transpose(t.FLIP_TOP_BOTTOM),
                  "FLIPY": im.transpose(t.FLIP_LEFT_RIGHT),
                  "FLIPPLUS1": im.transpose(t.ROTATE_270).transpose(t.FLIP_LEFT_RIGHT),
                  "FLIPMINUS1": im.transpose(t.ROTATE_90).transpose(t.FLIP_LEFT_RIGHT)}
    for name, image in turned.items():
        ref = tidehash.PDQHash.from_hex(ref_pdqhash(np.asarray(image))[0])
        dists = [int(tidehash.hamming(ref, v)) for v in rec.pdq_dihedral]
        assert dists.index(min(dists)) == ROTATION_NAMES.index(name) and min(dists) <= 16
    for fmt in ("hex", "pdq-csv", "csv", "table"):
        plain = cli("hash", "--format", fmt, good[0])
        r = cli("hash", "--dihedral", "--format", fmt, good[0])
        assert r.returncode == 0 and r.stdout == plain.stdout
        assert r.stderr == (f"tidehash: note: --format {fmt} holds no dihedral variants: the "
                            "8 --dihedral PDQ hashes are left out (--format jsonl or pytx "
                            "holds them)\n")


def test_compare_and_match_take_max_pixels_as_hash_does(tmp_path, good):
    """Regression (fixed): compare and match had no --max-pixels, although their message
    for a too large image says "raise max_pixels, or --max-pixels". Run with Pillow's
    limit lowered to 1,000 pixels, so a small image stands for a big one."""
    help_line = [line for line in cli("hash", "--help").stdout.splitlines()
                 if "--max-pixels" in line]
    for command in ("compare", "match"):
        assert [line for line in cli(command, "--help").stdout.splitlines()
                if "--max-pixels" in line] == help_line
    rng = np.random.default_rng(7)
    big = tmp_path / "big.png"  # 2,500 px: over Pillow's lowered limit, twice over
    Image.fromarray(rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)).save(big)
    want = tidehash.hash_file(big).pdq
    listed = tmp_path / "l.txt"
    listed.write_text(want.hex + "\n")
    run = cli_with_pillow_limit_1000

    r = run("compare", "--max-pixels", 5000, big, want.hex)
    assert r.returncode == 0 and json.loads(r.stdout)["distance"] == 0, r.stderr
    r = run("compare", "--max-pixels", 2000, big, want.hex)
    assert r.returncode == 1 and "exceeds the limit of 2000" in r.stderr
    r = run("match", "--against", listed, "--max-pixels", 5000, big)
    assert r.returncode == 0 and lines(r.stdout)[0]["distance"] == 0, r.stderr
    r = run("match", "--against", listed, "--max-pixels", 2000, big)
    assert r.returncode == 1 and "exceeds the limit of 2000" in r.stderr
    assert "DecompressionBomb" not in r.stderr


def test_nothing_to_do_is_said(tmp_path, good):
    """Regression (fixed): `hash emptydir` and `match --against LIST emptydir` printed
    nothing and exited 0; `match --against /dev/null` gave no hint the list is empty.
    No input files: said, exit 1. An empty list: a warning, exit 0 (it is valid)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "hidden").mkdir()
    (tmp_path / "hidden" / ".x.png").write_bytes(good[0].read_bytes())
    for folder in (empty, tmp_path / "hidden"):
        r = cli("hash", folder)
        assert (r.returncode, r.stdout) == (1, "")
        assert r.stderr == (f"tidehash: no input files in {folder} (names starting with "
                            "'.' are skipped)\n")
    r = _run_with_stdin("", "hash", "-")
    assert (r.returncode, r.stderr) == (1, "tidehash: no input files in the list on stdin\n")
    listed = tmp_path / "l.txt"
    listed.write_text(tidehash.hash_file(good[0]).pdq.hex + "\n")
    r = cli("match", "--against", listed, empty)
    assert (r.returncode, r.stdout) == (1, "") and "no input files in" in r.stderr
    r = cli("match", "--against", listed, good[0])  # something to do: nothing said
    assert r.returncode == 0 and r.stderr == ""
    blank = tmp_path / "blank.txt"
    blank.write_text("")
    for against in (blank, "/dev/null"):
        r = cli("match", "--against", against, good[0])
        assert r.returncode == 0
        assert lines(r.stdout) == [{"query": str(good[0]), "matches": []}]
        assert r.stderr == (f"tidehash: warning: {against}: the list is empty (no query "
                            "can match)\n")


def _o_commands(tmp_path, good, pdq_list):
    return {"hash": ("hash", good[0]),
            "match": ("match", "--against", pdq_list, good[0]),
            "convert": ("convert", pdq_list, "--to", "hex"),
            "index build": ("index", "build", pdq_list)}


@pytest.mark.parametrize("command", ["hash", "match", "convert", "index build"])
def test_output_option_errors_name_the_path_given(tmp_path, good, pdq_list, command):
    """Regression (fixed): ``-o ""`` failed with exit 1 naming a temporary file
    (``..<hex>.tmp``); ``convert -o FOLDER`` failed with exit 1 naming one
    (``.FOLDER.<hex>.tmp: Is a directory``); ``-o`` through a link into a missing
    folder named the temporary file. Now an empty name and a folder are usage
    errors (exit 2) for every command, as for index build, and every message names
    the path given, never the temporary file."""
    args = _o_commands(tmp_path, good, pdq_list)[command]
    r = cli(*args, "-o", "")
    assert r.returncode == 2 and "-o needs a file name" in r.stderr, r.stderr
    folder = tmp_path / "a folder"
    folder.mkdir()
    r = cli(*args, "-o", folder)
    assert r.returncode == 2, r.stderr
    assert f"'{folder}' is a directory" in r.stderr and ".tmp" not in r.stderr, r.stderr
    dang = tmp_path / "dang"
    dang.symlink_to(tmp_path / "missing" / "t.json")
    r = cli(*args, "-o", dang)
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().splitlines()[-1] == f"tidehash: {dang}: No such file or directory"
    assert os.listdir(folder) == []
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


@pytest.mark.parametrize("command", ["hash", "match", "convert", "index build"])
def test_output_into_a_fifo_with_a_waiting_reader(tmp_path, good, pdq_list, command):
    """Regression (fixed): ``mkfifo ff; tidehash hash -o ff`` renamed a regular file
    over the FIFO and a reader waiting on it hung. A blocking reader (cat, bounded
    by timeout) now gets the output; nothing here can wait past the timeouts."""
    args = _o_commands(tmp_path, good, pdq_list)[command]
    fifo = tmp_path / "ff"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["timeout", "60", "cat", str(fifo)], stdout=subprocess.PIPE)
    try:
        r = cli(*args, "-o", fifo)
        got, _ = reader.communicate(timeout=90)
    finally:
        if reader.poll() is None:  # the writer never opened the FIFO: free the reader
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
            reader.kill()
            reader.wait(timeout=10)
    assert r.returncode == 0 and reader.returncode == 0, r.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    ref = tmp_path / "ref"
    assert cli(*args, "-o", ref).returncode == 0
    want = ref.read_bytes()
    if command == "index build":  # it records when it ran: same length and header
        assert len(got) == len(want) and got[:8] == want[:8]
    else:
        assert got == want


def test_match_table_columns_line_up_with_registry_sized_ids(tmp_path, good):
    """Regression (fixed): the ID column was 8 wide, so a 19-digit id (a registry entry
    id, any int64) pushed the rest of its row right of the header's columns."""
    h = tidehash.hash_file(good[0]).pdq.hex
    listed = tmp_path / "l.jsonl"
    listed.write_text("".join(json.dumps({"pdq": h, "quality": 100, "id": i, "label": "L"})
                              + "\n" for i in (5, 2 ** 63 - 1)))
    r = cli("match", "--against", listed, "--format", "table", good[0])
    assert r.returncode == 0, r.stderr
    header, *rows = r.stdout.splitlines()
    assert len(rows) == 2
    for row in rows:
        assert row.index(" L ") + 1 == header.index("LABEL"), (header, row)
