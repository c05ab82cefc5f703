"""``tidehash hash --format csv``: a header line, then one CSV row a file.

    path,kind,pdq,quality,phash,md5,sha256,error
    photos/a.jpg,image,f8f8f0ce...9b22,100,,d41d8cd9...427e,,

Read only (write JSON lines or another list format). Fields are CSV-quoted as
Python's csv module writes them, so a path with a comma, a quote or a line break
reads back as it was. Each row gives one entry per hash field (pdq with its quality,
phash, md5, sha256), sharing the path as label; ids are the row's first line number.
A row with an ``error`` (a file that could not be hashed) or with no hash is a bad
line. A video's vPDQ is not in this format (``tidehash hash`` says so when it
leaves it out).
"""

from __future__ import annotations

import csv

from ._stream import ChunkReader
from .model import HASH_BYTES, ZERO_PDQ, HashRecord, hex_problem

NAME = "csv"
#: the header ``tidehash hash --format csv`` writes (its CSV_FIELDS are this)
HEADER = ("path", "kind", "pdq", "quality", "phash", "md5", "sha256", "error")
HEADER_LINE = ",".join(HEADER).encode()
_SIGNALS = ("pdq", "md5", "sha256", "phash")


def read(source, ctx):
    reader = ChunkReader(source, ctx.chunk_size, ctx.max_line)
    starts: list[int] = []

    def texts():
        for line, raw in reader.lines(ctx.too_long):
            starts.append(line)
            yield raw.decode("utf-8", "surrogateescape") + "\n"

    rows = csv.reader(texts(), strict=True)
    first = True
    while True:
        starts.clear()
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:
            ctx.bad(starts[0] if starts else reader.line, f"not CSV ({exc})")
            continue
        line = starts[0] if starts else reader.line
        if first:
            first = False
            if tuple(row) != HEADER:
                ctx.bad(line, f"expected the header {','.join(HEADER)}", ",".join(row))
                return
            continue
        if not row or row == [""]:
            continue
        yield from _records(row, line, ctx)


def _records(row: list[str], line: int, ctx) -> list[HashRecord]:
    shown = ",".join(row)
    if len(row) != len(HEADER):
        ctx.bad(line, f"expected {len(HEADER)} fields, got {len(row)}", shown)
        return []
    fields = dict(zip(HEADER, row))
    if fields["error"]:
        ctx.bad(line, f"no hash: {fields['path']} could not be hashed ({fields['error']})",
                shown)
        return []
    signals = [s for s in _SIGNALS if fields[s] and ctx.wants(s)]
    if not signals:
        ctx.bad(line, "no hash field", shown)
        return []
    label = fields["path"] or None
    out = []
    for signal in signals:
        value = fields[signal]
        problem = hex_problem(value, HASH_BYTES[signal], signal)
        if problem is None and signal == "pdq" and not any(bytes.fromhex(value)):
            problem = ZERO_PDQ
        quality = None
        if problem is None and signal == "pdq" and fields["quality"]:
            q = fields["quality"]
            if q.isdigit() and len(q) <= 3 and int(q) <= 100:
                quality = int(q)
            else:
                problem = f"quality {q!r:.40} is not an integer in 0..100"
        if problem is not None:
            ctx.bad(line, f"{signal}: {problem}", shown)
            continue
        out.append(HashRecord(signal, value.lower(), line, quality, label, ctx.name,
                              line=line))
    return out
