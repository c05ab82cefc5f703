"""Bytes in and out of hash-list files, in chunks.

* ``Source``: a path, a binary or text file object, or the content as bytes; keeps
  the first bytes it was asked to peek at (format sniffing) and replays them.
* ``ChunkReader``: a buffer of about two chunks over a Source. Parsers take the
  complete lines in it; the partial line at its end moves to the front before the
  next read, so memory stays O(chunk) whatever the file size. A line longer than
  ``max_line`` bytes is reported and skipped without ever being held whole.
* ``Output``: a path (written to a temporary file, mode 0600 like Index.save, renamed
  into place when complete) or a binary or text file object.
"""

from __future__ import annotations

import codecs
import io
import os

from .._atomic import atomic_file

CHUNK_SIZE = 16 << 20
MAX_LINE_BYTES = 64 << 20
_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def source_name(src) -> str:
    if isinstance(src, (str, os.PathLike)):
        return os.fspath(src)
    if isinstance(src, (bytes, bytearray, memoryview)):
        return "<bytes>"
    return str(getattr(src, "name", "<stream>"))


class Source:
    """One input, opened lazily; ``peek`` reads ahead without losing the bytes."""

    def __init__(self, src):
        self.name = source_name(src)
        self._own = None  # the file opened here, closed by close()
        self._text = False
        self._pending = b""  # encoded text not yet handed out
        self.size_hint = None  # bytes in the input, when known (small inputs, small buffers)
        if isinstance(src, (str, os.PathLike)):
            self._stream = self._own = open(src, "rb", buffering=0)
            try:
                self.size_hint = os.fstat(self._own.fileno()).st_size or None
            except OSError:
                pass
        elif isinstance(src, (bytes, bytearray, memoryview)):
            self._stream = io.BytesIO(bytes(src))
            self.size_hint = len(self._stream.getbuffer())
        elif hasattr(src, "read"):
            self._stream = src
            self._text = isinstance(src, io.TextIOBase) or isinstance(src.read(0), str)
        else:
            raise TypeError(f"cannot read a hash list from {type(src).__name__}")
        self._prefix = b""
        self._pos = 0  # bytes of _prefix already handed out

    def close(self) -> None:
        if self._own is not None:
            self._own.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read_raw(self, n: int) -> bytes:
        if self._text:
            while not self._pending:
                text = self._stream.read(max(1, n // 4))
                if not text:
                    return b""
                self._pending = text.encode("utf-8", "surrogateescape")
            out, self._pending = self._pending[:n], self._pending[n:]
            return out
        return self._stream.read(n) or b""

    def decode_utf16(self) -> None:
        """From here on, read the input as UTF-16 text (it starts with a UTF-16 BOM;
        nothing has been handed out yet), handing out UTF-8. Undecodable bytes become
        U+FFFD, so they are reported in the lines they spoil."""
        if self._text:
            return  # a text file object: already decoded
        if self._pos:
            raise RuntimeError("decode_utf16 after reading")
        self._stream = _Utf16Text(_Replay(self._prefix, self._stream))
        self._text = True
        self._prefix = b""

    def peek(self, n: int) -> bytes:
        """Up to n bytes from the start (fewer only at the end of the input)."""
        while len(self._prefix) < n:
            more = self._read_raw(n - len(self._prefix))
            if not more:
                break
            self._prefix += more
        return self._prefix[:n]

    def readinto(self, mv: memoryview) -> int:
        if self._pos < len(self._prefix):
            k = min(len(mv), len(self._prefix) - self._pos)
            mv[:k] = self._prefix[self._pos:self._pos + k]
            self._pos += k
            return k
        if not self._text and hasattr(self._stream, "readinto"):
            return self._stream.readinto(mv) or 0
        data = self._read_raw(len(mv))
        mv[:len(data)] = data
        return len(data)

    def read_all(self, limit: int) -> bytes:
        """The whole rest of the input, refusing more than ``limit`` bytes."""
        parts = [self._prefix[self._pos:]]
        self._pos = len(self._prefix)
        size = len(parts[0])
        while True:
            more = self._read_raw(1 << 20)
            if not more:
                return b"".join(parts)
            size += len(more)
            if size > limit:
                raise ValueError(f"larger than {limit} bytes")
            parts.append(more)


class _Utf16Text:
    """UTF-16 text read from a binary stream, undecodable bytes as U+FFFD. Not
    codecs' StreamReader: at the end of the input it silently drops an odd last
    byte (a cut character), which must be reported as the bad line it spoils."""

    def __init__(self, raw):
        self.raw = raw
        self.decoder = codecs.getincrementaldecoder("utf-16")(errors="replace")
        self.done = False

    def read(self, n: int) -> str:
        while not self.done:
            data = self.raw.read(max(2, 2 * n)) or b""
            self.done = not data
            text = self.decoder.decode(data, final=self.done)
            if text:
                return text
        return ""


class _Replay:
    """A binary stream whose first bytes were already read into ``prefix``."""

    def __init__(self, prefix: bytes, raw):
        self.prefix, self.raw = prefix, raw

    def read(self, n: int = -1) -> bytes:
        if not self.prefix:
            return self.raw.read(n)
        if n < 0:
            out, self.prefix = self.prefix, b""
        else:
            out, self.prefix = self.prefix[:n], self.prefix[n:]
        return out


class ChunkReader:
    """The unread part of a Source is ``buf[start:end]``; ``line`` is the number of
    the line starting at ``start``. ``fill`` tops the buffer up (after moving the
    pending partial line to the front); parsers advance ``start`` and ``line``."""

    def __init__(self, source: Source, chunk_size: int = CHUNK_SIZE,
                 max_line: int = MAX_LINE_BYTES):
        if chunk_size < 1 or max_line < 1:
            raise ValueError("chunk_size and max_line must be positive")
        if source.size_hint is not None:  # a small input needs no 32 MB buffer
            chunk_size = min(chunk_size, max(source.size_hint, 64))
        self.source = source
        self.chunk = chunk_size
        self.max_line = max_line
        self.buf = bytearray(2 * chunk_size + 8)
        self.start = self.end = 0
        self.eof = False
        self.line = 1
        self._first = True

    @property
    def pending(self) -> int:
        return self.end - self.start

    def fill(self) -> None:
        if self.eof:
            return
        pending = self.pending
        if len(self.buf) - pending < self.chunk:
            # a long partial line: room for it and one more chunk (callers stop lines
            # longer than max_line before this grows past max_line + chunk)
            size = max(pending + self.chunk, min(2 * len(self.buf), self.max_line + self.chunk))
            grown = bytearray(size + 8)
            grown[:pending] = self.buf[self.start:self.end]
            self.buf = grown
        elif self.start:
            self.buf[:pending] = self.buf[self.start:self.end]
        self.start, self.end = 0, pending
        want = max(self.chunk, 4) if self._first else self.chunk
        with memoryview(self.buf) as mv:
            while self.end < min(len(self.buf), pending + want):
                n = self.source.readinto(mv[self.end:])
                if not n:
                    self.eof = True
                    break
                self.end += n
        if self._first:
            self._first = False
            head = bytes(self.buf[:4])
            if head.startswith(_BOM):
                self.start = 3

    def skip_line(self) -> None:
        """Drop the rest of the current line, reading past it as needed."""
        while True:
            i = self.buf.find(b"\n", self.start, self.end)
            if i >= 0:
                self.start = i + 1
                break
            self.start = self.end
            if self.eof:
                break
            self.fill()
        self.line += 1

    def head(self, n: int = 200) -> bytes:
        return bytes(self.buf[self.start:min(self.end, self.start + n)])

    def lines(self, too_long):
        """(line number, bytes without '\\n') for every line; a line longer than
        max_line goes to ``too_long(line_number, first_bytes)`` instead."""
        while True:
            self.fill()
            if self.start == self.end and self.eof:
                return
            last = self.buf.rfind(b"\n", self.start, self.end)
            if last < 0:
                if self.eof:
                    piece = bytes(self.buf[self.start:self.end])
                    self.start = self.end
                    if len(piece) > self.max_line:
                        too_long(self.line, piece[:200])
                    else:
                        yield self.line, piece
                    self.line += 1
                    return
                if self.pending > self.max_line:
                    too_long(self.line, self.head())
                    self.skip_line()
                continue
            block = bytes(self.buf[self.start:last])
            self.start = last + 1
            for piece in block.split(b"\n"):
                if len(piece) > self.max_line:
                    too_long(self.line, piece[:200])
                else:
                    yield self.line, piece
                self.line += 1


class Output:
    """Where a list is written: a path (atomically) or a binary / text file object."""

    def __init__(self, dest):
        self.name = source_name(dest)
        self._dest = dest
        self._atomic = None
        if isinstance(dest, (str, os.PathLike)):
            self._atomic = atomic_file(dest)
            self._file = self._atomic.__enter__()
            self._text = False
        elif hasattr(dest, "write"):
            self._file = dest
            self._text = isinstance(dest, io.TextIOBase)
        else:
            raise TypeError(f"cannot write a hash list to {type(dest).__name__}")

    def write(self, data: bytes) -> None:
        if self._text:
            self._file.write(data.decode("utf-8", "surrogateescape"))
        else:
            self._file.write(data)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._atomic is not None:
            self._atomic.__exit__(exc_type, exc, tb)

