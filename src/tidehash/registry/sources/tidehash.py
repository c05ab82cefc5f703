"""A tidehash registry as a Source, for a consumer that keeps its own store (a
matcher's bank): the snapshot first (``GET /v1/list/snapshot``, checked against its
trailer), then the change feed (``GET /v1/list/changes``). ``tidehash sync --from
tidehash`` does not go through here: it takes the snapshot into the list file as arrays
(``Client.sync_list``).

The checkpoint is ``{"cursor": c, "seq": n}``. From None, or from a cursor the registry
compacted away (410), the pull reads the snapshot: its first page has ``reset`` set
(drop everything listed from this source before), and its pages carry the checkpoint
None until the last, which carries the trailer's cursor (a consumer stores nothing
before it: an interrupted snapshot starts again). Entry ids are the registry's own
(``foreign_id`` the 16-hex-digit id), labels the case pseudonyms."""

from __future__ import annotations

from collections.abc import Iterator

from ..client import Client, RegistryError
from .base import Page, Source, SourceError, check_hash, strict_int

PAGE_SIZE = 10_000


class RegistryEntry:
    """An Entry whose id is the registry's (not a hash of a foreign id)."""

    def __init__(self, wire: dict):
        self._wire = wire
        self.foreign_id = wire["id"]
        self.kind = wire["kind"]
        self.label = wire.get("case", "")
        for name in ("pdq", "quality", "md5", "sha256", "vpdq"):
            setattr(self, name, wire.get(name))

    @property
    def id(self) -> int:
        return int(self.foreign_id, 16)

    def wire(self) -> dict:
        return dict(self._wire)


class TidehashSource(Source):
    kind = "tidehash"

    def __init__(self, url: str, token: str, *, page_size: int = PAGE_SIZE,
                 timeout: float = 30, **_http):
        self.client = Client(url, token=token, timeout=timeout)
        self.url = self.client.url
        self.page_size = page_size

    def __repr__(self) -> str:
        return f"TidehashSource({self.url!r})"

    def fetch(self, checkpoint) -> Iterator:
        if checkpoint is None:
            yield from self._snapshot()
            return
        if not isinstance(checkpoint, dict) or not isinstance(
                checkpoint.get("cursor"), str) or strict_int(
                checkpoint.get("seq"), 0, 1 << 62) is None:
            raise SourceError(f"not a tidehash checkpoint: {checkpoint!r:.80}")
        cursor, seq = checkpoint["cursor"], checkpoint["seq"]
        number = 0
        while True:
            number += 1
            try:
                page = self.client.changes(cursor, self.page_size)
            except RegistryError as exc:
                if exc.status == 410 and number == 1:  # compacted away: the snapshot
                    yield from self._snapshot()
                    return
                raise SourceError(exc.message, exc.status) from None
            changes = page.get("changes")
            if not isinstance(changes, list) or not isinstance(page.get("cursor"), str):
                raise SourceError(f"page {number}: not a page of changes")
            out = Page(number=number)
            events: dict = {}
            for position, ch in enumerate(changes, 1):
                if not isinstance(ch, dict) or strict_int(ch.get("seq"), 0, 1 << 62) \
                        != seq + 1:
                    raise SourceError(f"page {number}: change {position} is out of order "
                                      f"(seq {seq + 1} was due)")
                seq += 1
                entry_id = ch.get("id") if ch.get("op") == "delete" else \
                    (ch.get("entry") or {}).get("id") if isinstance(ch.get("entry"), dict) \
                    else None
                if not isinstance(entry_id, str) or len(entry_id) != 16:
                    out.errors.append({"page": number, "entry": position, "id": None,
                                       "error": "a change without an entry id"})
                    continue
                if ch.get("op") == "delete":
                    events.pop(entry_id, None)
                    events[entry_id] = None
                    continue
                entry = ch["entry"]
                if "pdq" in entry and check_hash(entry["pdq"], "pdq")[1]:
                    out.errors.append({"page": number, "entry": position, "id": entry_id,
                                       "error": check_hash(entry["pdq"], "pdq")[1]})
                    events.pop(entry_id, None)
                    events[entry_id] = None
                    continue
                events.pop(entry_id, None)
                events[entry_id] = RegistryEntry(entry)
            out.added = [e for e in events.values() if e is not None]
            out.removed = [i for i, e in events.items() if e is None]
            cursor = page["cursor"]
            out.checkpoint = {"cursor": cursor, "seq": seq}
            more = bool(page.get("more"))
            if more and not changes:
                raise SourceError(f"page {number}: more changes announced, none sent")
            yield out
            if not more:
                return

    def _snapshot(self) -> Iterator:
        """The snapshot as pages of ``page_size`` entries (reset on the first)."""
        snapshot = self.client.snapshot()
        number, batch = 0, []
        try:
            for entry in snapshot:
                if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) \
                        or len(entry["id"]) != 16:
                    raise SourceError(f"snapshot entry {number * self.page_size + len(batch) + 1}"
                                      ": not an entry")
                batch.append(RegistryEntry(entry))
                if len(batch) >= self.page_size:
                    number += 1
                    yield Page(added=batch, number=number, reset=number == 1)
                    batch = []
        except RegistryError as exc:
            raise SourceError(exc.message, exc.status) from None
        trailer = snapshot.trailer
        number += 1
        yield Page(added=batch, number=number, reset=number == 1,
                   checkpoint={"cursor": trailer["cursor"], "seq": trailer["seq"]})
