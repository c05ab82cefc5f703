"""The HTTP API of the registry (README.md, "HTTP API"): ``create_app(settings)``.

Routes are thin: read and validate the body (``models``), authenticate, call one
function of the store / change log / lookup service, map its errors to a status.
Every error is ``application/problem+json`` (``problems``); nothing about a person's
request (address, user agent, forwarding chain) reaches this code (``middleware``), and
nothing here logs a request."""

import contextlib
import hashlib
import inspect
import logging
import re
import time
from typing import Annotated, Any, Literal, Optional

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response, StreamingResponse

from . import answers
from .answers import ok
from .audit import AuditPage, AuditQuery
from .challenge import ChallengeError, Challenges
from .db import Unavailable
from .middleware import LastResort, Privacy
from .models import (
    CASE_STATUSES,
    Limits,
    RequestModels,
    format_loc,
    problem_errors,
    validate_json,
)
from .problems import SCHEMA as PROBLEM_SCHEMA
from .problems import STATUS_SLUGS, Problem, openapi_problems, problem_response, response_of
from .problems import responses as problems
from .settings import Settings

API_TITLE = "tidehash registry"
NDJSON = "application/x-ndjson"
#: bytes of the snapshot handed from the database thread to the event loop at a time
STREAM_CHUNK = 1 << 18
#: how long a verified token is taken as verified without asking the database again
#: (a database read and an HMAC cost more than the rest of a lookup); a revocation,
#: expiry or suspension made elsewhere (``tidehash admin``) takes effect within it,
#: one made through this process's API at once
AUTH_CACHE_SECONDS = 1.0
#: bytes of a JSON body validated on the event loop; a bigger one in a worker thread
INLINE_BODY = 64 << 10
#: tries of a write's own publication (delay 0) while another publisher holds the lock
PUBLISH_ATTEMPTS = 100
# two schemes of one header, so that the document says which token each route takes
_BEARER = HTTPBearer(auto_error=False, scheme_name="PlatformToken",
                     description="a platform's token, thp_...")
_OPERATOR_BEARER = HTTPBearer(auto_error=False, scheme_name="OperatorToken",
                              description="an operator's token, tho_...")
_WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="tidehash"'}
_JSON_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json$")
log = logging.getLogger("tidehash.registry")
_CONTENT_LENGTH = re.compile(r"^[0-9]+$", re.ASCII)  # not str.isdigit: it takes "²"


class RegistryApp(FastAPI):
    """FastAPI with the privacy layer and the last-resort handler outside everything
    else, FastAPI's and Starlette's own middleware included."""

    fast_lookup = None  # (request model, body limit) of the lookup fast path, if on

    def build_middleware_stack(self):
        inner = super().build_middleware_stack()
        if self.fast_lookup is not None:
            from .fastpath import FastLookup

            inner = FastLookup(inner, self, *self.fast_lookup)
        return Privacy(LastResort(inner))


