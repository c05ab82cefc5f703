"""Abuse control (README "Abuse control"): the negative list, flood quarantine, dispute
review, and the operators' review queue. The rules are functions over a connection in
the caller's write transaction; ``Review`` holds the operator's decisions.

* **Negative list** (table ``negative``): hashes that must never be published (memes,
  logos, stock images), a PDQ with a radius, an MD5 / SHA-256 exactly. A submitted item
  that hits one is stored ``held`` (never published) with a ``negative`` flag; the
  person's status shows it ``pending``, as every item not yet published. Adding a
  negative hash holds every active entry it hits (a published one is tombstoned).
* **Flood** (after each feedback): an active, published entry reported as a match
  (``matched`` or ``confirmed``) by ``flood_platforms`` distinct platforms within the
  window (the current clock hour and the ``flood_window_hours`` before it), or with at
  least ``flood_rate_min`` matches in the window and at least ``flood_rate_factor``
  times the median (the lower middle value) of the other entries matched in the window,
  is held (tombstoned) with a ``flood`` flag.
* **Dispute** (after each feedback): an entry that ``dispute_platforms`` distinct
  platforms reported ``not_ncii`` or ``disputed`` gets a ``dispute`` flag (it stays
  published); after a decision, a new flag needs ``dispute_platforms`` more platforms.
* **Sample**: a share ``review_sample`` of the other submitted items is held too, with a
  ``sample`` flag, as cover for the negative list.

A decision on an entry closes its open flags: ``release`` publishes a held entry (one
that had been published comes back under a new entry id, one version up, so that the
change log and every older snapshot replay unchanged) or keeps a disputed one;
``remove`` takes it off the list for good (status ``removed``). Reviewers see hashes
and counts, never an image, never a case id."""

from __future__ import annotations

import datetime
import json
import secrets
from dataclasses import dataclass, fields

import numpy as np
from sqlalchemy import and_, func, insert, select, update

from . import audit, schema
from .errors import BadRequest, Conflict, NotFound

MATCH_VERDICTS = ("matched", "confirmed")
DISPUTE_VERDICTS = ("not_ncii", "disputed")
RULES = ("negative", "flood", "dispute", "sample")
NEGATIVE_SIGNALS = ("pdq", "md5", "sha256")
_DIGEST_BYTES = {"pdq": 32, "md5": 16, "sha256": 32}
_ENTRY_ID_MAX = (1 << 63) - 1
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)
_SCAN = 20_000
_E = schema.entry.c
_F = schema.feedback.c
_R = schema.review.c
_N = schema.negative.c
_sysrandom = secrets.SystemRandom()


@dataclass(frozen=True)
class Rules:
    """The thresholds (the Settings fields of the same names)."""

    flood_platforms: int = 10
    flood_window_hours: int = 1
    flood_rate_factor: int = 20
    flood_rate_min: int = 100
    dispute_platforms: int = 3
    negative_radius: int = 16
    review_sample: float = 0.0

    @classmethod
    def of(cls, settings) -> Rules:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


def today() -> str:
    """The UTC day (as ``store.today``): the finest time kept about a flag."""
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def distances(codes: np.ndarray, query: bytes) -> np.ndarray:
    """Hamming distances of the rows of ``codes`` (n, 32) uint8 to one 32-byte hash."""
    if codes.shape[0] == 0:
        return np.empty(0, np.int64)
    q = np.frombuffer(query, np.uint8)
    return _POPCOUNT[codes ^ q].sum(axis=1, dtype=np.int64)


