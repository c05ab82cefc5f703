"""The registry's list as StopNCII's hash API (JSON) serves it, under ``/stopncii/v1/``:
python-threatexchange's ``StopNCIIAPI`` with ``base_url_override=URL/stopncii/v1`` and a
platform token as its keys pulls it and sends feedback.

* Auth: the token in ``x-functions-key`` or ``Ocp-Apim-Subscription-Key`` (StopNCII's
  function key and subscription key; a client sends both: give it the token as both).
* ``GET FetchHashes?startTimestamp&pageSize&nextPageToken``: one record per hash
  (``signalType`` ``ImagePDQ`` for an image's PDQ, ``VideoMD5`` for a video's MD5; the
  other hashes of an entry have no StopNCII type and are not in this view) that changed
  in the view's seconds (startTimestamp, now - SLACK] (``views``: the clock), with its
  state at the end of that window: ``hashStatus`` ``Active`` if any case holding it is,
  else ``Withdrawn`` if every case withdrew it, else ``Deleted`` (the operator removed
  it); ``caseNumbers``: the platform's pseudonym of each case -> that case's status;
  ``caseTiers`` (the registry's own field; clients that do not know it ignore it): the
  same pseudonyms -> the case's trust tier, ``person`` or ``partner``;
  ``lastModtimestamp``: the view's time of the hash's last change. ``nextPageToken``
  (signed; the window's bounds and the next key) pages the same window; on the last page
  it is null and ``hasMoreRecords`` false. ``nextSetTimestamp``: the time to start the
  next pull from: the window's end on the last page, before it the last second every
  record of which has been sent.
* ``POST SubmitFeedback`` ``{"count", "hashFeedbacks": [{"hashValue", "feedbackValue",
  "tags"?, "signalType"?}]}``: feedback on every published entry with that hash
  (``Blocked``: confirmed, ``NotBlocked``: disputed, ``PendingReview``: matched; the
  other values are taken and not stored); the tags are kept as the comment.

Errors are ``application/problem+json`` as everywhere in the registry."""

from __future__ import annotations

import base64
import hmac
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, or_, select
from starlette.concurrency import run_in_threadpool

from . import schema, views
from .keys import case_pseudonym
from .problems import Problem
from .problems import responses as problems

DEFAULT_PAGE = 1000
MAX_PAGE = 10_000
_E = schema.entry.c
_INT = re.compile(r"^\d{1,12}$", re.ASCII)
_TOKEN = re.compile(r"^thp_")
_CHALLENGE = 'ApiKey header="x-functions-key"'
#: a signal type as clients spell it (case, "_" and pytx's "StopNCIISignalType." aside)
SIGNAL_TYPES = {"imagepdq": "ImagePDQ", "pdq": "ImagePDQ", "videomd5": "VideoMD5",
                "md5": "VideoMD5"}
#: StopNCII feedbackValue -> the registry's verdict (None: taken, not stored)
FEEDBACK = {"Blocked": "confirmed", "NotBlocked": "disputed", "PendingReview": "matched",
            "None": None, "Unknown": None, "QualityUnknown": None, "Withdrawn": None,
            "Deleted": None}
_STATUS = {"active": "Active", "withdrawn": "Withdrawn", "removed": "Deleted"}

#: the OpenAPI security schemes of the view (app.py puts them in the document): either
#: header carries the platform token
SECURITY_SCHEMES = {
    "StopNCIIFunctionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key",
                            "description": "a platform token"},
    "StopNCIISubscriptionKey": {"type": "apiKey", "in": "header",
                                "name": "Ocp-Apim-Subscription-Key",
                                "description": "a platform token"}}
