"""The registry's client: what ``tidehash submit / case status / withdraw / sync`` run,
and what an integrator imports (``tidehash.registry.Client``).

Standard library only (urllib, json, hashlib) plus the engine, so that a person's
device and a platform need nothing of the server. The wire shapes are the README's.

* Secrets travel only in request bodies, tokens only in the ``Authorization``
  header (never re-sent on a redirect); nothing secret is ever part of a URL.
* Every answer that is not a success is a RegistryError carrying the server's
  problem+json body (or one made up here when there was no HTTP answer: status 0).
* The snapshot is streamed and checked against its trailer (count and SHA-256 of
  every byte before it); a dropped connection resumes with ``Range`` + ``If-Range``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator

from .. import __version__
from ..files import hash_file
from . import pow as proof_of_work
from .wire import loads

PROBLEM_BASE = "https://tidehash.org/problems/"
#: how often a snapshot download is resumed after a dropped connection before giving up
SNAPSHOT_RESUMES = 5
#: the largest page of changes the server gives (README)
MAX_CHANGES_LIMIT = 10_000
_BLOCK = 1 << 20
_TRAILER = b'{"trailer"'


class RegistryError(Exception):
    """An answer of the registry that is not a success. ``status`` is the HTTP status
    (0 when no answer came: the registry could not be reached, or the answer was
    unusable); ``problem`` the problem+json body (``type``, ``title``, ``status``,
    ``detail``, and ``errors`` for a 400 naming the fields)."""

    def __init__(self, status: int, problem: dict):
        self.status = status
        self.problem = problem
        super().__init__(self.message)

    @property
    def title(self) -> str:
        return str(self.problem.get("title") or f"HTTP {self.status}")

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or "")

    @property
    def slug(self) -> str:
        """The last part of the problem's ``type`` (``not-found``, ``cursor-compacted``)."""
        kind = str(self.problem.get("type") or "")
        return kind[len(PROBLEM_BASE):] if kind.startswith(PROBLEM_BASE) else kind

    @property
    def message(self) -> str:
        """title, detail and the fields a 400 names, in one line."""
        text = self.title + (f": {self.detail}" if self.detail else "")
        errors = self.problem.get("errors")
        if isinstance(errors, list) and errors:
            shown = "; ".join(f"{e.get('loc')}: {e.get('msg')}" if isinstance(e, dict)
                              else str(e) for e in errors[:5])
            more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
            text += f" [{shown}{more}]"
        return text


class SnapshotError(RegistryError):
    """A snapshot that did not arrive whole: truncated, or not what its trailer says
    (status 0: the HTTP answer itself was a success)."""

    def __init__(self, title: str, detail: str):
        super().__init__(0, {"type": PROBLEM_BASE + "snapshot", "title": title,
                             "detail": detail})


