"""``POST /v1/lookup`` without the framework, for the plain case.

A platform's upload pipeline sends lookups by the thousand a second; through FastAPI's
routing, dependency injection and request objects one costs about 0.8 ms of CPU on this
kind of machine, more than the search. This layer answers the plain case itself: a
token this process verified in the last second (the route's own token cache) with the
``lookup`` scope, a JSON body within the limit that the route's own request model
accepts, the lookup index loaded. Anything else (no or unknown token, a bad body, the
index loading, an error in the search) goes to the full route with the body replayed,
so every answer but the plain 200 is the route's own; the 200 is the same bytes the
route would send."""

from __future__ import annotations

from pydantic import ValidationError

from .models import validate_json

PATH = "/v1/lookup"
_JSON = b"application/json"


class FastLookup:
    def __init__(self, app, owner, model, max_body: int):
        self.app = app          # the full stack (FastAPI's middleware and routes)
        self.owner = owner      # the FastAPI app, whose state holds the services
        self.model = model
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST" \
                or scope.get("query_string"):  # the route refuses a query: its answer
            await self.app(scope, receive, send)
            return
        svc = getattr(self.owner.state, "services", None)
        principal = None
        content_type = length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                if svc is not None and scheme.lower() == b"bearer" and token:
                    principal = svc.tokens.get(token.strip().decode("latin-1"))
            elif name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = value
        plain = (principal is not None and svc.lookup.ready and
                 (content_type == _JSON or (content_type or b"").lower() in
                  (_JSON, b"application/json; charset=utf-8", b"application/json;charset=utf-8"))
                 and (length is None or (length.isdigit() and len(length) <= 18
                                     and int(length) <= self.max_body)))
        if plain:
            try:
                svc.store.require(principal, "lookup")
            except Exception:  # the route answers it (403)
                plain = False
        if not plain:
            await self.app(scope, receive, send)
            return
        chunks, size, more, last = [], 0, True, None
        while more:
            message = await receive()
            if message["type"] != "http.request":
                last = message  # a disconnect: the route sees it too
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_body:
                break
        body = b"".join(chunks)
        if last is None and not more:
            try:
                request = validate_json(self.model, body)
            except ValidationError:
                request = None
            if request is not None:
                try:
                    out = await svc.lookup.lookup_body([q.wire() for q in request.queries])
                except Exception:  # NotReady, a query the service refuses: the route's answer
                    out = None
                if out is not None:
                    await send({"type": "http.response.start", "status": 200, "headers": [
                        (b"content-type", _JSON), (b"content-length", str(len(out)).encode())]})
                    await send({"type": "http.response.body", "body": out})
                    return
        await self.app(scope, _replay(body, more, last, receive), send)


def _replay(body: bytes, more: bool, last, receive):
    """A ``receive`` that first gives back what was read."""
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        if last is not None:
            return last
        return await receive()
    return replayed
