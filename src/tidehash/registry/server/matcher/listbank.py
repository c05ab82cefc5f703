"""A local list file as a bank's source (``source = "list:PATH"``): any list tidehash
reads (its own list file, as ``tidehash sync`` keeps one, or a text list: hex lines,
CSV, JSON lines, NCMEC / StopNCII exports).

The checkpoint is ``{"mtime_ns", "size", "sha256"}``. A pull reads nothing while the
file's modification time and size are those of the checkpoint; when either moved, the
file is hashed, and only a new SHA-256 makes a page: the whole list, with ``reset`` set
(the matcher keeps what is unchanged and writes only the difference). Lines appended to
a hex list are taken first, in a page whose checkpoint has no SHA-256 yet (the size and
digest hashed before them instead), and the file is hashed after: a changed old part
then makes the whole list be read again. Entry ids: a
tidehash list file's own (the registry's ids); a text list's are derived from the hash
(``list:<signal>:<hex>``), so moving lines around changes nothing."""

from __future__ import annotations

import hashlib
import os

from ...sources.base import Page, Source, SourceError, entry_id_of


class ListEntry:
    __slots__ = ("id", "kind", "pdq", "quality", "md5", "sha256", "label")

    def __init__(self, entry_id: int, label: str):
        self.id = entry_id
        self.kind = "image"
        self.pdq = self.quality = self.md5 = self.sha256 = None
        self.label = label


class ListSource(Source):
    kind = "list"

    def __init__(self, path: str):
        self.path = path
        self.url = path
        self.reads = 0    # whole reads of the file (for tests and the operator)
        self.appends = 0  # reads of lines appended only

    def fetch(self, checkpoint):
        mark = _mark(self.path)
        ck = checkpoint if isinstance(checkpoint, dict) else {}
        verified = ck.get("sha256") is not None
        if verified and all(ck.get(k) == v for k, v in mark.items()):
            return
        # the file as it was when last hashed: the checkpoint's, or, when lines appended
        # were taken before the file was hashed again, the one before them
        known_size, known_sha = (ck.get("size"), ck.get("sha256")) if verified else \
            (ck.get("hashed_size"), ck.get("hashed_sha256"))
        if not isinstance(known_size, int) or not isinstance(known_sha, str) \
                or not ck.get("lines"):
            known_size = known_sha = None
        taken = ck.get("size") if not verified else known_size  # bytes already stored
        if verified and known_size is not None and mark["size"] > known_size:
            # lines appended to a hex list are taken at once, before the file is hashed
            # (10M lines are 650 MB to hash); a prefix that then proves changed makes
            # the whole list be read again below
            tail = _tail(self.path, known_size)
            if tail is not None:
                self.appends += 1
                entries, errors = _read(tail)
                taken = known_size + len(tail)
                yield Page(added=entries, errors=errors, number=1,
                           checkpoint={"mtime_ns": mark["mtime_ns"], "size": taken,
                                       "sha256": None, "lines": True,
                                       "hashed_size": known_size,
                                       "hashed_sha256": known_sha})
        end = None
        if known_size is not None and isinstance(taken, int):
            # hash exactly the bytes the checkpoint will say (lines appended meanwhile
            # are the next pull's), so the next pull's check of this part holds
            mark = _mark(self.path)
            end = mark["size"] = max(mark["size"], taken)
        prefix, digest = _sha256(self.path, known_size, end)
        if verified and ck.get("sha256") == digest:  # touched, same bytes
            yield Page(checkpoint={**mark, "sha256": digest, "lines": ck.get("lines")},
                       number=1)
            return
        if end is not None and prefix == known_sha and digest is not None \
                and known_size <= taken <= end:
            # only lines appended since the hashed state: those not taken yet are read
            tail = _tail(self.path, taken, end) if taken < end else b""
            if tail is not None:
                entries, errors = _read(tail) if tail else ((), [])
                if tail:
                    self.appends += 1
                yield Page(added=entries, errors=errors, number=1,
                           checkpoint={**mark, "sha256": digest, "lines": True})
                return
        if end is not None:  # the whole file is read: its mark and hash, not a part's
            mark = _mark(self.path)
            _, digest = _sha256(self.path, None)
        self.reads += 1
        lines = _is_hex_lines(self.path)
        entries, errors = _read(self.path)
        # ``added`` is an iterator (a list of a million entries is not held at once)
        yield Page(added=entries, errors=errors, number=1, reset=True,
                   checkpoint={**mark, "sha256": digest, "lines": lines})


