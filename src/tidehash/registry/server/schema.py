"""The registry's tables (SQLAlchemy Core), one schema for SQLite and PostgreSQL.

What is never stored about a person: an IP address, a user agent, a time finer than a
day, the case secret (only its keyed hash). Cases and spent challenges have no SQLite
rowid and entries are keyed by a random id, so the storage order does not reveal the
order of submission. Migrations (``migrations/``) create exactly these tables; a test
compares the two."""

from __future__ import annotations

from sqlalchemy import (
                        BigInteger,
                        Boolean,
                        Column,
                        Float,
                        ForeignKey,
                        Index,
                        Integer,
                        LargeBinary,
                        MetaData,
                        SmallInteger,
                        String,
                        Table,
                        Text,
)

metadata = MetaData()

# a 64-bit integer key that is the rowid itself on SQLite (no second, ordered rowid)
RowKey = BigInteger().with_variant(Integer(), "sqlite")

server_key = Table(
    "server_key", metadata,
    Column("name", String(32), primary_key=True),
    Column("value", LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)

case = Table(
    "case", metadata,
    Column("id", String(24), primary_key=True),
    Column("secret_hash", LargeBinary, nullable=False),
    Column("created_day", String(10), nullable=False),
    # "person" (the anonymous path) or "partner" (an NGO or hotline with a credential)
    Column("tier", String(8), nullable=False, server_default="person"),
    # the partner (a platform row with the submit:partner scope) that submitted it
    Column("partner_id", Integer),
    sqlite_with_rowid=False,
)

entry = Table(
    "entry", metadata,
    Column("id", RowKey, primary_key=True, autoincrement=False),
    Column("case_id", String(24), ForeignKey("case.id"), nullable=False),
    Column("item", Integer, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("pdq", LargeBinary),
    Column("quality", SmallInteger),
    Column("md5", LargeBinary),
    Column("sha256", LargeBinary),
    Column("vpdq", Text),
    # active, withdrawn (by the person), removed (by the operator), held (for review:
    # never published, or tombstoned until a reviewer decides) or replaced (released
    # from a hold after it had been published: republished as a new version)
    Column("status", String(12), nullable=False),
    Column("created_day", String(10), nullable=False),
    Column("added_seq", BigInteger),
    Column("removed_seq", BigInteger),
    # the case's tier (copied: the views read the entry table alone)
    Column("tier", String(8), nullable=False, server_default="person"),
    # an item's versions: a held entry released after it had been published comes back
    # under a new entry id, one version up (the old one stays tombstoned, so snapshots
    # and windows at older seqs replay unchanged)
    Column("version", Integer, nullable=False, server_default="0"),
    Index("ix_entry_case", "case_id", "item", "version", unique=True),
    Index("ix_entry_added", "added_seq"),
    Index("ix_entry_removed", "removed_seq"),
)

# changes committed by a write and not yet published
outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry_id", BigInteger, nullable=False),
    Column("op", String(8), nullable=False),
    Column("epoch", BigInteger, nullable=False),
)

# the published change log: seq strictly increasing, no gaps above the floor
change = Table(
    "change", metadata,
    Column("seq", RowKey, primary_key=True, autoincrement=False),
    Column("entry_id", BigInteger, nullable=False),
    Column("op", String(8), nullable=False),
)

# the NCMEC / StopNCII views' clock: ``at`` (unix second) is when a view request first
# saw the head at ``seq`` (a view's time of a change is its first mark at or above it)
view_clock = Table(
    "view_clock", metadata,
    Column("seq", RowKey, primary_key=True, autoincrement=False),
    Column("at", BigInteger, nullable=False),
)

publisher = Table(
    "publisher", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("head", BigInteger, nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("floor", BigInteger, nullable=False),
    Column("ticked_at", Float, nullable=False),
)

spent_challenge = Table(
    "spent_challenge", metadata,
    Column("nonce", String(32), primary_key=True),
    Column("expires", BigInteger, nullable=False),
    Index("ix_spent_challenge_expires", "expires"),
    sqlite_with_rowid=False,
)

platform = Table(
    "platform", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("suspended", Boolean, nullable=False),
    Column("created_day", String(10), nullable=False),
)

token = Table(
    "token", metadata,
    Column("id", String(16), primary_key=True),
    Column("kind", String(10), nullable=False),
    Column("platform_id", Integer, ForeignKey("platform.id")),
    Column("hash", LargeBinary, nullable=False),
    Column("scopes", String(200), nullable=False),
    Column("expires", BigInteger),
    Column("revoked", Boolean, nullable=False),
    Column("created_day", String(10), nullable=False),
)

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform_id", Integer, ForeignKey("platform.id"), nullable=False),
    Column("entry_id", BigInteger, nullable=False),
    Column("verdict", String(12), nullable=False),
    Column("comment", Text),
    Column("day", String(10), nullable=False),
    # unix hour of the feedback (a platform's action, nothing about a person): the flood
    # rule counts matches in a window of hours
    Column("hour", BigInteger),
    Index("ix_feedback_entry", "entry_id"),
    Index("ix_feedback_hour", "hour"),
)

# the audit log (``audit.py``): operator actions and list downloads, hash-chained; about
# a person it holds nothing (no case id, no secret, no token, no address)
audit = Table(
    "audit", metadata,
    Column("seq", RowKey, primary_key=True, autoincrement=False),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(80), nullable=False),
    Column("action", String(40), nullable=False),
    Column("detail", Text, nullable=False),
    Column("hash", LargeBinary, nullable=False),
)

