"""The registry's transactions: cases and their entries (the person side), platforms
and tokens (the operator side), authentication, feedback.

Every write that changes what platforms see (a submission, a withdrawal, a removal)
commits its outbox rows in the same transaction; the publisher
(``changelog.Changelog.publish``) turns them into the change log. ``on_write`` is
called after each such commit (the service wakes its publisher, or publishes at once
when the publish delay is 0)."""

from __future__ import annotations

import datetime
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, delete, exc, func, insert, or_, select, update

from . import abuse, audit, schema
from .db import Database
from .errors import BadRequest, Conflict, NotFound
from .keys import Keys

PLATFORM_SCOPES = ("list:read", "lookup", "feedback:write", "submit:partner")
#: a new platform token's scopes when none are named (``submit:partner`` is only ever
#: given by name: it makes the holder a trusted submitter)
DEFAULT_SCOPES = ("list:read", "lookup", "feedback:write")
TIERS = ("person", "partner")
OPERATOR_SCOPES = ("admin",)
VERDICTS = ("matched", "confirmed", "not_ncii", "disputed")
CASE_STATUSES = ("pending", "active", "withdrawn", "removed")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CASE_CHARS = 16
_TOKEN_RE = re.compile(r"^(thp|tho)_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_ENTRY_ID_MAX = (1 << 63) - 1


class AuthError(Exception):
    """401 (no, bad, revoked or expired token) or 403 (scope, suspended, wrong kind)."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Principal:
    kind: str  # "platform" or "operator"
    token_id: str
    scopes: frozenset
    platform_id: int | None = None
    platform: str | None = None


def today() -> str:
    """The UTC day: the finest time the registry keeps about a person."""
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def new_case_id() -> str:
    value = secrets.randbits(5 * _CASE_CHARS)
    chars = "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(_CASE_CHARS))
    return "TH-" + "-".join(chars[i:i + 4] for i in range(0, _CASE_CHARS, 4))


def normalise_case_id(text) -> str | None:
    """The canonical form of a case id as a person may type it (any case, with or
    without dashes or spaces, O for 0 and I / L for 1), or None if it cannot be one."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    t = re.sub(r"[\s-]", "", text.upper())
    if t.startswith("TH"):
        t = t[2:]
    t = t.translate(str.maketrans("OIL", "011"))
    if len(t) != _CASE_CHARS or any(c not in _CROCKFORD for c in t):
        return None
    return "TH-" + "-".join(t[i:i + 4] for i in range(0, _CASE_CHARS, 4))


def entry_hex(entry_id: int) -> str:
    return f"{entry_id:016x}"


def parse_entry_id(text) -> int | None:
    if not isinstance(text, str) or not re.fullmatch(r"[0-9a-fA-F]{16}", text):
        return None
    value = int(text, 16)
    return value if value <= _ENTRY_ID_MAX else None


class Store:
    """See the module docstring."""

    def __init__(self, db: Database, keys: Keys, *, on_write: Callable[[], None] | None = None,
                 rules: abuse.Rules | None = None, clock: Callable[[], float] = time.time):
        self.db = db
        self.keys = keys
        self.on_write = on_write
        self.rules = abuse.Rules() if rules is None else rules
        self.clock = clock  # the flood rule's hours (tests set it)
        self.review = abuse.Review(self, self.rules)
        self._negative = abuse.NegativeCache()
        # compared against when a case is unknown, so that both answers cost the same
        self._dummy_hash = keys.mac("secret", b"\0" * 32)

    def _written(self) -> None:
        if self.on_write is not None:
            self.on_write()

    def hour(self) -> int:
        """The current unix hour (the flood rule's clock)."""
        return int(self.clock()) // 3600

    # ------------------------------------------------------------------ person side
    def create_case(self, items: list[dict], challenge_nonce: str | None = None,
                    challenge_expires: int | None = None, *, tier: str = "person",
                    partner_id: int | None = None) -> dict:
        """Store a case of validated wire items; returns the case id, the secret (the
        only time it exists outside the person's hands) and the items' status.
        ``tier``: "person" (the anonymous path) or "partner" (``partner_id`` the
        partner's platform id). An item that hits the negative list (or the review
        sample) is stored held, and answered "pending" like every other item."""
        if tier not in TIERS or (tier == "partner") != (partner_id is not None):
            raise ValueError(f"tier {tier!r} with partner {partner_id!r}")
        secret = secrets.token_urlsafe(24)
        day = today()
        for _attempt in range(3):
            case_id = new_case_id()
            ids = [secrets.randbelow(_ENTRY_ID_MAX) + 1 for _ in items]
            try:
                with self.db.begin() as conn:
                    if challenge_nonce is not None:
                        self._spend(conn, challenge_nonce, challenge_expires)
                    epoch = conn.execute(select(schema.publisher.c.epoch)).scalar_one()
                    flags = abuse.submission_flags(conn, items, self.rules, self._negative)
                    conn.execute(insert(schema.case).values(
                        id=case_id, secret_hash=self.keys.mac("secret", secret.encode()),
                        created_day=day, tier=tier, partner_id=partner_id))
                    conn.execute(insert(schema.entry), [
                        _entry_row(entry_id, case_id, n, item, day, tier,
                                   "held" if n in flags else "active")
                        for n, (entry_id, item) in enumerate(zip(ids, items))])
                    if flags:
                        abuse.open_flags(conn, [
                            abuse._review_row(ids[n], f.pop("rule"), day, **f)
                            for n, f in sorted(flags.items())])
                    conn.execute(insert(schema.outbox), [
                        {"entry_id": entry_id, "op": "upsert", "epoch": epoch}
                        for entry_id in ids])
                break
            except exc.IntegrityError:
                if challenge_nonce is not None and self._spent(challenge_nonce):
                    raise BadRequest("pow.challenge", "this challenge was already used; "
                                     "ask for a new one") from None
                continue  # a case or entry id collided (about 2**-60): new ids
        else:  # pragma: no cover - three collisions in a row
            raise RuntimeError("could not allocate a case id")
        self._written()
        return {"case_id": case_id, "secret": secret,
                "items": [{"item": n, "kind": item["kind"], "status": "pending"}
                          for n, item in enumerate(items)]}

    def _spend(self, conn, nonce: str, expires: int | None) -> None:
        """Mark a challenge used. Its expiry is kept only to the day (rounded up, so the
        nonce stays blocked at least as long as the challenge is valid): the row is
        written with the case, and a finer time would date the submission."""
        now = int(time.time())
        conn.execute(delete(schema.spent_challenge).where(
            schema.spent_challenge.c.expires < now))
        expires = int(expires if expires is not None else now)
        conn.execute(insert(schema.spent_challenge).values(
            nonce=nonce, expires=-(-expires // 86400) * 86400))

    def _spent(self, nonce: str) -> bool:
        with self.db.connect() as conn:
            return conn.execute(select(schema.spent_challenge.c.nonce).where(
                schema.spent_challenge.c.nonce == nonce)).first() is not None

    def _check_secret(self, conn, case_id, secret) -> tuple[str, str]:
        """(canonical case id, created day) when the secret opens the case; NotFound
        otherwise, after the same work whichever way it fails."""
        cid = normalise_case_id(case_id)
        given = self.keys.mac("secret", secret.encode("utf-8", "replace")
                              if isinstance(secret, str) else b"")
        row = None
        if cid is not None:
            row = conn.execute(select(schema.case.c.secret_hash, schema.case.c.created_day)
                               .where(schema.case.c.id == cid)).first()
        stored = bytes(row.secret_hash) if row is not None else self._dummy_hash
        ok = hmac.compare_digest(given, stored)
        if row is None or not ok:
            raise NotFound("no case with this id and secret")
        return cid, row.created_day

    @staticmethod
    def _current(conn, cid: str) -> dict:
        """item number -> the row of its current version."""
        e = schema.entry.c
        rows = conn.execute(select(e.id, e.item, e.kind, e.status, e.added_seq)
                            .where(e.case_id == cid).order_by(e.item, e.version)).all()
        return {r.item: r for r in rows}  # the last version of each item wins

    def _items(self, conn, cid: str) -> list[dict]:
        return [{"item": r.item, "kind": r.kind, "status": _item_status(r.status, r.added_seq)}
                for r in self._current(conn, cid).values()]

    def case_status(self, case_id, secret) -> dict:
        with self.db.connect() as conn:
            cid, day = self._check_secret(conn, case_id, secret)
            return {"case_id": cid, "created": day, "items": self._items(conn, cid)}

    def withdraw(self, case_id, secret, items: list[int] | None = None) -> dict:
        """Withdraw the whole case or the listed item numbers (idempotent)."""
        changed = False
        with self.db.begin() as conn:
            cid, day = self._check_secret(conn, case_id, secret)
            e = schema.entry.c
            by_item = self._current(conn, cid)
            wanted = sorted(by_item) if items is None else items
            for i, n in enumerate(wanted):
                if n not in by_item:
                    raise BadRequest(f"items[{i}]", f"this case has no item {n} "
                                     f"(items 0..{len(by_item) - 1})")
            ids = [by_item[n].id for n in set(wanted)
                   if by_item[n].status in ("active", "held")]
            if ids:
                epoch = conn.execute(select(schema.publisher.c.epoch)).scalar_one()
                conn.execute(update(schema.entry).where(e.id.in_(ids)).values(
                    status="withdrawn"))
                conn.execute(insert(schema.outbox), [
                    {"entry_id": i, "op": "delete", "epoch": epoch} for i in ids])
                abuse.close_flags(conn, ids, "withdrawn", today())
                changed = True
            result = {"case_id": cid, "created": day, "items": self._items(conn, cid)}
        if changed:
            self._written()
        return result

    # ------------------------------------------------------------------ auth
    def authenticate(self, token) -> Principal:
        if not isinstance(token, str) or not token:
            raise AuthError(401, "a bearer token is required")
        m = _TOKEN_RE.match(token)
        if m is None:
            raise AuthError(401, "malformed token")
        prefix, token_id, _ = m.groups()
        t, p = schema.token.c, schema.platform.c
        with self.db.connect() as conn:
            row = conn.execute(
                select(t.kind, t.hash, t.scopes, t.expires, t.revoked, t.platform_id,
                       p.name, p.suspended)
                .select_from(schema.token.outerjoin(schema.platform, t.platform_id == p.id))
                .where(t.id == token_id)).first()
        given = self.keys.mac("token", token.encode())
        if row is None or not hmac.compare_digest(given, bytes(row.hash)):
            raise AuthError(401, "unknown token")
        if (prefix == "thp") != (row.kind == "platform"):
            raise AuthError(401, "unknown token")
        if row.revoked:
            raise AuthError(401, "this token was revoked")
        if row.expires is not None and row.expires <= time.time():
            raise AuthError(401, "this token has expired")
        if row.kind == "platform" and row.suspended:
            raise AuthError(403, "this platform is suspended")
        return Principal(kind=row.kind, token_id=token_id,
                         scopes=frozenset(row.scopes.split()),
                         platform_id=row.platform_id, platform=row.name)

    @staticmethod
    def require(principal: Principal, scope: str) -> None:
        if scope in OPERATOR_SCOPES:
            if principal.kind != "operator":
                raise AuthError(403, "this route is for the registry's operator")
        elif principal.kind != "platform":
            raise AuthError(403, "this route is for platforms")
        if scope not in principal.scopes:
            raise AuthError(403, f"this token lacks the {scope!r} scope")

    # ------------------------------------------------------------------ operator side
    def _new_token(self, conn, kind: str, platform_id: int | None, scopes, expires_days) -> dict:
        token_id = secrets.token_hex(8)
        token = f"{'thp' if kind == 'platform' else 'tho'}_{token_id}_{secrets.token_urlsafe(32)}"
        expires = None
        if expires_days is not None:
            if isinstance(expires_days, bool) or not isinstance(expires_days, (int, float)) \
                    or not 0 < expires_days <= 3650:
                raise BadRequest("expires_days", "must be a number of days in (0, 3650]")
            expires = int(time.time() + expires_days * 86400)
        conn.execute(insert(schema.token).values(
            id=token_id, kind=kind, platform_id=platform_id,
            hash=self.keys.mac("token", token.encode()), scopes=" ".join(scopes),
            expires=expires, revoked=False, created_day=today()))
        return {"token": token, "token_id": token_id, "scopes": list(scopes),
                "expires": None if expires is None else
                datetime.datetime.fromtimestamp(expires, datetime.timezone.utc)
                .isoformat(timespec="seconds")}

    @staticmethod
    def _scopes(scopes, allowed) -> tuple:
        if scopes is None:
            scopes = DEFAULT_SCOPES if allowed is PLATFORM_SCOPES else allowed
        scopes = tuple(scopes)
        for i, s in enumerate(scopes):
            if s not in allowed:
                raise BadRequest(f"scopes[{i}]", f"unknown scope {s!r} "
                                 f"(known: {', '.join(allowed)})")
        if not scopes:
            raise BadRequest("scopes", "at least one scope")
        return tuple(dict.fromkeys(scopes))

    def add_platform(self, name: str, scopes=None, expires_days=None, *,
                     actor: str = "cli") -> dict:
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}",
                                                         name):
            raise BadRequest("name", "a platform name is 1-100 letters, digits, '.', '_', "
                             "'-', starting with a letter or digit")
        scopes = self._scopes(scopes, PLATFORM_SCOPES)
        try:
            with self.db.begin() as conn:
                pid = conn.execute(insert(schema.platform).values(
                    name=name, suspended=False, created_day=today())
                    .returning(schema.platform.c.id)).scalar_one()
                tok = self._new_token(conn, "platform", pid, scopes, expires_days)
                audit.record(conn, actor=actor, action="platform.add", detail={
                    "platform": name, "platform_id": pid, "token_id": tok["token_id"],
                    "scopes": list(scopes), "expires": tok["expires"]})
        except exc.IntegrityError:
            raise Conflict(f"a platform named {name!r} exists already") from None
        return {"platform": name, "platform_id": pid, **tok}

    def _platform_id(self, conn, name) -> int:
        # a name no platform can have is not sent to the database (PostgreSQL refuses
        # a NUL in text with an error)
        pid = None
        if isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
            pid = conn.execute(select(schema.platform.c.id).where(
                schema.platform.c.name == name)).scalar()
        if pid is None:
            raise NotFound(f"no platform named {str(name)[:100]!r}")
        return pid

    def set_suspended(self, name: str, suspended: bool, *, actor: str = "cli") -> dict:
        with self.db.begin() as conn:
            pid = self._platform_id(conn, name)
            conn.execute(update(schema.platform).where(schema.platform.c.id == pid)
                         .values(suspended=bool(suspended)))
            audit.record(conn, actor=actor,
                         action="platform.suspend" if suspended else "platform.resume",
                         detail={"platform": name, "platform_id": pid})
        return {"platform": name, "suspended": bool(suspended)}

    def list_platforms(self, *, actor: str = "cli") -> list[dict]:
        p, t = schema.platform.c, schema.token.c
        now = time.time()
        with self.db.connect() as conn:
            rows = conn.execute(select(p.id, p.name, p.suspended, p.created_day)
                                .order_by(p.name)).all()
            toks = conn.execute(select(t.platform_id, t.id, t.scopes, t.expires, t.revoked)
                                .where(t.kind == "platform")).all()
        with self.db.begin() as conn:
            audit.record(conn, actor=actor, action="platform.list",
                         detail={"returned": len(rows)})
        by = {}
        for r in toks:
            by.setdefault(r.platform_id, []).append(
                {"token_id": r.id, "scopes": r.scopes.split(), "revoked": bool(r.revoked),
                 "expired": r.expires is not None and r.expires <= now})
        return [{"platform": r.name, "platform_id": r.id, "suspended": bool(r.suspended),
                 "created": r.created_day, "tokens": by.get(r.id, [])} for r in rows]

    def mint_token(self, name: str, scopes=None, expires_days=None, *,
                   actor: str = "cli") -> dict:
        scopes = self._scopes(scopes, PLATFORM_SCOPES)
        with self.db.begin() as conn:
            pid = self._platform_id(conn, name)
            tok = self._new_token(conn, "platform", pid, scopes, expires_days)
            audit.record(conn, actor=actor, action="token.mint", detail={
                "platform": name, "platform_id": pid, "token_id": tok["token_id"],
                "scopes": list(scopes), "expires": tok["expires"]})
        return {"platform": name, **tok}

    def operator_token(self, expires_days=None, *, actor: str = "cli") -> dict:
        with self.db.begin() as conn:
            tok = self._new_token(conn, "operator", None, OPERATOR_SCOPES, expires_days)
            audit.record(conn, actor=actor, action="token.operator", detail={
                "token_id": tok["token_id"], "expires": tok["expires"]})
            return tok

    def revoke_token(self, token_id: str, *, actor: str = "cli") -> dict:
        with self.db.begin() as conn:
            n = conn.execute(update(schema.token).where(schema.token.c.id == token_id)
                             .values(revoked=True)).rowcount
            if n:
                audit.record(conn, actor=actor, action="token.revoke",
                             detail={"token_id": token_id})
        if not n:
            raise NotFound(f"no token {token_id!r}")
        return {"token_id": token_id, "revoked": True}

    def list_cases(self, status: str | None = None, limit: int = 100,
                   after: str | None = None, *, actor: str = "cli") -> list[dict]:
        """Cases (id, day, item counts by status), by id; ``status``: only cases with at
        least one item in it."""
        if status is not None and status not in CASE_STATUSES:
            raise BadRequest("status", f"one of {', '.join(CASE_STATUSES)}")
        e, c = schema.entry.c, schema.case.c
        q = select(c.id, c.created_day).order_by(c.id).limit(limit)
        if after is not None:
            q = q.where(c.id > after)
        if status is not None:
            cond = {"pending": or_(and_(e.status == "active", e.added_seq.is_(None)),
                                   e.status == "held"),
                    "active": and_(e.status == "active", e.added_seq.is_not(None)),
                    "withdrawn": e.status == "withdrawn",
                    "removed": e.status == "removed"}[status]
            q = q.where(c.id.in_(select(e.case_id).where(cond)))
        with self.db.connect() as conn:
            cases = conn.execute(q).all()
            ids = [r.id for r in cases]
            counts = conn.execute(select(e.case_id, e.status, e.added_seq.is_(None),
                                         func.count())
                                  .where(e.case_id.in_(ids))
                                  .group_by(e.case_id, e.status, e.added_seq.is_(None))).all()
        out = {r.id: {"case_id": r.id, "created": r.created_day,
                      "items": dict.fromkeys(CASE_STATUSES, 0)} for r in cases}
        for cid, st, unpublished, n in counts:
            if st == "replaced":  # an older version of a released item
                continue
            key = ("pending" if unpublished else "active") if st == "active" else \
                "pending" if st == "held" else st
            out[cid]["items"][key] += n
        # who looked at the case list (its filter and size; never the case ids)
        with self.db.begin() as conn:
            audit.record(conn, actor=actor, action="cases.list", detail={
                "status": status, "limit": limit, "after_given": after is not None,
                "returned": len(out)})
        return list(out.values())

    def remove_entry(self, entry_id: int, *, actor: str = "cli") -> bool:
        """The operator takes an entry off the list (a tombstone is published)."""
        with self.db.begin() as conn:
            e = schema.entry.c
            row = conn.execute(select(e.status).where(e.id == entry_id)).first()
            if row is None:
                return False
            active = row.status in ("active", "held")
            if active:
                epoch = abuse.lock_publisher(conn)
                conn.execute(update(schema.entry).where(e.id == entry_id)
                             .values(status="removed"))
                conn.execute(insert(schema.outbox).values(entry_id=entry_id, op="delete",
                                                          epoch=epoch))
                abuse.close_flags(conn, [entry_id], "removed", today())
            # "removed": whether it was on the list (not why it was not: that would
            # tell of the person's withdrawal)
            audit.record(conn, actor=actor, action="entry.remove", detail={
                "entry": entry_hex(entry_id), "removed": active})
            if not active:
                return True
        self._written()
        return True

    # ------------------------------------------------------------------ feedback
    def add_feedback(self, platform_id: int, items: list[dict]) -> int:
        ids = []
        for i, item in enumerate(items):
            entry_id = parse_entry_id(item.get("id"))
            if entry_id is None:
                raise BadRequest(f"feedback[{i}].id", "an entry id is 16 hex digits")
            if item.get("verdict") not in VERDICTS:
                raise BadRequest(f"feedback[{i}].verdict", f"one of {', '.join(VERDICTS)}")
            ids.append(entry_id)
        day, hour = today(), self.hour()
        flagged = {}
        with self.db.begin() as conn:
            known = set(conn.execute(select(schema.entry.c.id).where(
                schema.entry.c.id.in_(set(ids)))).scalars())
            for i, entry_id in enumerate(ids):
                if entry_id not in known:
                    raise BadRequest(f"feedback[{i}].id", "no such entry")
            if items:
                conn.execute(insert(schema.feedback), [
                    {"platform_id": platform_id, "entry_id": entry_id,
                     "verdict": item["verdict"], "comment": item.get("comment"), "day": day,
                     "hour": hour}
                    for entry_id, item in zip(ids, items)])
                given: dict = {}
                for entry_id, item in zip(ids, items):
                    given.setdefault(entry_id, set()).add(item["verdict"])
                flagged = abuse.after_feedback(conn, self.rules, given, hour, day)
        if flagged.get("flood"):
            self._written()  # the held entries' tombstones
        return len(items)


def _item_status(status: str, added_seq) -> str:
    """What the person sees: a held item is "pending" like every item not (or no longer)
    published, whatever the rule that holds it (answering otherwise would reveal the
    negative list)."""
    if status == "active":
        return "pending" if added_seq is None else "active"
    if status in ("held", "replaced"):
        return "pending"
    return status


def _entry_row(entry_id: int, case_id: str, n: int, item: dict, day: str, tier: str = "person",
               status: str = "active") -> dict:
    def raw(key):
        value = item.get(key)
        return None if value is None else bytes.fromhex(value)

    vpdq = item.get("vpdq")
    return {"id": entry_id, "case_id": case_id, "item": n, "kind": item["kind"],
            "pdq": raw("pdq"), "quality": item.get("quality"), "md5": raw("md5"),
            "sha256": raw("sha256"),
            "vpdq": None if vpdq is None else json.dumps(vpdq, separators=(",", ":")),
            "status": status, "created_day": day, "added_seq": None, "removed_seq": None,
            "tier": tier, "version": 0}
