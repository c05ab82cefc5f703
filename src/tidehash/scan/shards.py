"""The Parquet shards of a scan: their columns, written whole or not at all, and
told finished from partial.

A hash shard has one row per file of its part of the plan, in the plan's order:

=============  ====================================================================
key            the path or URL as given (manifest) or found (folder)
ok             True when the file was hashed
error          why not (the engine's message), else null
reason         the kind of failure: vanished, permission, unreadable, corrupt,
               too_large, no_frames, failed (anything else); null when ok
kind           "image" or "video"
pdq            lower-case hex (images)
quality        the PDQ quality, 0..100 (images)
pdq_dihedral   the 8 dihedral variants, hex (with ``dihedral=True``)
md5, sha256    lower-case hex of the file's bytes
vpdq           the frames of a video: frame_number, quality, pdq (hex), timestamp
warning        a video whose stream was damaged: what went wrong
size, etag     as the manifest gave them (the size found when it gave none)
=============  ====================================================================
"""

from __future__ import annotations

import os

#: the key-value metadata every shard carries: which shard of which plan it is
META_SHARD = b"tidehash.scan.shard"
META_KIND = b"tidehash.scan.kind"

REASONS = ("vanished", "permission", "unreadable", "corrupt", "too_large", "no_frames",
           "failed")


def hash_schema():
    import pyarrow as pa

    frame = pa.struct([("frame_number", pa.int64()), ("quality", pa.int16()),
                       ("pdq", pa.string()), ("timestamp", pa.float64())])
    return pa.schema([
        ("key", pa.string()), ("ok", pa.bool_()), ("error", pa.string()),
        ("reason", pa.string()), ("kind", pa.string()), ("pdq", pa.string()),
        ("quality", pa.int16()), ("pdq_dihedral", pa.list_(pa.string())),
        ("md5", pa.string()), ("sha256", pa.string()), ("vpdq", pa.list_(frame)),
        ("warning", pa.string()), ("size", pa.int64()), ("etag", pa.string()),
    ])


def match_schema():
    import pyarrow as pa

    return pa.schema([
        ("key", pa.string()), ("signal", pa.string()), ("distance", pa.int16()),
        ("quality", pa.int16()), ("weak", pa.bool_()), ("variant", pa.string()),
        ("id", pa.int64()), ("label", pa.string()), ("source", pa.string()),
        ("entry_key", pa.string()), ("row", pa.int64()),
        ("query_match_percent", pa.float64()), ("compared_match_percent", pa.float64()),
    ])


def write_table_atomically(table, path: str, *, metadata: dict | None = None,
                           row_group_size: int | None = None) -> None:
    """Write ``table`` to ``path`` through a temporary file in the same folder,
    fsynced and renamed: a reader (or ``--resume``) sees the whole shard or none."""
    import pyarrow.parquet as pq

    from .._atomic import atomic_file

    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    with atomic_file(path) as f:
        pq.write_table(table, f, row_group_size=row_group_size, compression="zstd")


def finished(path: str, shard: int, rows: int, kind: bytes = b"hash") -> bool:
    """Is ``path`` a complete shard number ``shard`` of ``rows`` rows? A missing,
    truncated or foreign file is not (and is redone by ``--resume``)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, ValueError, EOFError):  # ArrowInvalid is a ValueError
        return False
    kv = meta.metadata or {}
    return (kv.get(META_SHARD) == str(shard).encode() and kv.get(META_KIND) == kind
            and meta.num_rows == rows)


def stray_temporaries(folder: str) -> list[str]:
    """Temporary files a killed writer left in ``folder`` (never a finished shard)."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(os.path.join(folder, n) for n in names
                  if n.startswith(".shard-") and n.endswith(".tmp"))
