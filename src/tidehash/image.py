"""The decoding policy: which pixels are hashed.

Compatibility with existing hash lists decides it (DESIGN.md):
* Pillow, full resolution; EXIF orientation is NOT applied (rotations are caught
  by dihedral matching, and reference hashes are made without it);
* alpha is dropped without compositing; palettes are expanded;
* 16-bit grey samples keep their high byte;
* CMYK, YCbCr, LA, I, F (and other rare modes) go through Pillow's conversion to RGB;
* grey images (L, and 1 as 0/255) hash their grey value directly.

Fast mode (opt-in, ``fast=True``) is the one exception to "full resolution": a
JPEG (or MPO) at least 2 x FAST_MIN_SIDE on its short side is decoded scaled by
1/2, 1/4 or 1/8 in the DCT domain (Pillow's ``draft``): at 12 MP about 2x faster
for a few bits of PDQ difference (measured in benchmarks/RESULTS.md).

Pixels reach the kernel either as a Pillow image read in place through its Arrow
export (4 bytes per pixel for RGB/RGBA/RGBX, 1 for L) or as a C-contiguous uint8
NumPy array of shape (H, W), (H, W, 3) or (H, W, 4). A caller's own pixels (an
array, or a Pillow image already open) are checked here too (``check_pixel_array``,
``load_pil``), for every hash that takes them.
"""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import threading
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
import PIL
from PIL import Image, UnidentifiedImageError

from .digest import DigestingReader, Hashers, read_all
from .errors import DecodeError, ImageTooLargeError

#: DecodeError.reason of a file Pillow does not recognise (tidehash.files then tries video).
NOT_AN_IMAGE = "not a recognised image format"

#: A pipe or non-seekable file object is read whole into memory (decoders seek); more
#: than this many bytes is refused (save it to a file first).
MAX_UNSEEKABLE_BYTES = 4 << 30

#: Default decompression-bomb limit, in pixels (Pillow's own error threshold).
DEFAULT_MAX_PIXELS = 2 * 89_478_485

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Any]

_DIRECT_MODES = ("L", "RGB", "RGBA", "RGBX")
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
_PREALLOCATE_FORMATS = ("JPEG", "MPO", "PNG", "TIFF", "BMP", "PPM")
_DRAFT_FORMATS = ("JPEG", "MPO")

#: Fast mode decodes a JPEG scaled by 1/2, 1/4 or 1/8 in the DCT domain, keeping at
#: least this many pixels on its short side (chosen by measurement: benchmarks/RESULTS.md).
FAST_MIN_SIDE = 512


@dataclass(frozen=True)
class Pixels:
    """What the kernel reads: a Pillow image in a direct mode, or a uint8 array."""

    image: Image.Image | None = None
    array: np.ndarray | None = None


