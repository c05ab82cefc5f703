"""Helpers of the sync-from-a-source tests: what a list file holds, credentials files."""

from __future__ import annotations

import json
import os


def held(hl) -> dict:
    """signal -> the set of (id, hash, quality, label) the list holds."""
    out = {s: set() for s in ("pdq", "md5", "sha256", "vpdq")}
    for s in hl.signals:
        for rec in hl[s].records():
            value = tuple(f.to_line() for f in rec.features) if s == "vpdq" else rec.hash
            out[s].add((rec.id, value, rec.quality, rec.label))
    return out


def credentials_file(path, obj: dict):
    """A credentials file only its owner can read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f)
    return path