# the newest audit row (seq, hash): one row, updated by every append in its transaction
audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", LargeBinary, nullable=False),
)

# hashes that must never be published (memes, logos, stock images); pdq with a radius,
# md5 / sha256 exact
negative = Table(
    "negative", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("signal", String(8), nullable=False),
    Column("value", LargeBinary, nullable=False),
    Column("radius", SmallInteger, nullable=False),
    Column("label", String(200), nullable=False),
    Column("created_day", String(10), nullable=False),
    Index("ix_negative_value", "signal", "value", unique=True),
    # ids never reused (PostgreSQL's sequence does not either): (count, max id) then
    # changes with every add and remove, and a server's cached copy knows it is stale
    sqlite_autoincrement=True,
)

# the operators' review queue: one row per (entry, rule) flag; ``open_entry`` is the
# entry id while the flag is open and null once decided (so the unique index allows one
# open flag per entry and rule). A random id and no SQLite rowid: a flag raised at
# submission (negative list) must not order the submissions.
review = Table(
    "review", metadata,
    Column("id", RowKey, primary_key=True, autoincrement=False),
    Column("entry_id", BigInteger, nullable=False),
    Column("rule", String(12), nullable=False),
    # the flag's number among its entry's flags (1, 2, ...): their order, with no time
    Column("serial", Integer, nullable=False),
    Column("state", String(10), nullable=False),
    Column("open_entry", BigInteger),
    Column("platforms", Integer, nullable=False),
    Column("matches", Integer, nullable=False),
    Column("disputes", Integer, nullable=False),
    Column("negative_id", Integer),
    Column("distance", SmallInteger),
    Column("opened_day", String(10), nullable=False),
    Column("decided_day", String(10)),
    Column("released_as", BigInteger),
    Index("ix_review_open", "open_entry", "rule", unique=True),
    Index("ix_review_entry", "entry_id"),
    sqlite_with_rowid=False,
)

# ----------------------------------------------------------------------------- matcher
# A matcher (``tidehash serve --role matcher``, ``matcher/``) keeps the banks it follows:
# one row per bank (its source without a secret, the source's checkpoint, the bank's own
# change head), the bank's entries (a removal keeps the row with ``removed`` set and a
# new seq, so every matcher process tailing the bank sees it) and the feedback queued
# for the banks' sources. Nothing about a person: the entries are the sources' hashes.
matcher_bank = Table(
    "matcher_bank", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    # "kind:url" (list:PATH, tidehash:URL, ...): a bank whose source changes starts over
    Column("source", String(1000), nullable=False),
    Column("checkpoint", Text),            # the source's checkpoint (JSON), null: none yet
    Column("head", BigInteger, nullable=False, server_default="0"),
    Column("synced", BigInteger),          # unix time of the last pull that ended well
    Column("attempted", BigInteger),       # unix time of the last pull, however it ended
    Column("last_error", Text),
    Column("refused", BigInteger, nullable=False, server_default="0"),
    Index("ix_matcher_bank_name", "name", unique=True),
)

matcher_entry = Table(
    "matcher_entry", metadata,
    Column("bank_id", Integer, ForeignKey("matcher_bank.id"), primary_key=True,
           autoincrement=False),
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("pdq", LargeBinary),
    Column("quality", SmallInteger),
    Column("md5", LargeBinary),
    Column("sha256", LargeBinary),
    Column("label", String(300), nullable=False, server_default=""),
    Column("removed", Boolean, nullable=False, server_default="0"),
    Index("ix_matcher_entry_seq", "bank_id", "seq", unique=True),
)

matcher_feedback = Table(
    "matcher_feedback", metadata,
    Column("id", RowKey, primary_key=True, autoincrement=True),
    Column("bank_id", Integer, ForeignKey("matcher_bank.id"), nullable=False),
    Column("entry_id", BigInteger, nullable=False),
    Column("verdict", String(12), nullable=False),
    Column("state", String(8), nullable=False),      # queued | sent | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_at", Float, nullable=False),         # unix time of the next attempt
    Column("created", BigInteger, nullable=False),
    Column("last_error", Text),
    Index("ix_matcher_feedback_due", "state", "next_at"),
)
