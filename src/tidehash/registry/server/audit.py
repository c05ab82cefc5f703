"""The audit log: every operator action and every list download, append-only and
hash-chained (README.md, "Audit log").

``record(conn, actor=..., action=..., detail=...)`` appends one row inside the caller's
write transaction (``Database.begin()``), so the action and its row commit together or
not at all. Row ``seq`` carries

    hash[seq] = HMAC-SHA256(K, hash[seq - 1] || canonical JSON [seq, at, actor, action, detail])

with ``hash[0]`` 32 zero bytes and ``K`` the ``audit`` sub-key of the server's master key
(``keys.py``). The one row of ``audit_head`` holds the newest (seq, hash); every append
reads it ``FOR UPDATE`` and moves it in the same transaction, so appends from any number
of threads and processes are serialised (on SQLite the write transaction's lock does
this) and the chain stays linear: seq 1, 2, 3, ... with no gap and no fork.

``verify`` walks the chain and names every seq that is wrong: an edited, inserted or
reordered row does not match its hash; a deleted one leaves a gap; deleting the newest
rows leaves the head ahead of the last row. What it cannot see: someone who can write
the database can also read the master key, rewrite the tail and move the head with it.
Against that, keep the head ``verify`` prints (seq:hash) somewhere else and check it
later with ``expect``: a log rewritten or cut below a saved head fails.

Nothing about a person goes in: ``detail`` may not carry a case id, a secret, a token
(only token ids), an address or a user agent (its keys are checked)."""

from __future__ import annotations

import datetime
import hmac
import json
import logging
import re
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import insert, select, update

from . import schema
from .db import Unavailable
from .keys import Keys

GENESIS = bytes(32)
MAX_DETAIL = 4000
_ACTION = re.compile(r"^[a-z][a-z0-9_.-]{0,39}$")
_ACTOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,79}$")
#: keys a detail may never have, at any depth: what would identify a person or let
#: someone act as a platform
FORBIDDEN_KEYS = frozenset({
    "case", "case_id", "case_ids", "cases", "secret", "token", "tokens", "password",
    "authorization", "ip", "address", "addr", "client", "host", "user_agent",
    "user-agent", "forwarded", "x-forwarded-for", "cookie",
})
_PAGE = 2000
log = logging.getLogger("tidehash.registry")
_keys_by_engine: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class AuditError(ValueError):
    """A row that may not be written (a malformed action or actor, a forbidden key)."""


def canonical(value) -> str:
    """The JSON text a row's hash is computed over (sorted keys, no spaces, ASCII)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


def row_hash(keys: Keys, prev: bytes, seq: int, at: int, actor: str, action: str,
             detail: str) -> bytes:
    payload = canonical([seq, at, actor, action, detail]).encode()
    return keys.mac("audit", bytes(prev) + payload)


def _check_detail(value, path: str = "detail") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise AuditError(f"{path}: keys are strings")
            if k.lower() in FORBIDDEN_KEYS:
                raise AuditError(f"{path}.{k}: the audit log holds nothing about a person "
                                 "and no token or secret")
            _check_detail(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_detail(v, f"{path}[{i}]")
    elif not (value is None or isinstance(value, (str, int, float, bool))):
        raise AuditError(f"{path}: {type(value).__name__} is not JSON")


def _keys(conn) -> Keys:
    engine = conn.engine
    found = _keys_by_engine.get(engine)
    if found is None:
        master = conn.execute(select(schema.server_key.c.value).where(
            schema.server_key.c.name == "master")).scalar()
        if master is None:
            raise RuntimeError("the database has no master key yet (Keys.load makes it)")
        found = _keys_by_engine[engine] = Keys(bytes(master))
    return found


def record(conn, *, actor: str, action: str, detail: dict, at: int | None = None) -> int:
    """Append one row in the caller's write transaction; returns its seq. Call it last
    in the transaction: it holds the audit head's lock until the commit."""
    if not isinstance(actor, str) or not _ACTOR.match(actor):
        raise AuditError(f"actor {actor!r}: 1-80 letters, digits, '_.:/-'")
    if not isinstance(action, str) or not _ACTION.match(action):
        raise AuditError(f"action {action!r}: 1-40 of a-z, 0-9, '_.-', starting a-z")
    if not isinstance(detail, dict):
        raise AuditError("detail: a dict")
    _check_detail(detail)
    text = canonical(detail)
    if len(text) > MAX_DETAIL:
        raise AuditError(f"detail: over {MAX_DETAIL} characters of JSON")
    if conn.engine.dialect.name == "sqlite" and \
            conn.info.get("tidehash_begin") != "BEGIN IMMEDIATE":
        # a read transaction would take the write lock only at the insert, and lose a
        # race to another writer (SQLITE_BUSY) instead of waiting for it
        raise RuntimeError("audit.record needs a write transaction (Database.begin())")
    keys = _keys(conn)
    h = schema.audit_head.c
    head = conn.execute(select(h.seq, h.hash).where(h.id == 1).with_for_update()).first()
    if head is None:  # deleted by hand: nothing is done unaudited (503) until it is back
        raise Unavailable("the audit log's head row is missing; nothing can be audited "
                          "(tidehash admin audit verify)")
    seq = head.seq + 1
    at = int(time.time()) if at is None else int(at)
    digest = row_hash(keys, bytes(head.hash), seq, at, actor, action, text)
    conn.execute(insert(schema.audit).values(seq=seq, at=at, actor=actor, action=action,
                                             detail=text, hash=digest))
    conn.execute(update(schema.audit_head).where(h.id == 1).values(seq=seq, hash=digest))
    return seq


