"""What every source of a synced list shares: the Source interface, its pages, the
foreign-id -> entry-id mapping, the HTTP of a pull (bounded retries, bounded answers,
no redirects) and parsers that refuse hostile XML and JSON.

Standard library and the engine only (a platform's machine needs nothing of the server).

A source is read as pages. ``Source.fetch(checkpoint)`` yields Page objects in order;
each carries the entries added (or replaced), the foreign ids removed, the entries it
refused (with their position) and the checkpoint to resume after it (an opaque
JSON-able value; None means "from the start"). A consumer applies a page, then stores
its checkpoint: a crash between the two replays the page, and replaying is harmless
(entries are keyed by id). An error that stops the pull (a server that keeps failing,
a page that cannot be read) is a SourceError raised from the iteration: the pages
yielded before it stand, the checkpoint of the last one is where the next pull goes on.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.parsers import expat

from ... import __version__
from ...formats.model import HASH_BYTES, ZERO_PDQ, hex_problem

#: the largest answer read from a source (a page of 10,000 NCMEC entries is ~4 MB)
MAX_RESPONSE = 64 << 20
#: attempts of one request that fails with 5xx / 429 / no answer, then a SourceError
ATTEMPTS = 5
#: seconds before the first retry; doubled each time, at most BACKOFF_CAP
BACKOFF = 0.5
BACKOFF_CAP = 30.0
#: an XML or JSON page nested deeper than this is refused
MAX_DEPTH = 32
#: empty pages with a next link in a row before the pull is stopped (a loop)
MAX_EMPTY_PAGES = 20
#: times a pull restarts its window after a paging link went stale, then an error
MAX_RESTARTS = 3
_TEXT = 4096
_RETRY_STATUS = frozenset((429, 500, 502, 503, 504))
_STALE_STATUS = frozenset((400, 404, 410))


class SourceError(Exception):
    """A pull that cannot go on: ``status`` the last HTTP status (0: no answer, or an
    answer that could not be read). The checkpoint of the last page yielded stands."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


class StaleLink(SourceError):
    """A paging link or token the source no longer takes (4xx on it): the window is
    read again from its start."""


@dataclass
class Entry:
    """One entry of a source, normalised: ``kind`` image or video; hashes as lowercase
    hex (None: not given); ``quality`` 0..100 or None (NCMEC and StopNCII give none);
    ``label`` the foreign id (kept in the list so a match names the source's entry)."""

    foreign_id: str
    kind: str
    pdq: str | None = None
    quality: int | None = None
    md5: str | None = None
    sha256: str | None = None
    label: str = ""

    @property
    def id(self) -> int:
        return entry_id_of(self.foreign_id)

    def wire(self) -> dict:
        """The registry's wire entry (what listsync applies)."""
        out = {"id": f"{self.id:016x}", "case": self.label, "kind": self.kind}
        for name in ("pdq", "quality", "md5", "sha256"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass
class Page:
    """One page of a source: ``added`` entries (an id already listed is replaced),
    ``removed`` foreign ids, ``errors`` ({"page", "entry", "id", "error"}: what was
    refused and where), ``checkpoint`` to resume after this page. No id is both added
    and removed in one page (the later of the two is kept)."""

    added: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    checkpoint: object = None
    number: int = 0  # the page's number in this pull, from 1
    #: everything listed from this source before this page is gone (a snapshot starts)
    reset: bool = False


class Source:
    """A list to follow. ``kind``: ncmec, stopncii or tidehash; ``url``: where it is
    (no secret in it); ``fetch(checkpoint)``: the pages after ``checkpoint``."""

    kind = ""
    url = ""

    def fetch(self, checkpoint) -> Iterator[Page]:
        raise NotImplementedError


def entry_id_of(foreign_id: str) -> int:
    """The list's int64 entry id of a foreign id (``ncmec:<member>:<id>``,
    ``stopncii:<type>:<hash>``): the first 63 bits of its BLAKE2b, so the same foreign
    id maps to the same entry in every run and a tombstone finds its entry."""
    digest = hashlib.blake2b(foreign_id.encode("utf-8", "surrogatepass"),
                             digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class PageBuilder:
    """Collects a page's events in order, keeping the last event of each id."""

    def __init__(self, number: int):
        self.number = number
        self.events: dict[str, Entry | None] = {}
        self.errors: list = []

    def add(self, entry: Entry) -> None:
        self.events.pop(entry.foreign_id, None)
        self.events[entry.foreign_id] = entry

    def remove(self, foreign_id: str) -> None:
        self.events.pop(foreign_id, None)
        self.events[foreign_id] = None

    def error(self, entry: int | None, foreign_id: str | None, message: str) -> None:
        self.errors.append({"page": self.number, "entry": entry, "id": foreign_id,
                            "error": message})

    def page(self, checkpoint) -> Page:
        return Page([e for e in self.events.values() if e is not None],
                    [f for f, e in self.events.items() if e is None], self.errors,
                    checkpoint, self.number)


def check_hash(value, signal: str) -> tuple[str | None, str | None]:
    """(lowercase hex, None) for a good ``signal`` hash, else (None, why not); an
    all-zero PDQ is refused (ThreatExchange #1609: the reference's output for an image
    it could not hash, which would match every blank image)."""
    if not isinstance(value, str):
        return None, f"{signal}: not a string ({type(value).__name__})"
    value = value.strip()
    if len(value) > 2 * HASH_BYTES[signal] + 8:
        return None, f"{signal}: {len(value)} characters, a {signal} hash is " \
                     f"{2 * HASH_BYTES[signal]} hex digits"
    problem = hex_problem(value, HASH_BYTES[signal], signal)
    if problem is not None:
        return None, f"{signal}: {problem}"
    if signal == "pdq" and not any(bytes.fromhex(value)):
        return None, f"pdq: {ZERO_PDQ}: refused"
    return value.lower(), None


def clean_id(value, what: str = "id") -> tuple[str | None, str | None]:
    """A foreign id part: 1..200 printable characters without spaces."""
    if not isinstance(value, str):
        return None, f"{what}: not a string"
    value = value.strip()
    if not value or len(value) > 200 or not value.isprintable() or " " in value:
        return None, f"{what}: not an id ({value[:40]!r})"
    return value, None


# ----------------------------------------------------------------------------- HTTP
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A source's credentials are never carried to another address."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def base_url(text, what: str = "url") -> str:
    """An http(s) base URL without user, password, query or fragment, no trailing /."""
    parts = urllib.parse.urlsplit(str(text).strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} must be http:// or https://, got {str(text)[:80]!r}")
    if parts.username or parts.password:
        raise ValueError(f"{what} must not carry a user name or password (they go in "
                         "the credentials file's own fields)")
    if parts.query or parts.fragment:
        raise ValueError(f"{what} must not have a query or fragment")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"),
                                    "", ""))


