"""Sources a platform follows (``tidehash sync --from ...``, a matcher's banks): an
NCMEC-style hash-sharing API, a StopNCII-style hash API, a tidehash registry. Each is a
``Source`` (``base``): ``fetch(checkpoint)`` yields pages of normalised entries,
removals and refused entries, each with the checkpoint after it. Applying pages to a
list file is ``listsync.sync_source``; this package only speaks the protocols.

Standard library and the engine only.

Credentials come from a JSON file (never the command line, never a URL)::

    {"url": "https://report.cybertip.org/hashsharing", "user": "...", "password": "..."}
    {"url": "https://api.stopncii.org/v1", "subscription_key": "...", "fetch_key": "..."}
    {"url": "https://registry.example.org", "token": "thp_..."}

(ncmec, stopncii, tidehash). A file that every user of the machine can read is refused
(chmod 600 it)."""

from __future__ import annotations

import json
import os
import stat

from .base import Entry, Page, Source, SourceError, StaleLink, entry_id_of

KINDS = ("tidehash", "ncmec", "stopncii")
FIELDS = {"ncmec": ("url", "user", "password"),
          "stopncii": ("url", "subscription_key", "fetch_key"),
          "tidehash": ("url", "token")}
MAX_CREDENTIALS = 1 << 16

__all__ = ["KINDS", "Entry", "Page", "Source", "SourceError", "StaleLink", "CredentialsError",
           "entry_id_of", "open_source", "read_credentials"]


class CredentialsError(ValueError):
    """A credentials file that cannot be used (the message names the file, never a
    secret)."""


def read_credentials(path, kind: str) -> dict:
    """The credentials of a ``kind`` source from the JSON file ``path``: an object with
    FIELDS[kind] (strings), and nothing else but "comment". Refused: a file that every
    user of the machine can read or write (chmod 600 it), too large, not JSON."""
    path = os.fspath(path)
    if kind not in FIELDS:
        raise CredentialsError(f"no source kind {kind!r} (one of {', '.join(KINDS)})")
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise CredentialsError(f"credentials file {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CredentialsError(f"credentials file {path}: not a regular file")
        if os.name == "posix" and info.st_mode & 0o007:
            raise CredentialsError(
                f"credentials file {path}: other users can read or write it (mode "
                f"{stat.S_IMODE(info.st_mode):03o}); chmod 600 it")
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(MAX_CREDENTIALS + 1)
    finally:
        os.close(fd)
    if len(raw) > MAX_CREDENTIALS:
        raise CredentialsError(f"credentials file {path}: over {MAX_CREDENTIALS} bytes")
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        raise CredentialsError(f"credentials file {path}: not JSON (an object with "
                               f"{', '.join(FIELDS[kind])})") from None
    if not isinstance(obj, dict):
        raise CredentialsError(f"credentials file {path}: not a JSON object")
    missing = [k for k in FIELDS[kind] if not isinstance(obj.get(k), str) or not obj[k]]
    extra = sorted(set(obj) - set(FIELDS[kind]) - {"comment"})
    if missing or extra:
        what = []
        if missing:
            what.append(f"needs {', '.join(missing)} (strings)")
        if extra:
            what.append(f"has fields a {kind} source does not use: {', '.join(extra)}")
        raise CredentialsError(f"credentials file {path} ({kind}): {'; '.join(what)}")
    return {k: obj[k] for k in FIELDS[kind]}


def open_source(kind: str, credentials: dict, **options) -> Source:
    """The Source of ``kind`` with ``credentials`` (read_credentials' dict); options go
    to its constructor (page_size, timeout, attempts, backoff, ...). ValueError for a
    bad URL or key."""
    if kind == "ncmec":
        from .ncmec import NCMECSource
        return NCMECSource(credentials["url"], credentials["user"], credentials["password"],
                           **options)
    if kind == "stopncii":
        from .stopncii import StopNCIISource
        return StopNCIISource(credentials["url"], credentials["subscription_key"],
                              credentials["fetch_key"], **options)
    if kind == "tidehash":
        from .tidehash import TidehashSource
        return TidehashSource(credentials["url"], credentials["token"], **options)
    raise ValueError(f"no source kind {kind!r}")
