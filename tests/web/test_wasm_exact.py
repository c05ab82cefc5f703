"""The page's WebAssembly PDQ equals the native kernels bit for bit: hash and quality,
both entry points (one hash; the 8 dihedral hashes), both wasm builds (scalar and
SIMD128), on random images of many sizes and channel counts, on the golden vectors
and on every image file in the repository, all run from Python through wasmtime."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from images import KINDS, make_image
from isas import NATIVE_ISAS

import tidehash
from tidehash import _native
from tidehash.image import decode, pil_to_array

from .wasm_runner import VARIANTS, runner

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
CASES = json.loads((GOLDEN / "expected.json").read_text(encoding="utf-8"))["cases"]
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}


def native(arr: np.ndarray, dihedral: bool, isa: int) -> tuple[bytes, int]:
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    lines = np.ascontiguousarray(arr).reshape(arr.shape[0], arr.shape[1] * channels)
    return _native.pdq_hash_lines(lines, channels, isa, dihedral)


def assert_same(arr: np.ndarray, variant: str) -> None:
    for dihedral in (False, True):
        raw, quality, rc = runner(variant).pdq(arr, dihedral)
        assert rc == 0
        for isa in NATIVE_ISAS:
            want = native(arr, dihedral, isa)
            assert (raw.hex(), quality) == (want[0].hex(), want[1]), (
                variant, arr.shape, dihedral, _native.isa_name(isa))


@pytest.mark.parametrize("variant", VARIANTS)
def test_dct_table_equals_native_libm(variant):
    """The DCT matrix through the wasm build's libm (musl's cos) is the one the native
    build computes (the platform's cos, as math.cos): every float, bit for bit."""
    scale = float(np.float32(math.sqrt(2.0 / 64.0)))
    want = np.array([[np.float32(scale * math.cos((math.pi / 2.0 / 64.0) * (i + 1) * (2 * j + 1)))
                      for j in range(64)] for i in range(16)], dtype=np.float32)
    got = runner(variant).dct()
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("variant", VARIANTS)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(1, 420), cols=st.integers(1, 420), channels=st.sampled_from([1, 3, 4]),
       kind=st.sampled_from(KINDS), seed=st.integers(0, 2**16))
def test_random_images(variant, rows, cols, channels, kind, seed):
    assert_same(make_image(kind, rows, cols, channels, seed), variant)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("shape", [(64, 64), (64, 64, 3), (64, 64, 4), (5, 5, 3), (4, 400, 3),
                                   (400, 4), (127, 129, 3), (128, 128, 1), (129, 127, 4),
                                   (1, 1), (2047, 3, 3), (3000, 4000, 3)])
def test_edge_sizes(variant, shape):
    """The unfiltered 64x64 entry, the 5-pixel minimum, the window steps at 128, tall
    and thin lines, and a 12 MP photo-sized image."""
    rng = np.random.default_rng(list(shape))
    assert_same(rng.integers(0, 256, shape, dtype=np.uint8), variant)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_vectors(variant, name):
    """The committed decoded pixels and Meta's reference hashes (tests/golden)."""
    arr = np.load(GOLDEN / f"{name}.npy", allow_pickle=False)
    assert_same(arr, variant)
    want = CASES[name]
    raw, quality, _ = runner(variant).pdq(arr, False)
    assert (raw.hex(), quality) == (want["pdq"], want["quality"])
    raw, quality, _ = runner(variant).pdq(arr, True)
    assert [raw[i:i + 32].hex() for i in range(0, 256, 32)] == want["dihedral"]
    assert quality == want["dihedral_quality"]


def repo_images() -> list[Path]:
    found = []
    for base, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("build", "node_modules")]
        found += [Path(base, f) for f in files if Path(f).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found)


def test_repo_has_image_files():
    assert repo_images(), "no image file found in the repository"


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("path", repo_images(), ids=lambda p: str(p.relative_to(ROOT)))
def test_repo_image_files(variant, path):
    """Every image file in the repository, decoded by tidehash's policy."""
    px = decode(path)
    arr = px.array if px.array is not None else pil_to_array(px.image)
    assert_same(arr, variant)
    raw, quality, _ = runner(variant).pdq(arr, False)
    h = tidehash.pdq_hash(arr)
    assert (raw, quality) == (h.bytes, h.quality)


@pytest.mark.parametrize("variant", VARIANTS)
def test_bad_arguments_are_refused(variant):
    r = runner(variant)
    assert r._pdq(r.store, 0, 0, 10, 3, 0, 0, 0) == -1  # no rows
    raw, quality, rc = r.pdq(np.zeros((3, 3, 3), np.uint8), True)
    assert (rc, quality, raw) == (0, 0, bytes(256))  # under 5 a side: zeros, quality 0
