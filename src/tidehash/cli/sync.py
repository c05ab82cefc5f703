"""tidehash sync: a platform keeps a local list file equal to the registry's list."""

from __future__ import annotations

import click

from ._common import OutputPath, emit
from ._registry import (
    make_client,
    read_token,
    registry_option,
    reports_registry_errors,
    timeout_option,
)


@click.command("sync")
@registry_option
@click.option("--token-file", required=True, metavar="FILE",
              help="the platform's token (or the JSON `tidehash admin platform add` "
                   "printed); - reads it from stdin")
@click.option("--into", "into", required=True, type=OutputPath(), metavar="LIST",
              help="the list file to keep current (created by the first sync)")
@click.option("--limit", type=click.IntRange(1, 10_000), default=10_000, show_default=True,
              help="changes asked for per request")
@timeout_option
@click.option("--format", "fmt", type=click.Choice(("jsonl", "table")), default=None,
              help="default: jsonl when stdout is not a terminal, a line of text when it is")
@reports_registry_errors
def sync_command(registry, token_file, into, limit, timeout, fmt):
    """Bring LIST up to date with the registry: the first time a whole snapshot
    (checked against its trailer), then only the changes since the last sync (a
    snapshot again if the registry has compacted them away). LIST is replaced
    atomically: an interrupted sync leaves the previous list, and the next one goes
    on from it. `tidehash match --against LIST` and `tidehash.Matcher.load(LIST)`
    read it; a match's id is the registry's entry id (as an integer). Prints one
    line: entries, added, removed, updated, the sequence number reached and the
    registry's head."""
    token = read_token(token_file)
    client = make_client(registry, token=token, timeout=timeout)
    result = client.sync_list(into, limit=limit)
    text = (f"{into}: {result['mode']}: {result['entries']} entries "
            f"(+{result['added']} -{result['removed']} ~{result['updated']}), "
            f"at seq {result['seq']} of {result['head']}")
    emit(result, text, fmt)
    return 0
