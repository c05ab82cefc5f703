"""Hashing files: one record per input, errors carried in the record in batches.

hash_files is a pure function of its inputs (no global state), so a cluster
engine (Dask, Ray) can ship it to workers as is."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image

from ._checks import max_pixels_limit, positive_count
from .digest import DIGEST_ALGORITHMS, DigestingReader, file_digests, hexdigests, new_hashers
from .errors import DecodeError
from .hashes import PDQHash
from .image import (
    DEFAULT_MAX_PIXELS,
    NOT_AN_IMAGE,
    Pixels,
    Source,
    load_image,
    normalize,
    open_stream,
    source_name,
)
from .pdq import hash_pixels, split_hashes
from .phash import phash
from .video import VideoError, VPDQHashes, check_seconds_per_hash, vpdq_hash


@dataclass(frozen=True)
class FileHashes:
    """The hashes of one file. Fields not requested (or not computed) are None;
    ``md5`` and ``sha256`` are lowercase hex. ``error`` is set, and every hash
    (digests included) is None, when the file could not be hashed.

    ``kind`` is "image" or "video" (told apart by content; None when only digests
    were asked for). A video has ``vpdq`` (VPDQHashes) instead of ``pdq``; when its
    stream was damaged, ``vpdq`` holds the frames hashed and ``warning`` says what
    went wrong."""

    path: str
    pdq: PDQHash | None = None
    pdq_dihedral: tuple[PDQHash, ...] | None = None
    phash: str | None = None  # 16 hex digits, as str(imagehash.phash(Image.open(path)))
    md5: str | None = None
    sha256: str | None = None
    vpdq: list | None = None
    error: str | None = None
    kind: str | None = None
    warning: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        out: dict = {"path": self.path}
        if self.kind is not None:
            out["kind"] = self.kind
        if self.pdq is not None:
            out["pdq"] = self.pdq.hex
            out["quality"] = self.pdq.quality
        if self.pdq_dihedral is not None:
            out["pdq_dihedral"] = [h.hex for h in self.pdq_dihedral]
        for key in ("phash", "md5", "sha256"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.vpdq is not None:
            out["vpdq"] = [f.to_json() for f in self.vpdq]
        if self.warning is not None:
            out["warning"] = self.warning
        return out


#: The names ``hash_file`` and ``hash_files`` accept in ``algorithms``.
ALGORITHMS = ("pdq", "phash", "md5", "sha256", "vpdq")
#: Those that need the image decoded.
_IMAGE_ALGORITHMS = ("pdq", "phash")
#: Those that a video answers (a video's PDQ is its vPDQ).
_VIDEO_ALGORITHMS = ("pdq", "vpdq")


def check_algorithms(algorithms: str | Iterable[str]) -> frozenset[str]:
    """Validate ``algorithms``: one name or an iterable of names from ALGORITHMS."""
    names = (algorithms,) if isinstance(algorithms, str) else tuple(algorithms)
    unknown = sorted({repr(n) for n in names if n not in ALGORITHMS})
    if unknown:
        raise ValueError(f"unknown algorithm(s) {', '.join(unknown)}; "
                         f"valid: {', '.join(ALGORITHMS)}")
    if not names:
        raise ValueError(f"no algorithm given; valid: {', '.join(ALGORITHMS)}")
    return frozenset(names)


@dataclass(frozen=True)
class _FileRead:
    """What one read of a file gives."""

    image: Image.Image | None  # loaded as Pillow opens it: own mode, no EXIF transpose
    pixels: Pixels | None  # ``image`` under the decoding policy: what PDQ hashes
    digests: dict[str, str]  # {"md5": hex, "sha256": hex}, those requested
    video: VPDQHashes | None = None  # the file was a video


def _read_file(source: Source, name: str, *, decode_image: bool, video: bool,
               digests: tuple[str, ...], max_pixels: int | None, fast: bool,
               seconds_per_hash: float) -> _FileRead:
    """Decode the image or the video (if asked) and compute the digests in one read
    of the file. A file Pillow does not recognise is tried as a video when
    ``video`` is set: images and videos are told apart by content, not by name.

    The Pillow image is decoded into this thread's reusable buffer: whatever is
    computed from ``image`` or ``pixels`` must be computed before this thread
    decodes its next file."""
    if not decode_image and not video:
        # Digests only: nothing is decoded, so any file works (a video, a text file).
        try:
            return _FileRead(None, None, file_digests(source, digests))
        except OSError as exc:
            raise DecodeError(name, exc.strerror or str(exc)) from None
    hashers = new_hashers(digests)
    stream, owned = open_stream(source, name, hashers)
    try:
        try:
            # with only vPDQ asked for, an image is recognised from its header, not decoded
            image = load_image(stream, name, max_pixels=max_pixels, reuse_buffer=True,
                               fast=fast, header_only=not decode_image)
        except DecodeError as exc:
            if not video or exc.reason != NOT_AN_IMAGE:
                raise
            stream.seek(0)
            # PyAV reads the same stream, so the digests still cost no second read
            features = _hash_video(stream, name, seconds_per_hash, max_pixels)
            return _FileRead(None, None, _finish(stream, hashers), features)
        pixels = normalize(image, name) if decode_image else None
        return _FileRead(image, pixels, _finish(stream, hashers))
    except OSError as exc:  # reading the bytes the decoder left (I/O error)
        raise DecodeError(name, exc.strerror or str(exc)) from None
    finally:
        if owned is not None:
            owned.close()


def _finish(stream, hashers) -> dict[str, str]:
    if isinstance(stream, DigestingReader):
        return stream.finish()  # the bytes the decoder did not read
    return hexdigests(hashers)  # hashed while read into memory


def _hash_video(stream, name: str, seconds_per_hash: float,
                max_pixels: int | None) -> VPDQHashes:
    try:
        return vpdq_hash(stream, seconds_per_hash, max_pixels=max_pixels)
    except VideoError as exc:
        if exc.reason.startswith(("not a readable video", "not a video")):
            raise DecodeError(name, "not a recognised image or video format") from None
        raise DecodeError(name, exc.reason) from None


def hash_file(source: Source, *, algorithms: str | Iterable[str] = ("pdq",),
              dihedral: bool = False, fast: bool = False, seconds_per_hash: float = 1.0,
              max_pixels: int | None = DEFAULT_MAX_PIXELS) -> FileHashes:
    """Hash one file (path, bytes or binary file object) with ``algorithms``.

    ``algorithms`` is a subset of ALGORITHMS ("pdq", "phash", "md5", "sha256",
    "vpdq"); the other fields of the record stay None. "md5" and "sha256" are
    the lowercase hex digests of the file bytes, computed in the same read that
    decodes the image or video; with only digests requested nothing is decoded
    and any file works. "phash" is imagehash's 64-bit pHash (hex) of the image as
    Pillow opens it. A file that is not an image is hashed as a video when
    "pdq" or "vpdq" is asked for: ``vpdq`` then holds its vPDQ (one frame every
    ``seconds_per_hash``) and ``pdq`` stays None; "vpdq" alone on an image, or
    "phash" on a video, leaves that field None.

    ``dihedral=True`` also fills ``pdq_dihedral`` (the 8 variants). ``fast=True``
    decodes JPEGs of 1024 px and more on the short side scaled down in the DCT
    domain (at 12 MP: 2.2x faster, 3.7 bits from the exact hash on average, 16 at
    most; benchmarks/RESULTS.md); it is not applied when "phash" is requested, as
    pHash must match imagehash on the full image.

    A file object is read from its current position to its end. Raises
    DecodeError (ImageTooLargeError over ``max_pixels``) for a file that cannot
    be read or, when an image hash is requested, decoded: no digests are returned
    then either (in hash_files the record carries ``error`` and no hash)."""
    wanted = check_algorithms(algorithms)
    if dihedral and "pdq" not in wanted:
        raise ValueError("dihedral=True needs 'pdq' in algorithms")
    seconds_per_hash = check_seconds_per_hash(seconds_per_hash)
    max_pixels = max_pixels_limit(max_pixels)
    name = source_name(source)
    read = _read_file(source, name, decode_image=not wanted.isdisjoint(_IMAGE_ALGORITHMS),
                      video=not wanted.isdisjoint(_VIDEO_ALGORITHMS),
                      digests=tuple(a for a in DIGEST_ALGORITHMS if a in wanted),
                      max_pixels=max_pixels, fast=fast and "phash" not in wanted,
                      seconds_per_hash=seconds_per_hash)
    fields: dict = dict(read.digests)
    if read.video is not None:
        return FileHashes(path=name, kind="video", vpdq=read.video,
                          warning=read.video.error, **fields)
    if read.image is None:  # digests only
        return FileHashes(path=name, **fields)
    if read.pixels is None:  # an image, but only vPDQ was asked for
        return FileHashes(path=name, kind="image", **fields)
    if "pdq" in wanted:
        raw, quality = hash_pixels(read.pixels, dihedral)
        if dihedral:
            variants = tuple(split_hashes(raw, quality, 8))
            fields.update(pdq=variants[0], pdq_dihedral=variants)
        else:
            fields["pdq"] = PDQHash(raw, quality)
    if "phash" in wanted:
        # the image as imagehash.phash(Image.open(path)) sees it: its own mode, no EXIF
        # transpose, not the PDQ decoding policy (I;16, CMYK, YCbCr differ there)
        fields["phash"] = phash(read.image).hex
    return FileHashes(path=name, kind="image", **fields)


def _hash_or_error(source: Source, algorithms: frozenset[str], dihedral: bool, fast: bool,
                   seconds_per_hash: float, max_pixels: int | None) -> FileHashes:
    try:
        return hash_file(source, algorithms=algorithms, dihedral=dihedral, fast=fast,
                         seconds_per_hash=seconds_per_hash, max_pixels=max_pixels)
    except DecodeError as exc:
        return FileHashes(path=exc.source, error=exc.reason)
    except Exception as exc:  # noqa: BLE001 -- a batch goes past a bad item and reports it
        # (a file object of the caller's that raises anything, a decoder's own bug)
        return FileHashes(path=source_name(source), error=f"{type(exc).__name__}: {exc}")


def hash_files(sources: Iterable[Source], *, algorithms: str | Iterable[str] = ("pdq",),
               workers: int | None = None, dihedral: bool = False, fast: bool = False,
               seconds_per_hash: float = 1.0,
               max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Iterator[FileHashes]:
    """Hash many files; yields one FileHashes per input, in input order.

    ``algorithms``, ``dihedral``, ``fast``, ``seconds_per_hash`` and ``max_pixels``
    are as for hash_file
    (checked here, before the first file). A bad file does not stop the batch:
    its record carries ``error`` and no hash (digests included). ``workers``
    threads decode and hash concurrently (Pillow's decoders, hashlib and the PDQ
    kernel release the GIL); default: the number of CPUs. At most 2 x workers
    files are in flight, so an endless iterator of paths streams in bounded memory."""
    wanted = check_algorithms(algorithms)
    if dihedral and "pdq" not in wanted:
        raise ValueError("dihedral=True needs 'pdq' in algorithms")
    if workers is None:
        workers = os.cpu_count() or 1
    workers = positive_count("workers", workers)
    seconds_per_hash = check_seconds_per_hash(seconds_per_hash)
    max_pixels = max_pixels_limit(max_pixels)
    return _hash_files(sources, wanted, workers, dihedral, fast, seconds_per_hash, max_pixels)


def _hash_files(sources: Iterable[Source], wanted: frozenset[str], workers: int,
                dihedral: bool, fast: bool, seconds_per_hash: float,
                max_pixels: int | None) -> Iterator[FileHashes]:
    args = (wanted, dihedral, fast, seconds_per_hash, max_pixels)
    if workers == 1:
        for src in sources:
            yield _hash_or_error(src, *args)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tidehash") as pool:
        pending: deque = deque()
        for src in sources:
            pending.append(pool.submit(_hash_or_error, src, *args))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
