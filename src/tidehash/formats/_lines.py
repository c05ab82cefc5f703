"""What every reader shares: the read context (bad-line reporting, strict mode,
sources) and the driver of the C line parser (csrc/formats/hexlines.c) used by the
plain hex, python-threatexchange and PDQ CSV formats.

Readers are generators of ``Batch`` (arrays from the C parser, valid until the
generator is resumed) and ``HashRecord`` (one entry from a Python parser).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from .. import _native
from ..errors import ArgumentNeeded
from ._stream import CHUNK_SIZE, MAX_LINE_BYTES, ChunkReader
from .model import (
    HASH_BYTES,
    ZERO_PDQ,
    BadLine,
    BadLineError,
    HashRecord,
    ListBuilder,
    hex_problem,
    shown_text,
)

# return values and line codes of hexlines_parse (csrc/formats/hexlines.h)
_DONE, _FULL, _STOP = 0, 1, 2
_LENGTH, _NONHEX, _ZERO, _QUALITY, _SYNTAX, _OTHER = 1, 2, 3, 4, 5, 6
# presized columns are address space until written; past this many rows they grow
MAX_PRESIZE_ROWS = 1 << 26
# the shortest line that gives a hash, per mode, without its hex digits
_MIN_LINE_EXTRA = {"plain": 0, "pytx": 4, "pdqcsv": 1}


@dataclass
class Batch:
    """Entries parsed by the C parser: ``hashes`` (k, nbytes), ``ids`` (their line
    numbers), optional ``quality`` (int16, -1 = none) and ``labels`` (bytes buffer,
    end offsets). The arrays are the parser's buffers: copy before resuming it."""

    signal: str
    hashes: np.ndarray
    ids: np.ndarray
    source_code: int
    quality: np.ndarray | None = None
    labels: tuple | None = None


class ReadContext:
    """State of one read_list / iter_records call, across its files."""

    def __init__(self, *, strict: bool = False, on_error: Callable | None = None,
                 signal: str | None = None, chunk_size: int = CHUNK_SIZE,
                 max_line: int = MAX_LINE_BYTES):
        self.builder = ListBuilder()
        self.strict = strict
        self.on_error = on_error
        self.signal = signal
        self.chunk_size = chunk_size
        self.max_line = max_line
        self.name = "<list>"
        self.state: dict = {}  # per format, e.g. NCMEC entries seen so far

    def start_file(self, name: str) -> None:
        self.name = name
        self.builder.default_source = name

    def source_code(self, name: str | None = None) -> int:
        return self.builder.source_code(self.name if name is None else name)

    def bad(self, line: int, reason: str, text=b"") -> None:
        bad = BadLine(self.name, line, reason, shown_text(text))
        self.builder.bad(bad)
        if self.on_error is not None:
            self.on_error(bad)
        if self.strict:
            raise BadLineError(bad)

    def expect(self, signal: str, rows: int, quality: bool = False,
               label_bytes: int = 0) -> None:
        """At most ``rows`` entries are coming (a bound from the file size)."""
        self.builder.group(signal).presize(min(rows, MAX_PRESIZE_ROWS), quality,
                                           min(label_bytes, MAX_PRESIZE_ROWS * 32))

    def skip(self, kind: str, n: int = 1) -> None:
        """Entries of a hash type tidehash does not use."""
        self.builder.skipped[kind] = self.builder.skipped.get(kind, 0) + n

    def wants(self, signal: str) -> bool:
        return self.signal is None or self.signal == signal

    def too_long(self, line: int, head: bytes) -> None:
        self.bad(line, f"line longer than {self.max_line} bytes", head)


def line_reason(code: int, raw: bytes, mode: str, signal: str) -> str:
    """The message for a line the C parser stopped at."""
    text = raw.decode("utf-8", "replace").strip(" \t\r")
    if code == _ZERO:
        return ZERO_PDQ
    if code == _SYNTAX:
        return "expected hash,quality[,filename]"
    if code == _QUALITY:
        fields = text.split(",")
        return f"quality {fields[1] if len(fields) > 1 else ''!r} is not an integer in 0..100"
    if mode == "pytx":
        field = text[3:].lstrip(" \t")
    elif mode == "pdqcsv":
        field = text.split(",", 1)[0]
    else:
        field = text
    return hex_problem(field, HASH_BYTES[signal], signal) or "not a hash line"


