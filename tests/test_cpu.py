"""CPU detection and the instruction-set level: cpu_info, available_isas, use_isa,
and the TIDEHASH_ISA environment variable."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import subprocess
import sys
import threading

import numpy as np
import pytest

import tidehash

# the subprocess imports the same tidehash these tests imported (in-place build or installed)
SRC = str(pathlib.Path(tidehash.__file__).resolve().parents[1])


def run_python(code: str, **env_extra) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TIDEHASH_ISA"}
    env["PYTHONPATH"] = SRC
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)


def active() -> str:
    return tidehash.cpu_info()["active_isa"]


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (12, 15, 3), dtype=np.uint8)
    return np.kron(small, np.ones((9, 11, 1), np.uint8)) + rng.integers(0, 4, (108, 165, 3),
                                                                         dtype=np.uint8)


def test_cpu_info_keys_and_types():
    info = tidehash.cpu_info()
    assert set(info) >= {"features", "available_isas", "best_isa", "default_isa",
                         "active_isa", "forced_by_env"}
    assert isinstance(info["features"], list)
    assert all(isinstance(f, str) for f in info["features"])
    assert len(set(info["features"])) == len(info["features"])
    assert isinstance(info["available_isas"], list)
    assert info["available_isas"] == list(tidehash.available_isas())
    for key in ("best_isa", "default_isa", "active_isa"):
        assert isinstance(info[key], str)
        assert info[key] in info["available_isas"], key
    assert info["forced_by_env"] is None or isinstance(info["forced_by_env"], str)
    assert info["best_isa"] == info["available_isas"][-1]  # the list is lowest first
    json.dumps(info)  # plain JSON-serialisable data (the CLI prints it)


def test_cpu_info_is_consistent_with_features():
    info = tidehash.cpu_info()
    feats = set(info["features"])
    isas = info["available_isas"]
    if "avx2" in isas:
        assert {"avx2", "os_ymm"} <= feats
    if "avx512" in isas:
        assert {"avx512f", "avx512bw", "os_zmm"} <= feats
    if os.environ.get("TIDEHASH_ISA") is None:
        assert info["default_isa"] == info["best_isa"]
        assert info["forced_by_env"] is None


def proc_cpuinfo_flags() -> set[str] | None:
    try:
        text = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86, arm64
            return set(value.split())
    return None


# our feature name -> the Linux kernel's name for it in /proc/cpuinfo
CPUINFO_NAMES = {"sse2": "sse2", "ssse3": "ssse3", "sse4_1": "sse4_1", "popcnt": "popcnt",
                 "avx": "avx", "avx2": "avx2", "fma": "fma", "bmi2": "bmi2",
                 "avx512f": "avx512f", "avx512bw": "avx512bw", "avx512vl": "avx512vl",
                 "avx512dq": "avx512dq", "avx512vpopcntdq": "avx512_vpopcntdq",
                 "neon": "asimd"}


def test_features_agree_with_proc_cpuinfo():
    """CPUID (or getauxval) as csrc/cpu reads it against the OS's own view."""
    flags = proc_cpuinfo_flags()
    if flags is None:
        pytest.skip("no /proc/cpuinfo flags line")
    feats = set(tidehash.cpu_info()["features"])
    x86 = "sse2" in flags
    for ours, linux in CPUINFO_NAMES.items():
        if (ours == "neon") == x86:
            continue  # a feature of the other architecture
        assert (ours in feats) == (linux in flags), ours


def test_available_isas():
    isas = tidehash.available_isas()
    assert isinstance(isas, tuple)
    assert isas[0] == "scalar"
    assert len(set(isas)) == len(isas)
    assert all(isinstance(n, str) and n == n.lower() for n in isas)


def test_every_isa_is_usable_and_bit_identical(image):
    isas = tidehash.available_isas()
    results = {}
    for name in isas:
        with tidehash.use_isa(name) as used:
            assert used == name
            assert active() == name
            results[name] = (tidehash.pdq_hash(image), tidehash.pdq_hash_dihedral(image),
                             tidehash.pdq_hash(image[:, :, 0]))
    ref = results["scalar"]
    for name in isas:
        assert results[name] == ref, name


def test_use_isa_unknown_name():
    before = active()
    for bad in ("sse9", "", "avx3", "neon-ish", "scalar2"):
        with pytest.raises(ValueError, match="ISA"):
            with tidehash.use_isa(bad):
                pass
    with pytest.raises((TypeError, ValueError)):
        with tidehash.use_isa(None):
            pass
    with pytest.raises((TypeError, ValueError)):
        with tidehash.use_isa(1):
            pass
    assert active() == before


def test_use_isa_message_lists_the_choices():
    with pytest.raises(ValueError) as info:
        with tidehash.use_isa("bogus"):
            pass
    msg = str(info.value)
    assert "bogus" in msg
    assert "scalar" in msg


