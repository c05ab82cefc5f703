"""What a scan covers: the files of a SOURCE, cut into shards.

A SOURCE is a folder (walked recursively, sorted, names starting with '.' skipped),
an fsspec URL of a folder (``memory://corpus/``, ``s3://bucket/prefix/``: its
``find``), or a manifest: a text file with one path or URL a line, optionally
followed by a tab and the size in bytes and another tab and the etag (blank lines
and lines starting with '#' are skipped). A manifest's keys are used as given: a
relative path is opened relative to each worker's working directory.

The plan is written once, into the scan's folder (``plan.parquet``, one row group a
shard), so a worker is handed the plan's path and a shard number, never the list of
files, and ``--resume`` works on exactly the files of the first run."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

PLAN_FILE = "plan.parquet"
PLAN_JSON = "plan.json"
PLAN_VERSION = 1
DEFAULT_SHARD_SIZE = 1000


class ScanError(ValueError):
    """A scan that cannot start: a SOURCE or folder that cannot be used, a resume
    that does not match the first run, a bad manifest line."""


def is_url(key: str) -> bool:
    """An fsspec URL (``proto://...``), not a local path; ``file://`` counts."""
    head, sep, _ = key.partition("://")
    return bool(sep) and head.replace("+", "").replace("-", "").isalnum() and "/" not in head


@dataclass(frozen=True)
class Item:
    key: str
    size: int | None = None
    etag: str | None = None


def _walk(folder: str) -> Iterator[Item]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Item(os.path.join(root, name))


def _walk_url(url: str) -> Iterator[Item]:
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    found = fs.find(root, detail=True)
    for path in sorted(found):
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if name.startswith(".") or found[path].get("type") == "directory":
            continue
        size = found[path].get("size")
        yield Item(fs.unstrip_protocol(path) if protocol != "file" else f"file://{path}",
                   None if size is None else int(size))


def read_manifest(path: str) -> Iterator[Item]:
    """The items of a manifest file (see the module's docstring); ScanError for a
    line whose size is not a whole number."""
    with open(path, encoding="utf-8") as f:
        try:
            lines = list(f)
        except UnicodeDecodeError:
            raise ScanError(f"{path}: not a manifest (not UTF-8 text); SOURCE is a folder, "
                            "a folder's URL or a manifest of paths") from None
        for number, line in enumerate(lines, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            key, *rest = line.split("\t")
            if len(rest) > 2:
                raise ScanError(f"{path}:{number}: more than key, size and etag")
            size = None
            if rest and rest[0].strip():
                try:
                    size = int(rest[0])
                    if size < 0:
                        raise ValueError
                except ValueError:
                    raise ScanError(f"{path}:{number}: size {rest[0]!r} is not a whole "
                                    "number of bytes") from None
            etag = rest[1] if len(rest) == 2 and rest[1] != "" else None
            yield Item(key, size, etag)


def source_items(source: str) -> Iterator[Item]:
    """The files of SOURCE: a folder, an fsspec URL of a folder, or a manifest."""
    source = os.fspath(source)
    if is_url(source):
        return _walk_url(source)
    if os.path.isdir(source):
        return _walk(source)
    if os.path.isfile(source):
        return read_manifest(source)
    raise ScanError(f"{source}: no such folder or manifest")


@dataclass(frozen=True)
class Plan:
    """A scan's shards: ``rows[i]`` files in shard i, in the order of the plan."""

    folder: str
    source: str
    shard_size: int
    rows: tuple[int, ...]
    options: dict

    @property
    def files(self) -> int:
        return sum(self.rows)

    @property
    def path(self) -> str:
        return os.path.join(self.folder, PLAN_FILE)

    def shard_path(self, shard: int) -> str:
        return os.path.join(self.folder, shard_name(shard))


def shard_name(shard: int) -> str:
    return f"shard-{shard:06d}.parquet"


def write_plan(folder: str, source: str, items, shard_size: int, options: dict) -> Plan:
    """Write the plan of a new scan into ``folder`` (atomically: the JSON, which
    says a plan is complete, is written after the Parquet)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .shards import write_table_atomically

    keys, sizes, etags = [], [], []
    for item in items:
        keys.append(item.key)
        sizes.append(item.size)
        etags.append(item.etag)
    table = pa.table({"key": pa.array(keys, pa.string()),
                      "size": pa.array(sizes, pa.int64()),
                      "etag": pa.array(etags, pa.string())})
    write_table_atomically(table, os.path.join(folder, PLAN_FILE),
                           row_group_size=shard_size)
    n = len(keys)
    rows = tuple(min(shard_size, n - start) for start in range(0, n, shard_size))
    if rows:  # the Parquet writer must have cut the row groups where the shards are
        meta = pq.ParquetFile(os.path.join(folder, PLAN_FILE)).metadata
        got = tuple(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
        if got != rows:
            raise AssertionError(f"plan row groups {got[:4]}... are not the shards")
    info = {"version": PLAN_VERSION, "source": source, "shard_size": shard_size,
            "rows": list(rows), "options": options}
    from .._atomic import atomic_file

    with atomic_file(os.path.join(folder, PLAN_JSON)) as f:
        f.write(json.dumps(info, sort_keys=True).encode())
    return Plan(folder, source, shard_size, rows, options)


def read_plan(folder: str) -> Plan | None:
    """The plan in ``folder``, or None when there is none."""
    path = os.path.join(folder, PLAN_JSON)
    try:
        with open(path, encoding="utf-8") as f:
            info = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ScanError(f"{path}: not a scan plan ({exc})") from None
    if info.get("version") != PLAN_VERSION:
        raise ScanError(f"{path}: a scan plan of version {info.get('version')!r}, "
                        f"not {PLAN_VERSION}")
    return Plan(folder, info["source"], int(info["shard_size"]),
                tuple(int(r) for r in info["rows"]), dict(info["options"]))