class Services:
    """What the routes use, made in the app's lifespan."""

    def __init__(self, settings: Settings, database):
        from .audit import Downloads
        from .changelog import Changelog, Publisher
        from .keys import Keys
        from .store import Store

        self.settings = settings
        self.db = database
        self.keys = Keys.load(database)
        self.changelog = Changelog(database, self.keys, delay=settings.publish_delay)
        # ticks find the epoch boundaries of the hold; writes wake it in between (with
        # no hold, writes publish themselves and the tick is a safety net)
        interval = settings.publish_delay if settings.publish_delay > 0 else 1.0
        self.publisher = Publisher(self.changelog, interval)
        from .abuse import Rules

        self.store = Store(database, self.keys, on_write=self._written,
                           rules=Rules.of(settings))
        self.challenges = Challenges(lambda data: self.keys.mac("challenge", data),
                                     settings.pow_difficulty, settings.challenge_ttl)
        self.lookup = _lookup_service(self.changelog, settings)
        self.tokens = TokenCache(AUTH_CACHE_SECONDS)
        self.downloads = Downloads(database, settings.audit_poll_window)

    async def changed_auth(self, fn, *args, **kwargs):
        """An operator's change of who may do what: at once in this process."""
        try:
            return await _store_call(fn, *args, **kwargs)
        finally:
            self.tokens.clear()

    def _written(self) -> None:
        if self.settings.publish_delay > 0:
            self.publisher.wake()
            return
        # Delay 0: published before the response goes out, so the person's status and
        # the platforms' changes show it at once. On PostgreSQL another publisher (the
        # thread's tick, a concurrent request, another process) may hold the lock and
        # have read the outbox before this write committed: then try again shortly.
        # If the database fails here, the publisher's tick retries.
        with contextlib.suppress(Exception):
            for _attempt in range(PUBLISH_ATTEMPTS):
                if self.changelog.publish() or not self._outbox_waiting():
                    return
                time.sleep(0.01)
        self.publisher.wake()

    def _outbox_waiting(self) -> bool:
        from sqlalchemy import select

        from . import schema

        with self.db.connect() as conn:
            return conn.execute(select(schema.outbox.c.id).limit(1)).first() is not None

    async def start(self) -> None:
        self.publisher.start()
        self.downloads.start()
        await _call(self.lookup.start)

    async def stop(self) -> None:
        try:
            await _call(self.lookup.stop)
        finally:
            try:
                await run_in_threadpool(self.publisher.stop)
            finally:
                await run_in_threadpool(self.downloads.stop)


class TokenCache:
    """Verified tokens -> their Principal, for ``ttl`` seconds. Keyed by a hash of
    the token, so the process's memory holds no more tokens than the requests do;
    failures are never cached."""

    MAX_ENTRIES = 10_000

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._entries: dict = {}

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "replace")).digest()

    def get(self, token: str):
        hit = self._entries.get(self._key(token))
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        return None

    def put(self, token: str, principal) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries = {}
        self._entries[self._key(token)] = (principal, time.monotonic() + self.ttl)

    def clear(self) -> None:
        self._entries = {}


def _lookup_service(changelog, settings):
    from .lookup import LookupService

    return LookupService(changelog, settings)


async def _call(fn):
    """Call a start/stop that may be a coroutine function or a plain one."""
    if inspect.iscoroutinefunction(fn):
        return await fn()
    result = await run_in_threadpool(fn)
    if inspect.isawaitable(result):
        return await result
    return result


async def _services(request: Request) -> Services:
    # async: FastAPI would run a plain function in a worker thread, a hop per request
    found = getattr(request.app.state, "services", None)
    if found is None:
        raise Problem(503, "unavailable", "the service is starting")
    return found


Svc = Annotated[Services, Depends(_services)]


# ---------------------------------------------------------------------------- bodies

