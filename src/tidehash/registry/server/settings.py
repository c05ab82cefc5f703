"""The registry's settings: one dataclass, filled from the command line (``tidehash
serve``) or by a program that embeds the service."""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_DB_FILE = "tidehash-registry.db"


@dataclass(frozen=True)
class Settings:
    """``db_url``: ``sqlite:///PATH`` (the embedded default) or
    ``postgresql+psycopg://...``; ``publish_delay``: seconds a change is held before
    publication (0: at once); ``pow_difficulty``: leading zero bits a submission's proof
    of work needs (0: none, for tests); the rest are limits on requests."""

    db_url: str = f"sqlite:///{DEFAULT_DB_FILE}"
    publish_delay: float = 60.0
    pow_difficulty: int = 20
    challenge_ttl: int = 300
    max_body: int = 4 << 20
    max_items: int = 100
    max_frames: int = 20_000
    max_lookup_queries: int = 1000
    max_feedback: int = 1000
    poll_interval: float = 0.2
    changes_page: int = 1000
    max_changes_page: int = 10_000
    #: seconds over which a token's empty list pages (polls at the head) are counted
    #: into one audit row (0: a row each; ``audit.Downloads``)
    audit_poll_window: float = 60.0

    def __post_init__(self):
        if not isinstance(self.db_url, str) or not self.db_url:
            raise ValueError("db_url must be a database URL")
        for name in ("publish_delay", "poll_interval", "audit_poll_window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number of seconds >= 0, "
                                 f"got {value!r}")
        for name in ("pow_difficulty", "challenge_ttl", "max_body", "max_items", "max_frames",
                     "max_lookup_queries", "max_feedback", "changes_page", "max_changes_page"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        if self.pow_difficulty > 32:
            raise ValueError(f"pow_difficulty must be at most 32, got {self.pow_difficulty}")


def sqlite_url(path) -> str:
    """The database URL of an SQLite file."""
    return f"sqlite:///{path}"
