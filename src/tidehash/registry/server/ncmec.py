"""The registry's list as NCMEC's hash-sharing API v2 (XML) serves it, under
``/ncmec/v2/``: a client of that API (python-threatexchange's ``NCMECHashAPI`` and its
fetch loop) pointed at ``URL/ncmec`` pulls the list with a platform token as its
password (Basic auth, any user name).

* ``GET status``: the caller as a member (id ``PLATFORM_MEMBER_BASE`` + platform id).
* ``GET members``: the members entries come from, one per trust tier.
* ``GET entries?from&to``: the changes published in the view's seconds (from, to] (see
  ``views``: the view's clock), as ``image`` / ``video`` elements and ``deletedImage`` /
  ``deletedVideo`` tombstones under the entry's member and id, ``size`` (1..10,000,
  default 1,000) at a time, in seq order. ``paging/next`` is a path with the page's
  bounds in it (``min`` / ``max``: the window's seqs, ``start``: the next key), so it
  stays valid however many entries share one second and whatever ``to`` a client passes
  next; it is absent on the last page. ``to`` after ``now - SLACK`` means
  ``now - SLACK``.
* ``GET feedback/{type}/reasons``, ``PUT entries/{member}/{id}/{type}/feedback``: a
  platform's feedback, stored as the registry's own (affirmative: ``confirmed``;
  negative: the reason's verdict).

Errors are ``application/problem+json`` as everywhere in the registry."""

from __future__ import annotations

import base64
import binascii
import calendar
import re
import uuid
import xml.etree.ElementTree as ET
import xml.parsers.expat
from datetime import datetime, timezone
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from . import views
from .problems import Problem
from .problems import responses as problems

NAMESPACE = "https://hashsharing.ncmec.org/hashsharing/v2"
XML_TYPE = "application/xml; charset=utf-8"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
DEFAULT_SIZE = 1000
MAX_SIZE = 10_000
MAX_FEEDBACK_BODY = 64 << 10
_BASIC = 'Basic realm="tidehash", charset="UTF-8"'
_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?"
                   r"(Z|[+-]\d{2}:?\d{2})?$", re.ASCII)
_INT = re.compile(r"^\d{1,18}$", re.ASCII)

#: the OpenAPI security scheme of the view (app.py puts it in the document)
SECURITY_SCHEMES = {"NCMECBasic": {
    "type": "http", "scheme": "basic",
    "description": "any user name, a platform token as the password (Bearer is taken too)"}}
_TIME_SCHEMA = {"type": "string", "pattern": _TIME.pattern, "examples": ["2017-10-20T00:00:00Z"],
                "description": "2017-10-20T00:00:00Z (.000 and +hh:mm taken; no zone: UTC)"}
_SEQ_SCHEMA = {"type": "integer", "minimum": 0, "maximum": 1 << 62,
               "description": "from a paging/next link"}
_FINGERPRINT = {"type": "string", "pattern": "^([Mm][Dd]5|[Ss][Hh][Aa]256|[Pp][Dd][Qq])$"}


def _xml_doc(root: str, description: str) -> dict:
    """An OpenAPI 200 of the view: XML in NCMEC's namespace."""
    return {"200": {"description": description, "content": {"application/xml": {"schema": {
        "type": "object", "xml": {"name": root, "namespace": NAMESPACE}}}}}}


def _doc(root: str, description: str, *statuses: int, parameters=(), body=None) -> dict:
    """The OpenAPI of a route of the view: its parameters (the route reads the query
    itself, to refuse unknown names), Basic auth, its XML answer, its problems."""
    extra = {"security": [{"NCMECBasic": []}]}
    if parameters:
        extra["parameters"] = [
            {"name": name, "in": where, "required": required, "schema": schema,
             **({"example": schema["examples"][0]} if "examples" in schema else {})}
            for name, where, required, schema in parameters]
    if body is not None:
        extra["requestBody"] = body
    return dict(openapi_extra=extra, responses={**_xml_doc(root, description),
                                                 **problems(*statuses)})

#: the fingerprint types of the view: NCMEC's name -> the entry column
FINGERPRINTS = {"MD5": "md5", "SHA256": "sha256", "PDQ": "pdq"}
#: negative feedback reasons: guid -> (name, the registry's verdict)
REASONS = {str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://tidehash.org/ncmec/reasons/{v}")):
           (name, v) for name, v in (("Not NCII", "not_ncii"), ("Disputed", "disputed"))}


