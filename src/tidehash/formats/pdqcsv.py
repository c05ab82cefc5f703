"""The PDQ C++ tool's output (``pdq-photo-hasher``): ``hash,quality,filename``.

    f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22,100,photos/a,b.jpg

The reference prints the filename unquoted, so it is the rest of the line, commas and
all (its trailing blanks are trimmed like every line's). The filename becomes the
entry's label, the quality its quality; ids are line numbers. Also read: a line
without the filename (``hash,quality``), an empty quality (``hash,,name``: no quality),
the tool's ``--details`` form (``hash=...,norm=...,delta=...,quality=...,filename=...``),
blank lines and ``#`` comments. PDQ only. Written one line per entry.
"""

from __future__ import annotations

from ._lines import WRITE_ROWS, hex_strings, one_signal, read_hex_lines
from ._stream import ChunkReader
from .model import ZERO_PDQ, HashRecord, hex_problem

NAME = "pdqcsv"


def read(source, ctx):
    if not ctx.wants("pdq"):
        raise ValueError(f"the PDQ CSV format holds PDQ hashes only, not {ctx.signal}")
    reader = ChunkReader(source, ctx.chunk_size, ctx.max_line)

    def slow(line: int, raw: bytes):
        rec = parse_details(line, raw, ctx)
        if rec is not None:
            yield rec

    yield from read_hex_lines(reader, ctx, "pdqcsv", "pdq", slow)


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
        lines = []
        for k, entry in enumerate(range(i, j)):
            q = "" if quality[k] < 0 else quality[k]
            label = group.label(entry)
            if label is None:
                lines.append(f"{hexes[k]},{q}\n")
                continue
            if "\n" in label or "\r" in label:
                raise ValueError(f"entry {entry}: a filename with a line break cannot be "
                                 "written as PDQ CSV")
            lines.append(f"{hexes[k]},{q},{label}\n")
        out.write("".join(lines).encode("utf-8", "surrogateescape"))
    return n
