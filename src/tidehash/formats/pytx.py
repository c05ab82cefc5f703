"""python-threatexchange's ``<type> <hash>`` lines, as ``threatexchange hash`` prints
them (signal names from its SignalType.get_name(): ``pdq``, ``video_md5``,
``video_sha256``, ``vpdq``):

    pdq f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22
    video_md5 d41d8cd98f00b204e9800998ecf8427e

Also read: ``md5`` / ``sha256`` for the video_ names, ``phash`` (tidehash's own, pytx
has no pHash type), a ``vpdq`` line's hash being its JSON list, and the rotation
prefix of ``threatexchange hash --photo-preprocess=rotations``
(``ROTATE90 pdq <hex>``, kept as the entry's label; ``tidehash hash --dihedral
--format pytx`` writes these lines: ``rotation_lines``). Blank lines and ``#`` comments
are skipped. A line whose tag is unknown (``pdqx ...``), or of a type other than
``signal=`` when given, is a bad line. Ids are line numbers. Written one line per
unique hash (per video for vPDQ), types in the order pdq, md5, sha256, phash, vpdq.
"""

from __future__ import annotations

import re

from ..errors import HashFormatError
from ._lines import WRITE_ROWS, hex_line_block, read_hex_lines
from ._stream import ChunkReader
from .model import HASH_BYTES, ZERO_PDQ, HashRecord, hex_problem
from .vpdq import vpdq_from_json, vpdq_to_json

NAME = "pytx"
_BLANKS = re.compile(r"[ \t]+")  # the C parser's blanks: space and tab
TAGS = {"pdq": "pdq", "video_md5": "md5", "md5": "md5", "video_sha256": "sha256",
        "sha256": "sha256", "phash": "phash", "vpdq": "vpdq"}
WRITE_TAGS = {"pdq": "pdq", "md5": "video_md5", "sha256": "video_sha256", "phash": "phash",
              "vpdq": "vpdq"}
# python-threatexchange's RotationType names (content_type/content_base.py), in the
# order of tidehash.pdq.DIHEDRAL_NAMES: its transforms of the image (content_type/
# photo.py: rotate(90) is Pillow's counter-clockwise turn, FLIPX flips top to bottom)
# hash like pdq_hash_dihedral's variants at the same place
ROTATION_NAMES = ("ORIGINAL", "ROTATE90", "ROTATE180", "ROTATE270", "FLIPX", "FLIPY",
                  "FLIPPLUS1", "FLIPMINUS1")
ROTATIONS = frozenset(ROTATION_NAMES)


def read(source, ctx):
    reader = ChunkReader(source, ctx.chunk_size, ctx.max_line)

    def slow(line: int, raw: bytes):
        rec = parse_line(line, raw, ctx)
        if rec is not None:
            yield rec

    if ctx.wants("pdq"):
        yield from read_hex_lines(reader, ctx, "pytx", "pdq", slow)
        return
    for line, raw in reader.lines(ctx.too_long):  # another type asked for: no fast path
        yield from slow(line, raw)


def parse_line(line: int, raw: bytes, ctx) -> HashRecord | None:
    """One line the C parser did not take (anything but ``pdq <hex>``)."""
    text = raw.decode("utf-8", "surrogateescape").lstrip(" \t").rstrip(" \t\r")
    if not text or text.startswith("#"):
        return None
    parts = _BLANKS.split(text, 1)
    label = None
    if len(parts) == 2 and parts[0] in ROTATIONS:
        label = parts[0]
        parts = _BLANKS.split(parts[1], 1)
    if len(parts) != 2:
        ctx.bad(line, "expected '<type> <hash>'", raw)
        return None
    tag, value = parts
    signal = TAGS.get(tag.lower())
    if signal is None:
        ctx.bad(line, f"unknown type tag {tag!r}", raw)
        return None
    if not ctx.wants(signal):
        ctx.bad(line, f"wrong type tag {tag!r} in a {ctx.signal} list", raw)
        return None
    if signal == "vpdq":
        try:
            features = tuple(vpdq_from_json(value))
        except HashFormatError as exc:
            ctx.bad(line, str(exc), raw)
            return None
        return HashRecord("vpdq", None, line, label=label, source=ctx.name,
                          features=features, line=line)
    problem = hex_problem(value, HASH_BYTES[signal], signal)
    if problem is None and signal == "pdq" and not any(bytes.fromhex(value)):
        problem = ZERO_PDQ
    if problem is not None:
        ctx.bad(line, problem, raw)
        return None
    return HashRecord(signal, value.lower(), line, label=label, source=ctx.name, line=line)


def rotation_lines(variants) -> list[str]:
    """The lines of the 8 dihedral PDQ hashes (hex, in pdq_hash_dihedral's order) but
    the original, which is the plain ``pdq <hex>`` line: ``ROTATE90 pdq <hex>``, as
    ``threatexchange hash --photo-preprocess=rotations`` prints them."""
    variants = list(variants)
    if len(variants) != len(ROTATION_NAMES):
        raise ValueError(f"expected {len(ROTATION_NAMES)} dihedral hashes, got {len(variants)}")
    return [f"{name} pdq {hex_}\n" for name, hex_ in zip(ROTATION_NAMES[1:], variants[1:])]


def write(hash_list, out, signal: str | None = None) -> int:
    written = 0
    for name in hash_list.signals if signal is None else (signal,):
        group = hash_list[name]
        tag = WRITE_TAGS[name]
        if name == "vpdq":
            for feats in group.features:
                out.write(f"vpdq {vpdq_to_json(feats)}\n".encode())
            written += len(group)
            continue
        prefix = f"{tag} ".encode()
        for i in range(0, len(group), WRITE_ROWS):
            out.write(hex_line_block(group.hashes[i:i + WRITE_ROWS], prefix))
        written += len(group)
    return written

