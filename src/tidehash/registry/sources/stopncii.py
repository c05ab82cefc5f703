"""StopNCII's hash API (JSON) as a Source: ``GET {url}/FetchHashes?startTimestamp&
pageSize`` then ``&nextPageToken`` while ``hasMoreRecords``, with the subscription key
(``Ocp-Apim-Subscription-Key``) and the fetch function key (``x-functions-key``). A
tidehash registry serves the same at ``URL/stopncii/v1`` (its platform token as both
keys).

A record is one hash with its state now: ``hashStatus`` Active lists it; Withdrawn
and Deleted (and every other status: Received, Unknown) take it out of the list, which
python-threatexchange does not do for Withdrawn. A record is keyed
``stopncii:<signalType>:<hash>`` (a later record of the same hash replaces it);
``ImagePDQ`` gives an image's PDQ, ``VideoMD5`` a video's MD5; other types (VideoTMK,
...) are reported as not used. The checkpoint is ``{"time": T}`` (the next pull starts
at T: ``nextSetTimestamp`` of the last page) or, inside a pull, ``{"time": T, "token":
nextPageToken, "set": the page's nextSetTimestamp}``; a token the server no longer takes
restarts from ``set``, which StopNCII gives as the time every record before which was
sent. The time never moves backwards."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

from .base import (
    MAX_EMPTY_PAGES,
    MAX_RESTARTS,
    Entry,
    Http,
    PageBuilder,
    PageFormatError,
    Source,
    SourceError,
    StaleLink,
    base_url,
    check_hash,
    parse_json,
    strict_int,
)

PAGE_SIZE = 1000
PAGE_ATTEMPTS = 3
_MAX_TIME = 253402300799
#: StopNCII signal type -> (entry kind, hash column)
SIGNALS = {"ImagePDQ": ("image", "pdq"), "VideoMD5": ("video", "md5")}
STATUSES = ("Active", "Withdrawn", "Deleted", "Received", "Unknown")


class StopNCIISource(Source):
    """``url``: the API's base (``https://api.stopncii.org/v1``, or a tidehash
    registry's ``URL/stopncii/v1``); ``subscription_key`` and ``fetch_key``."""

    kind = "stopncii"

    def __init__(self, url: str, subscription_key: str, fetch_key: str, *,
                 page_size: int = PAGE_SIZE, **http):
        self.url = base_url(url)
        for name, key in (("subscription_key", subscription_key), ("fetch_key", fetch_key)):
            if not isinstance(key, str) or not key.strip() or any(c.isspace() or not
                                                                   c.isprintable()
                                                                   for c in key.strip()):
                raise ValueError(f"stopncii needs {name} (one word)")
        self.http = Http({"Ocp-Apim-Subscription-Key": subscription_key.strip(),
                          "x-functions-key": fetch_key.strip()}, **http)
        self.page_size = page_size

    def __repr__(self) -> str:
        return f"StopNCIISource({self.url!r})"

    def _url(self, start: int, token: str | None) -> str:
        query = {"startTimestamp": start, "pageSize": self.page_size}
        if token:
            query["nextPageToken"] = token
        return f"{self.url}/FetchHashes?{urllib.parse.urlencode(query)}"

    def fetch(self, checkpoint) -> Iterator:
        start, token, restart_at = read_checkpoint(checkpoint)
        number, restarts, empty, seen = 0, 0, 0, set()
        while True:
            number += 1
            try:
                body = self._page(self._url(start, token))
            except StaleLink:
                if not token or restarts >= MAX_RESTARTS:
                    raise
                restarts += 1
                start, token, seen, empty = max(start, restart_at), None, set(), 0
                continue
            builder = PageBuilder(number)
            more, next_token, next_set = read_page(body, builder)
            next_set = max(start, restart_at, next_set or 0)
            if not more:
                yield builder.page({"time": next_set})
                return
            if next_token in seen or next_token == token:
                raise SourceError(f"page {number}: the nextPageToken repeats an earlier "
                                  "one (a loop): stopped")
            seen.add(next_token)
            empty = empty + 1 if not builder.events and not builder.errors else 0
            if empty > MAX_EMPTY_PAGES:
                raise SourceError(f"page {number}: {empty} empty pages in a row, each "
                                  "with hasMoreRecords: stopped")
            token, restart_at = next_token, max(restart_at, next_set)
            yield builder.page({"time": start, "token": token, "set": restart_at})

    def _page(self, url: str) -> dict:
        for _attempt in range(PAGE_ATTEMPTS):
            raw = self.http.get(url, "application/json")
            try:
                body = parse_json(raw)
                if not isinstance(body, dict):
                    raise PageFormatError(f"a JSON {type(body).__name__}, not an object")
                return body
            except PageFormatError as exc:
                problem = str(exc)
        raise SourceError(f"/FetchHashes: not a StopNCII page: {problem} "
                          f"({PAGE_ATTEMPTS} attempts)")