def _insert_ignore(conn, table, rows: list[dict], keys: list[str]) -> None:
    """INSERT ... ON CONFLICT (keys) DO NOTHING on either store (two writers flagging
    one entry at once must not fail a platform's feedback)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    conn.execute(dialect_insert(table).on_conflict_do_nothing(index_elements=keys), rows)


def _review_row(entry_id: int, rule: str, day: str, *, platforms: int = 0, matches: int = 0,
                disputes: int = 0, negative_id: int | None = None,
                distance: int | None = None) -> dict:
    return {"id": secrets.randbelow(_ENTRY_ID_MAX) + 1, "entry_id": entry_id, "rule": rule,
            "serial": 0, "state": "open", "open_entry": entry_id, "platforms": platforms,
            "matches": matches, "disputes": disputes, "negative_id": negative_id,
            "distance": distance, "opened_day": day, "decided_day": None,
            "released_as": None}


def open_flags(conn, rows: list[dict]) -> None:
    """Open these flags (``_review_row`` dicts); one already open is left as it is."""
    if not rows:
        return
    ids = sorted({r["entry_id"] for r in rows})
    serial: dict = {}
    for i in range(0, len(ids), 900):
        serial.update(conn.execute(select(_R.entry_id, func.max(_R.serial)).where(
            _R.entry_id.in_(ids[i:i + 900])).group_by(_R.entry_id)).all())
    for r in rows:
        serial[r["entry_id"]] = r["serial"] = (serial.get(r["entry_id"]) or 0) + 1
    _insert_ignore(conn, schema.review, rows, ["open_entry", "rule"])


def lock_publisher(conn) -> int:
    """Take the publisher's row for this transaction (a hold or a release must not
    interleave with a publish that reads the same entries); returns the epoch."""
    return conn.execute(select(schema.publisher.c.epoch).where(schema.publisher.c.id == 1)
                        .with_for_update()).scalar_one()


def hold(conn, entry_ids: list[int], epoch: int) -> list[int]:
    """Hold these entries if active (a published one is tombstoned at the next publish);
    returns the ones held."""
    held = []
    for i in range(0, len(entry_ids), 900):
        chunk = entry_ids[i:i + 900]
        ids = conn.execute(select(_E.id).where(and_(_E.id.in_(chunk),
                                                    _E.status == "active"))).scalars().all()
        if ids:
            conn.execute(update(schema.entry).where(_E.id.in_(ids)).values(status="held"))
            conn.execute(insert(schema.outbox), [
                {"entry_id": eid, "op": "delete", "epoch": epoch} for eid in ids])
            held += ids
    return held


def close_flags(conn, entry_ids, state: str, day: str, released_as: int | None = None) -> int:
    """Close the entries' open flags with this decision; returns how many."""
    ids = list(entry_ids)
    n = 0
    for i in range(0, len(ids), 900):
        n += conn.execute(update(schema.review).where(_R.open_entry.in_(ids[i:i + 900]))
                          .values(state=state, open_entry=None, decided_day=day,
                                  released_as=released_as)).rowcount
    return n


# ---------------------------------------------------------------------------- negative list

class NegativeList:
    """The negative list as read once for one transaction."""

    def __init__(self, conn):
        rows = conn.execute(select(_N.id, _N.signal, _N.value, _N.radius)).all()
        self.exact = {(r.signal, bytes(r.value)): r.id for r in rows if r.signal != "pdq"}
        pdq = [r for r in rows if r.signal == "pdq"]
        self.pdq_ids = np.array([r.id for r in pdq], np.int64)
        self.pdq_radius = np.array([r.radius for r in pdq], np.int64)
        self.pdq = np.frombuffer(b"".join(bytes(r.value) for r in pdq),
                                 np.uint8).reshape(-1, 32)

    def __bool__(self) -> bool:
        return bool(self.exact) or self.pdq.shape[0] > 0

    def hit(self, item: dict) -> tuple[int, int] | None:
        """(negative id, distance) of the closest negative hash a wire item hits."""
        best = None
        for signal in ("md5", "sha256"):
            value = item.get(signal)
            if value is not None:
                found = self.exact.get((signal, bytes.fromhex(value)))
                if found is not None and (best is None or found < best[0]):
                    best = (found, 0)
        if best is None and item.get("pdq") is not None and self.pdq.shape[0]:
            d = distances(self.pdq, bytes.fromhex(item["pdq"]))
            ok = np.flatnonzero(d <= self.pdq_radius)
            if ok.size:
                # the closest, then the lowest id: the same answer every time
                i = ok[np.lexsort((self.pdq_ids[ok], d[ok]))[0]]
                best = (int(self.pdq_ids[i]), int(d[i]))
        return best


class NegativeCache:
    """The negative list read once and kept while it is unchanged: (count, max id) of
    its rows, read in each submission's transaction, changes with every add and remove
    (ids are never reused), from any process."""

    def __init__(self):
        self._held: tuple = (None, None)

    def get(self, conn) -> NegativeList:
        key = tuple(conn.execute(select(func.count(), func.max(_N.id))).one())
        found_key, found = self._held
        if found_key != key:
            found = NegativeList(conn)
            self._held = (key, found)
        return found


