"""tidehash convert."""

from __future__ import annotations

import io
import sys

import click

from ._common import (
    READ_FORMATS,
    SIGNALS,
    WRITE_FORMATS,
    BadLines,
    OutputPath,
    cli_message,
    err,
    list_notes,
    read_lists,
)


class _Replayed(io.RawIOBase):
    """A stream whose first bytes were read to tell its format, handed out again."""

    def __init__(self, prefix: bytes, rest, name: str):
        self._prefix, self._rest, self.name = prefix, rest, name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        return self._rest.readinto(buffer) or 0


def _reading(source, from_format, signal):
    """(what to read, the ``signal=`` to read it with). Only a plain hex list needs
    --signal to be read (it says what its hashes are: 64 hex digits are PDQ or
    SHA-256); any other list is read whole and --signal picks the type when writing,
    so entries of other types are left out quietly rather than reported as bad lines
    (which read_list(signal=) makes them where a format tags each line)."""
    from ..errors import HashFormatError
    from ..formats import detect_format
    from ..formats.detect import SNIFF_BYTES

    if signal is None or from_format is not None:
        return source, (signal if from_format == "hex" else None)
    if source == "-":  # told from the first bytes, which are then read again
        stdin = sys.stdin.buffer
        prefix = stdin.read(SNIFF_BYTES)
        source, head = _Replayed(prefix, stdin, stdin.name), prefix
    else:
        head = source
    try:
        fmt = detect_format(head)
    except (HashFormatError, OSError):
        fmt = "hex"  # reported by the read, as before
    return source, (signal if fmt == "hex" else None)


@click.command("convert")
@click.argument("source", metavar="IN")
@click.option("-o", "--output", required=True, type=OutputPath(),
              help="the converted list ('-': stdout)")
@click.option("--to", "to_format", type=click.Choice(WRITE_FORMATS), required=True)
@click.option("--from", "from_format", type=click.Choice(READ_FORMATS), default=None,
              help="default: told from the content")
@click.option("--signal", type=click.Choice(SIGNALS), default=None,
              help="keep only this hash type (needed for a one-type format when IN has "
                   "several); entries without it are left out")
@click.option("--strict", is_flag=True, help="stop at the first bad line (nothing is written)")
def convert_command(source, output, to_format, from_format, signal, strict):
    """Convert a hash list between formats (ncmec and stopncii are read only). Bad
    lines are reported on stderr as file:line: reason and skipped (exit 1); with
    --strict the first one stops the run. IN may be '-' (stdin). With --signal,
    entries of other hash types are left out without a word; a list with hashes
    but none of that type is said on stderr (exit 1, nothing written)."""
    from ..formats import write_list

    report = BadLines()
    readable, read_signal = _reading(source, from_format, signal)
    hl = read_lists([readable], from_format, strict, report, signal=read_signal)
    if hl is None:
        return 1
    list_notes(hl)
    if signal is not None and len(hl) and not len(hl[signal]):
        err(f"{source}: no {signal} hashes (it holds {', '.join(hl.signals)}); "
            "nothing written")
        return 1
    dest = sys.stdout.buffer if output == "-" else output
    try:
        write_list(hl.only(signal), dest, to_format, signal=signal)
    except ValueError as exc:
        raise click.UsageError(cli_message(exc)) from None
    return 1 if report.count else 0
