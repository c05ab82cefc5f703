"""What the commands share: output written atomically, the progress bar, inputs
(files, folders, stdin lists), hash lists read with bad lines on stderr."""

from __future__ import annotations

import io
import json
import math
import os
import signal
import sys
import threading
from collections.abc import Iterator

import click

from .._atomic import atomic_file
from ..formats import FORMATS, WRITABLE_FORMATS
from ..image import DEFAULT_MAX_PIXELS

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


def err_line(text: str) -> None:
    """A line on stderr (above the progress bar while one is drawn)."""
    if _LIVE is not None and _LIVE.console is not None:
        from rich.text import Text

        _LIVE.console.print(Text(text), soft_wrap=True)
    else:
        click.echo(text, err=True)


def err(message: str) -> None:
    err_line(f"tidehash: {message}")


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


class OutputPath(click.Path):
    """The type of every command's ``-o``: a usage error (exit 2, naming the path
    given) for an empty name or a folder; ``-`` passes (stdout)."""

    def __init__(self):
        super().__init__(dir_okay=False, allow_dash=True)

    def convert(self, value, param, ctx):
        if os.fspath(value) in ("", b""):
            raise click.UsageError("-o needs a file name", ctx)
        return super().convert(value, param, ctx)


class AtomicOutput:
    """Text output to a path, written to a temporary file in the same folder and
    renamed into place only when the command completes (tidehash._atomic: modes,
    links, FIFOs and devices as documented there): Ctrl-C, a crash or an exception
    leaves neither a partial file nor the temporary one. ``-`` or None is stdout
    (written as it goes)."""

    def __init__(self, path: str | None):
        self.path = None if path in (None, "-") else os.fspath(path)
        self._file = None
        self.stream = None

    def __enter__(self):
        if self.path is None:
            self.stream = sys.stdout
            return self.stream
        # an interrupted run never commits its output
        self._file = atomic_file(self.path, before_commit=check_interrupted)
        self.stream = io.TextIOWrapper(self._file.__enter__(), encoding="utf-8", newline="")
        return self.stream

    def __exit__(self, exc_type, exc, tb):
        if self.path is None:
            self.stream.flush()
            return False
        try:
            self.stream.flush()
            self.stream.detach()  # the binary file is atomic_file's to close
        except BaseException:
            if exc_type is None:
                exc_type, exc, tb = sys.exc_info()
                return self._file.__exit__(exc_type, exc, tb)
            raise
        return self._file.__exit__(exc_type, exc, tb)


_LIVE: Progress | None = None  # the bar being drawn, if any (one at a time)


class Progress:
    """A live bar with rate and ETA on stderr (rich), drawn only when stderr is a
    terminal and there are more than a few inputs (never when piped). While it is
    drawn, lines for the same terminal (stderr messages, and table rows when
    stdout is that terminal too) are printed above it by its console, never on
    its line."""

    def __init__(self, total: int | None, label: str = "hashing"):
        global _LIVE
        self.total = total
        self.done = 0
        self.enabled = (sys.stderr.isatty() and total is not None
                        and total >= PROGRESS_MIN_INPUTS)
        self._bar = None
        if not self.enabled:
            return
        # rich is imported only when a bar or a table is drawn: it costs ~65 ms
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        console = Console(file=sys.stderr, highlight=False, markup=False, emoji=False)
        self._bar = RichProgress(
            TextColumn(label), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, transient=True,
            redirect_stdout=False, redirect_stderr=False)
        self._task = self._bar.add_task(label, total=total, rate="0.0/s")
        self._bar.start()
        _LIVE = self

    @property
    def console(self):
        return None if self._bar is None else self._bar.console

    def step(self) -> None:
        check_interrupted()
        self.done += 1
        if self._bar is not None:
            self._bar.advance(self._task)
            speed = self._bar.tasks[0].speed or 0.0
            self._bar.update(self._task, rate=f"{speed:.1f}/s")

    def rows(self, out):
        """``out``, or when it is stdout on the bar's terminal a stream whose lines
        the bar's console prints above the bar."""
        if self._bar is None or out is not sys.stdout or not _same_terminal():
            return out
        return _AboveTheBar(self._bar.console)

    def close(self) -> None:
        global _LIVE
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        if _LIVE is self:
            _LIVE = None


