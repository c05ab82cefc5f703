"""tidehash sync: a platform keeps a local list file equal to a list it follows: a
tidehash registry (the default), an NCMEC-style or a StopNCII-style hash API."""

from __future__ import annotations

import click

from ._common import FiniteFloatRange, OutputPath, emit, err
from ._registry import (
    make_client,
    read_token,
    reports_registry_errors,
)

SOURCES = ("tidehash", "ncmec", "stopncii")


@click.command("sync")
@click.option("--from", "source", type=click.Choice(SOURCES), default="tidehash",
              show_default=True,
              help="the kind of list: a tidehash registry, NCMEC's hash-sharing API (v2, "
                   "XML) or StopNCII's hash API (JSON), or a registry's views of them")
@click.option("--registry", "registry", default=None, metavar="URL",
              help="the registry's address, e.g. https://registry.example.org (with "
                   "--credentials: the source's, when the file has no url)")
@click.option("--token-file", default=None, metavar="FILE",
              help="(--from tidehash) the platform's token (or the JSON `tidehash admin "
                   "platform add` printed); - reads it from stdin")
@click.option("--credentials", "credentials", default=None, metavar="FILE",
              help="a JSON file with the source's address and secrets (chmod 600): ncmec "
                   '{"url", "user", "password"}, stopncii {"url", "subscription_key", '
                   '"fetch_key"}, tidehash {"url", "token"} or the token alone')
@click.option("--into", "into", required=True, type=OutputPath(), metavar="LIST",
              help="the list file to keep current (created by the first sync)")
@click.option("--limit", type=click.IntRange(1, 10_000), default=None,
              help="changes (tidehash, default 10000) or entries (ncmec, stopncii, "
                   "default 1000) asked for per request")
@click.option("--timeout", type=FiniteFloatRange(min=0.1), default=30.0, show_default=True,
              help="seconds to wait for the source on each request")
@click.option("--format", "fmt", type=click.Choice(("jsonl", "table")), default=None,
              help="default: jsonl when stdout is not a terminal, a line of text when it is")
@reports_registry_errors
def sync_command(source, registry, token_file, credentials, into, limit, timeout, fmt):
    """Bring LIST up to date with the list it follows. The file is replaced
    atomically: an interrupted sync leaves the previous list, and the next one goes on
    from the checkpoint kept in it. `tidehash match --against LIST` and
    `tidehash.Matcher.load(LIST)` read it.

    From a tidehash registry (--registry and --token-file, or --credentials): the first
    time a whole snapshot (checked against its trailer), then only the changes since the
    last sync; a match's id is the registry's entry id, its label the case pseudonym.

    From NCMEC or StopNCII (--credentials): the pages since the last sync; removals
    (deletedImage / deletedVideo, hashStatus Withdrawn or Deleted) take entries out. An
    entry that cannot be used (a malformed hash, an all-zero PDQ, a type tidehash does
    not use) is skipped and reported, with its page and position. A match's label is the
    entry's id at the source (ncmec:MEMBER:ID, stopncii:TYPE:HASH).

    Prints one line: entries, added, removed, updated and where the sync is (JSON adds
    the refused entries)."""
    if source != "tidehash" or credentials is not None:
        if credentials is None:
            raise click.UsageError(f"--from {source} needs --credentials FILE")
        if token_file is not None:
            raise click.UsageError("--credentials replaces --token-file")
        return _sync_source(source, credentials, registry, into, limit, timeout, fmt)
    if registry is None or token_file is None:
        raise click.UsageError("--from tidehash needs --registry URL and --token-file FILE "
                               "(or --credentials FILE)")
    token = read_token(token_file)
    client = make_client(registry, token=token, timeout=timeout)
    result = client.sync_list(into, limit=limit or 10_000)
    text = (f"{into}: {result['mode']}: {result['entries']} entries "
            f"(+{result['added']} -{result['removed']} ~{result['updated']}), "
            f"at seq {result['seq']} of {result['head']}")
    emit(result, text, fmt)
    return 0


def _sync_source(source, credentials, url, into, limit, timeout, fmt):
    from ..registry import listsync
    from ..registry.sources import CredentialsError, SourceError, open_source, read_credentials

    try:
        secrets = read_credentials(credentials, source, url)
        if source == "tidehash":
            # the registry's own sync (snapshot, then changes), with the file's token
            client = make_client(secrets["url"], token=secrets["token"], timeout=timeout)
            result = client.sync_list(into, limit=limit or 10_000)
            text = (f"{into}: {result['mode']}: {result['entries']} entries "
                    f"(+{result['added']} -{result['removed']} ~{result['updated']}), "
                    f"at seq {result['seq']} of {result['head']}")
            emit(result, text, fmt)
            return 0
        options = {"timeout": timeout}
        if limit is not None:
            options["page_size"] = limit
        feed = open_source(source, secrets, **options)
    except (CredentialsError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    _warn_plain_http(feed.url)
    try:
        result = listsync.sync_source(into, feed)
    except SourceError as exc:
        done = getattr(exc, "result", None)
        if done is not None:
            _report_refused(done)
            err(f"{into}: kept at the last page applied ({done['pages']} pages, "
                f"{done['entries']} entries); the next sync goes on from there")
        err(f"{source}: {exc}")
        return 1
    _report_refused(result)
    text = (f"{into}: {source}: {result['entries']} entries "
            f"(+{result['added']} -{result['removed']} ~{result['updated']}), "
            f"{result['pages']} pages, {result['errors']} refused")
    emit(result, text, fmt)
    return 0


def _report_refused(result: dict) -> None:
    for e in result["refused"]:
        where = f"page {e['page']}" + (f" entry {e['entry']}" if e.get("entry") else "")
        err(f"refused: {where}{' (' + e['id'] + ')' if e.get('id') else ''}: {e['error']}")
    more = result["errors"] - len(result["refused"])
    if more > 0:
        err(f"refused: and {more} more")


def _warn_plain_http(url: str) -> None:
    import urllib.parse

    host = urllib.parse.urlsplit(url).hostname or ""
    if url.startswith("http://") and host not in ("localhost", "::1") \
            and not host.startswith("127."):
        err("warning: http:// is not encrypted: anyone on the way can read the "
            "credentials and the list; use https://")
