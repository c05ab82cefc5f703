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

(ncmec, stopncii, tidehash; for tidehash also the token alone, or the JSON `tidehash
admin platform add` printed, with the URL given apart). A file that every user of the
machine can read is refused (chmod 600 it)."""

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


def read_credentials(path, kind: str, url: str | None = None) -> dict:
    """The credentials of a ``kind`` source from the file ``path``: a JSON object with
    FIELDS[kind] (strings; other fields are ignored, so the JSON `tidehash admin
    platform add` printed is a tidehash credentials file), or for tidehash the token
    alone. ``url``: the source's address when the file has none (a matcher's config
    names it); given in both, they must agree. Refused (CredentialsError, naming the
    file and never a secret): a file every user of the machine can read or write
    (chmod 600 it), not a regular file, over 64 KiB, not JSON."""
    path = os.fspath(path)
    if kind not in FIELDS:
        raise CredentialsError(f"no source kind {kind!r} (one of {', '.join(KINDS)})")
    raw = _read_private(path)
    text = raw.decode("utf-8", "replace").strip()
    if kind == "tidehash" and not text.startswith("{"):
        words = text.split()
        if len(words) != 1:
            raise CredentialsError(f"credentials file {path}: expected a token (one word) "
                                   "or a JSON object with \"token\"")
        obj = {"token": words[0]}
    else:
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):
            raise CredentialsError(f"credentials file {path}: not JSON (an object with "
                                   f"{', '.join(FIELDS[kind])})") from None
        if not isinstance(obj, dict):
            raise CredentialsError(f"credentials file {path}: not a JSON object")
    if url is not None:
        if isinstance(obj.get("url"), str) and obj["url"].rstrip("/") != url.rstrip("/"):
            raise CredentialsError(f"credentials file {path}: its url is not {url}")
        obj = {**obj, "url": url}
    missing = [k for k in FIELDS[kind] if not isinstance(obj.get(k), str) or not obj[k]]
    if missing:
        raise CredentialsError(f"credentials file {path} ({kind}): needs "
                               f"{', '.join(missing)} (strings)")
    return {k: obj[k] for k in FIELDS[kind]}


def _read_private(path: str) -> bytes:
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
                f"credentials file {path}: every user of the machine can read or write "
                f"it (mode {stat.S_IMODE(info.st_mode):03o}); chmod 600 it")
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(MAX_CREDENTIALS + 1)
    finally:
        os.close(fd)
    if len(raw) > MAX_CREDENTIALS:
        raise CredentialsError(f"credentials file {path}: over {MAX_CREDENTIALS} bytes")
    return raw


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
