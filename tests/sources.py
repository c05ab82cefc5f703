"""Test helpers: streams of every kind, the digest oracle, and image files made
in memory (every format the digest tests decode through the hashing reader)."""

from __future__ import annotations

import hashlib
import io
import struct

import numpy as np
from PIL import Image


def oracle(data: bytes) -> dict:
    """hashlib's digests of the bytes: the oracle of every digest test."""
    return {"md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}


class NonSeekable(io.RawIOBase):
    """A pipe-like stream: no seek, reads of at most ``chunk`` bytes."""

    def __init__(self, data: bytes, chunk: int = 1000):
        self._buf = io.BytesIO(data)
        self._chunk = chunk

    def readable(self):
        return True

    def seekable(self):
        return False

    def readinto(self, b):
        data = self._buf.read(min(len(b), self._chunk))
        b[:len(data)] = data
        return len(data)


class ReadOnly:
    """Only read(): no readinto, no seekable, no name."""

    def __init__(self, data: bytes):
        self._buf = io.BytesIO(data)

    def read(self, n=-1):
        return self._buf.read(n)


class Counting(io.RawIOBase):
    """A seekable stream over bytes that counts the bytes read from it, and may
    return short reads (at most ``short`` bytes a call) as a raw stream may."""

    def __init__(self, data: bytes, short: int | None = None):
        self._buf = io.BytesIO(data)
        self._short = short
        self.bytes_read = 0
        self.reads = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=io.SEEK_SET):
        return self._buf.seek(offset, whence)

    def tell(self):
        return self._buf.tell()

    def readinto(self, b):
        n = len(b) if self._short is None else min(len(b), self._short)
        data = self._buf.read(n)
        b[:len(data)] = data
        self.bytes_read += len(data)
        self.reads += 1
        return len(data)


def smooth_rgb(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, h // 16), max(2, w // 16), 3), dtype=np.uint8)
    big = np.asarray(Image.fromarray(small).resize((w, h), Image.BILINEAR), dtype=np.int16)
    return np.clip(big + rng.integers(-6, 7, big.shape, dtype=np.int16), 0, 255).astype(np.uint8)


def tiff_ifd_at_end(rgb: np.ndarray, rows_per_strip: int) -> bytes:
    """An uncompressed RGB TIFF with several strips, written strips first and the
    IFD (with the strip offsets) at the very end, strips stored in reverse order:
    the decoder reads the 8-byte header, jumps to the end, then seeks back."""
    h, w, _ = rgb.shape
    strips = [rgb[y:y + rows_per_strip].tobytes() for y in range(0, h, rows_per_strip)]
    body = b""
    offsets = [0] * len(strips)
    pos = 8
    for i in reversed(range(len(strips))):
        offsets[i] = pos + len(body)
        body += strips[i]
    ifd_offset = pos + len(body)
    ifd_offset += ifd_offset % 2
    body += b"\0" * (ifd_offset - pos - len(body))
    n = len(strips)
    entries_count = 10
    extra = ifd_offset + 2 + entries_count * 12 + 4  # where arrays go, after the IFD
    bits_at, offs_at, counts_at = extra, extra + 6, extra + 6 + 4 * n
    entries = [
        (256, 4, 1, w), (257, 4, 1, h), (258, 3, 3, bits_at), (259, 3, 1, 1),
        (262, 3, 1, 2), (273, 4, n, offs_at), (277, 3, 1, 3), (278, 4, 1, rows_per_strip),
        (279, 4, n, counts_at), (284, 3, 1, 1),
    ]
    assert len(entries) == entries_count
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        if typ == 3 and count == 1:
            ifd += struct.pack("<HHIHH", tag, typ, count, value, 0)
        else:
            ifd += struct.pack("<HHII", tag, typ, count, value)
    ifd += struct.pack("<I", 0)
    arrays = struct.pack("<3H", 8, 8, 8) + struct.pack(f"<{n}I", *offsets)
    arrays += struct.pack(f"<{n}I", *[len(s) for s in strips])
    return b"II*\0" + struct.pack("<I", ifd_offset) + body + ifd + arrays


def encoded(fmt: str) -> tuple[bytes, np.ndarray | None]:
    """(file bytes, the exact pixels for lossless formats or None)."""
    rgb = smooth_rgb(120, 170, {"JPEG": 1, "PNG": 2, "GIF": 3}.get(fmt, 4))
    buf = io.BytesIO()
    if fmt == "TIFF-ifd-at-end":
        return tiff_ifd_at_end(rgb, rows_per_strip=16), rgb
    if fmt == "GIF-animated":
        frames = [Image.fromarray(smooth_rgb(120, 170, 10 + i)).convert("P") for i in range(4)]
        frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50)
        return buf.getvalue(), None
    if fmt == "TIFF-multistrip-lzw":
        Image.fromarray(rgb).save(buf, "TIFF", compression="tiff_lzw", rowsperstrip=8)
        return buf.getvalue(), rgb
    if fmt == "TIFF-multistrip":
        Image.fromarray(rgb).save(buf, "TIFF", rowsperstrip=8)
        return buf.getvalue(), rgb
    if fmt == "WEBP":
        Image.fromarray(rgb).save(buf, "WEBP", quality=80)
        return buf.getvalue(), None
    if fmt == "JPEG-progressive":
        Image.fromarray(rgb).save(buf, "JPEG", quality=90, progressive=True)
        return buf.getvalue(), None
    if fmt == "MPO":
        Image.fromarray(rgb).save(buf, "MPO", save_all=True,
                                  append_images=[Image.fromarray(smooth_rgb(120, 170, 9))])
        return buf.getvalue(), None
    Image.fromarray(rgb).save(buf, fmt)
    lossless = fmt in ("PNG", "BMP")
    return buf.getvalue(), (rgb if lossless else None)


DECODE_FORMATS = ["JPEG", "JPEG-progressive", "MPO", "PNG", "TIFF-multistrip",
                  "TIFF-multistrip-lzw", "TIFF-ifd-at-end", "GIF", "GIF-animated", "WEBP", "BMP"]
