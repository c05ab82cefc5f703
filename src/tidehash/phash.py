"""pHash, bit for bit ``imagehash.phash`` (imagehash 4.x) given the same Pillow image.

imagehash computes ``image.convert("L").resize((4 hs, 4 hs), LANCZOS)``, the
2-D DCT-II of that (``scipy.fftpack.dct`` over columns, then rows), and one bit
per low-frequency coefficient: above ``numpy.median`` of them or not. The C
kernel (``csrc/phash/``) reproduces Pillow's integer luma and resize exactly,
reading the pixels in place, then computes the low DCT block, its median and
the bits itself, and keeps them when every coefficient lies further from the
median than a bound on its own and scipy's rounding: then they are provably
the bits of scipy's DCT (csrc/phash/README.md, "The fast path"). Otherwise
(ties in exact arithmetic: flat images, ramps, one pixel wide,
mirror-symmetric) the DCT and the median are computed by the same scipy and
numpy calls as imagehash's, in the same order, on the same uint8 image: there
pocketfft gives exact zeros or its own rounding, and any other DCT would
decide some bits otherwise. Either way the hash is imagehash's on every image.

Pillow changed the order of the two resize passes over its versions (13.0 runs
the vertical pass first when the height shrinks by more than twice as many
pixels as the width; 12.2-12.3 did so for images over 100 times taller than
wide); the installed Pillow's order is followed.
"""

from __future__ import annotations

import functools
import numbers
import re
from typing import NamedTuple

import numpy as np
from PIL import Image

from . import _native
from .cpu import current_isa
from .image import arrow_capsules, check_pixel_array, load_pil, pillow_version

MIN_HASH_SIZE = _native.PHASH_MIN
MAX_HASH_SIZE = _native.PHASH_MAX
HIGHFREQ_FACTOR = 4  # imagehash's default: the image is resized to 4 hs x 4 hs

#: Pillow modes hashed from their own pixels; every other mode goes through
#: Pillow's own convert("L") first, exactly as imagehash does.
_DIRECT_MODES = ("L", "RGB", "RGBA", "RGBX")
#: An image Pillow holds in several memory blocks (over 16 MB by default) has no
#: Arrow export; it is read in strips of about this many bytes (each a crop,
#: still in cache when the kernel reads it; 1-4 MB measured best at 12 MP).
_STRIP_BYTES = 2 << 20
_HEX = re.compile(r"[0-9a-fA-F]+")


_PILLOW = pillow_version()
#: The 8-bit hash of an imagehash.ImageHash is sum(2 ** (i % 8)) over its set
#: bits i (row-major): each byte of the bits, MSB first, read bit-reversed.
_fftpack = None


def _scipy_fftpack():
    """scipy.fftpack, imported on first use: it takes a good part of a second
    to import, and only pHash's fallback (and debug) needs it."""
    global _fftpack
    if _fftpack is None:
        import scipy.fftpack
        _fftpack = scipy.fftpack
    return _fftpack


def vertical_first(width: int, height: int, n: int, pillow: tuple[int, int] = _PILLOW) -> bool:
    """Whether ``Image.resize((n, n), LANCZOS)`` runs the vertical pass first in
    this Pillow version (the two orders round differently)."""
    if pillow >= (13, 0):  # ImagingResampleInner, PR 9549
        return height - n > 0 and height - n > (width - n) * 2
    if pillow >= (12, 2):  # Image.resize, PR 9524: two C calls, vertical one first
        return height > width * 100 and n < height
    return False


def _arrow(im: Image.Image):
    """The image's Arrow capsules, or None (then it is read through crops); see
    tidehash.image.arrow_capsules for when Pillow cannot export in place."""
    return arrow_capsules(im)


@functools.lru_cache(maxsize=64)
def _table(in_size: int, n: int) -> np.ndarray:
    """Pillow's coefficients for one axis (read-only; ~6 in_size int32). Photos
    come in a few sizes, and computing them costs two sin() per tap."""
    return _native.phash_table(in_size, n)


