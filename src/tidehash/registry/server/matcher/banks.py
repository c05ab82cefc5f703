"""A matcher's banks at run time: each bank a ``LookupState`` (the registry lookup's
index: incremental adds, tombstones, compaction) kept current from the database, and
one thread per bank that pulls its source and tails its stored changes.

The loop of a bank, every ``poll_interval`` seconds:

1. **pull** (only in the process holding the bank's sync lock: with several matcher
   processes on one PostgreSQL database one of them pulls, the others follow): the
   source's pages from the stored checkpoint, each page written with its checkpoint in
   one transaction (``store.BankStore.write_page``). A snapshot (pages from a ``reset``
   until the first checkpoint) is written as one replacement, so an interrupted one
   stores nothing and only the difference to what was listed is written;
2. **tail**: the bank's changes after the last seq applied go into the index
   (upserts and tombstones, no rebuild), right after a pull wrote them: an entry is
   matchable, and a removed one stops matching, as soon as its page is stored.

A source that fails (a SourceError, a bad credentials file, a page that is not a page)
marks the bank unhealthy with the error (on the operator page and in ``/metrics``),
and is tried again at the next interval, then with backoff up to 5 minutes; the bank
goes on matching with what it holds, and the other banks are not touched."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from array import array
from collections import deque

import numpy as np
from sqlalchemy import text

from ...sources import CredentialsError
from ...sources.base import SourceError
from ..lookup import LookupState, NotReady, trim_heap
from .store import BankStore, entry_row

log = logging.getLogger("tidehash.matcher")

MAX_BACKOFF = 300.0
TAIL_PAGE = 10_000
#: changes of one page above which (and above a quarter of the bank) the index is
#: loaded again in bulk instead of being tailed
RELOAD_MIN = 50_000
#: the PDQ quality a lookup's index is given for an entry whose quality is unknown
#: (NCMEC and StopNCII send none): not weak, and never below a bank's min_quality
UNKNOWN_QUALITY = 100


class SyncLock:
    """Who pulls a bank: ``pg_try_advisory_lock`` on a connection kept open
    (PostgreSQL; released when the process dies), a flock on a file beside the
    database (SQLite)."""

    def __init__(self, db, bank_id: int):
        self.db = db
        self.bank_id = bank_id
        self._conn = None
        self._fd = None

    def acquire(self) -> bool:
        if self.held:
            return True
        if self.db.dialect == "postgresql":
            key = int.from_bytes(hashlib.blake2b(f"tidehash-matcher-{self.bank_id}".encode(),
                                                 digest_size=7).digest(), "big")
            conn = self.db.engine.connect()
            try:
                got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                        {"k": key}).scalar())
                conn.commit()
            except Exception:
                conn.close()
                raise
            if got:
                self._conn = conn
            else:
                conn.close()
            return got
        fd = os.open(f"{self.db.path}-matcher-{self.bank_id}.lock", os.O_RDWR | os.O_CREAT,
                     0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fd is not None

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - closing a connection that broke
                pass
            self._conn = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Bank:
    """One bank: its config, its index and its sync state (see the module docstring)."""

    def __init__(self, config, db, store: BankStore, *, source=None,
                 source_options: dict | None = None):
        self.config = config
        self.name = config.name
        self.db = db
        self.store = store
        self.bank_id = store.open_bank(config.name, config.source)
        self._source = source          # made on first pull (credentials read then)
        self.source_options = dict(source_options or {})
        self.lock = SyncLock(db, self.bank_id)
        self.state: LookupState | None = None
        self.seq = 0                   # the last stored change applied to the index
        self.loaded = threading.Event()
        self.settled = threading.Event()  # loaded, and synced once (or stored before)
        self.healthy = True
        self.last_error: str | None = None
        self.last_sync: float | None = None
        self.pulls = 0
        self.pages = 0
        self.changes_written = 0
        self.refused = 0
        self.lookups = 0
        self.matches = 0
        self._recent: deque = deque(maxlen=120)  # (second, lookups) for the rate
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        #: a list bank's stored active entries as (sorted ids, row digests): a reload
        #: of the file is compared with them, and only its difference goes to the store
        self._listed: tuple | None = None

    # ------------------------------------------------------------------ run
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"tidehash-bank-{self.name}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.lock.release()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        delay = self.config.poll_interval
        while not self._stop.is_set():
            try:
                if not self.loaded.is_set():
                    self._load()
                ok = self._pull() if self.lock.acquire() else None
                self._tail()
                if ok is not None or self.store.bank(self.bank_id).synced is not None:
                    self.settled.set()
                delay = self.config.poll_interval if ok in (None, True) else \
                    min(MAX_BACKOFF, max(delay * 2, self.config.poll_interval))
            except Exception as exc:  # noqa: BLE001 - a bank's thread outlives any fault
                self._fail(f"{type(exc).__name__}: {_one_line(exc)}")
                delay = min(MAX_BACKOFF, max(delay * 2, self.config.poll_interval))
            self._wake.wait(delay)
            self._wake.clear()

    def _fail(self, message: str) -> None:
        self.healthy = False
        self.last_error = message
        log.warning("event=sync_error bank=%s error=%s", self.name, json.dumps(message))

    # ------------------------------------------------------------------ index
    def _wire(self, row) -> dict:
        out = {"id": f"{row.id & ((1 << 64) - 1):016x}", "kind": row.kind}
        quality = UNKNOWN_QUALITY if row.quality is None else int(row.quality)
        if row.pdq is not None and quality >= self.config.min_quality:
            out["pdq"] = bytes(row.pdq).hex()
            out["quality"] = quality
        if row.md5 is not None:
            out["md5"] = bytes(row.md5).hex()
        if row.sha256 is not None:
            out["sha256"] = bytes(row.sha256).hex()
        return out

    def _load(self) -> None:
        """The index from the stored active entries (streamed), swapped in whole:
        lookups go on meanwhile with the old one."""
        state = LookupState(threads=1)
        keep = self.config.kind == "list"
        # 8 bytes an entry each, not a Python int each (a million of them fragment the heap)
        ids = array("q")
        digests = array("q")

        def wires(rows):
            for r in rows:
                if keep:
                    ids.append(int(r.id))
                    digests.append(_digest(r.kind, r.pdq, r.quality, r.md5, r.sha256, r.label))
                yield self._wire(r)

        head, _n = self.store.load_active(self.bank_id, lambda rows: state.load(wires(rows)))
        if keep:
            self._listed = _sorted_pairs(ids, digests)
        ids = digests = None  # the arrays go now, not when the bank is next loaded
        self.state, self.seq = state, head
        trim_heap()  # the load's transient rows and strings: back to the OS
        self.loaded.set()
        log.info("event=bank_loaded bank=%s entries=%d seq=%d", self.name, len(state), head)

    def _tail(self) -> None:
        while True:
            rows = self.store.changes(self.bank_id, self.seq, TAIL_PAGE)
            if not rows:
                return
            changes = []
            for r in rows:
                if r.removed:
                    changes.append({"op": "delete", "id": f"{r.id:016x}"})
                else:
                    changes.append({"op": "upsert", "entry": self._wire(r)})
            self.state.apply(changes)
            self.seq = int(rows[-1].seq)
            if len(rows) < TAIL_PAGE:
                return

    # ------------------------------------------------------------------ pull
    def source(self):
        if self._source is None:
            if self.config.kind == "list":
                from .listbank import ListSource
                self._source = ListSource(self.config.location)
            else:
                self._source = self.config.open_source(**self.source_options)
        return self._source

    def _pull(self) -> bool:
        """One pull of the source; True when it ended well."""
        self.pulls += 1
        try:
            source = self.source()
            checkpoint = self.store.checkpoint(self.bank_id)
            snapshot: list | None = None   # the pages of a snapshot, until its checkpoint
            refused = 0
            written_total = 0
            for page in source.fetch(checkpoint):
                self.pages += 1
                refused += len(page.errors)
                if page.reset and page.checkpoint is not None and self._listed is not None \
                        and self._listed[0].size:
                    # a list file again: only its difference to what is stored is written
                    added, removed, listed = _difference(self._listed, page.added)
                    written = self.store.write_page(self.bank_id, added, removed,
                                                    page.checkpoint, refused)
                    self._listed = listed
                elif page.reset and page.checkpoint is not None:
                    # the whole list in one page (a list file): streamed, never held
                    written = self.store.write_page(
                        self.bank_id, (entry_row(e) for e in page.added), [],
                        page.checkpoint, refused, replace=True)
                    snapshot = None
                elif page.reset or snapshot is not None:
                    if page.reset:
                        snapshot = []
                    snapshot.extend(entry_row(e) for e in page.added)
                    if page.checkpoint is None:
                        continue
                    written = self.store.write_page(self.bank_id, snapshot, [],
                                                    page.checkpoint, refused, replace=True)
                    snapshot = None
                else:
                    removed = [_foreign_entry_id(source, f) for f in page.removed]
                    rows = [entry_row(e) for e in page.added]
                    written = self.store.write_page(self.bank_id, rows, removed,
                                                    page.checkpoint, refused)
                    if self._listed is not None and rows:  # lines appended to a list
                        self._listed = _merged_pairs(self._listed, _sorted_pairs(
                            [r["id"] for r in rows],
                            [_digest(r["kind"], r["pdq"], r["quality"], r["md5"],
                                     r["sha256"], r["label"]) for r in rows]))
                self.refused += refused
                refused = 0
                self.changes_written += written
                written_total += written
                if written > max(RELOAD_MIN, len(self) // 4):
                    self._load()  # many changes: one bulk load beats applying them
                elif written:
                    self._tail()  # matchable now, not at the next interval
        except (SourceError, CredentialsError, ValueError) as exc:
            self.store.note(self.bank_id, _one_line(exc))
            self._fail(_one_line(exc))
            return False
        self.store.note(self.bank_id, None)
        if written_total:
            log.info("event=sync bank=%s changes=%d entries=%d seq=%d", self.name,
                     written_total, len(self), self.seq)
        self.healthy = True
        self.last_error = None
        self.last_sync = time.time()
        return True

    # ------------------------------------------------------------------ lookups
    def count(self, lookups: int, matches: int) -> None:
        self.lookups += lookups
        self.matches += matches
        second = int(time.monotonic())
        if self._recent and self._recent[-1][0] == second:
            self._recent[-1][1] += lookups
        else:
            self._recent.append([second, lookups])

    def rate(self, window: int = 60) -> float:
        """Lookups a second over the last ``window`` seconds."""
        now = int(time.monotonic())
        return sum(n for s, n in list(self._recent) if now - s < window) / window

    def __len__(self) -> int:
        return 0 if self.state is None else len(self.state)


def _digest(kind, pdq, quality, md5, sha256, label) -> int:
    """A row's fields in one int64 (Python's hash: only compared within a process)."""
    def raw(v):
        return bytes(v) if isinstance(v, memoryview) else v

    return hash((kind, raw(pdq), quality, raw(md5), raw(sha256), label or ""))


def _sorted_pairs(ids: list, digests: list) -> tuple:
    """(ids sorted, unique: the last of a repeated id kept; their digests); ``ids`` and
    ``digests`` lists or ``array("q")``."""
    ids_a = np.frombuffer(ids, np.int64) if isinstance(ids, array) else np.array(ids, np.int64)
    dig_a = np.frombuffer(digests, np.int64) if isinstance(digests, array) \
        else np.array(digests, np.int64)
    # np.unique keeps the first occurrence: reverse so that the last one wins
    uniq, first = np.unique(ids_a[::-1], return_index=True)
    return uniq, dig_a[::-1][first]


def _merged_pairs(listed: tuple, new: tuple) -> tuple:
    """``_sorted_pairs`` of ``listed``'s pairs followed by ``new``'s (both sorted and
    unique, as it returns them), without sorting ``listed`` again: a line appended to a
    list of 10M entries costs a copy of the arrays (tens of ms), not a sort (0.4 s)."""
    old_ids, old_dig = listed
    new_ids, new_dig = new
    if not new_ids.size:
        return old_ids, old_dig
    pos = np.searchsorted(old_ids, new_ids)
    pos_c = np.minimum(pos, max(old_ids.size - 1, 0))
    known = (old_ids[pos_c] == new_ids) if old_ids.size else np.zeros(new_ids.size, bool)
    dig = old_dig
    if known.any():  # a repeated id: the later line wins (a copy only then)
        dig = old_dig.copy()
        dig[pos_c[known]] = new_dig[known]
    fresh = ~known
    return (np.insert(old_ids, pos[fresh], new_ids[fresh]),
            np.insert(dig, pos[fresh], new_dig[fresh]))


def _difference(listed: tuple, entries) -> tuple:
    """(rows that are new or changed, ids no longer listed, the new (ids, digests)) of a
    list file's ``entries`` against the stored ``listed``; the unchanged rows are never
    held, only the new ids and digests (16 bytes an entry)."""
    old_ids, old_dig = listed
    new_ids = array("q")
    new_dig = array("q")
    changed: list = []
    chunk: list = []

    def flush():
        if not chunk:
            return
        ids = np.array([r["id"] for r, _ in chunk], np.int64)
        digs = np.array([d for _, d in chunk], np.int64)
        pos = np.searchsorted(old_ids, ids)
        pos_c = np.minimum(pos, max(old_ids.size - 1, 0))
        same = (old_ids.size > 0) & (old_ids[pos_c] == ids) & (old_dig[pos_c] == digs) \
            if old_ids.size else np.zeros(ids.size, bool)
        changed.extend(r for (r, _), s in zip(chunk, same.tolist()) if not s)
        chunk.clear()

    for e in entries:
        row = entry_row(e)
        d = _digest(row["kind"], row["pdq"], row["quality"], row["md5"], row["sha256"],
                    row["label"])
        new_ids.append(row["id"])
        new_dig.append(d)
        chunk.append((row, d))
        if len(chunk) >= 10_000:
            flush()
    flush()
    listed_new = _sorted_pairs(new_ids, new_dig)
    removed = np.setdiff1d(old_ids, listed_new[0], assume_unique=True).tolist()
    return changed, removed, listed_new


def _foreign_entry_id(source, foreign: str) -> int:
    if source.kind in ("tidehash", "list"):
        return int(foreign, 16) if isinstance(foreign, str) else int(foreign)
    from ...sources.base import entry_id_of
    return entry_id_of(foreign)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


class BankSet:
    """The enabled banks as one thing to search (``Batcher``'s state): a query's
    matches in every bank, each match naming its bank. A bank's ``pdq_radius`` bounds
    a query's radius; a query of a known PDQ quality below a bank's ``min_quality``
    does not search that bank."""

    def __init__(self, banks: list[Bank]):
        self.banks = banks

    @property
    def ready(self) -> bool:
        return all(b.settled.is_set() for b in self.banks if b.config.enabled)

    def check(self) -> BankSet:
        if not self.ready:
            raise NotReady("the banks are still loading")
        return self

    def match_parsed(self, parsed: list[tuple]) -> list[list[dict]]:
        out: list[list[dict]] = [[] for _ in parsed]
        for bank in self.banks:
            if not bank.config.enabled or bank.state is None:
                continue
            radius, min_q = bank.config.pdq_radius, bank.config.min_quality
            positions, mine = [], []
            for pos, p in enumerate(parsed):
                if p[0] in ("pdq", "pdq8"):
                    if p[2] is not None and p[2] < min_q:
                        continue
                    p = (p[0], p[1], p[2], min(p[3], radius))
                positions.append(pos)
                mine.append(p)
            if not mine:
                continue
            found = bank.state.match_parsed(mine)
            n = 0
            for pos, matches in zip(positions, found):
                for m in matches:
                    m["bank"] = bank.name
                n += len(matches)
                out[pos].extend(matches)
            bank.count(len(mine), n)
        return out
