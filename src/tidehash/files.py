"""Hashing files: one record per input, errors carried in the record in batches.

hash_files is a pure function of its inputs (no global state), so a cluster
engine (Dask, Ray) can ship it to workers as is."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .errors import DecodeError, TidehashError
from .hashes import PDQHash
from .image import DEFAULT_MAX_PIXELS, Source, decode, source_name
from .pdq import _hash_pixels, _split


@dataclass(frozen=True)
class FileHashes:
    """The hashes of one file. Fields not computed are None; ``error`` is set
    (and every hash None) when the file could not be hashed."""

    path: str
    pdq: PDQHash | None = None
    pdq_dihedral: tuple[PDQHash, ...] | None = None
    phash: str | None = None
    md5: str | None = None
    sha256: str | None = None
    vpdq: list | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        out: dict = {"path": self.path}
        if self.pdq is not None:
            out["pdq"] = self.pdq.hex
            out["quality"] = self.pdq.quality
        if self.pdq_dihedral is not None:
            out["pdq_dihedral"] = [h.hex for h in self.pdq_dihedral]
        for key in ("phash", "md5", "sha256"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def hash_file(source: Source, *, dihedral: bool = False,
              max_pixels: int | None = DEFAULT_MAX_PIXELS) -> FileHashes:
    """Decode one file (path, bytes or binary file object) and hash it.

    Raises DecodeError (ImageTooLargeError over ``max_pixels``) for a bad file."""
    pixels = decode(source, max_pixels=max_pixels, reuse_buffer=True)  # hashed right away
    raw, quality = _hash_pixels(pixels, dihedral)
    name = source_name(source)
    if dihedral:
        variants = tuple(_split(raw, quality, 8))
        return FileHashes(path=name, pdq=variants[0], pdq_dihedral=variants)
    return FileHashes(path=name, pdq=PDQHash(raw, quality))


def _hash_or_error(source: Source, dihedral: bool, max_pixels: int | None) -> FileHashes:
    try:
        return hash_file(source, dihedral=dihedral, max_pixels=max_pixels)
    except DecodeError as exc:
        return FileHashes(path=exc.source, error=exc.reason)
    except (TidehashError, ValueError, TypeError, OSError, MemoryError) as exc:
        return FileHashes(path=source_name(source), error=f"{type(exc).__name__}: {exc}")


def hash_files(sources: Iterable[Source], *, workers: int | None = None, dihedral: bool = False,
               max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Iterator[FileHashes]:
    """Hash many files; yields one FileHashes per input, in input order.

    A bad file does not stop the batch: its record carries ``error``. ``workers``
    threads decode and hash concurrently (Pillow's decoders and the PDQ kernel
    release the GIL); default: the number of CPUs. At most 2 x workers files are
    in flight, so an endless iterator of paths streams in bounded memory."""
    if workers is None:
        workers = os.cpu_count() or 1
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if workers == 1:
        for src in sources:
            yield _hash_or_error(src, dihedral, max_pixels)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tidehash") as pool:
        pending: deque = deque()
        for src in sources:
            pending.append(pool.submit(_hash_or_error, src, dihedral, max_pixels))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
