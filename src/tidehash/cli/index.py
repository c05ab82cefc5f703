"""tidehash index build / info."""

from __future__ import annotations

import datetime
import os
import sys

import click

from ._common import (
    READ_FORMATS,
    BadLines,
    OutputPath,
    check_interrupted,
    emit,
    err,
    list_notes,
    read_lists,
)


@click.group("index")
def index_group():
    """Build and inspect list files: a whole hash list (PDQ, MD5, SHA-256, pHash,
    vPDQ, every entry's id, source and label) in one binary file that `tidehash match`
    loads by memory map. (An index file, written by the Python API's `Index.save`,
    holds hash codes and ids only; `index info` and `match` read it too.)"""


@index_group.command("build")
@click.argument("lists", nargs=-1, required=True, metavar="LIST...")
@click.option("-o", "--output", required=True, type=OutputPath(),
              help="the list file to write (atomically)")
@click.option("--from", "from_format", type=click.Choice(READ_FORMATS), default=None,
              help="format of every LIST (default: told from each one's content)")
@click.option("--strict", is_flag=True, help="stop at the first bad line (nothing is written)")
def index_build_command(lists, output, from_format, strict):
    """Read LIST... (merged; equal hashes are one row keeping all their entries) into
    one list file: every hash type and every entry's id, source, label and quality.
    `tidehash match --against LIST_FILE` then loads it in milliseconds, whatever its size.
    `tidehash.Matcher.load`, `tidehash.read_list` and `tidehash.Index.load` (its PDQ
    hashes) read it too. Exit 1 when some lines were bad (reported, skipped)."""
    from ..formats import save_list

    report = BadLines()
    hl = read_lists(list(lists), from_format, strict, report)
    if hl is None:
        return 1
    list_notes(hl)
    check_interrupted()
    built = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    size = save_list(hl, output, extra={"lists": [os.fspath(x) for x in lists],
                                        "built": built}, before_commit=check_interrupted)
    if sys.stderr.isatty():
        counts = ", ".join(f"{len(hl[s])} {s}" for s in hl.signals) or "no hashes"
        err(f"{output}: {counts} ({hl.n_entries} entries, {size} bytes)")
    return 1 if report.count else 0


@index_group.command("info")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(("jsonl", "table")), default=None,
              help="default: jsonl when stdout is not a terminal, table when it is")
def index_info_command(path, fmt):
    """What a list file (`tidehash index build`) holds: hashes and entries per type,
    the lists and sources it was built from, when, the file's size ("kind": "list").
    Of an index file (`Index.save`): its hashes and their width ("kind": "index")."""
    from ..formats import ListFileError, load_list
    from ..formats.detect import INDEX_FILE, LIST_FILE, binary_kind
    from ..index import Index, IndexFormatError

    info: dict = {"path": path, "file_bytes": os.path.getsize(path)}
    try:
        if binary_kind(path) == LIST_FILE or not os.path.isfile(path):  # a pipe: read once
            hl = load_list(path)
            info["kind"] = LIST_FILE
            for signal in hl.signals:
                info[signal] = len(hl[signal])
            info["entries"] = hl.n_entries
            info["lists"] = hl.extra.get("lists")
            info["sources"] = [s for s in hl.sources if s]
            info["built"] = hl.extra.get("built")
        else:
            index = Index.load(path)
            info.update(kind=INDEX_FILE, pdq=len(index), bits=index.bits)
    except (ListFileError, IndexFormatError) as exc:
        err(str(exc))
        return 1
    def shown(v):
        return ", ".join(map(str, v)) if isinstance(v, list) else ("-" if v is None else v)

    emit(info, "\n".join(f"{k + ':':<12} {shown(v)}" for k, v in info.items()), fmt)
    return 0
