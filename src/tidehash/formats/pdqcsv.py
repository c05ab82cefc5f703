"""The PDQ C++ tool's output (``pdq-photo-hasher``): ``hash,quality,filename``.

    f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22,100,photos/a,b.jpg

The reference prints the filename unquoted, so it is the rest of the line, commas and
all (its trailing blanks are trimmed like every line's). The filename becomes the
entry's label, the quality its quality; ids are line numbers. Also read: a line
without the filename (``hash,quality``), an empty quality (``hash,,name``: no quality),
the tool's ``--details`` form (``hash=...,norm=...,delta=...,quality=...,filename=...``),
blank lines and ``#`` comments. PDQ only. Written one line per entry.

Quoting, the one rule of the reader and of every writer (``write_list``, ``tidehash
hash --format pdq-csv``): a filename the rest-of-line rule cannot carry is written
quoted, ``"..."``, and a filename field that starts with ``"`` is read that way. In
quotes a ``"`` is doubled (as in CSV) and a backslash, a line feed and a carriage
return are written ``\\``, ``\n`` and ``\r``, so every entry stays on one line. Quoted
are the filenames that contain CR or LF, start with ``"``, or start or end with a blank
(space or tab); every other filename, commas included, is written as the reference
writes it. An empty filename is no filename.
"""

from __future__ import annotations

import re

import numpy as np

from ._lines import WRITE_ROWS, Batch, hex_strings, one_signal, read_hex_lines
from ._stream import ChunkReader
from .model import ZERO_PDQ, HashRecord, hex_problem

NAME = "pdqcsv"


_QUOTE = 0x22
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", '"': '""'}
_UNESCAPE = re.compile(r'""|\\[\\nr]')
_UNESCAPED = {'""': '"', "\\\\": "\\", "\\n": "\n", "\\r": "\r"}


def format_filename(name: str) -> str:
    """The filename field as written (see the module's docstring for the rule)."""
    if not name or not (name[0] in '" \t' or name[-1] in " \t" or "\n" in name
                        or "\r" in name):
        return name
    return '"' + "".join(_ESCAPES.get(c, c) for c in name) + '"'


def parse_filename(field: str) -> str | None:
    """A filename field as read: unquoted when it starts with ``"``; None when the
    quotes are not closed at the end of the line."""
    if not field.startswith('"'):
        return field
    if len(field) < 2 or not field.endswith('"'):
        return None
    body = field[1:-1]
    if '"' in body.replace('""', ""):  # a lone quote inside: not closed where it should be
        return None
    return _UNESCAPE.sub(lambda m: _UNESCAPED[m.group(0)], body)


def line(hex_text: str, quality, name: str | None) -> str:
    """One entry's line (``quality`` None or < 0: none)."""
    q = "" if quality is None or quality < 0 else quality
    if name is None or name == "":
        return f"{hex_text},{q}\n"
    return f"{hex_text},{q},{format_filename(name)}\n"


def read(source, ctx):
    if not ctx.wants("pdq"):
        raise ValueError(f"the PDQ CSV format holds PDQ hashes only, not {ctx.signal}")
    reader = ChunkReader(source, ctx.chunk_size, ctx.max_line)

    def slow(line: int, raw: bytes):
        rec = parse_details(line, raw, ctx)
        if rec is not None:
            yield rec

    for item in read_hex_lines(reader, ctx, "pdqcsv", "pdq", slow):
        if isinstance(item, Batch) and item.labels is not None:
            item = _unquote(item, ctx)
        yield item


def _unquote(batch: Batch, ctx) -> Batch:
    """The batch with its quoted filenames unquoted (a vectorised look for a leading
    quote first: most lists have none)."""
    data, ends = batch.labels
    starts = np.concatenate(([0], ends[:-1])) if len(ends) else ends
    nonempty = ends > starts
    if not nonempty.any() or not (data[starts[nonempty]] == _QUOTE).any():
        return batch
    names, keep = [], np.ones(len(ends), bool)
    for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist())):
        raw = data[a:b].tobytes()
        if raw[:1] == b'"':
            name = parse_filename(raw.decode("utf-8", "surrogateescape"))
            if name is None:
                line_no = int(batch.ids[i])
                ctx.bad(line_no, "a quoted filename whose quotes do not close",
                        raw)
                keep[i] = False
                continue
            raw = name.encode("utf-8", "surrogateescape")
        names.append(raw)
    blob = np.frombuffer(b"".join(names), np.uint8).copy()
    new_ends = np.cumsum([len(n) for n in names], dtype=np.int64)
    q = batch.quality[keep] if batch.quality is not None else None
    return Batch(batch.signal, batch.hashes[keep], batch.ids[keep], batch.source_code, q,
                 (blob, new_ends))


def parse_details(line: int, raw: bytes, ctx) -> HashRecord | None:
    """``hash=<hex>,norm=<n>,delta=<n>,quality=<q>,filename=<rest of line>``."""
    text = raw.decode("utf-8", "surrogateescape").strip(" \t\r")
    head, sep, filename = text.partition(",filename=")
    fields = dict(f.partition("=")[::2] for f in head.split(","))
    value = fields.get("hash", "")
    problem = hex_problem(value, 32, "pdq")
    if problem is None and not any(bytes.fromhex(value)):
        problem = ZERO_PDQ
    quality = fields.get("quality", "")
    if problem is None and not (quality.isdigit() and len(quality) <= 3 and int(quality) <= 100):
        problem = f"quality {quality!r} is not an integer in 0..100"
    if problem is not None:
        ctx.bad(line, problem, raw)
        return None
    return HashRecord("pdq", value.lower(), line, int(quality), filename or None, ctx.name,
                      line=line)


def write(hash_list, out, signal: str | None = None) -> int:
    one_signal(hash_list, signal, ("pdq",), NAME)
    group = hash_list.pdq
    n = group.n_entries
    rows = group.entry_row
    for i in range(0, n, WRITE_ROWS):
        j = min(n, i + WRITE_ROWS)
        hexes = hex_strings(group.hashes[rows[i:j]])
        quality = group.quality[i:j].tolist() if group.quality is not None else [-1] * (j - i)
        lines = [line(hexes[k], quality[k], group.label(entry))
                 for k, entry in enumerate(range(i, j))]
        out.write("".join(lines).encode("utf-8", "surrogateescape"))
    return n