async def read_json(request: Request, model, max_body: int):
    """The request body validated by ``model``: 415 unless JSON, 413 over ``max_body``
    (by Content-Length, and by counting what arrives), 400 naming every failure."""
    media = request.headers.get("content-type", "")
    kind, _, params = media.partition(";")
    charset = re.search(r"charset\s*=\s*\"?([\w-]+)", params, re.I)
    if not _JSON_TYPE.match(kind.strip().lower()) or (
            charset and charset.group(1).lower() not in ("utf-8", "utf8")):
        raise Problem(415, "unsupported-media-type",
                      "send the body as Content-Type: application/json (UTF-8)")
    length = request.headers.get("content-length")
    if length is not None:
        if not _CONTENT_LENGTH.match(length):
            raise Problem(400, "invalid-request", "Content-Length is not a number")
        if len(length) > 18 or int(length) > max_body:
            raise Problem(413, "body-too-large", f"the body is over {max_body} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise Problem(413, "body-too-large", f"the body is over {max_body} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        if size <= INLINE_BODY:
            return validate_json(model, raw)
        # a big body (a video's frames; or a hostile one, whose errors cost seconds to
        # list) is read in a worker thread, so that the other requests go on meanwhile
        return await run_in_threadpool(validate_json, model, raw)
    except ValidationError as exc:
        raise Problem(400, "invalid-request", "the body does not follow the schema",
                      errors=problem_errors(exc)) from None


def _schema_refs(model, schemas: dict) -> dict:
    """The OpenAPI requestBody of a route that reads ``model`` (its schema goes into
    components)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


# ---------------------------------------------------------------------------- the app

def create_app(settings: Settings, *, database=None) -> FastAPI:
    """The registry's ASGI app. ``database``: an open ``Database`` to use (the caller
    closes it); by default one is opened on ``settings.db_url`` at startup and closed at
    shutdown."""
    models = RequestModels(Limits.of(settings))
    schemas: dict = {"Problem": PROBLEM_SCHEMA, **answers.SCHEMAS}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        from .db import Database

        owned = database is None
        db = await run_in_threadpool(Database, settings.db_url) if owned else database
        try:
            services = await run_in_threadpool(Services, settings, db)
            app.state.services = services
            await services.start()
            try:
                yield
            finally:
                await services.stop()
        finally:
            if owned:
                await run_in_threadpool(db.close)

    app = RegistryApp(title=API_TITLE, version="1", lifespan=lifespan, openapi_url=None,
                      docs_url=None, redoc_url=None, dependencies=[Depends(_known_query)])
    _install_error_handlers(app)
    app.fast_lookup = (models.LookupRequest, settings.max_body)
    if settings.cors_origins:
        # the exported page on another origin (tidehash web export): the person routes
        # from those origins only, JSON bodies, no credentials, no Authorization header
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["Content-Type"],
                           expose_headers=["Retry-After"], allow_credentials=False,
                           max_age=600)

    def body(model):
        async def dependency(request: Request):
            return await read_json(request, model, settings.max_body)
        return Depends(dependency)

    async def principal_of(request: Request, svc: Services, scope: str):
        from .store import AuthError

        header = request.headers.get("authorization")
        if header is None:
            raise Problem(401, "unauthorized", "send Authorization: Bearer <token>",
                          headers=_WWW_AUTHENTICATE)
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise Problem(401, "unauthorized", "the Authorization header is not "
                          "\"Bearer <token>\"", headers=_WWW_AUTHENTICATE)
        try:
            principal = svc.tokens.get(token)
            if principal is None:
                principal = await run_in_threadpool(svc.store.authenticate, token)
                svc.tokens.put(token, principal)
            svc.store.require(principal, scope)
        except AuthError as exc:
            raise Problem(exc.status, "unauthorized" if exc.status == 401 else "forbidden",
                          exc.detail,
                          headers=_WWW_AUTHENTICATE if exc.status == 401 else None) from None
        return principal

    def authorised(scope: str):
        scheme = _OPERATOR_BEARER if scope == "admin" else _BEARER

        async def dependency(request: Request, svc: Svc,
                             _credentials: Annotated[Any, Depends(scheme)]):
            return await principal_of(request, svc, scope)
        return Depends(dependency)

    # Each route declares its answer (``ok``: a schema of ``answers``) and the problem
    # statuses its own code raises; those its document implies (auth, body, parameters,
    # 503) are added by openapi_problems.

    # ------------------------------------------------------------------ liveness
    @app.get("/healthz", tags=["service"], responses=ok("Health"))
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["service"], responses=ok("Health"))
    async def readyz(svc: Svc):
        await run_in_threadpool(svc.changelog.state)  # the database answers (or 503)
        if not svc.lookup.ready:
            raise Problem(503, "unavailable", "the lookup index is loading")
        return {"status": "ready"}

    # ------------------------------------------------------------------ person side
    @app.get("/v1/challenge", tags=["person"], responses=ok("Challenge"))
    async def challenge(svc: Svc):
        return JSONResponse(svc.challenges.issue(), headers={"Cache-Control": "no-store"})

    @app.post("/v1/cases", status_code=201, tags=["person"], responses=ok("CaseCreated", 201),
              openapi_extra=_schema_refs(models.CaseCreate, schemas))
    async def create_case(request: Request, svc: Svc,
                          case: Annotated[Any, body(models.CaseCreate)]):
        """A person's case (anonymous, with its proof of work), or a partner's: with
        ``Authorization: Bearer`` a token of scope ``submit:partner`` (no proof of work;
        any other Authorization is ignored)."""
        nonce = expires = None
        tier = {}
        if request.headers.get("authorization") is not None:
            # a partner (NGO, hotline) submits with its submit:partner token: no proof
            # of work. Any other Authorization is ignored, as it always was on the
            # person routes: the submission is a person's (the answer says which)
            try:
                principal = await principal_of(request, svc, "submit:partner")
                tier = {"tier": "partner", "partner_id": principal.platform_id}
            except Problem:
                pass
        if not tier and svc.challenges.required:
            if case.pow is None:
                raise Problem(400, "challenge", "this registry needs a solved challenge "
                              "(GET /v1/challenge)", errors=[{"loc": "pow", "msg": "required"}])
            try:
                spend = svc.challenges.verify(case.pow.challenge, case.pow.nonce)
            except ChallengeError as exc:
                raise Problem(400, "challenge", str(exc),
                              errors=[{"loc": "pow", "msg": str(exc)}]) from None
            nonce, expires = spend.nonce, spend.expires
        items = [item.wire() for item in case.items]
        created = await _store_call(svc.store.create_case, items, challenge_nonce=nonce,
                                    challenge_expires=expires, **tier)
        if tier:
            created = {**created, "tier": "partner"}
        return JSONResponse(created, status_code=201, headers={"Cache-Control": "no-store"})

    @app.post("/v1/cases/status", tags=["person"],
              responses={**ok("CaseState"), **problems(404)},
              openapi_extra=_schema_refs(models.CaseStatus, schemas))
    async def case_status(svc: Svc, req: Annotated[Any, body(models.CaseStatus)]):
        return await _store_call(svc.store.case_status, req.case_id, req.secret)

    @app.post("/v1/cases/withdraw", tags=["person"],
              responses={**ok("CaseState"), **problems(404)},
              openapi_extra=_schema_refs(models.CaseWithdraw, schemas))
    async def withdraw(svc: Svc, req: Annotated[Any, body(models.CaseWithdraw)]):
        return await _store_call(svc.store.withdraw, req.case_id, req.secret, req.items)

    # ------------------------------------------------------------------ platform side
    @app.get("/v1/list/snapshot", tags=["platform"],
             responses={**problems(416), 206: {
                 "content": {NDJSON: {}}, "description": "the rest of the snapshot (Range)"},
                 200: {"content": {NDJSON: {}}, "description": "entries, then a trailer"}})
    async def snapshot(request: Request, svc: Svc,
                       principal: Annotated[Any, authorised("list:read")]):
        return await _snapshot(request, svc, principal)

    @app.get("/v1/list/changes", tags=["platform"],
             responses={**ok("Changes"), **problems(410)})
    async def changes(svc: Svc, principal: Annotated[Any, authorised("list:read")],
                      cursor: Annotated[Optional[str], Query(max_length=64)] = None,
                      limit: Annotated[int, Query(ge=1, le=settings.max_changes_page)]
                      = settings.changes_page):
        from .changelog import BadCursor, CursorCompacted

        def read():
            head, floor = svc.changelog.state()
            if cursor is not None:
                after = svc.changelog.decode_cursor(cursor, floor=floor, head=head)
            elif floor > 0:
                raise CursorCompacted("the change log starts after a compaction; "
                                      "take a snapshot and follow its cursor")
            else:
                after = 0
            page, head = svc.changelog.changes(after, limit, principal.platform_id)
            last = page[-1]["seq"] if page else after
            svc.downloads.record(principal, "changes", len(page), after=after, to=last,
                                 head=head)
            return {"changes": page, "cursor": svc.changelog.encode_cursor(last),
                    "more": last < head, "head": head}
        try:
            return await _store_call(read)
        except BadCursor as exc:
            raise Problem(400, "bad-cursor", str(exc),
                          errors=[{"loc": "cursor", "msg": str(exc)}]) from None
        except CursorCompacted as exc:
            raise Problem(410, "cursor-compacted", str(exc)) from None

    @app.post("/v1/lookup", tags=["platform"], responses=ok("LookupResults"),
              openapi_extra=_schema_refs(models.LookupRequest, schemas))
    async def lookup(svc: Svc, principal: Annotated[Any, authorised("lookup")],
                     req: Annotated[Any, body(models.LookupRequest)]):
        from .lookup import QueryError

        if not svc.lookup.ready:
            raise Problem(503, "unavailable", "the lookup index is loading",
                          headers={"Retry-After": "1"})
        try:
            # encoded in the search thread: walking 1,000 results through FastAPI's
            # encoder on the event loop cost more than searching them
            body = await svc.lookup.lookup_body([q.wire() for q in req.queries])
        except QueryError as exc:  # the models refuse these first
            raise Problem(400, "invalid-request", exc.msg,
                          errors=[{"loc": exc.loc, "msg": exc.msg}]) from None
        return Response(body, media_type="application/json")

    @app.post("/v1/feedback", status_code=202, tags=["platform"],
              responses=ok("FeedbackStored", 202),
              openapi_extra=_schema_refs(models.FeedbackRequest, schemas))
    async def feedback(svc: Svc, principal: Annotated[Any, authorised("feedback:write")],
                       req: Annotated[Any, body(models.FeedbackRequest)]):
        stored = await _store_call(svc.store.add_feedback, principal.platform_id,
                                   [item.wire() for item in req.feedback])
        return JSONResponse({"stored": stored}, status_code=202)

    # ------------------------------------------------------------------ operator side
    Admin = Annotated[Any, authorised("admin")]

    @app.post("/v1/admin/platforms", status_code=201, tags=["operator"],
              responses={**ok("PlatformCreated", 201), **problems(409)},
              openapi_extra=_schema_refs(models.PlatformCreate, schemas))
    async def add_platform(svc: Svc, _p: Admin,
                           req: Annotated[Any, body(models.PlatformCreate)]):
        made = await _store_call(svc.store.add_platform, req.name, req.scopes, req.expires_days,
                                 actor=_actor(_p))
        return JSONResponse(made, status_code=201, headers={"Cache-Control": "no-store"})

    @app.get("/v1/admin/platforms", tags=["operator"], responses=ok("Platforms"))
    async def list_platforms(svc: Svc, _p: Admin):
        return {"platforms": await _store_call(svc.store.list_platforms, actor=_actor(_p))}

    @app.post("/v1/admin/platforms/{name}/suspend", tags=["operator"],
              responses=ok("Suspended"))
    async def suspend(name: str, svc: Svc, _p: Admin):
        return await svc.changed_auth(svc.store.set_suspended, name, True, actor=_actor(_p))

    @app.post("/v1/admin/platforms/{name}/resume", tags=["operator"],
              responses=ok("Suspended"))
    async def resume(name: str, svc: Svc, _p: Admin):
        return await svc.changed_auth(svc.store.set_suspended, name, False, actor=_actor(_p))

    @app.post("/v1/admin/platforms/{name}/tokens", status_code=201, tags=["operator"],
              responses=ok("TokenCreated", 201),
              openapi_extra=_schema_refs(models.TokenCreate, schemas))
    async def mint_token(name: str, svc: Svc, _p: Admin,
                         req: Annotated[Any, body(models.TokenCreate)]):
        made = await _store_call(svc.store.mint_token, name, req.scopes, req.expires_days,
                                 actor=_actor(_p))
        return JSONResponse(made, status_code=201, headers={"Cache-Control": "no-store"})

    @app.post("/v1/admin/tokens/{token_id}/revoke", tags=["operator"],
              responses=ok("Revoked"))
    async def revoke_token(token_id: str, svc: Svc, _p: Admin):
        if not re.fullmatch(r"[0-9a-f]{16}", token_id):
            raise Problem(404, "not-found", f"no token {token_id!r}")
        return await svc.changed_auth(svc.store.revoke_token, token_id, actor=_actor(_p))

    @app.get("/v1/admin/cases", tags=["operator"], responses=ok("Cases"))
    async def list_cases(svc: Svc, _p: Admin,
                         status: Annotated[Optional[Literal[CASE_STATUSES]], Query()] = None,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                         after: Annotated[Optional[str], Query(
                             max_length=64, pattern=r"^[A-Za-z0-9-]*$")] = None):
        cases = await _store_call(svc.store.list_cases, status, limit, after,
                                  actor=_actor(_p))
        next_after = cases[-1]["case_id"] if len(cases) == limit else None
        return {"cases": cases, "after": next_after}

    @app.post("/v1/admin/entries/{entry_id}/remove", tags=["operator"],
              responses=ok("Removed"))
    async def remove_entry(entry_id: str, svc: Svc, _p: Admin):
        from .store import parse_entry_id

        value = parse_entry_id(entry_id)
        if value is None or not await _store_call(svc.store.remove_entry, value,
                                                  actor=_actor(_p)):
            raise Problem(404, "not-found", f"no entry {entry_id[:32]!r}")
        return {"id": f"{value:016x}", "status": "removed"}

    @app.get("/v1/admin/audit", tags=["operator"], response_model=None,
             openapi_extra={"responses": {"200": {"description": "audit rows", "content": {
                 "application/json": {"schema": {
                     "$ref": "#/components/schemas/AuditPage"}}}}}})
    async def audit_rows(svc: Svc, _p: Admin, query: Annotated[AuditQuery, Query()]):
        return await _store_call(_audit_page, svc, query, _actor(_p))

    schemas.update(_component(AuditPage))

    from . import review_routes
    review_routes.install(app, Svc=Svc, Admin=Admin, body=body, models=models,
                          schema_refs=_schema_refs, schemas=schemas,
                          store_call=_store_call)

    # ------------------------------------------------------------------ compatible views
    from . import ncmec, stopncii
    app.include_router(ncmec.router(settings, _services))
    app.include_router(stopncii.router(settings, _services, read_json, schemas))
    from . import web  # the page: /, /tidehash.js and its worker, wasm and hash-wasm
    app.include_router(web.router(), include_in_schema=False)

    # ------------------------------------------------------------------ OpenAPI 3.1
    def openapi() -> dict:
        if app.openapi_schema is None:
            document = get_openapi(title=API_TITLE, version="1", routes=app.routes,
                                   description=__doc__.split("\n\n")[0])
            components = document.setdefault("components", {})
            components.setdefault("schemas", {}).update(schemas)
            components.setdefault("securitySchemes", {}).update(
                {**ncmec.SECURITY_SCHEMES, **stopncii.SECURITY_SCHEMES})
            app.openapi_schema = openapi_problems(_one_parameter_each(document))
        return app.openapi_schema

    app.openapi = openapi

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_json():
        return JSONResponse(openapi())

    return app


def _audit_page(svc, query, actor: str) -> dict:
    """A page of the audit log; the read itself is audited (who read how much)."""
    from . import audit

    rows = audit.rows(svc.db, since=query.since, limit=query.limit, action=query.action)
    with svc.db.begin() as conn:
        audit.record(conn, actor=actor, action="audit.list", detail={
            "since": query.since, "limit": query.limit, "action": query.action,
            "returned": len(rows)})
    seq, digest = audit.head(svc.db)
    return {"rows": rows, "head": {"seq": seq, "hash": digest},
            "since": rows[-1]["seq"] if len(rows) == query.limit else None}


def _component(model) -> dict:
    """``model``'s JSON schema and those it refers to, as OpenAPI components."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    out = schema.pop("$defs", {})
    out[model.__name__] = schema
    return out


