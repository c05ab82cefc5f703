"""What runs on a worker: one shard hashed, one shard matched.

Both are plain functions of paths (the plan, the shard, the list file) and small
options, so any concurrent.futures.Executor can run them: a process pool, a Dask
cluster (whose workers may be other machines: the paths must be valid there), a
thread pool. Nothing large is pickled: a worker reads its files itself, and maps
the list file into memory once per process."""

from __future__ import annotations

import functools
import os
import time

import numpy as np

from ..errors import DecodeError, ImageTooLargeError
from ..files import hash_file
from .plan import is_url
from .shards import META_KIND, META_SHARD, hash_schema, match_schema, write_table_atomically

#: the algorithms every file is hashed with (a video's PDQ is its vPDQ)
ALGORITHMS = ("pdq", "md5", "sha256")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "vanished"
    if isinstance(exc, PermissionError):
        return "permission"
    if isinstance(exc, OSError):
        return "unreadable"
    if isinstance(exc, ImageTooLargeError):
        return "too_large"
    if isinstance(exc, DecodeError):
        if exc.reason.startswith(("no video frame could be decoded", "no video stream")):
            return "no_frames"
        return "corrupt"
    return "failed"


def _open(key: str):
    if is_url(key):
        import fsspec

        return fsspec.open(key, "rb").open()
    return open(key, "rb")


def hash_item(key: str, options: dict) -> dict:
    """The shard row of one file (see tidehash.scan.shards), errors included.

    The file is opened here, not by hash_file, so that a vanished file and a
    permission error are told apart from a corrupt one by the OS's own error."""
    row: dict = {"key": key, "ok": False}
    try:
        with _open(key) as f:
            rec = hash_file(f, algorithms=ALGORITHMS, dihedral=options["dihedral"],
                            seconds_per_hash=options["seconds_per_hash"],
                            max_pixels=options["max_pixels"])
    except Exception as exc:  # noqa: BLE001 -- a scan goes past a bad file and records it
        if isinstance(exc, DecodeError):
            message = exc.reason
        elif isinstance(exc, OSError):
            message = exc.strerror or str(exc)
        else:
            message = f"{type(exc).__name__}: {exc}"
        row.update(error=message, reason=_reason(exc))
        return row
    row.update(ok=True, kind=rec.kind, md5=rec.md5, sha256=rec.sha256, warning=rec.warning)
    if rec.pdq is not None:
        row.update(pdq=rec.pdq.hex, quality=rec.pdq.quality)
    if rec.pdq_dihedral is not None:
        row["pdq_dihedral"] = [h.hex for h in rec.pdq_dihedral]
    if rec.vpdq is not None:
        row["vpdq"] = [{"frame_number": f.frame_number, "quality": f.quality, "pdq": f.hex,
                        "timestamp": f.timestamp} for f in rec.vpdq]
    return row


def _size(key: str) -> int | None:
    try:
        if is_url(key):
            import fsspec

            fs, path = fsspec.core.url_to_fs(key)
            return int(fs.size(path))
        return os.stat(key).st_size
    except Exception:  # noqa: BLE001 -- the size is informative; the row says what failed
        return None


def hash_shard(plan_path: str, shard: int, out_path: str, options: dict) -> dict:
    """Hash the files of shard ``shard`` of the plan and write its Parquet shard
    (temporary file, renamed). Returns a summary: files, errors by reason, the
    worker's pid and the seconds spent."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    start = time.perf_counter()
    items = pq.ParquetFile(plan_path).read_row_group(shard).to_pylist()
    rows = []
    errors: dict[str, int] = {}
    for item in items:
        row = hash_item(item["key"], options)
        size = item["size"]
        row["size"] = size if size is not None or not row["ok"] else _size(item["key"])
        row["etag"] = item["etag"]
        if not row["ok"]:
            errors[row["reason"]] = errors.get(row["reason"], 0) + 1
        rows.append(row)
    table = pa.Table.from_pylist(rows, schema=hash_schema())
    write_table_atomically(table, out_path,
                           metadata={META_SHARD: str(shard).encode(), META_KIND: b"hash"})
    return {"shard": shard, "files": len(rows), "errors": errors, "pid": os.getpid(),
            "seconds": time.perf_counter() - start}


# ----------------------------------------------------------------------------- matching
@functools.lru_cache(maxsize=4)
def _matcher(list_path: str, stamp: tuple, options: tuple):
    """One Matcher per process and list file (memory-mapped when it is a list or an
    index file); ``stamp`` (size, mtime) makes a rewritten file a new one."""
    from ..match import Matcher

    return Matcher.load(list_path, **dict(options))


def matcher_for(list_path: str, options: dict):
    st = os.stat(list_path)
    return _matcher(os.path.abspath(list_path), (st.st_size, st.st_mtime_ns),
                    tuple(sorted(options.items())))


def hex_column(array) -> np.ndarray:
    """A pyarrow string array of 64-digit hex (no nulls) as (N, 32) uint8, decoded
    from the array's buffers in one go (no Python string per row)."""
    import pyarrow as pa

    array = array.cast(pa.large_string()) if array.type != pa.large_string() else array
    n = len(array)
    if n == 0:
        return np.zeros((0, 32), np.uint8)
    _, offsets, data = array.buffers()
    ends = np.frombuffer(offsets, np.int64, n + 1, array.offset * 8)
    if array.null_count or not np.all(np.diff(ends) == 64):
        raise ValueError("a stored PDQ hash that is not 64 hex digits")
    text = memoryview(data)[int(ends[0]):int(ends[-1])].tobytes().decode("ascii")
    return np.frombuffer(bytes.fromhex(text), np.uint8).reshape(n, 32)  # ValueError if bad