def test_nested_use_isa_restores():
    default = active()
    isas = tidehash.available_isas()
    top = isas[-1]
    with tidehash.use_isa("scalar"):
        assert active() == "scalar"
        with tidehash.use_isa(top):
            assert active() == top
            with tidehash.use_isa("scalar"):
                assert active() == "scalar"
            assert active() == top
        assert active() == "scalar"
    assert active() == default


def test_use_isa_restores_after_an_exception():
    default = active()
    with pytest.raises(RuntimeError):
        with tidehash.use_isa("scalar"):
            with tidehash.use_isa(tidehash.available_isas()[-1]):
                raise RuntimeError("boom")
    assert active() == default
    # an inner failure to enter leaves the outer level in force
    with tidehash.use_isa("scalar"):
        with pytest.raises(ValueError):
            with tidehash.use_isa("nonsense"):
                pass
        assert active() == "scalar"
    assert active() == default


def test_use_isa_is_per_thread(image):
    default = active()
    entered = threading.Event()
    checked = threading.Event()
    seen = {}

    def inside():
        with tidehash.use_isa("scalar"):
            seen["inside"] = active()
            seen["hash"] = tidehash.pdq_hash(image)
            entered.set()
            assert checked.wait(30)
            seen["inside_after"] = active()
        seen["after"] = active()

    def other():
        seen["other_thread"] = active()

    t = threading.Thread(target=inside)
    t.start()
    try:
        assert entered.wait(30)
        seen["main"] = active()  # the main thread is not affected
        t2 = threading.Thread(target=other)
        t2.start()
        t2.join(30)
    finally:
        checked.set()
        t.join(30)
    assert seen["inside"] == "scalar"
    assert seen["inside_after"] == "scalar"
    assert seen["after"] == default
    assert seen["main"] == default
    assert seen["other_thread"] == default
    assert seen["hash"] == tidehash.pdq_hash(image)


def test_use_isa_in_main_thread_does_not_leak_into_new_threads():
    default = active()
    got = []
    with tidehash.use_isa("scalar"):
        t = threading.Thread(target=lambda: got.append(active()))
        t.start()
        t.join(30)
        assert active() == "scalar"
    # a new thread starts with the default level, not the creator's block
    assert got == [default]


def test_use_isa_is_per_asyncio_task():
    default = active()

    async def forced(ev_in, ev_out):
        with tidehash.use_isa("scalar"):
            ev_in.set()
            await ev_out.wait()
            return active()

    async def observer(ev_in, ev_out):
        await ev_in.wait()
        value = active()
        ev_out.set()
        return value

    async def main():
        ev_in, ev_out = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(forced(ev_in, ev_out), observer(ev_in, ev_out))

    inside, outside = asyncio.run(main())
    assert inside == "scalar"
    assert outside == default
    assert active() == default


def test_env_var_forces_the_level_at_import():
    r = run_python("import json, tidehash; print(json.dumps(tidehash.cpu_info()))",
                   TIDEHASH_ISA="scalar")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["active_isa"] == "scalar"
    assert info["default_isa"] == "scalar"
    assert info["forced_by_env"] == "scalar"


@pytest.mark.parametrize("value", [" Scalar ", "SCALAR"])
def test_env_var_is_case_and_space_insensitive(value):
    r = run_python("import tidehash; print(tidehash.cpu_info()['active_isa'])",
                   TIDEHASH_ISA=value)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "scalar"


def test_env_var_every_available_level():
    for name in tidehash.available_isas():
        r = run_python("import tidehash; print(tidehash.cpu_info()['active_isa'])",
                       TIDEHASH_ISA=name)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == name


def test_env_var_empty_means_not_forced():
    r = run_python("import json, tidehash; print(json.dumps(tidehash.cpu_info()))",
                   TIDEHASH_ISA="")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["active_isa"] == info["best_isa"]


def test_env_var_can_still_be_overridden_by_use_isa():
    top = tidehash.available_isas()[-1]
    code = ("import tidehash\n"
            f"with tidehash.use_isa({top!r}):\n"
            "    print(tidehash.cpu_info()['active_isa'])\n"
            "print(tidehash.cpu_info()['active_isa'])\n")
    r = run_python(code, TIDEHASH_ISA="scalar")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [top, "scalar"]


def test_env_var_bad_value_fails_at_import():
    r = run_python("import tidehash; print('imported')", TIDEHASH_ISA="bogus-isa")
    assert r.returncode != 0
    assert "imported" not in r.stdout
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("ValueError"), r.stderr
    assert "bogus-isa" in last
    assert "scalar" in last  # says what would have been accepted


def test_env_var_bad_value_message_names_the_variable_regression():
    """Regression (fixed, message quality): with TIDEHASH_ISA=bogus-isa the import fails
    with "ValueError: unknown ISA 'bogus-isa'; known: scalar, avx2, avx512", which never
    says the value came from the TIDEHASH_ISA environment variable. Someone who set it
    long ago (or inherited it from a CI config) sees an import of tidehash fail with no
    hint at the cause; the traceback lines do not show the variable name either."""
    r = run_python("import tidehash", TIDEHASH_ISA="bogus-isa")
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert "TIDEHASH_ISA" in last, r.stderr
