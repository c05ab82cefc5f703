"""The instruction-set levels the tests run: those `tidehash.available_isas()` reports
(scalar, avx2, avx512 on x86; scalar, neon on arm64). conftest turns them into the
`isa`, `native_isa` and `unsupported_isa` fixtures; tests that compare every level
inside one test loop over NATIVE_ISAS (indices for tidehash._native)."""

from __future__ import annotations

import tidehash
from tidehash import _native

NATIVE_ISAS = [i for i in range(_native.ISA_COUNT) if _native.isa_supported(i)]
assert [_native.isa_name(i) for i in NATIVE_ISAS] == list(tidehash.available_isas())
# indices this CPU cannot run (ISA_COUNT and beyond are never valid)
UNSUPPORTED_ISAS = [-1, *(i for i in range(_native.ISA_COUNT) if i not in NATIVE_ISAS),
                    _native.ISA_COUNT, 99]


def native_isa_name(isa: int) -> str:
    return _native.isa_name(isa)
