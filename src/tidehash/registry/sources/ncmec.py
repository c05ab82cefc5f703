"""NCMEC's hash-sharing API v2 (XML) as a Source: ``GET {url}/v2/entries?from&to``,
then the ``paging/next`` links (a path appended to ``url``, as NCMEC gives them and
python-threatexchange follows them), Basic auth with the member's user name and
password. A tidehash registry serves the same at ``URL/ncmec``.

The pull reads one window of time (from, to] a page after another; ``to`` is the
clock less NCMEC_LAG seconds (as python-threatexchange does), so that the window is
complete when it is read. The checkpoint is ``{"time": T}`` (every entry up to T is
applied) or, inside a window, ``{"time": T, "to": T2, "next": link}``. A next link
that the server no longer takes (400 / 404 / 410) restarts the window with the same
from and to: the same window again, never a different one (ThreatExchange #1744: a
resume with other bounds skips entries). An entry is keyed ``ncmec:<member>:<id>``
(its tombstone, ``deletedImage`` / ``deletedVideo``, names the same member and id);
fingerprints used: PDQ (images), MD5 and SHA-256; SHA1, PhotoDNA and the others are
reported as not used. The label of an entry is its foreign id."""

from __future__ import annotations

import base64
import time
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timezone

from .base import (
    MAX_EMPTY_PAGES,
    MAX_RESTARTS,
    Element,
    Entry,
    Http,
    PageBuilder,
    PageFormatError,
    Source,
    SourceError,
    StaleLink,
    base_url,
    check_hash,
    clean_id,
    parse_xml,
    strict_int,
)

#: seconds the window's end stays behind the clock (python-threatexchange uses 5)
NCMEC_LAG = 5
PAGE_SIZE = 1000
#: a page that does not parse is asked for this many times in all, then SourceError
PAGE_ATTEMPTS = 3
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z
_ENTRY_TAGS = {"image": ("image", False), "video": ("video", False),
               "deletedImage": ("image", True), "deletedVideo": ("video", True)}
_USED = {"image": ("pdq", "md5", "sha256"), "video": ("md5", "sha256")}


def format_time(t: int) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime(TIME_FORMAT)


class NCMECSource(Source):
    """``url``: the environment's base (``https://report.cybertip.org/hashsharing``,
    or a tidehash registry's ``URL/ncmec``); ``user`` / ``password``: the member's."""

    kind = "ncmec"

    def __init__(self, url: str, user: str, password: str, *, page_size: int = PAGE_SIZE,
                 lag: int = NCMEC_LAG, clock=time.time, **http):
        self.url = base_url(url)
        if not isinstance(user, str) or not user or not isinstance(password, str) \
                or not password or ":" in user:
            raise ValueError("ncmec needs a user name (no ':') and a password")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self.http = Http({"Authorization": f"Basic {token}"}, **http)
        self.page_size = page_size
        self.lag = lag
        self.clock = clock

    def __repr__(self) -> str:
        return f"NCMECSource({self.url!r})"

    def _entries_url(self, start: int, end: int) -> str:
        query = urllib.parse.urlencode({"from": format_time(start), "to": format_time(end),
                                        "size": self.page_size})
        return f"{self.url}/v2/entries?{query}"

    def _next_url(self, link: str) -> str:
        return self.url + link if link.startswith("/") else f"{self.url}/{link}"

    def fetch(self, checkpoint) -> Iterator:
        start, end, link = read_checkpoint(checkpoint)
        if end is None:
            end = int(self.clock()) - self.lag
            if end <= start:
                return
        number, restarts, empty, seen = 0, 0, 0, set()
        while True:
            url = self._next_url(link) if link else self._entries_url(start, end)
            number += 1
            try:
                root = self._page(url)
            except StaleLink:
                if not link or restarts >= MAX_RESTARTS:
                    raise
                restarts += 1  # the same window from its start: replaying is harmless
                link, seen, empty = None, set(), 0
                continue
            builder = PageBuilder(number)
            next_link = read_page(root, builder)
            if next_link is None:
                yield builder.page({"time": end})
                return
            if next_link in seen or next_link == link:
                raise SourceError(f"page {number}: the next link repeats an earlier one "
                                  "(a loop): stopped", 0)
            seen.add(next_link)
            empty = empty + 1 if not builder.events and not builder.errors else 0
            if empty > MAX_EMPTY_PAGES:
                raise SourceError(f"page {number}: {empty} empty pages in a row, each with "
                                  "a next link: stopped", 0)
            link = next_link
            yield builder.page({"time": start, "to": end, "next": link})

    def _page(self, url: str) -> Element:
        """The parsed page at ``url``; a page that is not an NCMEC page is asked for
        again (a cut answer), then a SourceError naming what is wrong."""
        where = urllib.parse.urlsplit(url).path
        for _attempt in range(PAGE_ATTEMPTS):
            body = self.http.get(url, "application/xml")
            try:
                root = parse_xml(body)
                if root.tag != "queryResult":
                    raise PageFormatError(f"the root element is <{root.tag[:40]}>, not "
                                          "<queryResult>")
                return root
            except PageFormatError as exc:
                problem = str(exc)
        raise SourceError(f"{where}: not an NCMEC page: {problem} ({PAGE_ATTEMPTS} attempts)")