#: list PDQ hashes searched at once against a shard's own index (bounds the hits kept)
LIST_CHUNK = 1 << 16


def pdq_hits_from_list(codes: np.ndarray, matcher) -> list[tuple[int, int, int, int | None]]:
    """The PDQ matches of stored ``codes`` ((n, 32), or (n, 8, 32) with the dihedral
    variants) found the other way round: the stored hashes (every variant of each)
    are indexed and every listed PDQ hash is a query. Returns (stored position,
    listed row, distance, variant or None), the same as the Matcher finds with the
    stored hashes as queries: a listed hash matches within ``radius`` of one of the
    variants, at its smallest distance over them, and the variant reported is the
    smallest with that distance (tidehash.Index.search_range's dihedral rule)."""
    from ..index import Index

    listed = matcher.hash_list["pdq"].hashes
    dihedral = codes.ndim == 3
    flat = np.ascontiguousarray(codes.reshape(-1, 32))
    if not flat.shape[0] or not len(listed):
        return []
    index = Index(bits=256, expected_queries=len(listed))
    index.add(flat, ids=np.arange(flat.shape[0], dtype=np.int64))
    rows, ids, dist = [], [], []
    for lo in range(0, len(listed), LIST_CHUNK):
        lims, found, d = index.search_range(np.asarray(listed[lo:lo + LIST_CHUNK]),
                                            matcher.radius)
        rows.append(np.repeat(np.arange(lo, lo + len(lims) - 1, dtype=np.int64),
                              np.diff(lims)))
        ids.append(found)
        dist.append(d)
    rows, ids, dist = np.concatenate(rows), np.concatenate(ids), np.concatenate(dist)
    if not dihedral:
        return list(zip(ids.tolist(), rows.tolist(), dist.tolist(), [None] * len(ids)))
    stored, variant = ids // 8, ids % 8
    # best variant per (stored hash, listed row): smallest distance, then smallest variant
    order = np.lexsort((variant, dist, rows, stored))
    stored, rows, dist, variant = stored[order], rows[order], dist[order], variant[order]
    first = np.ones(stored.shape[0], bool)
    first[1:] = (stored[1:] != stored[:-1]) | (rows[1:] != rows[:-1])
    return list(zip(stored[first].tolist(), rows[first].tolist(), dist[first].tolist(),
                    variant[first].tolist()))