def read_hex_lines(reader: ChunkReader, ctx: ReadContext, mode: str, signal: str,
                   slow_line: Callable[[int, bytes], Iterator] | None = None
                   ) -> Iterator[Batch | HashRecord]:
    """Drive the C parser over a whole input. Lines it does not take go to
    ``slow_line(line_number, raw)`` when it says "not for me" (HEXLINE_OTHER),
    otherwise they are reported as bad lines."""
    nbytes = HASH_BYTES[signal]
    cmode = _native.HEXLINES_MODES[mode]
    reject_zero = signal == "pdq"
    code = ctx.source_code()
    csv = mode == "pdqcsv"
    cap = max(64, min(1 << 18, reader.chunk // (2 * nbytes) + 2))
    hashes = np.empty((cap, nbytes), np.uint8)
    lines = np.empty(cap, np.int64)
    quality = np.empty(cap, np.int16) if csv else None
    ends = np.empty(cap, np.int64) if csv else None
    labels = np.empty(max(1, reader.chunk), np.uint8) if csv else None
    size = reader.source.size_hint
    if size:
        ctx.expect(signal, size // (2 * nbytes + _MIN_LINE_EXTRA[mode]) + 1, csv,
                   size if csv else 0)
    refill = True
    while True:
        if refill:
            reader.fill()
        start = reader.start
        status, parsed, consumed, nlines, nlabel, s0, s1, why = _native.parse_hex_lines(
            reader.buf, start, reader.end, reader.eof, cmode, reject_zero, reader.line,
            hashes, lines, quality, ends, labels)
        reader.start = start + consumed
        reader.line += nlines
        if parsed:
            yield Batch(signal, hashes[:parsed], lines[:parsed], code,
                        quality[:parsed] if csv else None,
                        (labels[:nlabel], ends[:parsed]) if csv else None)
        refill = False
        if status == _STOP:
            raw = bytes(reader.buf[start + s0:start + s1])
            line = reader.line
            reader.start = min(start + s1 + 1, reader.end)
            reader.line += 1
            if why == _OTHER and slow_line is not None:
                yield from slow_line(line, raw)
            else:
                ctx.bad(line, line_reason(why, raw, mode, signal), raw)
        elif status == _FULL:
            if parsed == 0:  # one filename longer than the label buffer
                labels = np.empty(max(2 * len(labels), reader.pending), np.uint8)
        else:
            if reader.eof:
                return
            if reader.pending > reader.max_line:
                ctx.too_long(reader.line, reader.head())
                reader.skip_line()
            refill = True


# ----------------------------------------------------------------------------- writing
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)
WRITE_ROWS = 1 << 18


def hex_rows(rows: np.ndarray) -> np.ndarray:
    """(n, w) uint8 -> (n, 2w) lower-case hex digits as uint8, without a Python loop."""
    out = np.empty((rows.shape[0], 2 * rows.shape[1]), np.uint8)
    out[:, 0::2] = _HEX_DIGITS[rows >> 4]
    out[:, 1::2] = _HEX_DIGITS[rows & 15]
    return out


def hex_line_block(rows: np.ndarray, prefix: bytes = b"") -> bytes:
    """``prefix + hex + "\\n"`` for every row, as one bytes object."""
    n, w = rows.shape
    p = len(prefix)
    out = np.empty((n, p + 2 * w + 1), np.uint8)
    if p:
        out[:, :p] = np.frombuffer(prefix, np.uint8)
    out[:, p:p + 2 * w] = hex_rows(rows)
    out[:, -1] = 10
    return out.tobytes()


def hex_strings(rows: np.ndarray) -> list[str]:
    text = hex_rows(rows).tobytes().decode("ascii")
    w = 2 * rows.shape[1]
    return [text[i:i + w] for i in range(0, len(text), w)]


def one_signal(hash_list, signal: str | None, allowed: tuple[str, ...], fmt: str) -> str:
    """The signal type a one-type format writes: ``signal``, or the list's only one."""
    if signal is not None:
        if signal not in allowed:
            raise ValueError(f"the {fmt} format holds {', '.join(allowed)} hashes, not {signal}")
        return signal
    present = hash_list.signals
    if not present:
        return allowed[0]
    if len(present) > 1 or present[0] not in allowed:
        raise ArgumentNeeded(f"the list holds {', '.join(present)} hashes; the {fmt} format "
                             f"holds one type of {', '.join(allowed)}", "signal", allowed)
    return present[0]
