"""What the commands share: output written atomically, the progress bar, inputs
(files, folders, stdin lists), hash lists read with bad lines on stderr."""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator

import click

from ..formats import FORMATS, WRITABLE_FORMATS

# more inputs than this (on a terminal) get a progress bar
PROGRESS_MIN_INPUTS = 4


# Set by the CLI's SIGINT handler. A KeyboardInterrupt can be swallowed where Python
# cannot raise it (a __del__, a C callback that prints "Exception ignored"); the flag
# stays set, so the output is still not committed and the run still ends with 130.
_INTERRUPTED = threading.Event()


def _on_sigint(signum, frame):
    _INTERRUPTED.set()
    raise KeyboardInterrupt


def install_sigint_handler():
    """Install the CLI's SIGINT handler (main thread only, and only over Python's
    default one); returns what to restore, or None when nothing was installed."""
    _INTERRUPTED.clear()  # each run starts uninterrupted, whether or not it installs
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return None
    signal.signal(signal.SIGINT, _on_sigint)
    return signal.default_int_handler


def restore_sigint_handler(previous) -> None:
    if previous is not None:
        signal.signal(signal.SIGINT, previous)


def check_interrupted() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed, even if it was swallowed."""
    if _INTERRUPTED.is_set():
        raise KeyboardInterrupt


def err(message: str) -> None:
    click.echo(f"tidehash: {message}", err=True)


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


class AtomicOutput:
    """Text output to a path, written to a temporary file in the same folder and
    renamed into place only when the command completes: Ctrl-C, a crash or an
    exception leaves neither a partial file nor the temporary one. ``-`` or None
    is stdout (written as it goes)."""

    def __init__(self, path: str | None):
        self.path = None if path in (None, "-") else os.fspath(path)
        self._tmp: str | None = None
        self.stream = None

    def __enter__(self):
        if self.path is None:
            self.stream = sys.stdout
            return self.stream
        directory = os.path.dirname(os.path.abspath(self.path))
        base = os.path.basename(self.path)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory)
        self.stream = os.fdopen(fd, "w", encoding="utf-8", newline="")
        return self.stream

    def __exit__(self, exc_type, exc, tb):
        if self.path is None:
            self.stream.flush()
            return False
        try:
            if exc_type is None:
                check_interrupted()  # an interrupted run never commits its output
                self.stream.flush()
                os.fsync(self.stream.fileno())
                self.stream.close()
                os.replace(self._tmp, self.path)
                self._tmp = None
        finally:
            if self._tmp is not None:
                try:
                    self.stream.close()
                finally:
                    try:
                        os.unlink(self._tmp)
                    except OSError:
                        pass
        return False


class Progress:
    """A one-line bar with rate and ETA on stderr, drawn only when stderr is a
    terminal and there are more than a few inputs (never when piped)."""

    def __init__(self, total: int | None, label: str = "hashing"):
        self.total = total
        self.label = label
        self.done = 0
        self.start = time.monotonic()
        self._last = 0.0
        self.enabled = (sys.stderr.isatty() and total is not None
                        and total >= PROGRESS_MIN_INPUTS)

    def step(self) -> None:
        check_interrupted()
        self.done += 1
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        width = 30
        filled = int(width * self.done / self.total)
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {self.done}/{self.total} "
                         f"{rate:.1f}/s ETA {eta:.0f}s ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 79 + "\r")
            sys.stderr.flush()


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses nan and inf (a usage error, exit 2):
    a comparison with nan is always false, so FloatRange lets it through."""

    name = "finite float range"

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


def _walk(folder: str) -> Iterator[str]:
    """Files under ``folder``, recursively, in sorted order; hidden files and folders
    (names starting with '.') are skipped."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield os.path.join(root, name)


def _stdin_paths() -> Iterator[str]:
    while True:
        line = sys.stdin.readline()
        check_interrupted()
        if not line:
            return
        line = line.rstrip("\r\n")
        if line:
            yield line


def expand_inputs(paths) -> tuple[list[str] | None, Iterator[str]]:
    """The files named by ``paths`` (files, folders, ``-`` for a list on stdin).
    Returns (the list when known up front, an iterator over them)."""
    if "-" in paths:
        def gen():
            for p in paths:
                if p == "-":
                    yield from _stdin_paths()
                elif os.path.isdir(p):
                    yield from _walk(p)
                else:
                    yield p
        return None, gen()
    out: list[str] = []
    for p in paths:
        out.extend(_walk(p) if os.path.isdir(p) else [p])
    return out, iter(out)


def emit(obj: dict, text: str, fmt: str | None = None) -> None:
    """``fmt`` "jsonl": one JSON line; "table": ``text``; None: JSON when stdout is
    not a terminal, ``text`` when it is."""
    if fmt is None:
        fmt = "table" if stdout_is_terminal() else "jsonl"
    click.echo(json.dumps(obj) if fmt == "jsonl" else text)


class BadLines:
    """Prints each bad line of a list on stderr as ``file:line: reason``."""

    def __init__(self):
        self.count = 0

    def __call__(self, bad) -> None:
        self.count += 1
        click.echo(str(bad), err=True)


def read_lists(sources, fmt, strict, report: BadLines, signal=None):
    """read_list with bad lines on stderr; None after a --strict stop or a list whose
    format cannot be told (reported)."""
    from ..errors import HashFormatError
    from ..formats import BadLineError, read_list

    sources = [sys.stdin.buffer if s == "-" else s for s in sources]
    try:
        return read_list(sources if len(sources) > 1 else sources[0], fmt, signal=signal,
                         strict=strict, on_error=report)
    except BadLineError as exc:
        if not report.count:
            click.echo(str(exc.bad_line), err=True)
        report.count += 1
        return None
    except HashFormatError as exc:
        err(str(exc))
        report.count += 1
        return None


def list_notes(hl) -> None:
    for name, n in sorted(hl.skipped.items()):
        err(f"note: {n} entries of type {name} skipped (not a hash tidehash uses)")
    if hl.error_count > len(hl.errors):
        err(f"note: {hl.error_count} bad lines in all")


READ_FORMATS = FORMATS
WRITE_FORMATS = WRITABLE_FORMATS
SIGNALS = ("pdq", "md5", "sha256", "phash", "vpdq")
