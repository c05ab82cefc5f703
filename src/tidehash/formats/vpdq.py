"""vPDQ, one video a file, through tidehash.video's parsers and printers:

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

from ..errors import HashFormatError
from ..video import format_vpdq, iter_vpdq, vpdq_from_json, vpdq_to_json
from ._stream import ChunkReader
from .model import HashRecord

NAME = "vpdq"
JSON_NAME = "vpdq-json"
MAX_JSON_BYTES = 1 << 30


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