def source_name(source: Source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    return str(getattr(source, "name", "<file>"))


def open_stream(source: Source, name: str, hashers: Hashers | None = None):
    """A seekable binary stream over the bytes of ``source`` for Pillow, and the
    file to close afterwards (None when the caller owns the stream).

    A binary file object is read from its current position to its end (the bytes
    ``f.read()`` would return): a seekable one through a view that starts there,
    a non-seekable one by reading it into memory. With ``hashers`` (tidehash.digest)
    every byte of the file also goes into them exactly once: the stream returned
    is then a DigestingReader (call ``finish()`` after decoding) or the bytes were
    hashed as they were read into memory."""
    if isinstance(source, (str, os.PathLike)):
        try:
            mode = os.stat(source).st_mode
            if stat.S_ISDIR(mode):
                raise DecodeError(name, "is a directory")
            if not stat.S_ISREG(mode):
                # a pipe (<(cat photo.jpg)), a FIFO, a device: opened like any file
                # (a FIFO with no writer yet blocks until one comes, as with cat) and
                # read once into memory, since a decoder must seek
                with open(source, "rb", buffering=0) as fh:
                    data = read_all(fh, hashers or {}, limit=MAX_UNSEEKABLE_BYTES, name=name)
                if not data:
                    raise DecodeError(name, "empty file")
                stream = io.BytesIO(data)
                return stream, stream
            fh = open(source, "rb")
            if os.fstat(fh.fileno()).st_size == 0:
                # a size of 0 is not proof of no bytes (/proc and /sys files say 0
                # and have content): read it once, and only no bytes at all is empty
                with fh:
                    data = read_all(fh, hashers or {}, limit=MAX_UNSEEKABLE_BYTES, name=name)
                if not data:
                    raise DecodeError(name, "empty file")
                stream = io.BytesIO(data)
                return stream, stream
        except OSError as exc:
            raise DecodeError(name, exc.strerror or str(exc)) from None
        return (DigestingReader(fh, hashers) if hashers else fh), fh
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise DecodeError(name, "empty file")
        if hashers:
            for h in hashers.values():
                h.update(source)
        return io.BytesIO(bytes(source)), None
    if hasattr(source, "read"):
        seekable = getattr(source, "seekable", None)
        if seekable is None or not seekable():
            try:
                data = read_all(source, hashers or {}, limit=MAX_UNSEEKABLE_BYTES, name=name)
            except OSError as exc:
                raise DecodeError(name, exc.strerror or str(exc)) from None
            if not data:
                raise DecodeError(name, "empty file")
            stream = io.BytesIO(data)
            return stream, stream
        # Pillow seeks to 0 before it reads: a view starting here makes "0" the
        # current position, as for a non-seekable stream
        try:
            if hashers or source.tell() != 0:
                return DigestingReader(source, hashers or {}), None
        except OSError as exc:
            raise DecodeError(name, exc.strerror or str(exc)) from None
        return source, None
    raise TypeError(f"expected a path, bytes or a binary file object, not {type(source).__name__}")


def _check_size(im: Image.Image, name: str, max_pixels: int | None) -> None:
    w, h = im.size
    if w <= 0 or h <= 0:
        raise DecodeError(name, f"image has no pixels ({w}x{h})")
    if max_pixels is not None and w * h > max_pixels:
        raise ImageTooLargeError(
            name, f"{w}x{h} = {w * h} pixels exceeds the limit of {max_pixels} "
                  "(decompression-bomb guard; raise max_pixels, or --max-pixels, to "
                  "allow it)")


# tidehash's max_pixels is the one decompression-bomb guard of a tidehash decode, in the
# API as on the command line: Pillow's own check (a raw DecompressionBombWarning from
# PIL.Image.MAX_IMAGE_PIXELS, a refusal above twice that, whatever max_pixels says)
# must not apply inside it. PIL.Image.MAX_IMAGE_PIXELS is process-global, and so is
# warnings.catch_warnings before Python 3.14: changing either inside a library call
# would race with other threads. So Pillow's check function (which Image.open and the
# plugins look up on the module at each call) is wrapped once: in a thread decoding
# for tidehash it applies max_pixels (to every size Pillow checks: frames, crops,
# sub-images), and everywhere else it is Pillow's own check, unchanged.
_bomb_scope = threading.local()
_PILLOW_CHECK = getattr(Image, "_decompression_bomb_check", None)


def _tidehash_bomb_check(size, *args, **kwargs):
    limit = getattr(_bomb_scope, "max_pixels", _PILLOW_CHECK)
    if limit is _PILLOW_CHECK:  # not inside a tidehash decode
        return _PILLOW_CHECK(size, *args, **kwargs)
    if limit is not None:
        w, h = max(1, size[0]), max(1, size[1])
        if w * h > limit:
            raise Image.DecompressionBombError(
                f"{w}x{h} = {w * h} pixels exceeds the limit of {limit} (decompression-bomb "
                "guard; raise max_pixels, or --max-pixels, to allow it)")
    return None


_tidehash_bomb_check.pillow_check = _PILLOW_CHECK  # type: ignore[attr-defined]
_OWN_BOMB_CHECK = callable(_PILLOW_CHECK)
if _OWN_BOMB_CHECK:
    if hasattr(_PILLOW_CHECK, "pillow_check"):  # module reloaded: wrap Pillow's, not ours
        _PILLOW_CHECK = _PILLOW_CHECK.pillow_check
        _tidehash_bomb_check.pillow_check = _PILLOW_CHECK  # type: ignore[attr-defined]
    Image._decompression_bomb_check = _tidehash_bomb_check


class _max_pixels_scope:
    """Inside it, this thread's Pillow bomb checks apply ``max_pixels`` (None: none)."""

    def __init__(self, max_pixels: int | None) -> None:
        self.max_pixels = max_pixels

    def __enter__(self) -> None:
        self.previous = getattr(_bomb_scope, "max_pixels", _PILLOW_CHECK)
        _bomb_scope.max_pixels = self.max_pixels

    def __exit__(self, *exc) -> None:
        _bomb_scope.max_pixels = self.previous


def _pillow_refused(exc: Exception, max_pixels: int | None) -> str:
    """Why Pillow's own bomb check refused an image that ``max_pixels`` may allow."""
    limit = Image.MAX_IMAGE_PIXELS
    return (f"{exc} Pillow's own limit (2 x PIL.Image.MAX_IMAGE_PIXELS = "
            f"{2 * limit if limit else limit}) is below max_pixels={max_pixels}: raise "
            "PIL.Image.MAX_IMAGE_PIXELS, or set it to None to leave max_pixels the only "
            "guard (the tidehash command line does)")


_decode_buffers = threading.local()


def _preallocate_single_block(im: Image.Image, reuse: bool) -> None:
    """Decode into one contiguous block so the Arrow export can be read in place.

    Pillow splits images over 16 MB into several blocks, which its Arrow export
    refuses; a decoder reuses an image already allocated with its mode and size.
    With ``reuse`` the block is kept for the next file of the same mode and size
    decoded by this thread (one block per thread): a fresh 48 MB block costs about
    12,000 page faults to touch, more than the hash itself. Only for callers that
    are done with the pixels before they decode the next file.
    Purely an optimisation: if it does not take, the pixels are copied instead."""
    # Only formats whose load() decodes into an image already allocated with
    # their mode and size (ICO, ICNS, GBR would take it as "already loaded").
    if im.mode not in _DIRECT_MODES or im.format not in _PREALLOCATE_FORMATS or not im.tile:
        return
    new_block = getattr(Image.core, "new_block", None)
    if new_block is None:
        return
    try:
        key = (im.mode, im.size)
        cached = getattr(_decode_buffers, "block", None) if reuse else None
        if cached is not None and cached[0] == key:
            block = cached[1]
        else:
            block = new_block(im.mode, im.size)
            if reuse:
                _decode_buffers.block = (key, block)
        im.im = block
    except Exception:  # noqa: BLE001 - an optimisation must never break decoding
        pass


def _draft_for_fast_mode(im: Image.Image) -> None:
    """Fast mode: let libjpeg scale a large JPEG by 1/2, 1/4 or 1/8 in the DCT
    domain, keeping at least FAST_MIN_SIDE pixels on the short side. Any other
    image, and a JPEG under twice that size, is decoded exactly as in exact mode."""
    if im.format not in _DRAFT_FORMATS or min(im.size) // FAST_MIN_SIDE < 2:
        return
    # Pillow picks the largest factor s in (8, 4, 2) with short side // s >= the
    # requested side; the mode "RGB" asks for no colour conversion (only "L" and
    # "YCbCr" would change the decoded mode).
    im.draft("RGB", (FAST_MIN_SIDE, FAST_MIN_SIDE))


def load_image(stream, name: str, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
               reuse_buffer: bool = False, fast: bool = False,
               header_only: bool = False) -> Image.Image:
    """Open and load one image from a seekable binary stream (as from open_stream).

    Returns the loaded Pillow image as Pillow opens it: its own mode, no EXIF
    transpose (what ``imagehash`` hashes from ``Image.open(path)``); ``normalize``
    then applies the mode policy for PDQ. The pixel limit applies to the size the
    file declares, before any pixel is decoded (and before fast mode shrinks it).
    ``header_only=True`` returns the opened image unloaded (recognising it is enough)."""
    with _max_pixels_scope(max_pixels):
        return _load_image(stream, name, max_pixels, reuse_buffer, fast, header_only)


def _bomb_refused(name: str, exc: Exception, max_pixels: int | None) -> ImageTooLargeError:
    if _OWN_BOMB_CHECK:  # the refusal is tidehash's own, at max_pixels
        return ImageTooLargeError(name, str(exc))
    return ImageTooLargeError(name, _pillow_refused(exc, max_pixels))


def _load_image(stream, name: str, max_pixels: int | None, reuse_buffer: bool, fast: bool,
                header_only: bool) -> Image.Image:
    try:
        im = Image.open(stream)
    except UnidentifiedImageError:
        raise DecodeError(name, NOT_AN_IMAGE) from None
    except Image.DecompressionBombError as exc:
        raise _bomb_refused(name, exc, max_pixels) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError,
            struct.error) as exc:
        raise DecodeError(name, f"cannot read image header: {exc}") from None
    _check_size(im, name, max_pixels)
    if header_only:  # the caller only needs to know it is an image
        return im
    if fast:
        _draft_for_fast_mode(im)
    _preallocate_single_block(im, reuse_buffer)
    try:
        im.load()
    except Image.DecompressionBombError as exc:
        raise _bomb_refused(name, exc, max_pixels) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError,
            struct.error) as exc:
        raise DecodeError(name, f"cannot decode image: {exc}") from None
    except MemoryError:
        raise DecodeError(name, "not enough memory to decode the image") from None
    return im


