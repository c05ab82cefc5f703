"""argparse ``type=`` checks shared by every ``tidehash bench`` command.

Each returns a converter that turns the option's text into a value or raises
``argparse.ArgumentTypeError``; argparse then prints a usage line and
``argument --opt: <message>`` and exits 2, so a bad value (``nan``, ``inf``, ``0``,
``-1``, a pHash size out of range) never reaches the benchmark as a traceback.
The messages name the allowed range.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

# a synthetic benchmark image larger than this is a typo, not a measurement
MAX_MEGAPIXELS = 400.0
MAX_SIDE = 40_000
# seeds go to numpy.random.default_rng, which takes non-negative integers
MAX_SEED = 2**63 - 1


def _range_text(lo, hi) -> str:
    return f"{lo}..{hi}" if hi is not None else f">= {lo}"


def _int(text: str) -> int:
    """'12', '1_000_000' or '1e6' (a float that is a whole number) -> int."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value.is_integer()):
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    return int(value)


def int_in(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An integer in lo..hi (hi None: no upper bound)."""
    def convert(text: str) -> int:
        value = _int(text)
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be {_range_text(lo, hi)}, got {text!r}")
        return value
    convert.__name__ = "integer"
    return convert


def int_list(lo: int, hi: int | None = None) -> Callable[[str], tuple[int, ...]]:
    """Comma-separated integers, each in lo..hi; at least one."""
    def convert(text: str) -> tuple[int, ...]:
        values = tuple(_int(t) for t in text.split(",") if t.strip())
        if not values:
            raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
        if min(values) < lo or (hi is not None and max(values) > hi):
            raise argparse.ArgumentTypeError(
                f"each must be {_range_text(lo, hi)}, got {text!r}")
        return values
    convert.__name__ = "integer list"
    return convert


def name_list(allowed: tuple[str, ...]) -> Callable[[str], tuple[str, ...]]:
    """Comma-separated names, each one of allowed; at least one."""
    def convert(text: str) -> tuple[str, ...]:
        values = tuple(t.strip() for t in text.split(",") if t.strip())
        if not values or any(v not in allowed for v in values):
            raise argparse.ArgumentTypeError(
                f"each must be one of {', '.join(allowed)}, got {text!r}")
        return values
    convert.__name__ = "name list"
    return convert


def positive_float(hi: float, lo: float = 0.0) -> Callable[[str], float]:
    """A finite float above 0, at least lo and at most hi."""
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (math.isfinite(value) and 0 < value and lo <= value <= hi):
            low = f"at least {lo:.3g}" if lo > 0 else "above 0"
            raise argparse.ArgumentTypeError(
                f"must be a finite number {low} and at most {hi:g}, got {text!r}")
        return value
    convert.__name__ = "number"
    return convert


def nonnegative_float(hi: float) -> Callable[[str], float]:
    """A finite float in 0..hi."""
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (math.isfinite(value) and 0 <= value <= hi):
            raise argparse.ArgumentTypeError(
                f"must be a finite number in 0..{hi:g}, got {text!r}")
        return value
    convert.__name__ = "number"
    return convert


def megapixels_to_size(mp: float) -> tuple[int, int]:
    """A 4:3 frame of about mp megapixels (0.25 -> 577x433, 12 -> 4000x3000)."""
    w = round(math.sqrt(mp * 1e6 * 4 / 3))
    return w, round(w * 3 / 4)


def _megapixels(token: str, min_side: int) -> float:
    try:
        mp = float(token)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"sizes are megapixels or WxH, got {token!r}") from None
    if not (math.isfinite(mp) and 0 < mp <= MAX_MEGAPIXELS):
        raise argparse.ArgumentTypeError(
            f"megapixels must be finite, above 0 and at most {MAX_MEGAPIXELS:g}, got {token!r}")
    if min(megapixels_to_size(mp)) < min_side:
        raise argparse.ArgumentTypeError(
            f"size too small: {token!r} (each side at least {min_side} px)")
    return mp


def _size(token: str, min_side: int) -> tuple[int, int]:
    if "x" not in token:
        return megapixels_to_size(_megapixels(token, min_side))
    try:
        w, h = (int(v) for v in token.split("x", 1))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"sizes are megapixels or WxH, got {token!r}") from None
    if not (min_side <= w <= MAX_SIDE and min_side <= h <= MAX_SIDE):
        raise argparse.ArgumentTypeError(
            f"each side must be {min_side}..{MAX_SIDE} px, got {token!r}")
    if w * h > MAX_MEGAPIXELS * 1e6:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_MEGAPIXELS:g} megapixels, got {token!r}")
    return w, h


def image_sizes(min_side: int = 1) -> Callable[[str], list[tuple[int, int]]]:
    """'0.25,1,12' (megapixels of a 4:3 frame) or '500x500' -> [(width, height), ...];
    finite, each side min_side..MAX_SIDE, at most MAX_MEGAPIXELS."""
    def convert(text: str) -> list[tuple[int, int]]:
        tokens = [t for t in (t.strip().lower() for t in text.split(",")) if t]
        if not tokens:
            raise argparse.ArgumentTypeError("no sizes given")
        return [_size(t, min_side) for t in tokens]
    convert.__name__ = "sizes"
    return convert


def megapixel_list(min_side: int = 1) -> Callable[[str], list[float]]:
    """'12,1,0.25' -> [12.0, 1.0, 0.25]: megapixels only, checked as image_sizes does."""
    def convert(text: str) -> list[float]:
        tokens = [t for t in (t.strip() for t in text.split(",")) if t]
        if not tokens:
            raise argparse.ArgumentTypeError("no sizes given")
        return [_megapixels(t, min_side) for t in tokens]
    convert.__name__ = "megapixels"
    return convert


def hash_sizes(text: str) -> tuple[int, ...]:
    """Comma-separated pHash hash sizes, each in tidehash.phash's MIN..MAX_HASH_SIZE."""
    from ..phash import MAX_HASH_SIZE, MIN_HASH_SIZE

    try:
        return int_list(MIN_HASH_SIZE, MAX_HASH_SIZE)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"pHash hash sizes are {MIN_HASH_SIZE}..{MAX_HASH_SIZE}, got {text!r}") from None


seed = int_in(0, MAX_SEED)
cpu = int_in(0)