def read_checkpoint(checkpoint) -> tuple[int, str | None, int]:
    if checkpoint is None:
        return 0, None, 0
    if not isinstance(checkpoint, dict):
        raise SourceError(f"not a StopNCII checkpoint: {checkpoint!r:.80}")
    start = strict_int(checkpoint.get("time"), 0, _MAX_TIME)
    token = checkpoint.get("token")
    restart_at = checkpoint.get("set", start)
    if start is None or (token is not None and not isinstance(token, str)) \
            or strict_int(restart_at, start, _MAX_TIME) is None:
        raise SourceError(f"not a StopNCII checkpoint: {checkpoint!r:.80}")
    return start, token, restart_at


def read_page(body: dict, builder: PageBuilder) -> tuple[bool, str | None, int | None]:
    """The page's records into ``builder``; returns (hasMoreRecords, nextPageToken,
    nextSetTimestamp or None). A page whose paging fields are wrong is a SourceError
    (it cannot be gone past); a wrong record is reported and skipped."""
    more = body.get("hasMoreRecords")
    if type(more) is not bool:
        raise SourceError(f"page {builder.number}: hasMoreRecords is not true or false "
                          f"({more!r:.40})")
    token = body.get("nextPageToken")
    if more and (not isinstance(token, str) or not token or len(token) > 4096):
        raise SourceError(f"page {builder.number}: hasMoreRecords without a "
                          f"nextPageToken ({token!r:.40})")
    next_set = body.get("nextSetTimestamp")
    next_set = strict_int(next_set, 0, _MAX_TIME)
    if next_set is None and body.get("nextSetTimestamp") is not None:
        builder.error(None, None, "nextSetTimestamp is not a time in unix seconds "
                      f"({body.get('nextSetTimestamp')!r:.40}): the pull's time kept")
    records = body.get("hashRecords")
    if records is None:
        records = []
    if not isinstance(records, list):
        builder.error(None, None, f"hashRecords is a {type(records).__name__}, not a "
                      "list: the page's records skipped")
        records = []
    for position, record in enumerate(records, 1):
        _record(record, position, builder)
    return more, (token if more else None), next_set


def _record(record, position: int, builder: PageBuilder) -> None:
    if not isinstance(record, dict):
        builder.error(position, None, f"a record that is a {type(record).__name__}")
        return
    kind = record.get("signalType")
    if not isinstance(kind, str):
        builder.error(position, None, f"signalType is not a string ({kind!r:.40})")
        return
    kind = kind.rpartition(".")[2]  # "StopNCIISignalType.ImagePDQ", as pytx sends it
    signal = SIGNALS.get(kind)
    if signal is None:
        builder.error(position, None, f"signalType {kind[:40]!r}: not a type tidehash "
                      "uses (ImagePDQ, VideoMD5)")
        return
    entry_kind, column = signal
    value, problem = check_hash(record.get("hashValue"), column)
    if problem:
        builder.error(position, None, f"{kind}: {problem}")
        return
    foreign = f"stopncii:{kind}:{value}"
    status = record.get("hashStatus")
    if not isinstance(status, str) or status not in STATUSES:
        builder.error(position, foreign, f"hashStatus {status!r:.40} is not one of "
                      f"{', '.join(STATUSES)}: the record skipped")
        return
    if status != "Active":
        builder.remove(foreign)
        return
    entry = Entry(foreign, entry_kind, label=foreign)
    setattr(entry, column, value)
    builder.add(entry)