# ---------------------------------------------------------------------------- downloads

class Downloads:
    """Audits the list downloads of the platform routes (snapshot, changes, the NCMEC
    view's entries, the StopNCII view's FetchHashes), each in its own short write
    transaction after the read and before the response: a page that cannot be audited
    is not sent (503).

    A page that carries entries gets its own row (``list.download``). An empty page
    (a poll at the head: nothing leaves the registry but the head's seq) is counted per
    (token, route) and written as one ``list.polls`` row per ``window`` seconds, with
    the count, the first and last second and the seq polled; so a platform polling
    every few seconds costs a row a minute, not thousands a day. The counts are written
    when the window ends (a thread), before the same token's next non-empty page, and
    at shutdown; a ``kill -9`` loses at most one window of counts of empty polls.
    ``window`` 0: every empty page gets its own row too."""

    def __init__(self, db, window: float = 60.0):
        self.db = db
        self.window = float(window)
        self._lock = threading.Lock()
        self._polls: dict = {}  # (actor, route) -> counts
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, principal, route: str, entries: int | None, **detail) -> None:
        """One page of ``route`` sent to ``principal`` with ``entries`` entries (None:
        not known yet, a snapshot's start)."""
        actor = f"{principal.kind}:{principal.token_id}"
        now = int(time.time())
        key = (actor, route)
        if entries == 0 and self.window > 0:
            with self._lock:
                slot = self._polls.get(key)
                if slot is None:
                    slot = self._polls[key] = {"platform": principal.platform,
                                               "polls": 0, "first": now}
                slot["polls"] += 1
                slot["last"] = now
                slot["detail"] = detail
            return
        with self._lock:
            pending = self._polls.pop(key, None)
        try:
            with self.db.begin() as conn:
                if pending is not None:
                    _write_polls(conn, key, pending)
                record(conn, actor=actor, action="list.download", at=now, detail={
                    "route": route, "platform": principal.platform, "entries": entries,
                    **detail})
        except BaseException:
            if pending is not None:
                self._restore(key, pending)
            raise

    def finish(self, principal, route: str, **detail) -> None:
        """The end of a streamed download (a snapshot): what was sent."""
        with self.db.begin() as conn:
            record(conn, actor=f"{principal.kind}:{principal.token_id}",
                   action="list.download.end",
                   detail={"route": route, "platform": principal.platform, **detail})

    def _restore(self, key, pending: dict) -> None:
        with self._lock:
            slot = self._polls.get(key)
            if slot is None:
                self._polls[key] = pending
            else:  # polls counted meanwhile: one slot spanning both
                slot["polls"] += pending["polls"]
                slot["first"] = min(slot["first"], pending["first"])

    def flush(self, *, due_only: bool = False) -> int:
        """Write the counted empty polls (``due_only``: those whose window has ended);
        returns the number of rows written."""
        now = int(time.time())
        with self._lock:
            keys = [k for k, v in self._polls.items()
                    if not due_only or now - v["first"] >= self.window]
            taken = {k: self._polls.pop(k) for k in keys}
        if not taken:
            return 0
        try:
            with self.db.begin() as conn:
                for key, slot in sorted(taken.items()):
                    _write_polls(conn, key, slot)
        except BaseException:
            for key, slot in taken.items():
                self._restore(key, slot)
            raise
        return len(taken)

    def start(self) -> None:
        if self.window <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="tidehash-audit",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        try:
            self.flush()
        except Exception as e:  # the database is gone at shutdown: say what is lost
            log.warning("audit: %d counts of empty polls not written at shutdown (%s)",
                        sum(v["polls"] for v in self._polls.values()), type(e).__name__)

    def _run(self) -> None:
        interval = max(min(self.window / 4, 15.0), 0.05)
        while not self._stop.wait(interval):
            try:
                self.flush(due_only=True)
            except Exception as e:  # kept and retried at the next wake
                log.warning("audit: empty polls not written yet (%s); retrying",
                            type(e).__name__)


