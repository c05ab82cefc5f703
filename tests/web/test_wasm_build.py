"""The page's WebAssembly build (web/build.py): built from csrc/kernels.txt's portable
files with the native build's float flags, reproducible, so the modules shipped in the
package equal a fresh build; small; importing nothing. The toolchain (clang-19, lld-19,
wasi-libc) is part of what the tests need (.ci/run installs it): missing, these fail."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys

import pytest
import wasmtime

from tidehash.web import STATIC_DIR, WASM_VARIANTS, wasm_path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "web", "build.py")
sys.path.insert(0, os.path.join(ROOT, "web"))
import build as wasm_build  # noqa: E402  (web/build.py)

GZIP_LIMIT = 100_000


def test_shipped_modules_equal_a_fresh_build():
    """The assets of the tidehash under test (src/ in a checkout, site-packages for the
    installed wheel, run from a copy without src/) equal a fresh build of web/."""
    r = subprocess.run([sys.executable, BUILD, "--check", "--out", STATIC_DIR],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "shipped wasm equals a fresh build" in r.stdout


def test_build_reads_the_native_source_list():
    """Every `any` file of csrc/kernels.txt, the list setup.py compiles, and no other
    kernel file; the native build's float flags, never fast-math nor relaxed SIMD."""
    portable, simd = [], []
    with open(os.path.join(ROOT, "csrc", "kernels.txt"), encoding="utf-8") as f:
        for line in f:
            fields = line.split("#", 1)[0].split()
            if fields and fields[0] == "any":
                portable.append((fields[1], fields[2:]))
            elif fields and fields[0] == "wasm-simd128":
                simd.append((fields[1], fields[2:]))
    assert wasm_build.kernel_sources("scalar") == portable
    assert wasm_build.kernel_sources("simd128") == portable + simd
    assert ("csrc/pdq/pdq_common.c", []) in portable
    assert ("csrc/pdq/pdq_wasm128.c", ["-msimd128"]) in simd
    setup_py = open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read()
    common = re.search(r"COMMON = (\[.*?\])", setup_py, re.S).group(1)
    assert wasm_build.COMMON == eval(common)  # noqa: S307 - a literal list from setup.py
    flags = wasm_build.COMMON + wasm_build.FEATURES + sum(wasm_build.VARIANTS.values(), [])
    assert "-ffp-contract=off" in flags and "-fno-fast-math" in flags
    assert "-mno-relaxed-simd" in flags and not any("fast-math" in f and "no" not in f
                                                    for f in flags)


@pytest.mark.parametrize("variant", WASM_VARIANTS)
def test_module_is_small_and_imports_nothing(variant):
    with open(wasm_path(variant), "rb") as f:
        raw = f.read()
    gz = len(gzip.compress(raw, 9, mtime=0))
    print(f"tidehash-{variant}.wasm: {len(raw)} bytes, {gz} gzipped")
    assert gz < GZIP_LIMIT
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, raw)
    assert list(module.imports) == []
    assert {e.name for e in module.exports} >= {"memory", "th_alloc", "th_free", "th_pdq"}


def test_simd_build_uses_simd_and_scalar_does_not():
    """The scalar build must validate where WebAssembly SIMD is missing: a module
    with no v128 instruction. Checked by a wasmtime engine with SIMD switched off."""
    config = wasmtime.Config()
    config.wasm_simd = False
    config.wasm_relaxed_simd = False
    engine = wasmtime.Engine(config)
    wasmtime.Module.from_file(engine, wasm_path("scalar"))
    with pytest.raises(wasmtime.WasmtimeError):
        wasmtime.Module.from_file(engine, wasm_path("simd128"))