def submission_flags(conn, items: list[dict], rules: Rules,
                     cache: NegativeCache | None = None) -> dict[int, dict]:
    """Item number -> the flag (``_review_row`` keyword arguments and "rule") of each
    item of a submission that must be held: a negative-list hit, else the sample."""
    out: dict[int, dict] = {}
    negative = (cache or NegativeCache()).get(conn)
    for n, item in enumerate(items):
        hit = negative.hit(item) if negative else None
        if hit is not None:
            out[n] = {"rule": "negative", "negative_id": hit[0], "distance": hit[1]}
        elif rules.review_sample > 0 and _sysrandom.random() < rules.review_sample:
            out[n] = {"rule": "sample"}
    return out


def negative_hits(conn, signal: str, value: bytes, radius: int) -> list[tuple[int, int]]:
    """(entry id, distance) of the active entries (published or not) a negative hash
    hits, by id."""
    if signal != "pdq":
        column = _E.md5 if signal == "md5" else _E.sha256
        ids = conn.execute(select(_E.id).where(and_(column == value, _E.status == "active"))
                           .order_by(_E.id)).scalars().all()
        return [(eid, 0) for eid in ids]
    out = []
    last = 0
    while True:  # pages by id (no server-side cursor inside the write transaction)
        rows = conn.execute(select(_E.id, _E.pdq).where(and_(
            _E.id > last, _E.pdq.is_not(None), _E.status == "active"))
            .order_by(_E.id).limit(_SCAN)).all()
        if not rows:
            break
        last = rows[-1].id
        codes = np.frombuffer(b"".join(bytes(r.pdq) for r in rows), np.uint8).reshape(-1, 32)
        d = distances(codes, value)
        for i in np.flatnonzero(d <= radius).tolist():
            out.append((rows[i].id, int(d[i])))
    return sorted(out)


# ---------------------------------------------------------------------------- feedback rules

def after_feedback(conn, rules: Rules, entries: dict[int, set], hour: int, day: str) -> dict:
    """The flood and dispute rules for the entries a feedback just named (entry id ->
    the verdicts given), in its transaction. Returns {"flood": [ids held],
    "dispute": [ids flagged]}."""
    matched = sorted(e for e, v in entries.items() if v & set(MATCH_VERDICTS))
    disputed = sorted(e for e, v in entries.items() if v & set(DISPUTE_VERDICTS))
    out = {"flood": [], "dispute": []}
    if matched:
        out["flood"] = _flood(conn, rules, matched, hour, day)
    if disputed:
        out["dispute"] = _dispute(conn, rules, disputed, day)
    return out


def match_counts(conn, entry_ids: list[int] | None, since_hour: int) -> dict[int, tuple]:
    """entry id -> (distinct platforms, matches) of match feedback at or after the hour
    ``since_hour``; ``entry_ids`` None: every entry matched since then."""
    q = (select(_F.entry_id, func.count(func.distinct(_F.platform_id)), func.count())
         .where(and_(_F.verdict.in_(MATCH_VERDICTS), _F.hour >= since_hour))
         .group_by(_F.entry_id))
    out = {}
    if entry_ids is None:
        return {r[0]: (r[1], r[2]) for r in conn.execute(q)}
    for i in range(0, len(entry_ids), 900):
        for r in conn.execute(q.where(_F.entry_id.in_(entry_ids[i:i + 900]))):
            out[r[0]] = (r[1], r[2])
    return out


def dispute_counts(conn, entry_ids: list[int]) -> dict[int, tuple]:
    """entry id -> (distinct platforms, disputes) of not_ncii / disputed feedback."""
    out = {}
    for i in range(0, len(entry_ids), 900):
        rows = conn.execute(
            select(_F.entry_id, func.count(func.distinct(_F.platform_id)), func.count())
            .where(and_(_F.verdict.in_(DISPUTE_VERDICTS),
                        _F.entry_id.in_(entry_ids[i:i + 900])))
            .group_by(_F.entry_id)).all()
        out.update({r[0]: (r[1], r[2]) for r in rows})
    return out


