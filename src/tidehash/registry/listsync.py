"""A local tidehash list file kept equal to a registry's list (``tidehash sync``).

The file is a tidehash list file (formats/binary.py), so ``tidehash match --against``
and ``Matcher.load`` read it as any other. Every registry entry is one entry in
each of its signals' groups (an image: pdq, md5, sha256; a video: md5, sha256,
vpdq) with the registry's entry id as its id, the case pseudonym as its label and
the registry's URL as its source. ``extra["registry"]`` keeps the URL, the cursor
and the sequence number the list is at.

Changes are applied with array operations over the whole list, never a Python
object per listed entry: membership of the changed ids and of the new hashes is
found through a small hashed bitmap (one gather over the list's ids or hash
prefixes, then an exact check of the few candidates), rows and entries are taken
with masks, and the byte order of the MD5 / SHA-256 rows is kept by merging. Only
vPDQ videos (few, and made of Python frames anyway) go through records.
"""

from __future__ import annotations

import binascii
import contextlib
import datetime
import glob
import os

import numpy as np

from .. import _native
from ..formats.binary import save_list
from ..formats.model import (
    HASH_BYTES,
    SIGNAL_TYPES,
    HashList,
    HashRecord,
    ListBuilder,
    SignalHashes,
    StringColumn,
)
from ..hashes import VPDQFeature
from .wire import loads

LIST_FORMAT = "registry"
#: changes fetched before they are applied and the file written (each write is
#: the whole file: fewer for a long catch-up; a crash loses at most these)
APPLY_EVERY = 500_000
_FIXED = ("pdq", "md5", "sha256")
_MIX = np.uint64(0x9E3779B97F4A7C15)


class SyncError(Exception):
    """The list file cannot be synced (not one ``tidehash sync`` wrote, another
    registry's, or what the registry sent does not hold together)."""


# ----------------------------------------------------------------------------- hashing
def _bucket(keys: np.ndarray, bits: int) -> np.ndarray:
    """Fibonacci hashing of uint64 keys to ``bits`` bits (mixes every bit in)."""
    return (keys * _MIX) >> np.uint64(64 - bits)


def _bits_for(n: int) -> int:
    # about 64 slots per key: a scan of N keys then leaves ~N/64 false candidates
    return int(min(30, max(12, int(n).bit_length() + 6)))


def member_mask(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_set)`` for int64 ``values`` (N large) and a sorted
    unique int64 ``sorted_set`` (k small), in one pass over ``values``."""
    out = np.zeros(values.shape[0], bool)
    if values.shape[0] == 0 or sorted_set.shape[0] == 0:
        return out
    bits = _bits_for(sorted_set.shape[0])
    table = np.zeros(1 << bits, bool)
    table[_bucket(sorted_set.view(np.uint64), bits)] = True
    cand = np.flatnonzero(table[_bucket(np.ascontiguousarray(values).view(np.uint64), bits)])
    if cand.shape[0]:
        found = values[cand]
        pos = np.minimum(np.searchsorted(sorted_set, found), sorted_set.shape[0] - 1)
        out[cand[sorted_set[pos] == found]] = True
    return out


def _prefix(rows: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each row as uint64 (a key for hashing; rows are hashes)."""
    return _head(rows, np.uint64)


def _head(rows: np.ndarray, dtype) -> np.ndarray:
    """The first 8 bytes of each row (width >= 8) as one ``dtype`` (8-byte) number."""
    rows = np.ascontiguousarray(rows)
    if rows.shape[1] % 8 == 0:  # a strided copy of whole words, not of bytes
        words = rows.view(dtype)
        return np.ascontiguousarray(words[:, 0])
    return np.ascontiguousarray(rows[:, :8]).view(dtype).ravel()


def _keys(rows: np.ndarray) -> np.ndarray:
    rows = np.ascontiguousarray(rows)
    return rows.view(f"V{rows.shape[1]}").ravel()


def take_rows(rows: np.ndarray, which: np.ndarray) -> np.ndarray:
    """``rows[which]`` for a 2-D uint8 array (a mask or indices), through a
    one-item-a-row view: NumPy copies whole rows then, about 20x faster."""
    rows = np.ascontiguousarray(rows)
    width = rows.shape[1]
    if width == 0:
        return rows[which]
    return rows.view(f"V{width}").ravel()[which].view(np.uint8).reshape(-1, width)


