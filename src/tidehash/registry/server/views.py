"""What the NCMEC and StopNCII views (``ncmec.py``, ``stopncii.py``) share: their clock,
a window of the published list between two sequence numbers, and their auth.

The clock. Those APIs page by time (NCMEC's ``from`` / ``to``, StopNCII's
``startTimestamp`` / ``nextSetTimestamp``) and their clients keep a time as the
checkpoint; the registry keeps no time with a change. So the views keep their own:
``view_clock`` rows (seq, at) say "at second ``at`` a view request saw the head at
``seq``". Every view request first marks the head if it moved. The view's time of the
change at seq s is ``time(s)`` = the least ``at`` of the marks with seq >= s, and the
changes up to second T are those with seq <= ``seq_at(T)`` = the largest seq marked at
or before T (the two agree: s <= seq_at(T) exactly when time(s) <= T). A view only ever
answers up to ``now - SLACK`` seconds, and a mark is made in the second it is committed,
so the answer for a past second never changes afterwards: a client that pulled up to T
and then pulls from T misses nothing and sees nothing twice. What the clock stores is
when a platform asked (no finer than when the change was published, which the hold of
the publisher already batches), nothing about a person.

The window (lo, hi] of the published list, read from the entry table (each entry is
published once, at added_seq, and tombstoned at most once, at removed_seq; neither
changes afterwards, so a window is the same set every time it is read, whatever was
published since, and compaction of the change log does not touch it): an upsert for each
entry added in the window and not removed by hi (key added_seq), a tombstone for each
entry added at or before lo and removed in the window (key removed_seq); an entry added
and removed inside the window is not there at all (but it is in the StopNCII view: see
``window``). Rows come in key order from a given key, so a page is (lo, hi, start) and
the next page starts after the last key."""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass

from sqlalchemy import and_, exc, func, insert, or_, select

from . import schema

#: seconds: a view answers up to ``now - SLACK`` only (see the module docstring)
SLACK = 2
_E = schema.entry.c
_V = schema.view_clock.c
WINDOW_COLUMNS = (_E.id, _E.case_id, _E.kind, _E.pdq, _E.quality, _E.md5, _E.sha256,
                  _E.status, _E.added_seq, _E.removed_seq, _E.tier)


@dataclass(frozen=True)
class Row:
    key: int  # added_seq of an upsert, removed_seq of a tombstone
    deleted: bool
    entry: object  # the entry row (WINDOW_COLUMNS)


class ViewClock:
    def __init__(self, db):
        self.db = db

    def mark(self) -> int:
        """Mark the head if it moved since the last mark; returns now (unix seconds)."""
        with self.db.connect() as conn:
            head = conn.execute(select(schema.publisher.c.head)).scalar_one()
            last = conn.execute(select(func.max(_V.seq))).scalar()
        now = int(time.time())
        if head > 0 and (last is None or head > last):
            for _attempt in range(3):
                try:
                    with self.db.begin() as conn:
                        at = int(time.time())
                        conn.execute(insert(schema.view_clock).values(seq=head, at=at))
                        if int(time.time()) != at:  # a second passed: mark again
                            raise _Retry
                    break
                except _Retry:
                    continue
                except exc.IntegrityError:  # another request marked this head
                    break
            now = int(time.time())
        return now

    def seq_at(self, conn, t: int) -> int:
        """The largest seq marked at or before second ``t`` (0: none)."""
        return conn.execute(select(func.max(_V.seq)).where(_V.at <= t)).scalar() or 0

    def times(self, conn, keys: list[int]):
        """A function seq -> the view's time of it, for seqs between min and max of
        ``keys`` (the marks covering them, read once)."""
        if not keys:
            return lambda s: 0
        low, high = min(keys), max(keys)
        top = conn.execute(select(func.min(_V.seq)).where(_V.seq >= high)).scalar()
        q = select(_V.seq, _V.at).where(_V.seq >= low)
        if top is not None:
            q = q.where(_V.seq <= top)
        marks = conn.execute(q.order_by(_V.seq)).all()
        seqs = [m.seq for m in marks]
        # time(s) = min at over marks with seq >= s: a suffix minimum
        mins, best = [0] * len(marks), None
        for i in range(len(marks) - 1, -1, -1):
            best = marks[i].at if best is None else min(best, marks[i].at)
            mins[i] = best
        fallback = int(time.time())

        def time_of(s: int) -> int:
            i = bisect.bisect_left(seqs, s)
            return mins[i] if i < len(mins) else fallback
        return time_of


