"""Files written whole or not at all.

The one helper every output goes through (`-o`, `Index.save`, `write_list`,
`save_list`). What it does with modes and links:

* a new file gets the mode any new file gets (0666 less the umask, as with
  ``open(path, "w")``); an existing file keeps its mode;
* when ``path`` is a symbolic link, the file it points to is replaced and the
  link stays (as ``cp`` and shell redirection write through a link), including a
  link to a file that does not exist yet.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat


def _target(path: str) -> str:
    """``path``, or where it leads when it is a symbolic link (followed to the end)."""
    return os.path.realpath(path) if os.path.islink(path) else path


def _create_temporary(folder: str, base: str) -> tuple[int, str]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            # 0666: the kernel takes the umask off, as for any new file
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


@contextlib.contextmanager
def atomic_file(path, before_commit=None):
    """A binary file object for ``path``: written to a temporary file in the same
    folder, fsynced and renamed over ``path`` when the block ends normally;
    removed, leaving ``path`` untouched, when it raises, or when
    ``before_commit()`` (called just before the rename) raises. Modes and links:
    see the module's docstring."""
    path = _target(os.fspath(path))
    folder = os.path.dirname(os.path.abspath(path))
    try:
        existing = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        existing = None
    fd, tmp = _create_temporary(folder, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            if existing is not None:
                os.chmod(f.fileno() if os.chmod in os.supports_fd else tmp, existing)
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