def _problem(status: int, title: str, detail: str = "") -> dict:
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: a POST carrying a secret must not be replayed to
    another address, and the registry has no reason to redirect an API call."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class Client:
    """A client of one registry at ``url`` (``http://host:port``, or with a path
    prefix behind a proxy). ``token``: a platform's (``thp_...``) or the operator's
    (``tho_...``) bearer token, needed by the list, lookup and feedback routes only.
    ``timeout``: seconds per network operation."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 30):
        parts = urllib.parse.urlsplit(str(url).strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"registry URL must be http:// or https://, got {url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"registry URL must not have a query or fragment: {url!r}")
        if parts.username or parts.password:
            raise ValueError("registry URL must not carry a user name or password; "
                             "a platform passes its token instead")
        self.url = urllib.parse.urlunsplit((parts.scheme, parts.netloc,
                                            parts.path.rstrip("/"), "", ""))
        if token is not None and (not isinstance(token, str) or not token.strip()
                                  or any(c.isspace() for c in token.strip())):
            raise ValueError("token must be one word (thp_... or tho_...)")
        self.token = None if token is None else token.strip()
        self.timeout = timeout

    def __repr__(self) -> str:  # never the token
        return f"Client({self.url!r}, token={'set' if self.token else None})"

    # ------------------------------------------------------------------------- HTTP
    def _open(self, method: str, path: str, *, body=None, query: dict | None = None,
              headers: dict | None = None, auth: bool = False):
        """The HTTP response of one request (a success), or RegistryError."""
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None
        req = urllib.request.Request(url, method=method)
        req.add_header("User-Agent", f"tidehash/{__version__}")
        req.add_header("Accept-Encoding", "identity")
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            req.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        if auth:
            if not self.token:
                raise RegistryError(401, _problem(401, "no token",
                                                  "this route needs a platform's token"))
            # an unredirected header is never carried to another address
            req.add_unredirected_header("Authorization", f"Bearer {self.token}")
        req.data = data
        try:
            return _OPENER.open(req, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            raise self._error(exc) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegistryError(0, _problem(0, "cannot reach the registry",
                                            f"{self.url}: {reason}")) from None

    @staticmethod
    def _error(exc: urllib.error.HTTPError) -> RegistryError:
        status = exc.code
        try:
            raw = exc.read(1 << 16)
        except (OSError, http.client.HTTPException):
            raw = b""
        finally:
            exc.close()
        problem = None
        try:
            parsed = loads(raw)
            if isinstance(parsed, dict):
                problem = parsed
        except ValueError:
            pass
        if problem is None:
            if 300 <= status < 400:
                where = exc.headers.get("Location", "")
                problem = _problem(status, "the registry redirected the request",
                                   f"to {where!r}: use that URL as --registry")
            else:
                text = raw.decode("utf-8", "replace").strip()[:200]
                problem = _problem(status, exc.reason or f"HTTP {status}", text)
        return RegistryError(status, problem)

    def _json(self, method: str, path: str, **kwargs) -> dict:
        with self._open(method, path, **kwargs) as resp:
            try:
                raw = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                raise RegistryError(0, _problem(0, "the answer was cut off", str(exc))) \
                    from None
        try:
            out = loads(raw)
        except ValueError:
            out = None
        if not isinstance(out, dict):
            raise RegistryError(0, _problem(resp.status, "not a registry answer",
                                            f"{path}: the body is not a JSON object"))
        return out

    # ------------------------------------------------------------------------- person
    def challenge(self) -> dict:
        """A proof-of-work challenge: {"challenge", "difficulty", "expires_in",
        "algorithm"}."""
        return self._json("GET", "/v1/challenge")

    def submit(self, items: list[dict]) -> dict:
        """Send ``items`` (the README's image / video item shapes) as one case: fetches
        a challenge, solves it, posts. Returns the 201 body: {"case_id", "secret",
        "items": [{"item", "kind", "status"}]}. The secret is shown only this once."""
        items = list(items)
        for attempt in range(2):
            challenge = self.challenge()
            body: dict = {"items": items}
            difficulty = challenge.get("difficulty")
            if not isinstance(difficulty, int) or isinstance(difficulty, bool) \
                    or not 0 <= difficulty <= proof_of_work.MAX_DIFFICULTY \
                    or challenge.get("algorithm", proof_of_work.ALGORITHM) \
                    != proof_of_work.ALGORITHM:
                raise RegistryError(0, _problem(0, "unknown proof of work",
                                                f"{challenge!r:.200}"))
            if difficulty > 0:
                text = str(challenge["challenge"])
                body["pow"] = {"challenge": text,
                               "nonce": proof_of_work.solve(text, difficulty)}
            try:
                return self._json("POST", "/v1/cases", body=body)
            except RegistryError as exc:
                # a challenge that expired while it was solved: once more, with a new one
                if exc.status != 400 or exc.slug != "challenge" or attempt:
                    raise
        raise AssertionError("unreachable")

    def submit_files(self, paths: Iterable, *, max_pixels: int | None = None) -> dict:
        """Hash ``paths`` on this machine (images: PDQ + quality, MD5, SHA-256; videos:
        MD5, SHA-256, vPDQ) and submit the hashes as one case; nothing else leaves the
        machine. Raises tidehash.DecodeError for a file that cannot be hashed (before
        anything is sent). Returns submit()'s body."""
        return self.submit([file_item(p, max_pixels=max_pixels) for p in paths])

    def status(self, case_id: str, secret: str) -> dict:
        """{"case_id", "created", "items": [{"item", "kind", "status"}]}; status is
        pending, active, withdrawn or removed. An unknown case or a wrong secret: 404."""
        return self._json("POST", "/v1/cases/status",
                          body={"case_id": case_id, "secret": secret})

    def withdraw(self, case_id: str, secret: str, items: Iterable[int] | None = None) -> dict:
        """Withdraw the whole case, or the items numbered ``items``; the same shape as
        status(). Withdrawing again is harmless."""
        body: dict = {"case_id": case_id, "secret": secret}
        if items is not None:
            body["items"] = [int(i) for i in items]
        return self._json("POST", "/v1/cases/withdraw", body=body)

    # ------------------------------------------------------------------------- platform
    def changes(self, cursor: str | None = None, limit: int = 1000) -> dict:
        """One page of changes after ``cursor`` (None: from the start): {"changes",
        "cursor", "more", "head"}. A compacted cursor is a RegistryError with status
        410 (take a snapshot)."""
        query: dict = {"limit": int(limit)}
        if cursor is not None:
            query["cursor"] = cursor
        return self._json("GET", "/v1/list/changes", query=query, auth=True)

    def lookup(self, queries: list[dict]) -> dict:
        """{"results": [{"query", "matches": [...]}]} for up to 1,000 queries (one signal
        each: {"pdq", "quality"?, "radius"?, "dihedral"?}, {"md5"}, {"sha256"},
        {"vpdq": [frames]})."""
        return self._json("POST", "/v1/lookup", body={"queries": list(queries)}, auth=True)

    def feedback(self, items: list[dict]) -> dict:
        """Store verdicts ({"id", "verdict", "comment"?}) on entries: {"stored": n}."""
        return self._json("POST", "/v1/feedback", body={"feedback": list(items)}, auth=True)

    def snapshot(self, dest=None):
        """The whole list at the registry's head. With ``dest`` (a binary file object):
        writes the entry lines to it and returns the trailer {"seq", "count", "sha256",
        "cursor"}. Without: a Snapshot, an iterator of entry dicts whose ``trailer`` is
        set once it is exhausted. Either way the stream is checked against its trailer
        at the end (SnapshotError), so whatever was written or yielded counts only once
        the call returns / the iteration ends without an error."""
        if dest is None:
            return Snapshot(self)
        stream = SnapshotStream(self)
        for block in stream:
            if block is RESTART:
                if not (hasattr(dest, "seekable") and dest.seekable()):
                    raise SnapshotError("the snapshot changed while it was read",
                                        "read it again")
                dest.seek(0)
                dest.truncate()
                continue
            dest.write(block)
        return stream.trailer

    def sync_list(self, path, *, limit: int = MAX_CHANGES_LIMIT) -> dict:
        """Keep the tidehash list file ``path`` current with this registry: the first
        time a snapshot, then the changes after the cursor kept in the file; a
        compacted cursor (410) takes a new snapshot. The file is replaced atomically
        (a crash leaves the old list or the new one; the next run goes on from
        there). Returns {"list", "mode", "entries", "added", "removed", "updated",
        "seq", "head", "cursor"}. ``tidehash match --against path`` and
        ``tidehash.Matcher.load(path)`` read it; match ids are the entry ids."""
        from ..formats.binary import load_list
        from . import listsync

        path = os.fspath(path)
        with listsync.locked(path):
            # the cursor is all a sync with nothing new needs: the arrays are checked
            # (checksums, tables) only before they are changed and written again
            old = load_list(path, verify=False) if os.path.exists(path) else None
            if old is None:
                return self._sync_snapshot(path, None)
            state = listsync.registry_state(old, path, self.url)
            hl, seq, cursor = old, state["seq"], state["cursor"]
            head = state.get("head", seq)
            entries = int(state.get("entries", 0))
            totals = {"added": 0, "removed": 0, "updated": 0}
            more = True
            while more:
                batch: list = []
                while more and len(batch) < listsync.APPLY_EVERY:
                    try:
                        page = self.changes(cursor, limit)
                    except RegistryError as exc:
                        if exc.status == 410:  # compacted away: start again from a snapshot
                            return self._sync_snapshot(path, old)
                        raise
                    changes = page.get("changes")
                    if not isinstance(changes, list) or not isinstance(page.get("cursor"), str):
                        raise listsync.SyncError("not a page of changes")
                    listsync.check_seqs([c.get("seq") if isinstance(c, dict) else None
                                         for c in changes], seq + len(batch))
                    batch.extend(changes)
                    cursor, head = page["cursor"], page.get("head", head)
                    more = bool(page.get("more"))
                    if more and not changes:
                        raise listsync.SyncError("the registry says there are more changes "
                                                 "but sent none")
                if not batch:
                    break
                if hl is old:
                    hl = load_list(path)  # verified: a damaged list is not carried on
                hl, stats = listsync.apply_changes(hl, batch, self.url)
                seq += len(batch)
                entries += stats["added"] - stats["removed"]
                for name in totals:
                    totals[name] += stats[name]
                listsync.save_synced(hl, path, self.url, seq=seq, cursor=cursor, head=head,
                                     entries=entries)
            return {"list": path, "mode": "changes", "entries": entries, **totals,
                    "seq": seq, "head": head, "cursor": cursor}

    def _sync_snapshot(self, path: str, old) -> dict:
        from . import listsync

        builder = listsync.SnapshotBuilder(self.url)
        stream = SnapshotStream(self)
        for block in stream:
            if block is RESTART:
                builder = listsync.SnapshotBuilder(self.url)
                continue
            builder.add_lines(block)
        trailer = stream.trailer
        seq, cursor = trailer["seq"], trailer["cursor"]
        if type(seq) is not int or not isinstance(cursor, str):
            raise SnapshotError("malformed snapshot", "the trailer has no seq or cursor")
        hl = builder.finish()
        entries = builder.count
        added, removed = entries, 0
        if old is not None:
            added, removed = listsync.id_differences(old, hl)
        listsync.save_synced(hl, path, self.url, seq=seq, cursor=cursor, head=seq,
                             entries=entries)
        return {"list": path, "mode": "snapshot", "entries": entries, "added": added,
                "removed": removed, "updated": 0, "seq": seq, "head": seq, "cursor": cursor}


class _Restart:
    def __repr__(self) -> str:
        return "RESTART"


#: yielded by Client.snapshot_blocks when the snapshot starts over
RESTART = _Restart()


class SnapshotStream:
    """One download of the snapshot, as blocks of whole entry lines (bytes), checked
    against the trailer when the stream ends (``trailer`` is set then, else
    SnapshotError). A dropped connection is resumed where it stopped (``Range`` with
    ``If-Range`` on the snapshot's ETag); when the server answers a resume with a
    whole new snapshot (the old one was compacted away), RESTART is yielded first:
    drop what came before it."""

    def __init__(self, client: Client, block_size: int = _BLOCK):
        self._client = client
        self._block_size = block_size
        self.trailer: dict | None = None
        self.resumed = 0  # how many times a dropped connection was resumed

    def __iter__(self) -> Iterator:
        digest, count, offset, etag, failures = hashlib.sha256(), 0, 0, None, 0
        restarts = 0
        while True:
            headers = {"Accept": "application/x-ndjson"}
            if offset:
                headers["Range"] = f"bytes={offset}-"
                headers["If-Range"] = etag
                self.resumed += 1
            resp = self._client._open("GET", "/v1/list/snapshot", headers=headers,
                                      auth=True)
            try:
                if offset and resp.status == 206:
                    _check_content_range(resp.headers.get("Content-Range"), offset)
                elif offset:  # a new snapshot, from its start
                    restarts += 1
                    if restarts > SNAPSHOT_RESUMES:
                        raise SnapshotError("the snapshot keeps changing",
                                            f"it started over {restarts} times")
                    digest, count, offset = hashlib.sha256(), 0, 0
                    yield RESTART
                if not offset:
                    etag = resp.headers.get("ETag")
                pending = b""
                while True:
                    try:
                        data = resp.read(self._block_size)
                    except (OSError, http.client.HTTPException):
                        data = b""  # dropped: resumed below
                    if not data:
                        break
                    data = pending + data
                    cut = data.rfind(b"\n") + 1
                    pending, whole = data[cut:], data[:cut]
                    if not whole:
                        continue
                    # the trailer is the stream's last line: only the block's last
                    # line can be it (a line after it makes it an entry line, and the
                    # stream then ends without a trailer)
                    last = whole.rfind(b"\n", 0, len(whole) - 1) + 1
                    at = last if whole.startswith(_TRAILER, last) else -1
                    if at >= 0:
                        entries = whole[:at]
                        if entries:
                            digest.update(entries)
                            count += entries.count(b"\n")
                            yield entries
                        self.trailer = _finish_trailer(resp, whole[at:] + pending, etag,
                                                       digest, count)
                        return
                    digest.update(whole)
                    count += whole.count(b"\n")
                    offset += len(whole)
                    yield whole
                    failures = 0  # progress was made: the budget of resumes starts again
            finally:
                resp.close()
            failures += 1
            if failures > SNAPSHOT_RESUMES or etag is None:
                raise SnapshotError("truncated snapshot",
                                    f"the stream ended after {offset} bytes ({count} "
                                    "entries) without its trailer")


class Snapshot:
    """Client.snapshot() without a destination: the entries (dicts) in the order of
    publication. ``trailer`` is set when the iteration ends; a stream that was cut or
    does not match its trailer raises SnapshotError at the end."""

    def __init__(self, client: Client):
        self._stream = SnapshotStream(client)
        self.trailer: dict | None = None

    def __iter__(self) -> Iterator[dict]:
        for block in self._stream:
            if block is RESTART:
                raise SnapshotError("the snapshot changed while it was read",
                                    "read it again")
            yield from parse_entry_lines(block)
        self.trailer = self._stream.trailer


def parse_entry_lines(block: bytes) -> list:
    """The JSON values of whole NDJSON lines (one json.loads call for the block)."""
    if not block:
        return []
    try:
        return loads(b"[" + block.rstrip(b"\n").replace(b"\n", b",") + b"]")
    except ValueError:
        pass
    out = []
    for number, line in enumerate(block.splitlines(), 1):
        try:
            out.append(loads(line))
        except ValueError:
            raise SnapshotError("malformed snapshot",
                                f"line {number} of a block is not JSON: {line[:80]!r}") \
                from None
    return out


def _check_content_range(value: str | None, offset: int) -> None:
    try:
        unit, _, rest = (value or "").partition(" ")
        start = int(rest.split("-", 1)[0])
    except ValueError:
        start = -1
    if unit != "bytes" or start != offset:
        raise SnapshotError("bad resume", f"asked for bytes {offset}-, got {value!r}")


def _finish_trailer(resp, rest: bytes, etag, digest, count: int) -> dict:
    """The trailer line (with what followed it) checked against the stream."""
    try:
        rest += resp.read()
    except (OSError, http.client.HTTPException):
        pass  # the trailer came whole; a cut after it changes nothing
    line, _, after = rest.partition(b"\n")
    try:
        trailer = loads(line)["trailer"]
        seq, n, sha = trailer["seq"], trailer["count"], trailer["sha256"]
    except (ValueError, KeyError, TypeError):
        raise SnapshotError("malformed snapshot", f"bad trailer line {line[:200]!r}") \
            from None
    if after.strip():
        raise SnapshotError("malformed snapshot", "bytes after the trailer line")
    if n != count:
        raise SnapshotError("truncated snapshot",
                            f"{count} entry lines, the trailer says {n}")
    if sha != digest.hexdigest():
        raise SnapshotError("corrupt snapshot",
                            "the SHA-256 of the entry lines is not the trailer's")
    if etag is not None and etag.strip('W/"') != str(seq):
        raise SnapshotError("malformed snapshot",
                            f"the trailer's seq {seq} is not the ETag's {etag}")
    return trailer


# ----------------------------------------------------------------------------- items
def file_item(path, *, max_pixels: int | None = None) -> dict:
    """The README's item for one file, hashed here: an image's PDQ (with quality),
    MD5 and SHA-256, a video's MD5, SHA-256 and vPDQ frames. An all-zero PDQ (the
    reference's answer for an image with no detail) is left out, as are all-zero
    frames; the digests still identify exact copies."""
    options = {} if max_pixels is None else {"max_pixels": max_pixels}
    rec = hash_file(os.fspath(path), algorithms=("pdq", "md5", "sha256", "vpdq"), **options)
    return item_of(rec)


_ZERO_PDQ = "0" * 64


def item_of(rec) -> dict:
    """The item for a FileHashes (``hash_file`` with pdq, md5, sha256 and vpdq)."""
    if rec.kind == "video":
        frames = [f.to_json() for f in rec.vpdq or () if f.hex != _ZERO_PDQ]
        item = {"kind": "video", "md5": rec.md5, "sha256": rec.sha256}
        if frames:
            item["vpdq"] = frames
        return item
    item = {"kind": "image"}
    if rec.pdq is not None and rec.pdq.hex != _ZERO_PDQ:
        item["pdq"] = rec.pdq.hex
        item["quality"] = rec.pdq.quality
    item["md5"], item["sha256"] = rec.md5, rec.sha256
    return item
