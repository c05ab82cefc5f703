"""The native layer never crashes: hostile arguments reach it directly.

Complements tests/fuzz/fuzz_pdq.c (C-level differential fuzzing under ASan)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import tidehash
from tidehash import _native


@pytest.mark.parametrize("channels", [0, -1, 2, 5, 7])
def test_lines_bad_channel_count(channels):
    lines = np.zeros((10, 35), np.uint8)
    with pytest.raises((ValueError, ZeroDivisionError)):
        _native.pdq_hash_lines(lines, channels, 0, False)


def test_lines_width_not_multiple_of_channels():
    with pytest.raises(ValueError):
        _native.pdq_hash_lines(np.zeros((10, 31), np.uint8), 3, 0, False)


@pytest.mark.parametrize("shape", [(0, 30), (10, 0), (0, 0)])
def test_lines_empty(shape):
    with pytest.raises(ValueError):
        _native.pdq_hash_lines(np.zeros(shape, np.uint8), 3, 0, False)


def test_lines_non_contiguous_rejected_by_memoryview():
    a = np.zeros((10, 60), np.uint8)[:, ::2]
    with pytest.raises(ValueError):
        _native.pdq_hash_lines(a, 3, 0, False)


def test_unknown_isa_index(unsupported_isa):
    with pytest.raises(RuntimeError, match="not available on this CPU"):
        _native.pdq_hash_lines(np.zeros((10, 30), np.uint8), 3, unsupported_isa, False)


def test_arrow_rejects_foreign_capsules():
    with pytest.raises(TypeError):
        _native.pdq_hash_arrow(object(), object(), 10, 10, 0, False)
    im = Image.new("RGB", (10, 10))
    schema, array = im.__arrow_c_array__()
    with pytest.raises(TypeError):
        _native.pdq_hash_arrow(array, schema, 10, 10, 0, False)


@pytest.mark.parametrize("w,h", [(11, 10), (10, 11), (0, 10), (-10, -10), (100, 2)])
def test_arrow_rejects_wrong_dimensions(w, h):
    im = Image.new("RGB", (10, 10))
    schema, array = im.__arrow_c_array__()
    with pytest.raises(ValueError):
        _native.pdq_hash_arrow(schema, array, w, h, 0, False)


@pytest.mark.parametrize("mode", ["I", "F", "I;16", "LA", "P"])
def test_arrow_rejects_other_formats_or_hashes_consistently(mode):
    im = Image.new(mode, (10, 10))
    try:
        schema, array = im.__arrow_c_array__()
    except (ValueError, NotImplementedError):
        return
    try:
        _native.pdq_hash_arrow(schema, array, 10, 10, 0, False)
    except ValueError:
        pass


@settings(max_examples=150, deadline=None)
@given(
    rows=st.integers(1, 90),
    cols=st.integers(1, 90),
    channels=st.sampled_from([1, 3, 4]),
    pad=st.integers(0, 9),
    dihedral=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_geometry_all_isas_agree(rows, cols, channels, pad, dihedral, seed):
    """Random sizes and row padding (a strided parent, cropped): every ISA gives the
    scalar result, through the public API on a non-contiguous view."""
    rng = np.random.default_rng(seed)
    parent = rng.integers(0, 256, (rows, cols + pad, channels), dtype=np.uint8)
    view = parent[:, :cols] if channels != 1 else parent[:, :cols, 0]
    fn = tidehash.pdq_hash_dihedral if dihedral else tidehash.pdq_hash
    with tidehash.use_isa("scalar"):
        ref = fn(view)
    for isa in tidehash.available_isas():  # hypothesis draws the images: one loop, not a fixture
        with tidehash.use_isa(isa):
            assert fn(view) == ref