def decode(source: Source, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
           reuse_buffer: bool = False, fast: bool = False) -> Pixels:
    """Decode a file (path, bytes or binary file object) under the decoding policy.

    ``reuse_buffer=True`` decodes into a per-thread buffer that the next call in
    the same thread overwrites: only for callers that consume the pixels at once.
    ``fast=True`` decodes large JPEGs scaled down in the DCT domain (see
    FAST_MIN_SIDE); everything else decodes as in exact mode (the default)."""
    name = source_name(source)
    stream, owned = open_stream(source, name)
    try:
        im = load_image(stream, name, max_pixels=max_pixels, reuse_buffer=reuse_buffer,
                        fast=fast)
        return normalize(im, name)
    finally:
        if owned is not None:
            owned.close()


def normalize(im: Image.Image, name: str = "<image>") -> Pixels:
    """Apply the mode policy to a loaded Pillow image."""
    mode = im.mode
    try:
        if mode in _DIRECT_MODES:
            return Pixels(image=im)
        if mode == "1":
            return Pixels(image=im.convert("L"))
        if mode in ("P", "PA"):
            return Pixels(image=im.convert("RGBA"))  # palette expanded, alpha then ignored
        if mode in _SIXTEEN_BIT:
            arr = np.asarray(im)
            return Pixels(array=np.ascontiguousarray((arr >> 8).astype(np.uint8)))
        return Pixels(image=im.convert("RGB"))
    except (ValueError, OSError) as exc:
        raise DecodeError(name, f"unsupported image mode {mode!r}: {exc}") from None


