"""Files written whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_file(path, before_commit=None):
    """A binary file object for ``path``: written to a temporary file in the same
    folder (mode 0600), fsynced and renamed over ``path`` when the block ends
    normally; removed, leaving ``path`` untouched, when it raises, or when
    ``before_commit()`` (called just before the rename) raises."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if before_commit is not None:
            before_commit()
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
