"""Deliberately broken NCMEC- and StopNCII-style servers for the sync tests: a real
HTTP server on 127.0.0.1 (a free port, in a thread, always stopped) whose answers a
test scripts: pages of entries with paging links, and faults served before the good
answer (a 500, a cut or truncated body, hostile XML or JSON, a stale link)."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from xml.sax.saxutils import escape


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/xml; charset=utf-8"
    #: a Content-Length other than the body's (a body cut off on the way)
    length: int | None = None


@dataclass
class Seen:
    path: str
    query: dict
    headers: dict = field(default_factory=dict)


class Scripted:
    """``handler(Seen) -> Reply`` answers every GET; ``requests`` lists them."""

    def __init__(self, handler):
        self.handler = handler
        self.requests: list[Seen] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (http.server's name)
                parts = urllib.parse.urlsplit(self.path)
                seen = Seen(parts.path, dict(urllib.parse.parse_qsl(parts.query)),
                            {k.lower(): v for k, v in self.headers.items()})
                outer.requests.append(seen)
                reply = outer.handler(seen)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body) if reply.length is None
                                                       else reply.length))
                if reply.length is not None:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(reply.body)
                if reply.length is not None:
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Scripted:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@contextlib.contextmanager
def scripted(handler):
    with Scripted(handler) as server:
        yield server


# ----------------------------------------------------------------------------- NCMEC
def ncmec_entry(member, entry_id, fingerprints: dict | None = None, tag: str = "image",
                extra: str = "") -> str:
    """One entry element (``fingerprints``: tag -> text; None: no fingerprints)."""
    prints = "" if fingerprints is None else "<fingerprints>" + "".join(
        f"<{k}>{escape(v)}</{k}>" for k, v in fingerprints.items()) + "</fingerprints>"
    member_el = "" if member is None else f'<member id="{escape(str(member))}">m</member>'
    id_el = "" if entry_id is None else f"<id>{escape(str(entry_id))}</id>"
    return f"<{tag}>{member_el}<timestamp>2026-12-01T00:00:00Z</timestamp>{id_el}" \
           f"{prints}{extra}</{tag}>"


def ncmec_page(entries: list[str], next_link: str | None) -> bytes:
    images = [e for e in entries if not e.startswith(("<video", "<deletedVideo"))]
    videos = [e for e in entries if e.startswith(("<video", "<deletedVideo"))]
    paging = "" if next_link is None else \
        f"<paging><next>{escape(next_link)}</next></paging>"
    return ('<?xml version="1.0" encoding="UTF-8"?><queryResult '
            'xmlns="https://hashsharing.ncmec.org/hashsharing/v2">'
            f'<images count="{len(images)}">{"".join(images)}</images>'
            f'<videos count="{len(videos)}">{"".join(videos)}</videos>{paging}'
            '</queryResult>').encode()


class FakeNCMEC:
    """Pages of entries at ``/v2/entries``: page 0 for a request without ``start``,
    page i at the next link ``...&start=i``. ``faults[i]``: replies served for page i
    before its good answer (consumed one a request)."""

    def __init__(self, pages: list[list[str]], faults: dict | None = None):
        self.pages = pages
        self.faults = {k: list(v) for k, v in (faults or {}).items()}

    def link(self, seen: Seen, i: int) -> str:
        return "/v2/entries?" + urllib.parse.urlencode(
            {"from": seen.query.get("from"), "to": seen.query.get("to"), "start": i,
             "size": 1000, "max": 99})

    def __call__(self, seen: Seen) -> Reply:
        if seen.path != "/v2/entries":
            return Reply(404, b"<error/>")
        i = int(seen.query.get("start", 0))
        if self.faults.get(i):
            return self.faults[i].pop(0)
        next_link = self.link(seen, i + 1) if i + 1 < len(self.pages) else None
        return Reply(body=ncmec_page(self.pages[i], next_link))


# ----------------------------------------------------------------------------- StopNCII
def stopncii_record(value, signal="ImagePDQ", status="Active", **fields) -> dict:
    return {"lastModtimestamp": 1700000000, "signalType": signal, "hashValue": value,
            "hashStatus": status, "caseNumbers": {"c1": status}, "CSPFeedbacks": [],
            **fields}


class FakeStopNCII:
    """Pages of records at ``/FetchHashes``: page 0 without a token, page i with
    ``nextPageToken=t<i>``; ``next_set[i]``: that page's nextSetTimestamp (default
    1000 + i); ``faults`` as FakeNCMEC's; ``bodies[i]``: a whole JSON body instead."""

    def __init__(self, pages: list[list], faults: dict | None = None,
                 next_set: dict | None = None, bodies: dict | None = None):
        self.pages = pages
        self.faults = {k: list(v) for k, v in (faults or {}).items()}
        self.next_set = next_set or {}
        self.bodies = bodies or {}

    def __call__(self, seen: Seen) -> Reply:
        if seen.path != "/FetchHashes":
            return Reply(404, b"{}", "application/json")
        token = seen.query.get("nextPageToken")
        i = int(token[1:]) if token else 0
        if self.faults.get(i):
            return self.faults[i].pop(0)
        if i in self.bodies:
            return Reply(body=self.bodies[i], content_type="application/json")
        more = i + 1 < len(self.pages)
        body = {"count": len(self.pages[i]), "nextPageToken": f"t{i + 1}" if more else None,
                "nextSetTimestamp": self.next_set.get(i, 1000 + i), "hasMoreRecords": more,
                "hashRecords": self.pages[i]}
        return Reply(body=json.dumps(body).encode(), content_type="application/json")
