"""PDQ hashing of arrays and Pillow images (bit-exact with Meta's C++ reference)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from . import _native
from .cpu import current_isa
from .hashes import PDQ_BYTES, PDQHash
from .image import (  # noqa: F401  (check_pixel_array: the name this module had)
    Pixels,
    arrow_capsules,
    as_pixel_array,
    check_pixel_array,
    load_pil,
    normalize,
    pil_to_array,
)

DIHEDRAL_NAMES = ("original", "rot90", "rot180", "rot270", "flipx", "flipy", "flipp", "flipm")


def _hash_array(arr: np.ndarray, dihedral: bool):
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    lines = arr.reshape(arr.shape[0], arr.shape[1] * channels)
    return _native.pdq_hash_lines(lines, channels, current_isa(), dihedral)


def hash_pixels(px: Pixels, dihedral: bool) -> tuple[bytes, int]:
    """(hash bytes, quality) of pixels under the decoding policy: 32 bytes, or the 8
    dihedral hashes' 256 bytes (split them with split_hashes)."""
    if px.array is not None:
        return _hash_array(px.array, dihedral)
    im = px.image
    caps = arrow_capsules(im)
    if caps is not None:
        w, h = im.size
        return _native.pdq_hash_arrow(caps[0], caps[1], w, h, current_isa(), dihedral)
    return _hash_array(pil_to_array(im), dihedral)


def _pixels_of(image) -> Pixels:
    if isinstance(image, Image.Image):
        return normalize(load_pil(image))
    if isinstance(image, Pixels):
        return image
    return Pixels(array=as_pixel_array(image))


def split_hashes(raw: bytes, quality: int, n: int) -> list[PDQHash]:
    """n PDQHash of one quality from n * 32 bytes."""
    return [PDQHash(raw[i * PDQ_BYTES:(i + 1) * PDQ_BYTES], quality) for i in range(n)]


def pdq_hash(image) -> PDQHash:
    """PDQ hash and quality of an image.

    ``image`` is an (H, W) grey or (H, W, 3) RGB uint8 array (also (H, W, 4) with the
    4th channel ignored) or a Pillow image (decoding policy of tidehash.image).
    Images under 5 pixels on a side hash to all zeros with quality 0, as in the
    reference; an exactly 64x64 image is hashed unfiltered, as in the reference's
    single-hash entry point."""
    raw, quality = hash_pixels(_pixels_of(image), False)
    return PDQHash(raw, quality)


def pdq_hash_dihedral(image) -> list[PDQHash]:
    """The 8 dihedral PDQ hashes, from one DCT, in the order of DIHEDRAL_NAMES:
    original, rot90, rot180, rot270, flipx, flipy, flipp, flipm. Follows the
    reference's dihedral entry point, which filters even a 64x64 image."""
    raw, quality = hash_pixels(_pixels_of(image), True)
    return split_hashes(raw, quality, 8)
