"""The matcher's banks in the database: ``matcher_bank`` (a bank's source, the source's
checkpoint, the bank's change head, its sync state) and ``matcher_entry``.

A page of a source is written in ONE transaction with the checkpoint after it: a
restart resumes from the checkpoint and never fetches what is stored again, and a crash
between the two cannot happen. Each written change takes the bank's next seq (an entry
removed keeps its row, ``removed`` set, with a new seq), so every matcher process
following the bank reads the changes after the seq it has applied (``changes``), as the
registry's lookup tails its change log. A change that changes nothing (a page fetched
again, an entry sent again the same) is not written."""

from __future__ import annotations

import json
import time

from sqlalchemy import and_, bindparam, delete, func, insert, select, update

from .. import schema

B = schema.matcher_bank.c
E = schema.matcher_entry.c
_FIELDS = ("kind", "pdq", "quality", "md5", "sha256", "label")
_CHUNK = 500
_WRITE_CHUNK = 10_000


def entry_row(entry) -> dict:
    """A source's Entry (or RegistryEntry) as a matcher_entry row's fields."""
    def raw(value):
        return bytes.fromhex(value) if value else None

    quality = getattr(entry, "quality", None)
    return {"id": int(entry.id), "kind": entry.kind, "pdq": raw(entry.pdq),
            "quality": quality if isinstance(quality, int) and quality >= 0 else None,
            "md5": raw(entry.md5), "sha256": raw(entry.sha256),
            "label": (entry.label or "")[:300]}


