"""The matcher's routes (``create_matcher_app``): HMA 2.0's (``hma``), the registry's
``POST /v1/lookup``, feedback, the operator page and ``/metrics``.

A plain Starlette app (the registry's framework underneath FastAPI): the HMA routes
answer HMA's own bodies (``{"message"}`` errors, not the registry's problem+json), and
the hot ``GET /m/raw_lookup`` goes through nothing but its handler and the batcher.
The registry's ASGI layers wrap it: ``Privacy`` (no client address or identifying
header reaches any code) and ``LastResort`` (a bug is a 500 logged by code position).
An upload is read into memory up to ``max_upload`` bytes (413 beyond), hashed in a
worker thread and dropped; neither it, its hash nor its file name is logged."""

from __future__ import annotations

import contextlib
import json
import logging

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ..db import Unavailable
from ..lookup import NotReady, QueryError
from ..middleware import LastResort, Privacy
from ..problems import Problem, response_of
from . import hma
from .fastpath import PATH as FAST_PATH
from .fastpath import FastRawLookup
from .feedback import FeedbackRefused
from .hma import HMAError, InvalidQuery

log = logging.getLogger("tidehash.matcher")
MAX_JSON = 4 << 20
_OPEN = frozenset(("/status", "/status/live"))


def _json(value, status: int = 200) -> Response:
    # keys sorted as Flask's jsonify sorts them (HMA's bodies)
    return Response(json.dumps(value, separators=(",", ":"), sort_keys=True).encode(),
                    status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"message": message}, status)


def raw_lookup_body(matches: list[dict], banks: set | None, with_distance: bool) -> bytes:
    """``GET /m/raw_lookup``'s 200 body (the route's and the fast path's)."""
    if banks is not None:
        matches = [x for x in matches if x["bank"] in banks]
    if with_distance:
        return json.dumps({"matches": [{"bank_content_id": int(x["id"], 16),
                                        "distance": hma.distance_str(x)} for x in matches]},
                          separators=(",", ":")).encode()
    return json.dumps({"matches": [int(x["id"], 16) for x in matches]},
                      separators=(",", ":")).encode()


class MatcherApp(Starlette):
    """The Starlette app, with ``GET /m/raw_lookup``'s plain case answered before it
    (``fastpath``; ``fast`` None: every request through the app)."""

    fast = None

    async def __call__(self, scope, receive, send):
        fast = self.fast
        if fast is not None and scope["type"] == "http" and scope["path"] == FAST_PATH \
                and await fast.answer(scope, send):
            return
        await super().__call__(scope, receive, send)