_SECURITY = [{"StopNCIIFunctionKey": []}, {"StopNCIISubscriptionKey": []}]
_HASH_STATUS = {"type": "string", "enum": list(_STATUS.values())}
FETCH_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["count", "nextPageToken", "nextSetTimestamp", "hasMoreRecords",
                 "hashRecords"],
    "properties": {
        "count": {"type": "integer", "minimum": 0},
        "nextPageToken": {"type": ["string", "null"]},
        "nextSetTimestamp": {"type": "integer", "minimum": 0},
        "hasMoreRecords": {"type": "boolean"},
        "hashRecords": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["lastModtimestamp", "signalType", "hashValue", "hashStatus",
                         "caseNumbers", "caseTiers", "CSPFeedbacks"],
            "properties": {
                "lastModtimestamp": {"type": "integer", "minimum": 0},
                "signalType": {"type": "string", "enum": ["ImagePDQ", "VideoMD5"]},
                "hashValue": {"type": "string", "pattern": "^[0-9a-f]{32}([0-9a-f]{32})?$"},
                "hashStatus": _HASH_STATUS,
                "caseNumbers": {"type": "object", "additionalProperties": _HASH_STATUS},
                "caseTiers": {"type": "object", "additionalProperties": {
                    "type": "string", "enum": ["person", "partner"]}},
                "CSPFeedbacks": {"type": "array", "maxItems": 0}}}}}}
FEEDBACK_RESULT_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["count", "stored"],
    "properties": {"count": {"type": "integer", "minimum": 0},
                   "stored": {"type": "integer", "minimum": 0}}}


def _json_200(description: str, schema: dict) -> dict:
    return {"200": {"description": description,
                    "content": {"application/json": {"schema": schema}}}}


def signal_type(text) -> str | None:
    if not isinstance(text, str):
        return None
    name = text.rpartition(".")[2] if text.startswith("StopNCIISignalType.") else text
    return SIGNAL_TYPES.get(name.replace("_", "").lower())


