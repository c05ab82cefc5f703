"""The registry's keys: one random master key kept in the database (table
``server_key``, made at first open), and sub-keys derived from it by label.

Secrets and tokens are stored as HMAC-SHA256 under their own sub-key; challenges and
cursors are signed; a platform sees a case through a keyed BLAKE2b pseudonym, a
different one per platform; the audit log's rows are chained by HMACs under ``audit``."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import exc, insert, select

from . import schema
from .db import Database

LABELS = ("secret", "token", "challenge", "cursor", "pseudonym", "audit")


class Keys:
    def __init__(self, master: bytes):
        if len(master) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._sub = {label: hmac.new(master, label.encode(), hashlib.sha256).digest()
                     for label in LABELS}

    @classmethod
    def load(cls, db: Database) -> Keys:
        """The database's master key, created on first use (race-safe)."""
        query = select(schema.server_key.c.value).where(schema.server_key.c.name == "master")
        try:
            with db.begin() as conn:
                value = conn.execute(query).scalar()
                if value is None:
                    value = secrets.token_bytes(32)
                    conn.execute(insert(schema.server_key).values(name="master", value=value))
        except exc.IntegrityError:  # another process made it first
            with db.connect() as conn:
                value = conn.execute(query).scalar()
        return cls(bytes(value))

    def mac(self, label: str, data: bytes) -> bytes:
        """HMAC-SHA256 of ``data`` under the ``label`` sub-key (32 bytes)."""
        return hmac.new(self._sub[label], data, hashlib.sha256).digest()

    def pseudonym_key(self, platform_id: int) -> bytes:
        return self.mac("pseudonym", b"platform:%d" % platform_id)

    def pseudonym(self, platform_id: int, case_id: str) -> str:
        """The case as platform ``platform_id`` sees it (22 hex digits)."""
        return case_pseudonym(self.pseudonym_key(platform_id), case_id)


def case_pseudonym(key: bytes, case_id: str) -> str:
    return hashlib.blake2b(case_id.encode(), key=key, digest_size=11).hexdigest()
