"""What every test module shares: tests/ on sys.path (for the helper modules
images, pdq_helpers, oracles, hamming_oracles, phash_oracles, videos, sources) and
the instruction-set fixtures.

`isa` runs a test once per level `tidehash.available_isas()` reports (scalar, avx2,
avx512 on x86; scalar, neon on arm64), as its name for `tidehash.use_isa`;
`native_isa` does the same with the level's index for `tidehash._native` calls.
`NATIVE_ISAS` is that list of indices, for tests that compare every level inside one
test; `native_isa_name` names an index in assertion messages."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import tidehash  # noqa: E402
from tidehash import _native  # noqa: E402

NATIVE_ISAS = [i for i in range(_native.ISA_COUNT) if _native.isa_supported(i)]
assert [_native.isa_name(i) for i in NATIVE_ISAS] == list(tidehash.available_isas())
# indices no build supports on this CPU (ISA_COUNT and beyond are never valid)
UNSUPPORTED_ISAS = [-1, *(i for i in range(_native.ISA_COUNT) if i not in NATIVE_ISAS),
                    _native.ISA_COUNT, 99]


def native_isa_name(isa: int) -> str:
    return _native.isa_name(isa)


@pytest.fixture(params=tidehash.available_isas())
def isa(request) -> str:
    return request.param


@pytest.fixture(params=NATIVE_ISAS, ids=[_native.isa_name(i) for i in NATIVE_ISAS])
def native_isa(request) -> int:
    return request.param


@pytest.fixture(params=UNSUPPORTED_ISAS)
def unsupported_isa(request) -> int:
    return request.param
