"""vPDQ text and JSON: the parsers and printers (``parse_vpdq``, ``format_vpdq``,
``read_vpdq``, ``write_vpdq``, ``vpdq_to_json``, ``vpdq_from_json``; the hashing is
tidehash.video's) and the two list formats, one video a file:

* ``vpdq``: Meta's text, one ``frame,quality,hex,timestamp`` line a hashed frame
  (``0,100,f8f8...9b22,0.000``); blank lines skipped;
* ``vpdq-json``: python-threatexchange's JSON list of ``"hex,quality,timestamp"``
  (``["f8f8...9b22,100,0.0", ...]``); frame numbers are list positions and timestamps
  have 3 significant digits, as that library writes them.

A file is one entry of the ``vpdq`` signal type (its features; id 1); a bad frame line
is reported and skipped, the video keeps its other frames. All-zero frame hashes are
kept: the reference emits them for frames it cannot hash. Writing takes a list of
exactly one video (JSON lines hold many).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator

from ..errors import HashFormatError
from ..hashes import VPDQFeature
from ._stream import ChunkReader
from .model import HashRecord

NAME = "vpdq"
JSON_NAME = "vpdq-json"
MAX_JSON_BYTES = 1 << 30


# ----------------------------------------------------------------------------- text
def format_vpdq(features: Iterable[VPDQFeature]) -> str:
    """The reference's text: one ``frame,quality,hex,timestamp`` line per frame."""
    return "".join(f.to_line() + "\n" for f in features)


def write_vpdq(features: Iterable[VPDQFeature], path) -> None:
    """Write the text format to ``path``, atomically (tidehash._atomic)."""
    from .._atomic import atomic_file

    with atomic_file(path) as out:
        for f in features:
            out.write((f.to_line() + "\n").encode("ascii"))


def iter_vpdq(lines: Iterable[str], name: str = "<vpdq>",
              on_error: Callable[[int, str, str], None] | None = None
              ) -> Iterator[VPDQFeature]:
    """Parse the text format line by line; blank lines are skipped. A malformed line
    raises HashFormatError naming its line number, or, given ``on_error``, is passed
    to ``on_error(line_number, line, reason)`` and skipped."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            feature = VPDQFeature.from_line(line, where)
        except HashFormatError as exc:
            if on_error is None:
                raise
            on_error(number, line, str(exc).replace(f"{where}: ", "", 1))
            continue
        yield feature


def parse_vpdq(text: str) -> list[VPDQFeature]:
    return list(iter_vpdq(text.splitlines()))


def read_vpdq(path) -> list[VPDQFeature]:
    """The features of a vPDQ text file. A malformed line, or a byte that is not
    ASCII (a binary file), raises HashFormatError naming the line."""
    name = os.fspath(path)
    with open(path, encoding="ascii", errors="surrogateescape") as lines:
        return list(iter_vpdq(_ascii_lines(lines, name), name))


def _ascii_lines(lines: Iterable[str], name: str) -> Iterator[str]:
    for number, line in enumerate(lines, 1):
        if not line.isascii():
            byte = next(ord(c) - 0xDC00 for c in line if not c.isascii())
            raise HashFormatError(f"{name}:{number}: not vPDQ text (byte {byte:#04x} is "
                                  "not ASCII; a binary file?)")
        yield line


# ----------------------------------------------------------------------------- JSON
def vpdq_to_json(features: Iterable[VPDQFeature]) -> str:
    """python-threatexchange's JSON form: a list of ``"hex,quality,timestamp"``
    strings, the timestamp formatted as its ``f"{t:.3}"`` (3 significant digits).
    Frame numbers are not part of that form."""
    return json.dumps([f"{f.hex},{f.quality},{f.timestamp:.3}" for f in features])


def vpdq_from_json(text: str | bytes,
                   on_error: Callable[[int, str, str], None] | None = None
                   ) -> list[VPDQFeature]:
    """Read python-threatexchange's JSON form (``str``, or ``bytes`` in UTF-8, -16
    or -32 as ``json.loads`` takes them). Frame numbers, absent from it, are the
    positions in the list. Bytes that are not such text (a binary file) or a
    malformed item raise HashFormatError, or, for an item, given ``on_error``, it
    is passed to ``on_error(item_index, item, reason)`` and skipped."""
    try:
        items = json.loads(text or "[]")
    except UnicodeDecodeError as exc:
        raise HashFormatError(
            f"vPDQ JSON: not text (byte {exc.object[exc.start]:#04x} at offset {exc.start} "
            f"is not {exc.encoding.upper()}; a binary file?)") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise HashFormatError(f"vPDQ JSON: {exc}") from None
    if not isinstance(items, list):
        raise HashFormatError("vPDQ JSON: expected a list of \"hex,quality,timestamp\" strings")
    out = []
    for i, item in enumerate(items):
        where = f"vPDQ JSON item {i}"
        parts = item.split(",") if isinstance(item, str) else []
        try:
            if len(parts) != 3:
                raise HashFormatError(f"{where}: expected \"hex,quality,timestamp\", "
                                      f"got {item!r:.80}")
            out.append(VPDQFeature.from_fields(str(i), parts[1], parts[0], parts[2], where))
        except HashFormatError as exc:
            if on_error is None:
                raise
            on_error(i, item if isinstance(item, str) else repr(item),
                     str(exc).replace(f"{where}: ", "", 1))
    return out


# ----------------------------------------------------------------------------- list formats


def read(source, ctx):
    reader = ChunkReader(source, ctx.chunk_size, ctx.max_line)

    def texts():
        expected = 1
        for line, raw in reader.lines(ctx.too_long):
            while expected < line:  # a line too long, reported already: keep numbering
                yield ""
                expected += 1
            yield raw.decode("utf-8", "surrogateescape")
            expected += 1

    def bad(line: int, text: str, reason: str) -> None:
        ctx.bad(line, reason, text)

    features = tuple(iter_vpdq(texts(), ctx.name, on_error=bad))
    if features:
        yield HashRecord("vpdq", None, 1, source=ctx.name, features=features, line=1)


def read_json(source, ctx):
    try:
        text = source.read_all(MAX_JSON_BYTES).decode("utf-8-sig")
    except (ValueError, UnicodeDecodeError) as exc:
        ctx.bad(1, f"not a vPDQ JSON document ({exc})")
        return

    def bad(item: int, text: str, reason: str) -> None:
        ctx.bad(1, f"item {item}: {reason}", text)

    try:
        features = tuple(vpdq_from_json(text, on_error=bad))
    except HashFormatError as exc:
        ctx.bad(1, str(exc), text)
        return
    if features:
        yield HashRecord("vpdq", None, 1, source=ctx.name, features=features, line=1)


def _one_video(hash_list, fmt: str) -> list:
    others = [s for s in hash_list.signals if s != "vpdq"]
    videos = hash_list.vpdq
    if others or len(videos) != 1:
        raise ValueError(f"the {fmt} format holds one video; the list has {len(videos)} "
                         f"vPDQ videos{' and ' + ', '.join(others) if others else ''} "
                         "(JSON lines hold any list)")
    return videos.features[0]


def write(hash_list, out, signal: str | None = None) -> int:
    out.write(format_vpdq(_one_video(hash_list, NAME)).encode("ascii"))
    return 1


def write_json(hash_list, out, signal: str | None = None) -> int:
    out.write((vpdq_to_json(_one_video(hash_list, JSON_NAME)) + "\n").encode("ascii"))
    return 1