def match_table(table, matcher, indexed: str = "list") -> list[dict]:
    """The match rows of a hash shard's table against ``matcher``: PDQ (the 8
    variants with dihedral matching), MD5 / SHA-256 where the list holds them, and
    the video rule for videos; one row per listed entry behind each match.

    ``indexed="list"``: every stored PDQ hash is searched at once in the Matcher's
    Index, and the Matcher is then asked only about the hashes that found something
    (most find nothing: the per-query Python of a Matcher answer is kept off the hot
    path). ``indexed="stored"``: the shard's PDQ hashes are indexed and the list's
    stream past them (pdq_hits_from_list); the same matches."""
    if indexed not in ("list", "stored"):
        raise ValueError(f"indexed must be 'list' or 'stored', got {indexed!r}")
    import pyarrow as pa
    import pyarrow.compute as pc

    from ..hashes import VPDQFeature
    from ..match import Match
    from ..pdq import DIHEDRAL_NAMES

    ok = pc.fill_null(table.column("ok"), False)
    found: dict[int, list] = {}
    for signal in ("md5", "sha256"):
        if not len(matcher.hash_list[signal]):
            continue
        values = table.column(signal)
        at = np.flatnonzero(pc.and_(ok, pc.is_valid(values)).to_numpy(zero_copy_only=False))
        if at.size:
            texts = values.take(pa.array(at)).to_pylist()
            for i, ms in zip(at.tolist(), matcher.match_digest_batch(signal, texts)):
                if ms:
                    found.setdefault(i, []).extend(ms)
    pdq = table.column("pdq")
    at = np.flatnonzero(pc.and_(ok, pc.is_valid(pdq)).to_numpy(zero_copy_only=False))
    qualities = table.column("quality").to_numpy(zero_copy_only=False)
    if at.size and len(matcher.index):
        if matcher.min_quality is not None:  # the Matcher's rule: left out below it
            at = at[qualities[at] >= matcher.min_quality]
        take = pa.array(at)
        if matcher.dihedral:
            lists = table.column("pdq_dihedral").take(take).combine_chunks()
            if lists.null_count or not np.all(np.diff(lists.offsets.to_numpy()) == 8):
                raise ValueError("hashed without its dihedral variants (scan hash "
                                 "--dihedral): cannot match with dihedral")
            codes = hex_column(lists.flatten()).reshape(len(at), 8, 32)
        else:
            codes = hex_column(pdq.take(take).combine_chunks())
        if indexed == "stored":
            weak = matcher.weak_quality
            for k, row, distance, variant in pdq_hits_from_list(codes, matcher):
                i = int(at[k])
                found.setdefault(i, []).append(Match(
                    "pdq", row, matcher._entries("pdq", row), distance,
                    bool(qualities[i] < weak), variant))
            hits = np.empty(0, np.int64)
        elif matcher.dihedral:
            lims = matcher.index.search_range(codes, matcher.radius, dihedral=True)[0]
            hits = np.flatnonzero(np.diff(lims))
        else:
            lims = matcher.index.search_range(codes, matcher.radius)[0]
            hits = np.flatnonzero(np.diff(lims))
        if hits.size:
            rows = at[hits]
            answers = matcher.match_pdq_batch(codes[hits],
                                              [int(q) for q in qualities[rows]])
            for i, ms in zip(rows.tolist(), answers):
                found.setdefault(i, []).extend(ms)
    videos = table.column("vpdq")
    for i in np.flatnonzero(pc.and_(ok, pc.is_valid(videos)).to_numpy(
            zero_copy_only=False)).tolist():
        feats = [VPDQFeature(f["frame_number"], f["quality"], f["pdq"], f["timestamp"])
                 for f in videos[i].as_py()]
        ms = matcher.match_video(feats)
        if ms:
            found.setdefault(i, []).extend(ms)
    out: list[dict] = []
    keys = table.column("key")
    for i in sorted(found):
        key = keys[i].as_py()
        for m in found[i]:
            base = {"key": key, "signal": m.signal, "row": m.row}
            if m.signal == "vpdq":
                base.update(query_match_percent=m.query_match_percent,
                            compared_match_percent=m.compared_match_percent)
            else:
                base["distance"] = m.distance
            if m.signal == "pdq":
                base.update(quality=int(qualities[i]), weak=m.weak)
            if m.variant is not None:
                base["variant"] = DIHEDRAL_NAMES[m.variant]
            for entry in m.entries:
                out.append(dict(base, id=entry.id, label=entry.label, source=entry.source,
                                entry_key=entry.key))
    return out


_MATCH_COLUMNS = ("key", "ok", "pdq", "quality", "pdq_dihedral", "md5", "sha256", "vpdq")


def match_shard(shard_path: str, list_path: str, options: dict, out_path: str | None = None,
                indexed: str = "list") -> dict:
    """Match one hash shard against the list file at ``list_path`` (mapped once per
    process); ``indexed`` as for match_table. Returns a summary with the match rows
    (matches are few), or, with ``out_path``, writes them there as Parquet and
    returns only their count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    start = time.perf_counter()
    columns = [c for c in _MATCH_COLUMNS
               if c != "pdq_dihedral" or options.get("dihedral")]
    table = pq.read_table(shard_path, columns=columns)
    if "pdq_dihedral" not in table.column_names:
        table = table.append_column("pdq_dihedral", pa.nulls(len(table),
                                                             pa.list_(pa.string())))
    rows = match_table(table, matcher_for(list_path, options), indexed)
    summary = {"shard": shard_path, "hashes": len(table), "pid": os.getpid(),
               "seconds": time.perf_counter() - start, "matches": len(rows)}
    if out_path is not None:
        write_table_atomically(pa.Table.from_pylist(rows, schema=match_schema()), out_path,
                               metadata={META_KIND: b"match"})
    else:
        summary["rows"] = rows
    return summary