def pillow_version() -> tuple[int, int]:
    """(major, minor) of the installed Pillow."""
    m = re.match(r"(\d+)\.(\d+)", PIL.__version__)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


# Pillow before 13 crashes (SIGSEGV) exporting an image that maps a foreign buffer
# (``readonly``: what Image.frombuffer and Image.fromarray of L or RGBA arrays return).
_ARROW_EXPORTS_FOREIGN_BUFFERS = pillow_version() >= (13, 0)


def arrow_capsules(im: Image.Image):
    """(schema, array) capsules of a Pillow image in place, or None if unavailable
    (older Pillow, an image stored in several blocks, or a foreign buffer that
    Pillow < 13 cannot export safely)."""
    if im.readonly and not _ARROW_EXPORTS_FOREIGN_BUFFERS:
        return None
    export = getattr(im, "__arrow_c_array__", None)
    if export is None:
        return None
    try:
        return export()
    except (ValueError, OSError, AttributeError):
        return None


def pil_to_array(im: Image.Image) -> np.ndarray:
    """A copy of a direct-mode image as (H, W), (H, W, 3) or (H, W, 4) uint8."""
    return np.ascontiguousarray(np.asarray(im))


# ----------------------------------------------------------------------------- callers' pixels
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


def load_pil(image: Image.Image) -> Image.Image:
    """Load a caller's Pillow image; ValueError if it cannot be read or is empty."""
    try:
        image.load()
    except Exception as exc:
        raise ValueError(f"cannot load the Pillow image: {exc}") from exc
    if image.size[0] <= 0 or image.size[1] <= 0:
        raise ValueError(f"image has no pixels ({image.size[0]}x{image.size[1]})")
    return image