class BankStore:
    def __init__(self, db):
        self.db = db

    # ------------------------------------------------------------------ banks
    def open_bank(self, name: str, source: str) -> int:
        """The bank's id (created when new). A bank whose source changed starts over:
        its entries, checkpoint and state go (its ids stay unused)."""
        with self.db.begin() as conn:
            row = conn.execute(select(B.id, B.source).where(B.name == name)).first()
            if row is None:
                return int(conn.execute(insert(schema.matcher_bank).values(
                    name=name, source=source, head=0, refused=0)).inserted_primary_key[0])
            if row.source != source:
                conn.execute(delete(schema.matcher_entry).where(E.bank_id == row.id))
                conn.execute(update(schema.matcher_bank).where(B.id == row.id).values(
                    source=source, checkpoint=None, head=0, synced=None, attempted=None,
                    last_error=None, refused=0))
            return int(row.id)

    def bank(self, bank_id: int):
        with self.db.connect() as conn:
            return conn.execute(select(schema.matcher_bank).where(B.id == bank_id)).first()

    def checkpoint(self, bank_id: int):
        row = self.bank(bank_id)
        return None if row is None or row.checkpoint is None else json.loads(row.checkpoint)

    def note(self, bank_id: int, error: str | None) -> None:
        """A pull ended: well (error None) or with ``error`` (kept for the operator)."""
        now = int(time.time())
        values = {"attempted": now, "last_error": error}
        if error is None:
            values["synced"] = now
        with self.db.begin() as conn:
            conn.execute(update(schema.matcher_bank).where(B.id == bank_id).values(**values))

    def counts(self, bank_id: int) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(select(func.count()).where(
                E.bank_id == bank_id, E.removed.is_(False))).scalar_one())

    # ------------------------------------------------------------------ writes
    def write_page(self, bank_id: int, added, removed: list[int], checkpoint,
                   refused: int = 0, *, replace: bool = False) -> int:
        """Apply a page in one transaction with its ``checkpoint``: ``added`` rows
        (entry_row dicts, any iterable: read in chunks, never all held at once; an id
        listed already is replaced), ``removed`` ids; with ``replace`` the page is the
        whole list (every other entry is removed). Returns the changes written."""
        with self.db.begin() as conn:
            bank = conn.execute(select(B.head).where(B.id == bank_id)
                                .with_for_update()).first()
            state = {"head": int(bank.head), "written": 0}
            seen: set = set()
            chunk: dict = {}
            for row in added:
                seen.add(row["id"])
                chunk[row["id"]] = row
                if len(chunk) >= _WRITE_CHUNK:
                    self._write_chunk(conn, bank_id, chunk, state)
                    chunk = {}
            self._write_chunk(conn, bank_id, chunk, state)
            if replace:
                listed = conn.execute(select(E.id).where(
                    E.bank_id == bank_id, E.removed.is_(False))).scalars().all()
                gone = [i for i in listed if i not in seen]
                del listed
            else:
                gone = sorted(set(removed) - seen)
            for i in range(0, len(gone), _WRITE_CHUNK):
                self._remove_chunk(conn, bank_id, gone[i:i + _WRITE_CHUNK], state)
            values = {"head": state["head"],
                      "checkpoint": None if checkpoint is None else json.dumps(checkpoint)}
            if refused:
                values["refused"] = B.refused + refused
            conn.execute(update(schema.matcher_bank).where(B.id == bank_id).values(**values))
            return state["written"]

    def _old(self, conn, bank_id: int, ids: list) -> dict:
        old = {}
        for i in range(0, len(ids), _CHUNK):
            old.update({r.id: r for r in conn.execute(
                select(E.id, E.removed, *(E[f] for f in _FIELDS))
                .where(E.bank_id == bank_id, E.id.in_(ids[i:i + _CHUNK])))})
        return old

    def _write_chunk(self, conn, bank_id: int, chunk: dict, state: dict) -> None:
        if not chunk:
            return
        old = self._old(conn, bank_id, list(chunk))
        inserts, updates = [], []
        for entry_id, row in chunk.items():
            was = old.get(entry_id)
            if was is not None and not was.removed and all(
                    _same(getattr(was, f), row[f]) for f in _FIELDS):
                continue  # sent again the same: nothing changes
            state["head"] += 1
            values = {**row, "bank_id": bank_id, "seq": state["head"], "removed": False}
            (inserts if was is None else updates).append(values)
        if inserts:
            conn.execute(insert(schema.matcher_entry), inserts)
        _update(conn, updates, _FIELDS)
        state["written"] += len(inserts) + len(updates)

    def _remove_chunk(self, conn, bank_id: int, ids: list, state: dict) -> None:
        old = self._old(conn, bank_id, ids)
        updates = []
        for entry_id in ids:
            was = old.get(entry_id)
            if was is None or was.removed:
                continue
            state["head"] += 1
            updates.append({"bank_id": bank_id, "id": entry_id, "seq": state["head"],
                            "removed": True})
        _update(conn, updates, ())
        state["written"] += len(updates)

    # ------------------------------------------------------------------ reads
    def active(self, bank_id: int):
        """(head, the active entries' rows) in one read."""
        return self.load_active(bank_id, list)

    def load_active(self, bank_id: int, consume):
        """(head, ``consume(rows)``) in one read: the active rows streamed to
        ``consume`` (an index's load), never all held at once."""
        with self.db.connect() as conn:
            head = int(conn.execute(select(B.head).where(B.id == bank_id)).scalar_one())
            rows = conn.execution_options(yield_per=_WRITE_CHUNK).execute(
                select(E.id, *(E[f] for f in _FIELDS)).where(
                    E.bank_id == bank_id, E.removed.is_(False)))
            return head, consume(rows)

    def changes(self, bank_id: int, after: int, limit: int = 10_000):
        """The rows changed after seq ``after``, in seq order (at most ``limit``)."""
        with self.db.connect() as conn:
            return conn.execute(select(E.id, E.seq, E.removed, *(E[f] for f in _FIELDS))
                                .where(E.bank_id == bank_id, E.seq > after)
                                .order_by(E.seq).limit(limit)).all()

    def entry(self, bank_id: int, entry_id: int):
        with self.db.connect() as conn:
            return conn.execute(select(schema.matcher_entry).where(
                E.bank_id == bank_id, E.id == entry_id)).first()


def _update(conn, updates: list, fields) -> None:
    """Rows' new seq, removed flag and ``fields``. Seqs are unique per bank: the rows
    are parked first (negative seqs), so that no update meets a seq another row still
    holds."""
    if not updates:
        return
    where = and_(E.bank_id == bindparam("b_bank"), E.id == bindparam("b_id"))
    conn.execute(update(schema.matcher_entry).where(where).values(seq=-bindparam("b_seq")),
                 [{"b_bank": u["bank_id"], "b_id": u["id"], "b_seq": u["seq"]}
                  for u in updates])
    conn.execute(update(schema.matcher_entry).where(where).values(
        seq=bindparam("b_seq"), removed=bindparam("b_removed"),
        **{f: bindparam("b_" + f) for f in fields}),
        [{"b_bank": u["bank_id"], "b_id": u["id"], "b_seq": u["seq"],
          "b_removed": u["removed"], **{"b_" + f: u[f] for f in fields}} for u in updates])


def _same(a, b) -> bool:
    if isinstance(a, memoryview):
        a = bytes(a)
    return a == b
