"""The registry's settings: one dataclass, filled from the command line (``tidehash
serve``) or by a program that embeds the service."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

DEFAULT_DB_FILE = "tidehash-registry.db"
#: a CORS origin: scheme://host[:port], a name or an IPv4 or a bracketed IPv6 address
_ORIGIN = re.compile(r"https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?", re.ASCII)


@dataclass(frozen=True)
class Settings:
    """``db_url``: ``sqlite:///PATH`` (the embedded default) or
    ``postgresql+psycopg://...``; ``publish_delay``: seconds a change is held before
    publication (0: at once); ``pow_difficulty``: leading zero bits a submission's proof
    of work needs (0: none, for tests); ``flood_*``, ``dispute_platforms`` and
    ``review_sample`` are the abuse-control thresholds (``abuse.py``, README "Abuse
    control"); the rest are limits on requests."""

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
    #: flood: distinct platforms reporting a match of one entry within the window that
    #: withdraw it pending review
    flood_platforms: int = 10
    #: flood: the window, in clock hours before the current one (1: this hour and the
    #: last)
    flood_window_hours: int = 1
    #: flood: matches in the window at least this many times the median of the other
    #: matched entries' (and at least ``flood_rate_min``) withdraw it pending review
    flood_rate_factor: int = 20
    flood_rate_min: int = 100
    #: dispute: distinct platforms reporting not_ncii / disputed that queue an entry
    dispute_platforms: int = 3
    #: PDQ radius of a negative-list hash added without one
    negative_radius: int = 16
    #: share (0..1) of ordinary submissions also held for review: cover, so that a held
    #: item does not tell its submitter it hit the negative list
    review_sample: float = 0.0
    #: origins (``https://host[:port]``) whose pages may call the person routes from a
    #: browser (CORS): the page exported with ``tidehash web export`` and hosted there
    cors_origins: tuple = ()

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
                     "max_lookup_queries", "max_feedback", "changes_page", "max_changes_page",
                     "negative_radius"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")
        for name in ("flood_platforms", "flood_window_hours", "flood_rate_factor",
                     "flood_rate_min", "dispute_platforms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.negative_radius > 63:
            raise ValueError(f"negative_radius must be at most 63, got {self.negative_radius}")
        if isinstance(self.review_sample, bool) or not isinstance(
                self.review_sample, (int, float)) or not 0 <= self.review_sample <= 1:
            raise ValueError(f"review_sample must be a number in [0, 1], "
                             f"got {self.review_sample!r}")
        origins = self.cors_origins
        if isinstance(origins, str) or not isinstance(origins, (tuple, list)):
            raise ValueError(f"cors_origins must be a list of origins, got {origins!r}")
        for origin in origins:
            if not isinstance(origin, str) or not _ORIGIN.fullmatch(origin):
                raise ValueError(f"a CORS origin is scheme://host[:port] (http or https, "
                                 f"no path), got {origin!r}")
        object.__setattr__(self, "cors_origins", tuple(origins))
        if self.pow_difficulty > 32:
            raise ValueError(f"pow_difficulty must be at most 32, got {self.pow_difficulty}")


def sqlite_url(path) -> str:
    """The database URL of an SQLite file."""
    return f"sqlite:///{path}"
