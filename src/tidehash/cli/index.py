"""tidehash index build / info."""

from __future__ import annotations

import json
import os
import sys

import click

from ._common import (
    _READ_FORMATS,
    AtomicOutput,
    _BadLines,
    _emit,
    _err,
    _list_notes,
    _read_lists,
)


def _meta_path(index_path: str) -> str:
    return os.fspath(index_path) + ".meta.jsonl"


def _row_entries(group, row: int) -> list[dict]:
    out = []
    for rec in group.records(row):
        entry = {"id": rec.id}
        for key in ("source", "label", "quality"):
            value = getattr(rec, key)
            if value is not None:
                entry[key] = value
        out.append(entry)
    return out


@click.group("index")
def index_group():
    """Build and inspect tidehash index files (PDQ, exact Hamming search)."""


@index_group.command("build")
@click.argument("lists", nargs=-1, required=True, metavar="LIST...")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="the index file; its entries go to OUTPUT.meta.jsonl")
@click.option("--from", "from_format", type=click.Choice(_READ_FORMATS), default=None,
              help="format of every LIST (default: told from each one's content)")
@click.option("--strict", is_flag=True, help="stop at the first bad line (nothing is written)")
def index_build_command(lists, output, from_format, strict):
    """Index the PDQ hashes of LIST... (merged; equal hashes are one row). Index ids
    are the row numbers; OUTPUT.meta.jsonl holds, per row, the entries' id, source,
    label and quality, so `tidehash match` can show them. Both files are written
    atomically."""
    import numpy as np

    from ..index import Index

    report = _BadLines()
    hl = _read_lists(list(lists), from_format, strict, report)
    if hl is None:
        return 1
    _list_notes(hl)
    group = hl.pdq
    for other in hl.signals:
        if other != "pdq":
            _err(f"note: {hl[other].n_entries} {other} entries not indexed "
                 f"(an index holds PDQ; match against the list itself for them)")
    index = Index()
    index.add(group.hashes, ids=np.arange(len(group), dtype=np.int64))
    with AtomicOutput(_meta_path(output)) as meta:
        meta.write(json.dumps({"tidehash_index_meta": 1, "rows": len(group),
                               "entries": group.n_entries, "lists": list(lists),
                               "sources": [s for s in hl.sources if s]}) + "\n")
        for row in range(len(group)):
            meta.write(json.dumps({"row": row, "pdq": group.hex(row),
                                   "entries": _row_entries(group, row)}) + "\n")
        index.save(output)
    if sys.stderr.isatty():
        _err(f"{output}: {len(group)} PDQ hashes ({group.n_entries} entries)")
    return 1 if report.count else 0


class IndexMeta:
    """The sidecar of an index, memory-mapped: ``header`` is parsed, a row's entries
    only when asked for (``entries(row)``), so matching against a 10-million-row
    index does not parse 10 million lines. Row r is line r + 2 (line 1 is the
    header); the line starts are found once with one NumPy scan for newlines."""

    def __init__(self, path: str):
        import mmap

        import numpy as np

        with open(path, "rb") as f:
            self.header = json.loads(f.readline())
            size = os.fstat(f.fileno()).st_size
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        ends = np.flatnonzero(np.frombuffer(self._map, np.uint8) == 10) if size else []
        # starts of the row lines: just after each newline but the last
        self._starts = np.asarray(ends[:-1], np.int64) + 1
        self._ends = np.asarray(ends[1:], np.int64)

    def __len__(self) -> int:
        return int(self._starts.shape[0])

    def entries(self, row: int) -> list[dict]:
        line = self._map[int(self._starts[row]):int(self._ends[row])]
        obj = json.loads(line)
        if obj.get("row") != row:
            raise ValueError(f"index sidecar out of order at row {row}")
        return obj["entries"]


def _read_meta(index_path: str) -> IndexMeta | None:
    """The sidecar of ``index_path``, or None without one."""
    path = _meta_path(index_path)
    if not os.path.exists(path):
        return None
    return IndexMeta(path)


@index_group.command("info")
@click.argument("index_path", metavar="INDEX", type=click.Path(exists=True, dir_okay=False))
def index_info_command(index_path):
    """Count, bits, search strategy, file size and the lists an index was built from."""
    from ..index import Index, IndexFormatError

    try:
        index = Index.load(index_path)
    except IndexFormatError as exc:
        _err(str(exc))
        return 1
    info = {"path": index_path, "count": len(index), "bits": index.bits,
            "strategy": index.strategy,
            "file_bytes": os.path.getsize(index_path)}
    meta = _read_meta(index_path)
    if meta is not None:
        header = meta.header
        info.update(entries=header.get("entries"), lists=header.get("lists"),
                    sources=header.get("sources"), meta=_meta_path(index_path))
    else:
        info["meta"] = None
    _emit(info, "\n".join(f"{k + ':':<12} {v}" for k, v in info.items()))
    return 0
