"""The published change log: outbox -> publisher -> change rows; the snapshot; cursors;
compaction.

The publisher is the only writer of sequence numbers. One tick, in one transaction
(one publisher at a time: an advisory lock on PostgreSQL, SQLite's write lock): take the
outbox rows whose hold has passed, reduce them to each entry's net change (an entry
withdrawn before it was ever published makes no change at all), give the changes the
numbers head+1, head+2, ... in a shuffled order (the order within a batch says nothing
about who submitted when), write them, stamp the entries' added_seq / removed_seq, delete
the outbox rows, move the head. A reader sees a whole batch or none of it: no gap, no
duplicate.

The hold: with ``delay`` > 0, submissions made during one interval of ``delay`` seconds
are published together at the end of the next interval (epochs, so no time is stored
with a submission); withdrawals and removals are published at the next tick. With
``delay`` 0 everything is published at once.

The snapshot at seq S is every entry with added_seq <= S and removed_seq null or > S, in
entry id order: the same bytes every time it is asked for, so a client can resume it
with Range. Compaction deletes the change rows up to a new floor and forgets the hashes
of entries tombstoned at or below it; a cursor below the floor is answered with 410."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import threading
import time
from collections.abc import Iterator

from sqlalchemy import and_, bindparam, delete, or_, select, text, update

from . import audit, schema
from .db import PUBLISH_LOCK, Database, Unavailable
from .keys import Keys, case_pseudonym

log = logging.getLogger("tidehash.registry")
_sysrandom = random.SystemRandom()
_FETCH = 5000


class BadCursor(Exception):
    """A cursor this registry did not make (forged, cut, or from another registry)."""


class CursorCompacted(Exception):
    """The changes after this cursor were compacted away: take a new snapshot."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _entry_fields(row, pseudonym_key: bytes | None, cache: dict | None) -> dict:
    """The wire shape of an entry row (README), without absent fields."""
    out = {"id": f"{row.id:016x}"}
    if pseudonym_key is not None:
        p = cache.get(row.case_id) if cache is not None else None
        if p is None:
            p = case_pseudonym(pseudonym_key, row.case_id)
            if cache is not None:
                if len(cache) > 100_000:
                    cache.clear()
                cache[row.case_id] = p
        out["case"] = p
    out["kind"] = row.kind
    if row.tier != "person":
        out["tier"] = row.tier
    if row.pdq is not None:
        out["pdq"] = bytes(row.pdq).hex()
        out["quality"] = row.quality
    if row.md5 is not None:
        out["md5"] = bytes(row.md5).hex()
    if row.sha256 is not None:
        out["sha256"] = bytes(row.sha256).hex()
    if row.vpdq is not None:
        out["vpdq"] = json.loads(row.vpdq)
    out["added"] = row.created_day
    return out


def _hex(value) -> str | None:
    return None if value is None else bytes(value).hex()


def _raw_entry(row: tuple, pseudonym: str | None) -> dict:
    """The wire dict of a raw entry row (see ``_active_batches``). A partner's entry
    has ``"tier": "partner"``; a person's has no tier (the shape every client knows)."""
    entry_id, _case_id, kind, pdq, quality, md5, sha256, vpdq, day, tier = row
    out = {"id": f"{entry_id:016x}"}
    if pseudonym is not None:
        out["case"] = pseudonym
    out["kind"] = kind
    if tier != "person":
        out["tier"] = tier
    if pdq is not None:
        out["pdq"] = bytes(pdq).hex()
        out["quality"] = quality
    if md5 is not None:
        out["md5"] = bytes(md5).hex()
    if sha256 is not None:
        out["sha256"] = bytes(sha256).hex()
    if vpdq is not None:
        out["vpdq"] = json.loads(vpdq)
    out["added"] = day
    return out


def _snapshot_lines(rows: list[tuple], key: bytes) -> str:
    """The snapshot lines of a batch of raw rows: the shapes every image has are
    formatted directly (the same bytes json.dumps gives, a test checks), the rest
    (partners' entries among them) through json."""
    blake2b = hashlib.blake2b
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    parts = []
    append = parts.append
    for row in rows:
        entry_id, case_id, kind, pdq, quality, md5, sha256, vpdq, day, tier = row
        p = blake2b(case_id.encode(), key=key, digest_size=11).hexdigest()
        if tier != "person":
            append(dumps(_raw_entry(row, p)) + "\n")
        elif vpdq is None and pdq is not None and md5 is not None and sha256 is not None:
            append(f'{{"id":"{entry_id:016x}","case":"{p}","kind":"{kind}","pdq":"'
                   f'{pdq.hex()}","quality":{quality},"md5":"{md5.hex()}","sha256":"'
                   f'{sha256.hex()}","added":"{day}"}}\n')
        elif vpdq is None and pdq is not None and md5 is None and sha256 is None:
            append(f'{{"id":"{entry_id:016x}","case":"{p}","kind":"{kind}","pdq":"'
                   f'{pdq.hex()}","quality":{quality},"added":"{day}"}}\n')
        else:
            append(dumps(_raw_entry(row, p)) + "\n")
    return "".join(parts)


