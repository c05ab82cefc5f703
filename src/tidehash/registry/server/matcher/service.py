"""``Matcher``: the database, the banks, the batched search over them and the feedback
queue of one matcher process; started and stopped by the app's lifespan."""

from __future__ import annotations

import hashlib
import hmac
import time

from ..db import Database
from ..lookup import Batcher
from .banks import Bank, BankSet
from .store import BankStore


class Matcher:
    def __init__(self, config, db_url: str, *, feedback_options: dict | None = None,
                 source_options: dict | None = None):
        self.config = config
        self.db = Database(db_url)
        self.store = BankStore(self.db)
        # source_options: the sources' HTTP settings (timeout, attempts, backoff)
        self.banks = [Bank(c, self.db, self.store, source_options=source_options)
                      for c in config.banks]
        self.bankset = BankSet([b for b in self.banks if b.config.enabled])
        self.batcher = Batcher(self.bankset.check)
        from .feedback import FeedbackQueue

        self.feedback = FeedbackQueue(self, **(feedback_options or {}))
        self.started = time.time()
        self.requests: dict[str, int] = {}
        self.uploads = 0
        self._token = None if config.token_sha256 is None else bytes.fromhex(config.token_sha256)

    def bank(self, name: str) -> Bank | None:
        for b in self.banks:
            if b.name == name:
                return b
        return None

    def start(self) -> None:
        for b in self.bankset.banks:
            b.start()
        self.feedback.start()

    def stop(self) -> None:
        self.feedback.stop()
        for b in self.bankset.banks:
            b.stop()
        self.batcher.close()
        self.db.close()

    def wait_ready(self, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.bankset.ready:
                return True
            time.sleep(0.02)
        return False

    def authorised(self, header: str | None) -> bool:
        """No token configured: every caller (the matcher sits inside the platform's
        network, as HMA does). Else ``Authorization: Bearer T`` with SHA-256(T) the
        configured hash (compared in constant time)."""
        if self._token is None:
            return True
        if not header or not header.startswith("Bearer "):
            return False
        digest = hashlib.sha256(header[7:].strip().encode("utf-8", "replace")).digest()
        return hmac.compare_digest(digest, self._token)

    def count(self, route: str) -> None:
        self.requests[route] = self.requests.get(route, 0) + 1
