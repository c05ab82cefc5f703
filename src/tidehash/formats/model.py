"""The in-memory hash list: per signal type, unique hashes as one array and the
entries behind them (id, source, label, quality, key) as parallel arrays.

Ten million PDQ entries cost arrays, not ten million Python objects: hashes are an
(R, 32) uint8 array, ids int64, quality int16, sources int32 codes into a small table
of names, and labels / keys one UTF-8 byte buffer plus an int64 end offset per entry.
Equal hashes are merged into one row; the entries keep their own metadata, and the
row -> entries mapping is CSR (``offsets``, ``order``), absent when no hash repeats.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from .. import _native
from ..errors import HashFormatError
from ..hashes import VPDQFeature

SIGNAL_TYPES = ("pdq", "md5", "sha256", "phash", "vpdq")
# bytes per hash; vPDQ entries are videos (feature lists), not fixed-width rows
HASH_BYTES = {"pdq": 32, "md5": 16, "sha256": 32, "phash": 8}
MAX_STORED_ERRORS = 10_000
_TEXT_SHOWN = 80


# ----------------------------------------------------------------------------- bad lines
@dataclass(frozen=True)
class BadLine:
    """A line (or entry) of a hash list that was not taken, and why.

    ``line`` is the 1-based line number in ``source`` (for XML the line of the element,
    for StopNCII the line where the page starts); ``text`` the offending text,
    truncated to 80 characters."""

    source: str
    line: int
    reason: str
    text: str = ""

    def __str__(self) -> str:
        shown = f": {self.text!r}" if self.text else ""
        return f"{self.source}:{self.line}: {self.reason}{shown}"


class BadLineError(HashFormatError):
    """Raised by ``read_list(..., strict=True)`` at the first bad line; ``.bad_line``
    is the BadLine, and the message names file:line."""

    def __init__(self, bad_line: BadLine):
        self.bad_line = bad_line
        super().__init__(str(bad_line))


def shown_text(raw) -> str:
    """The text shown in a BadLine: decoded leniently, line end removed, truncated."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = bytes(raw[:4 * _TEXT_SHOWN]).decode("utf-8", "replace")
    text = raw.rstrip("\r\n")
    return text if len(text) <= _TEXT_SHOWN else text[:_TEXT_SHOWN - 3] + "..."


