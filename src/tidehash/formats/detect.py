"""Telling a hash list's format from its first bytes.

* ``<`` -> NCMEC XML; ``{`` or ``[`` with a ``"hashRecords"`` key -> StopNCII pages;
  other ``{`` -> JSON lines; other ``[`` -> vPDQ JSON;
* otherwise the first line (of the first 100) that looks like a hash line decides:
  bare hex -> plain hex (its length gives the type: 64 digits PDQ, 32 MD5, 16 pHash),
  ``hex,quality[,name]`` or ``hash=`` -> PDQ CSV, ``frame,quality,hex,timestamp`` ->
  vPDQ text, ``<known type> <value>`` -> python-threatexchange.
"""

from __future__ import annotations

import re

from ._stream import UTF16_BOMS
from .pytx import ROTATIONS, TAGS

SNIFF_BYTES = 64 << 10
_HEX = re.compile(rb"[0-9a-fA-F]+")
_CSV = re.compile(rb"[0-9a-fA-F]{64},[0-9]{0,3}(,|$)")
_VPDQ = re.compile(rb"[0-9]+,[0-9]+,[0-9a-fA-F]{64},[0-9.]+")
_HEX_SIGNAL = {64: "pdq", 32: "md5", 16: "phash"}


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
        if _HEX.fullmatch(line):
            return "hex", _HEX_SIGNAL.get(len(line), "pdq")
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
            return _HEX_SIGNAL.get(len(line), "pdq")
    return "pdq"