def find_rows(rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """For each query row (u, w) the index of an equal row of ``rows`` (R, w, unique
    rows, R large), or -1: one pass over the rows' prefixes, exact check of the few
    candidates."""
    out = np.full(queries.shape[0], -1, np.int64)
    if rows.shape[0] == 0 or queries.shape[0] == 0:
        return out
    bits = _bits_for(queries.shape[0])
    table = np.zeros(1 << bits, bool)
    table[_bucket(_prefix(queries), bits)] = True
    cand = np.flatnonzero(table[_bucket(_prefix(rows), bits)])
    if cand.shape[0] == 0:
        return out
    ckeys = _keys(take_rows(rows, cand))
    order = np.argsort(ckeys)
    qkeys = _keys(queries)
    pos = np.minimum(np.searchsorted(ckeys, qkeys, sorter=order), cand.shape[0] - 1)
    hit = ckeys[order[pos]] == qkeys
    out[hit] = cand[order[pos[hit]]]
    return out


def fast_sorted_rows(hashes: np.ndarray) -> np.ndarray:
    """``formats.model.sorted_rows`` (the rows in byte order) for unique rows: an
    argsort of the big-endian first 8 bytes, ties (rare in hashes) settled on the
    whole row. Several times faster than sorting the rows as bytes."""
    n = hashes.shape[0]
    if n == 0:
        return np.empty(0, np.int64)
    head = _head(hashes, ">u8").astype(np.uint64)
    order = np.argsort(head, kind="stable").astype(np.int64, copy=False)
    sorted_head = head[order]
    tie = np.flatnonzero(sorted_head[1:] == sorted_head[:-1])
    if tie.shape[0]:
        starts = np.unique(np.concatenate([tie, tie + 1]))
        # runs of equal heads: sort each run by the whole row
        breaks = np.flatnonzero(np.diff(starts) != 1) + 1
        for run in np.split(starts, breaks):
            idx = order[run]
            order[run] = idx[np.argsort(_keys(take_rows(hashes, idx)), kind="stable")]
    return order


# ----------------------------------------------------------------------------- entries
class EntryBatch:
    """Registry entries (wire dicts) as arrays per signal: for pdq / md5 / sha256
    ``hashes`` (k, width) uint8, ``ids`` int64, ``quality`` int16 (pdq only) and the
    labels as (UTF-8 bytes, end offsets); for vpdq a list of (id, label, frames)."""

    def __init__(self, entries: list):
        self.count = len(entries)
        for e in entries:  # every entry has its id (a trailer in the middle has none)
            if not isinstance(e, dict):
                raise SyncError(f"an entry that is not an object: {e!r:.80}")
            entry_id(e.get("id"))
        self.groups: dict[str, dict] = {}
        self.videos: list[tuple[int, str, tuple]] = []
        for signal in _FIXED:
            picked = [e for e in entries if signal in e]
            if picked:
                self.groups[signal] = _fixed_arrays(signal, picked)
        for e in entries:
            if "vpdq" in e:
                frames = e["vpdq"]
                if not isinstance(frames, list):
                    raise SyncError(f"entry {e.get('id')!r}: vpdq is not a list of frames")
                self.videos.append((entry_id(e.get("id")), _label(e), tuple(
                    VPDQFeature.from_json(f, f"entry {e.get('id')} vpdq") for f in frames)))


def entry_id(text) -> int:
    """The int64 id of a 16-hex-digit registry entry id."""
    if not isinstance(text, str) or len(text) != 16:
        raise SyncError(f"not a registry entry id: {text!r:.40}")
    try:
        value = int(text, 16)
    except ValueError:
        raise SyncError(f"not a registry entry id: {text!r:.40}") from None
    if value >= 1 << 63:
        raise SyncError(f"entry id {text} is over 63 bits")
    return value


def _label(e: dict) -> str:
    case = e.get("case")
    return case if isinstance(case, str) else ""


def _hex_array(signal: str, values: list, width: int) -> np.ndarray:
    if any(type(v) is not str or len(v) != 2 * width for v in values):
        bad = next(v for v in values if type(v) is not str or len(v) != 2 * width)
        raise SyncError(f"{signal}: {bad!r:.80} is not {2 * width} hex digits")
    try:
        raw = bytes.fromhex("".join(values))
    except ValueError:
        raise SyncError(f"{signal}: a hash that is not hex") from None
    return np.frombuffer(raw, np.uint8).reshape(len(values), width)


def _fixed_arrays(signal: str, entries: list) -> dict:
    width = HASH_BYTES[signal]
    ids = _hex_array("id", [e.get("id") for e in entries], 8).copy().view(">i8").ravel()
    if np.any(ids < 0):
        raise SyncError("an entry id over 63 bits")
    out = {"hashes": _hex_array(signal, [e[signal] for e in entries], width),
           "ids": ids.astype(np.int64), "quality": None}
    if signal == "pdq":
        # no quality (NCMEC and StopNCII give none) is -1, the list's "unknown"
        quality = [-1 if e.get("quality") is None else e["quality"] for e in entries]
        if any(type(q) is not int or not -1 <= q <= 100 for q in quality):
            raise SyncError("pdq: a quality that is not an int in 0..100")
        out["quality"] = np.array(quality, np.int16)
    encoded = [_label(e).encode("utf-8", "surrogateescape") for e in entries]
    out["labels"] = (np.frombuffer(b"".join(encoded), np.uint8),
                     np.cumsum([len(b) for b in encoded], dtype=np.int64))
    return out


# ----------------------------------------------------------------------------- snapshot
def _template(quality_digits: int, digests: bool) -> tuple[bytes, dict]:
    """The server's image line (changelog's two formatted shapes: every signal, or PDQ
    only) with ``quality_digits`` digits: its bytes with the fields zeroed, and each
    field's slice."""
    parts = [(b'{"id":"', None), (16, "id"), (b'","case":"', None), (22, "case"),
             (b'","kind":"image","pdq":"', None), (64, "pdq"), (b'","quality":', None),
             (quality_digits, "quality")]
    if digests:
        parts += [(b',"md5":"', None), (32, "md5"), (b'","sha256":"', None), (64, "sha256"),
                  (b'","added":"', None)]
    else:
        parts += [(b',"added":"', None)]
    parts += [(10, "added"), (b'"}', None)]
    out, fields = b"", {}
    for part, name in parts:
        if name is None:
            out += part
        else:
            fields[name] = slice(len(out), len(out) + part)
            out += b"\0" * part
    return out, fields


# (template, 0xff where a byte must be the template's, field slices)
_TEMPLATES = [(np.frombuffer(t, np.uint8), np.frombuffer(t, np.uint8).astype(bool) * np.uint8(255),
               f) for t, f in (_template(d, digests) for digests in (True, False)
                               for d in (1, 2, 3))]
_HEX_VALUE = np.full(256, 255, np.uint8)
_HEX_VALUE[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_HEX_VALUE[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)
_HEX_VALUE[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)  # as bytes.fromhex
_DIGIT = np.full(256, 255, np.uint8)
_DIGIT[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_DATE_BYTE = np.zeros(256, bool)
_DATE_BYTE[np.frombuffer(b"0123456789-", np.uint8)] = True


def _unhex(chars: np.ndarray) -> tuple[np.ndarray, np.ndarray | bool]:
    """(bytes (n, w/2), ok: per row, or True for all) of hex digits (n, w), either
    case (as bytes.fromhex reads them)."""
    n, width = chars.shape
    try:  # the whole column at once, in C
        raw = binascii.unhexlify(np.ascontiguousarray(chars).tobytes())
        return np.frombuffer(raw, np.uint8).reshape(n, width // 2), True
    except binascii.Error:  # some row is not hex: find which
        nib = _HEX_VALUE[chars]
        ok = ~(nib == 255).any(axis=1)
        return (nib[:, 0::2] << 4) | nib[:, 1::2], ok


def parse_image_lines(block: bytes) -> tuple[dict, list]:
    """The snapshot's image lines that are exactly in the server's own form (nearly
    every line of a snapshot) as arrays, with no Python object per line; and every
    other line (bytes) for the JSON path. Returns ({signal: {"hashes", "ids",
    "quality" (pdq only), "labels"}}, others). Every byte is checked (the template,
    hex digits, quality 0..100 without leading zeros, a 63-bit id), so a line read
    here reads as the JSON path reads it."""
    buf = np.frombuffer(block, np.uint8)
    ends = np.flatnonzero(buf == 0x0A)
    if ends.shape[0] == 0:
        return {}, [block] if block.strip() else []
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts
    taken = np.zeros(ends.shape[0], bool)
    parts: dict[str, list] = {"pdq": [], "md5": [], "sha256": []}
    for template, literal, fields in _TEMPLATES:
        length = template.shape[0]
        at = np.flatnonzero((lengths == length) & ~taken)
        if at.shape[0] == 0:
            continue
        if buf.shape[0] < length:
            continue
        # the lines as rows of a window over the block: no index array per byte
        rows = np.lib.stride_tricks.sliding_window_view(buf, length)[starts[at]]
        # every byte outside the fields is the template's (fields are zero in it)
        ok = ~((rows ^ template) & literal).any(axis=1)
        ids, good = _unhex(rows[:, fields["id"]])
        ok &= good
        hashes = {}
        for signal in ("pdq", "md5", "sha256"):
            if signal in fields:
                hashes[signal], good = _unhex(rows[:, fields[signal]])
                ok &= good
        ok &= _unhex(rows[:, fields["case"]])[1]
        digits = _DIGIT[rows[:, fields["quality"]]]
        ok &= ~(digits == 255).any(axis=1)
        ok &= _DATE_BYTE[rows[:, fields["added"]]].all(axis=1)
        quality = np.zeros(at.shape[0], np.int64)
        for k in range(digits.shape[1]):
            quality = quality * 10 + digits[:, k]
        if digits.shape[1] > 1:
            ok &= digits[:, 0] != 0
        ok &= quality <= 100
        ids = ids.view(">i8").ravel()
        ok &= ids >= 0  # 63-bit ids
        if not ok.all():
            if not ok.any():
                continue
            rows, ids, quality = rows[ok], ids[ok], quality[ok]
            hashes = {signal: h[ok] for signal, h in hashes.items()}
        taken[at[ok]] = True
        common = {"ids": ids.astype(np.int64),
                  "case": np.ascontiguousarray(rows[:, fields["case"]])}
        for signal, h in hashes.items():
            part = dict(common, hashes=h)
            if signal == "pdq":
                part["quality"] = quality.astype(np.int16)
            parts[signal].append(part)
    others = [block[int(starts[i]):int(ends[i]) + 1] for i in np.flatnonzero(~taken)]
    tail = block[int(ends[-1]) + 1:]
    if tail.strip():
        others.append(tail)
    out = {}
    for signal, pieces in parts.items():
        if not pieces:
            continue
        group = {name: np.concatenate([p[name] for p in pieces]) for name in pieces[0]}
        case = group.pop("case")
        group["labels"] = (case.ravel(),
                           np.arange(1, case.shape[0] + 1, dtype=np.int64) * case.shape[1])
        out[signal] = group
    return out, others


def _json_lines(lines: list) -> list:
    out = []
    for line in lines:
        try:
            out.append(loads(line))
        except ValueError:
            raise SyncError(f"a snapshot line that is not JSON: {bytes(line[:80])!r}") \
                from None
    return out


class SnapshotBuilder:
    """A HashList built from snapshot blocks (lists of entry dicts), in arrays."""

    def __init__(self, source: str):
        self.source = source
        self.builder = ListBuilder(source)
        self.code = self.builder.source_code(source)
        self.count = 0

    def add_lines(self, block: bytes) -> None:
        """A block of whole snapshot lines: the image lines in the server's own form
        are read as arrays (parse_image_lines), any other line through JSON."""
        fast, others = parse_image_lines(block)
        if "pdq" in fast:
            self.count += fast["pdq"]["ids"].shape[0]
        for signal, group in fast.items():
            self.builder.add_arrays(signal, group["hashes"], group["ids"],
                                    quality=group.get("quality"), source_code=self.code,
                                    labels=group["labels"])
        if others:
            self.add(_json_lines(others))

    def add(self, entries: list) -> None:
        batch = EntryBatch(entries)
        self.count += batch.count
        for signal, arrays in batch.groups.items():
            self.builder.add_arrays(signal, arrays["hashes"], arrays["ids"],
                                    quality=arrays["quality"], source_code=self.code,
                                    labels=arrays["labels"])
        for id_, label, frames in batch.videos:
            self.builder.add(HashRecord("vpdq", None, id_, None, label or None, self.source,
                                        None, frames), check=False)

    def finish(self) -> HashList:
        hl = self.builder.finish(format=LIST_FORMAT)
        groups = {s: _with_sorted_rows(hl[s]) for s in hl.signals}
        return HashList(groups, sources=hl.sources, format=LIST_FORMAT)


def _with_sorted_rows(group: SignalHashes) -> SignalHashes:
    """md5 / sha256 groups get their byte order (saved in the file) by the fast sort."""
    if group.signal not in ("md5", "sha256"):
        return group
    return SignalHashes(group.signal, group.hashes, group.ids, sources=group.sources,
                        source_codes=group.source_codes, quality=group.quality,
                        labels=group.labels, keys=group.keys,
                        entry_row=group.entry_row if group.has_duplicates else None,
                        offsets=group.offsets, order=group.order,
                        sorted_rows=fast_sorted_rows(group.hashes))


# ----------------------------------------------------------------------------- changes
def net_changes(changes: list) -> tuple[dict, list]:
    """(id -> the last change of each id: an entry dict, or None for a delete; the
    seq numbers in order), checked: strictly increasing, no gap."""
    last: dict[int, dict | None] = {}
    seqs = []
    for ch in changes:
        if not isinstance(ch, dict):
            raise SyncError(f"a change that is not an object: {ch!r:.80}")
        op = ch.get("op")
        if op == "upsert":
            entry = ch.get("entry")
            if not isinstance(entry, dict):
                raise SyncError(f"upsert without an entry: {ch!r:.80}")
            last[entry_id(entry.get("id"))] = entry
        elif op == "delete":
            last[entry_id(ch.get("id"))] = None
        else:
            raise SyncError(f"unknown change op {op!r:.40}")
        seqs.append(ch.get("seq"))
    return last, seqs


def check_seqs(seqs: list, after: int) -> None:
    """The seqs of a run of changes follow ``after`` one by one."""
    expected = after + 1
    for seq in seqs:
        if type(seq) is not int or seq != expected:
            raise SyncError(f"changes out of order: seq {seq!r} where {expected} was due "
                            "(the registry must send every seq once, in order)")
        expected += 1


def apply_changes(hl: HashList, changes: list, source: str) -> tuple[HashList, dict]:
    """``hl`` with ``changes`` (README change dicts, in seq order) applied: an upsert
    adds or replaces an entry in every signal group, a delete takes it out of all.
    Returns (the new HashList, {"added", "removed", "updated"})."""
    last, _ = net_changes(changes)
    touched = np.array(sorted(last), np.int64)
    upserts = [e for e in last.values() if e is not None]
    batch = EntryBatch(upserts)
    sources = list(hl.sources)
    if source not in sources:
        sources.append(source)
    code = sources.index(source)
    groups = {}
    present = []
    for signal in SIGNAL_TYPES:
        old = hl[signal] if signal in hl.signals else None
        if signal == "vpdq":
            new = _merge_videos(old, touched, batch.videos, sources, source, present)
        else:
            new = _merge_fixed(signal, old, touched, batch.groups.get(signal), sources,
                               code, present)
        if new is not None and new.n_entries:
            groups[signal] = new
    present_ids = np.unique(np.concatenate(present)) if present else np.empty(0, np.int64)
    was = member_mask(np.array([entry_id(e["id"]) for e in upserts], np.int64), present_ids)
    deleted = np.array([i for i, e in last.items() if e is None], np.int64)
    stats = {"added": int((~was).sum()), "updated": int(was.sum()),
             "removed": int(member_mask(deleted, present_ids).sum())}
    out = HashList(groups, sources=sources, format=LIST_FORMAT)
    return out, stats


def _kept_then(old, keep: np.ndarray, n_kept: int, new, dtype) -> np.ndarray:
    """One array: the kept items of ``old`` (1-D, or 2-D rows of bytes), then ``new``;
    written once into its place (no intermediate copies)."""
    old = np.asarray(old)
    k = 0 if new is None else len(new)
    shape = (n_kept + k,) + old.shape[1:]
    out = np.empty(shape, dtype)
    if old.ndim == 2 and old.shape[1]:
        width = old.shape[1]
        np.compress(keep, np.ascontiguousarray(old).view(f"V{width}").ravel(),
                    out=out[:n_kept].view(f"V{width}").ravel())
    elif n_kept:
        np.compress(keep, old, out=out[:n_kept])
    if k:
        out[n_kept:] = new
    return out


def _merged_strings(column: StringColumn | None, keep: np.ndarray, n_kept: int, new):
    """StringColumn of the kept strings of ``column`` then the ``new`` (data, ends);
    None when neither side has strings. Fixed-width strings (pseudonyms) are taken
    as rows of bytes; others gathered in chunks."""
    k = 0 if new is None else new[1].shape[0]
    if column is None and new is None:
        return None
    new_data, new_ends = new if new is not None else (np.empty(0, np.uint8),
                                                      np.zeros(k, np.int64))
    if column is None or len(column) == 0:
        old_bytes = 0
        data = np.empty(len(new_data), np.uint8)
        ends = np.empty(n_kept + k, np.int64)
        ends[:n_kept] = 0
    else:
        old_ends = np.asarray(column.ends, np.int64)
        n = old_ends.shape[0]
        width = int(old_ends[0])
        fixed = int(old_ends[-1]) == n * width and bool(np.array_equal(
            old_ends, np.arange(1, n + 1, dtype=np.int64) * width))
        if fixed:
            old_bytes = n_kept * width
            data = np.empty(old_bytes + len(new_data), np.uint8)
            ends = np.empty(n_kept + k, np.int64)
            np.multiply(np.arange(1, n_kept + 1, dtype=np.int64), width, out=ends[:n_kept])
            if width:
                rows = np.asarray(column.data)[:n * width].reshape(n, width)
                np.compress(keep, rows.view(f"V{width}").ravel(),
                            out=data[:old_bytes].reshape(n_kept, width).view(
                                f"V{width}").ravel())
        else:
            starts = np.empty(n, np.int64)
            starts[0] = 0
            starts[1:] = old_ends[:-1]
            lengths = old_ends - starts
            kept_lengths = lengths[keep]
            ends = np.empty(n_kept + k, np.int64)
            np.cumsum(kept_lengths, out=ends[:n_kept])
            old_bytes = int(ends[n_kept - 1]) if n_kept else 0
            data = np.empty(old_bytes + len(new_data), np.uint8)
            source = np.asarray(column.data)
            idx = np.flatnonzero(keep)
            at_byte = 0
            for at in range(0, idx.shape[0], 1 << 20):
                chunk = idx[at:at + (1 << 20)]
                first, ln = starts[chunk], lengths[chunk]
                total = int(ln.sum())
                if total:
                    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(ln) - ln, ln)
                    data[at_byte:at_byte + total] = source[np.repeat(first, ln) + within]
                    at_byte += total
    data[old_bytes:] = new_data
    np.add(np.asarray(new_ends, np.int64), old_bytes, out=ends[n_kept:])
    return StringColumn(data, ends)


def _merge_fixed(signal: str, old: SignalHashes | None, touched: np.ndarray,
                 new: dict | None, sources: list, code: int, present: list):
    width = HASH_BYTES[signal]
    if old is None:
        old = SignalHashes.empty(signal, sources)
    drop = member_mask(np.asarray(old.ids), touched)
    if drop.any():
        present.append(np.asarray(old.ids)[drop])
    keep = ~drop
    n_kept = old.n_entries - int(drop.sum())
    if old.has_duplicates:
        entry_row = np.asarray(old.entry_row)
        keep_rows = np.bincount(entry_row[keep], minlength=len(old)) > 0
    else:
        entry_row = None
        keep_rows = keep
    n_rows = int(keep_rows.sum())
    old_hashes = np.asarray(old.hashes)
    remap = None
    if entry_row is not None or signal in ("md5", "sha256"):
        remap = np.cumsum(keep_rows, dtype=np.int64) - 1
    k = 0 if new is None else new["ids"].shape[0]
    appended = np.empty((0, width), np.uint8)
    new_entry_row = np.empty(0, np.int64)
    if k:
        keys = _keys(new["hashes"])
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        by_first = np.argsort(first, kind="stable")  # unique hashes in order of appearance
        rank = np.empty_like(by_first)
        rank[by_first] = np.arange(by_first.shape[0])
        unique = take_rows(new["hashes"], first[by_first])
        found = find_rows(old_hashes, unique)  # a row of the old list, kept or not
        hit = np.flatnonzero(found >= 0)
        if hit.shape[0]:
            hit = hit[keep_rows[found[hit]]]  # a dropped row is no longer there
            if remap is None:
                remap = np.cumsum(keep_rows, dtype=np.int64) - 1
            renumbered = np.full(found.shape[0], -1, np.int64)
            renumbered[hit] = remap[found[hit]]
            found = renumbered
        absent = found < 0
        appended = take_rows(unique, absent)
        found[absent] = n_rows + np.arange(int(absent.sum()), dtype=np.int64)
        new_entry_row = found[rank[inverse.ravel()]]
    hashes = _kept_then(old_hashes, keep_rows, n_rows, appended, np.uint8)
    ids = _kept_then(old.ids, keep, n_kept, new["ids"] if k else None, np.int64)
    codes = _kept_then(old.source_codes, keep, n_kept, np.full(k, code, np.int32), np.int32)
    quality = None
    if old.quality is not None or (k and new["quality"] is not None):
        old_quality = old.quality if old.quality is not None \
            else np.full(old.n_entries, -1, np.int16)
        quality = _kept_then(old_quality, keep, n_kept,
                             new["quality"] if k and new["quality"] is not None
                             else np.full(k, -1, np.int16), np.int16)
    labels = _merged_strings(old.labels, keep, n_kept, new["labels"] if k else None)
    keys_column = _merged_strings(old.keys, keep, n_kept, None if old.keys is None
                                  else (np.empty(0, np.uint8), np.zeros(k, np.int64)))
    n = n_kept + k
    offsets = order = permutation = entry_rows = None
    if entry_row is not None or hashes.shape[0] != n or \
            not np.array_equal(new_entry_row, np.arange(n_kept, n, dtype=np.int64)):
        entry_rows = np.concatenate([
            remap[entry_row[keep]] if entry_row is not None
            else np.arange(n_kept, dtype=np.int64), new_entry_row])
        if hashes.shape[0] == n:
            if not np.array_equal(entry_rows, np.arange(n, dtype=np.int64)):
                permutation = entry_rows  # one entry a row, but not in entry order
                hashes = take_rows(hashes, permutation)
            entry_rows = None
        else:
            offsets, order = _native.group_order(entry_rows, hashes.shape[0])
    sorted_rows = None
    if signal in ("md5", "sha256"):
        sorted_old = np.asarray(old.sorted_rows) if len(old) else None
        sorted_rows = _merge_sorted(sorted_old, keep_rows, remap, hashes, n_rows, permutation)
    return SignalHashes(signal, hashes, ids, sources=sources, source_codes=codes,
                        quality=quality, labels=labels, keys=keys_column,
                        entry_row=entry_rows, offsets=offsets, order=order,
                        sorted_rows=sorted_rows)


def _merge_sorted(sorted_old, keep_rows, remap, hashes, n_kept_rows, permutation):
    """The byte order of the new rows: the old order without the dropped rows, the
    appended rows merged in, then (``permutation``: new row i was row p[i]) renumbered."""
    if sorted_old is None:
        kept = np.empty(0, np.int64)
    else:
        kept = remap[sorted_old[keep_rows[sorted_old]]]
    if permutation is not None:
        unpermuted = np.empty_like(permutation)
        unpermuted[permutation] = np.arange(permutation.shape[0], dtype=np.int64)
        # row j before the reorder is row unpermuted[j] now
        rows_before = np.empty_like(hashes)
        rows_before[permutation] = hashes
    else:
        unpermuted, rows_before = None, hashes
    extra = rows_before.shape[0] - n_kept_rows
    if extra:
        keys = _keys(rows_before)
        new_keys = keys[n_kept_rows:]
        by_key = np.argsort(new_keys, kind="stable")
        pos = np.searchsorted(keys[:n_kept_rows], new_keys[by_key], sorter=kept) \
            if n_kept_rows else np.zeros(extra, np.int64)
        kept = np.insert(kept, pos, n_kept_rows + by_key.astype(np.int64))
    return kept if unpermuted is None else unpermuted[kept]


def _merge_videos(old: SignalHashes | None, touched: np.ndarray, videos: list,
                  sources: list, source: str, present: list):
    builder = ListBuilder(source)
    for name in sources:
        builder.source_code(name)
    if old is not None:
        drop = member_mask(old.ids, touched)
        if drop.any():
            present.append(np.asarray(old.ids[drop]))
        for entry in np.flatnonzero(~drop):
            builder.add(old.record(int(entry)), check=False)
    for id_, label, frames in videos:
        builder.add(HashRecord("vpdq", None, id_, None, label or None, source, None, frames),
                    check=False)
    if "vpdq" not in builder.groups:
        return None
    group = builder.finish(format=LIST_FORMAT).vpdq
    return SignalHashes("vpdq", None, group.ids, sources=sources,
                        source_codes=group.source_codes, quality=group.quality,
                        labels=group.labels, keys=group.keys,
                        entry_row=group.entry_row if group.has_duplicates else None,
                        offsets=group.offsets, order=group.order, features=group.features)


def entry_ids(hl: HashList) -> np.ndarray:
    """The registry entry ids a list holds (sorted, unique)."""
    ids = [np.asarray(hl[s].ids) for s in hl.signals]
    return np.unique(np.concatenate(ids)) if ids else np.empty(0, np.int64)


def id_differences(before: HashList, after: HashList) -> tuple[int, int]:
    """(entries in ``after`` and not ``before``, entries in ``before`` and not ``after``)."""
    old, new = entry_ids(before), entry_ids(after)
    return (int((~np.isin(new, old, assume_unique=True)).sum()),
            int((~np.isin(old, new, assume_unique=True)).sum()))


# ----------------------------------------------------------------------------- the file
def registry_state(hl: HashList, path: str, url: str) -> dict:
    state = hl.extra.get("registry")
    if isinstance(state, dict) and state.get("source", "tidehash") != "tidehash":
        raise SyncError(f"{path}: synced from {state.get('source')} at {state.get('url')}, "
                        "not from a tidehash registry; sync each source into its own file")
    if not isinstance(state, dict) or not isinstance(state.get("seq"), int) \
            or not isinstance(state.get("cursor"), str):
        raise SyncError(f"{path}: a list file that tidehash sync did not write; "
                        "sync into a new file")
    if state.get("url") != url:
        raise SyncError(f"{path}: synced from {state.get('url')}, not {url}; "
                        "sync each registry into its own file")
    return state


def save_synced(hl: HashList, path: str, url: str, *, seq: int, cursor: str, head: int,
          entries: int) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    save_list(hl, path, extra={"registry": {"url": url, "seq": seq, "cursor": cursor,
                                            "head": head, "entries": entries,
                                            "synced": now}})


@contextlib.contextmanager
def locked(path: str):
    """One sync of ``path`` at a time (an flock on a hidden file beside it); the
    holder then removes temporary files a killed sync left."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): syncs must not overlap
        yield
        return
    folder, base = os.path.split(os.path.abspath(path))
    try:
        fd = os.open(os.path.join(folder, f".{base}.lock"), os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:  # named as the caller named the list, not the lock file
        raise type(exc)(exc.errno, exc.strerror, path) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for stale in glob.glob(os.path.join(glob.escape(folder),
                                            f".{glob.escape(base)}.*.tmp")):
            with contextlib.suppress(OSError):
                os.unlink(stale)
        yield
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- sources
#: refused entries listed in a sync's result (all are counted)
LISTED_ERRORS = 1000


def source_checkpoint(hl: HashList, path: str, source) -> object:
    """The checkpoint a list file synced from ``source`` is at."""
    state = hl.extra.get("registry")
    if not isinstance(state, dict) or "checkpoint" not in state:
        raise SyncError(f"{path}: a list file that tidehash sync --from {source.kind} did "
                        "not write; sync into a new file")
    if state.get("source") != source.kind or state.get("url") != source.url:
        raise SyncError(f"{path}: synced from {state.get('source')} at {state.get('url')}, "
                        f"not {source.kind} at {source.url}; sync each source into its "
                        "own file")
    return state["checkpoint"]


def sync_source(path, source, *, apply_every: int = APPLY_EVERY) -> dict:
    """Bring the list file ``path`` up to date with ``source`` (sources.Source): its
    pages from the checkpoint kept in the file, applied as the registry's changes are
    (an added entry replaces the one with its id, a removed id leaves every signal
    group), the file replaced atomically with the checkpoint of the last page applied,
    every ``apply_every`` changes and at the end. A pull that stops with a SourceError
    first saves what came before it (so the next run goes on from there), then raises
    it with ``.result`` set. Returns {"list", "from", "url", "mode", "entries", "added",
    "removed", "updated", "pages", "errors" (a count), "refused" (the first
    LISTED_ERRORS of them: page, entry, id, error), "retried", "checkpoint"}."""
    from ..formats.binary import load_list
    from .sources.base import SourceError

    path = os.fspath(path)
    with locked(path):
        old = load_list(path, verify=False) if os.path.exists(path) else None
        checkpoint = None if old is None else source_checkpoint(old, path, source)
        hl = old
        totals = {"added": 0, "removed": 0, "updated": 0}
        pending: list = []
        refused: list = []
        counts = {"pages": 0, "errors": 0}
        state = {"checkpoint": checkpoint, "saved": checkpoint, "dirty": old is None}

        def flush() -> None:
            nonlocal hl
            if not pending and not state["dirty"]:
                return
            if hl is None:
                hl = HashList({}, sources=[source.url], format=LIST_FORMAT)
            elif hl is old:
                hl = load_list(path)  # verified: a damaged list is not carried on
            if pending:
                hl, stats = apply_changes(hl, pending, source.url)
                for name in totals:
                    totals[name] += stats[name]
            save_list(hl, path, extra={"registry": {
                "url": source.url, "source": source.kind, "checkpoint": state["checkpoint"],
                "entries": int(entry_ids(hl).shape[0]), "synced": _now()}})
            pending.clear()
            state["saved"], state["dirty"] = state["checkpoint"], False

        def result() -> dict:
            listed = hl if hl is not None else HashList({}, format=LIST_FORMAT)
            return {"list": path, "from": source.kind, "url": source.url,
                    "mode": "pages", "entries": int(entry_ids(listed).shape[0]), **totals,
                    "pages": counts["pages"], "errors": counts["errors"],
                    "refused": refused, "retried": getattr(getattr(source, "http", None),
                                                           "retried", 0),
                    "checkpoint": state["saved"]}

        try:
            for page in source.fetch(checkpoint):
                counts["pages"] += 1
                if page.reset:  # the source starts over: what it listed before goes
                    if hl is not None:
                        totals["removed"] += int(entry_ids(hl).shape[0])
                    hl = HashList({}, sources=[source.url], format=LIST_FORMAT)
                    pending.clear()
                    state["dirty"] = True
                for entry in page.added:
                    pending.append({"op": "upsert", "entry": entry.wire()})
                for foreign in page.removed:
                    pending.append({"op": "delete", "id": f"{_foreign_id(source, foreign):016x}"})
                counts["errors"] += len(page.errors)
                room = LISTED_ERRORS - len(refused)
                if room > 0:
                    refused.extend(page.errors[:room])
                if page.errors or page.added or page.removed:
                    state["dirty"] = True
                if page.checkpoint is None:  # not a place to stop (inside a snapshot)
                    continue
                state["checkpoint"] = page.checkpoint
                if len(pending) >= apply_every:
                    flush()
        except SourceError as exc:
            if state["checkpoint"] != state["saved"]:  # the pages before the error stand
                flush()
            exc.result = result()
            raise
        flush()
        return result()


def _foreign_id(source, foreign: str) -> int:
    from .sources.base import entry_id_of

    if source.kind == "tidehash":
        return entry_id(foreign)
    return entry_id_of(foreign)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