# ----------------------------------------------------------------------------- records
@dataclass(frozen=True)
class HashRecord:
    """One entry of a hash list, as ``iter_records`` yields it and ``write_list``
    takes it. ``hash`` is lower-case hex (None for vPDQ, whose ``features`` hold the
    frames); every other field may be None. ``line`` is where it was read (0 if not
    read from a file)."""

    signal: str
    hash: str | None
    id: int | None = None
    quality: int | None = None
    label: str | None = None
    source: str | None = None
    key: str | None = None
    features: tuple[VPDQFeature, ...] | None = None
    line: int = 0

    def to_dict(self) -> dict:
        """The JSON-lines object of this entry (None fields left out)."""
        out: dict = {}
        if self.signal == "vpdq":
            out["vpdq"] = [f.to_json() for f in (self.features or ())]
        else:
            out[self.signal] = self.hash
        for name in ("quality", "id", "label", "source", "key"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


# ----------------------------------------------------------------------------- columns
class StringColumn:
    """N optional strings as one UTF-8 buffer and N end offsets (Arrow's layout).
    The empty string reads as None. Text is decoded with ``surrogateescape``, so
    file names that are not UTF-8 survive a round trip."""

    __slots__ = ("data", "ends")

    def __init__(self, data, ends):
        self.data = np.asarray(data, dtype=np.uint8)
        self.ends = np.asarray(ends, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ends)

    def raw(self, i: int) -> bytes:
        start = int(self.ends[i - 1]) if i > 0 else 0
        return self.data[start:int(self.ends[i])].tobytes()

    def __getitem__(self, i: int) -> str | None:
        if i < 0:
            i += len(self.ends)
        if not 0 <= i < len(self.ends):
            raise IndexError(i)
        raw = self.raw(i)
        return raw.decode("utf-8", "surrogateescape") if raw else None

    def __iter__(self) -> Iterator[str | None]:
        return (self[i] for i in range(len(self)))

    @property
    def nbytes(self) -> int:
        return self.data.nbytes + self.ends.nbytes


def sorted_rows(hashes: np.ndarray) -> np.ndarray:
    """The rows of an (R, width) uint8 array in byte order (stable), for
    ``np.searchsorted(..., sorter=)`` lookups."""
    hashes = np.ascontiguousarray(hashes)
    if hashes.shape[0] == 0:
        return np.empty(0, np.int64)
    keys = hashes.view(f"V{hashes.shape[1]}").ravel()
    return np.argsort(keys, kind="stable").astype(np.int64, copy=False)


class SignalHashes:
    """The hashes of one signal type in a HashList.

    * ``hashes``: (R, nbytes) uint8, unique rows in order of first appearance
      (``None`` for vPDQ, whose rows are videos: ``features[r]`` is a list of
      VPDQFeature);
    * per entry (M >= R entries, in the order read): ``ids`` int64, ``quality`` int16
      (-1 = none; the array is None when no entry has one), ``source_codes`` int32
      into ``sources`` (the list's table of names; "" is no source), ``labels`` and
      ``keys`` (StringColumn, or None when no entry has one), ``entry_row`` int64 (the
      row of each entry);
    * ``offsets``, ``order``: CSR from rows to entries, the entries of row r being
      ``order[offsets[r]:offsets[r + 1]]``; both None when no hash repeats (entry i
      is then row i).
    """

    def __init__(self, signal: str, hashes, ids, *, sources: list[str], source_codes,
                 quality=None, labels: StringColumn | None = None,
                 keys: StringColumn | None = None, entry_row=None, offsets=None,
                 order=None, features: list | None = None, sorted_rows=None):
        if signal not in SIGNAL_TYPES:
            raise ValueError(f"unknown signal type {signal!r}; expected one of {SIGNAL_TYPES}")
        self.signal = signal
        self.hashes = hashes
        self.features = features
        self.ids = ids
        self.quality = quality
        self.source_codes = source_codes
        self.sources = sources
        self.labels = labels
        self.keys = keys
        self._entry_row = entry_row
        self.offsets = offsets
        self.order = order
        self._sorted_rows = sorted_rows  # computed on first use when not given

    @classmethod
    def empty(cls, signal: str, sources: list[str]) -> SignalHashes:
        hashes = None if signal == "vpdq" else np.empty((0, HASH_BYTES[signal]), np.uint8)
        return cls(signal, hashes, np.empty(0, np.int64), sources=sources,
                   source_codes=np.empty(0, np.int32),
                   features=[] if signal == "vpdq" else None)

    def __len__(self) -> int:
        return len(self.features) if self.hashes is None else int(self.hashes.shape[0])

    @property
    def n_entries(self) -> int:
        return int(self.ids.shape[0])

    @property
    def entry_row(self) -> np.ndarray:
        if self._entry_row is None:
            return np.arange(self.n_entries, dtype=np.int64)
        return self._entry_row

    @property
    def sorted_rows(self) -> np.ndarray:
        """The rows in byte order of their hashes (computed once), for exact lookups
        with ``np.searchsorted(..., sorter=)``; see ``find``."""
        if self._sorted_rows is None:
            self._sorted_rows = sorted_rows(self.hashes)
        return self._sorted_rows

    def find(self, hashes) -> np.ndarray:
        """The row of each of ``hashes`` ((k, width) uint8) in this group, -1 where it
        is not listed: an exact lookup by binary search."""
        if self.hashes is None:
            raise TypeError("vPDQ rows are videos; they cannot be looked up by hash")
        q = np.ascontiguousarray(hashes, dtype=np.uint8)
        width = self.hashes.shape[1]
        if q.ndim != 2 or q.shape[1] != width:
            raise ValueError(f"expected (k, {width}) uint8 hashes, got shape {q.shape}")
        out = np.full(q.shape[0], -1, np.int64)
        if q.shape[0] == 0 or len(self) == 0:
            return out
        keys = np.ascontiguousarray(self.hashes).view(f"V{width}").ravel()
        qk = q.view(f"V{width}").ravel()
        pos = np.searchsorted(keys, qk, sorter=self.sorted_rows)
        inside = pos < len(self)
        rows = self.sorted_rows[np.minimum(pos, len(self) - 1)]
        hit = inside & (keys[rows] == qk)
        out[hit] = rows[hit]
        return out

    @property
    def has_duplicates(self) -> bool:
        return self.offsets is not None

    def entries(self, row: int) -> np.ndarray:
        """Indices of the entries of row ``row`` (the order they were read)."""
        if not 0 <= row < len(self):
            raise IndexError(row)
        if self.offsets is None:
            return np.array([row], dtype=np.int64)
        return self.order[self.offsets[row]:self.offsets[row + 1]]

    def ids_of(self, row: int) -> np.ndarray:
        return self.ids[self.entries(row)]

    def hex(self, row: int) -> str | None:
        return None if self.hashes is None else self.hashes[row].tobytes().hex()

    def source(self, entry: int) -> str | None:
        return self.sources[int(self.source_codes[entry])] or None

    def label(self, entry: int) -> str | None:
        return None if self.labels is None else self.labels[entry]

    def key(self, entry: int) -> str | None:
        return None if self.keys is None else self.keys[entry]

    def quality_of(self, entry: int) -> int | None:
        if self.quality is None or self.quality[entry] < 0:
            return None
        return int(self.quality[entry])

    def record(self, entry: int) -> HashRecord:
        row = int(self.entry_row[entry]) if self._entry_row is not None else entry
        return HashRecord(
            self.signal, self.hex(row), int(self.ids[entry]), self.quality_of(entry),
            self.label(entry), self.source(entry), self.key(entry),
            tuple(self.features[row]) if self.features is not None else None)

    def records(self, row: int | None = None) -> Iterator[HashRecord]:
        """Every entry in the order read, or the entries of one row."""
        entries = range(self.n_entries) if row is None else self.entries(row)
        for entry in entries:
            yield self.record(int(entry))

    @property
    def nbytes(self) -> int:
        arrays = (self.hashes, self.ids, self.quality, self.source_codes, self._entry_row,
                  self.offsets, self.order)
        total = sum(a.nbytes for a in arrays if a is not None)
        return total + sum(c.nbytes for c in (self.labels, self.keys) if c is not None)

    def __repr__(self) -> str:
        dup = f", {self.n_entries} entries" if self.n_entries != len(self) else ""
        return f"SignalHashes({self.signal!r}, {len(self)} hashes{dup})"


class HashList:
    """Hashes read from one or more lists, per signal type, with their entries.

    ``hl.pdq`` (also ``hl["pdq"]``) is a SignalHashes; so are ``md5``, ``sha256``,
    ``phash`` and ``vpdq`` (empty when the list has none). ``errors`` holds the
    BadLines reported while reading (the first 10,000; ``error_count`` counts all),
    ``skipped`` the entries of hash types tidehash does not use (NCMEC SHA1 or PhotoDNA,
    StopNCII VideoTMK, ...) by type, and ``removed`` the entries taken out by NCMEC
    deletions and StopNCII withdrawals."""

    def __init__(self, groups: dict[str, SignalHashes] | None = None, *,
                 sources: list[str] | None = None, errors: Iterable[BadLine] = (),
                 error_count: int | None = None, skipped: dict[str, int] | None = None,
                 removed: int = 0, format: str | None = None):
        self.sources = sources if sources is not None else []
        self._groups = dict(groups or {})
        self.errors = list(errors)
        self.error_count = len(self.errors) if error_count is None else error_count
        self.skipped = dict(skipped or {})
        self.removed = removed
        self.format = format
        self.extra: dict = {}  # metadata saved with a tidehash list file

    def __getitem__(self, signal: str) -> SignalHashes:
        if signal not in SIGNAL_TYPES:
            raise KeyError(signal)
        group = self._groups.get(signal)
        if group is None:
            group = self._groups[signal] = SignalHashes.empty(signal, self.sources)
        return group

    pdq = property(lambda self: self["pdq"])
    md5 = property(lambda self: self["md5"])
    sha256 = property(lambda self: self["sha256"])
    phash = property(lambda self: self["phash"])
    vpdq = property(lambda self: self["vpdq"])

    def only(self, signal: str | None) -> HashList:
        """This list with only the hashes of type ``signal`` (itself for None)."""
        if signal is None:
            return self
        out = HashList({signal: self[signal]}, sources=self.sources,
                       error_count=self.error_count, removed=self.removed, format=self.format)
        out.extra = self.extra
        return out

    @property
    def signals(self) -> tuple[str, ...]:
        """The signal types that have at least one hash, in SIGNAL_TYPES order."""
        return tuple(s for s in SIGNAL_TYPES if s in self._groups and len(self._groups[s]))

    def __len__(self) -> int:
        """Unique hashes (videos for vPDQ) over every signal type."""
        return sum(len(g) for g in self._groups.values())

    @property
    def n_entries(self) -> int:
        return sum(g.n_entries for g in self._groups.values())

    def records(self) -> Iterator[HashRecord]:
        """Every entry, signal type by signal type, each in the order read."""
        for signal in self.signals:
            yield from self._groups[signal].records()

    @property
    def nbytes(self) -> int:
        return sum(g.nbytes for g in self._groups.values())

    @classmethod
    def from_records(cls, records: Iterable[HashRecord], *, source: str | None = None
                     ) -> HashList:
        """A HashList of records (HashRecord or their dicts); records without a source
        get ``source``. Ids default to ``line`` (0). Equal hashes are merged as when
        reading."""
        builder = ListBuilder(source or "")
        for rec in records:
            if isinstance(rec, dict):
                rec = _record_from_dict(rec)
            builder.add(rec)
        return builder.finish(format=None)

    @classmethod
    def merge(cls, *lists: HashList) -> HashList:
        """One list holding every entry of ``lists`` (in order), equal hashes merged
        across them. Errors, skipped and removed counts are added up."""
        builder = ListBuilder("<merged>")
        for hl in lists:
            codes = np.array([builder.source_code(s) for s in hl.sources] or [0], np.int32)
            for signal in hl.signals:
                group = hl[signal]
                if signal == "vpdq":
                    for rec in group.records():
                        builder.add(rec)
                    continue
                builder.add_arrays(
                    signal, group.hashes[group.entry_row] if group.has_duplicates
                    else group.hashes, group.ids, quality=group.quality,
                    source_codes=codes[group.source_codes], labels=group.labels,
                    keys=group.keys)
            builder.errors.extend(hl.errors)
            builder.error_count += hl.error_count
            for name, n in hl.skipped.items():
                builder.skipped[name] = builder.skipped.get(name, 0) + n
            builder.removed += hl.removed
        formats = {hl.format for hl in lists}
        return builder.finish(format=formats.pop() if len(formats) == 1 else None)

    def __repr__(self) -> str:
        parts = [repr(self._groups[s]) for s in self.signals]
        errors = f", {self.error_count} bad lines" if self.error_count else ""
        return f"HashList({', '.join(parts) or 'empty'}{errors})"


def _record_from_dict(d: dict) -> HashRecord:
    signals = [s for s in SIGNAL_TYPES if s in d]
    if len(signals) != 1:
        raise ValueError(f"a record dict names one signal type of {SIGNAL_TYPES}: {d!r:.80}")
    signal = signals[0]
    features = None
    value = d[signal]
    if signal == "vpdq":
        features = tuple(value)
        value = None
    return HashRecord(signal, value, d.get("id"), d.get("quality"), d.get("label"),
                      d.get("source"), d.get("key"), features, d.get("line", 0))


# ----------------------------------------------------------------------------- building
class _Grow:
    """A NumPy array grown in place (realloc; mremap for large blocks, so growing a
    300 MB array does not copy it)."""

    __slots__ = ("arr", "n")

    def __init__(self, dtype, width: int | None = None, fill=None, n: int = 0):
        shape = (max(n, 16),) if width is None else (max(n, 16), width)
        self.arr = np.empty(shape, dtype=dtype)
        self.n = 0
        if n:
            self.arr[:n] = fill
            self.n = n

    def presize(self, cap: int) -> None:
        """Before anything is added: room for ``cap`` rows, untouched (np.empty pages
        cost address space, not memory, until written)."""
        if self.n == 0 and cap > self.arr.shape[0]:
            self.arr = np.empty((cap,) + self.arr.shape[1:], self.arr.dtype)

    def reserve(self, k: int) -> None:
        need = self.n + k
        if need > self.arr.shape[0]:
            cap = max(need, self.arr.shape[0] + self.arr.shape[0] // 2)
            # only this object holds the array, and no view of it outlives a call
            self.arr.resize((cap,) + self.arr.shape[1:], refcheck=False)

    def extend(self, values) -> None:
        k = len(values)
        self.reserve(k)
        self.arr[self.n:self.n + k] = values
        self.n += k

    def fill(self, value, k: int) -> None:
        self.reserve(k)
        self.arr[self.n:self.n + k] = value
        self.n += k

    def result(self) -> np.ndarray:
        arr = self.arr
        self.arr = np.empty((0,) + arr.shape[1:], arr.dtype)
        arr.resize((self.n,) + arr.shape[1:], refcheck=False)
        return arr


class _StrGrow:
    """Builds a StringColumn; created on the first non-empty string."""

    __slots__ = ("data", "ends", "size")

    def __init__(self, n_before: int):
        self.data = _Grow(np.uint8)
        self.ends = _Grow(np.int64, fill=0, n=n_before)
        self.size = 0

    def add_many(self, data, ends) -> None:
        """Strings given as a byte buffer and their end offsets within it."""
        data = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data
        self.data.extend(data)
        self.ends.extend(np.asarray(ends, np.int64) + self.size)
        self.size += len(data)

    def add_text(self, texts: list) -> None:
        encoded = [(t or "").encode("utf-8", "surrogateescape") for t in texts]
        blob = b"".join(encoded)
        ends = np.cumsum([len(e) for e in encoded], dtype=np.int64)
        self.add_many(blob, ends)

    def pad(self, k: int) -> None:
        self.ends.fill(self.size, k)

    def result(self) -> StringColumn:
        return StringColumn(self.data.result(), self.ends.result())


class _GroupBuilder:
    """The columns of one signal type under construction. Single entries (slow
    parsers) wait in Python lists and are flushed in order before the next batch."""

    FLUSH = 1 << 16

    def __init__(self, signal: str):
        self.signal = signal
        self.width = HASH_BYTES.get(signal)
        self.hashes = _Grow(np.uint8, self.width) if self.width else None
        self.features: list = []
        self.ids = _Grow(np.int64)
        self.source_codes = _Grow(np.int32)
        self.quality: _Grow | None = None
        self.labels: _StrGrow | None = None
        self.keys: _StrGrow | None = None
        self.n = 0
        self._pending: list = []

    def presize(self, rows: int, quality: bool, label_bytes: int) -> None:
        """Room for ``rows`` more entries when nothing is held yet, so reading a file
        of known size never grows (and copies) the arrays; the rest is given back at
        ``finish``."""
        if self.n or self._pending or self.hashes is None:
            return
        for column in (self.hashes, self.ids, self.source_codes):
            column.presize(rows)
        if quality:
            self._quality().presize(rows)
        if label_bytes:
            labels = self._column("labels")
            labels.ends.presize(rows)
            labels.data.presize(label_bytes)

    def add(self, raw: bytes | list, id_: int, quality: int | None, label, key,
            source_code: int) -> None:
        self._pending.append((raw, id_, quality, label, key, source_code))
        if len(self._pending) >= self.FLUSH:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        raws, ids, quals, labels, keys, codes = zip(*pending)
        k = len(pending)
        if self.hashes is not None:
            self.hashes.extend(np.frombuffer(b"".join(raws), np.uint8).reshape(k, self.width))
        else:
            self.features.extend(raws)
        self.ids.extend(np.array(ids, np.int64))
        self.source_codes.extend(np.array(codes, np.int32))
        if self.quality is not None or any(q is not None for q in quals):
            self._quality().extend(np.array([-1 if q is None else q for q in quals], np.int16))
        if self.labels is not None or any(labels):
            self._column("labels").add_text(labels)
        if self.keys is not None or any(keys):
            self._column("keys").add_text(keys)
        self.n += k
        self._pad()

    def add_batch(self, hashes: np.ndarray, ids, *, quality=None, source_codes=None,
                  source_code: int = 0, labels=None, keys=None) -> None:
        """``labels`` / ``keys``: None, a StringColumn, or (bytes buffer, end offsets)."""
        self.flush()
        k = int(hashes.shape[0])
        if k == 0:
            return
        self.hashes.extend(hashes)
        self.ids.extend(ids)
        if source_codes is None:
            self.source_codes.fill(source_code, k)
        else:
            self.source_codes.extend(source_codes)
        if quality is not None:
            self._quality().extend(quality)
        for name, column in (("labels", labels), ("keys", keys)):
            if column is None:
                continue
            data, ends = (column.data, column.ends) if isinstance(column, StringColumn) \
                else column
            self._column(name).add_many(data, ends)
        self.n += k
        self._pad()

    def _quality(self) -> _Grow:
        if self.quality is None:
            self.quality = _Grow(np.int16, fill=-1, n=self.n)
        return self.quality

    def _column(self, name: str) -> _StrGrow:
        column = getattr(self, name)
        if column is None:
            column = _StrGrow(self.n)
            setattr(self, name, column)
        return column

    def _pad(self) -> None:
        """Columns created late, or not given in a batch, get 'none' for the rest."""
        if self.quality is not None and self.quality.n < self.n:
            self.quality.fill(-1, self.n - self.quality.n)
        for column in (self.labels, self.keys):
            if column is not None and column.ends.n < self.n:
                column.pad(self.n - column.ends.n)

    def finish(self, sources: list[str]) -> SignalHashes:
        self.flush()
        ids = self.ids.result()
        kw = dict(sources=sources, source_codes=self.source_codes.result(),
                  quality=self.quality.result() if self.quality else None,
                  labels=self.labels.result() if self.labels else None,
                  keys=self.keys.result() if self.keys else None)
        if self.hashes is None:
            return self._finish_videos(ids, kw)
        hashes = self.hashes.result()
        if _native.count_groups(hashes) == len(hashes):  # no duplicate: no group arrays
            return SignalHashes(self.signal, hashes, ids, **kw)
        ngroups, group, first = _native.group_rows(hashes)
        unique = hashes[first]
        del hashes, first
        offsets, order = _native.group_order(group, ngroups)
        return SignalHashes(self.signal, unique, ids, entry_row=group, offsets=offsets,
                            order=order, **kw)

    def _finish_videos(self, ids, kw) -> SignalHashes:
        rows: dict = {}
        group = np.empty(len(self.features), np.int64)
        for i, feats in enumerate(self.features):
            group[i] = rows.setdefault(tuple(f.to_line() for f in feats), len(rows))
        features = []
        seen = set()
        for i, g in enumerate(group):
            if g not in seen:
                seen.add(g)
                features.append(list(self.features[i]))
        if len(rows) == len(group):
            return SignalHashes("vpdq", None, ids, features=features, **kw)
        offsets, order = _native.group_order(group, len(rows))
        return SignalHashes("vpdq", None, ids, features=features, entry_row=group,
                            offsets=offsets, order=order, **kw)


class ListBuilder:
    """Collects entries and bad lines while reading; ``finish`` merges duplicates."""

    def __init__(self, default_source: str = "<list>"):
        self.sources: list[str] = []
        self._codes: dict[str, int] = {}
        self.groups: dict[str, _GroupBuilder] = {}
        self.errors: list[BadLine] = []
        self.error_count = 0
        self.skipped: dict[str, int] = {}
        self.removed = 0
        self.default_source = default_source

    def source_code(self, name: str) -> int:
        code = self._codes.get(name)
        if code is None:
            code = self._codes[name] = len(self.sources)
            self.sources.append(name)
        return code

    def group(self, signal: str) -> _GroupBuilder:
        g = self.groups.get(signal)
        if g is None:
            g = self.groups[signal] = _GroupBuilder(signal)
        return g

    def add(self, rec: HashRecord, check: bool = True) -> None:
        """One entry. ``check``: validate it (readers have already)."""
        if rec.signal == "vpdq":
            raw = list(rec.features or ())
            if check:
                raw = [f if isinstance(f, VPDQFeature) else _feature_of(f) for f in raw]
        elif not check:
            raw = bytes.fromhex(rec.hash)
        elif rec.signal not in HASH_BYTES:
            raise ValueError(f"unknown signal type {rec.signal!r}")
        else:
            raw = _hash_bytes(rec.signal, rec.hash)
        quality = rec.quality
        if check and quality is not None and (
                isinstance(quality, bool) or not isinstance(quality, int)
                or not 0 <= quality <= 100):
            raise ValueError(f"quality must be an int in 0..100, got {quality!r}")
        code = self.source_code(rec.source if rec.source is not None else self.default_source)
        id_ = rec.id if rec.id is not None else rec.line
        self.group(rec.signal).add(raw, id_, quality, rec.label, rec.key, code)

    def add_arrays(self, signal: str, hashes, ids, **columns) -> None:
        self.group(signal).add_batch(hashes, ids, **columns)

    def bad(self, bad: BadLine) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_STORED_ERRORS:
            self.errors.append(bad)

    def finish(self, format: str | None) -> HashList:
        groups = {s: self.groups[s].finish(self.sources) for s in SIGNAL_TYPES
                  if s in self.groups}
        return HashList(groups, sources=self.sources, errors=self.errors,
                        error_count=self.error_count, skipped=self.skipped,
                        removed=self.removed, format=format)


def _feature_of(line) -> VPDQFeature:
    lines = [(n, text) for n, text in enumerate(str(line).splitlines(), 1) if text.strip()]
    if len(lines) != 1:
        raise HashFormatError(f"not a vPDQ feature line: {line!r:.80}")
    number, text = lines[0]
    return VPDQFeature.from_line(text, f"<vpdq>:{number}")


def _hash_bytes(signal: str, value) -> bytes:
    """Validated bytes of a hex hash (either case) of type ``signal``."""
    width = HASH_BYTES[signal]
    if isinstance(value, (bytes, bytearray)) and len(value) == width:
        raw = bytes(value)
    else:
        if not isinstance(value, str):
            raise HashFormatError(f"{signal}: expected a hex string, got {type(value).__name__}")
        reason = hex_problem(value, width, signal)
        if reason:
            raise HashFormatError(f"{signal}: {reason}")
        raw = bytes.fromhex(value)
    if signal == "pdq" and not any(raw):
        raise HashFormatError("pdq: " + ZERO_PDQ)
    return raw


ZERO_PDQ = "all-zero PDQ hash (the reference's output for an unhashable image)"
_HEX = re.compile(r"[0-9a-fA-F]*")


def hex_problem(text: str, width: int, signal: str) -> str | None:
    """Why ``text`` is not a hash of ``width`` bytes, or None."""
    if _HEX.fullmatch(text) is None:
        return f"not hex: a {signal} hash is {2 * width} hex digits"
    if len(text) != 2 * width:
        return f"wrong length: {len(text)} hex digits, a {signal} hash has {2 * width}"
    return None

