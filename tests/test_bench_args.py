"""Every numeric option of every ``tidehash bench`` command refuses a bad value as a usage
error (exit 2, one ``argument --opt: ...`` line naming the allowed range, no traceback) before
any benchmark runs, and still takes the values it took before. Nothing here times anything."""

from __future__ import annotations

import argparse
import importlib
import os
import pathlib
import subprocess
import sys

import pytest

import tidehash
from tidehash.bench import args as bench_args
from tidehash.phash import MAX_HASH_SIZE, MIN_HASH_SIZE

SRC = str(pathlib.Path(tidehash.__file__).resolve().parents[1])

NON_FINITE = ("nan", "inf", "-inf")

# command -> option -> values that must be refused
BAD = {
    "hash": {
        "--sizes": (*NON_FINITE, "0", "-1", "1e9", "401", "abc", ",", "50000x10", "0x10",
                    "10x-3", "20000x20001", "0.0001", "8x8", "1,nan"),
        "--phash-sizes": ("1000", str(MIN_HASH_SIZE - 1), str(MAX_HASH_SIZE + 1), "0", "-8",
                          "nan", "inf", "8.5", "x", ","),
        "--repeats": ("0", "-1", "nan", "inf", "1.5"),
        "--seed": ("-1", "nan", "inf", "x"),
        "--cpu": ("-1", "nan", "inf"),
    },
    "fast": {
        "--sizes": (*NON_FINITE, "0", "-1", "500", "64x48", "1e-9", ","),
        "--floors": ("0", "-1", "nan", "inf", "1e9", "x"),
        "--count": ("-1", "nan", "inf"),
        "--time-images": ("0", "-1", "nan", "inf"),
        "--rounds": ("0", "-1", "nan", "inf"),
    },
    "phash": {
        "--sizes": (*NON_FINITE, "0", "-1", "1e9", "0x5", "50000x50000"),
        "--hash-sizes": ("1000", str(MIN_HASH_SIZE - 1), str(MAX_HASH_SIZE + 1), "nan", "x"),
        "--repeats": ("0", "-1", "nan", "inf"),
        "--seed": ("-1", "nan", "inf"),
        "--cpu": ("-1", "nan", "inf"),
    },
    "digest": {
        "--sizes": (*NON_FINITE, "0", "-1", "1e9", "0.0001", "50000x10"),
    },
    "formats": {
        "--n": ("0", "-1", "nan", "inf", "1.5", "1e12", "x"),
        "--jsonl-n": ("0", "-1", "nan", "inf"),
        "--formats": ("foo", "hex,foo", ","),
    },
    "video": {
        "--seconds": (*NON_FINITE, "0", "-1", "0.001", "1e9", "x"),
        "--repeat": ("0", "-1", "nan", "inf"),
    },
    "registry": {
        "--entries": ("0", "-1", "nan", "inf", "1.5", "x"),
        "--clients": ("0", "-1", "nan", "2000"),
        "--batch": ("0", "1001", "nan"),
        "--batch-clients": ("0", "nan"),
        "--duration": (*NON_FINITE, "0", "-1", "1e9"),
        "--changes": ("0", "1", "nan", "inf"),
        "--pow-difficulty": ("-1", "33", "nan"),
        "--publish-delay": (*NON_FINITE, "-1", "1e9", "x"),
        "--seed": ("-1", "nan", "inf"),
    },
    "scan": {
        "--files": ("0", "-1", "nan", "inf", "1.5", "x"),
        "--stored": ("0", "-1", "nan", "inf"),
        "--listed": ("0", "99", "nan", "inf"),
        "--new": ("0", "9", "nan", "inf"),
        "--workers": ("0", "-1", "nan", "5000"),
    },
    "search": {
        "--n": ("0", "-1", "nan", "inf", "1e12", "1.5", "x", ","),
        "--threads": ("0", "-1", "nan", "inf", "100000"),
        "--radii": ("-1", "257", "nan", "inf"),
        "--k": ("0", "-1", "nan", "inf"),
        "--queries": ("0", "-1", "nan", "inf"),
        "--single": ("0", "-1", "nan", "inf"),
        "--budget": (*NON_FINITE, "0", "-1", "1e9", "x"),
        "--seed": ("-1", "nan", "inf"),
        "--numpy-max-n": ("-1", "nan", "inf"),
    },
}

CASES = [(cmd, opt, value) for cmd, opts in BAD.items() for opt, values in opts.items()
         for value in values]


def command_module(cmd: str):
    return importlib.import_module(f"tidehash.bench.{'search.runner' if cmd == 'search' else cmd}")


class Accepted(Exception):
    """Raised instead of running a benchmark when the command line parsed."""


@pytest.fixture
def stop_after_parsing(monkeypatch):
    parse_args = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, *args, **kwargs):
        raise Accepted(parse_args(self, *args, **kwargs))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)


@pytest.mark.parametrize(("cmd", "opt", "value"), CASES)
def test_bad_value_is_a_usage_error(cmd, opt, value, capsys, stop_after_parsing):
    argv = [f"{opt}={value}"] + ([] if cmd == "video" else ["--quick"])
    with pytest.raises(SystemExit) as exc:
        command_module(cmd).main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"argument {opt}: " in err.splitlines()[-1]