def _bad(loc: str, msg: str) -> Problem:
    return Problem(400, "invalid-request", f"{loc}: {msg}", errors=[{"loc": loc, "msg": msg}])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class HashFeedback(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    hashValue: str = Field(pattern=r"^[0-9a-fA-F]{32}([0-9a-fA-F]{32})?$")
    feedbackValue: str = Field(max_length=40)
    tags: list[Annotated[str, Field(max_length=100)]] = Field(default=[], max_length=20)
    signalType: str | None = Field(default=None, max_length=60)
    source: str | None = Field(default=None, max_length=200)


def feedback_model(max_feedback: int):
    class SubmitFeedback(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        count: int | None = Field(default=None, ge=0)
        hashFeedbacks: list[HashFeedback] = Field(max_length=max_feedback)
    return SubmitFeedback


def _hash_of(entry) -> tuple[str, str] | None:
    if entry.kind == "image" and entry.pdq is not None:
        return "ImagePDQ", bytes(entry.pdq).hex()
    if entry.kind == "video" and entry.md5 is not None:
        return "VideoMD5", bytes(entry.md5).hex()
    return None


_HAS_HASH = or_(and_(_E.kind == "image", _E.pdq.is_not(None)),
                and_(_E.kind == "video", _E.md5.is_not(None)))


def _aggregate(statuses) -> str:
    statuses = set(statuses)
    if "active" in statuses:
        return "active"
    return "withdrawn" if statuses == {"withdrawn"} else "removed"


def router(settings, services, read_json, schemas: dict | None = None) -> APIRouter:
    """The routes; ``services``: the app's dependency giving its Services;
    ``read_json(request, model, max_body)``: the app's reading of a JSON body;
    ``schemas``: the OpenAPI document's component schemas, to add the body's to."""
    Svc = Depends(services)
    api = APIRouter(prefix="/stopncii/v1", tags=["stopncii"])
    model = feedback_model(settings.max_feedback)
    body_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    if schemas is not None:
        schemas.update(body_schema.pop("$defs", {}))
        schemas["SubmitFeedback"] = body_schema

    class Tokens:
        """nextPageToken: lo, hi, start (seqs) and the window's two seconds, signed."""

        def __init__(self, keys):
            self.keys = keys

        def encode(self, *values: int) -> str:
            raw = b"".join(int(v).to_bytes(8, "big") for v in values)
            return f"s1.{_b64(raw)}.{_b64(self.keys.mac('cursor', b's1' + raw)[:12])}"

        def decode(self, text: str) -> tuple[int, ...]:
            parts = text.split(".")
            try:
                if len(text) > 200 or len(parts) != 3 or parts[0] != "s1":
                    raise ValueError
                raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
                mac = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
                if len(raw) != 40 or not hmac.compare_digest(
                        mac, self.keys.mac("cursor", b"s1" + raw)[:12]):
                    raise ValueError
            except (ValueError, TypeError):
                raise Problem(400, "bad-cursor", "nextPageToken: not a token of this "
                              "registry", errors=[{"loc": "nextPageToken",
                                                   "msg": "not a token of this registry"}]
                              ) from None
            return tuple(int.from_bytes(raw[i:i + 8], "big") for i in range(0, 40, 8))

    async def platform(request: Request, svc, scope: str):
        given = [v.strip() for v in (request.headers.get("x-functions-key"),
                                     request.headers.get("ocp-apim-subscription-key"))
                 if v is not None and v.strip()]
        given = list(dict.fromkeys(given))
        if len(given) > 1:  # one may be a gateway's own key: take the token-shaped one
            given = [v for v in given if _TOKEN.match(v)]
            if len(given) != 1:
                raise Problem(401, "unauthorized", "the two key headers carry different "
                              "tokens", headers={"WWW-Authenticate": _CHALLENGE})
        token = given[0] if given else None

        def check():
            principal = views.check_token(svc.store, token, (scope,), challenge=_CHALLENGE)
            return principal, views.clock(svc).mark()
        return await run_in_threadpool(check)

    @api.get("/FetchHashes", responses={
        **_json_200("the hashes that changed in the window, a page", FETCH_SCHEMA),
        **problems(400)}, openapi_extra={"security": _SECURITY, "parameters": [
            {"name": "startTimestamp", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 0, "maximum": 10**12 - 1}},
            {"name": "pageSize", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
            {"name": "nextPageToken", "in": "query", "required": False,
             "schema": {"type": "string", "maxLength": 200}}]})
    async def fetch_hashes(request: Request, svc=Svc):
        principal, now = await platform(request, svc, "list:read")
        params = request.query_params
        for name in params:
            if name not in ("startTimestamp", "pageSize", "nextPageToken"):
                raise _bad(name, "not a parameter of FetchHashes")
        size = DEFAULT_PAGE
        text = params.get("pageSize")
        if text is not None:
            if not _INT.fullmatch(text) or not 1 <= int(text) <= MAX_PAGE:
                raise _bad("pageSize", f"an integer 1..{MAX_PAGE}")
            size = int(text)
        start_t = 0
        if params.get("startTimestamp") is not None:
            if not _INT.fullmatch(params["startTimestamp"]):
                raise _bad("startTimestamp", "unix seconds (an integer >= 0)")
            start_t = int(params["startTimestamp"])
        tokens = Tokens(svc.keys)
        page_token = params.get("nextPageToken")
        window = tokens.decode(page_token) if page_token else None
        clock = views.clock(svc)

        def read():
            with svc.db.connect() as conn:
                if window is None:
                    t_lo = start_t
                    t_hi = max(min(now - views.SLACK, 1 << 40), t_lo)
                    lo, hi = clock.seq_at(conn, t_lo), clock.seq_at(conn, t_hi)
                    first = lo + 1
                else:
                    lo, hi, first, t_lo, t_hi = window
                rows = views.window(conn, lo, hi, first, size + 1, extra=_HAS_HASH,
                                    transient=True)
                page, more = rows[:size], len(rows) > size
                order: dict = {}
                for r in page:
                    order.setdefault(_hash_of(r.entry), None)
                holders = _holders(conn, list(order), hi)
                keys = [k for es in holders.values() for e in es for k in _events(e, hi)]
                time_of = clock.times(conn, keys + [r.key for r in page])
            svc.downloads.record(principal, "stopncii.fetch", len(page), window=[lo, hi],
                                 start=max(first, lo + 1),
                                 to=page[-1].key if page else None, hashes=len(order))
            pkey = svc.keys.pseudonym_key(principal.platform_id)
            records = []
            for h in order:
                es = holders.get(h, [])
                if not es:
                    continue
                cases: dict = {}
                tiers: dict = {}
                for e in es:
                    p = case_pseudonym(pkey, e.case_id)
                    cases.setdefault(p, []).append(views.status_at(e, hi))
                    tiers[p] = views.tier_of(e)
                last = max(k for e in es for k in _events(e, hi))
                records.append({
                    "lastModtimestamp": time_of(last), "signalType": h[0], "hashValue": h[1],
                    "hashStatus": _STATUS[_aggregate(s for v in cases.values() for s in v)],
                    "caseNumbers": {p: _STATUS[_aggregate(v)] for p, v in cases.items()},
                    "caseTiers": tiers, "CSPFeedbacks": []})
            if more:
                token = tokens.encode(lo, hi, page[-1].key + 1, t_lo, t_hi)
                next_set = max(t_lo, time_of(page[-1].key) - 1)
            else:
                token, next_set = None, t_hi
            return {"count": len(records), "nextPageToken": token,
                    "nextSetTimestamp": next_set, "hasMoreRecords": more,
                    "hashRecords": records}
        return await run_in_threadpool(read)

    @api.post("/SubmitFeedback", responses={
        **_json_200("how many feedbacks were taken and stored", FEEDBACK_RESULT_SCHEMA),
        **problems(400)}, openapi_extra={"security": _SECURITY, "requestBody": {
            "required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/SubmitFeedback"}}}}})
    async def submit_feedback(request: Request, svc=Svc):
        principal, _now = await platform(request, svc, "feedback:write")
        req = await read_json(request, model, settings.max_body)
        items = []
        for i, fb in enumerate(req.hashFeedbacks):
            if fb.feedbackValue not in FEEDBACK:
                raise _bad(f"hashFeedbacks[{i}].feedbackValue",
                           f"one of {', '.join(FEEDBACK)}")
            kind = None
            if fb.signalType is not None:
                kind = signal_type(fb.signalType)
                if kind is None:
                    raise _bad(f"hashFeedbacks[{i}].signalType", "ImagePDQ or VideoMD5")
            items.append((i, fb, kind))

        def store():
            out = []
            with svc.db.connect() as conn:
                for i, fb, kind in items:
                    value = bytes.fromhex(fb.hashValue)
                    kinds = [kind] if kind else (["ImagePDQ"] if len(value) == 32
                                                 else ["VideoMD5"])
                    ids = []
                    for k in kinds:
                        column, entry_kind = (_E.pdq, "image") if k == "ImagePDQ" \
                            else (_E.md5, "video")
                        if (len(value) == 32) != (k == "ImagePDQ"):
                            continue
                        ids += conn.execute(select(_E.id).where(and_(
                            column == value, _E.kind == entry_kind,
                            _E.added_seq.is_not(None)))).scalars().all()
                    if not ids:
                        raise _bad(f"hashFeedbacks[{i}].hashValue", "no such hash in the list")
                    verdict = FEEDBACK[fb.feedbackValue]
                    if verdict is not None:
                        comment = ("stopncii " + " ".join(sorted(fb.tags)))[:500]
                        out += [{"id": f"{eid:016x}", "verdict": verdict, "comment": comment}
                                for eid in sorted(ids)]
            stored = svc.store.add_feedback(principal.platform_id, out) if out else 0
            return {"count": len(items), "stored": stored}
        return await run_in_threadpool(store)

    return api


def _events(entry, hi: int) -> list[int]:
    """The seqs at or below ``hi`` at which the entry changed."""
    return [s for s in (entry.added_seq, entry.removed_seq) if s is not None and s <= hi]


def _holders(conn, hashes: list, hi: int) -> dict:
    """(signal type, hex) -> the entry rows published by ``hi`` that hold that hash."""
    out: dict = {}
    for kind, column, entry_kind in (("ImagePDQ", _E.pdq, "image"),
                                     ("VideoMD5", _E.md5, "video")):
        values = [bytes.fromhex(v) for k, v in hashes if k == kind]
        for i in range(0, len(values), 500):
            rows = conn.execute(select(*views.WINDOW_COLUMNS).where(and_(
                column.in_(values[i:i + 500]), _E.kind == entry_kind,
                _E.added_seq <= hi))).all()
            for r in rows:
                out.setdefault(_hash_of(r), []).append(r)
    return out
