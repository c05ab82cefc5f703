"""The photographs the robustness benchmark alters: the user's folder, or the small
sample of real photographs that scikit-image ships (``skimage.data``, no download).

Every photo is held as its file bytes and the pixels the engine decodes from them
(``tidehash.image.decode``, the decoding policy of ``hash_file``): the listed hash is
the hash of that file, and the transforms start from those pixels.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tidehash.errors import TidehashError
from tidehash.image import decode

from .transforms import encode

#: skimage.data's real photographs that need no download, each a distinct scene. Left
#: out: ``cat`` (the same picture as ``chelsea``), the right half of
#: ``stereo_motorcycle`` (the same scene as the left), the synthetic or drawn images
#: (checkerboard, colorwheel, logo, binary_blobs, horse, shepp_logan_phantom) and the
#: 25 x 25 px faces of ``lfw_subset``.
SKIMAGE_PHOTOS = ("astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee",
                  "coins", "grass", "gravel", "hubble_deep_field", "immunohistochemistry",
                  "microaneurysms", "moon", "page", "retina", "rocket", "stereo_motorcycle",
                  "text")
SAMPLE_LABEL = ("SMALL SAMPLE: the real photographs bundled with scikit-image "
                f"({len(SKIMAGE_PHOTOS)} images, 102-1411 px; grey and colour; portraits, "
                "animals, objects, textures, micrographs, astronomy, text)")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".jfif")


@dataclass
class Photo:
    name: str
    data: bytes           # the file: what the list holds the hash of
    pixels: np.ndarray    # (H, W) grey or (H, W, 3) RGB uint8, decoded from data
    seed: int             # the seed of this photo's transforms

    @property
    def image(self) -> Image.Image:
        return Image.fromarray(self.pixels, "L" if self.pixels.ndim == 2 else "RGB")


def _pixels_of(data: bytes, name: str, max_side: int | None) -> tuple[np.ndarray, bytes]:
    px = decode(data)
    im = px.image if px.image is not None else Image.fromarray(px.array)
    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    if max_side and max(im.size) > max_side:
        # the listed photo is the downscaled one: its file is written again losslessly
        s = max_side / max(im.size)
        im = im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))),
                       Image.Resampling.LANCZOS)
        data = encode(im)
    return np.ascontiguousarray(np.asarray(im)), data


def photo_from_bytes(name: str, data: bytes, max_side: int | None = None) -> Photo:
    pixels, data = _pixels_of(data, name, max_side)
    return Photo(name, data, pixels, zlib.crc32(name.encode()))


def photo_from_array(name: str, arr: np.ndarray) -> Photo:
    """A photo held as a lossless PNG of these pixels (uint8 grey or RGB)."""
    arr = np.ascontiguousarray(arr)
    mode = "L" if arr.ndim == 2 else "RGB"
    return photo_from_bytes(name, encode(Image.fromarray(arr, mode)))


def skimage_photos(names=SKIMAGE_PHOTOS) -> list[Photo]:
    import skimage.data  # the bench extra; only the benchmark needs it

    out = []
    for name in names:
        arr = getattr(skimage.data, name)()
        if isinstance(arr, tuple):  # stereo_motorcycle: (left, right, disparity)
            arr = arr[0]
        if arr.ndim == 3 and arr.shape[2] == 4:
            arr = arr[:, :, :3]
        out.append(photo_from_array(name, np.asarray(arr, dtype=np.uint8)))
    return out


def folder_photos(directory: str, max_side: int | None, log) -> list[Photo]:
    """Every image file directly in ``directory`` (by name order); files that do not
    decode are reported and left out."""
    if not os.path.isdir(directory):
        raise ValueError(f"{directory}: not a folder")
    out = []
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if not os.path.isfile(path) or not entry.lower().endswith(IMAGE_SUFFIXES):
            continue
        with open(path, "rb") as f:
            data = f.read()
        try:
            out.append(photo_from_bytes(entry, data, max_side))
        except (TidehashError, OSError, ValueError) as exc:
            log(f"  left out {path}: {exc}")
    return out