_E = schema.entry.c
_ENTRY_COLUMNS = (_E.id, _E.case_id, _E.kind, _E.pdq, _E.quality, _E.md5, _E.sha256, _E.vpdq,
                  _E.created_day, _E.tier)


class Changelog:
    """See the module docstring."""

    def __init__(self, db: Database, keys: Keys, *, delay: float = 0.0):
        self.db = db
        self.keys = keys
        self.delay = float(delay)

    # ------------------------------------------------------------------ publishing
    def publish(self, *, now: float | None = None, actor: str | None = None) -> int:
        """One publisher tick (see the module docstring); returns the number of changes
        published (0 also when another process holds the publisher's lock). ``actor``:
        an operator asked for it (audited; the server's own ticks are not)."""
        now = time.time() if now is None else now
        with self.db.begin() as conn:
            if self.db.dialect == "postgresql":
                got = conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                   {"k": PUBLISH_LOCK}).scalar()
                if not got:
                    return 0
            p = conn.execute(select(schema.publisher).where(schema.publisher.c.id == 1)
                             .with_for_update()).one()
            o = schema.outbox.c
            if self.delay <= 0:
                cond = None
                new_epoch, ticked = p.epoch, p.ticked_at
            elif now - p.ticked_at >= self.delay:
                # an epoch boundary: submissions of the epoch before the last one are due
                cond = or_(o.epoch < p.epoch, o.op == "delete")
                new_epoch, ticked = p.epoch + 1, now
            else:
                cond = o.op == "delete"
                new_epoch, ticked = p.epoch, p.ticked_at
            q = select(o.id, o.entry_id)
            if cond is not None:
                q = q.where(cond)
            rows = conn.execute(q).all()
            changes = self._net_changes(conn, {r.entry_id for r in rows})
            if rows and self.db.dialect == "postgresql":
                # a submission held for review (never published) is rewritten with the
                # batch it would have been published in, as a published one is
                self._restamp_held(conn, [r.entry_id for r in rows])
            _sysrandom.shuffle(changes)
            head = p.head
            if changes:
                conn.execute(schema.change.insert(), [
                    {"seq": head + 1 + i, "entry_id": entry_id, "op": op}
                    for i, (entry_id, op) in enumerate(changes)])
                adds = [{"eid": eid, "seq": head + 1 + i}
                        for i, (eid, op) in enumerate(changes) if op == "upsert"]
                dels = [{"eid": eid, "seq": head + 1 + i}
                        for i, (eid, op) in enumerate(changes) if op == "delete"]
                if adds:
                    conn.execute(update(schema.entry).where(_E.id == bindparam("eid"))
                                 .values(added_seq=bindparam("seq")), adds)
                    if self.db.dialect == "postgresql":
                        self._restamp_cases(conn, [a["eid"] for a in adds])
                if dels:
                    conn.execute(update(schema.entry).where(_E.id == bindparam("eid"))
                                 .values(removed_seq=bindparam("seq")), dels)
                head += len(changes)
            if rows:
                ids = [r.id for r in rows]
                for i in range(0, len(ids), 900):
                    conn.execute(delete(schema.outbox).where(o.id.in_(ids[i:i + 900])))
            if head != p.head or new_epoch != p.epoch or ticked != p.ticked_at:
                conn.execute(update(schema.publisher).where(schema.publisher.c.id == 1)
                             .values(head=head, epoch=new_epoch, ticked_at=ticked))
            if actor is not None:
                audit.record(conn, actor=actor, action="list.publish", detail={
                    "published": len(changes), "from": p.head + 1 if changes else None,
                    "to": head if changes else None, "head": head})
        return len(changes)

    @staticmethod
    def _restamp_cases(conn, entry_ids: list) -> None:
        """Rewrite the published cases' rows in this transaction: on PostgreSQL a row
        carries the id of the transaction that wrote it (xmin), which would otherwise
        keep the order in which people submitted; now a whole batch shares one."""
        c = schema.case.c
        for i in range(0, len(entry_ids), 900):
            cases = select(_E.case_id).where(_E.id.in_(entry_ids[i:i + 900]))
            conn.execute(update(schema.case).where(c.id.in_(cases))
                         .values(created_day=c.created_day))

    @classmethod
    def _restamp_held(cls, conn, entry_ids: list) -> None:
        held = []
        for i in range(0, len(entry_ids), 900):
            held += conn.execute(select(_E.id).where(and_(
                _E.id.in_(entry_ids[i:i + 900]), _E.status == "held",
                _E.added_seq.is_(None)))).scalars().all()
        if not held:
            return
        r = schema.review.c
        for i in range(0, len(held), 900):
            chunk = held[i:i + 900]
            conn.execute(update(schema.entry).where(_E.id.in_(chunk))
                         .values(created_day=_E.created_day))
            conn.execute(update(schema.review).where(r.entry_id.in_(chunk))
                         .values(opened_day=r.opened_day))
        cls._restamp_cases(conn, held)

    @staticmethod
    def _net_changes(conn, entry_ids: set) -> list[tuple[int, str]]:
        """(entry id, op) for the entries whose published state must change."""
        out = []
        ids = sorted(entry_ids)
        for i in range(0, len(ids), 900):
            rows = conn.execute(select(_E.id, _E.status, _E.added_seq, _E.removed_seq)
                                .where(_E.id.in_(ids[i:i + 900]))).all()
            for r in rows:
                if r.status == "active" and r.added_seq is None:
                    out.append((r.id, "upsert"))
                elif r.status != "active" and r.added_seq is not None \
                        and r.removed_seq is None:
                    out.append((r.id, "delete"))
        return out

    def state(self) -> tuple[int, int]:
        """(head, floor)."""
        with self.db.connect() as conn:
            p = conn.execute(select(schema.publisher.c.head, schema.publisher.c.floor)).one()
        return p.head, p.floor

    def head(self) -> int:
        return self.state()[0]

    # ------------------------------------------------------------------ cursors
    def encode_cursor(self, seq: int) -> str:
        raw = int(seq).to_bytes(8, "big")
        return f"c1.{_b64(raw)}.{_b64(self.keys.mac('cursor', b'c1' + raw)[:12])}"

    def decode_cursor(self, cursor, *, floor: int | None = None, head: int | None = None) -> int:
        """The seq a cursor stands for; BadCursor if this registry did not make it,
        CursorCompacted if it is below the compaction floor."""
        if not isinstance(cursor, str) or len(cursor) > 64:
            raise BadCursor("malformed cursor")
        parts = cursor.split(".")
        if len(parts) != 3 or parts[0] != "c1":
            raise BadCursor("malformed cursor")
        try:
            raw, mac = _unb64(parts[1]), _unb64(parts[2])
        except (ValueError, TypeError):
            raise BadCursor("malformed cursor") from None
        if len(raw) != 8 or not hmac.compare_digest(
                mac, self.keys.mac("cursor", b"c1" + raw)[:12]):
            raise BadCursor("this cursor was not made by this registry")
        seq = int.from_bytes(raw, "big")
        if floor is None or head is None:
            head, floor = self.state()
        if seq > head:
            raise BadCursor("this cursor is ahead of the registry's change log")
        if seq < floor:
            raise CursorCompacted("the changes after this cursor were compacted away; "
                                  "take a new snapshot")
        return seq

    # ------------------------------------------------------------------ reading
    def changes(self, after_seq: int, limit: int, platform_id: int | None) -> tuple[list, int]:
        """Up to ``limit`` changes after ``after_seq`` in seq order, and the head."""
        key = None if platform_id is None else self.keys.pseudonym_key(platform_id)
        c = schema.change.c
        cache: dict = {}
        with self.db.connect() as conn:
            head = conn.execute(select(schema.publisher.c.head)).scalar_one()
            rows = conn.execute(
                select(c.seq, c.op, c.entry_id, *_ENTRY_COLUMNS)
                .select_from(schema.change.outerjoin(schema.entry, c.entry_id == _E.id))
                .where(c.seq > after_seq).order_by(c.seq).limit(limit)).all()
        out = []
        for r in rows:
            if r.op == "upsert":
                out.append({"seq": r.seq, "op": "upsert", "entry": _entry_fields(r, key, cache)})
            else:
                out.append({"seq": r.seq, "op": "delete", "id": f"{r.entry_id:016x}"})
        return out, head

    def _active_batches(self, conn, seq: int) -> Iterator[list[tuple]]:
        """Batches of raw rows (id, case_id, kind, pdq, quality, md5, sha256, vpdq, day,
        tier)
        of the entries active at ``seq``, in id order (the table's own order: one pass,
        no sort). Straight from the driver's cursor (a server-side one on PostgreSQL):
        at ten million entries a row object per entry would cost more than the scan."""
        mark = "?" if self.db.dialect == "sqlite" else "%s"
        sql = ('SELECT id, case_id, kind, pdq, quality, md5, sha256, vpdq, created_day, tier '
               f'FROM entry WHERE added_seq IS NOT NULL AND added_seq <= {mark} '
               f'AND (removed_seq IS NULL OR removed_seq > {mark}) ORDER BY id')
        raw = conn.connection.driver_connection
        if self.db.dialect == "postgresql":
            cur = raw.cursor(name="tidehash_active")
            cur.itersize = _FETCH
        else:
            cur = raw.cursor()
        try:
            cur.execute(sql, (seq, seq))
            while True:
                rows = cur.fetchmany(_FETCH)
                if not rows:
                    break
                yield rows
        finally:
            cur.close()

    def active_batches(self, seq: int | None = None) -> tuple[int, Iterator[list[tuple]]]:
        """(seq, batches of raw rows as ``_active_batches``) for a bulk load (the lookup
        index); the iterator holds one read transaction open."""
        if seq is None:
            seq = self.head()

        def gen():
            with self.db.connect() as conn:
                yield from self._active_batches(conn, seq)
        return seq, gen()

    def active_entries(self, seq: int | None = None) -> tuple[int, Iterator[dict]]:
        """(seq, the entries active at seq as wire dicts without "case")."""
        seq, batches = self.active_batches(seq)

        def gen():
            for rows in batches:
                for row in rows:
                    yield _raw_entry(row, None)
        return seq, gen()

    def snapshot(self, platform_id: int, seq: int | None = None) -> tuple[int, Iterator[bytes]]:
        """(seq, chunks of the JSON-lines snapshot at seq for this platform, ending with
        the trailer line). ``seq`` None: the head. A seq below the floor or above the head
        is a ValueError (the caller serves the head instead)."""
        head, floor = self.state()
        if seq is None:
            seq = head
        elif not floor <= seq <= head:
            raise ValueError(f"no snapshot at {seq} (floor {floor}, head {head})")
        key = self.keys.pseudonym_key(platform_id)
        cursor = self.encode_cursor(seq)

        def gen():
            digest = hashlib.sha256()
            count = 0
            with self.db.connect() as conn:
                for rows in self._active_batches(conn, seq):
                    chunk = _snapshot_lines(rows, key).encode()
                    count += len(rows)
                    digest.update(chunk)
                    yield chunk
            trailer = {"trailer": {"seq": seq, "count": count, "sha256": digest.hexdigest(),
                                   "cursor": cursor}}
            yield (json.dumps(trailer, separators=(",", ":")) + "\n").encode()
        return seq, gen()

    # ------------------------------------------------------------------ compaction
    def compact(self, keep: int, *, actor: str = "cli") -> dict:
        """Keep the last ``keep`` changes; delete the older ones and forget the hashes of
        entries tombstoned among them. Returns the new floor and counts."""
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
            raise ValueError(f"keep must be an int >= 0, got {keep!r}")
        with self.db.begin() as conn:
            if self.db.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PUBLISH_LOCK})
            p = conn.execute(select(schema.publisher).where(schema.publisher.c.id == 1)
                             .with_for_update()).one()
            floor = max(p.floor, p.head - keep)
            deleted = conn.execute(delete(schema.change).where(
                schema.change.c.seq <= floor)).rowcount
            # a held entry keeps its hashes: a reviewer may publish it again
            purged = conn.execute(update(schema.entry).where(and_(
                _E.removed_seq.is_not(None), _E.removed_seq <= floor, _E.status != "held",
                or_(
                    _E.pdq.is_not(None), _E.md5.is_not(None), _E.sha256.is_not(None),
                    _E.vpdq.is_not(None))))
                .values(pdq=None, quality=None, md5=None, sha256=None, vpdq=None)).rowcount
            conn.execute(update(schema.publisher).where(schema.publisher.c.id == 1)
                         .values(floor=floor))
            audit.record(conn, actor=actor, action="list.compact", detail={
                "keep": keep, "floor": floor, "head": p.head, "changes_deleted": deleted,
                "entries_forgotten": purged})
        return {"floor": floor, "head": p.head, "changes_deleted": deleted,
                "entries_forgotten": purged}


class Publisher:
    """Runs ``changelog.publish()`` in a thread: every ``interval`` seconds, and at once
    when woken after a write. A database error is logged (one line) and retried."""

    def __init__(self, changelog: Changelog, interval: float):
        self.changelog = changelog
        self.interval = max(float(interval), 0.05)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tidehash-publisher",
                                        daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        backoff = self.interval
        while not self._stop.is_set():
            self._wake.wait(backoff)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.changelog.publish()
                backoff = self.interval
            except Unavailable as e:
                log.warning("publisher: %s; retrying", e)
                backoff = min(backoff * 2, 10.0)
            except Exception as e:  # never die: log the kind of error, retry
                log.warning("publisher: %s: %s; retrying", type(e).__name__, e)
                backoff = min(backoff * 2, 10.0)