def _write_polls(conn, key: tuple, slot: dict) -> None:
    actor, route = key
    record(conn, actor=actor, action="list.polls", at=slot["last"], detail={
        "route": route, "platform": slot["platform"], "polls": slot["polls"],
        "first": _iso(slot["first"]), "last": _iso(slot["last"]), **slot["detail"]})


# ---------------------------------------------------------------------------- the API

class AuditQuery(BaseModel):
    """The query of ``GET /v1/admin/audit`` (no other parameter is taken)."""

    model_config = ConfigDict(extra="forbid")
    since: int = Field(0, ge=0, le=(1 << 63) - 1, description="rows after this seq")
    limit: int = Field(100, ge=1, le=1000)
    action: str | None = Field(None, pattern=_ACTION.pattern, description="only this action")


class AuditRow(BaseModel):
    seq: int
    at: str = Field(description="UTC, to the second")
    actor: str = Field(description="cli, operator:TOKEN_ID or platform:TOKEN_ID")
    action: str
    detail: dict[str, Any]
    hash: str = Field(description="the chain's keyed hash up to this row (hex)")


class AuditHead(BaseModel):
    seq: int
    hash: str


class AuditPage(BaseModel):
    rows: list[AuditRow]
    head: AuditHead = Field(description="the newest row (keep it: verify --expect)")
    since: int | None = Field(description="the next page's since (null: no more)")


# ---------------------------------------------------------------------------- reading

def _iso(at: int) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.timezone.utc).isoformat(
        timespec="seconds").replace("+00:00", "Z")


def _row(r) -> dict:
    return {"seq": r.seq, "at": _iso(r.at), "actor": r.actor, "action": r.action,
            "detail": json.loads(r.detail), "hash": bytes(r.hash).hex()}


def rows(db, *, since: int = 0, limit: int | None = None,
         action: str | None = None) -> list[dict]:
    """Rows with seq > ``since`` in seq order (at most ``limit``), as JSON-ready dicts."""
    a = schema.audit.c
    q = select(a.seq, a.at, a.actor, a.action, a.detail, a.hash).where(
        a.seq > since).order_by(a.seq)
    if action is not None:
        q = q.where(a.action == action)
    if limit is not None:
        q = q.limit(limit)
    with db.connect() as conn:
        return [_row(r) for r in conn.execute(q).all()]


def head(db) -> tuple[int, str]:
    """(seq, hash hex) of the head row."""
    h = schema.audit_head.c
    with db.connect() as conn:
        r = conn.execute(select(h.seq, h.hash).where(h.id == 1)).one()
    return r.seq, bytes(r.hash).hex()


@dataclass
class Report:
    """What ``verify`` found: ``problems`` is (seq, what is wrong) in seq order."""

    rows: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS.hex()
    problems: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {"ok": self.ok, "rows": self.rows,
                "head": {"seq": self.head_seq, "hash": self.head_hash},
                "problems": [{"seq": s, "problem": p} for s, p in self.problems]}