def _same_terminal() -> bool:
    try:
        return sys.stdout.isatty() and os.path.samestat(os.fstat(sys.stdout.fileno()),
                                                        os.fstat(sys.stderr.fileno()))
    except (OSError, ValueError):
        return False


class _AboveTheBar:
    """A text stream printing whole lines through a live console (above its bar)."""

    def __init__(self, console):
        self._console = console
        self._partial = ""

    def write(self, text: str) -> int:
        *done, self._partial = (self._partial + text).split("\n")
        if done:
            from rich.text import Text

            for line in done:
                self._console.print(Text(line), soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        pass


class StreamTable:
    """A table printed row by row as results come (rich's Table, one per row, with
    the same minimum column widths, so the rows line up): plain text, no colour,
    nothing cut. ``columns`` is (header, min width, "left" | "right") each."""

    def __init__(self, out, columns):
        self.out = out
        self.columns = columns
        from rich.console import Console

        self._console = Console(file=io.StringIO(), width=1 << 20, color_system=None,
                                highlight=False, markup=False, emoji=False)
        self._print([name for name, _, _ in columns])

    def row(self, *cells) -> None:
        self._print(["" if c is None else str(c) for c in cells])

    def _print(self, cells) -> None:
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, show_header=False, show_edge=False, pad_edge=False,
                      padding=(0, 2, 0, 0), collapse_padding=True)
        for _name, width, justify in self.columns:
            table.add_column(min_width=width, justify=justify, no_wrap=True)
        table.add_row(*(Text(c) for c in cells))
        with self._console.capture() as captured:
            self._console.print(table)
        self.out.write("\n".join(line.rstrip() for line in
                                 captured.get().rstrip("\n").split("\n")) + "\n")


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses nan and inf (a usage error, exit 2):
    a comparison with nan is always false, so FloatRange lets it through."""

    name = "finite float range"

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


#: --max-pixels of every command that decodes images (hash, compare, match): checked
#: from the header before any pixel is decoded, the command line's one bomb guard
#: (cli.main turns Pillow's own check off for the run)
max_pixels_option = click.option(
    "--max-pixels", type=click.IntRange(min=1), default=DEFAULT_MAX_PIXELS,
    show_default=True, help="refuse larger images")


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


def no_inputs(paths) -> str:
    """What to say when ``paths`` (files, folders, ``-``) named no file at all."""
    folders = [p for p in paths if p != "-" and os.path.isdir(p)]
    where = folders + (["the list on stdin"] if "-" in paths else [])
    hidden = " (names starting with '.' are skipped)" if folders else ""
    return f"no input files{' in ' + ', '.join(where) if where else ''}{hidden}"


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
        err_line(str(bad))


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
        err(cli_message(exc))
        report.count += 1
        return None


#: the command line's spelling of the library's parameters, in messages
_OPTION_OF = {"format": "--from", "signal": "--signal"}


def cli_message(exc: BaseException) -> str:
    """The message of a library error, with the parameter it asks for spelled as
    the command line's option (``--from`` for ``format=``)."""
    from ..errors import ArgumentNeeded

    if isinstance(exc, ArgumentNeeded) and exc.argument in _OPTION_OF:
        return exc.message_for(_OPTION_OF[exc.argument])
    return str(exc)


def list_notes(hl) -> None:
    for name, n in sorted(hl.skipped.items()):
        err(f"note: {n} entries of type {name} skipped (not a hash tidehash uses)")
    if hl.error_count > len(hl.errors):
        err(f"note: {hl.error_count} bad lines in all")


READ_FORMATS = FORMATS
WRITE_FORMATS = WRITABLE_FORMATS
SIGNALS = ("pdq", "md5", "sha256", "phash", "vpdq")