class PHash:
    """An immutable pHash of ``hash_size`` x ``hash_size`` bits.

    ``.hex`` is ``str(imagehash.phash(...))``; ``.bytes`` the same number as
    big-endian bytes (``ceil(hs*hs / 8)``, leading pad bits zero; for hash_size 8
    and 16 simply ``bytes.fromhex(hex)``); ``.hash`` (also ``.bits``) the
    (hs, hs) bool array of imagehash's ``.hash``. ``a - b`` and ``a.distance(b)``
    are the Hamming distance, as in imagehash.

    Code written for imagehash works on it: a PHash and an
    ``imagehash.ImageHash`` of the same bits are ``==`` either way round, ``-``
    between them is the Hamming distance either way round, and their
    ``hash()`` is the same (imagehash's 8-bit one, so that mixed sets and dict
    keys behave; for large sets key by ``.bytes``). Anything whose ``.hash`` is
    a NumPy array is taken for an ImageHash; imagehash itself is not needed.
    """

    __slots__ = ("_bytes", "_hash_size")

    def __init__(self, data: bytes, hash_size: int = 8):
        hash_size = _check_hash_size(hash_size)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"PHash needs bytes, not {type(data).__name__}")
        data = bytes(data)
        nbits = hash_size * hash_size
        if len(data) != (nbits + 7) // 8:
            raise ValueError(
                f"a {hash_size}x{hash_size} pHash is {(nbits + 7) // 8} bytes, got {len(data)}")
        if int.from_bytes(data, "big") >> nbits:
            raise ValueError(f"pad bits above the {nbits} hash bits must be zero")
        object.__setattr__(self, "_bytes", data)
        object.__setattr__(self, "_hash_size", hash_size)

    @classmethod
    def _of_kernel(cls, data: bytes, hash_size: int) -> PHash:
        """A PHash of bytes the kernel or _pack made (right length, pad bits
        zero, hash_size checked): the checks of __init__ skipped."""
        self = object.__new__(cls)
        object.__setattr__(self, "_bytes", data)
        object.__setattr__(self, "_hash_size", hash_size)
        return self

    @classmethod
    def from_hex(cls, text: str, hash_size: int | None = None) -> PHash:
        """Parse imagehash's hex string (either case). Without ``hash_size`` it is
        inferred from the length, as ``imagehash.hex_to_hash`` does."""
        if not isinstance(text, str):
            raise TypeError(f"expected a hex string, not {type(text).__name__}")
        if _HEX.fullmatch(text) is None:
            raise ValueError(f"not a hex pHash: {text[:80]!r}")
        if hash_size is None:
            hash_size = int(np.sqrt(len(text) * 4))
        hash_size = _check_hash_size(hash_size)
        nbits = hash_size * hash_size
        if len(text) != (nbits + 3) // 4:
            raise ValueError(f"a {hash_size}x{hash_size} pHash has {(nbits + 3) // 4} hex "
                             f"digits, got {len(text)}")
        value = int(text, 16)
        if value >> nbits:
            raise ValueError(f"{text!r} has more than {nbits} bits")
        return cls(value.to_bytes((nbits + 7) // 8, "big"), hash_size)

    @property
    def hash_size(self) -> int:
        return self._hash_size

    @property
    def bytes(self) -> bytes:
        return self._bytes

    @property
    def hex(self) -> str:
        digits = (self._hash_size * self._hash_size + 3) // 4
        return self._bytes.hex()[-digits:]

    @property
    def bits(self) -> np.ndarray:
        """(hash_size, hash_size) bool, row-major as imagehash's ``.hash`` (a copy)."""
        nbits = self._hash_size * self._hash_size
        flat = np.unpackbits(np.frombuffer(self._bytes, dtype=np.uint8))[-nbits:]
        return flat.reshape(self._hash_size, self._hash_size).astype(bool)

    #: imagehash's name for the bits: ``ImageHash.__eq__`` / ``__sub__`` read it.
    hash = bits

    def distance(self, other) -> int:
        """Hamming distance to another pHash, its hex, or an imagehash.ImageHash
        of the same size; a different size is a TypeError, as in imagehash."""
        if isinstance(other, str):
            other = PHash.from_hex(other, self._hash_size)
        if not isinstance(other, PHash):
            foreign = _foreign_bits(other)
            if foreign is None:
                raise TypeError(f"cannot compare a PHash with {type(other).__name__}")
            if foreign.size != len(self):
                raise TypeError(f"hashes of different sizes ({len(self)} and {foreign.size} "
                                f"bits) cannot be compared")
            return int(np.count_nonzero(self.bits.ravel() != foreign))
        if other._hash_size != self._hash_size:
            raise TypeError(f"pHashes of different sizes ({self._hash_size} and "
                            f"{other._hash_size}) cannot be compared")
        diff = int.from_bytes(self._bytes, "big") ^ int.from_bytes(other._bytes, "big")
        return bin(diff).count("1")

    def __len__(self) -> int:
        """The number of bits, as ``len(ImageHash)``."""
        return self._hash_size * self._hash_size

    def __sub__(self, other) -> int:
        if other is None:
            raise TypeError("other hash must not be None")
        return self.distance(other)

    def __setattr__(self, name, value):
        raise AttributeError("PHash is immutable")

    def __delattr__(self, name):
        raise AttributeError("PHash is immutable")

    def __eq__(self, other):
        if isinstance(other, PHash):
            return self._hash_size == other._hash_size and self._bytes == other._bytes
        foreign = _foreign_bits(other)
        if foreign is None:
            return NotImplemented
        # imagehash compares the flattened bits: same count, same values
        return foreign.size == len(self) and bool(np.array_equal(self.bits.ravel(), foreign))

    def __hash__(self):
        # Not ImageHash.__hash__'s value: that one is sum(2 ** (i % 8)) over the
        # set bits, so ~1,500 values for any number of hashes, and a set or dict of
        # a million PHashes would take minutes instead of a fraction of a second.
        # The cost: a PHash and an equal ImageHash are == but do not dedupe in one
        # set (convert with imagehash.ImageHash(p.hash) to mix them).
        return hash((self._hash_size, self._bytes))

    def __repr__(self):
        return f"PHash.from_hex({self.hex!r}, hash_size={self._hash_size})"

    def __str__(self):
        return self.hex

    def __reduce__(self):
        return (PHash, (self._bytes, self._hash_size))


def _foreign_bits(other) -> np.ndarray | None:
    """The flattened bits of an imagehash.ImageHash-like object (its ``.hash`` is
    a NumPy array), or None."""
    bits = getattr(other, "hash", None)
    return bits.ravel() if isinstance(bits, np.ndarray) else None


def _check_hash_size(hash_size) -> int:
    if isinstance(hash_size, bool) or not isinstance(hash_size, numbers.Integral):
        raise TypeError(f"hash_size must be an int, not {type(hash_size).__name__}")
    hash_size = int(hash_size)
    if not MIN_HASH_SIZE <= hash_size <= MAX_HASH_SIZE:
        raise ValueError(f"hash_size must be in {MIN_HASH_SIZE}..{MAX_HASH_SIZE}, "
                         f"got {hash_size}")
    return hash_size


def _plan(width: int, height: int, hash_size: int):
    n = HIGHFREQ_FACTOR * hash_size
    try:
        h_table, v_table = _table(width, n), _table(height, n)
    except ValueError:
        raise ValueError(f"cannot hash a {width}x{height} image") from None
    return _native.PHashPlan(width, height, hash_size, vertical_first(width, height, n),
                             current_isa(), h_table, v_table)


def _lines_of(arr: np.ndarray) -> tuple[np.ndarray, int]:
    """(H, W*C) lines view of an (H, W[, C]) uint8 array, without a copy when its
    pixels are packed within each line (any line stride, also negative)."""
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    h, w = arr.shape[:2]
    packed = arr.strides[1] == channels and (arr.ndim == 2 or arr.strides[2] == 1)
    if not packed:
        arr = np.ascontiguousarray(arr)
    lines = np.lib.stride_tricks.as_strided(arr, shape=(h, w * channels),
                                            strides=(arr.strides[0], 1), writeable=False)
    return lines, channels


def _feed_array(arr: np.ndarray, hash_size: int):
    """A plan fed every line of the array (finish it for the resized image)."""
    h, w = arr.shape[:2]
    plan = _plan(w, h, hash_size)
    lines, channels = _lines_of(arr)
    first, last = plan.row_first, plan.row_last
    plan.rows_lines(lines[first:last], channels, first)
    return plan


def _grey_or_rgb(im: Image.Image) -> Image.Image:
    load_pil(im)
    if im.mode in _DIRECT_MODES:
        return im
    try:
        return im.convert("L")
    except (ValueError, OSError) as exc:
        raise ValueError(f"Pillow cannot convert mode {im.mode!r} to 'L': {exc}") from exc


def _feed_pil(im: Image.Image, hash_size: int):
    """A plan fed every line of the image (finish it for the resized image)."""
    im = _grey_or_rgb(im)
    w, h = im.size
    plan = _plan(w, h, hash_size)
    first, last = plan.row_first, plan.row_last
    caps = _arrow(im)
    if caps is not None:
        plan.rows_arrow(caps[0], caps[1], h, 0)
        return plan
    # Several memory blocks: strips small enough to stay in cache, each read in
    # place through its own Arrow export (copied to an array where that fails).
    step = max(1, _STRIP_BYTES // (w * (1 if im.mode == "L" else 4)))
    for y in range(first, last, step):
        strip = im.crop((0, y, w, min(y + step, last)))
        caps = _arrow(strip)
        if caps is not None:
            plan.rows_arrow(caps[0], caps[1], strip.size[1], y)
        else:
            lines, channels = _lines_of(np.asarray(strip))
            plan.rows_lines(lines, channels, y)
    return plan


def _median(values: np.ndarray) -> float:
    """numpy.median of the values, in a sixth of its time: the middle one, or the
    mean (a + b) / 2 of the middle two, as numpy.mean rounds it. Any sort gives
    the same middle values (only the sign of a zero could differ, and -0.0 and
    0.0 compare alike), so the bits ``values > median`` are numpy.median's."""
    ordered = np.sort(values, axis=None)
    k = ordered.size // 2
    if ordered.size % 2:
        return ordered[k]
    return (ordered[k - 1] + ordered[k]) / 2


def _dct_bits(grey: np.ndarray, hash_size: int) -> tuple[np.ndarray, np.ndarray]:
    """imagehash.phash after its resize, call for call: scipy.fftpack's DCT of the
    uint8 image over columns then rows, the low block, its median. Returns
    (bits, low block)."""
    fftpack = _scipy_fftpack()
    dct = fftpack.dct(fftpack.dct(grey, axis=0), axis=1)
    low = dct[:hash_size, :hash_size]
    return low > _median(low), low


def _pack(bits: np.ndarray) -> bytes:
    """Row-major bits as one big-endian number, leading pad bits zero."""
    flat = bits.ravel()
    pad = -flat.size % 8
    if pad:
        flat = np.concatenate((np.zeros(pad, dtype=bool), flat))
    return np.packbits(flat).tobytes()


#: How many hashes took each path since import: "fast" (csrc's DCT, provably
#: scipy's bits) and "scipy" (the fallback). For tests; not thread-exact.
_path_counts = {"fast": 0, "scipy": 0}


def _feed(image, hash_size: int):
    if isinstance(image, Image.Image):
        return _feed_pil(image, hash_size)
    return _feed_array(check_pixel_array(image), hash_size)


def _phash_raw(image, hash_size: int, debug: bool = False):
    """The hash bytes; with ``debug``, (bytes, resized n x n uint8, hs x hs
    scipy DCT block).

    The fast path: csrc computes the low DCT block, its median and the bits,
    and says whether every coefficient (an odd count's median element aside)
    lies further from the median than a bound on both its and scipy's rounding
    (csrc/phash/README.md, "The fast path"); then the bits are provably those of
    scipy's DCT, imagehash's. Otherwise (ties in exact arithmetic: flat images,
    ramps, 1-pixel-wide ones) the scipy path decides, as in imagehash."""
    hash_size = _check_hash_size(hash_size)
    grey, raw, decided, _margin, _tol, _low = _feed(image, hash_size).finish_bits()
    if decided:
        _path_counts["fast"] += 1
    else:
        _path_counts["scipy"] += 1
        raw = _pack(_dct_bits(grey, hash_size)[0])
    if debug:
        return raw, grey, _dct_bits(grey, hash_size)[1]
    return raw


class _Paths(NamedTuple):
    """Both paths on one image (tests): the fast path's bytes, margin, bound
    and block, whether it decided, and the scipy path's bytes and block."""
    fast_raw: bytes
    decided: bool
    margin: float
    tol: float
    fast_low: np.ndarray
    scipy_raw: bytes
    scipy_low: np.ndarray
    grey: np.ndarray


def _both_paths(image, hash_size: int) -> _Paths:
    hash_size = _check_hash_size(hash_size)
    grey, raw, decided, margin, tol, low = _feed(image, hash_size).finish_bits(True)
    bits, scipy_low = _dct_bits(grey, hash_size)
    return _Paths(raw, decided, margin, tol, low, _pack(bits), scipy_low, grey)


def phash(image, hash_size: int = 8) -> PHash:
    """``imagehash.phash(image, hash_size)``, bit for bit, computed in C.

    ``image`` is a Pillow image (any mode: L, RGB, RGBA and RGBX are read in
    place, other modes go through Pillow's ``convert("L")`` as in imagehash) or a
    uint8 NumPy array meaning the pixels Pillow would hold: (H, W) or (H, W, 1) a
    mode "L" image, (H, W, 3) "RGB", (H, W, 4) "RGBA" (alpha ignored, as
    ``convert("L")`` ignores it); any strides (lines any distance apart, also
    negative or 0 as ``np.broadcast_to`` gives; arrays whose pixels are not
    packed within a line are copied first). ``hash_size`` is 2..64 (8 gives 64
    bits, 16 gives 256). Equal to imagehash's on every image. The resize and
    the DCT bits release the GIL; where a coefficient is too close to the
    median to be decided that way, the DCT is scipy's, as in imagehash."""
    hash_size = _check_hash_size(hash_size)
    return PHash._of_kernel(_phash_raw(image, hash_size), hash_size)