def _median_low(values: list[int]) -> int:
    values = sorted(values)
    return values[(len(values) - 1) // 2]


def _flood(conn, rules: Rules, entry_ids: list[int], hour: int, day: str) -> list[int]:
    since = hour - rules.flood_window_hours
    live = []
    for i in range(0, len(entry_ids), 900):
        live += conn.execute(select(_E.id).where(and_(
            _E.id.in_(entry_ids[i:i + 900]), _E.status == "active",
            _E.added_seq.is_not(None)))).scalars().all()
    if not live:
        return []
    counts = match_counts(conn, sorted(live), since)
    flagged = {}
    rate = []
    for eid in sorted(counts):
        platforms, matches = counts[eid]
        if platforms >= rules.flood_platforms:
            flagged[eid] = (platforms, matches)
        elif matches >= rules.flood_rate_min:
            rate.append(eid)
    if rate:
        everyone = match_counts(conn, None, since)
        for eid in rate:
            others = [n for e, (_p, n) in everyone.items() if e != eid]
            platforms, matches = counts[eid]
            if others and matches >= rules.flood_rate_factor * _median_low(others):
                flagged[eid] = (platforms, matches)
    if not flagged:
        return []
    epoch = lock_publisher(conn)
    held = hold(conn, sorted(flagged), epoch)
    open_flags(conn, [_review_row(eid, "flood", day, platforms=flagged[eid][0],
                                  matches=flagged[eid][1]) for eid in held])
    return held


def _dispute(conn, rules: Rules, entry_ids: list[int], day: str) -> list[int]:
    counts = dispute_counts(conn, entry_ids)
    due = [e for e, (platforms, _n) in counts.items() if platforms >= rules.dispute_platforms]
    if not due:
        return []
    alive = set()
    for i in range(0, len(due), 900):
        alive |= set(conn.execute(select(_E.id).where(and_(
            _E.id.in_(due[i:i + 900]), _E.status.in_(("active", "held"))))).scalars())
    last = dict(conn.execute(select(_R.entry_id, func.max(_R.platforms)).where(and_(
        _R.entry_id.in_(sorted(alive)), _R.rule == "dispute", _R.state != "open"))
        .group_by(_R.entry_id)).all()) if alive else {}
    rows = []
    for eid in sorted(alive):
        platforms, disputes = counts[eid]
        if eid in last and platforms < last[eid] + rules.dispute_platforms:
            continue
        rows.append(_review_row(eid, "dispute", day, platforms=platforms, disputes=disputes))
    open_flags(conn, rows)
    return [r["entry_id"] for r in rows]


# ---------------------------------------------------------------------------- decisions

def republish(conn, entry_id: int, epoch: int) -> int:
    """A new version of a held, tombstoned entry under a fresh id, published at the next
    tick; the old row becomes ``replaced``. Returns the new id."""
    cols = [c for c in schema.entry.columns]
    row = conn.execute(select(*cols).where(_E.id == entry_id)).one()
    values = dict(row._mapping)
    new_id = secrets.randbelow(_ENTRY_ID_MAX) + 1
    values.update(id=new_id, status="active", added_seq=None, removed_seq=None,
                  version=row.version + 1)
    conn.execute(insert(schema.entry).values(**values))
    conn.execute(update(schema.entry).where(_E.id == entry_id).values(status="replaced"))
    conn.execute(insert(schema.outbox).values(entry_id=new_id, op="upsert", epoch=epoch))
    return new_id


# ---------------------------------------------------------------------------- the operator

def _hex(value) -> str | None:
    return None if value is None else bytes(value).hex()


class Review:
    """The operator's side: the review queue and the negative list (``store.review``).
    Every decision and every change of the list is one write transaction."""

    def __init__(self, store, rules: Rules):
        self.store = store
        self.db = store.db
        self.rules = rules

    # ------------------------------------------------------------------ queue
    def _entries(self, conn, ids: list[int], *, history: bool) -> list[dict]:
        if not ids:
            return []
        rows = conn.execute(select(_E.id, _E.kind, _E.tier, _E.status, _E.pdq, _E.quality,
                                   _E.md5, _E.sha256, _E.vpdq, _E.added_seq)
                            .where(_E.id.in_(ids))).all()
        cond = _R.entry_id.in_(ids)
        if not history:
            cond = and_(cond, _R.open_entry.is_not(None))
        flags = conn.execute(select(schema.review).where(cond)
                             .order_by(_R.entry_id, _R.serial, _R.rule)).all()
        since = self.store.hour() - self.rules.flood_window_hours
        matches = match_counts(conn, ids, since)
        disputes = dispute_counts(conn, ids)
        totals = dict(conn.execute(
            select(_F.entry_id, func.count()).where(and_(
                _F.entry_id.in_(ids), _F.verdict.in_(MATCH_VERDICTS)))
            .group_by(_F.entry_id)).all())
        by_entry: dict = {}
        for f in flags:
            flag = {"rule": f.rule, "opened": f.opened_day, "platforms": f.platforms,
                    "matches": f.matches, "disputes": f.disputes}
            if f.negative_id is not None:
                flag["negative"] = f.negative_id
                flag["distance"] = f.distance
            if history:
                flag["state"] = f.state
                flag["decided"] = f.decided_day
                if f.released_as is not None:
                    flag["released_as"] = f"{f.released_as:016x}"
            by_entry.setdefault(f.entry_id, []).append(flag)
        out = []
        for r in sorted(rows, key=lambda r: r.id):
            item = {"id": f"{r.id:016x}", "kind": r.kind, "tier": r.tier,
                    "status": r.status, "published": r.added_seq is not None}
            for name in ("pdq", "md5", "sha256"):
                value = _hex(getattr(r, name))
                if value is not None:
                    item[name] = value
                    if name == "pdq":
                        item["quality"] = r.quality
            if r.vpdq is not None:
                item["vpdq_frames"] = len(json.loads(r.vpdq))
            p, m = matches.get(r.id, (0, 0))
            dp, dn = disputes.get(r.id, (0, 0))
            item["counts"] = {"match_platforms": p, "matches": m,
                              "matches_total": totals.get(r.id, 0),
                              "dispute_platforms": dp, "disputes": dn}
            item["flags"] = by_entry.get(r.id, [])
            out.append(item)
        return out

    def list(self, rule: str | None = None, limit: int = 100,
             after: int | None = None) -> list[dict]:
        """Entries with an open flag (``rule``: with an open flag of that rule), by id."""
        q = select(_R.entry_id).where(_R.open_entry.is_not(None)).distinct() \
            .order_by(_R.entry_id).limit(limit)
        if rule is not None:
            q = q.where(_R.rule == rule)
        if after is not None:
            q = q.where(_R.entry_id > after)
        with self.db.connect() as conn:
            ids = conn.execute(q).scalars().all()
            return self._entries(conn, list(ids), history=False)

    def show(self, entry_id: int) -> dict:
        """An entry with every flag it ever had (NotFound: never flagged)."""
        with self.db.connect() as conn:
            found = self._entries(conn, [entry_id], history=True)
        if not found or not found[0]["flags"]:
            raise NotFound(f"entry {entry_id:016x} was never flagged")
        return found[0]

    def _decide(self, entry_id: int, decision: str, actor: str) -> dict:
        day = today()
        with self.db.begin() as conn:
            epoch = lock_publisher(conn)
            if conn.execute(select(_R.id).where(_R.open_entry == entry_id).limit(1)) \
                    .first() is None:
                raise NotFound(f"entry {entry_id:016x} has no open flag")
            r = conn.execute(select(_E.status, _E.added_seq, _E.removed_seq)
                             .where(_E.id == entry_id)).one()
            out = {"id": f"{entry_id:016x}", "decision": decision}
            new_id = None
            if decision == "released":
                if r.status == "held" and r.removed_seq is not None:
                    new_id = republish(conn, entry_id, epoch)
                    out["republished_as"] = f"{new_id:016x}"
                elif r.status == "held":
                    # never published, or its tombstone not yet: it simply goes on
                    conn.execute(update(schema.entry).where(_E.id == entry_id)
                                 .values(status="active"))
                    conn.execute(insert(schema.outbox).values(
                        entry_id=entry_id, op="upsert", epoch=epoch))
            elif r.status in ("active", "held"):
                conn.execute(update(schema.entry).where(_E.id == entry_id)
                             .values(status="removed"))
                conn.execute(insert(schema.outbox).values(entry_id=entry_id, op="delete",
                                                          epoch=epoch))
            close_flags(conn, [entry_id], decision, day, new_id)
            audit.record(conn, actor=actor, action="review.release" if decision == "released"
                         else "review.remove", detail=dict(out))
        self.store._written()
        return out

    def release(self, entry_id: int, *, actor: str = "operator") -> dict:
        """Publish a held entry again (a new version if it had been published), or keep a
        disputed one; closes its open flags. ``actor``: who, for the audit log."""
        return self._decide(entry_id, "released", actor)

    def remove(self, entry_id: int, *, actor: str = "operator") -> dict:
        """Take a flagged entry off the list for good; closes its open flags."""
        return self._decide(entry_id, "removed", actor)

    # ------------------------------------------------------------------ negative list
    def negative_add(self, signal: str, value: str, radius: int | None = None,
                     label: str = "", *, actor: str = "operator") -> dict:
        """Add a negative hash and hold every active entry it hits (published ones are
        tombstoned, each gets a ``negative`` flag)."""
        if signal not in NEGATIVE_SIGNALS:
            raise BadRequest("signal", f"one of {', '.join(NEGATIVE_SIGNALS)}")
        width = _DIGEST_BYTES[signal]
        try:
            raw = bytes.fromhex(value) if isinstance(value, str) and \
                len(value) == 2 * width and value.isascii() and value.isalnum() else None
        except ValueError:
            raw = None
        if raw is None:
            raise BadRequest("value", f"a {signal} hash is {2 * width} hexadecimal digits")
        if signal == "pdq":
            radius = self.rules.negative_radius if radius is None else radius
            if isinstance(radius, bool) or not isinstance(radius, int) or not 0 <= radius <= 63:
                raise BadRequest("radius", "a PDQ radius is 0..63")
            if raw == bytes(32):
                raise BadRequest("value", "an all-zero PDQ hash is a flat image's")
        elif radius not in (None, 0):
            raise BadRequest("radius", f"a {signal} hash matches exactly (no radius)")
        else:
            radius = 0
        if not isinstance(label, str) or len(label) > 200:
            raise BadRequest("label", "at most 200 characters")
        day = today()
        with self.db.begin() as conn:
            if conn.execute(select(_N.id).where(and_(_N.signal == signal, _N.value == raw))) \
                    .first() is not None:
                raise Conflict(f"this {signal} hash is on the negative list already")
            nid = conn.execute(insert(schema.negative).values(
                signal=signal, value=raw, radius=radius, label=label, created_day=day)
                .returning(_N.id)).scalar_one()
            hits = negative_hits(conn, signal, raw, radius)
            held = []
            if hits:
                epoch = lock_publisher(conn)
                distance = dict(hits)
                held = hold(conn, [e for e, _d in hits], epoch)
                open_flags(conn, [_review_row(e, "negative", day, negative_id=nid,
                                              distance=distance[e]) for e in held])
            out = {"negative": {"id": nid, "signal": signal, "value": raw.hex(),
                                "radius": radius, "label": label, "created": day},
                   "held": [f"{e:016x}" for e in sorted(held)]}
            audit.record(conn, actor=actor, action="negative.add", detail={
                "id": nid, "signal": signal, "value": raw.hex(), "radius": radius,
                "label": label, "held": len(held)})
        if held:
            self.store._written()
        return out

    def negative_list(self, limit: int = 1000, after: int | None = None) -> list[dict]:
        q = select(schema.negative).order_by(_N.id).limit(limit)
        if after is not None:
            q = q.where(_N.id > after)
        with self.db.connect() as conn:
            rows = conn.execute(q).all()
        return [{"id": r.id, "signal": r.signal, "value": bytes(r.value).hex(),
                 "radius": r.radius, "label": r.label, "created": r.created_day}
                for r in rows]

    def negative_remove(self, negative_id: int, *, actor: str = "operator") -> dict:
        """Take a hash off the negative list (entries it held stay in the queue)."""
        with self.db.begin() as conn:
            n = conn.execute(schema.negative.delete().where(_N.id == negative_id)).rowcount
            if not n:
                raise NotFound(f"no negative hash {negative_id}")
            audit.record(conn, actor=actor, action="negative.remove",
                         detail={"id": negative_id})
        return {"id": negative_id, "removed": True}
