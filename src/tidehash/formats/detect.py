"""What a file is, from its first bytes: the one place that looks at magic numbers.

``binary_kind`` tells tidehash's two binary files from everything else:

* a **list file** (magic ``TIDELST\\0``, written by ``save_list`` and ``tidehash index
  build``, read by ``load_list``): a whole hash list, every hash type and every entry;
* an **index file** (magic ``TIDEIDX\\0``, written by ``Index.save``, read by
  ``Index.load``): hash codes (PDQ's, or any width) and int64 ids, nothing else.

Anything else is a text list (whose format ``sniff`` tells), an image or a video (which
the decoders tell apart by trying them).

A text list's format, from its first bytes:

* ``<`` -> NCMEC XML; ``{`` or ``[`` with a ``"hashRecords"`` key -> StopNCII pages;
  other ``{`` -> JSON lines; other ``[`` -> vPDQ JSON;
* otherwise the first line (of the first 100) that looks like a hash line decides:
  bare hex -> plain hex (its length gives the type: 64 digits PDQ, 32 MD5, 16 pHash),
  ``hex,quality[,name]`` or ``hash=`` -> PDQ CSV, ``frame,quality,hex,timestamp`` ->
  vPDQ text, ``<known type> <value>`` -> python-threatexchange.
"""

from __future__ import annotations

import io
import os
import re
import stat

from ..hashes import HEX_DIGITS_SIGNAL
from ._stream import UTF16_BOMS
from .hashcsv import HEADER_LINE as HASH_CSV_HEADER
from .pytx import ROTATIONS, TAGS

LIST_FILE = "list"
INDEX_FILE = "index"
LIST_FILE_MAGIC = b"TIDELST\x00"
INDEX_FILE_MAGIC = b"TIDEIDX\x00"
_MAGICS = {LIST_FILE_MAGIC: LIST_FILE, INDEX_FILE_MAGIC: INDEX_FILE}
MAGIC_BYTES = 8

SNIFF_BYTES = 64 << 10
_HEX = re.compile(rb"[0-9a-fA-F]+")
_CSV = re.compile(rb"[0-9a-fA-F]{64},[0-9]{0,3}(,|$)")
_HASH_CSV_HEADER = HASH_CSV_HEADER
_VPDQ = re.compile(rb"[0-9]+,[0-9]+,[0-9a-fA-F]{64},[0-9.]+")


def kind_of_prefix(prefix) -> str | None:
    """LIST_FILE, INDEX_FILE or None for the first bytes of a file."""
    return _MAGICS.get(bytes(prefix[:MAGIC_BYTES]))


def binary_kind(source) -> str | None:
    """Which of tidehash's binary files ``source`` is: LIST_FILE (``"list"``),
    INDEX_FILE (``"index"``), or None for anything else (a text list, an image, a
    video; a missing or unreadable path, left to its reader to report).

    ``source`` is a path, the content as bytes, or a file object. Nothing is ever
    consumed: a path is opened only when it is a regular file (a pipe such as
    ``<(zcat list.gz)`` or /dev/stdin is never peeked at, since its bytes could not be
    read again), a binary file object only when it is seekable (and is put back where
    it was); a text file object or a pipe is None."""
    if isinstance(source, (str, os.PathLike)):
        try:
            if not stat.S_ISREG(os.stat(source).st_mode):
                return None
            with open(source, "rb") as f:
                return kind_of_prefix(f.read(MAGIC_BYTES))
        except OSError:
            return None
    if isinstance(source, (bytes, bytearray, memoryview)):
        return kind_of_prefix(source)
    if isinstance(source, io.TextIOBase) or hasattr(source, "encoding"):
        return None
    seekable = getattr(source, "seekable", None)
    if seekable is None or not seekable():
        return None
    start = source.tell()
    try:
        head = source.read(MAGIC_BYTES)
    finally:
        source.seek(start)
    return kind_of_prefix(head) if isinstance(head, bytes) else None


def sniff(prefix: bytes, complete: bool) -> tuple[str | None, str | None]:
    """(format, hash type hint) from the first bytes of a list: (None, None) when it
    holds nothing but blank and comment lines, ("?", None) when nothing fits.
    ``complete``: the prefix is the whole input."""
    if prefix[:2] in UTF16_BOMS:
        try:
            prefix = prefix.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            return None, None
    if prefix.startswith(b"\xef\xbb\xbf"):
        prefix = prefix[3:]
    head = prefix.lstrip()
    if not head:
        return None, None  # empty
    if head[:1] == b"<":
        return "ncmec", None
    if head[:1] in (b"{", b"["):
        if b'"hashRecords"' in prefix:
            return "stopncii", None
        return ("jsonl", None) if head[:1] == b"{" else ("vpdq-json", "vpdq")
    lines = prefix.split(b"\n")
    if not complete and len(lines) > 1:
        lines.pop()  # may be cut short
    content = False
    for raw in lines[:100]:
        line = raw.strip(b" \t\r")
        if not line or line.startswith(b"#"):
            continue
        content = True
        if line == _HASH_CSV_HEADER:  # tidehash hash --format csv
            return "csv", None
        if _HEX.fullmatch(line):
            return "hex", HEX_DIGITS_SIGNAL.get(len(line), "pdq")
        if _CSV.match(line) or line.startswith(b"hash="):
            return "pdqcsv", "pdq"
        if _VPDQ.fullmatch(line):
            return "vpdq", "vpdq"
        tokens = line.split(None, 2)
        if tokens and tokens[0].decode("latin-1") in ROTATIONS:
            tokens = tokens[1:]
        if len(tokens) >= 2 and tokens[0].decode("latin-1").lower() in TAGS:
            return "pytx", None
    return ("?" if content or not complete else None), None


def hex_signal(prefix: bytes) -> str:
    """The hash type of a plain hex list, from its first hash line's length."""
    for raw in prefix.split(b"\n")[:100]:
        line = raw.strip(b" \t\r").lstrip(b"\xef\xbb\xbf")
        if line and not line.startswith(b"#") and _HEX.fullmatch(line):
            return HEX_DIGITS_SIGNAL.get(len(line), "pdq")
    return "pdq"
