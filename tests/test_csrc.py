"""csrc/ describes itself: csrc/kernels.txt lists every kernel file (the one list
setup.py, .ci/fuzz, .ci/neon and a wasm build compile from), and every kernel family
has a README. Skipped where the tests run without the source tree (an installed wheel)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
LIST = CSRC / "kernels.txt"
ARCHES = {"any", "x86", "arm64", "wasm-simd128"}

pytestmark = pytest.mark.skipif(not LIST.is_file(), reason="no source tree")


def kernel_lines():
    """(arch, path, flags) of every entry, parsed as setup.py parses it."""
    entries = []
    for line in LIST.read_text(encoding="utf-8").splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            entries.append((fields[0], fields[1], fields[2:]))
    return entries


def test_every_c_file_under_csrc_is_listed():
    listed = {path for _, path, _ in kernel_lines()}
    on_disk = {p.relative_to(ROOT).as_posix() for p in CSRC.rglob("*.c")}
    assert on_disk - listed == set(), "add these to csrc/kernels.txt"
    assert listed - on_disk == set(), "csrc/kernels.txt lists files that do not exist"


def test_entries_are_well_formed():
    seen = set()
    for arch, path, flags in kernel_lines():
        assert arch in ARCHES, (arch, path)
        assert (arch, path) not in seen, f"{path} listed twice for {arch}"
        seen.add((arch, path))
        assert all(flag.startswith("-") for flag in flags), (path, flags)
        if arch == "any":
            # portable files build for the baseline (and wasm32): no ISA flags
            assert flags == [], (path, flags)


def test_simd_files_are_per_arch_and_portable_files_are_not():
    for arch, path, flags in kernel_lines():
        name = Path(path).stem
        isa_file = name.endswith(("_avx2", "_avx512", "_neon", "_popcnt", "_wasm128"))
        assert isa_file == (arch != "any"), (arch, path)
        if name.endswith(("_avx2", "_avx512")):
            assert arch == "x86" and "-mavx2" in flags, (arch, path, flags)
        if name.endswith("_avx512"):
            assert "-mavx512f" in flags, (path, flags)
        if name.endswith("_neon"):
            assert arch == "arm64", (arch, path)
        if name.endswith("_wasm128"):
            assert arch == "wasm-simd128" and "-msimd128" in flags, (arch, path, flags)


def test_no_fuzzer_or_test_inside_the_kernel_tree():
    assert not [p for p in CSRC.rglob("*.c") if p.name.startswith(("fuzz_", "test_"))]


def test_every_kernel_family_has_a_readme():
    families = [d for d in CSRC.iterdir() if d.is_dir() and d.name != "common"]
    assert families
    assert [d.name for d in families if not (d / "README.md").is_file()] == []
    index = (CSRC / "README.md").read_text(encoding="utf-8")
    assert [d.name for d in families if f"`{d.name}/`" not in index] == []


def test_readmes_name_only_files_that_exist():
    """A README that names a kernel file (e.g. `hamming_neon.c`) names one that exists,
    and every listed kernel file is named in its family's README."""
    listed = {Path(path) for _, path, _ in kernel_lines()}
    for readme in CSRC.glob("*/README.md"):
        text = readme.read_text(encoding="utf-8")
        folder = readme.parent
        for name in set(re.findall(r"`([a-z0-9_]+\.[ch])`", text)):
            assert (folder / name).is_file() or list(CSRC.rglob(name)), (readme, name)
        for path in listed:
            if (ROOT / path).parent == folder:
                assert path.name in text, f"{readme.relative_to(ROOT)} does not name {path.name}"