def _actor(principal) -> str:
    """Who an audit row names: the kind and id of the token (never the token)."""
    return f"{principal.kind}:{principal.token_id}"


async def _known_query(request: Request) -> None:
    """Every route: a query parameter it does not read is a 400 (as an unknown field of
    a body is), not silently ignored."""
    route = request.scope.get("route")
    if route is None or not request.query_params or not route.include_in_schema:
        return  # (the page's files take any query: a link may carry one)
    known = getattr(route, "tidehash_query_names", None)
    if known is None:
        known = set()
        stack = [route.dependant]
        while stack:  # the route's parameters and its dependencies'
            dependant = stack.pop()
            for p in dependant.query_params:
                fields = getattr(p.field_info.annotation, "model_fields", None)
                if fields is not None:  # a query model (Query() of a BaseModel): its fields
                    known |= {f.alias or n for n, f in fields.items()}
                known.add(p.alias)
            stack.extend(dependant.dependencies)
        known |= {p["name"] for p in (route.openapi_extra or {}).get("parameters", ())
                  if p.get("in") == "query"}
        route.tidehash_query_names = known
    for name in request.query_params:
        if name not in known:
            raise Problem(400, "invalid-request", f"{name[:40]!r} is not a parameter of "
                          "this route", errors=[{"loc": name[:40] or "query",
                                                 "msg": "unknown parameter"}])


