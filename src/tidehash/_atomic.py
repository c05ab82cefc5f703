"""Files written whole or not at all.

The one helper every output goes through (`-o`, `Index.save`, `write_list`,
`save_list`, `write_vpdq`). What it does with modes and links:

* a new file gets the mode any new file gets (0666 less the umask, as with
  ``open(path, "w")``); an existing file keeps its mode;
* when ``path`` is a symbolic link, the file it points to is replaced and the
  link stays (as ``cp`` and shell redirection write through a link), including a
  link to a file that does not exist yet;
* a hard-linked file is replaced by a new file: the other names keep the old
  content (the rename that makes the write atomic gives ``path`` a new inode);
* when ``path`` (after links) exists and is not a regular file (a FIFO, a
  terminal or other device, ``/dev/stdout``, ``/proc/self/fd/N`` on a pipe), it
  is opened and written straight into, as ``> path`` does: there is no file to
  replace, so nothing to make atomic. A folder is an IsADirectoryError.

Errors name ``path`` as given, never the temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat


def _target(path: str) -> str:
    """``path``, or where it leads when it is a symbolic link (followed to the end)."""
    return os.path.realpath(path) if os.path.islink(path) else path


def _error(exc: OSError, path: str) -> OSError:
    """``exc`` naming ``path`` (the caller's name) instead of a temporary file."""
    new = type(exc)(exc.errno, exc.strerror or str(exc), path)
    new.__cause__ = None
    return new


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
def _straight(path: str, before_commit):
    """Written straight into ``path`` (not a regular file: nothing to replace)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags, 0o666)  # the kernel follows /dev/stdout's magic links
    except OSError as exc:
        raise _error(exc, path) from None
    with os.fdopen(fd, "wb") as f:
        yield f
        f.flush()
        if before_commit is not None:
            before_commit()


@contextlib.contextmanager
def atomic_file(path, before_commit=None):
    """A binary file object for ``path``: written to a temporary file in the same
    folder, fsynced and renamed over ``path`` when the block ends normally;
    removed, leaving ``path`` untouched, when it raises, or when
    ``before_commit()`` (called just before the rename) raises. Modes, links,
    FIFOs and devices: see the module's docstring."""
    given = os.fspath(path)
    if isinstance(given, bytes):
        given = os.fsdecode(given)
    if not given:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), given)
    try:
        st = os.stat(given)  # follows links, magic ones too
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _error(exc, given) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), given)
    if st is not None and not stat.S_ISREG(st.st_mode):
        with _straight(given, before_commit) as f:
            yield f
        return
    target = _target(given)
    folder = os.path.dirname(os.path.abspath(target))
    existing = None if st is None else stat.S_IMODE(st.st_mode)
    try:
        fd, tmp = _create_temporary(folder, os.path.basename(target))
    except OSError as exc:
        raise _error(exc, given) from None
    try:
        with os.fdopen(fd, "wb") as f:
            try:
                if existing is not None:
                    os.chmod(f.fileno() if os.chmod in os.supports_fd else tmp, existing)
            except OSError as exc:
                raise _error(exc, given) from None
            yield f
            try:
                f.flush()
                os.fsync(f.fileno())
            except OSError as exc:
                raise _error(exc, given) from None
        if before_commit is not None:
            before_commit()
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise _error(exc, given) from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
