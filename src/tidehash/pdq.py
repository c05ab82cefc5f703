"""PDQ hashing of arrays and Pillow images (bit-exact with Meta's C++ reference)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from . import _native
from .cpu import current_isa
from .hashes import PDQ_BYTES, PDQHash
from .image import Pixels, arrow_capsules, normalize, pil_to_array

DIHEDRAL_NAMES = ("original", "rot90", "rot180", "rot270", "flipx", "flipy", "flipp", "flipm")


def check_pixel_array(image) -> np.ndarray:
    """Validate an array image: uint8, (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
    (RGBA/RGBX, 4th channel ignored), non-empty; (H, W, 1) becomes (H, W). No copy."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise TypeError(
            f"image arrays must be uint8, not {arr.dtype}; convert explicitly "
            "(e.g. 16-bit: (a >> 8).astype(np.uint8)) so no scaling is guessed")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(
            f"image arrays have shape (H, W), (H, W, 3) or (H, W, 4); got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"image has no pixels (shape {arr.shape})")
    return arr


def as_pixel_array(image) -> np.ndarray:
    """check_pixel_array, and strided or non-contiguous views copied."""
    return np.ascontiguousarray(check_pixel_array(image))


def _hash_array(arr: np.ndarray, dihedral: bool):
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    lines = arr.reshape(arr.shape[0], arr.shape[1] * channels)
    return _native.pdq_hash_lines(lines, channels, current_isa(), dihedral)


def _hash_pixels(px: Pixels, dihedral: bool):
    if px.array is not None:
        return _hash_array(px.array, dihedral)
    im = px.image
    caps = arrow_capsules(im)
    if caps is not None:
        w, h = im.size
        return _native.pdq_hash_arrow(caps[0], caps[1], w, h, current_isa(), dihedral)
    return _hash_array(pil_to_array(im), dihedral)


def load_pil(image: Image.Image) -> Image.Image:
    """Load a caller's Pillow image; ValueError if it cannot be read or is empty."""
    try:
        image.load()
    except Exception as exc:
        raise ValueError(f"cannot load the Pillow image: {exc}") from exc
    if image.size[0] <= 0 or image.size[1] <= 0:
        raise ValueError(f"image has no pixels ({image.size[0]}x{image.size[1]})")
    return image


def _pixels_of(image) -> Pixels:
    if isinstance(image, Image.Image):
        return normalize(load_pil(image))
    if isinstance(image, Pixels):
        return image
    return Pixels(array=as_pixel_array(image))


def _split(raw: bytes, quality: int, n: int) -> list[PDQHash]:
    return [PDQHash(raw[i * PDQ_BYTES:(i + 1) * PDQ_BYTES], quality) for i in range(n)]


def pdq_hash(image) -> PDQHash:
    """PDQ hash and quality of an image.

    ``image`` is an (H, W) grey or (H, W, 3) RGB uint8 array (also (H, W, 4) with the
    4th channel ignored) or a Pillow image (decoding policy of tidehash.image).
    Images under 5 pixels on a side hash to all zeros with quality 0, as in the
    reference; an exactly 64x64 image is hashed unfiltered, as in the reference's
    single-hash entry point."""
    raw, quality = _hash_pixels(_pixels_of(image), False)
    return PDQHash(raw, quality)


def pdq_hash_dihedral(image) -> list[PDQHash]:
    """The 8 dihedral PDQ hashes, from one DCT, in the order of DIHEDRAL_NAMES:
    original, rot90, rot180, rot270, flipx, flipy, flipp, flipm. Follows the
    reference's dihedral entry point, which filters even a 64x64 image."""
    raw, quality = _hash_pixels(_pixels_of(image), True)
    return _split(raw, quality, 8)