def _one_parameter_each(document: dict) -> dict:
    """A parameter the route's ``openapi_extra`` describes (a view reads its query and
    path itself) replaces the one FastAPI made of the function's argument."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "parameters" in operation:
                by_key = {(p.get("name"), p.get("in")): p for p in operation["parameters"]}
                operation["parameters"] = list(by_key.values())
    return document


async def _store_call(fn, *args, **kwargs) -> Any:
    """Run a store / change log call in a worker thread, mapping its errors."""
    from .store import BadRequest, Conflict, NotFound

    try:
        return await run_in_threadpool(fn, *args, **kwargs)
    except NotFound as exc:
        raise Problem(404, "not-found", str(exc)) from None
    except BadRequest as exc:
        slug = "challenge" if exc.loc.startswith("pow") else "invalid-request"
        raise Problem(400, slug, exc.msg, errors=[{"loc": exc.loc, "msg": exc.msg}]) from None
    except Conflict as exc:
        raise Problem(409, "conflict", str(exc)) from None


# ---------------------------------------------------------------------------- snapshot

_RANGE = re.compile(r"^bytes=(\d{1,19})-$")
_ETAG = re.compile(r'^"(\d{1,19})"$')


async def _snapshot(request: Request, svc: Services, principal) -> Response:
    """The snapshot, streamed. ``Range: bytes=B-`` with ``If-Range: "S"`` resumes the
    snapshot at S (it is the same bytes every time it is made); a Range without If-Range
    applies to the current snapshot; an If-Range that no longer matches, or an S
    compacted away, gets the whole current snapshot (200). Audited when it starts (no
    byte goes out unaudited) and when it ends (entries and bytes sent)."""
    platform_id = principal.platform_id
    start = 0
    seq = None
    range_header = request.headers.get("range")
    if range_header is not None:
        m = _RANGE.match(range_header.strip())
        if_range = request.headers.get("if-range")
        if m is not None:  # another Range form is ignored, as RFC 9110 allows
            if if_range is None:
                start = int(m.group(1))
            else:
                tag = _ETAG.match(if_range.strip())
                if tag is not None:
                    start, seq = int(m.group(1)), int(tag.group(1))

    def open_snapshot():
        nonlocal start
        try:
            return svc.changelog.snapshot(platform_id, seq)
        except ValueError:  # S compacted away or unknown: the whole current one
            start = 0
            return svc.changelog.snapshot(platform_id, None)

    at, lines = await run_in_threadpool(open_snapshot)
    headers = {"ETag": f'"{at}"', "Accept-Ranges": "bytes", "Cache-Control": "no-store"}
    status = 200
    if start > 0:
        total = await run_in_threadpool(lambda: sum(
            len(chunk) for chunk in svc.changelog.snapshot(platform_id, at)[1]))
        if start >= total:
            _close(lines)
            return problem_response(416, "range-not-satisfiable",
                                    f"the snapshot at {at} has {total} bytes",
                                    headers={"Content-Range": f"bytes */{total}", **headers})
        status = 206
        headers["Content-Range"] = f"bytes {start}-{total - 1}/{total}"
        headers["Content-Length"] = str(total - start)
    reader = _ChunkReader(lines, start)
    first = await run_in_threadpool(reader.read)  # a database error here is still a 503
    try:
        await run_in_threadpool(svc.downloads.record, principal, "snapshot", None, seq=at,
                                from_byte=start)
    except BaseException:  # not audited: not sent, and its read transaction closed now
        await run_in_threadpool(reader.close)
        raise

    async def stream():
        sent, finished = 0, False
        try:
            chunk = first
            while chunk:
                yield chunk
                sent += len(chunk)
                chunk = await run_in_threadpool(reader.read)
            finished = reader.done
        finally:
            await run_in_threadpool(reader.close)
            try:
                await run_in_threadpool(
                    svc.downloads.finish, principal, "snapshot", seq=at, from_byte=start,
                    bytes=sent, complete=finished,
                    entries=reader.lines - 1 if finished else None)
            except Exception as e:  # its start row stands; say that the end is missing
                log.warning("audit: the end of a snapshot download not written (%s)",
                            type(e).__name__)

    return StreamingResponse(stream(), status_code=status, media_type=NDJSON, headers=headers)


class _ChunkReader:
    """Reads the snapshot's chunks in a worker thread, ``STREAM_CHUNK`` bytes at a
    time, after skipping the first ``skip`` bytes."""

    def __init__(self, chunks, skip: int):
        self.chunks = chunks
        self.skip = skip
        self.lines = 0  # lines of the whole snapshot read so far (the skipped ones too)
        self.done = False  # the trailer was read

    def read(self) -> bytes:
        out, size = [], 0
        for chunk in self.chunks:
            self.lines += chunk.count(b"\n")
            if self.skip:
                if len(chunk) <= self.skip:
                    self.skip -= len(chunk)
                    continue
                chunk, self.skip = chunk[self.skip:], 0
            out.append(chunk)
            size += len(chunk)
            if size >= STREAM_CHUNK:
                break
        else:
            self.done = True
        return b"".join(out)

    def close(self) -> None:
        _close(self.chunks)


def _close(chunks) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


# ---------------------------------------------------------------------------- errors

def _allowed(app: FastAPI, scope) -> str:
    """The Allow header of a 405: the methods of every route of the path (Starlette
    names only those of the first route it matched, one of a path's two)."""
    from starlette.routing import Match

    methods: set = set()
    for route in app.router.routes:
        match, _child = route.matches(scope)
        if match is Match.PARTIAL and getattr(route, "methods", None):
            methods |= route.methods
    return ", ".join(sorted(methods))


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def on_problem(request, exc: Problem):
        return response_of(exc)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request, exc: StarletteHTTPException):
        slug = STATUS_SLUGS.get(exc.status_code, "invalid-request" if exc.status_code < 500
                                else "internal")
        detail = exc.detail if isinstance(exc.detail, str) else slug
        headers = exc.headers
        if exc.status_code == 404:
            detail = "no such route"
        elif exc.status_code == 405:
            allowed = _allowed(app, request.scope)
            if allowed:  # else Starlette's own (a route of an included router)
                headers = {**(headers or {}), "Allow": allowed}
        return problem_response(exc.status_code, slug, detail, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request, exc: RequestValidationError):
        errors = []
        for error in exc.errors():
            loc = tuple(error.get("loc", ()))
            if loc and loc[0] in ("query", "path", "header", "body", "cookie"):
                loc = loc[1:]
            errors.append({"loc": format_loc(loc), "msg": error.get("msg", "invalid")})
        return problem_response(400, "invalid-request", "the request does not follow the "
                                "schema", errors=errors)

    @app.exception_handler(Unavailable)
    async def on_unavailable(request, exc: Unavailable):
        # the database unreachable, or (NotReady) the lookup index still loading
        return problem_response(503, "unavailable", str(exc) or "unavailable; try again later",
                                headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def on_bug(request, exc: Exception):
        # Starlette's outermost handler: the response; LastResort logs the position
        return problem_response(500, "internal", "an internal error; it has been logged "
                                "without the request")
