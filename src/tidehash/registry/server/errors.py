"""The store's errors, which the routes map to status codes (``app._store_call``): here
so that ``store`` and ``abuse`` share them without importing each other."""

from __future__ import annotations


class NotFound(Exception):
    """No such case, or not this secret (the two are one answer)."""


class BadRequest(Exception):
    """A request that is well formed but cannot be done; ``loc`` names what is wrong."""

    def __init__(self, loc: str, msg: str):
        super().__init__(f"{loc}: {msg}")
        self.loc = loc
        self.msg = msg


class Conflict(Exception):
    """The thing exists already (a platform name)."""
