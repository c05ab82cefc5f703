"""Hash-list formats, read and written in chunks.

======================  ========  ==================================================
format                  writable  module
======================  ========  ==================================================
``hex``                 yes       hexlines: one hex hash a line
``pytx``                yes       pytx: python-threatexchange ``pdq <hex>`` lines
``pdqcsv``              yes       pdqcsv: the PDQ C++ tool's ``hash,quality,filename``
``jsonl``               yes       jsonl: one JSON object a line (``tidehash hash``)
``vpdq`` / ``vpdq-json`` yes      vpdq: Meta's vPDQ text / python-threatexchange JSON
``ncmec``               no        ncmec: NCMEC hash-sharing XML, with deletions
``stopncii``            no        stopncii: StopNCII FetchHashes pages, with withdrawals
``tidehash``            no [*]_   binary: tidehash's list file (``tidehash index build``)
======================  ========  ==================================================

.. [*] written by ``save_list`` (and ``tidehash index build``), not ``write_list``:
   it is a binary file, loaded by memory map.

``read_list`` returns a HashList (arrays per hash type, duplicates merged with every
entry kept); ``iter_records`` streams HashRecords; ``write_list`` writes either.

Bad lines (wrong length, not hex, an all-zero PDQ, an unknown or unwanted type tag, a
quality outside 0..100, malformed JSON / XML, a line over ``max_line_bytes``) are
reported as BadLine (source, line number, reason, text) to ``on_error`` and in
``HashList.errors``, and skipped; with ``strict=True`` the first one raises
BadLineError (a HashFormatError) naming file:line.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator

from ..errors import ArgumentNeeded, HashFormatError
from . import _stream, hashcsv, hexlines, jsonl, ncmec, pdqcsv, pytx, stopncii, vpdq
from ._lines import Batch, ReadContext, hex_strings
from ._stream import CHUNK_SIZE, MAX_LINE_BYTES, UTF16_BOMS, Output, Source
from .binary import MAX_PIPED_LIST_BYTES, ListFileError, load_list, load_list_bytes, save_list
from .detect import (
    INDEX_FILE,
    LIST_FILE,
    SNIFF_BYTES,
    binary_kind,
    hex_signal,
    kind_of_prefix,
    sniff,
)
from .detect import (
    LIST_FILE_MAGIC as LIST_FILE_MAGIC,  # public here before detect.py held it
)
from .model import (
    HASH_BYTES,
    SIGNAL_TYPES,
    BadLine,
    BadLineError,
    HashList,
    HashRecord,
    SignalHashes,
    StringColumn,
)

__all__ = [
    "FORMATS", "HASH_BYTES", "SIGNAL_TYPES", "WRITABLE_FORMATS", "BadLine", "BadLineError",
    "HashList", "HashRecord", "ListFileError", "SignalHashes", "StringColumn",
    "detect_format", "iter_records", "load_list", "read_list", "save_list", "write_list",
]

_READERS = {
    "hex": hexlines.read, "pytx": pytx.read, "pdqcsv": pdqcsv.read, "jsonl": jsonl.read,
    "vpdq": vpdq.read, "vpdq-json": vpdq.read_json, "ncmec": ncmec.read,
    "stopncii": stopncii.read, "csv": hashcsv.read,
}
_FINISH = {"ncmec": ncmec.finish, "stopncii": stopncii.finish}
_WRITERS = {
    "hex": hexlines.write, "pytx": pytx.write, "pdqcsv": pdqcsv.write, "jsonl": jsonl.write,
    "vpdq": vpdq.write, "vpdq-json": vpdq.write_json,
}
FORMATS = tuple(_READERS) + ("tidehash",)
WRITABLE_FORMATS = tuple(_WRITERS)


def _list_file(source):
    """A tidehash list file (path, bytes, or a seekable binary file object) loaded,
    or None when ``source`` is not one."""
    if binary_kind(source) != LIST_FILE:
        return None
    if isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
        return load_list(source)
    return load_list(source.read())


def is_regular_list_file(path) -> bool:
    """Whether ``path`` is a regular file holding a list file (``binary_kind``)."""
    return binary_kind(path) == LIST_FILE


def detect_format(source) -> str | None:
    """The format of a list (path, file object or content bytes), from its first
    64 KB; None for one without a single hash line (empty, blank, comments). Raises
    HashFormatError when nothing fits. A file object is read from (pass a path, or
    read_list with format=None, to keep it)."""
    kind = binary_kind(source)
    if kind == LIST_FILE:
        return "tidehash"
    if kind == INDEX_FILE:
        raise HashFormatError(f"{_stream.source_name(source)}: {_INDEX_NOT_A_LIST}")
    with Source(source) as src:
        return _sniff(src)[0]


_INDEX_NOT_A_LIST = ("an index file (Index.save: hash codes and ids only), not a hash "
                     "list; load it with tidehash.Index.load or Matcher.load, from a regular "
                     "file (an index file is memory-mapped: not from a pipe)")


def _sniff(src: Source) -> tuple[str | None, str | None]:
    prefix = src.peek(SNIFF_BYTES)
    kind = kind_of_prefix(prefix)
    if kind == INDEX_FILE:
        raise HashFormatError(f"{src.name}: {_INDEX_NOT_A_LIST}")
    if kind == LIST_FILE:  # from a pipe: a path or seekable input is loaded before
        return "tidehash", None
    fmt, hint = sniff(prefix, len(prefix) < SNIFF_BYTES)
    if fmt == "?":
        raise ArgumentNeeded(f"{src.name}: cannot tell the list's format from its first "
                             "lines", "format", FORMATS)
    return fmt, hint


def _check_args(format: str | None, signal: str | None) -> None:
    if format is not None and format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; expected one of {FORMATS}")
    if signal is not None and signal not in SIGNAL_TYPES:
        raise ValueError(f"unknown signal type {signal!r}; expected one of {SIGNAL_TYPES}")


class _Loaded:
    """A list file met among text lists (read from a pipe), loaded whole."""

    def __init__(self, hash_list: HashList):
        self.hash_list = hash_list


def _load_from_pipe(src: Source) -> HashList:
    try:
        data = src.read_all(MAX_PIPED_LIST_BYTES)
    except ValueError:
        raise ListFileError(f"{src.name}: a list file read from a pipe is limited to "
                            f"{MAX_PIPED_LIST_BYTES} bytes (memory); save it to a file, "
                            "which is memory-mapped instead") from None
    return load_list_bytes(data, src.name)


def _unpeekable(source) -> bool:
    """A path that is not a regular file (a pipe), or a non-seekable binary file
    object: its first bytes cannot be looked at and read again."""
    if isinstance(source, (str, os.PathLike)):
        try:
            return not stat.S_ISREG(os.stat(source).st_mode)
        except OSError:
            return False
    seekable = getattr(source, "seekable", None)
    return hasattr(source, "read") and (seekable is None or not seekable())


def _read(sources, format: str | None, ctx: ReadContext, formats: list) -> Iterator:
    """Batches and HashRecords of every source, then those held back until the end
    (NCMEC entries and StopNCII records, which a later page may remove)."""
    if isinstance(sources, (list, tuple)):
        sources = list(sources)
    else:
        sources = [sources]
    for source in sources:
        with Source(source) as src:
            ctx.start_file(src.name)
            fmt, hint = (format, None) if format is not None else _sniff(src)
            if fmt is None:
                continue  # empty
            if fmt not in formats:
                formats.append(fmt)
            if src.peek(2) in UTF16_BOMS and fmt != "ncmec":  # expat reads UTF-16 itself
                src.decode_utf16()
            if fmt == "tidehash":  # a list file from a pipe: read once, loaded from memory
                yield _Loaded(_load_from_pipe(src))
            elif fmt == "hex":
                signal = ctx.signal or hint or hex_signal(src.peek(SNIFF_BYTES))
                yield from hexlines.read(src, ctx, signal)
            else:
                yield from _READERS[fmt](src, ctx)
    for fmt in formats:
        if fmt in _FINISH:
            ctx.start_file(fmt)
            yield from _FINISH[fmt](ctx)


def read_list(source, format: str | None = None, *, signal: str | None = None,
              strict: bool = False, on_error: Callable[[BadLine], None] | None = None,
              chunk_size: int = CHUNK_SIZE, max_line_bytes: int = MAX_LINE_BYTES
              ) -> HashList:
    """Read a hash list: a path, a binary or text file object, the content as bytes,
    or a list of these (read in order into one list; NCMEC deletions and StopNCII
    withdrawals apply across them).

    ``format``: one of FORMATS, or None to tell it from the content (each file on its
    own). ``signal``: for plain hex, the hashes' type (default: from the first line's
    length); for the other formats, the only type wanted (lines of another type are
    bad lines where the format tags each line, and counted in ``skipped`` in NCMEC
    and StopNCII). Bad lines go to ``on_error`` and ``HashList.errors`` and are
    skipped; ``strict=True`` raises BadLineError at the first. Files are read
    ``chunk_size`` bytes at a time; a line longer than ``max_line_bytes`` is a bad
    line."""
    _check_args(format, signal)
    sources = list(source) if isinstance(source, (list, tuple)) else [source]
    parts: list[HashList] = []
    text: list = []
    for src in sources:
        loaded = _list_file(src) if format in (None, "tidehash") else None
        if loaded is None and format == "tidehash" and not _unpeekable(src):
            raise HashFormatError(f"{_stream.source_name(src)}: not a tidehash list file")
        if loaded is None:
            text.append(src)
            continue
        if text:
            parts.append(_read_text(text, format, signal, strict, on_error, chunk_size,
                                    max_line_bytes))
            text = []
        parts.append(loaded.only(signal))
    if text or not parts:
        parts.append(_read_text(text, format, signal, strict, on_error, chunk_size,
                                max_line_bytes))
    return parts[0] if len(parts) == 1 else HashList.merge(*parts)


def _read_text(sources: list, format, signal, strict, on_error, chunk_size,
               max_line_bytes) -> HashList:
    ctx = ReadContext(strict=strict, on_error=on_error, signal=signal,
                      chunk_size=chunk_size, max_line=max_line_bytes)
    builder = ctx.builder
    formats: list = []
    loaded: list[HashList] = []
    for item in _read(sources, format, ctx, formats):
        if isinstance(item, _Loaded):
            loaded.append(item.hash_list.only(signal))
        elif isinstance(item, Batch):
            builder.add_arrays(item.signal, item.hashes, item.ids, quality=item.quality,
                               source_code=item.source_code, labels=item.labels)
        else:
            builder.add(item, check=False)
    if loaded and formats == ["tidehash"]:  # only list files, from pipes
        return loaded[0] if len(loaded) == 1 else HashList.merge(*loaded)
    text = builder.finish(format=formats[0] if len(formats) == 1 else None)
    return HashList.merge(text, *loaded) if loaded else text


def iter_records(source, format: str | None = None, *, signal: str | None = None,
                 strict: bool = False, on_error: Callable[[BadLine], None] | None = None,
                 chunk_size: int = CHUNK_SIZE, max_line_bytes: int = MAX_LINE_BYTES
                 ) -> Iterator[HashRecord]:
    """The entries of a list as HashRecords, in file order, reading ``chunk_size``
    bytes at a time (arguments as read_list). Duplicates are not merged. NCMEC and
    StopNCII entries come after their last page, once deletions are known."""
    _check_args(format, signal)
    if format in (None, "tidehash"):
        sources = list(source) if isinstance(source, (list, tuple)) else [source]
        loaded = [_list_file(s) for s in sources]
        if any(hl is not None for hl in loaded):
            if not all(hl is not None for hl in loaded):
                raise HashFormatError("iter_records: tidehash list files cannot be mixed "
                                      "with text lists (use read_list)")
            for hl in loaded:
                yield from hl.only(signal).records()
            return
        if format == "tidehash" and not any(_unpeekable(s) for s in sources):
            raise HashFormatError("not a tidehash list file")
    ctx = ReadContext(strict=strict, on_error=on_error, signal=signal,
                      chunk_size=chunk_size, max_line=max_line_bytes)
    for item in _read(source, format, ctx, []):
        if isinstance(item, _Loaded):
            yield from item.hash_list.only(signal).records()
            continue
        if not isinstance(item, Batch):
            yield item
            continue
        hexes = hex_strings(item.hashes)
        ids = item.ids.tolist()
        name = ctx.builder.sources[item.source_code]
        quality = item.quality.tolist() if item.quality is not None else None
        labels = None
        if item.labels is not None:
            data, ends = item.labels
            data = data.tobytes()
            ends = [0] + ends.tolist()
            labels = [data[ends[k]:ends[k + 1]].decode("utf-8", "surrogateescape") or None
                      for k in range(len(hexes))]
        for k, hex_ in enumerate(hexes):
            q = quality[k] if quality is not None and quality[k] >= 0 else None
            yield HashRecord(item.signal, hex_, ids[k], q, labels[k] if labels else None,
                             name, line=ids[k])


def write_list(hashes: HashList | Iterable[HashRecord], dest, format: str, *,
               signal: str | None = None) -> int:
    """Write a HashList (or HashRecords) to a path (atomically: a temporary file
    renamed into place) or a binary / text file object. ``format``: one of
    WRITABLE_FORMATS; ``signal`` picks one hash type (required when a one-type format
    gets a list of several). Returns the number of lines written (hashes, entries or
    videos, as the format writes them)."""
    if format not in _WRITERS:
        raise ValueError(f"cannot write format {format!r}; expected one of {WRITABLE_FORMATS}")
    if signal is not None and signal not in SIGNAL_TYPES:
        raise ValueError(f"unknown signal type {signal!r}; expected one of {SIGNAL_TYPES}")
    hash_list = hashes if isinstance(hashes, HashList) else HashList.from_records(hashes)
    with Output(dest) as out:
        return _WRITERS[format](hash_list, out, signal)

