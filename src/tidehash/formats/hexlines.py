"""Plain hex: one hash a line, 64 hex digits for PDQ (or SHA-256), 32 for MD5, 16
for pHash.

    f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22
    # comments and blank lines are skipped

Either case; CRLF, a UTF-8 BOM and blanks around the hash are accepted. A list holds
one hash type: ``signal=`` says which, otherwise the first hash line's length does
(64 digits read as PDQ). Ids are line numbers. Written lower-case, one line per
unique hash.
"""

from __future__ import annotations

from ._lines import WRITE_ROWS, hex_line_block, one_signal, read_hex_lines
from ._stream import ChunkReader

NAME = "hex"
SIGNALS = ("pdq", "md5", "sha256", "phash")


def read(source, ctx, signal: str):
    if signal not in SIGNALS:
        raise ValueError(f"a hex list holds {', '.join(SIGNALS)} hashes, not {signal}")
    reader = ChunkReader(source, ctx.chunk_size, ctx.max_line)
    yield from read_hex_lines(reader, ctx, "plain", signal)


def write(hash_list, out, signal: str | None = None) -> int:
    signal = one_signal(hash_list, signal, SIGNALS, NAME)
    rows = hash_list[signal].hashes
    for i in range(0, len(rows), WRITE_ROWS):
        out.write(hex_line_block(rows[i:i + WRITE_ROWS]))
    return len(rows)
