"""A platform's verdicts on matches, sent back to each bank's source in its own
protocol, queued in the database and retried.

``POST /m/feedback`` (one match: bank, content id, verdict ``confirmed`` | ``rejected``)
writes a ``matcher_feedback`` row and answers 202 only once it is committed (SQLite
synchronous=FULL, PostgreSQL: it survives kill -9). A worker thread sends each due row:

* tidehash: ``POST /v1/feedback`` (``confirmed``; ``rejected`` as ``not_ncii``);
* NCMEC: ``PUT /v2/entries/{member}/{id}/{PDQ|MD5|SHA256}/feedback`` with
  ``<affirmative/>`` or ``<negative>`` naming the first reason ``GET
  /v2/feedback/{type}/reasons`` lists whose name says "not" (else the first);
* StopNCII: ``POST SubmitFeedback`` (``Blocked`` / ``NotBlocked``).

A failure (no answer, 429, 5xx, 401/403) is retried after 1, 2, 4, ... s, at most
``cap`` seconds apart, ``attempts`` times in all, then the row is ``failed`` with the
last error; a refusal (another 4xx: the source does not know the entry) fails at once.
Several matcher processes share the queue: a row is claimed (its next attempt pushed
``lease`` seconds ahead in one UPDATE that only one process can win) before it is
sent. Nothing in a row or a log line is about a person or an upload."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from xml.sax.saxutils import escape

from sqlalchemy import insert, select, update

from .... import __version__
from ...client import Client, RegistryError
from ...sources import CredentialsError
from ...sources.base import PageFormatError, parse_xml
from .. import schema

log = logging.getLogger("tidehash.matcher")
F = schema.matcher_feedback.c
VERDICTS = {"confirmed": True, "confirm": True, "rejected": False, "reject": False}
_RETRY = frozenset((401, 403, 408, 429, 500, 502, 503, 504))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A source's credentials are never carried to another address."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class FeedbackRefused(ValueError):
    """A verdict the queue does not take (``status`` 400 / 404)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Delivery(Exception):
    """A delivery that failed; ``permanent`` when sending it again cannot help."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class FeedbackQueue:
    def __init__(self, matcher, *, interval: float = 0.5, backoff: float = 1.0,
                 cap: float = 300.0, attempts: int = 10, lease: float = 60.0,
                 timeout: float = 30.0):
        self.matcher = matcher
        self.interval = interval
        self.backoff = backoff
        self.cap = cap
        self.attempts = attempts
        self.lease = lease
        self.timeout = timeout
        self.sent = 0
        self.failed = 0
        self.retried = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ queue
    def enqueue(self, bank_name, content_id, verdict) -> dict:
        bank = self.matcher.bank(bank_name) if isinstance(bank_name, str) else None
        if bank is None:
            raise FeedbackRefused(404, f"no bank {str(bank_name)[:64]!r}")
        if bank.config.kind == "list":
            raise FeedbackRefused(400, f"bank {bank.name} is a list file: there is no source "
                                       "to send feedback to")
        if verdict not in VERDICTS:
            raise FeedbackRefused(400, "verdict must be \"confirmed\" or \"rejected\"")
        if isinstance(content_id, bool) or not isinstance(content_id, int) \
                or not 0 <= content_id < 1 << 63:
            raise FeedbackRefused(400, "bank_content_id must be an integer (a match's)")
        if bank.store.entry(bank.bank_id, content_id) is None:
            raise FeedbackRefused(404, f"bank {bank.name} has no content {content_id}")
        now = time.time()
        with self.matcher.db.begin() as conn:
            row_id = conn.execute(insert(schema.matcher_feedback).values(
                bank_id=bank.bank_id, entry_id=content_id,
                verdict="confirmed" if VERDICTS[verdict] else "rejected", state="queued",
                attempts=0, next_at=now, created=int(now))).inserted_primary_key[0]
        self._wake.set()
        return {"id": int(row_id), "state": "queued"}

    def status(self, feedback_id: int) -> dict | None:
        with self.matcher.db.connect() as conn:
            row = conn.execute(select(schema.matcher_feedback).where(
                F.id == feedback_id)).first()
        if row is None:
            return None
        bank = next((b.name for b in self.matcher.banks if b.bank_id == row.bank_id), None)
        return {"id": int(row.id), "bank": bank, "bank_content_id": int(row.entry_id),
                "verdict": row.verdict, "state": row.state, "attempts": int(row.attempts),
                "last_error": row.last_error}

    def counts(self) -> dict:
        from sqlalchemy import func

        with self.matcher.db.connect() as conn:
            rows = conn.execute(select(F.state, func.count()).group_by(F.state)).all()
        return {"queued": 0, "sent": 0, "failed": 0, **{r[0]: int(r[1]) for r in rows}}

    # ------------------------------------------------------------------ worker
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tidehash-feedback",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while self._one() and not self._stop.is_set():
                    pass
            except Exception as exc:  # noqa: BLE001 - the worker outlives a database fault
                log.warning("event=feedback_error error=%s", type(exc).__name__)
            self._wake.wait(self.interval)
            self._wake.clear()

    def _one(self) -> bool:
        """Claim and send one due row; False when none is due."""
        now = time.time()
        with self.matcher.db.connect() as conn:
            row = conn.execute(select(schema.matcher_feedback).where(
                F.state == "queued", F.next_at <= now).order_by(F.next_at).limit(1)).first()
        if row is None:
            return False
        with self.matcher.db.begin() as conn:
            claimed = conn.execute(update(schema.matcher_feedback).where(
                F.id == row.id, F.state == "queued", F.next_at == row.next_at).values(
                next_at=now + self.lease)).rowcount
        if claimed != 1:
            return True  # another process took it
        bank = next((b for b in self.matcher.banks if b.bank_id == row.bank_id), None)
        error, permanent = None, False
        try:
            if bank is None:
                raise Delivery("the bank is no longer configured", permanent=True)
            entry = bank.store.entry(bank.bank_id, int(row.entry_id))
            if entry is None:
                raise Delivery("the entry is gone", permanent=True)
            send(bank, entry, row.verdict == "confirmed", self.timeout)
        except Delivery as exc:
            error, permanent = str(exc), exc.permanent
        except (CredentialsError, ValueError) as exc:
            error = " ".join(str(exc).split())[:300]
        attempts = int(row.attempts) + 1
        if error is None:
            values = {"state": "sent", "attempts": attempts, "last_error": None}
            self.sent += 1
        elif permanent or attempts >= self.attempts:
            values = {"state": "failed", "attempts": attempts, "last_error": error}
            self.failed += 1
        else:
            delay = min(self.cap, self.backoff * 2 ** (attempts - 1))
            values = {"attempts": attempts, "last_error": error, "next_at": time.time() + delay}
            self.retried += 1
        with self.matcher.db.begin() as conn:
            conn.execute(update(schema.matcher_feedback).where(F.id == row.id).values(**values))
        log.info("event=feedback bank=%s state=%s attempts=%d", bank.name if bank else "?",
                 values.get("state", "queued"), attempts)
        return True


# ----------------------------------------------------------------------------- protocols
def send(bank, entry, positive: bool, timeout: float) -> None:
    kind = bank.config.kind
    if kind == "tidehash":
        creds = bank.config.credentials()
        client = Client(creds["url"], token=creds["token"], timeout=timeout)
        try:
            client.feedback([{"id": f"{int(entry.id):016x}",
                              "verdict": "confirmed" if positive else "not_ncii"}])
        except RegistryError as exc:
            raise Delivery(f"tidehash: HTTP {exc.status}: {exc.message}"[:300],
                           permanent=exc.status not in _RETRY and exc.status != 0) from None
    elif kind == "ncmec":
        _ncmec(bank.config.credentials(), entry, positive, timeout)
    elif kind == "stopncii":
        _stopncii(bank.config.credentials(), entry, positive, timeout)
    else:
        raise Delivery(f"a {kind} bank takes no feedback", permanent=True)


def _request(method: str, url: str, headers: dict, body: bytes | None, timeout: float) -> bytes:
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("User-Agent", f"tidehash/{__version__}")
    for name, value in headers.items():
        req.add_unredirected_header(name, value)
    where = urllib.parse.urlsplit(url).path
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return resp.read(1 << 20)
    except urllib.error.HTTPError as exc:
        status = exc.code
        exc.close()
        raise Delivery(f"{where}: HTTP {status}", permanent=status not in _RETRY) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise Delivery(f"{where}: no answer ({getattr(exc, 'reason', exc)})") from None


def _ncmec(creds: dict, entry, positive: bool, timeout: float) -> None:
    import base64

    label = entry.label or ""
    parts = label.split(":")
    if len(parts) != 3 or parts[0] != "ncmec":
        raise Delivery("not an NCMEC entry (no member and id)", permanent=True)
    member, entry_id = parts[1], parts[2]
    fingerprint = "PDQ" if entry.pdq is not None else "MD5" if entry.md5 is not None \
        else "SHA256"
    token = base64.b64encode(f"{creds['user']}:{creds['password']}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    base = creds["url"].rstrip("/")
    if positive:
        body = "<feedbackSubmission><affirmative/></feedbackSubmission>"
    else:
        raw = _request("GET", f"{base}/v2/feedback/{fingerprint}/reasons",
                       {**headers, "Accept": "application/xml"}, None, timeout)
        try:
            root = parse_xml(raw)
        except PageFormatError as exc:
            raise Delivery(f"the feedback reasons: {exc}") from None
        reasons = [r for group in root.children for r in group.children
                   if r.tag == "reason" and r.attrs.get("guid")]
        if not reasons:
            raise Delivery("the source lists no negative feedback reason")
        chosen = next((r for r in reasons if "not" in r.attrs.get("name", "").lower()),
                      reasons[0])
        body = ("<feedbackSubmission><negative><reasonIds><guid>"
                f"{escape(chosen.attrs['guid'])}</guid></reasonIds></negative>"
                "</feedbackSubmission>")
    path = "/".join(urllib.parse.quote(p, safe="") for p in (member, entry_id, fingerprint))
    _request("PUT", f"{base}/v2/entries/{path}/feedback",
             {**headers, "Content-Type": "application/xml; charset=utf-8"},
             body.encode(), timeout)


def _stopncii(creds: dict, entry, positive: bool, timeout: float) -> None:
    parts = (entry.label or "").split(":")
    if len(parts) != 3 or parts[0] != "stopncii":
        raise Delivery("not a StopNCII entry", permanent=True)
    body = {"count": 1, "hashFeedbacks": [{
        "hashValue": parts[2], "signalType": parts[1],
        "feedbackValue": "Blocked" if positive else "NotBlocked"}]}
    _request("POST", creds["url"].rstrip("/") + "/SubmitFeedback",
             {"Ocp-Apim-Subscription-Key": creds["subscription_key"],
              "x-functions-key": creds["fetch_key"], "Content-Type": "application/json"},
             json.dumps(body).encode(), timeout)