def parse_time(text: str, loc: str) -> int:
    """A time of the API (``2017-10-20T00:00:00Z``, ``.000`` and an offset allowed) as
    unix seconds; before 1970 counts as 0."""
    m = _TIME.fullmatch(text) if isinstance(text, str) else None
    try:
        if m is None:
            raise ValueError
        y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
        value = calendar.timegm(datetime(y, mo, d, h, mi, s).timetuple())
        zone = m.group(7)
        if zone and zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            value -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    except (ValueError, OverflowError):
        raise _bad(loc, "a time like 2017-10-20T00:00:00Z") from None
    return max(value, 0)


def format_time(t: int) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime(TIME_FORMAT)


def _bad(loc: str, msg: str) -> Problem:
    return Problem(400, "invalid-request", f"{loc}: {msg}", errors=[{"loc": loc, "msg": msg}])


def _int(params, name: str, low: int, high: int) -> int | None:
    text = params.get(name)
    if text is None:
        return None
    if not _INT.fullmatch(text) or not low <= int(text) <= high:
        raise _bad(name, f"an integer {low}..{high}")
    return int(text)


def _xml(root: ET.Element, status: int = 200) -> Response:
    root.set("xmlns", NAMESPACE)
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(body, status_code=status, media_type=XML_TYPE,
                    headers={"Cache-Control": "no-store"})


def _member(parent: ET.Element, member_id: int, name: str, tag: str = "member") -> None:
    el = ET.SubElement(parent, tag, id=str(member_id))
    el.text = name  # ElementTree escapes it


