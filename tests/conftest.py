"""What every test module shares: tests/ on sys.path (for the helper modules
images, pdq_helpers, isas, oracles, hamming_oracles, phash_oracles, videos, sources)
and the instruction-set fixtures.

`isa` runs a test once per level `tidehash.available_isas()` reports (scalar, avx2,
avx512 on x86; scalar, neon on arm64), as its name for `tidehash.use_isa`;
`native_isa` does the same with the level's index for `tidehash._native` calls;
`unsupported_isa` gives indices this CPU cannot run (see isas.py)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from isas import NATIVE_ISAS, UNSUPPORTED_ISAS, native_isa_name  # noqa: E402

import tidehash  # noqa: E402


@pytest.fixture(params=tidehash.available_isas())
def isa(request) -> str:
    return request.param


@pytest.fixture(params=NATIVE_ISAS, ids=[native_isa_name(i) for i in NATIVE_ISAS])
def native_isa(request) -> int:
    return request.param


@pytest.fixture(params=UNSUPPORTED_ISAS)
def unsupported_isa(request) -> int:
    return request.param