def create_matcher_app(config, db_url: str, *, matcher=None, fast_path: bool | None = None,
                       **options) -> Starlette:
    """``fast_path`` (default: the config's ``fast_path``, true): ``GET /m/raw_lookup``'s
    plain case answered by ``fastpath.FastRawLookup``."""
    from .service import Matcher

    holder = {}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        m = matcher if matcher is not None else Matcher(config, db_url, **options)
        m.start()
        holder["m"] = m
        app.state.matcher = m
        try:
            yield
        finally:
            await run_in_threadpool(m.stop)

    def handler(fn, name: str):
        async def endpoint(request: Request):
            m = holder.get("m")
            if m is None:
                return _error(503, "the matcher is starting")
            m.count(name)
            if name not in _OPEN and not m.authorised(request.headers.get("authorization")):
                return Response(json.dumps({"message": "a bearer token is required"}),
                                status_code=401, media_type="application/json",
                                headers={"WWW-Authenticate": "Bearer"})
            try:
                return await fn(request, m)
            except HMAError as exc:
                return _error(exc.status, exc.message)
            except InvalidQuery as exc:
                return Response(exc.body.encode(), status_code=422,
                                media_type="application/json")
            except Problem as exc:
                return response_of(exc)
            except (NotReady, Unavailable):
                return _error(503, "index not yet ready")
        return endpoint

    # ------------------------------------------------------------------ HMA: status
    async def status(request, m):
        if not m.bankset.ready:
            return PlainTextResponse("INDEX-NOT-LOADED", 503)
        return PlainTextResponse("I-AM-ALIVE")

    async def status_live(request, m):
        return PlainTextResponse("I-AM-ALIVE")

    # ------------------------------------------------------------------ HMA: matching
    async def search(m, query: dict) -> list[dict]:
        if not m.bankset.ready:
            raise NotReady("index not yet ready")
        results = await m.batcher.lookup([query])
        return results[0]["matches"]

    def signal_of(query) -> tuple[str, str]:
        name = hma.signal_type(query.signal_type)
        return name, hma.validate_signal(name, query.signal)

    async def raw_lookup(request, m):
        query = hma.parse_query(hma.RawLookupQuery, request.query_params)
        name, signal = signal_of(query)
        matches = await search(m, hma.query_of(name, signal))
        return Response(raw_lookup_body(matches, hma.banks_param(query.banks),
                                        query.include_distance),
                        media_type="application/json")

    def by_bank(matches: list[dict], banks: set | None) -> dict:
        out: dict = {}
        for x in matches:
            if banks is None or x["bank"] in banks:
                out.setdefault(x["bank"], []).append(
                    {"bank_content_id": int(x["id"], 16), "distance": hma.distance_str(x)})
        return out

    async def lookup_get(request, m):
        query = hma.parse_query(hma.LookupQuery, request.query_params)
        if query.url:
            raise HMAError(403, "Hashing is disabled, missing role (this matcher fetches no "
                                "URL: POST the file to /m/lookup)")
        if not query.signal or not query.signal_type:
            raise HMAError(400, "Either url or both signal and signal_type are required")
        name, signal = signal_of(query)
        matches = await search(m, hma.query_of(name, signal))
        return _json(by_bank(matches, hma.banks_param(query.banks)))

    async def read_upload(request, m) -> tuple[str, bytes]:
        limit = m.config.max_upload
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit + 65536):
            raise HMAError(413, "Content too large")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit + 65536:
                raise HMAError(413, "Content too large")
            chunks.append(chunk)
        field, data = await run_in_threadpool(
            hma.one_upload, request.headers.get("content-type", ""), b"".join(chunks))
        if len(data) > limit:
            raise HMAError(413, "Content too large")
        hma.check_types(field, hma.first(request.query_params, "types"))
        m.uploads += 1
        return field, data

    async def hashes_of(field: str, data: bytes) -> dict:
        """signal type -> (hash, quality or None) of an upload, hashed by tidehash."""
        return await run_in_threadpool(_hash_upload, field, data)

    async def lookup_post(request, m):
        field, data = await read_upload(request, m)
        hashes = await hashes_of(field, data)
        banks = hma.banks_param(hma.first(request.query_params, "banks"))
        out = {}
        for name, (value, quality) in hashes.items():
            if name == "pdq" and quality < hma.PDQ_HASH_QUALITY:
                # HMA looks up pytx's "" (its hash below quality 50): a refused signal
                raise HMAError(400, "invalid signal: invalid PDQ hash")
            out[name] = by_bank(await search(m, hma.query_of(name, value, quality)), banks)
        return _json(out)

    async def hash_post(request, m):
        field, data = await read_upload(request, m)
        hashes = await hashes_of(field, data)
        out = {}
        for name, (value, quality) in hashes.items():
            # pytx's PdqSignal.hash_from_bytes: "" below its quality threshold
            out[name] = "" if name == "pdq" and quality < hma.PDQ_HASH_QUALITY else value
        return _json(out)

    async def compare(request, m):
        if not hma.is_json(request.headers.get("content-type")):
            raise HMAError(415, hma.NOT_JSON)
        body = await read_json_body(request)
        return _json(hma.compare(body))

    async def index_status(request, m):
        wanted = hma.first(request.query_params, "signal_type")
        names = ("pdq", "video_md5")
        if wanted is not None:
            if wanted not in names:
                raise HMAError(400, f"No such signal type '{wanted}'")
            names = (wanted,)
        ready = m.bankset.ready
        built = max((int(b.last_sync or 0) for b in m.bankset.banks), default=0)
        counts = await run_in_threadpool(lambda: [
            b.state.signal_counts() for b in m.bankset.banks
            if b.config.enabled and b.state is not None])
        out = {}
        for name in names:
            # HMA's size: the signals of that type in its index (its ContentSignal rows)
            size = sum(c[hma.SIGNAL_TYPES[name]] for c in counts)
            out[name] = {"present": ready, "built_to": built if ready else -1,
                         "size": size if ready else 0}
        return _json(out)

    async def read_json_body(request):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_JSON):
            raise HMAError(413, "Content too large")
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_JSON:
                raise HMAError(413, "Content too large")
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise HMAError(400, "the body is not JSON") from None

    # ------------------------------------------------------------------ the registry's lookup
    async def v1_lookup(request, m):
        from ..app import read_json

        req = await read_json(request, m_models["LookupRequest"], MAX_JSON)
        if not m.bankset.ready:
            raise Problem(503, "unavailable", "the banks are loading",
                          headers={"Retry-After": "1"})
        try:
            body = await m.batcher.lookup([q.wire() for q in req.queries], encoded=True)
        except QueryError as exc:
            raise Problem(400, "invalid-request", exc.msg,
                          errors=[{"loc": exc.loc, "msg": exc.msg}]) from None
        return Response(body, media_type="application/json")

    from ..models import Limits, RequestModels
    from ..settings import Settings
    m_models = {"LookupRequest": RequestModels(Limits.of(Settings())).LookupRequest}

    # ------------------------------------------------------------------ feedback
    async def feedback_post(request, m):
        body = await read_json_body(request)
        if not isinstance(body, dict) or set(body) - {"bank", "bank_content_id", "verdict"}:
            raise HMAError(400, "expected {\"bank\", \"bank_content_id\", \"verdict\"}")
        try:
            queued = await run_in_threadpool(m.feedback.enqueue, body.get("bank"),
                                             body.get("bank_content_id"), body.get("verdict"))
        except FeedbackRefused as exc:
            raise HMAError(exc.status, str(exc)) from None
        return _json(queued, 202)

    async def feedback_get(request, m):
        text = request.path_params["feedback_id"]
        if not text.isdigit() or len(text) > 18:
            raise HMAError(404, "no such feedback")
        found = await run_in_threadpool(m.feedback.status, int(text))
        if found is None:
            raise HMAError(404, "no such feedback")
        return _json(found)

    # ------------------------------------------------------------------ operations
    async def ops_page(request, m):
        from .ops import page

        return await run_in_threadpool(page, m)

    async def metrics(request, m):
        from .ops import metrics_text

        return PlainTextResponse(await run_in_threadpool(metrics_text, m),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    routes = [
        Route("/status", handler(status, "/status"), methods=["GET"]),
        Route("/status/live", handler(status_live, "/status/live"), methods=["GET"]),
        Route("/m/raw_lookup", handler(raw_lookup, "/m/raw_lookup"), methods=["GET"]),
        Route("/m/lookup", handler(lookup_get, "/m/lookup"), methods=["GET"]),
        Route("/m/lookup", handler(lookup_post, "/m/lookup:post"), methods=["POST"]),
        Route("/h/hash", handler(hash_post, "/h/hash"), methods=["POST"]),
        Route("/m/compare", handler(compare, "/m/compare"), methods=["POST"]),
        Route("/m/index/status", handler(index_status, "/m/index/status"), methods=["GET"]),
        Route("/m/feedback", handler(feedback_post, "/m/feedback"), methods=["POST"]),
        Route("/m/feedback/{feedback_id}", handler(feedback_get, "/m/feedback/id"),
              methods=["GET"]),
        Route("/v1/lookup", handler(v1_lookup, "/v1/lookup"), methods=["POST"]),
        Route("/", handler(ops_page, "/"), methods=["GET"]),
        Route("/metrics", handler(metrics, "/metrics"), methods=["GET"]),
    ]

    async def not_found(request, exc):
        return _error(getattr(exc, "status_code", 404), getattr(exc, "detail", "Not Found"))

    app = MatcherApp(routes=routes, lifespan=lifespan,
                     exception_handlers={404: not_found, 405: not_found})
    app.add_middleware(LastResort)
    app.add_middleware(Privacy)
    if config.fast_path if fast_path is None else fast_path:
        app.fast = FastRawLookup(holder, raw_lookup_body)
    return app


def _hash_upload(field: str, data: bytes) -> dict:
    """HMA's signal types of a content type: a photo's PDQ (tidehash decodes and hashes
    it), a video's MD5 (of the bytes, as pytx's VideoMD5Signal)."""
    import hashlib

    from ....errors import DecodeError
    from ....image import decode
    from ....pdq import pdq_hash

    if field == "video":
        return {"video_md5": (hashlib.md5(data).hexdigest(), None)}
    try:
        h = pdq_hash(decode(data))
    except DecodeError as exc:
        raise HMAError(400, f"the photo cannot be hashed: {exc.reason}") from None
    return {"pdq": (h.hex, h.quality)}