def _mark(path: str) -> dict:
    """The file's ``{"mtime_ns", "size"}`` (what a checkpoint compares first)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise SourceError(f"list {path}: {exc.strerror}") from None
    return {"mtime_ns": info.st_mtime_ns, "size": info.st_size}


def _sha256(path: str, prefix_size: int | None, end: int | None = None) -> tuple:
    """(SHA-256 of the first ``prefix_size`` bytes or None, SHA-256 of the whole file, or
    of its first ``end`` bytes: None when it is shorter), in one read."""
    h = hashlib.sha256()
    prefix = None
    done = 0
    try:
        with open(path, "rb") as f:
            while True:
                block = f.read(1 << 20 if end is None else min(1 << 20, end - done))
                if not block:
                    break
                if prefix_size is not None and prefix is None and done + len(block) >= prefix_size:
                    cut = prefix_size - done
                    h.update(block[:cut])
                    prefix = h.hexdigest()
                    h.update(block[cut:])
                else:
                    h.update(block)
                done += len(block)
    except OSError as exc:
        raise SourceError(f"list {path}: {exc.strerror}") from None
    if end is not None and done < end:
        return prefix, None
    return prefix, h.hexdigest()


def _is_hex_lines(path: str) -> bool:
    """A plain hex list (one hash a line, nothing else): lines appended to it stand on
    their own (not a CSV's rows under its header, not a binary list)."""
    from ....formats import detect_format
    from ....formats.model import HashFormatError

    try:
        return detect_format(path) == "hex"
    except (HashFormatError, OSError, ValueError):
        return False


def _tail(path: str, start: int, end: int | None = None) -> bytes | None:
    """The bytes from ``start`` (to ``end``) when the part before ends a line, else None."""
    try:
        with open(path, "rb") as f:
            if start:
                f.seek(start - 1)
                if f.read(1) != b"\n":
                    return None
            return f.read() if end is None else f.read(end - start)
    except OSError as exc:
        raise SourceError(f"list {path}: {exc.strerror}") from None


def _read(path) -> tuple:
    """(an iterator of the list's entries, the refusals). A tidehash list file's
    entries are merged by id (an entry's signals are in separate groups); a text list's
    are one per hash, made as they are read."""
    from ....formats import detect_format, read_list
    from ....formats.model import HashFormatError

    errors: list = []
    try:
        own_ids = not isinstance(path, bytes) and detect_format(path) == "tidehash"
        fmt = "hex" if isinstance(path, bytes) else None
        hl = read_list(path, fmt, on_error=lambda bad: errors.append(
            {"page": 1, "entry": bad.line, "id": None, "error": bad.reason})
            if len(errors) < 1000 else None)
    except (HashFormatError, OSError, ValueError) as exc:
        raise SourceError(f"list: {exc}") from None
    if own_ids:
        merged: dict[int, ListEntry] = {}
        for entry_id, signal, value, quality, label in _hashes(hl, errors):
            e = merged.get(entry_id)
            if e is None:
                e = merged[entry_id] = ListEntry(entry_id, label)
            setattr(e, signal, value)
            if signal == "pdq":
                e.quality = quality
        return iter(merged.values()), errors

    def entries():
        for _own, signal, value, quality, label in _hashes(hl, errors):
            e = ListEntry(entry_id_of(f"list:{signal}:{value}"), label)
            setattr(e, signal, value)
            e.quality = quality if signal == "pdq" else None
            yield e

    return entries(), errors


def _hashes(hl, errors: list):
    """(the file's entry id, signal, hex, quality, label) of every entry."""
    for signal in ("pdq", "md5", "sha256"):
        if signal not in hl.signals:
            continue
        group = hl[signal]
        rows = group.entry_row
        for i in range(group.n_entries):
            value = group.hex(int(rows[i]))
            if signal == "pdq" and not any(bytes.fromhex(value)):
                if len(errors) < 1000:
                    errors.append({"page": 1, "entry": i + 1, "id": None,
                                   "error": "pdq: all zeros: refused"})
                continue
            yield int(group.ids[i]), signal, value, group.quality_of(i), group.label(i) or ""