@pytest.mark.parametrize("cmd", sorted(BAD))
def test_every_numeric_option_is_covered(cmd):
    # a numeric option not checked by tidehash.bench.args would take nan, inf or -1
    for action in command_module(cmd).parser()._actions:
        if not action.option_strings or action.option_strings[0] == "-h":
            continue
        checked = getattr(action.type, "__module__", None) == bench_args.__name__
        numeric = (action.type in (int, float) or isinstance(action.default, (int, float))
                   and not isinstance(action.default, bool))
        assert checked or not numeric, (cmd, action.option_strings)
        if checked:
            assert action.option_strings[-1] in BAD[cmd], (cmd, action.option_strings)


def parse(cmd: str, *argv: str):
    return command_module(cmd).parser().parse_args(list(argv))


def test_good_values_still_parse():
    a = parse("hash", "--sizes", "0.25,1,12,64x48", "--phash-sizes",
              f"{MIN_HASH_SIZE},8,{MAX_HASH_SIZE}", "--repeats", "3", "--seed", "0", "--cpu", "0")
    assert a.sizes == [(577, 433), (1155, 866), (4000, 3000), (64, 48)]
    assert a.phash_sizes == (MIN_HASH_SIZE, 8, MAX_HASH_SIZE)
    assert (a.repeats, a.seed, a.cpu) == (3, 0, 0)
    assert parse("hash", "--sizes", "400").sizes == [(23094, 17320)]
    assert parse("hash", "--sizes", "40000x10000").sizes == [(40000, 10000)]

    a = parse("fast", "--sizes", "12, 1,0.25", "--floors", "256,512", "--count", "0",
              "--time-images", "1", "--rounds", "1")
    assert (a.sizes, a.floors, a.count, a.time_images, a.rounds) == (
        [12.0, 1.0, 0.25], (256, 512), 0, 1, 1)
    a = parse("fast")
    assert (a.sizes, a.floors) == ([12.0, 1.0, 0.25], ())

    a = parse("phash", "--sizes", "1x1,0.25", "--hash-sizes", "8,16", "--seed", "5")
    assert (a.sizes, a.hash_sizes, a.seed) == ([(1, 1), (577, 433)], (8, 16), 5)
    assert parse("phash").hash_sizes == (8, 16)

    assert parse("digest", "--sizes", "0.05,64x48").sizes == [(258, 194), (64, 48)]

    a = parse("formats", "--n", "1_000", "--jsonl-n", "1")
    assert (a.n, a.jsonl_n) == (1000, 1)
    assert parse("formats").n == 10_000_000
    assert parse("formats").formats == ("hex", "pytx", "pdqcsv", "jsonl")
    assert parse("formats", "--formats", "jsonl, hex").formats == ("jsonl", "hex")

    a = parse("video", "--seconds", "0.5", "--repeat", "1")
    assert (a.seconds, a.repeat) == (0.5, 1)
    assert parse("video").seconds == 20.0

    a = parse("search", "--n", "1e6,1_000", "--threads", "1,2", "--radii", "0,256", "--k", "1",
              "--queries", "1", "--single", "1", "--budget", "0.01", "--seed", "0",
              "--numpy-max-n", "0")
    assert (a.n, a.threads, a.radii, a.k) == ((1_000_000, 1000), (1, 2), (0, 256), (1,))
    assert (a.queries, a.single, a.budget, a.seed, a.numpy_max_n) == (1, 1, 0.01, 0, 0)


def test_video_that_is_not_a_file_is_a_usage_error(tmp_path, capsys):
    from tidehash.bench import video

    for path in (tmp_path / "missing.mp4", tmp_path):
        with pytest.raises(SystemExit) as exc:
            video.main(["--video", str(path)])
        assert exc.value.code == 2
        assert "argument --video: no such file" in capsys.readouterr().err


def test_sizes_and_megapixels_agree():
    # fast's megapixel list goes through the same check as the WxH-or-megapixels sizes
    for text in ("0.25", "1", "12", "400"):
        mp = bench_args.megapixel_list(16)(text)[0]
        assert bench_args.image_sizes(16)(text) == [bench_args.megapixels_to_size(mp)]


@pytest.mark.parametrize("argv", [
    ("video", "--seconds", "nan"), ("video", "--seconds", "inf"), ("video", "--seconds", "-1"),
    ("search", "--budget", "nan", "--quick", "--no-faiss"),
    ("hash", "--sizes", "inf", "--quick"), ("fast", "--sizes", "inf", "--quick"),
    ("fast", "--sizes", "nan", "--quick"), ("phash", "--hash-sizes", "1000", "--quick"),
    ("formats", "--n", "0"), ("matcher", "--hit-fraction", "nan"),
    ("matcher", "--concurrency", "0"), ("matcher", "--warmup", "inf"),
])
def test_cli_route_exits_2_without_traceback(argv):
    env = {**os.environ, "PYTHONPATH": SRC}
    for entry in (["-m", "tidehash.cli", "bench"], ["-m", "tidehash.bench"]):
        done = subprocess.run([sys.executable, *entry, *argv], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert f"argument {argv[1]}: " in last, last
