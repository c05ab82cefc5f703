"""Checks of the size and count arguments of the public API, in one place so that
every entry point refuses the same values the same way (bool is not a count,
NumPy integers are) and no huge value sizes an allocation or a thread pool."""

from __future__ import annotations

import numpy as np

#: more threads than this only adds switching; a huge value must not size a pool
MAX_THREADS = 1024


def positive_count(name: str, value, *, cap: int | None = MAX_THREADS) -> int:
    """``value`` as a Python int >= 1 (an int or a NumPy integer, not a bool),
    capped at ``cap``; ValueError otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    value = int(value)
    return value if cap is None else min(value, cap)


def max_pixels_limit(value) -> int | None:
    """The decompression-bomb limit: None (no limit) or an int >= 1."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"max_pixels must be an int or None, got {value!r}")
    if value < 1:
        raise ValueError(f"max_pixels must be >= 1 (or None for no limit), got {value!r}")
    return int(value)


def int_in_range(name: str, value, low: int, high: int) -> int:
    """``value`` as a Python int in low..high (an int or a NumPy integer, not a
    bool); ValueError naming ``name`` (the caller's parameter) otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or not low <= value <= high:
        raise ValueError(f"{name} must be an int in {low}..{high}, got {value!r}")
    return int(value)


def percentage(name: str, value) -> float:
    """``value`` as a float in 0..100 (an int or float, NumPy's too, not a bool and
    not NaN); ValueError naming ``name`` otherwise. A match percentage outside that
    range would silently match everything or nothing."""
    if isinstance(value, (bool, np.bool_)) \
            or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not 0 <= value <= 100:  # NaN fails the comparison
        raise ValueError(f"{name} must be a percentage (a number in 0..100), got {value!r}")
    return float(value)
