"""tidehash convert."""

from __future__ import annotations

import sys

import click

from ._common import (
    READ_FORMATS,
    SIGNALS,
    WRITE_FORMATS,
    BadLines,
    cli_message,
    list_notes,
    read_lists,
)


@click.command("convert")
@click.argument("source", metavar="IN")
@click.option("-o", "--output", required=True, help="the converted list ('-': stdout)")
@click.option("--to", "to_format", type=click.Choice(WRITE_FORMATS), required=True)
@click.option("--from", "from_format", type=click.Choice(READ_FORMATS), default=None,
              help="default: told from the content")
@click.option("--signal", type=click.Choice(SIGNALS), default=None,
              help="keep only this hash type (needed for a one-type format when IN has several)")
@click.option("--strict", is_flag=True, help="stop at the first bad line (nothing is written)")
def convert_command(source, output, to_format, from_format, signal, strict):
    """Convert a hash list between formats (ncmec and stopncii are read only). Bad
    lines are reported on stderr as file:line: reason and skipped (exit 1); with
    --strict the first one stops the run. IN may be '-' (stdin)."""
    from ..formats import write_list

    report = BadLines()
    hl = read_lists([source], from_format, strict, report, signal=signal)
    if hl is None:
        return 1
    list_notes(hl)
    dest = sys.stdout.buffer if output == "-" else output
    try:
        write_list(hl, dest, to_format, signal=signal)
    except ValueError as exc:
        raise click.UsageError(cli_message(exc)) from None
    return 1 if report.count else 0
