"""MD5 and SHA-256 of file bytes, streamed in chunks, and a reader that hashes
the bytes a decoder reads, so that hashing and decoding cost one read of the file.

Registries match exact copies (and videos) by MD5 / SHA-256 of the file bytes,
so these must be exactly ``hashlib``'s digests of those bytes, whatever order a
decoder reads and seeks in.

Which bytes are "the file":
* a path: the whole file;
* bytes, bytearray, memoryview: all of them;
* a binary file object: the bytes from its **current position** to its end,
  i.e. what ``f.read()`` would return (as ``hashlib.file_digest`` does). A
  non-seekable stream has nothing else to offer, and treating a seekable one the
  same way keeps the two consistent; ``tidehash.hash_file`` decodes the image
  from the same position, so all the hashes of a record describe one byte string.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable
from typing import Any

from .errors import DecodeError

#: The digest names, in the order records and dicts list them.
DIGEST_ALGORITHMS = ("md5", "sha256")

#: Read size when the digest code reads on its own (gaps, tails, digest-only files).
CHUNK_SIZE = 1 << 20

Hashers = dict  # name -> hashlib object


def digest_names(algorithms: str | Iterable[str]) -> tuple[str, ...]:
    """Validate digest names: a name or an iterable of names from DIGEST_ALGORITHMS.
    Returns them deduplicated, in DIGEST_ALGORITHMS order."""
    names = (algorithms,) if isinstance(algorithms, str) else tuple(algorithms)
    unknown = sorted({str(n) for n in names} - set(DIGEST_ALGORITHMS))
    if unknown:
        raise ValueError(f"unknown digest algorithm(s) {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(DIGEST_ALGORITHMS)}")
    if not names:
        raise ValueError(f"no digest algorithm given; valid: {', '.join(DIGEST_ALGORITHMS)}")
    return tuple(n for n in DIGEST_ALGORITHMS if n in names)


def new_hashers(names: Iterable[str]) -> Hashers:
    return {name: hashlib.new(name) for name in names}


def hexdigests(hashers: Hashers) -> dict[str, str]:
    return {name: h.hexdigest() for name, h in hashers.items()}


def _update(hashers: Hashers, data) -> None:
    # hashlib releases the GIL for updates over 2 KB, so threads hash in parallel
    for h in hashers.values():
        h.update(data)


def _check_binary(data) -> None:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected a binary file object, but read() returned "
                        f"{type(data).__name__}")


def hash_stream(stream, hashers: Hashers, limit: int | None = None,
                buffer: bytearray | None = None) -> int:
    """Feed ``stream`` from its position to the hashers: ``limit`` bytes at most
    (to its end when None), in CHUNK_SIZE reads. Returns the byte count."""
    total = 0
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        if buffer is None:
            buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        while limit is None or total < limit:
            want = len(view) if limit is None else min(len(view), limit - total)
            n = readinto(view[:want])
            if not n:  # 0 at the end; None from a non-blocking stream with no data yet
                break
            _update(hashers, view[:n])
            total += n
        return total
    while limit is None or total < limit:
        chunk = stream.read(CHUNK_SIZE if limit is None else min(CHUNK_SIZE, limit - total))
        if not chunk:
            break
        _check_binary(chunk)
        _update(hashers, chunk)
        total += len(chunk)
    return total


def read_all(stream, hashers: Hashers, limit: int | None = None, name: str = "<file>"
             ) -> bytes:
    """The rest of a (typically non-seekable) stream, hashed as it is read.

    For a decoder that needs to seek: the bytes must be kept in memory anyway,
    so they are hashed on the way in rather than read twice. More than ``limit``
    bytes is a DecodeError (the rest is not read)."""
    parts = []
    total = 0
    while True:
        chunk = stream.read(CHUNK_SIZE)
        if not chunk:
            break
        _check_binary(chunk)
        total += len(chunk)
        if limit is not None and total > limit:
            raise DecodeError(name, f"more than {limit} bytes from a pipe or stream; "
                                    "save it to a file to hash it")
        _update(hashers, chunk)
        parts.append(chunk)
    return b"".join(parts)


def file_digests(source: Any, algorithms: str | Iterable[str] = DIGEST_ALGORITHMS
                 ) -> dict[str, str]:
    """MD5 and/or SHA-256 of a file, as lowercase hex: ``{"md5": ..., "sha256": ...}``.

    ``source`` is a path, bytes-like, or a binary file object (hashed from its
    current position to its end, as ``hashlib.file_digest`` does; it need not be
    seekable). Files are read in 1 MiB chunks, never whole into memory. Any file
    works (an empty one too); OSError (missing file, directory, ...) propagates."""
    hashers = new_hashers(digest_names(algorithms))
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb", buffering=0) as fh:
            hash_stream(fh, hashers)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        _update(hashers, memoryview(source).cast("B"))
    elif hasattr(source, "read"):
        hash_stream(source, hashers)
    else:
        raise TypeError(
            f"expected a path, bytes or a binary file object, not {type(source).__name__}")
    return hexdigests(hashers)


class DigestingReader(io.RawIOBase):
    """A read-only, seekable view of a binary stream that feeds each byte to the
    hashers the first time it is read, in file order, whatever the reader does.

    * The view starts at the stream's current position (its offset 0 there).
    * Reading inside the region already hashed re-reads without re-hashing.
    * Reading past it (after a forward seek) first hashes the gap, reading it.
    * ``finish()`` drains the bytes nobody read into the hashers and returns the
      hex digests, which are then exactly hashlib's digests of the whole view.

    Seeks are lazy (a decoder that seeks to the end for the size and back reads
    nothing extra). Pillow reads it like any file: it has no ``fileno()`` and no
    ``name``, so no decoder (libtiff, the raw-mode mmap) reads the file behind its
    back. The underlying stream is never closed by it."""

    def __init__(self, raw, hashers: Hashers):
        super().__init__()
        self._raw = raw
        self._hashers = hashers
        self._base = raw.tell()
        self._pos = 0  # the reader's position, relative to _base
        self._raw_pos: int | None = 0  # where raw is, relative to _base (None: unknown)
        self._hashed = 0  # bytes [0, _hashed) have gone into the hashers
        self._buffer: bytearray | None = None

    # io.RawIOBase protocol
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._pos + offset
        elif whence == io.SEEK_END:
            target = self._length() + offset
        else:
            raise ValueError(f"invalid whence ({whence!r})")
        if target < 0:
            raise OSError(22, "negative seek position")
        self._pos = target
        return target

    def read(self, size: int | None = -1) -> bytes:
        if self._pos > self._hashed:
            self._hash_up_to(self._pos)
        self._move_raw(self._pos)
        data = self._raw.read() if size is None or size < 0 else self._raw.read(size)
        if data is None:
            return None  # a non-blocking stream with nothing yet, as io does
        _check_binary(data)
        end = self._pos + len(data)
        if data and self._pos > self._hashed:
            # the gap ended at the end of the file, yet there are bytes here now
            raise OSError("the file changed while it was being read")
        if data and end > self._hashed:
            skip = self._hashed - self._pos  # >= 0 here
            _update(self._hashers, memoryview(data)[skip:] if skip else data)
            self._hashed = end
        self._pos = self._raw_pos = end
        return bytes(data)

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, b) -> int:
        data = self.read(len(memoryview(b).cast("B")))
        n = len(data)
        memoryview(b).cast("B")[:n] = data
        return n

    def close(self) -> None:  # never closes the stream it reads
        super().close()

    # hashing
    def finish(self) -> dict[str, str]:
        """Hash the bytes not read yet (the unread tail and any gap) and return the
        hex digests of the whole view."""
        self._hash_up_to(None)
        return hexdigests(self._hashers)

    def _hash_up_to(self, stop: int | None) -> None:
        """Read [_hashed, stop) (to the end for None) into the hashers. Only an
        empty read ends it: a short read is not taken for the end of the file."""
        self._move_raw(self._hashed)
        if self._buffer is None:
            self._buffer = bytearray(CHUNK_SIZE)
        limit = None if stop is None else stop - self._hashed
        self._hashed += hash_stream(self._raw, self._hashers, limit, self._buffer)
        self._raw_pos = self._hashed

    def _move_raw(self, pos: int) -> None:
        if self._raw_pos != pos:
            self._raw.seek(self._base + pos)
            self._raw_pos = pos

    def _length(self) -> int:
        end = self._raw.seek(0, io.SEEK_END)
        self._raw_pos = None
        return max(0, end - self._base)