def basic_token(request: Request) -> str | None:
    """The password of ``Authorization: Basic`` (a Bearer token is taken too)."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() != "basic" or not value or len(value) > 1000:
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    _user, sep, password = decoded.partition(":")
    return password if sep and password else None


def _entry_element(parent: ET.Element, row: views.Row, time_of) -> None:
    e = row.entry
    kind = "image" if e.kind == "image" else "video"
    tag = ("deleted" + kind.capitalize()) if row.deleted else kind
    el = ET.SubElement(parent, tag)
    member_id, name = views.member_of(e)
    _member(el, member_id, name)
    ET.SubElement(el, "timestamp").text = format_time(time_of(row.key))
    ET.SubElement(el, "id").text = f"{e.id:016x}"
    if not row.deleted:
        prints = ET.SubElement(el, "fingerprints")
        for column in ("md5", "sha256", "pdq"):
            value = getattr(e, column)
            if value is not None:
                ET.SubElement(prints, column).text = bytes(value).hex()


def _query_result(rows: list[views.Row], time_of, next_link: str | None) -> ET.Element:
    root = ET.Element("queryResult")
    for kind, group in (("image", "images"), ("video", "videos")):
        mine = [r for r in rows if (r.entry.kind == "image") == (kind == "image")]
        el = ET.SubElement(root, group, count=str(len(mine)))
        if mine:
            el.set("maxTimestamp", format_time(max(time_of(r.key) for r in mine)))
        for r in mine:
            _entry_element(el, r, time_of)
    if next_link is not None:
        ET.SubElement(ET.SubElement(root, "paging"), "next").text = next_link
    return root


def _parse_feedback(body: bytes) -> tuple[str, list[str]]:
    """("affirmative" | "negative", reason guids) of a feedbackSubmission; no DOCTYPE,
    no entity, at most 64 levels."""
    stack: list[list] = []
    root: list = []

    def refuse(*_args):
        raise _bad("body", "a DOCTYPE or an entity is not accepted")

    def start(name, _attrs):
        if len(stack) >= 64:
            raise _bad("body", "nested too deeply")
        node = [name.rpartition("}")[2], [], []]
        (stack[-1][1] if stack else root).append(node)
        stack.append(node)

    def end(_name):
        stack.pop()

    def text(data):
        if stack:
            stack[-1][2].append(data)

    parser = xml.parsers.expat.ParserCreate(namespace_separator="}")
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(body, True)
    except xml.parsers.expat.ExpatError as exc:
        raise _bad("body", f"not well-formed XML ({exc})") from None
    except LookupError:  # an encoding Python does not know
        raise _bad("body", "not well-formed XML (an unknown encoding); send UTF-8") from None
    if len(root) != 1 or root[0][0] != "feedbackSubmission":
        raise _bad("body", "a <feedbackSubmission> element")
    votes = root[0][1]
    if len(votes) != 1 or votes[0][0] not in ("affirmative", "negative"):
        raise _bad("body", "one <affirmative/> or <negative> element")
    vote = votes[0]
    guids = [("".join(g[2])).strip() for r in vote[1] if r[0] == "reasonIds"
             for g in r[1] if g[0] == "guid"]
    if vote[0] == "negative" and not guids:
        raise _bad("body", "a negative vote names its reason: <reasonIds><guid>")
    return vote[0], guids


def router(settings, services) -> APIRouter:
    """The routes; ``services``: the app's dependency giving its Services."""
    Svc = Depends(services)
    api = APIRouter(prefix="/ncmec/v2", tags=["ncmec"])

    async def platform(request: Request, svc, scopes=("list:read",)):
        token = basic_token(request)

        def check():
            principal = views.check_token(svc.store, token, scopes, challenge=_BASIC)
            return principal, views.clock(svc).mark()
        return await run_in_threadpool(check)

    @api.get("/status", **_doc("status", "the caller as a member"))
    async def status(request: Request, svc=Svc):
        principal, _now = await platform(request, svc)
        root = ET.Element("status")
        ET.SubElement(root, "username").text = principal.platform
        _member(root, views.PLATFORM_MEMBER_BASE + principal.platform_id, principal.platform)
        return _xml(root)

    @api.get("/members", **_doc("members", "one member per trust tier"))
    async def members(request: Request, svc=Svc):
        await platform(request, svc)
        root = ET.Element("members")
        for member_id, name in views.TIER_MEMBERS.values():
            _member(root, member_id, name)
        return _xml(root)

    @api.get("/entries", **_doc(
        "queryResult", "the entries and tombstones of the window, a page", parameters=(
            ("from", "query", True, _TIME_SCHEMA), ("to", "query", False, _TIME_SCHEMA),
            ("size", "query", False, {"type": "integer", "minimum": 1, "maximum": MAX_SIZE}),
            ("start", "query", False, {**_SEQ_SCHEMA, "minimum": 1}),
            ("max", "query", False, _SEQ_SCHEMA), ("min", "query", False, _SEQ_SCHEMA))))
    async def entries(request: Request, svc=Svc):
        principal, now = await platform(request, svc)
        params = request.query_params
        for name in params:
            if name not in ("from", "to", "start", "size", "max", "min"):
                raise _bad(name, "not a parameter of entries")
        if params.get("from") is None:
            raise _bad("from", "required")
        start_t = parse_time(params["from"], "from")
        end_t = parse_time(params["to"], "to") if params.get("to") is not None else now
        end_t = min(end_t, now - views.SLACK)
        size = _int(params, "size", 1, MAX_SIZE) or DEFAULT_SIZE
        start = _int(params, "start", 1, 1 << 62)
        low = _int(params, "min", 0, 1 << 62)
        high = _int(params, "max", 0, 1 << 62)
        if (start is None) != (high is None) or (low is not None and high is None):
            raise _bad("start", "start, min and max come together, from a paging/next link")

        def read():
            with svc.db.connect() as conn:
                if high is None:
                    lo = views.clock(svc).seq_at(conn, start_t)
                    hi = views.clock(svc).seq_at(conn, end_t) if end_t > start_t else lo
                    first = lo + 1
                else:
                    head = conn.execute(views.select_head()).scalar_one()
                    lo = low if low is not None else views.clock(svc).seq_at(conn, start_t)
                    hi, first = min(high, head), start
                    if lo > hi:
                        raise _bad("min", "min is above max")
                rows = views.window(conn, lo, hi, first, size + 1)
                page, more = rows[:size], len(rows) > size
                time_of = views.clock(svc).times(conn, [r.key for r in page])
            svc.downloads.record(principal, "ncmec.entries", len(page), window=[lo, hi],
                                 start=max(first, lo + 1),
                                 to=page[-1].key if page else None)
            link = None
            if more:
                link = "/v2/entries?" + urlencode({
                    "from": params["from"], "to": params.get("to") or format_time(end_t),
                    "start": page[-1].key + 1, "size": size, "max": hi, "min": lo})
            return _query_result(page, time_of, link)
        return _xml(await run_in_threadpool(read))

    @api.get("/feedback/{fingerprint}/reasons", **_doc(
        "feedbackReasons", "the negative feedback reasons",
        parameters=(("fingerprint", "path", True, _FINGERPRINT),)))
    async def reasons(fingerprint: str, request: Request, svc=Svc):
        await platform(request, svc, ("feedback:write", "list:read"))
        if fingerprint.upper() not in FINGERPRINTS:
            raise Problem(404, "not-found", f"no fingerprint type {fingerprint[:32]!r}")
        root = ET.Element("feedbackReasons")
        available = ET.SubElement(root, "availableFeedbackReasons")
        for guid, (name, _verdict) in REASONS.items():
            ET.SubElement(available, "reason", guid=guid, name=name,
                          type=fingerprint.upper())
        return _xml(root)

    @api.put("/entries/{member_id}/{entry_id}/{fingerprint}/feedback", **_doc(
        "queryResult", "the entry the feedback is on", parameters=(
            ("member_id", "path", True, {"type": "string", "pattern": "^[0-9]{1,18}$"}),
            ("entry_id", "path", True, {"type": "string", "pattern": "^[0-9a-fA-F]{16}$"}),
            ("fingerprint", "path", True, _FINGERPRINT)),
        body={"required": True, "content": {"application/xml": {"schema": {
            "type": "object", "xml": {"name": "feedbackSubmission", "namespace": NAMESPACE},
            "description": "<affirmative/>, or <negative><reasonIds><guid>G</guid>"
                           "</reasonIds></negative>; at most 64 KiB, no DOCTYPE",
            "properties": {"affirmative": {"type": "string", "maxLength": 0}}}}}}))
    async def feedback(member_id: str, entry_id: str, fingerprint: str, request: Request,
                       svc=Svc):
        from .store import parse_entry_id

        principal, _now = await platform(request, svc, ("feedback:write",))
        column = FINGERPRINTS.get(fingerprint.upper())
        if column is None:
            raise Problem(404, "not-found", f"no fingerprint type {fingerprint[:32]!r}")
        value = parse_entry_id(entry_id)
        if value is None or not _INT.fullmatch(member_id):
            raise Problem(404, "not-found", f"no entry {entry_id[:32]!r}")
        length = request.headers.get("content-length", "0")
        if not re.fullmatch(r"[0-9]+", length, re.ASCII):
            raise _bad("Content-Length", "a number")
        if len(length) > 18 or int(length) > MAX_FEEDBACK_BODY:
            raise Problem(413, "body-too-large", f"the body is over {MAX_FEEDBACK_BODY} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FEEDBACK_BODY:
                raise Problem(413, "body-too-large",
                              f"the body is over {MAX_FEEDBACK_BODY} bytes")
        vote, guids = _parse_feedback(body)
        if vote == "affirmative":
            verdict = "confirmed"
        else:
            unknown = [g for g in guids if g not in REASONS]
            if unknown:
                raise _bad("reasonIds.guid", f"no feedback reason {unknown[0][:40]!r}")
            verdict = REASONS[guids[0]][1]

        def store():
            with svc.db.connect() as conn:
                e = conn.execute(views.select_entry(value)).first()
            if e is None or e.added_seq is None or getattr(e, column) is None \
                    or views.member_of(e)[0] != int(member_id):
                raise Problem(404, "not-found", f"no entry {entry_id[:32]!r} with a "
                              f"{fingerprint.upper()} of member {member_id}")
            svc.store.add_feedback(principal.platform_id, [{
                "id": f"{value:016x}", "verdict": verdict,
                "comment": f"ncmec {fingerprint.upper()} {vote}"}])
            row = views.Row(e.added_seq, False, e)
            with svc.db.connect() as conn:
                time_of = views.clock(svc).times(conn, [row.key])
            return _query_result([row], time_of, None)
        return _xml(await run_in_threadpool(store))

    return api