def parse_expect(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` (as ``verify`` prints the head) -> (seq, lowercase hex)."""
    m = re.fullmatch(r"\s*(\d{1,19}):([0-9a-fA-F]{64})\s*", text or "")
    if m is None:
        raise ValueError("expected SEQ:HASH (the head as `verify` prints it: a seq, a "
                         "colon, 64 hex digits)")
    return int(m.group(1)), m.group(2).lower()


def load_keys(db) -> Keys:
    """The database's keys, without making a master key (``Keys.load`` would make one
    if it were missing: a log checked under a new key would look all edited)."""
    with db.connect() as conn:
        master = conn.execute(select(schema.server_key.c.value).where(
            schema.server_key.c.name == "master")).scalar()
    if master is None:
        raise LookupError("the database has no master key: the audit log cannot be "
                          "checked (was the server_key row deleted?)")
    return Keys(bytes(master))


def verify(db, keys: Keys, *, expect: tuple[int, str] | None = None) -> Report:
    """Walk the whole chain in one read transaction (see the module docstring)."""
    a, h = schema.audit.c, schema.audit_head.c
    report = Report()
    problems = report.problems
    with db.connect() as conn:
        head_row = conn.execute(select(h.seq, h.hash).where(h.id == 1)).first()
        if head_row is None:
            problems.append((0, "the audit head row is missing (deleted)"))
            head_seq, head_hash = None, None
        else:
            head_seq, head_hash = head_row.seq, bytes(head_row.hash)
        expected_seq, prev = 1, GENESIS
        linked = True  # prev is the stored hash of row expected_seq - 1
        last_seq, last_hash = 0, GENESIS
        at_expect = None
        for r in _walk(conn, a):
            report.rows += 1
            seq = r.seq
            if seq < expected_seq:  # only seq <= 0 can get here
                problems.append((seq, "a row before seq 1 (inserted)"))
                continue
            if seq > expected_seq:
                gap = (f"seq {expected_seq}" if seq == expected_seq + 1
                       else f"seqs {expected_seq}..{seq - 1}")
                problems.append((expected_seq, f"{gap} missing (deleted)"))
                linked = False
            stored = bytes(r.hash)
            if linked:
                want = row_hash(keys, prev, seq, r.at, r.actor, r.action, r.detail)
                if not hmac.compare_digest(want, stored):
                    problems.append((seq, "the row does not match its hash (edited, "
                                     "inserted or moved)"))
            else:
                problems.append((seq, "cannot be checked: the row before it is missing"))
            if head_seq is not None and seq > head_seq:
                problems.append((seq, f"after the head (seq {head_seq}): inserted, or "
                                 "the head was moved back"))
            if expect is not None and seq == expect[0]:
                at_expect = stored.hex()
            prev, linked, expected_seq = stored, True, seq + 1
            last_seq, last_hash = seq, stored
    if head_seq is not None:
        report.head_seq, report.head_hash = head_seq, head_hash.hex()
        if head_seq > last_seq:
            gap = (f"seq {head_seq}" if head_seq == last_seq + 1
                   else f"seqs {last_seq + 1}..{head_seq}")
            problems.append((last_seq + 1, f"{gap} missing: the newest rows were deleted "
                             f"(the head is at {head_seq})"))
        elif head_seq == last_seq and not hmac.compare_digest(head_hash, last_hash):
            problems.append((head_seq, "the head's hash is not the hash of its row"))
    if expect is not None:
        seq, want = expect
        if seq == 0:
            if want != GENESIS.hex():
                problems.append((0, "the expected head at seq 0 is the zero hash"))
        elif at_expect is None:
            problems.append((seq, f"the expected head seq {seq} is not in the log (the "
                             f"log ends at {last_seq}): rows were deleted"))
        elif at_expect != want:
            problems.append((seq, "the row at the expected head has another hash: the log "
                             "was rewritten up to it"))
    problems.sort(key=lambda p: p[0])
    return report


def _walk(conn, a) -> Iterator:
    """Every row in seq order, a page at a time (keyset paging: no offset scan)."""
    after = None
    while True:
        q = select(a.seq, a.at, a.actor, a.action, a.detail, a.hash).order_by(a.seq) \
            .limit(_PAGE)
        if after is not None:
            q = q.where(a.seq > after)
        page = conn.execute(q).all()
        if not page:
            return
        yield from page
        after = page[-1].seq