def read_checkpoint(checkpoint) -> tuple[int, int | None, str | None]:
    if checkpoint is None:
        return 0, None, None
    if not isinstance(checkpoint, dict):
        raise SourceError(f"not an NCMEC checkpoint: {checkpoint!r:.80}")
    start = strict_int(checkpoint.get("time"), 0, _MAX_TIME)
    end = checkpoint.get("to")
    link = checkpoint.get("next")
    if start is None or (end is not None and strict_int(end, start, _MAX_TIME) is None) \
            or (link is not None and (end is None or not isinstance(link, str))):
        raise SourceError(f"not an NCMEC checkpoint: {checkpoint!r:.80}")
    return start, end, link


def read_page(root: Element, builder: PageBuilder) -> str | None:
    """The page's entries into ``builder`` (each bad one reported with its position:
    the entry's number on the page and its line); returns the next link or None."""
    position = 0
    for group in root.children:
        if group.tag not in ("images", "videos"):
            continue
        for el in group.children:
            position += 1
            _entry(el, position, builder)
    paging = root.child("paging")
    link = paging.child("next") if paging is not None else None
    if link is None or not link.text:
        return None
    text = link.text
    parts = urllib.parse.urlsplit(text)
    if parts.scheme or parts.netloc or len(text) > 2000 or not text.isprintable():
        # a link to another host would carry the credentials there
        raise SourceError(f"page {builder.number}: a next link that is not a path on "
                          f"this source ({text[:80]!r}): stopped")
    return text


def _entry(el: Element, position: int, builder: PageBuilder) -> None:
    where = f"line {el.line}"
    kind_deleted = _ENTRY_TAGS.get(el.tag)
    if kind_deleted is None:
        builder.error(position, None, f"{where}: <{el.tag[:40]}> is not an entry")
        return
    kind, deleted = kind_deleted
    member = el.child("member")
    member_id = None if member is None else member.attrs.get("id")
    if not isinstance(member_id, str) or not member_id.isdigit() or len(member_id) > 18:
        builder.error(position, None, f"{where}: <{el.tag}> without a numeric <member id>")
        return
    id_el = el.child("id")
    value, problem = clean_id(None if id_el is None else id_el.text)
    if problem:
        builder.error(position, None, f"{where}: <{el.tag}> {problem}")
        return
    foreign = f"ncmec:{int(member_id)}:{value}"
    if deleted:
        builder.remove(foreign)
        return
    entry = Entry(foreign, kind, label=foreign)
    prints = el.child("fingerprints")
    problems, unused = [], []
    for fp in prints.children if prints is not None else ():
        name = fp.tag.lower()
        if name not in _USED[kind]:
            unused.append(fp.tag[:20])
            continue
        if fp.text is None:
            problems.append(f"{name}: longer than 4096 characters")
            continue
        hashed, problem = check_hash(fp.text, name)
        if problem:
            problems.append(problem)
        elif getattr(entry, name) is None:
            setattr(entry, name, hashed)
    usable = any(getattr(entry, s) is not None for s in _USED[kind])
    if problems:
        kept = "; the others kept" if usable else ""
        builder.error(position, foreign, f"{where}: {'; '.join(problems)}{kept}")
    if usable:
        builder.add(entry)
    else:
        # nothing tidehash can match: not listed (an earlier version is taken out)
        if not problems:
            builder.error(position, foreign, f"{where}: no fingerprint tidehash uses "
                          f"(has {', '.join(unused) or 'none'})")
        builder.remove(foreign)