class Http:
    """GETs of one source: credentials only in headers that are never redirected,
    answers read up to ``max_bytes``, 5xx / 429 / no answer retried ``attempts`` times
    in all with exponential backoff, then SourceError. Messages name the URL's path,
    never a header."""

    def __init__(self, headers: dict, *, timeout: float = 30, attempts: int = ATTEMPTS,
                 backoff: float = BACKOFF, max_bytes: int = MAX_RESPONSE, sleep=time.sleep):
        self._headers = dict(headers)
        self.timeout = timeout
        self.attempts = max(1, int(attempts))
        self.backoff = backoff
        self.max_bytes = max_bytes
        self.sleep = sleep
        self.retried = 0  # requests sent again after a failure, in all

    def __repr__(self) -> str:
        return "Http(headers=<hidden>)"

    def get(self, url: str, accept: str) -> bytes:
        where = urllib.parse.urlsplit(url).path or "/"
        last = ""
        status = 0
        for attempt in range(self.attempts):
            if attempt:
                self.retried += 1
                self.sleep(min(BACKOFF_CAP, self.backoff * 2 ** (attempt - 1)))
            req = urllib.request.Request(url, method="GET")
            req.add_header("User-Agent", f"tidehash/{__version__}")
            req.add_header("Accept", accept)
            req.add_header("Accept-Encoding", "identity")
            for name, value in self._headers.items():
                req.add_unredirected_header(name, value)
            try:
                with _OPENER.open(req, timeout=self.timeout) as resp:
                    return self._read(resp, where)
            except urllib.error.HTTPError as exc:
                status = exc.code
                detail = _error_text(exc)
                exc.close()
                if status in _RETRY_STATUS:
                    last = f"HTTP {status}{detail}"
                    continue
                if 300 <= status < 400:
                    raise SourceError(f"{where}: HTTP {status}: the source redirected "
                                      "(not followed: use the address it names)", status) \
                        from None
                if status in (401, 403):
                    raise SourceError(f"{where}: HTTP {status}: the credentials were "
                                      f"refused{detail}", status) from None
                cls = StaleLink if status in _STALE_STATUS else SourceError
                raise cls(f"{where}: HTTP {status}{detail}", status) from None
            except _Truncated as exc:
                status, last = 0, str(exc)
            except (urllib.error.URLError, OSError, http.client.HTTPException,
                    ValueError) as exc:
                status, last = 0, f"no answer ({getattr(exc, 'reason', exc)})"
        raise SourceError(f"{where}: {last} ({self.attempts} attempts)", status)

    def _read(self, resp, where: str) -> bytes:
        length = resp.headers.get("Content-Length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_bytes:
            raise SourceError(f"{where}: an answer of {int(length)} bytes, over the "
                              f"{self.max_bytes} this client reads")
        chunks, size = [], 0
        while True:
            try:
                chunk = resp.read(1 << 20)
            except http.client.IncompleteRead as exc:
                raise _Truncated(f"answer cut off after {size + len(exc.partial)} bytes") \
                    from None
            if not chunk:
                break
            size += len(chunk)
            if size > self.max_bytes:
                raise SourceError(f"{where}: an answer over the {self.max_bytes} bytes "
                                  "this client reads")
            chunks.append(chunk)
        # read(n) returns what came before the connection closed, without an error
        if length is not None and length.strip().isdigit() and size != int(length):
            raise _Truncated(f"answer cut off after {size} of {int(length)} bytes")
        return b"".join(chunks)


class _Truncated(Exception):
    pass


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read(2000)
    except (OSError, http.client.HTTPException):
        raw = b""
    text = raw.decode("utf-8", "replace").strip()
    try:
        body = json.loads(text)
        if isinstance(body, dict):
            text = " ".join(str(body.get(k)) for k in ("title", "detail") if body.get(k))
    except (ValueError, RecursionError):
        pass
    text = "".join(c if c.isprintable() else " " for c in text)[:200]
    return f": {text}" if text else ""


# ----------------------------------------------------------------------------- parsing
class PageFormatError(Exception):
    """A page that is not a page of the source (the message says why)."""


class Element:
    """An XML element without its namespace: ``tag``, ``attrs``, ``children``,
    ``text`` (stripped, at most 4,096 characters; None when longer), ``line``."""

    __slots__ = ("tag", "attrs", "children", "text", "line", "_parts", "_size")

    def __init__(self, tag: str, attrs: dict, line: int):
        self.tag = tag
        self.attrs = attrs
        self.children: list = []
        self.text: str | None = ""
        self.line = line
        self._parts: list = []
        self._size = 0

    def child(self, tag: str):
        for c in self.children:
            if c.tag == tag:
                return c
        return None

    def __repr__(self) -> str:
        return f"<{self.tag} line {self.line}: {len(self.children)} children>"


def parse_xml(body: bytes) -> Element:
    """The document's root Element. Refused (PageFormatError): a DOCTYPE, any entity
    declaration or external entity (billion laughs, XXE), nesting deeper than
    MAX_DEPTH, a document that is not well-formed."""
    stack: list[Element] = []
    root: list[Element] = []
    parser = expat.ParserCreate(namespace_separator="}")

    def refuse(*_args):
        raise PageFormatError("a DOCTYPE or an entity declaration (refused: a page "
                              "needs none, and entities can explode or read files)")

    def start(name, attrs):
        if len(stack) >= MAX_DEPTH:
            raise PageFormatError(f"nested deeper than {MAX_DEPTH} levels")
        if "}" in name:
            name = name.rpartition("}")[2]
        if attrs:
            attrs = {k.rpartition("}")[2]: v for k, v in attrs.items()}
        el = Element(name, attrs, parser.CurrentLineNumber)
        (stack[-1].children if stack else root).append(el)
        stack.append(el)

    def end(_name):
        el = stack.pop()
        if el._size > _TEXT:
            el.text = None
        elif el._parts:
            el.text = "".join(el._parts).strip()
        el._parts = None

    def chars(data):
        if stack:
            el = stack[-1]
            el._size += len(data)
            if el._size <= _TEXT:
                el._parts.append(data)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise PageFormatError(f"not well-formed XML ({exc})") from None
    if len(root) != 1:
        raise PageFormatError("no root element")
    return root[0]


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


class HugeNumber:
    """An integer of more than 20 digits in a JSON page: kept as this marker (so the
    field holding it is reported as wrong), never converted (a million digits would
    cost seconds)."""

    def __init__(self, digits: int):
        self.digits = digits

    def __repr__(self) -> str:
        return f"<an integer of {self.digits} digits>"


def _bounded_int(text):
    return HugeNumber(len(text)) if len(text) > 20 else int(text)


def parse_json(body: bytes):
    """The JSON value of a page. Refused (PageFormatError): not UTF-8 JSON, NaN or
    Infinity, nesting deeper than the interpreter recurses (the C decoder raises
    RecursionError, caught here). An integer of over 20 digits is a HugeNumber."""
    try:
        return json.loads(body, parse_constant=_refuse_constant, parse_int=_bounded_int)
    except (ValueError, RecursionError) as exc:
        raise PageFormatError(f"not JSON ({str(exc)[:120]})") from None


def strict_int(value, low: int, high: int) -> int | None:
    """``value`` when it is an int (not a bool) in low..high, else None."""
    if type(value) is int and low <= value <= high:
        return value
    return None