class _Retry(Exception):
    pass


def window(conn, lo: int, hi: int, start: int, size: int, kinds=None,
           extra=None, transient: bool = False) -> list[Row]:
    """Up to ``size`` rows of the window (lo, hi] with key >= ``start``, in key order
    (see the module docstring). ``kinds``: only these entry kinds; ``extra``: a further
    condition on the entry (the StopNCII view: the entry has its hash); ``transient``:
    an entry added and removed inside the window is there too, as a tombstone at its
    removed_seq (the StopNCII view, whose records are per hash: that entry's case is one
    of its hash's cases, so the hash's record changed even if the entry came and went)."""
    start = max(start, lo + 1)
    if start > hi or size <= 0:
        return []
    conds = [] if kinds is None else [_E.kind.in_(kinds)]
    if extra is not None:
        conds.append(extra)
    ups = conn.execute(select(*WINDOW_COLUMNS).where(and_(
        _E.added_seq >= start, _E.added_seq <= hi,
        or_(_E.removed_seq.is_(None), _E.removed_seq > hi), *conds))
        .order_by(_E.added_seq).limit(size)).all()
    if not transient:
        conds.append(_E.added_seq <= lo)
    downs = conn.execute(select(*WINDOW_COLUMNS).where(and_(
        _E.removed_seq >= start, _E.removed_seq <= hi, _E.added_seq.is_not(None), *conds))
        .order_by(_E.removed_seq).limit(size)).all()
    rows = [Row(r.added_seq, False, r) for r in ups] + [Row(r.removed_seq, True, r)
                                                          for r in downs]
    rows.sort(key=lambda r: r.key)
    return rows[:size]


def status_at(entry, hi: int) -> str:
    """"active", "withdrawn" or "removed" of an entry row as published at seq ``hi``."""
    if entry.added_seq is not None and entry.added_seq <= hi and (
            entry.removed_seq is None or entry.removed_seq > hi):
        return "active"
    return "withdrawn" if entry.status == "withdrawn" else "removed"


# ---------------------------------------------------------------------------- members

#: trust tier -> (NCMEC member id, name): a person's submission (the anonymous path) or a
#: partner's (an NGO or hotline with a ``submit:partner`` credential)
TIER_MEMBERS = {"person": (1, "tidehash: person submissions"),
                "partner": (2, "tidehash: partner submissions")}
#: a platform's own NCMEC member id is this plus its platform id (never a tier's)
PLATFORM_MEMBER_BASE = 1000


def tier_of(entry) -> str:
    return entry.tier


def member_of(entry) -> tuple[int, str]:
    return TIER_MEMBERS[tier_of(entry)]


# ---------------------------------------------------------------------------- auth

def check_token(store, token: str | None, scopes: tuple, *, challenge: str):
    """The platform behind ``token`` if it has one of ``scopes``; else a Problem 401
    (with ``WWW-Authenticate: challenge``) or 403. Runs in a worker thread."""
    from .problems import Problem
    from .store import AuthError

    headers = {"WWW-Authenticate": challenge}
    if not token:
        raise Problem(401, "unauthorized", "a platform token is required", headers=headers)
    try:
        principal = store.authenticate(token)
        if principal.kind != "platform":
            raise AuthError(403, "this route is for platforms")
        if not any(scope in principal.scopes for scope in scopes):
            raise AuthError(403, f"this token lacks the {scopes[0]!r} scope")
    except AuthError as exc:
        if exc.status == 401:
            raise Problem(401, "unauthorized", exc.detail, headers=headers) from None
        raise Problem(403, "forbidden", exc.detail) from None
    return principal


def clock(svc) -> ViewClock:
    """The services' view clock (made on first use)."""
    found = getattr(svc, "_view_clock", None)
    if found is None:
        found = svc._view_clock = ViewClock(svc.db)
    return found


def select_head():
    return select(schema.publisher.c.head)


def select_entry(entry_id: int):
    return select(*WINDOW_COLUMNS).where(_E.id == entry_id)
