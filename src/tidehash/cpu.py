"""CPU features and the instruction-set level the kernels use.

The CPU is probed once, when the native module is imported (CPUID + XGETBV).
The level in force is, in order of precedence: an enclosing ``use_isa(...)``
block (per thread / per asyncio task), the ``TIDEHASH_ISA`` environment variable
read at import, and the best level the CPU supports.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator

from . import _native

_NAMES = tuple(_native.isa_name(i) for i in range(_native.ISA_COUNT))
_FEATURE_NAMES = (
    "sse2", "ssse3", "sse4_1", "popcnt", "avx", "avx2", "fma", "bmi2", "avx512f",
    "avx512bw", "avx512vl", "avx512dq", "avx512vpopcntdq", "os_ymm", "os_zmm", "neon",
)


def available_isas() -> tuple[str, ...]:
    """Instruction-set levels this build and this CPU can run, lowest first."""
    return tuple(n for i, n in enumerate(_NAMES) if _native.isa_supported(i))


def _index(name: str) -> int:
    if not isinstance(name, str):
        raise TypeError(f"ISA name must be a str, not {type(name).__name__}")
    key = name.strip().lower()
    if key not in _NAMES:
        raise ValueError(f"unknown ISA {name!r}; known: {', '.join(_NAMES)}")
    idx = _NAMES.index(key)
    if not _native.isa_supported(idx):
        raise ValueError(
            f"ISA {key!r} is not supported on this CPU; available: {', '.join(available_isas())}")
    return idx


def _default_isa() -> int:
    forced = os.environ.get("TIDEHASH_ISA", "").strip()
    if forced:
        try:
            return _index(forced)
        except ValueError as exc:  # fail loudly at import rather than ignore it
            raise ValueError(f"TIDEHASH_ISA={forced!r}: {exc}") from None
    return _native.best_isa()


_DEFAULT = _default_isa()
_current: contextvars.ContextVar[int] = contextvars.ContextVar("tidehash_isa", default=_DEFAULT)


def current_isa() -> int:
    """Index of the level in force for the calling thread or task."""
    return _current.get()


@contextlib.contextmanager
def use_isa(name: str) -> Iterator[str]:
    """Force an instruction-set level inside a ``with`` block (this thread/task only).

    >>> with tidehash.use_isa("scalar"):
    ...     h = tidehash.pdq_hash(img)
    """
    token = _current.set(_index(name))
    try:
        yield name.strip().lower()
    finally:
        _current.reset(token)


def cpu_info() -> dict:
    """CPU features detected at import, and the instruction-set levels."""
    bits = _native.cpu_features()
    return {
        "features": [n for i, n in enumerate(_FEATURE_NAMES) if bits & (1 << i)],
        "available_isas": list(available_isas()),
        "best_isa": _NAMES[_native.best_isa()],
        "default_isa": _NAMES[_DEFAULT],
        "active_isa": _NAMES[current_isa()],
        "forced_by_env": os.environ.get("TIDEHASH_ISA") or None,
    }
